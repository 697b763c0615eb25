/* device.c: a small device that speaks the raw TCP framer, as appliances that cannot speak
   WebSocket do. It connects, sends a reading every interval, prints what it receives, and
   reconnects with backoff when the link drops.
     device [--id NAME] [--interval-ms N] [--count N] [tcp://]HOST:PORT
   --count N: stop after N readings (and a second to receive what follows); exit 0. */
#define WSCLUSTER_NO_CLUSTER /* a client of a cluster, not a member: no cluster, no Redis */
#define WSCLUSTER_IMPLEMENTATION
#include "../wscluster.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct device {
    char url[300];
    const char *name;
    long count, sent;
    int interval_ms, backoff_ms, open;
    wsc_id id;
    int64_t stop_at;
} device;

static void dial(wsc_ctx *ctx, device *d) {
    wsc_connect_opts o;
    memset(&o, 0, sizeof o);
    o.cls = WSC_CLIENT;
    if (wsc_connect(ctx, d->url, &o, &d->id) < 0) d->id = 0;
}

static void tick(wsc_ctx *ctx, void *arg) {
    device *d = (device *)arg;
    char line[160];
    int n;
    if (d->count && d->sent >= d->count) {
        if (!d->stop_at) d->stop_at = wsc_now_ms() + 1000;
        return;
    }
    n = snprintf(line, sizeof line, "{\"device\":\"%s\",\"reading\":%ld,\"value\":%d}", d->name,
                 d->sent, (int)(20 + d->sent % 7));
    if (wsc_send(ctx, d->id, WSC_TEXT, line, (size_t)n) == 0) {
        d->sent++;
        printf("sent %s\n", line);
        fflush(stdout);
    }
}

static void redial(wsc_ctx *ctx, void *arg) { dial(ctx, (device *)arg); }

static void on_event(wsc_ctx *ctx, wsc_id id, int ev, void *data, void *user) {
    device *d = (device *)user;
    if (ev == WSC_EV_OPEN) {
        d->open = 1;
        d->backoff_ms = 250;
        printf("connected to %s\n", d->url);
        fflush(stdout);
    } else if (ev == WSC_EV_MESSAGE) {
        wsc_msg *m = (wsc_msg *)data;
        if (m->opcode == WSC_TEXT) printf("recv %.*s\n", (int)m->len, (const char *)m->data);
        else printf("recv [binary %zu bytes]\n", m->len);
        fflush(stdout);
    } else if (id == d->id && (ev == WSC_EV_CLOSE || (ev == WSC_EV_ERROR && !d->open))) {
        /* the link is gone (an ERROR on an open connection is followed by its CLOSE) */
        if (d->stop_at) return; /* we are finishing */
        d->open = 0;
        fprintf(stderr, "device: link lost, retrying in %d ms\n", d->backoff_ms);
        d->id = 0;
        wsc_timer(ctx, d->backoff_ms, 0, redial, d);
        if (d->backoff_ms < 8000) d->backoff_ms *= 2;
    }
}

int main(int argc, char **argv) {
    device d;
    wsc_config cfg;
    wsc_ctx *ctx;
    const char *addr = "127.0.0.1:9081";
    int i;
    memset(&d, 0, sizeof d);
    d.name = "device-1";
    d.interval_ms = 1000;
    d.backoff_ms = 250;
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--id") == 0 && i + 1 < argc) d.name = argv[++i];
        else if (strcmp(argv[i], "--interval-ms") == 0 && i + 1 < argc) d.interval_ms = atoi(argv[++i]);
        else if (strcmp(argv[i], "--count") == 0 && i + 1 < argc) d.count = atol(argv[++i]);
        else if (argv[i][0] != '-') addr = argv[i];
        else {
            fprintf(stderr, "usage: device [--id NAME] [--interval-ms N] [--count N] HOST:PORT\n");
            return 2;
        }
    }
    if (d.interval_ms <= 0) d.interval_ms = 1000;
    snprintf(d.url, sizeof d.url, "%s%s", strncmp(addr, "tcp://", 6) == 0 ? "" : "tcp://", addr);
    memset(&cfg, 0, sizeof cfg);
    cfg.on_event = on_event;
    cfg.user = &d;
    cfg.log_level = WSC_LOG_WARN;
    ctx = wsc_create(&cfg);
    if (!ctx) return 1;
    dial(ctx, &d);
    wsc_timer(ctx, d.interval_ms, 1, tick, &d);
    while (!d.stop_at || wsc_now_ms() < d.stop_at) wsc_poll(ctx, 100);
    if (d.id) {
        wsc_close(ctx, d.id, 1000, "done");
        for (i = 0; i < 20 && wsc_count(ctx, 0) > 0; i++) wsc_poll(ctx, 50);
    }
    wsc_destroy(ctx);
    return 0;
}
