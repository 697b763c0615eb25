/* wscluster-node: the ready-to-run server built on wscluster.h.
   Chat page, /ws broadcast, /echo, /send, /stats, and a raw TCP listener.
   Run with --help for the options. */
#define WSCLUSTER_IMPLEMENTATION
#include "../wscluster.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat_html.h" /* generated from examples/chat.html: chat_html[], chat_html_len */

typedef struct opt { const char *name, *env, *def, *help; const char *val; } opt;

static opt opts[] = {
    {"listen", "WSCLUSTER_LISTEN", "127.0.0.1:8080", "HOST:PORT for HTTP + WebSocket", 0},
    {"tcp-listen", "WSCLUSTER_TCP_LISTEN", "", "HOST:PORT for raw TCP framer clients", 0},
    {"id", "WSCLUSTER_ID", "", "node id [node-<pid>]", 0},
    {"max-message", "WSCLUSTER_MAX_MESSAGE", "16777216", "largest message, bytes", 0},
    {"max-clients", "WSCLUSTER_MAX_CLIENTS", "10000", "connections at once", 0},
    {"log-level", "WSCLUSTER_LOG_LEVEL", "info", "error|warn|info|debug", 0},
    {"handshake-timeout-ms", "WSCLUSTER_HANDSHAKE_TIMEOUT_MS", "10000",
     "request/handshake must complete within this", 0},
    {"ping-interval-ms", "WSCLUSTER_PING_INTERVAL_MS", "30000",
     "ping every connection this often; silent for 2x => closed", 0},
    {"max-pending", "WSCLUSTER_MAX_PENDING", "4194304",
     "bytes queued per connection before it is closed as slow (1008)", 0},
};
enum { O_LISTEN, O_TCP, O_ID, O_MAXMSG, O_MAXCLI, O_LOG, O_HSTO, O_PING, O_PENDING, O_N };

static volatile sig_atomic_t g_stop;
static void on_signal(int sig) { (void)sig; g_stop = 1; }

typedef struct node { char id[64]; size_t max_message; } node;

static void usage(FILE *f) {
    int i;
    fprintf(f, "usage: wscluster-node [options]\n"
               "Every option can also come from its environment variable; the command line "
               "wins.\n\n");
    for (i = 0; i < O_N; i++)
        fprintf(f, "  --%-22s %-32s %s [%s]\n", opts[i].name, opts[i].env, opts[i].help,
                opts[i].def[0] ? opts[i].def : "none");
    fprintf(f, "\nEndpoints: GET / (chat page), WS /ws[?user=NAME] (broadcast), WS /echo,\n"
               "GET /send?msg=TEXT[&user=NAME], POST /send, GET /stats.\n");
}

static int parse_args(int argc, char **argv) {
    int i, k;
    for (k = 0; k < O_N; k++) {
        const char *e = getenv(opts[k].env);
        opts[k].val = (e && *e) ? e : opts[k].def;
    }
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *eq;
        size_t nl;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) { usage(stdout); exit(0); }
        if (strncmp(a, "--", 2) != 0) goto bad;
        a += 2;
        eq = strchr(a, '=');
        nl = eq ? (size_t)(eq - a) : strlen(a);
        for (k = 0; k < O_N; k++)
            if (strlen(opts[k].name) == nl && strncmp(opts[k].name, a, nl) == 0) break;
        if (k == O_N) goto bad;
        if (eq) opts[k].val = eq + 1;
        else if (i + 1 < argc) opts[k].val = argv[++i];
        else goto bad;
    }
    return 0;
bad:
    fprintf(stderr, "wscluster-node: bad option '%s' (see --help)\n", argv[i]);
    return -1;
}

static long num(int k, long lo, long hi) {
    char *end;
    long v = strtol(opts[k].val, &end, 10);
    if (*opts[k].val == '\0' || *end || v < lo || v > hi) {
        fprintf(stderr, "wscluster-node: --%s: '%s' is not a number in [%ld, %ld]\n",
                opts[k].name, opts[k].val, lo, hi);
        exit(2);
    }
    return v;
}

/* ---- HTTP endpoints ---- */
static void reply_json(wsc_ctx *ctx, wsc_id id, int status, const char *json) {
    wsc_http_reply(ctx, id, status, "application/json", NULL, json, strlen(json));
}

static void json_str(char *out, size_t cap, const char *s) { /* minimal JSON escaping */
    size_t o = 0;
    for (; *s && o + 7 < cap; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') { out[o++] = '\\'; out[o++] = (char)ch; }
        else if (ch < 0x20) o += (size_t)snprintf(out + o, cap - o, "\\u%04x", ch);
        else out[o++] = (char)ch;
    }
    out[o] = '\0';
}

static void send_endpoint(wsc_ctx *ctx, wsc_id id, node *n, wsc_http_req *req) {
    char user[256], json[128];
    wsc_kv match[2];
    size_t nm = 1;
    const void *msg;
    size_t len;
    int opcode = WSC_TEXT, r;
    char *qmsg = NULL;
    match[0].key = "chan";
    match[0].value = "chat";
    if (wsc_query_get(req->query, "user", user, sizeof user) >= 0) {
        match[1].key = "user";
        match[1].value = user;
        nm = 2;
    }
    if (wsc__seq(req->method, "GET")) {
        int ql = wsc_query_get(req->query, "msg", NULL, 0);
        if (ql < 0) { reply_json(ctx, id, 400, "{\"ok\":false,\"error\":\"missing msg\"}"); return; }
        qmsg = (char *)malloc((size_t)ql + 1);
        if (!qmsg) { reply_json(ctx, id, 500, "{\"ok\":false}"); return; }
        wsc_query_get(req->query, "msg", qmsg, (size_t)ql + 1);
        msg = qmsg;
        len = (size_t)ql;
    } else if (wsc__seq(req->method, "POST")) {
        const wsc_str *ct = wsc_http_header(req->headers, req->nheaders, "Content-Type");
        msg = req->body.ptr;
        len = req->body.len;
        if (ct && ct->len >= 24 && wsc__ieq((wsc_str){ct->ptr, 24}, "application/octet-stream"))
            opcode = WSC_BINARY;
    } else {
        wsc_http_reply(ctx, id, 405, "application/json", "Allow: GET, POST\r\n",
                       "{\"ok\":false,\"error\":\"method\"}", 28);
        return;
    }
    if (len > n->max_message) {
        reply_json(ctx, id, 413, "{\"ok\":false,\"error\":\"message over --max-message\"}");
    } else {
        uint32_t st = 0;
        if (opcode == WSC_TEXT &&
            (wsc_utf8_check(&st, (const unsigned char *)msg, len) < 0 || st != 0)) {
            reply_json(ctx, id, 400, "{\"ok\":false,\"error\":\"text is not UTF-8\"}");
        } else {
            r = wsc_broadcast(ctx, match, nm, opcode, msg, len);
            snprintf(json, sizeof json, "{\"ok\":%s,\"delivered\":%d}", r >= 0 ? "true" : "false",
                     r >= 0 ? r : 0);
            reply_json(ctx, id, r >= 0 ? 200 : 500, json);
        }
    }
    free(qmsg);
}

static void stats_endpoint(wsc_ctx *ctx, wsc_id id, node *n) {
    wsc_stats st;
    char json[1024], idj[160];
    wsc_get_stats(ctx, &st);
    json_str(idj, sizeof idj, n->id);
    snprintf(json, sizeof json,
             "{\"id\":\"%s\",\"connections\":{\"client\":%llu,\"subscriber\":%llu,"
             "\"observable\":%llu},\"messages\":{\"received\":%llu,\"sent\":%llu,"
             "\"dropped\":%llu,\"closed_slow\":%llu},\"accepted\":%llu,\"refused\":%llu,"
             "\"protocol_errors\":%llu}",
             idj, (unsigned long long)st.conns[WSC_CLIENT],
             (unsigned long long)st.conns[WSC_SUBSCRIBER],
             (unsigned long long)st.conns[WSC_OBSERVABLE], (unsigned long long)st.msgs_in,
             (unsigned long long)st.msgs_out, (unsigned long long)st.dropped,
             (unsigned long long)st.closed_slow, (unsigned long long)st.accepted,
             (unsigned long long)st.refused, (unsigned long long)st.proto_errors);
    reply_json(ctx, id, 200, json);
}

static void on_event(wsc_ctx *ctx, wsc_id id, int ev, void *data, void *user) {
    node *n = (node *)user;
    if (ev == WSC_EV_UPGRADE) {
        wsc_http_req *req = (wsc_http_req *)data;
        char name[256];
        if (wsc__seq(req->path, "/ws")) {
            wsc_set_meta(ctx, id, "chan", "chat");
            if (wsc_query_get(req->query, "user", name, sizeof name) > 0)
                wsc_set_meta(ctx, id, "user", name);
        } else if (wsc__seq(req->path, "/echo")) {
            wsc_set_meta(ctx, id, "chan", "echo");
        } else {
            wsc_reject(ctx, id, 404, NULL);
        }
    } else if (ev == WSC_EV_OPEN) {
        wsc_conn_info info;
        if (wsc_get_conn_info(ctx, id, &info) == 0 && info.proto == WSC_PROTO_TCP)
            wsc_set_meta(ctx, id, "chan", "chat");
    } else if (ev == WSC_EV_MESSAGE) {
        wsc_msg *m = (wsc_msg *)data;
        const char *chan = wsc_get_meta(ctx, id, "chan");
        static const wsc_kv chat = {"chan", "chat"};
        if (chan && strcmp(chan, "echo") == 0) wsc_send(ctx, id, m->opcode, m->data, m->len);
        else if (chan) wsc_broadcast(ctx, &chat, 1, m->opcode, m->data, m->len);
    } else if (ev == WSC_EV_HTTP) {
        wsc_http_req *req = (wsc_http_req *)data;
        if (wsc__seq(req->path, "/") && !wsc__seq(req->method, "GET"))
            wsc_http_reply(ctx, id, 405, "text/plain", "Allow: GET\r\n", "405 Method Not Allowed\n", 23);
        else if (wsc__seq(req->path, "/"))
            wsc_http_reply(ctx, id, 200, "text/html; charset=utf-8", NULL, chat_html,
                           chat_html_len);
        else if (wsc__seq(req->path, "/send"))
            send_endpoint(ctx, id, n, req);
        else if (wsc__seq(req->path, "/stats"))
            stats_endpoint(ctx, id, n);
        else
            wsc_http_reply(ctx, id, 404, "text/plain", NULL, "404 Not Found\n", 14);
    }
}

int main(int argc, char **argv) {
    wsc_config cfg;
    wsc_ctx *ctx;
    node n;
    struct sigaction sa;
    const char *lv;
    char url[300];
    int l, port, hostlen;
    int64_t until;
    if (parse_args(argc, argv) < 0) return 2;
    memset(&cfg, 0, sizeof cfg);
    memset(&n, 0, sizeof n);
    if (opts[O_ID].val[0]) snprintf(n.id, sizeof n.id, "%s", opts[O_ID].val);
    else snprintf(n.id, sizeof n.id, "node-%ld", (long)getpid());
    n.max_message = (size_t)num(O_MAXMSG, 1, 0xffffffffL);
    lv = opts[O_LOG].val;
    cfg.log_level = strcmp(lv, "error") == 0 ? WSC_LOG_ERROR : strcmp(lv, "warn") == 0 ? WSC_LOG_WARN
                  : strcmp(lv, "debug") == 0 ? WSC_LOG_DEBUG : WSC_LOG_INFO;
    if (strcmp(lv, "error") && strcmp(lv, "warn") && strcmp(lv, "info") && strcmp(lv, "debug")) {
        fprintf(stderr, "wscluster-node: --log-level: '%s' is not error|warn|info|debug\n", lv);
        return 2;
    }
    cfg.on_event = on_event;
    cfg.user = &n;
    cfg.max_message = n.max_message;
    cfg.max_conns = (int)num(O_MAXCLI, 1, 1000000);
    cfg.handshake_timeout_ms = (int)num(O_HSTO, 1, 3600000);
    cfg.ping_interval_ms = (int)num(O_PING, 0, 3600000);
    if (cfg.ping_interval_ms == 0) cfg.ping_interval_ms = -1;
    cfg.max_pending = (size_t)num(O_PENDING, 1, 0x7fffffffL);
    ctx = wsc_create(&cfg);
    if (!ctx) return 1;
    snprintf(url, sizeof url, "ws://%s", opts[O_LISTEN].val);
    if ((l = wsc_listen(ctx, url)) < 0) {
        fprintf(stderr, "wscluster-node: cannot listen on %s: %s\n", url, wsc_strerror(l));
        wsc_destroy(ctx);
        return 1;
    }
    port = wsc_listener_port(ctx, l);
    hostlen = (int)(strrchr(opts[O_LISTEN].val, ':') - opts[O_LISTEN].val);
    printf("listening ws://%.*s:%d\n", hostlen, opts[O_LISTEN].val, port);
    if (opts[O_TCP].val[0]) {
        snprintf(url, sizeof url, "tcp://%s", opts[O_TCP].val);
        if ((l = wsc_listen(ctx, url)) < 0) {
            fprintf(stderr, "wscluster-node: cannot listen on %s: %s\n", url, wsc_strerror(l));
            wsc_destroy(ctx);
            return 1;
        }
        printf("listening tcp://%.*s:%d\n",
               (int)(strrchr(opts[O_TCP].val, ':') - opts[O_TCP].val), opts[O_TCP].val,
               wsc_listener_port(ctx, l));
    }
    fflush(stdout);
    wsc_log(ctx, WSC_LOG_INFO, "node %s up: chat page at http://%.*s:%d/", n.id, hostlen,
            opts[O_LISTEN].val, port);

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    while (!g_stop) {
        if (wsc_poll(ctx, 1000) < 0) break;
    }
    wsc_log(ctx, WSC_LOG_INFO, "node %s: shutting down", n.id);
    wsc_close_all(ctx, 1001, "server shutting down");
    until = wsc_now_ms() + 3000;
    while (wsc_count(ctx, 0) > 0 && wsc_now_ms() < until) wsc_poll(ctx, 100);
    wsc_destroy(ctx);
    return 0;
}
