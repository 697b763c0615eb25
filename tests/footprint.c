/* footprint.c: what a connection costs, measured (make footprint runs it on every target).
   A counting allocator stands behind WSC_MALLOC & co: the bytes the library asked for (the
   allocator's own overhead not included). Prints, one "name value" a line:
     conn_struct   sizeof the internal connection struct
     idle_ws       heap bytes one open, idle WebSocket client holds (struct included)
     idle_tcp      the same for a raw TCP framer client
     slot_bytes    the connection table's bytes per slot (every slot, used or not)
     slots         slots in a context of the default max_conns (its links' room included)
     ctx_bytes     heap of a fresh context, tables and shared buffers, before any listener
   Connections are made over loopback from this process, in batches of N, and the figures
   are the batch's growth divided by N. */
/* the header sets the POSIX feature macros: it comes before the system headers (stddef.h
   is the compiler's own) */
#include <stddef.h>
static void *fp_malloc(size_t n);
static void *fp_realloc(void *p, size_t n);
static void fp_free(void *p);
#define WSC_MALLOC(sz, u) ((void)(u), fp_malloc(sz))
#define WSC_REALLOC(p, sz, u) ((void)(u), fp_realloc((p), (sz)))
#define WSC_FREE(p, u) ((void)(u), fp_free(p))
#define WSCLUSTER_IMPLEMENTATION
#include "../wscluster.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static size_t g_live; /* bytes handed out and not yet freed */
typedef union fp_head { size_t n; long double ld; void *p; long long ll; } fp_head;
static void *fp_malloc(size_t n) {
    fp_head *h = (fp_head *)malloc(sizeof *h + n);
    if (!h) return NULL;
    h->n = n;
    g_live += n;
    return h + 1;
}
static void fp_free(void *p) {
    fp_head *h;
    if (!p) return;
    h = (fp_head *)p - 1;
    g_live -= h->n;
    free(h);
}
static void *fp_realloc(void *p, size_t n) {
    fp_head *h = p ? (fp_head *)p - 1 : NULL, *r;
    size_t old = h ? h->n : 0;
    r = (fp_head *)realloc(h, sizeof *r + n);
    if (!r) return NULL;
    r->n = n;
    g_live = g_live - old + n;
    return r + 1;
}

#define N 64

static int dial(int port) {
    struct sockaddr_in a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        perror("footprint: connect");
        exit(1);
    }
    return fd;
}

/* pump the loop until `want` client connections are open (then a little more, so that
   what the handshake held is released) */
static void settle(wsc_ctx *ctx, int want) {
    int i;
    for (i = 0; i < 2000 && wsc_count(ctx, WSC_CLIENT) != want; i++) wsc_poll(ctx, 10);
    for (i = 0; i < 5; i++) wsc_poll(ctx, 10);
    if (wsc_count(ctx, WSC_CLIENT) != want) {
        fprintf(stderr, "footprint: %d connections open, expected %d\n",
                wsc_count(ctx, WSC_CLIENT), want);
        exit(1);
    }
}

/* heap growth per connection of a batch of N, then closed again */
static size_t batch(wsc_ctx *ctx, int port, int ws) {
    static const char req[] = "GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                              "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                              "Sec-WebSocket-Version: 13\r\n\r\n";
    int fds[N], i;
    size_t before = g_live, after;
    for (i = 0; i < N; i++) {
        fds[i] = dial(port);
        if (ws && write(fds[i], req, sizeof req - 1) != (ssize_t)(sizeof req - 1)) {
            perror("footprint: write");
            exit(1);
        }
    }
    settle(ctx, N);
    after = g_live;
    for (i = 0; i < N; i++) close(fds[i]);
    settle(ctx, 0);
    return (after - before + N / 2) / N;
}

static void on_event(wsc_ctx *ctx, wsc_id id, int ev, void *data, void *user) {
    (void)ctx, (void)id, (void)ev, (void)data, (void)user;
}

int main(void) {
    wsc_config cfg;
    wsc_ctx *ctx;
    size_t fresh, ws, tcp;
    int lw, lt;
    memset(&cfg, 0, sizeof cfg);
    cfg.on_event = on_event;
    cfg.log_level = WSC_LOG_ERROR;
    ctx = wsc_create(&cfg);
    if (!ctx) return 1;
    fresh = g_live;
    lw = wsc_listen(ctx, "ws://127.0.0.1:0");
    lt = wsc_listen(ctx, "tcp://127.0.0.1:0");
    if (lw < 0 || lt < 0) return 1;
    /* a first batch of each grows what is shared (poll arrays, buffer pools): not counted */
    batch(ctx, wsc_listener_port(ctx, lw), 1);
    batch(ctx, wsc_listener_port(ctx, lt), 0);
    ws = batch(ctx, wsc_listener_port(ctx, lw), 1);
    tcp = batch(ctx, wsc_listener_port(ctx, lt), 0);
    printf("conn_struct %zu\nidle_ws %zu\nidle_tcp %zu\nslot_bytes %zu\nslots %u\n"
           "ctx_bytes %zu\n",
           sizeof(wsc__conn), ws, tcp,
           sizeof *ctx->io.slots + sizeof *ctx->io.gens + sizeof *ctx->io.freelist +
               sizeof *ctx->io.dirty,
           (unsigned)ctx->io.nslots, fresh);
    wsc_destroy(ctx);
    return 0;
}
