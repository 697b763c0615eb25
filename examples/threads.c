/* threads.c: worker threads posting cluster-wide sends through wsc_post(), the one
   thread-safe entry point; the loop thread does all the I/O.
     threads [--listen HOST:PORT] [--workers N] [--messages M] [--wait-clients K]
   It serves WebSocket clients on --listen (any path), joins the cluster when
   WSCLUSTER_PEERS is set, waits until K clients are connected, then N workers each post M
   text messages "worker W message I" to every client of the cluster. It exits once every
   post has been handed to the loop and flushed, printing "posted N*M". */
#define _POSIX_C_SOURCE 200809L
#define WSCLUSTER_IMPLEMENTATION
#include "../wscluster.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct worker { pthread_t t; wsc_ctx *ctx; int n, messages; long posted; } worker;

static void *work(void *arg) {
    worker *w = (worker *)arg;
    int i;
    for (i = 0; i < w->messages; i++) {
        char text[64];
        int n = snprintf(text, sizeof text, "worker %d message %d", w->n, i);
        /* WSC_ERR_AGAIN: the wake-up pipe is full for a moment; try again */
        while (wsc_post(w->ctx, NULL, WSC_TEXT, text, (size_t)n) == WSC_ERR_AGAIN) {
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
        }
        w->posted++;
    }
    return NULL;
}

int main(int argc, char **argv) {
    const char *listen_at = "127.0.0.1:8090";
    int workers = 4, messages = 100, wait_clients = 0, i, l;
    char url[300];
    wsc_config cfg;
    wsc_ctx *ctx;
    worker *ws;
    long total = 0;
    int64_t until;
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc) listen_at = argv[++i];
        else if (strcmp(argv[i], "--workers") == 0 && i + 1 < argc) workers = atoi(argv[++i]);
        else if (strcmp(argv[i], "--messages") == 0 && i + 1 < argc) messages = atoi(argv[++i]);
        else if (strcmp(argv[i], "--wait-clients") == 0 && i + 1 < argc) wait_clients = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: threads [--listen HOST:PORT] [--workers N] [--messages M] "
                            "[--wait-clients K]\n");
            return 2;
        }
    }
    if (workers < 1 || workers > 64 || messages < 0) return 2;
    memset(&cfg, 0, sizeof cfg);
    cfg.log_level = WSC_LOG_WARN;
    ctx = wsc_create(&cfg);
    snprintf(url, sizeof url, "ws://%s", listen_at);
    if (!ctx || (l = wsc_listen(ctx, url)) < 0) return 1;
    printf("listening ws://%.*s:%d\n", (int)(strrchr(listen_at, ':') - listen_at), listen_at,
           wsc_listener_port(ctx, l));
    fflush(stdout);
    while (wsc_count(ctx, WSC_CLIENT) < wait_clients) wsc_poll(ctx, 100);
    ws = (worker *)calloc((size_t)workers, sizeof *ws);
    if (!ws) return 1;
    for (i = 0; i < workers; i++) {
        ws[i].ctx = ctx;
        ws[i].n = i;
        ws[i].messages = messages;
        pthread_create(&ws[i].t, NULL, work, &ws[i]);
    }
    /* the loop keeps running while the workers post */
    for (;;) {
        wsc_stats st;
        wsc_poll(ctx, 10);
        wsc_get_stats(ctx, &st);
        if (st.msgs_out >= (uint64_t)workers * (uint64_t)messages * (uint64_t)wait_clients) break;
        if (wait_clients == 0) break;
    }
    for (i = 0; i < workers; i++) {
        pthread_join(ws[i].t, NULL);
        total += ws[i].posted;
    }
    until = wsc_now_ms() + 500; /* drain what the last posts queued */
    while (wsc_now_ms() < until) wsc_poll(ctx, 50);
    printf("posted %ld\n", total);
    wsc_close_all(ctx, 1000, "done");
    until = wsc_now_ms() + 2000;
    while (wsc_count(ctx, 0) > 0 && wsc_now_ms() < until) wsc_poll(ctx, 50);
    wsc_destroy(ctx);
    free(ws);
    return 0;
}
