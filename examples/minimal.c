/* minimal.c: the README's embedding example. A chat server in 20 lines: every message a
   client sends reaches every client. Build: cc -std=c99 minimal.c -o minimal. It needs
   no client role and no cluster, so WSCLUSTER_NO_CLIENT leaves them out (COMPILE-TIME
   MACROS in the manual): about 35 KB of code instead of 63 KB at -Os. */
#define WSCLUSTER_NO_CLIENT /* a server alone: no client role, no cluster */
#define WSCLUSTER_IMPLEMENTATION
#include "../wscluster.h"

static void on_event(wsc_ctx *ctx, wsc_id id, int ev, void *data, void *user) {
    (void)id; (void)user;
    if (ev == WSC_EV_MESSAGE) {
        wsc_msg *m = (wsc_msg *)data;
        wsc_broadcast(ctx, NULL, 0, m->opcode, m->data, m->len); /* to every client */
    }
}

int main(void) {
    wsc_config cfg = {0};
    wsc_ctx *ctx;
    cfg.on_event = on_event;
    ctx = wsc_create(&cfg);
    if (!ctx || wsc_listen(ctx, "ws://127.0.0.1:9001") < 0) return 1;
    return wsc_run(ctx); /* serves until wsc_stop() */
}
