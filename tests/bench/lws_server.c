/* lws_server: the libwebsockets peer of `make bench` (libwebsockets 4.1, Debian
   libwebsockets-dev). Same endpoints as wscluster-node's benchmark paths:
     WS /echo  each message back to its sender (same opcode)
     WS /ws    each message to every /ws client, sender included
   Every message is copied once into a reference-counted buffer (with LWS_PRE headroom)
   and queued on each receiver's own queue; the connection asks for
   lws_callback_on_writable() and writes one message per WRITEABLE callback, as
   libwebsockets documents. A receiver with more than 4 MiB queued is closed (like
   wscluster's max_pending). Text is UTF-8 validated (LWS_SERVER_OPTION_VALIDATE_UTF8).

   usage: lws_server PORT      (0 = any free port)
   prints "listening ws://127.0.0.1:PORT" once ready; SIGINT/SIGTERM stop it. */
#include <libwebsockets.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PENDING (4u * 1024u * 1024u)

typedef struct msg {
    int refs, binary;
    size_t len;
    unsigned char buf[]; /* LWS_PRE + payload */
} msg;

typedef struct pss {
    struct lws *wsi;
    int is_ws, dead;
    struct pss *prev, *next; /* the /ws list */
    msg **q;
    unsigned head, len, cap;
    size_t qbytes;
    unsigned char *rx;
    size_t rxlen, rxcap;
} pss;

static pss *ws_list;
static int ws_count;
static volatile sig_atomic_t interrupted;

static void msg_unref(msg *m) {
    if (--m->refs == 0) free(m);
}

static int q_push(pss *p, msg *m) {
    if (p->dead) return -1;
    if (p->len == p->cap) {
        unsigned nc = p->cap ? p->cap * 2 : 16, i;
        msg **nq = (msg **)malloc(nc * sizeof *nq);
        if (!nq) return -1;
        for (i = 0; i < p->len; i++) nq[i] = p->q[(p->head + i) % p->cap];
        free(p->q);
        p->q = nq;
        p->cap = nc;
        p->head = 0;
    }
    p->q[(p->head + p->len) % p->cap] = m;
    p->len++;
    p->qbytes += m->len;
    m->refs++;
    if (p->qbytes > MAX_PENDING && p->len > 1) { /* slow consumer */
        p->dead = 1;
        lws_set_timeout(p->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
        return -1;
    }
    lws_callback_on_writable(p->wsi);
    return 0;
}

static void q_clear(pss *p) {
    while (p->len) {
        msg_unref(p->q[p->head]);
        p->head = (p->head + 1) % p->cap;
        p->len--;
    }
    free(p->q);
    p->q = NULL;
    p->cap = p->len = p->head = 0;
    p->qbytes = 0;
}

static void deliver(pss *from, const void *data, size_t len, int binary) {
    msg *m = (msg *)malloc(sizeof *m + LWS_PRE + len);
    pss *p;
    if (!m) return;
    m->refs = 1; /* ours until every queue holds it */
    m->binary = binary;
    m->len = len;
    memcpy(m->buf + LWS_PRE, data, len);
    if (!from->is_ws) q_push(from, m);
    else
        for (p = ws_list; p; p = p->next) q_push(p, m);
    msg_unref(m);
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len) {
    pss *p = (pss *)user;
    switch (reason) {
    case LWS_CALLBACK_ESTABLISHED: {
        char uri[256];
        int n = lws_hdr_copy(wsi, uri, sizeof uri, WSI_TOKEN_GET_URI);
        memset(p, 0, sizeof *p);
        p->wsi = wsi;
        if (n > 0 && strncmp(uri, "/ws", 3) == 0 && (uri[3] == '\0' || uri[3] == '?')) {
            p->is_ws = 1;
            p->next = ws_list;
            if (ws_list) ws_list->prev = p;
            ws_list = p;
            ws_count++;
        } else if (n > 0 && strncmp(uri, "/echo", 5) == 0 && (uri[5] == '\0' || uri[5] == '?')) {
            p->is_ws = 0;
        } else {
            return -1; /* unknown path */
        }
        break;
    }
    case LWS_CALLBACK_CLOSED:
        if (p->is_ws) {
            if (p->prev) p->prev->next = p->next;
            else if (ws_list == p) ws_list = p->next;
            if (p->next) p->next->prev = p->prev;
            ws_count--;
        }
        q_clear(p);
        free(p->rx);
        p->rx = NULL;
        break;
    case LWS_CALLBACK_RECEIVE: {
        int first = lws_is_first_fragment(wsi), final = lws_is_final_fragment(wsi);
        int done = final && lws_remaining_packet_payload(wsi) == 0;
        if (first && done && p->rxlen == 0) { /* the common case: no copy to assemble */
            deliver(p, in, len, lws_frame_is_binary(wsi));
            break;
        }
        if (first) p->rxlen = 0; /* a new message */
        if (p->rxlen + len > p->rxcap) {
            size_t nc = p->rxcap ? p->rxcap : 4096;
            unsigned char *nb;
            while (nc < p->rxlen + len) nc *= 2;
            nb = (unsigned char *)realloc(p->rx, nc);
            if (!nb) return -1;
            p->rx = nb;
            p->rxcap = nc;
        }
        memcpy(p->rx + p->rxlen, in, len);
        p->rxlen += len;
        if (done) {
            deliver(p, p->rx, p->rxlen, lws_frame_is_binary(wsi));
            p->rxlen = 0;
        }
        break;
    }
    case LWS_CALLBACK_SERVER_WRITEABLE: {
        msg *m;
        int w;
        if (!p->len) break;
        m = p->q[p->head];
        w = lws_write(wsi, m->buf + LWS_PRE, m->len, m->binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT);
        p->head = (p->head + 1) % p->cap;
        p->len--;
        p->qbytes -= m->len;
        msg_unref(m);
        if (w < 0) return -1;
        if (p->len) lws_callback_on_writable(wsi);
        break;
    }
    default:
        break;
    }
    return 0;
}

static const struct lws_protocols protocols[] = {
    {"bench", callback, sizeof(pss), 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0}
};

static void on_signal(int sig) {
    (void)sig;
    interrupted = 1;
}

int main(int argc, char **argv) {
    struct lws_context_creation_info info;
    struct lws_context *ctx;
    struct lws_vhost *vh;
    int port;
    if (argc != 2) {
        fprintf(stderr, "usage: lws_server PORT\n");
        return 2;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    lws_set_log_level(LLL_ERR, NULL);
    memset(&info, 0, sizeof info);
    info.port = atoi(argv[1]);
    info.iface = "127.0.0.1";
    info.protocols = protocols;
    info.options = LWS_SERVER_OPTION_DISABLE_IPV6 | LWS_SERVER_OPTION_VALIDATE_UTF8;
    info.timeout_secs = 10;
    ctx = lws_create_context(&info);
    if (!ctx) {
        fprintf(stderr, "lws_server: lws_create_context failed\n");
        return 1;
    }
    vh = lws_get_vhost_by_name(ctx, "default");
    port = vh ? lws_get_vhost_listen_port(vh) : info.port;
    printf("listening ws://127.0.0.1:%d\n", port);
    fflush(stdout);
    while (!interrupted)
        if (lws_service(ctx, 0) < 0) break;
    lws_context_destroy(ctx);
    return 0;
}
