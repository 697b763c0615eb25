/* libFuzzer target: the HTTP request and response head parsers. Every view they return
   must lie inside the input, and a head they accept must parse the same when re-fed with
   trailing bytes. */
#define WSCLUSTER_IMPLEMENTATION
#include "../../wscluster.h"
#include <stdlib.h>

static void inside(const wsc_str *s, const char *buf, size_t len) {
    if (s->len && (s->ptr < buf || s->ptr + s->len > buf + len)) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *buf = (char *)malloc(size ? size : 1);
    wsc_http_req q;
    wsc_http_resp r;
    int n;
    size_t i;
    char out[64];
    memcpy(buf, data, size);
    n = wsc_http_parse_request(buf, size, &q);
    if (n > 0) {
        if ((size_t)n > size || q.nheaders > WSC_MAX_HEADERS) abort();
        inside(&q.method, buf, size);
        inside(&q.path, buf, size);
        inside(&q.query, buf, size);
        for (i = 0; i < q.nheaders; i++) {
            inside(&q.headers[i].name, buf, size);
            inside(&q.headers[i].value, buf, size);
            wsc_http_has_token(q.headers[i].value, "upgrade");
        }
        wsc_query_get(q.query, "user", out, sizeof out);
        if (wsc_http_parse_request(buf, (size_t)n, &q) != n) abort(); /* head alone */
    }
    n = wsc_http_parse_response(buf, size, &r);
    if (n > 0) {
        if ((size_t)n > size || r.status < 100 || r.status > 599) abort();
        for (i = 0; i < r.nheaders; i++) inside(&r.headers[i].value, buf, size);
    }
    free(buf);
    return 0;
}
