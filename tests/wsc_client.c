/* wsc-client: drives wscluster.h's client role for the interop tests.
   wsc-client [--count N] [--size BYTES] [--binary] [--subprotocol P] [--ca FILE] [--insecure] URL
   (wss:// and tcps:// in the TLS build, wsc-client-tls: --ca verifies the server)
   Sends N messages one at a time, expects each echoed back identical, closes with 1000,
   prints "ok N". Exit 1 on any failure, 2 when the handshake is refused. */
#define WSCLUSTER_IMPLEMENTATION
#include "../wscluster.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct state {
    long count, size, sent, got;
    int binary, done, rc, opened;
    unsigned char *buf;
} state;

static void fill(state *s, long seq) {
    long i;
    for (i = 0; i < s->size; i++)
        s->buf[i] = (unsigned char)(s->binary ? (i * 7 + seq) & 0xff : 97 + (i + seq) % 26);
}

static void send_next(wsc_ctx *ctx, wsc_id id, state *s) {
    int r;
    fill(s, s->sent);
    r = wsc_send(ctx, id, s->binary ? WSC_BINARY : WSC_TEXT, s->buf, (size_t)s->size);
    if (r < 0) {
        fprintf(stderr, "wsc-client: send: %s\n", wsc_strerror(r));
        s->rc = 1;
        s->done = 1;
    }
    s->sent++;
}

static void on_event(wsc_ctx *ctx, wsc_id id, int ev, void *data, void *user) {
    state *s = (state *)user;
    if (ev == WSC_EV_OPEN) {
        wsc_conn_info info;
        s->opened = 1;
        wsc_get_conn_info(ctx, id, &info);
        if (info.subprotocol[0]) fprintf(stderr, "wsc-client: subprotocol %s\n", info.subprotocol);
        if (s->count > 0) send_next(ctx, id, s);
        else wsc_close(ctx, id, 1000, "bye");
    } else if (ev == WSC_EV_MESSAGE) {
        wsc_msg *m = (wsc_msg *)data;
        fill(s, s->got);
        if (m->opcode != (s->binary ? WSC_BINARY : WSC_TEXT) || m->len != (size_t)s->size ||
            (m->len && memcmp(m->data, s->buf, m->len) != 0)) {
            fprintf(stderr, "wsc-client: echo %ld differs (opcode %d, %zu bytes)\n", s->got,
                    m->opcode, m->len);
            s->rc = 1;
            wsc_close(ctx, id, 1000, "mismatch");
            return;
        }
        s->got++;
        if (s->got < s->count) send_next(ctx, id, s);
        else wsc_close(ctx, id, 1000, "bye");
    } else if (ev == WSC_EV_CLOSE) {
        wsc_close_info *ci = (wsc_close_info *)data;
        if (ci->code != 1000 || s->got != s->count) {
            fprintf(stderr, "wsc-client: closed with %d (%.*s) after %ld of %ld echoes\n",
                    ci->code, (int)ci->reason.len, ci->reason.ptr, s->got, s->count);
            if (!s->rc) s->rc = 1;
        }
        s->done = 1;
    } else if (ev == WSC_EV_ERROR) {
        wsc_error_info *e = (wsc_error_info *)data;
        fprintf(stderr, "wsc-client: %s: %s\n", wsc_strerror(e->err), e->msg);
        if (!s->rc) s->rc = e->err == WSC_ERR_HANDSHAKE && strstr(e->msg, "refused") ? 2 : 1;
        if (!s->opened) s->done = 1; /* before OPEN an error is final; after it, CLOSE follows */
    }
}

int main(int argc, char **argv) {
    state s;
    wsc_config cfg;
    wsc_connect_opts o;
    wsc_ctx *ctx;
    wsc_id id;
    const char *url = NULL, *ca = NULL;
    int i, r, insecure = 0;
    memset(&s, 0, sizeof s);
    memset(&o, 0, sizeof o);
    s.count = 1;
    s.size = 16;
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--count") == 0 && i + 1 < argc) s.count = atol(argv[++i]);
        else if (strcmp(argv[i], "--size") == 0 && i + 1 < argc) s.size = atol(argv[++i]);
        else if (strcmp(argv[i], "--binary") == 0) s.binary = 1;
        else if (strcmp(argv[i], "--subprotocol") == 0 && i + 1 < argc) o.subprotocol = argv[++i];
        else if (strcmp(argv[i], "--ca") == 0 && i + 1 < argc) ca = argv[++i];
        else if (strcmp(argv[i], "--insecure") == 0) insecure = 1;
        else if (argv[i][0] != '-' && !url) url = argv[i];
        else { fprintf(stderr, "usage: wsc-client [--count N] [--size B] [--binary] "
                               "[--subprotocol P] [--ca FILE] [--insecure] URL\n"); return 1; }
    }
    if (!url || s.count < 0 || s.size < 0) return 1;
    s.buf = (unsigned char *)malloc((size_t)s.size + 1);
    memset(&cfg, 0, sizeof cfg);
    cfg.on_event = on_event;
    cfg.user = &s;
    cfg.max_message = (uint64_t)s.size + (1u << 20);
    cfg.max_pending = (size_t)s.size + (1u << 20);
    cfg.log_level = WSC_LOG_WARN;
    cfg.tls_ca = ca;              /* wss:// and tcps:// (the TLS build) */
    cfg.tls_insecure = insecure;
    o.cls = WSC_CLIENT;
    ctx = wsc_create(&cfg);
    if (!ctx || !s.buf) return 1;
    r = wsc_connect(ctx, url, &o, &id);
    if (r < 0) { fprintf(stderr, "wsc-client: connect %s: %s\n", url, wsc_strerror(r)); return 1; }
    while (!s.done) if (wsc_poll(ctx, 1000) < 0) break;
    wsc_destroy(ctx);
    free(s.buf);
    if (s.rc == 0) printf("ok %ld\n", s.got);
    return s.rc;
}
