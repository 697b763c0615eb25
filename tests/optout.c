/* optout.c: wscluster.h built without one of its optional parts (COMPILE-TIME MACROS).
   tests/optout.sh builds it with -DWSCLUSTER_NO_REDIS, -DWSCLUSTER_NO_CLUSTER and
   -DWSCLUSTER_NO_CLIENT (plain and ASan+UBSan); tests/test_optout.py drives it.
     optout --listen HOST:PORT [--tcp-listen HOST:PORT]
   First the checks that need no peer, one "check NAME ok|FAIL ..." line each: the stubs of
   the parts left out return WSC_ERR_NOTBUILT, an option that needs such a part makes
   wsc_create() fail with a log line naming the macro, and the parts kept still work. Then
   "built NO_REDIS|NO_CLUSTER|NO_CLIENT|all", "checks failures=N" and one "listening
   ws://HOST:PORT" (and tcp://) line per listener. It then serves: every message is echoed,
   except the text commands (replies go to the sender unless said otherwise):
     !bcast TEXT        wsc_broadcast(TEXT) to every client here
     !all TEXT          wsc_send_all: every client of the "cluster" (here: this instance)
     !where GROUP TEXT  wsc_send_where group=GROUP (upgrades take group from ?group=)
     !post TEXT         wsc_post, from a thread of its own
     !me                "me GLOBAL-ID" (wsc_global_id)
     !conn GID TEXT     wsc_send_conn
     !stubs             "stubs connect=R refresh=R summary=R peers=N resp=R response=R"
     !count             "count N": the open WSC_CLIENT connections
     !connect URL       wsc_connect(URL): "connect R"; once open the new connection sends
                        "ping-self", and when that comes back it broadcasts "client got
                        ping-self" and closes: "client closed"
   Every reply to a send command is "sent N" (N: the call's return value). SIGTERM or
   SIGINT: wsc_shutdown(), wsc_destroy(), exit status 1 if a check failed. */
#define _POSIX_C_SOURCE 200809L
#define WSCLUSTER_IMPLEMENTATION
#include "../wscluster.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api_common.h"

/* the implementation defined the parts each macro implies */
#if defined(WSCLUSTER_NO_CLIENT)
#define BUILT "NO_CLIENT"
#elif defined(WSCLUSTER_NO_CLUSTER)
#define BUILT "NO_CLUSTER"
#elif defined(WSCLUSTER_NO_REDIS)
#define BUILT "NO_REDIS"
#else
#define BUILT "all"
#endif

static wsc_ctx *g_ctx;
static char g_log[4096]; /* what the contexts made by try_create() logged */

static void on_signal(int sig) {
    (void)sig;
    if (g_ctx) wsc_stop(g_ctx);
}

static void keep_log(void *user, int level, const char *line) {
    size_t n = strlen(g_log);
    (void)user;
    (void)level;
    snprintf(g_log + n, sizeof g_log - n, "%s\n", line);
}

/* wsc_create(cfg) with the log kept: 1 if it made a context (destroyed at once) */
static int try_create(wsc_config *cfg) {
    wsc_ctx *c;
    g_log[0] = '\0';
    cfg->log = keep_log;
    c = wsc_create(cfg);
    if (!c) return 0;
    wsc_destroy(c);
    return 1;
}

static void check_log(const char *name, const char *needle) {
    int found = strstr(g_log, needle) != NULL;
    check(name, found, 1);
    if (!found) printf("log was: %s\n", g_log);
}

static void count_entry(void *arg, const wsc_peer_entry *e) {
    (void)e;
    ++*(int *)arg;
}

/* the checks that need no peer */
static void selftest(void) {
    wsc_config cfg;
    wsc_link_msg m;
    wsc_http_resp resp;
    wsc_resp_tok tok[4];
    size_t ntok = 9;
    const char *why;
    const char *argv[1] = {"PING"};
    size_t lens[1] = {4};
    int n = 0;
    wsc_id out = 7;
    /* a FORWARD of "hi" from node "n" to every client: the link format stays in every build */
    static const unsigned char fwd[] = {2, 'F', 1, 'n', 0, 0, 0, 0, 0, 0, 0, 1, 1, 0,
                                        0, 0, 0, 2, 'h', 'i'};
    static const char head[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n";

    check("strerror-notbuilt", strstr(wsc_strerror(WSC_ERR_NOTBUILT), "not built") != NULL, 1);
    check("link-parse-kept", wsc_link_parse(fwd, sizeof fwd, &m, &why), 0);
    check("link-parse-payload", (long)m.payload.len, 2);
    memset(&cfg, 0, sizeof cfg);
    check("create-plain", try_create(&cfg), 1);

    memset(&cfg, 0, sizeof cfg);
    cfg.backplane = "redis://127.0.0.1:6379";
#ifdef WSCLUSTER_NO_REDIS /* every macro leaves Redis out */
    check("resp-parse", (long)wsc_resp_parse((const unsigned char *)"+OK\r\n", 5, 64, tok, 4,
                                             &ntok), WSC_ERR_NOTBUILT);
    check("resp-parse-ntok", (long)ntok, 0);
    check("resp-cmd", (long)wsc_resp_cmd(NULL, 1, argv, lens), 0);
    check("backplane-refused", try_create(&cfg), 0);
    check_log("backplane-refused-log", "WSCLUSTER_NO_REDIS");
#else
    check("resp-parse", (long)wsc_resp_parse((const unsigned char *)"+OK\r\n", 5, 64, tok, 4,
                                             &ntok), 5);
    check("resp-cmd", (long)wsc_resp_cmd(NULL, 1, argv, lens), 14);
    check("backplane-accepted", try_create(&cfg), 1);
    check_log("backplane-accepted-log", "backplane: NO CLUSTER SECRET");
#endif

#ifdef WSCLUSTER_NO_CLUSTER
    check("peers-parse", wsc_peers_parse("127.0.0.1:9", 11, count_entry, &n), WSC_ERR_NOTBUILT);
    check("peers-parse-no-callback", n, 0);
    memset(&cfg, 0, sizeof cfg);
    cfg.cluster = 1;
    check("cluster-refused", try_create(&cfg), 0);
    check_log("cluster-refused-log", "cluster: the cluster is not built in (WSCLUSTER_NO_CLUSTER");
    memset(&cfg, 0, sizeof cfg);
    cfg.peers = "127.0.0.1:9";
    check("peers-refused", try_create(&cfg), 0);
    check_log("peers-refused-log", "peers: the cluster is not built in");
    memset(&cfg, 0, sizeof cfg);
    cfg.peers_file = "/nonexistent/peers.txt";
    check("peers-file-refused", try_create(&cfg), 0);
    check_log("peers-file-refused-log", "peers_file: the cluster is not built in");
    /* the environment is not the program's configuration: a warning, and it runs */
    setenv("WSCLUSTER_PEERS", "127.0.0.1:9", 1);
    memset(&cfg, 0, sizeof cfg);
    check("env-peers-warned", try_create(&cfg), 1);
    check_log("env-peers-warned-log", "WSCLUSTER_PEERS ignored");
    unsetenv("WSCLUSTER_PEERS");
    /* options that only tune a cluster have nothing to act on */
    memset(&cfg, 0, sizeof cfg);
    cfg.secret = "s3cret";
    cfg.heartbeat_ms = 1000;
    check("tuning-accepted", try_create(&cfg), 1);
#else
    check("peers-parse", wsc_peers_parse("127.0.0.1:9", 11, count_entry, &n), 1);
    memset(&cfg, 0, sizeof cfg);
    cfg.peers = "127.0.0.1:9";
    check("peers-accepted", try_create(&cfg), 1);
#endif

#ifdef WSCLUSTER_NO_CLIENT
    check("connect", wsc_connect(NULL, "ws://127.0.0.1:9/", NULL, &out), WSC_ERR_NOTBUILT);
    check("connect-out", (long)out, 0);
    check("parse-response", wsc_http_parse_response(head, sizeof head - 1, &resp),
          WSC_ERR_NOTBUILT);
#else
    check("connect-needs-ctx", wsc_connect(NULL, "ws://127.0.0.1:9/", NULL, &out), WSC_ERR_INVAL);
    check("parse-response", wsc_http_parse_response(head, sizeof head - 1, &resp),
          (long)sizeof head - 1);
#endif
    (void)out;
    (void)resp;
    (void)n;
}

/* ---- serving ---- */

typedef struct post_job { wsc_ctx *ctx; char text[256]; } post_job;

static void *post_thread(void *arg) {
    post_job *j = (post_job *)arg;
    while (wsc_post(j->ctx, NULL, WSC_TEXT, j->text, strlen(j->text)) == WSC_ERR_AGAIN)
        sleep_ms(1);
    free(j);
    return NULL;
}

static void reply(wsc_ctx *ctx, wsc_id id, const char *fmt, long v) {
    char buf[64];
    int k = snprintf(buf, sizeof buf, fmt, v);
    wsc_send(ctx, id, WSC_TEXT, buf, (size_t)k);
}

static void command(wsc_ctx *ctx, wsc_id id, char *cmd) {
    char *arg = strchr(cmd, ' '), *rest;
    char buf[300];
    if (arg) *arg++ = '\0';
    else arg = cmd + strlen(cmd);
    if (strcmp(cmd, "!bcast") == 0) {
        reply(ctx, id, "sent %ld", wsc_broadcast(ctx, NULL, 0, WSC_TEXT, arg, strlen(arg)));
    } else if (strcmp(cmd, "!all") == 0) {
        reply(ctx, id, "sent %ld", wsc_send_all(ctx, WSC_TEXT, arg, strlen(arg)));
    } else if (strcmp(cmd, "!where") == 0 && (rest = strchr(arg, ' ')) != NULL) {
        wsc_kv kv;
        *rest++ = '\0';
        kv.key = "group";
        kv.value = arg;
        reply(ctx, id, "sent %ld", wsc_send_where(ctx, &kv, 1, WSC_TEXT, rest, strlen(rest)));
    } else if (strcmp(cmd, "!conn") == 0 && (rest = strchr(arg, ' ')) != NULL) {
        *rest++ = '\0';
        reply(ctx, id, "sent %ld", wsc_send_conn(ctx, arg, WSC_TEXT, rest, strlen(rest)));
    } else if (strcmp(cmd, "!post") == 0) {
        post_job *j = (post_job *)malloc(sizeof *j);
        pthread_t t;
        if (!j) return;
        j->ctx = ctx;
        snprintf(j->text, sizeof j->text, "%s", arg);
        if (pthread_create(&t, NULL, post_thread, j) != 0) { free(j); return; }
        pthread_join(t, NULL); /* the loop sends it at its next turn */
        reply(ctx, id, "sent %ld", 0);
    } else if (strcmp(cmd, "!me") == 0) {
        char gid[100];
        int k = wsc_global_id(ctx, id, gid, sizeof gid);
        snprintf(buf, sizeof buf, "me %s", k > 0 ? gid : "?");
        wsc_send(ctx, id, WSC_TEXT, buf, strlen(buf));
    } else if (strcmp(cmd, "!stubs") == 0) {
        wsc_summary *s = (wsc_summary *)malloc(sizeof *s);
        wsc_peer_info pi[4];
        wsc_resp_tok tok[4];
        size_t ntok;
        wsc_id out = 0;
        snprintf(buf, sizeof buf, "stubs connect=%d refresh=%d summary=%d peers=%zu resp=%lld",
                 wsc_connect(ctx, "ws://127.0.0.1:1/", NULL, &out), wsc_cluster_refresh(ctx),
                 s ? wsc_summary_get(ctx, -1, s) : -99, wsc_peers(ctx, pi, 4),
                 (long long)wsc_resp_parse((const unsigned char *)":1\r\n", 4, 64, tok, 4, &ntok));
        free(s);
        if (out) wsc_close(ctx, out, 1000, NULL);
        wsc_send(ctx, id, WSC_TEXT, buf, strlen(buf));
    } else if (strcmp(cmd, "!count") == 0) {
        reply(ctx, id, "count %ld", wsc_count(ctx, WSC_CLIENT));
    } else if (strcmp(cmd, "!connect") == 0) {
        wsc_id out = 0;
        reply(ctx, id, "connect %ld", wsc_connect(ctx, arg, NULL, &out));
    } else {
        wsc_send(ctx, id, WSC_TEXT, "unknown command", 15);
    }
}

static void on_event(wsc_ctx *ctx, wsc_id id, int ev, void *data, void *user) {
    wsc_conn_info ci;
    char buf[300];
    (void)user;
    if (wsc_get_conn_info(ctx, id, &ci) < 0) return;
    if (ev == WSC_EV_OPEN && !ci.is_server) { /* ours: !connect */
        wsc_send(ctx, id, WSC_TEXT, "ping-self", 9);
    } else if (ev == WSC_EV_MESSAGE && !ci.is_server) { /* its echo, once */
        wsc_msg *m = (wsc_msg *)data;
        if (m->len != 9 || memcmp(m->data, "ping-self", 9) != 0) return;
        say(ctx, "client got ping-self");
        wsc_close(ctx, id, 1000, NULL);
    } else if (ev == WSC_EV_CLOSE && !ci.is_server) {
        say(ctx, "client closed");
    } else if (ev == WSC_EV_MESSAGE) {
        wsc_msg *m = (wsc_msg *)data;
        if (is_command(m, buf, sizeof buf)) command(ctx, id, buf);
        else wsc_send(ctx, id, m->opcode, m->data, m->len);
    }
}

int main(int argc, char **argv) {
    wsc_config cfg;
    int i;
    setvbuf(stdout, NULL, _IOLBF, 0);
    selftest();
    printf("built %s\n", BUILT);
    printf("checks failures=%d\n", g_failures);
    memset(&cfg, 0, sizeof cfg);
    cfg.on_event = on_event;
    cfg.meta_from_query = 1;
    g_ctx = wsc_create(&cfg);
    if (!g_ctx) return 1;
    for (i = 1; i + 1 < argc; i += 2) {
        int tcp = strcmp(argv[i], "--tcp-listen") == 0, l, port;
        char url[300];
        if (!tcp && strcmp(argv[i], "--listen") != 0) break;
        snprintf(url, sizeof url, "%s://%s", tcp ? "tcp" : "ws", argv[i + 1]);
        if ((l = wsc_listen(g_ctx, url)) < 0 || (port = wsc_listener_port(g_ctx, l)) < 0) {
            fprintf(stderr, "optout: cannot listen on %s\n", url);
            wsc_destroy(g_ctx);
            return 1;
        }
        printf("listening %s://127.0.0.1:%d\n", tcp ? "tcp" : "ws", port);
    }
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    wsc_run(g_ctx);
    wsc_shutdown(g_ctx, 0, 2000);
    wsc_destroy(g_ctx);
    return g_failures ? 1 : 0;
}
