/* wscluster-node: the ready-to-run server built on wscluster.h.
   Chat page, /ws broadcast, /echo, /send, /stats, and a raw TCP listener.
   Run with --help for the options. */
#define WSCLUSTER_IMPLEMENTATION
#include "../wscluster.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "chat_html.h" /* generated from examples/chat.html: chat_html[], chat_html_len */
#include "cluster_html.h" /* examples/cluster.html: cluster_html[], cluster_html_len */

typedef struct opt { const char *name, *env, *def, *help; const char *val; } opt;

static opt opts[] = {
    {"listen", "WSCLUSTER_LISTEN", "127.0.0.1:8080", "HOST:PORT for HTTP + WebSocket", 0},
    {"tcp-listen", "WSCLUSTER_TCP_LISTEN", "", "HOST:PORT for raw TCP framer clients", 0},
    {"id", "WSCLUSTER_ID", "", "node id, unique in the cluster [node-<random>]", 0},
    {"max-message", "WSCLUSTER_MAX_MESSAGE", "16777216", "largest message, bytes", 0},
    {"max-clients", "WSCLUSTER_MAX_CLIENTS", "10000",
     "client connections at once (peer links have their own room)", 0},
    {"log-level", "WSCLUSTER_LOG_LEVEL", "info", "error|warn|info|debug", 0},
    {"handshake-timeout-ms", "WSCLUSTER_HANDSHAKE_TIMEOUT_MS", "10000",
     "request/handshake must complete within this", 0},
    {"ping-interval-ms", "WSCLUSTER_PING_INTERVAL_MS", "30000",
     "ping every connection this often; silent for 2x => closed", 0},
    {"max-pending", "WSCLUSTER_MAX_PENDING", "67108864",
     "memory one connection's queue may hold before it is closed as slow (1008)", 0},
    {"peers", "WSCLUSTER_PEERS_FILE", "",
     "server list file [else the list in $WSCLUSTER_PEERS]", 0},
    {"advertise", "WSCLUSTER_ADVERTISE", "", "HOST:PORT or URL peers reach us at [--listen]", 0},
    {"secret", "WSCLUSTER_SECRET", "", "cluster secret (prefer the env var: argv is public)", 0},
    {"heartbeat-ms", "WSCLUSTER_HEARTBEAT_MS", "5000", "ping on peer links this often", 0},
    {"heartbeat-timeout-ms", "WSCLUSTER_HEARTBEAT_TIMEOUT_MS", "15000",
     "a peer link silent this long is closed", 0},
    {"refresh-ms", "WSCLUSTER_REFRESH_MS", "10000", "re-read the server list this often", 0},
    {"tls-cert", "WSCLUSTER_TLS_CERT", "", "PEM certificate: --listen/--tcp-listen speak TLS", 0},
    {"tls-key", "WSCLUSTER_TLS_KEY", "", "PEM private key for --tls-cert", 0},
    {"tls-ca", "WSCLUSTER_TLS_CA", "", "PEM CA that wss:// and tcps:// peers must chain to", 0},
    {"tls-insecure", "WSCLUSTER_TLS_INSECURE", "0", "1: do not verify TLS peers (tests only)", 0},
    {"allowed-origins", "WSCLUSTER_ALLOWED_ORIGINS", "",
     "origins browsers may call from (comma list, or *) [none: same host:port only]", 0},
    {"api-token", "WSCLUSTER_API_TOKEN", "",
     "/clients, /stats, /metrics, /cluster and /send need it (Bearer or token=) [none: open]",
     0},
    {"max-memory", "WSCLUSTER_MAX_MEMORY", "268435456",
     "bytes of message data all connections may hold together (see README)", 0},
    {"backplane", "WSCLUSTER_BACKPLANE", "",
     "redis://[[user]:password@]host:port[/db][?channel=NAME&mode=pubsub|stream&maxlen=N]", 0},
};
enum { O_LISTEN, O_TCP, O_ID, O_MAXMSG, O_MAXCLI, O_LOG, O_HSTO, O_PING, O_PENDING, O_PEERS,
       O_ADV, O_SECRET, O_HB, O_HBTO, O_REFRESH, O_CERT, O_KEY, O_CA, O_INSECURE, O_ORIGINS,
       O_TOKEN, O_MAXMEM, O_BACKPLANE, O_N };

static volatile sig_atomic_t g_stop, g_hup;
static void on_signal(int sig) {
    if (sig == SIGHUP) g_hup = 1;
    else g_stop = 1;
}

/* systemd's readiness protocol (Type=notify) without libsystemd: each state is one datagram
   to $NOTIFY_SOCKET, a path or, with a leading '@', an abstract socket (Linux). Unset: nothing
   is sent; a socket that cannot be reached is logged, and the node runs on. */
static void notify(wsc_ctx *ctx, const char *state) {
    const char *p = getenv("NOTIFY_SOCKET");
    struct sockaddr_un sa;
    size_t l = p ? strlen(p) : 0;
    int fd;
    if (l < 2 || (*p != '/' && *p != '@')) return;
    if (l >= sizeof sa.sun_path) {
        wsc_log(ctx, WSC_LOG_WARN, "NOTIFY_SOCKET is too long: %s not sent", state);
        return;
    }
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, p, l);
    if (*p == '@') sa.sun_path[0] = '\0';
    fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    if (fd < 0 || sendto(fd, state, strlen(state), 0, (struct sockaddr *)&sa,
                         (socklen_t)(offsetof(struct sockaddr_un, sun_path) + l)) < 0)
        wsc_log(ctx, WSC_LOG_WARN, "NOTIFY_SOCKET %s: %s not sent: %s", p, state, strerror(errno));
    if (fd >= 0) close(fd);
}

/* a reload begins: systemd wants the CLOCK_MONOTONIC time with it */
static void notify_reloading(wsc_ctx *ctx) {
    struct timespec ts;
    char msg[64];
    clock_gettime(CLOCK_MONOTONIC, &ts);
    snprintf(msg, sizeof msg, "RELOADING=1\nMONOTONIC_USEC=%llu",
             (unsigned long long)ts.tv_sec * 1000000ull + (unsigned long long)ts.tv_nsec / 1000u);
    notify(ctx, msg);
}

typedef struct node {
    char id[80];
    size_t max_message, max_memory;
    int heartbeat_ms, heartbeat_timeout_ms;
    char advertise[300];        /* how peers reach us: shown in the view */
    unsigned views;             /* open /cluster WebSockets */
} node;

static void usage(FILE *f) {
    int i;
    fprintf(f, "usage: wscluster-node [options]\n"
               "Every option can also come from its environment variable; the command line "
               "wins.\n\n");
    for (i = 0; i < O_N; i++)
        fprintf(f, "  --%-22s %-32s %s [%s]\n", opts[i].name, opts[i].env, opts[i].help,
                opts[i].def[0] ? opts[i].def : "none");
    fprintf(f, "\nEndpoints: GET / (chat page), WS /ws[?user=NAME] (cluster-wide chat), WS /echo,\n"
               "GET /send?msg=TEXT[&user=NAME][&group=G][&conn=ID][&selector=user-prefix&arg=A],\n"
               "POST /send, GET /stats, GET /clients, GET /metrics (Prometheus), GET /cluster (live\n"
               "cluster view; WS /cluster its updates), WS /wscluster (peer links).\n"
               "The server list (file or $WSCLUSTER_PEERS): HOST:PORT, ws://HOST:PORT[/path] or\n"
               "tcp://HOST:PORT entries, one per line or comma-separated; '#' comments.\n"
               "SIGHUP re-reads it; SIGINT/SIGTERM close every connection with 1001 and exit 0.\n"
               "With $NOTIFY_SOCKET set (systemd Type=notify) it reports READY=1, RELOADING=1 and\n"
               "STOPPING=1 there.\n"
               "Exit status: 0 clean exit (signal, --help); 1 failure to start or at run time\n"
               "(e.g. cannot listen); 2 bad options or configuration.\n");
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

/* long long: a long is 32 bits on 32-bit targets, too narrow for the byte counts */
static long long num(int k, long long lo, long long hi) {
    char *end;
    long long v = strtoll(opts[k].val, &end, 10);
    if (*opts[k].val == '\0' || *end || v < lo || v > hi) {
        fprintf(stderr, "wscluster-node: --%s: '%s' is not a number in [%lld, %lld]\n",
                opts[k].name, opts[k].val, lo, hi);
        exit(2);
    }
    return v;
}

/* scheme://HOST:PORT from option k into url; 0 (said why) when it is not one: bad
   configuration, where an address that parses but cannot be had is a run-time failure */
static int listen_url(char *url, size_t cap, const char *scheme, int k) {
    char host[256];
    const char *path;
    int proto, port;
    snprintf(url, cap, "%s://%s", scheme, opts[k].val);
    if (wsc_url_parse(url, &proto, host, sizeof host, &port, &path) == 0 &&
        strrchr(opts[k].val, ':'))
        return 1;
    fprintf(stderr, "wscluster-node: --%s: '%s' is not HOST:PORT\n", opts[k].name, opts[k].val);
    return 0;
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

/* a named selector every node registers: users whose name starts with arg */
static int sel_user_prefix(wsc_ctx *ctx, wsc_id id, const char *arg, void *ud) {
    const char *u = wsc_get_meta(ctx, id, "user"), *chan = wsc_get_meta(ctx, id, "chan");
    (void)ud;
    return u && chan && strcmp(chan, "chat") == 0 && strncmp(u, arg, strlen(arg)) == 0;
}

/* /send: to every chat client of the cluster, or to those matching user / group (AND),
   or to one connection (conn=GLOBAL_ID), or through a named selector (selector=&arg=) */
static void send_endpoint(wsc_ctx *ctx, wsc_id id, node *n, wsc_http_req *req) {
    /* a query is at most a request head (8 KiB): values are never cut short */
    char user[8192], group[8192], conn[128], sel[64], arg[8192], json[160];
    wsc_kv match[3];
    wsc_target t;
    wsc_stats before, after;
    const void *msg;
    size_t len;
    int opcode = WSC_TEXT, r;
    char *qmsg = NULL;
    memset(&t, 0, sizeof t);
    match[0].key = "chan";
    match[0].value = "chat";
    t.match = match;
    t.nmatch = 1;
    if (wsc_query_get(req->query, "user", user, sizeof user) >= 0) {
        match[t.nmatch].key = "user";
        match[t.nmatch++].value = user;
    }
    if (wsc_query_get(req->query, "group", group, sizeof group) >= 0) {
        match[t.nmatch].key = "group";
        match[t.nmatch++].value = group;
    }
    if (wsc_query_get(req->query, "conn", conn, sizeof conn) >= 0) {
        t.conn = conn;
    } else if (wsc_query_get(req->query, "selector", sel, sizeof sel) >= 0) {
        t.selector = sel;
        t.arg = wsc_query_get(req->query, "arg", arg, sizeof arg) >= 0 ? arg : "";
    }
    if (wsc_str_eq(req->method, "GET")) {
        int ql = wsc_query_get(req->query, "msg", NULL, 0);
        if (ql < 0) { reply_json(ctx, id, 400, "{\"ok\":false,\"error\":\"missing msg\"}"); return; }
        qmsg = (char *)malloc((size_t)ql + 1);
        if (!qmsg) { reply_json(ctx, id, 500, "{\"ok\":false}"); return; }
        wsc_query_get(req->query, "msg", qmsg, (size_t)ql + 1);
        msg = qmsg;
        len = (size_t)ql;
    } else if (wsc_str_eq(req->method, "POST")) {
        const wsc_str *ct = wsc_http_header(req->headers, req->nheaders, "Content-Type");
        msg = req->body.ptr;
        len = req->body.len;
        if (ct) { /* the media type alone: up to ';' (parameters), without spaces */
            wsc_str mt = *ct;
            const char *semi = (const char *)memchr(mt.ptr, ';', mt.len);
            if (semi) mt.len = (size_t)(semi - mt.ptr);
            while (mt.len && (mt.ptr[mt.len - 1] == ' ' || mt.ptr[mt.len - 1] == '\t')) mt.len--;
            if (wsc_str_ieq(mt, "application/octet-stream")) opcode = WSC_BINARY;
        }
    } else {
        wsc_http_reply(ctx, id, 405, "application/json", "Allow: GET, POST\r\n",
                       "{\"ok\":false,\"error\":\"method\"}", 28);
        return;
    }
    if (len > n->max_message) {
        reply_json(ctx, id, 413, "{\"ok\":false,\"error\":\"message over --max-message\"}");
    } else {
        wsc_get_stats(ctx, &before);
        r = wsc_cluster_send(ctx, &t, opcode, msg, len); /* every instance */
        wsc_get_stats(ctx, &after);
        if (r == WSC_ERR_UTF8) {
            reply_json(ctx, id, 400, "{\"ok\":false,\"error\":\"text is not UTF-8\"}");
        } else if (r == WSC_ERR_INVAL) {
            reply_json(ctx, id, 400, "{\"ok\":false,\"error\":\"bad target\"}");
        } else {
            char pub[48] = ""; /* with a backplane: whether Redis carried it */
            if (after.bp_state)
                snprintf(pub, sizeof pub, ",\"published\":%llu",
                         (unsigned long long)(after.bp_out - before.bp_out));
            snprintf(json, sizeof json, "{\"ok\":%s,\"delivered\":%d,\"forwarded\":%llu%s}",
                     r >= 0 ? "true" : "false", r >= 0 ? r : 0,
                     (unsigned long long)(after.fwd_out - before.fwd_out), pub);
            reply_json(ctx, id, r >= 0 ? 200 : 500, json);
        }
    }
    free(qmsg);
}

/* /clients: this node's chat clients with their cluster-wide ids (for /send?conn=) */
static void clients_endpoint(wsc_ctx *ctx, wsc_id id) {
    wsc_id ids[4096];
    size_t n = wsc_conns(ctx, WSC_CLIENT, ids, 4096), i, o = 0, cap;
    char *json;
    if (n > 4096) n = 4096;
    cap = 64 + n * 700;
    json = (char *)malloc(cap);
    if (!json) { reply_json(ctx, id, 500, "{}"); return; }
    o += (size_t)snprintf(json, cap, "[");
    for (i = 0; i < n; i++) {
        char gid[128], u[520], g[520];
        const char *user = wsc_get_meta(ctx, ids[i], "user");
        const char *group = wsc_get_meta(ctx, ids[i], "group");
        wsc_conn_info info;
        if (wsc_global_id(ctx, ids[i], gid, sizeof gid) < 0 ||
            wsc_get_conn_info(ctx, ids[i], &info) < 0)
            continue;
        json_str(u, sizeof u, user ? user : "");
        json_str(g, sizeof g, group ? group : "");
        o += (size_t)snprintf(json + o, cap - o,
                              "%s{\"id\":\"%s\",\"user\":\"%s\",\"group\":\"%s\",\"proto\":\"%s\"}",
                              o > 1 ? "," : "", gid, u, g, info.proto == WSC_PROTO_TCP ? "tcp" : "ws");
    }
    snprintf(json + o, cap - o, "]");
    reply_json(ctx, id, 200, json);
    free(json);
}

static void stats_endpoint(wsc_ctx *ctx, wsc_id id, node *n) {
    wsc_stats st;
    char *json, idj[160];
    wsc_peer_info peers[64];
    size_t np = wsc_peers(ctx, peers, 64), i, cap = 2048 + 700 * 64, o;
    wsc_get_stats(ctx, &st);
    json = (char *)malloc(cap);
    if (!json) { reply_json(ctx, id, 500, "{}"); return; }
    json_str(idj, sizeof idj, wsc_node_id(ctx));
    o = (size_t)snprintf(json, cap,
             "{\"id\":\"%s\",\"connections\":{\"client\":%llu,\"subscriber\":%llu,"
             "\"observable\":%llu},\"messages\":{\"received\":%llu,\"sent\":%llu,"
             "\"dropped\":%llu,\"closed_slow\":%llu,\"closed_memory\":%llu},"
             "\"memory\":{\"held\":%llu,\"peak\":%llu,\"max\":%llu},\"accepted\":%llu,\"refused\":%llu,"
             "\"protocol_errors\":%llu,\"forwarded\":{\"out\":%llu,\"in\":%llu,"
             "\"dropped\":%llu,\"duplicates\":%llu},\"backplane\":{\"kind\":\"%s\","
             "\"state\":\"%s\",\"published\":%llu,\"received\":%llu,\"refused\":%llu},"
             "\"peers\":[",
             idj, (unsigned long long)st.conns[WSC_CLIENT],
             (unsigned long long)st.conns[WSC_SUBSCRIBER],
             (unsigned long long)st.conns[WSC_OBSERVABLE], (unsigned long long)st.msgs_in,
             (unsigned long long)st.msgs_out, (unsigned long long)st.dropped,
             (unsigned long long)st.closed_slow, (unsigned long long)st.closed_memory,
             (unsigned long long)st.mem_held, (unsigned long long)st.mem_peak,
             (unsigned long long)n->max_memory, (unsigned long long)st.accepted,
             (unsigned long long)st.refused, (unsigned long long)st.proto_errors,
             (unsigned long long)st.fwd_out, (unsigned long long)st.fwd_in,
             (unsigned long long)st.fwd_dropped, (unsigned long long)st.fwd_duplicates,
             st.bp_state ? "redis" : "mesh", st.bp_state == 2 ? "up" : st.bp_state ? "down" : "-",
             (unsigned long long)st.bp_out, (unsigned long long)st.bp_in,
             (unsigned long long)st.bp_bad);
    for (i = 0; i < np && i < 64; i++) {
        char u[400], nd[160];
        json_str(u, sizeof u, peers[i].url);
        json_str(nd, sizeof nd, peers[i].node);
        o += (size_t)snprintf(json + o, cap - o,
                              "%s{\"url\":\"%s\",\"node\":\"%s\",\"self\":%s,\"introduced\":%s,"
                              "\"subscriber\":\"%s\",\"observable\":\"%s\",\"last_heartbeat_ms\":%lld,"
                              "\"reconnects\":%llu}",
                              i ? "," : "", u, nd, peers[i].self ? "true" : "false",
                              peers[i].introduced ? "true" : "false",
                              peers[i].sub_up ? "up" : "down", peers[i].obs_up ? "up" : "down",
                              (long long)peers[i].last_heartbeat_ms,
                              (unsigned long long)peers[i].reconnects);
    }
    snprintf(json + o, cap - o, "]}");
    reply_json(ctx, id, 200, json);
    free(json);
}

/* ---- /metrics and the live cluster view (/cluster) ---- */
/* text that grows: what does not fit is reallocated; out of memory sets oom */
typedef struct sbuf { char *p; size_t len, cap; int oom; } sbuf;
static void sb_printf(sbuf *b, const char *fmt, ...) {
    va_list ap;
    int n;
    if (b->oom) return;
    for (;;) {
        va_start(ap, fmt);
        n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) { b->oom = 1; return; }
        if (b->p && (size_t)n < b->cap - b->len) { b->len += (size_t)n; return; }
        {
            size_t cap = (b->cap ? b->cap : 4096) * 2 + (size_t)n;
            char *p = (char *)realloc(b->p, cap);
            if (!p) { b->oom = 1; return; }
            b->p = p;
            b->cap = cap;
        }
    }
}
/* a Prometheus label value: backslash, double quote and newline escaped */
static void prom_label(char *out, size_t cap, const char *s) {
    size_t o = 0;
    for (; *s && o + 3 < cap; s++) {
        if (*s == '\\' || *s == '"') { out[o++] = '\\'; out[o++] = *s; }
        else if (*s == '\n') { out[o++] = '\\'; out[o++] = 'n'; }
        else out[o++] = *s;
    }
    out[o] = '\0';
}
static void prom_head(sbuf *b, const char *name, const char *type, const char *help) {
    sb_printf(b, "# HELP wscluster_%s %s\n# TYPE wscluster_%s %s\n", name, help, name, type);
}
static void prom_one(sbuf *b, const char *name, const char *type, const char *help,
                     unsigned long long v) {
    prom_head(b, name, type, help);
    sb_printf(b, "wscluster_%s %llu\n", name, v);
}
#define ULL(x) ((unsigned long long)(x))

/* GET /metrics: the Prometheus text format (0.0.4) of wsc_get_stats() and wsc_peers() */
static void metrics_endpoint(wsc_ctx *ctx, wsc_id id) {
    static const char *const cls[4] = {"", "client", "subscriber", "observable"};
    static const int64_t bound[WSC_RTT_BUCKETS] = WSC_RTT_BOUNDS_US;
    wsc_stats st;
    wsc_peer_info *peers;
    size_t np, i, k;
    sbuf b = {0, 0, 0, 0};
    char nd[200];
    int c;
    wsc_get_stats(ctx, &st);
    np = wsc_peers(ctx, NULL, 0);
    peers = (wsc_peer_info *)calloc(np ? np : 1, sizeof *peers);
    if (!peers) { wsc_http_reply(ctx, id, 500, "text/plain", NULL, "500\n", 4); return; }
    np = wsc_peers(ctx, peers, np);
    prom_label(nd, sizeof nd, wsc_node_id(ctx));
    prom_head(&b, "info", "gauge", "This instance: its node id (always 1).");
    sb_printf(&b, "wscluster_info{node=\"%s\"} 1\n", nd);
    prom_head(&b, "connections", "gauge", "Open connections by class and protocol.");
    for (c = 1; c < 4; c++) {
        sb_printf(&b, "wscluster_connections{class=\"%s\",protocol=\"ws\"} %llu\n", cls[c],
                  ULL(st.conns[c] - st.conns_tcp[c]));
        sb_printf(&b, "wscluster_connections{class=\"%s\",protocol=\"tcp\"} %llu\n", cls[c],
                  ULL(st.conns_tcp[c]));
    }
    prom_one(&b, "connections_accepted_total", "counter", "Inbound connections opened.",
             ULL(st.accepted));
    prom_one(&b, "connections_refused_total", "counter",
             "Connections refused (limits, handshake and HTTP errors, TLS failures).",
             ULL(st.refused));
    prom_head(&b, "messages_total", "counter",
              "Messages received from clients and links (in), sent by the application (out).");
    sb_printf(&b, "wscluster_messages_total{direction=\"in\"} %llu\n", ULL(st.msgs_in));
    sb_printf(&b, "wscluster_messages_total{direction=\"out\"} %llu\n", ULL(st.msgs_sent));
    prom_head(&b, "bytes_total", "counter", "Payload bytes received (in); bytes queued on "
              "every socket (out).");
    sb_printf(&b, "wscluster_bytes_total{direction=\"in\"} %llu\n", ULL(st.bytes_in));
    sb_printf(&b, "wscluster_bytes_total{direction=\"out\"} %llu\n", ULL(st.bytes_out));
    prom_one(&b, "deliveries_total", "counter",
             "Message deliveries queued to connections, peer links included (a message to N "
             "counts N).",
             ULL(st.msgs_out));
    prom_head(&b, "forwards_total", "counter",
              "Cluster-wide messages to and from the other instances, by transport.");
    sb_printf(&b, "wscluster_forwards_total{direction=\"out\",transport=\"mesh\"} %llu\n"
                  "wscluster_forwards_total{direction=\"in\",transport=\"mesh\"} %llu\n"
                  "wscluster_forwards_total{direction=\"out\",transport=\"redis\"} %llu\n"
                  "wscluster_forwards_total{direction=\"in\",transport=\"redis\"} %llu\n",
              ULL(st.fwd_out), ULL(st.fwd_in), ULL(st.bp_out), ULL(st.bp_in));
    prom_head(&b, "drops_total", "counter", "Messages that did not reach somewhere, by reason "
              "(not_queued: a local connection closing, slow or out of memory).");
    sb_printf(&b, "wscluster_drops_total{reason=\"not_queued\"} %llu\n", ULL(st.dropped));
    for (k = 0; k < WSC_DROP_KINDS; k++)
        sb_printf(&b, "wscluster_drops_total{reason=\"%s\"} %llu\n", wsc_drop_kind_name((int)k),
                  ULL(st.fwd_drops[k]));
    prom_one(&b, "duplicates_total", "counter",
             "Cluster-wide messages dropped because they had already arrived.",
             ULL(st.fwd_duplicates));
    prom_head(&b, "closed_total", "counter", "Connections closed by the library, by reason "
              "(slow_consumer 1008, memory 1013/503, protocol 1002/1007).");
    sb_printf(&b, "wscluster_closed_total{reason=\"slow_consumer\"} %llu\n"
                  "wscluster_closed_total{reason=\"memory\"} %llu\n"
                  "wscluster_closed_total{reason=\"protocol\"} %llu\n",
              ULL(st.closed_slow), ULL(st.closed_memory), ULL(st.proto_errors));
    prom_one(&b, "posted_total", "counter", "Messages sent from other threads (wsc_post).",
             ULL(st.posted));
    prom_one(&b, "memory_held_bytes", "gauge", "Message data held now (the memory budget).",
             ULL(st.mem_held));
    prom_one(&b, "memory_peak_bytes", "gauge", "The most message data ever held.",
             ULL(st.mem_peak));
    prom_one(&b, "memory_limit_bytes", "gauge", "The memory budget (--max-memory).",
             ULL(st.mem_max));
    prom_head(&b, "backplane_state", "gauge",
              "The backplane: 0 the mesh alone, 1 Redis down (the mesh stands in), 2 Redis up.");
    sb_printf(&b, "wscluster_backplane_state{kind=\"%s\"} %llu\n",
              st.bp_kind == 2 ? "redis-stream" : st.bp_kind ? "redis-pubsub" : "mesh",
              ULL(st.bp_state));
    prom_one(&b, "backplane_refused_total", "counter",
             "Redis messages refused: malformed or not signed with the secret.", ULL(st.bp_bad));
    prom_head(&b, "peer_link_up", "gauge", "A peer's link is up (authenticated): link "
              "subscriber is ours to it, observable is its to us.");
    for (i = 0; i < np; i++) {
        if (peers[i].self) continue;
        prom_label(nd, sizeof nd, peers[i].node[0] ? peers[i].node : peers[i].url);
        sb_printf(&b, "wscluster_peer_link_up{peer=\"%s\",link=\"subscriber\"} %d\n"
                      "wscluster_peer_link_up{peer=\"%s\",link=\"observable\"} %d\n",
                  nd, peers[i].sub_up, nd, peers[i].obs_up);
    }
    prom_head(&b, "peer_reconnects_total", "counter", "Connection attempts to a peer after the "
              "first.");
    for (i = 0; i < np; i++) {
        if (peers[i].self) continue;
        prom_label(nd, sizeof nd, peers[i].node[0] ? peers[i].node : peers[i].url);
        sb_printf(&b, "wscluster_peer_reconnects_total{peer=\"%s\"} %llu\n", nd,
                  ULL(peers[i].reconnects));
    }
    prom_head(&b, "peer_heartbeat_rtt_seconds", "histogram",
              "Heartbeat round trips (ping to pong) on a peer's links.");
    for (i = 0; i < np; i++) {
        uint64_t cum = 0;
        if (peers[i].self) continue;
        prom_label(nd, sizeof nd, peers[i].node[0] ? peers[i].node : peers[i].url);
        for (k = 0; k < WSC_RTT_BUCKETS; k++) {
            cum += peers[i].rtt_hist[k];
            sb_printf(&b, "wscluster_peer_heartbeat_rtt_seconds_bucket{peer=\"%s\",le=\"%g\"} "
                      "%llu\n", nd, (double)bound[k] / 1e6, ULL(cum));
        }
        sb_printf(&b, "wscluster_peer_heartbeat_rtt_seconds_bucket{peer=\"%s\",le=\"+Inf\"} "
                      "%llu\nwscluster_peer_heartbeat_rtt_seconds_sum{peer=\"%s\"} %.6f\n"
                      "wscluster_peer_heartbeat_rtt_seconds_count{peer=\"%s\"} %llu\n",
                  nd, ULL(peers[i].rtt_count), nd, (double)peers[i].rtt_sum_us / 1e6, nd,
                  ULL(peers[i].rtt_count));
    }
    free(peers);
    if (b.oom) wsc_http_reply(ctx, id, 500, "text/plain", NULL, "500 out of memory\n", 18);
    else wsc_http_reply(ctx, id, 200, "text/plain; version=0.0.4; charset=utf-8", NULL, b.p,
                        b.len);
    free(b.p);
}

/* one instance of the view: a summary (NULL: none yet) and what we know of it */
static void view_instance(sbuf *b, const wsc_summary *s, const char *nid, const char *url,
                          int self, const char *state) {
    char nd[160], u[400];
    size_t i;
    json_str(nd, sizeof nd, nid);
    json_str(u, sizeof u, url);
    sb_printf(b, "{\"node\":\"%s\",\"self\":%s,\"url\":\"%s\",\"state\":\"%s\"", nd,
              self ? "true" : "false", u, state);
    if (!s) { sb_printf(b, ",\"age_ms\":null,\"links\":[]}"); return; }
    sb_printf(b, ",\"age_ms\":%lld,\"uptime_ms\":%llu,\"clients\":{\"client\":%llu,"
                 "\"subscriber\":%llu,\"observable\":%llu},\"msgs\":{\"in\":%llu,\"out\":%llu},"
                 "\"bytes\":{\"in\":%llu,\"out\":%llu},\"forwards\":{\"in\":%llu,\"out\":%llu},"
                 "\"dropped\":%llu,\"memory\":{\"held\":%llu,\"max\":%llu},"
                 "\"backplane\":{\"kind\":\"%s\",\"state\":\"%s\"},\"links\":[",
              (long long)s->age_ms, ULL(s->uptime_ms), ULL(s->conns[WSC_CLIENT]),
              ULL(s->conns[WSC_SUBSCRIBER]), ULL(s->conns[WSC_OBSERVABLE]), ULL(s->msgs_in),
              ULL(s->msgs_out), ULL(s->bytes_in), ULL(s->bytes_out), ULL(s->fwd_in + s->bp_in),
              ULL(s->fwd_out + s->bp_out), ULL(s->dropped + s->fwd_dropped), ULL(s->mem_held),
              ULL(s->mem_max), s->bp_kind ? "redis" : "mesh",
              s->bp_state == 2 ? "up" : s->bp_state ? "down" : "mesh");
    for (i = 0; i < s->nlinks; i++) {
        const wsc_summary_link *l = &s->links[i];
        char ln[160], rtt[32];
        snprintf(ln, sizeof ln, "%.*s", (int)l->node.len, l->node.ptr);
        json_str(nd, sizeof nd, ln);
        if (l->rtt_us < 0 || (!l->sub_up && !l->obs_up)) /* none yet, or none any more */
            snprintf(rtt, sizeof rtt, "null");
        else snprintf(rtt, sizeof rtt, "%.3f", (double)l->rtt_us / 1000.0);
        sb_printf(b, "%s{\"peer\":\"%s\",\"sub\":%s,\"obs\":%s,\"rtt_ms\":%s,"
                     "\"reconnects\":%llu}", i ? "," : "", nd, l->sub_up ? "true" : "false",
                  l->obs_up ? "true" : "false", rtt, ULL(l->reconnects));
    }
    sb_printf(b, "]}");
}

/* the view's JSON: this instance, then every other one it knows (its own summary over the
   links, every heartbeat), once per node id */
static void view_json(wsc_ctx *ctx, sbuf *b, const node *n) {
    wsc_summary *s = (wsc_summary *)calloc(1, sizeof *s);
    wsc_peer_info *peers;
    size_t np = wsc_peers(ctx, NULL, 0), i, j, shown = 0;
    char me[160];
    if (!s) { b->oom = 1; return; }
    peers = (wsc_peer_info *)calloc(np ? np : 1, sizeof *peers);
    if (!peers) { free(s); b->oom = 1; return; }
    np = wsc_peers(ctx, peers, np);
    json_str(me, sizeof me, wsc_node_id(ctx));
    sb_printf(b, "{\"self\":\"%s\",\"heartbeat_ms\":%d,\"heartbeat_timeout_ms\":%d,"
                 "\"instances\":[", me, n->heartbeat_ms, n->heartbeat_timeout_ms);
    for (i = 0; i < np && !peers[i].self; i++) {}
    wsc_summary_get(ctx, -1, s); /* our url: as the server list names us, as for the others */
    view_instance(b, s, wsc_node_id(ctx), i < np ? peers[i].url : n->advertise, 1, "up");
    for (i = 0; i < np; i++) {
        const wsc_peer_info *p = &peers[i];
        int dup = p->self || strcmp(p->node, wsc_node_id(ctx)) == 0, have;
        const char *state;
        for (j = 0; j < i && !dup && p->node[0]; j++)
            dup = !peers[j].self && strcmp(peers[j].node, p->node) == 0;
        if (dup) continue;
        have = wsc_summary_get(ctx, (int)i, s) == 0;
        if (!p->sub_up && !p->obs_up) state = "down";
        else if (!have) state = "unknown";
        else state = s->age_ms > n->heartbeat_timeout_ms ? "down" : "up";
        sb_printf(b, ",");
        view_instance(b, have ? s : NULL, p->node, p->url, 0, state);
        shown++;
    }
    sb_printf(b, "]}");
    (void)shown;
    free(peers);
    free(s);
}

/* every second, to each open view: the cluster as this instance sees it */
static void view_tick(wsc_ctx *ctx, void *arg) {
    static const wsc_kv view = {"chan", "view"};
    node *n = (node *)arg;
    sbuf b = {0, 0, 0, 0};
    if (n->views == 0) return;
    view_json(ctx, &b, n);
    if (!b.oom) wsc_broadcast(ctx, &view, 1, WSC_TEXT, b.p, b.len);
    free(b.p);
}

/* Cross-site requests: a browser names the page's origin; one whose host:port is not the
   Host it asked for (another site, or a DNS-rebinding page) is refused unless listed. Clients
   that send no Origin (programs, devices) are not browsers and are let in. */
static int origin_ok(const wsc_http_req *req) {
    const wsc_str *o = wsc_http_header(req->headers, req->nheaders, "Origin");
    const wsc_str *h = wsc_http_header(req->headers, req->nheaders, "Host");
    const char *list = opts[O_ORIGINS].val, *p;
    wsc_str auth;
    if (!o) return 1;
    if (strcmp(list, "*") == 0) return 1;
    for (p = list; *p;) { /* an exact entry of the list */
        const char *e = strchr(p, ',');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        while (l && *p == ' ') { p++; l--; }
        while (l && p[l - 1] == ' ') l--;
        if (l == o->len && l && strncasecmp(p, o->ptr, l) == 0) return 1;
        p = e ? e + 1 : p + strlen(p);
    }
    auth.ptr = (const char *)memchr(o->ptr, '/', o->len); /* scheme://host:port */
    if (!h || !auth.ptr || (size_t)(auth.ptr - o->ptr) + 2 > o->len || auth.ptr[1] != '/')
        return 0;
    auth.ptr += 2;
    auth.len = o->len - (size_t)(auth.ptr - o->ptr);
    return auth.len == h->len && strncasecmp(auth.ptr, h->ptr, h->len) == 0;
}

/* the API endpoints with --api-token: "Authorization: Bearer T" or ?token=T */
static int token_ok(const wsc_http_req *req) {
    const char *t = opts[O_TOKEN].val;
    const wsc_str *a = wsc_http_header(req->headers, req->nheaders, "Authorization");
    char q[256];
    size_t tl = strlen(t), i;
    unsigned diff = 0;
    const char *given = NULL;
    size_t gl = 0;
    if (!*t) return 1;
    if (a && a->len > 7 && strncasecmp(a->ptr, "Bearer ", 7) == 0) {
        given = a->ptr + 7;
        gl = a->len - 7;
    } else if (wsc_query_get(req->query, "token", q, sizeof q) >= 0) {
        given = q;
        gl = strlen(q);
    }
    if (!given) return 0;
    diff = (unsigned)(gl != tl); /* constant time over the given bytes */
    for (i = 0; i < gl; i++)
        diff |= (unsigned)((unsigned char)given[i] ^ (unsigned char)t[tl ? i % tl : 0]);
    return diff == 0;
}

static void on_event(wsc_ctx *ctx, wsc_id id, int ev, void *data, void *user) {
    node *n = (node *)user;
    if (ev == WSC_EV_UPGRADE) {
        wsc_http_req *req = (wsc_http_req *)data;
        if (!origin_ok(req)) {
            wsc_log(ctx, WSC_LOG_INFO, "upgrade refused: Origin not allowed (--allowed-origins)");
            wsc_reject(ctx, id, 403, "403 Forbidden: cross-origin (see --allowed-origins)\n");
        } else if (wsc_str_eq(req->path, "/ws")) { /* user and group: the query tags */
            wsc_set_meta(ctx, id, "chan", "chat");
        } else if (wsc_str_eq(req->path, "/echo")) {
            wsc_set_meta(ctx, id, "chan", "echo");
        } else if (wsc_str_eq(req->path, "/cluster")) { /* the view's updates: as /stats */
            if (token_ok(req)) wsc_set_meta(ctx, id, "chan", "view");
            else wsc_reject_headers(ctx, id, 401, "WWW-Authenticate: Bearer\r\n",
                                    "401 Unauthorized: --api-token required\n");
        } else {
            wsc_reject(ctx, id, 404, NULL);
        }
    } else if (ev == WSC_EV_OPEN) {
        wsc_conn_info info;
        const char *chan = wsc_get_meta(ctx, id, "chan");
        if (wsc_get_conn_info(ctx, id, &info) == 0 && info.proto == WSC_PROTO_TCP &&
            info.cls == WSC_CLIENT)
            wsc_set_meta(ctx, id, "chan", "chat");
        if (chan && strcmp(chan, "view") == 0) { /* the first picture at once */
            sbuf b = {0, 0, 0, 0};
            n->views++;
            view_json(ctx, &b, n);
            if (!b.oom) wsc_send(ctx, id, WSC_TEXT, b.p, b.len);
            free(b.p);
        }
    } else if (ev == WSC_EV_CLOSE) {
        const char *chan = wsc_get_meta(ctx, id, "chan");
        if (chan && strcmp(chan, "view") == 0 && n->views) n->views--;
    } else if (ev == WSC_EV_MESSAGE) {
        wsc_msg *m = (wsc_msg *)data;
        const char *chan = wsc_get_meta(ctx, id, "chan");
        static const wsc_kv chat = {"chan", "chat"};
        if (chan && strcmp(chan, "echo") == 0) wsc_send(ctx, id, m->opcode, m->data, m->len);
        else if (chan && strcmp(chan, "chat") == 0)
            wsc_send_where(ctx, &chat, 1, m->opcode, m->data, m->len);
    } else if (ev == WSC_EV_DROP) {
        wsc_drop_info *d = (wsc_drop_info *)data;
        if (id == 0 && d->msg_id == 0 && d->count == 0) /* a loss of unknown size */
            wsc_log(ctx, WSC_LOG_WARN, "%s: %s: messages were lost", d->peer, d->reason);
        else if (id == 0 && d->msg_id == 0) /* the end of an outage: one line with its count */
            wsc_log(ctx, WSC_LOG_INFO, "peer %s: %s; %llu message(s) dropped while it was "
                    "unreachable", d->peer, d->reason, (unsigned long long)d->count);
        else if (id == 0) /* the start of one */
            wsc_log(ctx, WSC_LOG_INFO, "peer %s: %s: dropping messages for it", d->peer,
                    d->reason);
        else
            wsc_log(ctx, WSC_LOG_DEBUG, "dropped message %llu for %s: %s",
                    (unsigned long long)d->msg_id, d->peer, d->reason);
    } else if (ev == WSC_EV_HTTP) {
        wsc_http_req *req = (wsc_http_req *)data;
        int api = wsc_str_eq(req->path, "/send") || wsc_str_eq(req->path, "/stats") ||
                  wsc_str_eq(req->path, "/clients") || wsc_str_eq(req->path, "/metrics") ||
                  wsc_str_eq(req->path, "/cluster");
        static const char forbidden[] = "403 Forbidden: cross-origin (see --allowed-origins)\n";
        static const char unauth[] = "401 Unauthorized: --api-token required\n";
        if (!origin_ok(req))
            wsc_http_reply(ctx, id, 403, "text/plain", NULL, forbidden, sizeof forbidden - 1);
        else if (api && !token_ok(req))
            wsc_http_reply(ctx, id, 401, "text/plain", "WWW-Authenticate: Bearer\r\n", unauth,
                           sizeof unauth - 1);
        else if (wsc_str_eq(req->path, "/") && !wsc_str_eq(req->method, "GET"))
            wsc_http_reply(ctx, id, 405, "text/plain", "Allow: GET\r\n", "405 Method Not Allowed\n", 23);
        else if (wsc_str_eq(req->path, "/"))
            wsc_http_reply(ctx, id, 200, "text/html; charset=utf-8", NULL, chat_html,
                           chat_html_len);
        else if (wsc_str_eq(req->path, "/send"))
            send_endpoint(ctx, id, n, req);
        else if (wsc_str_eq(req->path, "/stats"))
            stats_endpoint(ctx, id, n);
        else if (wsc_str_eq(req->path, "/clients"))
            clients_endpoint(ctx, id);
        else if (wsc_str_eq(req->path, "/metrics"))
            metrics_endpoint(ctx, id);
        else if (wsc_str_eq(req->path, "/cluster"))
            wsc_http_reply(ctx, id, 200, "text/html; charset=utf-8", NULL, cluster_html,
                           cluster_html_len);
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
    char url[300], tcp_url[300];
    int l, tl = -1, port, hostlen, tls = 0, rc = 0;
    long long mem;
    if (parse_args(argc, argv) < 0) return 2;
    memset(&cfg, 0, sizeof cfg);
    memset(&n, 0, sizeof n);
    if (opts[O_ID].val[0]) snprintf(n.id, sizeof n.id, "%s", opts[O_ID].val);
    n.max_message = (size_t)num(O_MAXMSG, 1, 0xffffffffLL);
    lv = opts[O_LOG].val;
    cfg.log_level = strcmp(lv, "error") == 0 ? WSC_LOG_ERROR : strcmp(lv, "warn") == 0 ? WSC_LOG_WARN
                  : strcmp(lv, "debug") == 0 ? WSC_LOG_DEBUG : WSC_LOG_INFO;
    if (strcmp(lv, "error") && strcmp(lv, "warn") && strcmp(lv, "info") && strcmp(lv, "debug")) {
        fprintf(stderr, "wscluster-node: --log-level: '%s' is not error|warn|info|debug\n", lv);
        return 2;
    }
    /* before the "listening" lines: a supervisor may signal as soon as it reads them */
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    cfg.on_event = on_event;
    cfg.user = &n;
    cfg.max_message = n.max_message;
    cfg.max_conns = (int)num(O_MAXCLI, 1, 1000000);
    cfg.handshake_timeout_ms = (int)num(O_HSTO, 1, 3600000);
    cfg.ping_interval_ms = (int)num(O_PING, 0, 3600000);
    if (cfg.ping_interval_ms == 0) cfg.ping_interval_ms = -1;
    cfg.max_pending = (size_t)num(O_PENDING, 1, 0x7fffffffLL);
    mem = num(O_MAXMEM, 1 << 20, 0x7fffffffffffLL); /* past the address space: no limit */
    cfg.max_memory = n.max_memory = (unsigned long long)mem > SIZE_MAX ? SIZE_MAX : (size_t)mem;
    cfg.cluster = 1; /* always ready to be introduced, even with no server list */
    cfg.node_id = n.id[0] ? n.id : NULL; /* else the library's random node-xxxxxxxx */
    cfg.peers_file = opts[O_PEERS].val[0] ? opts[O_PEERS].val : NULL;
    cfg.advertise = opts[O_ADV].val[0] ? opts[O_ADV].val : NULL;
    cfg.secret = opts[O_SECRET].val[0] ? opts[O_SECRET].val : NULL;
    cfg.backplane = opts[O_BACKPLANE].val[0] ? opts[O_BACKPLANE].val : NULL;
    cfg.heartbeat_ms = n.heartbeat_ms = (int)num(O_HB, 1, 3600000);
    cfg.heartbeat_timeout_ms = n.heartbeat_timeout_ms = (int)num(O_HBTO, 1, 3600000);
    cfg.refresh_ms = (int)num(O_REFRESH, 1, 86400000);
    cfg.tls_cert = opts[O_CERT].val[0] ? opts[O_CERT].val : NULL;
    cfg.tls_key = opts[O_KEY].val[0] ? opts[O_KEY].val : NULL;
    cfg.tls_ca = opts[O_CA].val[0] ? opts[O_CA].val : NULL;
    cfg.tls_insecure = (int)num(O_INSECURE, 0, 1);
    cfg.meta_from_query = 1; /* /ws?user=&group= tag chat clients (no authentication here) */
#ifndef WSCLUSTER_MBEDTLS
    if (cfg.tls_cert || cfg.tls_key || cfg.tls_ca) {
        fprintf(stderr, "wscluster-node: built without TLS: use wscluster-node-tls (make tls)\n");
        return 2;
    }
#endif
    if (!cfg.tls_cert != !cfg.tls_key) {
        fprintf(stderr, "wscluster-node: --tls-cert and --tls-key go together\n");
        return 2;
    }
    tls = cfg.tls_cert != NULL;
    if (!listen_url(url, sizeof url, tls ? "wss" : "ws", O_LISTEN) ||
        (opts[O_TCP].val[0] && !listen_url(tcp_url, sizeof tcp_url, tls ? "tcps" : "tcp", O_TCP)))
        return 2;
    ctx = wsc_create(&cfg);
    if (!ctx) { /* a setting it refused: its log line says which */
        fprintf(stderr, "wscluster-node: the configuration was refused\n");
        return 2;
    }
    snprintf(n.id, sizeof n.id, "%s", wsc_node_id(ctx));
    wsc_register_selector(ctx, "user-prefix", sel_user_prefix, NULL);
    /* every listener, before the first "listening" line: a node that says it listens, does */
    if ((l = wsc_listen(ctx, url)) < 0 ||
        (opts[O_TCP].val[0] && (tl = wsc_listen(ctx, tcp_url)) < 0)) {
        int e = l < 0 ? l : tl;
        fprintf(stderr, "wscluster-node: cannot listen on %s: %s\n", l < 0 ? url : tcp_url,
                wsc_strerror(e));
        wsc_destroy(ctx);
        return e == WSC_ERR_INVAL ? 2 : 1; /* _INVAL: the TLS certificate or key refused */
    }
    port = wsc_listener_port(ctx, l);
    hostlen = (int)(strrchr(opts[O_LISTEN].val, ':') - opts[O_LISTEN].val);
    if (opts[O_ADV].val[0]) snprintf(n.advertise, sizeof n.advertise, "%s", opts[O_ADV].val);
    else snprintf(n.advertise, sizeof n.advertise, "%s://%.*s:%d", tls ? "wss" : "ws", hostlen,
                  opts[O_LISTEN].val, port);
    wsc_timer(ctx, 1000, 1, view_tick, &n);
    if (!opts[O_TOKEN].val[0] && strncmp(opts[O_LISTEN].val, "127.", 4) != 0 &&
        strncmp(opts[O_LISTEN].val, "localhost:", 10) != 0 &&
        strncmp(opts[O_LISTEN].val, "[::1]:", 6) != 0)
        wsc_log(ctx, WSC_LOG_WARN, "NO API TOKEN on %s: anyone who reaches it can send to every "
                "client and read /clients, /stats, /metrics and /cluster (set --api-token)",
                opts[O_LISTEN].val);
    printf("listening %s://%.*s:%d\n", tls ? "wss" : "ws", hostlen, opts[O_LISTEN].val, port);
    if (tl >= 0)
        printf("listening %s://%.*s:%d\n", tls ? "tcps" : "tcp",
               (int)(strrchr(opts[O_TCP].val, ':') - opts[O_TCP].val), opts[O_TCP].val,
               wsc_listener_port(ctx, tl));
    fflush(stdout);
    wsc_log(ctx, WSC_LOG_INFO, "node %s up: chat page at %s://%.*s:%d/", n.id,
            tls ? "https" : "http", hostlen, opts[O_LISTEN].val, port);

    notify(ctx, "READY=1");

    while (!g_stop) {
        if ((l = wsc_poll(ctx, 1000)) < 0) {
            wsc_log(ctx, WSC_LOG_ERROR, "node %s: the loop failed: %s", n.id, wsc_strerror(l));
            rc = 1;
            break;
        }
        if (g_hup) {
            g_hup = 0;
            notify_reloading(ctx);
            wsc_log(ctx, WSC_LOG_INFO, "SIGHUP: re-reading the server list");
            wsc_cluster_refresh(ctx); /* a list it cannot read is logged; the last one stays */
            notify(ctx, "READY=1");
        }
    }
    notify(ctx, "STOPPING=1");
    wsc_log(ctx, WSC_LOG_INFO, "node %s: shutting down", n.id);
    wsc_shutdown(ctx, 1001, 3000);
    wsc_destroy(ctx);
    return rc;
}
