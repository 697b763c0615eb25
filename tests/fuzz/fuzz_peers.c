/* libFuzzer target: the server-list parser. Entries it accepts must be well formed and
   re-parse as URLs; line numbers must stay within the text. */
#define WSCLUSTER_IMPLEMENTATION
#include "../../wscluster.h"
#include <stdlib.h>

typedef struct acc { int lines, good; } acc;

static void cb(void *arg, const wsc_peer_entry *e) {
    acc *a = (acc *)arg;
    char url[512], host[256];
    const char *path;
    int proto, port;
    if (e->line < 1 || e->line > a->lines) abort();
    if (e->error) return;
    a->good++;
    if (e->port < 1 || e->port > 65535 || !e->host[0]) abort();
    snprintf(url, sizeof url, "%s://%s%s%s:%d%s", e->proto == WSC_PROTO_TCP ? "tcp" : "ws",
             strchr(e->host, ':') ? "[" : "", e->host, strchr(e->host, ':') ? "]" : "", e->port,
             e->path);
    if (wsc_url_parse(url, &proto, host, sizeof host, &port, &path) != 0 || port != e->port ||
        proto != e->proto)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    acc a;
    size_t i;
    int n;
    a.lines = 1;
    a.good = 0;
    for (i = 0; i < size; i++) a.lines += data[i] == '\n';
    n = wsc_peers_parse((const char *)data, size, cb, &a);
    if (n != a.good) abort();
    return 0;
}
