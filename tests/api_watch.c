/* api_watch.c: a test server for wsc_watch/wsc_unwatch, wsc_reject_headers, close info read
   during WSC_EV_CLOSE, wsc_post + wsc_stats.posted and wsc_shutdown (driven by
   tests/test_api.py).
     api_watch
   Listens on ws://127.0.0.1:0 and prints "listening PORT". Upgrades need ?token=secret
   (else 401 with WWW-Authenticate through wsc_reject_headers); ?user= names the client.
   Text messages starting with '!' are commands, everything else is echoed:
     !pipe N    a thread writes N bytes into a pipe watched with wsc_watch: "pipe 1".."pipe N"
     !ticks N   a 50 ms periodic timerfd is watched: "tick 1".."tick N", then the callback
                unwatches it (the timerfd stays armed) and says "ticks done"
     !out N     the write end of a second pipe is watched for POLLOUT: each call writes a
                byte, whose reading end broadcasts "out i"; after N bytes the same fd is
                watched again with POLLIN only, so it must go quiet: "out done"
     !post N    a thread wsc_post()s "post 1".."post N" to every client
     !stats     "stats posted=P opens=O closes=C"
     !close     the server closes this connection with 4001
     !shutdown  checks that wsc_shutdown() is refused inside the handler, then wsc_stop()
   SIGTERM/SIGINT (through a self-pipe, also watched) or !shutdown end wsc_run(); then
   wsc_shutdown(ctx, 0, 3000) closes everyone (1001): a line "close user=U cls=C ud=ok
   code=K path=P" is printed for every WSC_EV_CLOSE, then "shutdown returned N". Lines
   "check NAME ok|FAIL ..." report API checks; any FAIL makes the exit status 1. */
#define _POSIX_C_SOURCE 200809L
#define WSCLUSTER_IMPLEMENTATION
#include "../wscluster.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "api_common.h"

#ifndef WSC_MAX_WATCH
#define WSC_MAX_WATCH 16
#endif
#define UD_MAGIC 0x5753434cu
#define MAX_UD 256

typedef struct conn_ud { unsigned magic; wsc_id id; } conn_ud;

typedef struct app {
    wsc_ctx *ctx;
    /* a thread writes into pipe_w; pipe_r is watched */
    int pipe_r, pipe_w;
    long pipe_n, pipe_count;
    pthread_t pipe_thread;
    int pipe_thread_on;
    /* POLLOUT-driven writer on out_w; out_r is watched for reading */
    int out_r, out_w;
    long out_target, out_written, out_count;
    /* the periodic timerfd */
    int tfd, tick_active;
    long ticks, tick_target;
    /* the self-pipe of the signal handler */
    int sig_r, sig_w;
    /* wsc_post from a thread */
    long post_n;
    pthread_t post_thread;
    int post_thread_on;
    /* user data given at upgrade, freed at close */
    conn_ud *uds[MAX_UD];
    long live_ud, opens, closes;
} app;

static app g_app;

static int nonblocking_pipe(int fds[2]) {
    if (pipe(fds) < 0) return -1;
    if (fcntl(fds[0], F_SETFL, O_NONBLOCK) < 0 || fcntl(fds[1], F_SETFL, O_NONBLOCK) < 0)
        return -1;
    return 0;
}

/* threads must not take SIGTERM: the main thread's self-pipe handles it */
static int start_thread(pthread_t *t, void *(*fn)(void *), void *arg) {
    sigset_t all, old;
    int rc;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    rc = pthread_create(t, NULL, fn, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

/* ---- the pipe written by a thread ---- */

static void *pipe_writer(void *arg) {
    app *a = (app *)arg;
    long i;
    for (i = 1; i <= a->pipe_n; i++) {
        unsigned char b = (unsigned char)(i & 0xff);
        for (;;) {
            ssize_t w = write(a->pipe_w, &b, 1);
            if (w == 1) break;
            if (w < 0 && errno != EINTR && errno != EAGAIN) return NULL;
            sleep_ms(1);
        }
        sleep_ms(5); /* separate wake-ups, not one burst */
    }
    return NULL;
}

static void on_pipe(wsc_ctx *ctx, int fd, int revents, void *user) {
    app *a = (app *)user;
    unsigned char buf[64];
    ssize_t n, i;
    if (!(revents & POLLIN)) {
        printf("check pipe-revents FAIL got %d want POLLIN\n", revents);
        fflush(stdout);
        g_failures++;
    }
    n = read(fd, buf, sizeof buf);
    for (i = 0; i < n; i++) {
        a->pipe_count++;
        if (buf[i] != (unsigned char)(a->pipe_count & 0xff)) {
            printf("check pipe-bytes FAIL byte %d at %ld\n", buf[i], a->pipe_count);
            fflush(stdout);
            g_failures++;
        }
        say(ctx, "pipe %ld", a->pipe_count);
    }
}

/* the first registration of pipe_r: replaced at startup, must never run */
static void on_wrong(wsc_ctx *ctx, int fd, int revents, void *user) {
    (void)user;
    printf("check watch-replace FAIL the replaced callback ran (fd %d, revents %d)\n", fd,
           revents);
    fflush(stdout);
    g_failures++;
    say(ctx, "wrong callback");
    wsc_unwatch(ctx, fd);
}

/* ---- the POLLOUT writer whose events change at runtime ---- */

static void on_out_writable(wsc_ctx *ctx, int fd, int revents, void *user) {
    app *a = (app *)user;
    unsigned char b = 'x';
    if (!(revents & POLLOUT)) return;
    if (a->out_written >= a->out_target + 50) { /* the switch to POLLIN did not take */
        printf("check out-events FAIL still called for POLLOUT after %ld bytes\n",
               a->out_written);
        fflush(stdout);
        g_failures++;
        wsc_unwatch(ctx, fd);
        return;
    }
    if (write(fd, &b, 1) != 1) return;
    a->out_written++;
    if (a->out_written == a->out_target)
        check("out-rewatch", wsc_watch(ctx, fd, POLLIN, on_out_writable, a), 0);
}

static void on_out_read(wsc_ctx *ctx, int fd, int revents, void *user) {
    app *a = (app *)user;
    unsigned char buf[64];
    ssize_t n, i;
    (void)revents;
    n = read(fd, buf, sizeof buf);
    for (i = 0; i < n; i++) {
        a->out_count++;
        say(ctx, "out %ld", a->out_count);
        if (a->out_count == a->out_target) say(ctx, "out done");
    }
}

/* ---- the timerfd ---- */

static void on_tick(wsc_ctx *ctx, int fd, int revents, void *user) {
    app *a = (app *)user;
    uint64_t exp = 0;
    (void)revents;
    if (!a->tick_active) { /* unwatched from its own callback: must never run again */
        printf("check tick-after-unwatch FAIL\n");
        fflush(stdout);
        g_failures++;
        say(ctx, "tick after unwatch");
        wsc_unwatch(ctx, fd);
        return;
    }
    if (read(fd, &exp, sizeof exp) != (ssize_t)sizeof exp) return;
    while (exp-- > 0 && a->ticks < a->tick_target) {
        a->ticks++;
        say(ctx, "tick %ld", a->ticks);
    }
    if (a->ticks == a->tick_target) {
        a->tick_active = 0;
        /* the timerfd keeps firing: only the unwatch keeps it quiet */
        check("unwatch-in-callback", wsc_unwatch(ctx, fd), 0);
        check("unwatch-twice", wsc_unwatch(ctx, fd), WSC_ERR_STALE);
        say(ctx, "ticks done");
    }
}

static void start_ticks(app *a, long n) {
    struct itimerspec its;
    memset(&its, 0, sizeof its);
    its.it_interval.tv_nsec = 50000000L;
    its.it_value.tv_nsec = 50000000L;
    a->ticks = 0;
    a->tick_target = n;
    a->tick_active = 1;
    if (timerfd_settime(a->tfd, 0, &its, NULL) < 0) {
        perror("timerfd_settime");
        g_failures++;
        return;
    }
    check("watch-timerfd", wsc_watch(a->ctx, a->tfd, POLLIN, on_tick, a), 0);
}

/* ---- signals through a watched self-pipe ---- */

static void on_signal(int sig) {
    int saved = errno;
    unsigned char b = (unsigned char)sig;
    if (write(g_app.sig_w, &b, 1) < 0) {
        /* full: a wake-up is pending anyway */
    }
    errno = saved;
}

static void on_sig_pipe(wsc_ctx *ctx, int fd, int revents, void *user) {
    unsigned char b[16];
    (void)revents;
    (void)user;
    if (read(fd, b, sizeof b) > 0) {
        printf("signal %d\n", b[0]);
        fflush(stdout);
        wsc_stop(ctx);
    }
}

/* ---- wsc_post from a thread ---- */

static void *poster(void *arg) {
    app *a = (app *)arg;
    long i;
    for (i = 1; i <= a->post_n; i++) {
        char text[64];
        int n = snprintf(text, sizeof text, "post %ld", i);
        int rc;
        while ((rc = wsc_post(a->ctx, NULL, WSC_TEXT, text, (size_t)n)) == WSC_ERR_AGAIN)
            sleep_ms(1);
        if (rc != 0) {
            fprintf(stderr, "api_watch: wsc_post: %s\n", wsc_strerror(rc));
            return NULL;
        }
    }
    return NULL;
}

static void join_threads(app *a) {
    if (a->pipe_thread_on) pthread_join(a->pipe_thread, NULL);
    if (a->post_thread_on) pthread_join(a->post_thread, NULL);
    a->pipe_thread_on = a->post_thread_on = 0;
}

/* ---- events ---- */

static void command(app *a, wsc_id id, const char *cmd) {
    wsc_ctx *ctx = a->ctx;
    long n = 0;
    const char *sp = strchr(cmd, ' ');
    if (sp) n = strtol(sp + 1, NULL, 10);
    if (strncmp(cmd, "!pipe ", 6) == 0) {
        if (a->pipe_thread_on) pthread_join(a->pipe_thread, NULL);
        a->pipe_n = n;
        a->pipe_count = 0;
        a->pipe_thread_on = start_thread(&a->pipe_thread, pipe_writer, a) == 0;
    } else if (strncmp(cmd, "!ticks ", 7) == 0) {
        start_ticks(a, n);
    } else if (strncmp(cmd, "!out ", 5) == 0) {
        a->out_target = n;
        a->out_written = 0;
        a->out_count = 0;
        /* the same fd again: now for POLLOUT */
        check("out-watch", wsc_watch(ctx, a->out_w, POLLOUT, on_out_writable, a), 0);
    } else if (strncmp(cmd, "!post ", 6) == 0) {
        if (a->post_thread_on) pthread_join(a->post_thread, NULL);
        a->post_n = n;
        a->post_thread_on = start_thread(&a->post_thread, poster, a) == 0;
    } else if (strcmp(cmd, "!stats") == 0) {
        wsc_stats st;
        char text[160];
        int len;
        wsc_get_stats(ctx, &st);
        len = snprintf(text, sizeof text, "stats posted=%llu opens=%ld closes=%ld",
                       (unsigned long long)st.posted, a->opens, a->closes);
        wsc_send(ctx, id, WSC_TEXT, text, (size_t)len);
    } else if (strcmp(cmd, "!close") == 0) {
        wsc_close(ctx, id, 4001, "closed by the server");
    } else if (strcmp(cmd, "!shutdown") == 0) {
        check("shutdown-in-handler", wsc_shutdown(ctx, 0, 3000), WSC_ERR_STATE);
        wsc_stop(ctx);
    } else {
        printf("unknown command %s\n", cmd);
        fflush(stdout);
    }
}

static void on_event(wsc_ctx *ctx, wsc_id id, int ev, void *data, void *user) {
    app *a = (app *)user;
    if (ev == WSC_EV_UPGRADE) {
        wsc_http_req *req = (wsc_http_req *)data;
        char token[64];
        conn_ud *ud;
        int i;
        if (wsc_query_get(req->query, "token", token, sizeof token) < 0 ||
            strcmp(token, "secret") != 0) {
            int rc = wsc_reject_headers(ctx, id, 401,
                                        "WWW-Authenticate: Bearer realm=\"test\"\r\n",
                                        "token required\n");
            printf("rejected rc=%d\n", rc);
            fflush(stdout);
            return;
        }
        ud = (conn_ud *)calloc(1, sizeof *ud);
        if (!ud) return;
        ud->magic = UD_MAGIC;
        ud->id = id;
        for (i = 0; i < MAX_UD && a->uds[i]; i++) {
        }
        if (i == MAX_UD) {
            free(ud);
            wsc_reject(ctx, id, 503, NULL);
            return;
        }
        a->uds[i] = ud;
        a->live_ud++;
        check("set-userdata", wsc_set_userdata(ctx, id, ud), 0);
    } else if (ev == WSC_EV_OPEN) {
        const char *u = wsc_get_meta(ctx, id, "user");
        a->opens++;
        printf("open user=%s\n", u ? u : "(null)");
        fflush(stdout);
    } else if (ev == WSC_EV_MESSAGE) {
        wsc_msg *m = (wsc_msg *)data;
        char cmd[100];
        if (is_command(m, cmd, sizeof cmd)) command(a, id, cmd);
        else wsc_send(ctx, id, m->opcode, m->data, m->len); /* the echo */
    } else if (ev == WSC_EV_CLOSE) {
        wsc_close_info *ci = (wsc_close_info *)data;
        wsc_conn_info info;
        const char *u = wsc_get_meta(ctx, id, "user");
        conn_ud *ud = (conn_ud *)wsc_get_userdata(ctx, id);
        int irc, i, ok = 0;
        memset(&info, 0, sizeof info);
        irc = wsc_get_conn_info(ctx, id, &info);
        for (i = 0; i < MAX_UD; i++) {
            if (a->uds[i] && a->uds[i] == ud) {
                ok = ud->magic == UD_MAGIC && ud->id == id;
                a->uds[i] = NULL;
                a->live_ud--;
                free(ud);
                break;
            }
        }
        a->closes++;
        printf("close user=%s cls=%d ud=%s code=%d path=%s\n", u ? u : "(null)",
               irc == 0 ? info.cls : irc, ok ? "ok" : (ud ? "bad" : "null"), ci->code,
               irc == 0 && info.path ? info.path : "(null)");
        fflush(stdout);
    } else if (ev == WSC_EV_ERROR) {
        wsc_error_info *e = (wsc_error_info *)data;
        printf("error %s: %s\n", wsc_strerror(e->err), e->msg ? e->msg : "");
        fflush(stdout);
    }
}

/* ---- checks of argument handling, before any client ---- */

static void selftest(app *a) {
    wsc_ctx *ctx = a->ctx;
    int fds[WSC_MAX_WATCH + 1][2], i, ok = 1;
    check("watch-bad-fd", wsc_watch(ctx, -1, POLLIN, on_wrong, a), WSC_ERR_INVAL);
    check("unwatch-unknown", wsc_unwatch(ctx, a->pipe_w), WSC_ERR_STALE);
    check("unwatch-bad-fd", wsc_unwatch(ctx, -1), WSC_ERR_STALE);
    /* WSC_MAX_WATCH descriptors fit, one more does not; replacing one needs no slot */
    for (i = 0; i <= WSC_MAX_WATCH; i++) {
        if (nonblocking_pipe(fds[i]) < 0) {
            perror("pipe");
            exit(1);
        }
    }
    for (i = 0; i < WSC_MAX_WATCH; i++)
        if (wsc_watch(ctx, fds[i][0], POLLIN, on_wrong, a) != 0) ok = 0;
    check("watch-up-to-limit", ok, 1);
    check("watch-over-limit", wsc_watch(ctx, fds[WSC_MAX_WATCH][0], POLLIN, on_wrong, a),
          WSC_ERR_LIMIT);
    check("watch-replace-at-limit", wsc_watch(ctx, fds[0][0], POLLOUT, on_wrong, a), 0);
    ok = 1;
    for (i = 0; i < WSC_MAX_WATCH; i++)
        if (wsc_unwatch(ctx, fds[i][0]) != 0) ok = 0;
    check("unwatch-all", ok, 1);
    check("unwatch-again", wsc_unwatch(ctx, fds[3][0]), WSC_ERR_STALE);
    for (i = 0; i <= WSC_MAX_WATCH; i++) {
        close(fds[i][0]);
        close(fds[i][1]);
    }
#ifdef WSCLUSTER_EPOLL
    check("loop-fd", wsc_loop_fd(ctx) >= 0, 1);
#else
    check("loop-fd", wsc_loop_fd(ctx), -1);
#endif
}

int main(void) {
    app *a = &g_app;
    wsc_config cfg;
    struct sigaction sa;
    int fds[2], l, rc, n, i;
    memset(&cfg, 0, sizeof cfg);
    cfg.on_event = on_event;
    cfg.user = a;
    cfg.meta_from_query = 1; /* ?user= tags the connection (read back in CLOSE) */
    cfg.log_level = WSC_LOG_WARN;
    cfg.ping_interval_ms = -1; /* no pings in the tests' message sequences */
    a->ctx = wsc_create(&cfg);
    if (!a->ctx) return 1;
    if (nonblocking_pipe(fds) < 0) return 1;
    a->pipe_r = fds[0];
    a->pipe_w = fds[1];
    if (nonblocking_pipe(fds) < 0) return 1;
    a->out_r = fds[0];
    a->out_w = fds[1];
    if (nonblocking_pipe(fds) < 0) return 1;
    a->sig_r = fds[0];
    a->sig_w = fds[1];
    a->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
    if (a->tfd < 0) {
        perror("timerfd_create");
        return 1;
    }
    selftest(a);
    /* registered for POLLOUT with the wrong callback, then replaced: POLLIN, on_pipe */
    check("watch-first", wsc_watch(a->ctx, a->pipe_r, POLLOUT, on_wrong, NULL), 0);
    check("watch-replace", wsc_watch(a->ctx, a->pipe_r, POLLIN, on_pipe, a), 0);
    check("watch-out-read", wsc_watch(a->ctx, a->out_r, POLLIN, on_out_read, a), 0);
    check("watch-signal-pipe", wsc_watch(a->ctx, a->sig_r, POLLIN, on_sig_pipe, a), 0);

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    if ((l = wsc_listen(a->ctx, "ws://127.0.0.1:0")) < 0) {
        fprintf(stderr, "api_watch: listen: %s\n", wsc_strerror(l));
        return 1;
    }
    printf("listening %d\n", wsc_listener_port(a->ctx, l));
    fflush(stdout);

    rc = wsc_run(a->ctx);
    printf("run returned %d\n", rc);
    fflush(stdout);
    join_threads(a);
    /* the descriptors are ours: unwatch before the end (out_w only if still watched) */
    wsc_unwatch(a->ctx, a->out_w);
    if (a->tick_active) wsc_unwatch(a->ctx, a->tfd);
    check("unwatch-pipe", wsc_unwatch(a->ctx, a->pipe_r), 0);
    check("unwatch-out-read", wsc_unwatch(a->ctx, a->out_r), 0);
    check("unwatch-signal-pipe", wsc_unwatch(a->ctx, a->sig_r), 0);

    n = wsc_shutdown(a->ctx, 0, 3000);
    printf("shutdown returned %d\n", n);
    printf("live-ud %ld\n", a->live_ud);
    fflush(stdout);
    wsc_destroy(a->ctx);
    for (i = 0; i < MAX_UD; i++) free(a->uds[i]);
    close(a->pipe_r);
    close(a->pipe_w);
    close(a->out_r);
    close(a->out_w);
    close(a->sig_r);
    close(a->sig_w);
    close(a->tfd);
    printf("exit failures=%d\n", g_failures);
    fflush(stdout);
    return g_failures ? 1 : 0;
}
