/* api_extloop.c: wscluster.h inside a program's OWN poll() loop (driven by tests/test_api.py).
     api_extloop [--ping-ms N]
   It never calls wsc_run() and calls wsc_poll() only with timeout 0. Its poll set holds its
   stdin and, with WSCLUSTER_EPOLL, wsc_loop_fd(); without, the descriptors from
   wsc_pollfds(). The poll timeout is wsc_next_timeout() combined with its own deadline, and
   wsc_poll(ctx, 0) runs only when one of the library's descriptors is ready or the
   library's timeout has passed, so timers, heartbeats and output flushes happen only if
   wsc_next_timeout() says so.
   Prints "backend epoll|poll", "check NAME ok|FAIL ..." lines, then "listening PORT".
   WebSocket text messages starting with '!' are commands, everything else is echoed:
     !timer MS         a one-shot wsc_timer: "timer MS fired after X" (X measured)
     !repeat MS N      a repeating wsc_timer: "rep 1".."rep N", cancelled from its own
                       callback, then "repeat done"
     !wake N           a thread writes N bytes into a pipe watched with wsc_watch():
                       "wake 1".."wake N"
     !own MS           the program's own deadline in the same poll(): "own fired after X"
     !stats            "stats iterations=I polls=P pongs=Q"
   Whatever the program broadcasts it also prints as "said TEXT".
   stdin lines: the same commands (with no client connected nothing but the library's
   descriptors and timeout can then wake the loop: while a connection is open, the library's
   100 ms sweep is always due); "say TEXT" broadcasts "stdin TEXT"; "quit" or EOF ends. Then
   wsc_shutdown(ctx, 0, 3000) (a line "close code=K" per WSC_EV_CLOSE), "shutdown returned
   N", wsc_destroy(); exit status 1 if a check failed. */
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
#include <time.h>
#include <unistd.h>

#include "api_common.h"

#define MAX_TIMERS 32

typedef struct one_timer { struct app *a; int ms, used; int64_t set_at; } one_timer;

typedef struct app {
    wsc_ctx *ctx;
    one_timer timers[MAX_TIMERS];
    int rep_id;
    long reps, rep_target;
    int wake_r, wake_w;
    long wake_n, wake_count;
    pthread_t wake_thread;
    int wake_thread_on;
    int64_t own_deadline, own_set_at;
    long iterations, polls, pongs;
    char line[4096];
    size_t line_len;
    int quit;
} app;

static volatile sig_atomic_t g_term;
static void on_signal(int sig) {
    (void)sig;
    g_term = 1;
}

/* ---- timers ---- */

static void on_timer(wsc_ctx *ctx, void *arg) {
    one_timer *t = (one_timer *)arg;
    say(ctx, "timer %d fired after %lld", t->ms, (long long)(wsc_now_ms() - t->set_at));
    t->used = 0;
}

static void on_repeat(wsc_ctx *ctx, void *arg) {
    app *a = (app *)arg;
    a->reps++;
    say(ctx, "rep %ld", a->reps);
    if (a->reps == a->rep_target) {
        check("timer-cancel-in-callback", wsc_timer_cancel(ctx, a->rep_id), 0);
        check("timer-cancel-twice", wsc_timer_cancel(ctx, a->rep_id), WSC_ERR_STALE);
        say(ctx, "repeat done");
    } else if (a->reps > a->rep_target) {
        printf("check repeat-after-cancel FAIL\n");
        fflush(stdout);
        g_failures++;
    }
}

/* ---- a watched pipe, written by a thread ---- */

static void *wake_writer(void *arg) {
    app *a = (app *)arg;
    long i;
    for (i = 1; i <= a->wake_n; i++) {
        unsigned char b = (unsigned char)(i & 0xff);
        for (;;) {
            ssize_t w = write(a->wake_w, &b, 1);
            if (w == 1) break;
            if (w < 0 && errno != EINTR && errno != EAGAIN) return NULL;
            sleep_ms(1);
        }
        sleep_ms(10);
    }
    return NULL;
}

static void on_wake(wsc_ctx *ctx, int fd, int revents, void *user) {
    app *a = (app *)user;
    unsigned char buf[64];
    ssize_t n, i;
    (void)revents;
    n = read(fd, buf, sizeof buf);
    for (i = 0; i < n; i++) {
        a->wake_count++;
        say(ctx, "wake %ld", a->wake_count);
    }
}

/* ---- events ---- */

static void command(app *a, wsc_id id, const char *cmd) {
    wsc_ctx *ctx = a->ctx;
    long x = 0, y = 0;
    const char *sp = strchr(cmd, ' ');
    if (sp) {
        char *end;
        x = strtol(sp + 1, &end, 10);
        y = strtol(end, NULL, 10);
    }
    if (strncmp(cmd, "!timer ", 7) == 0) {
        int i, rc;
        for (i = 0; i < MAX_TIMERS && a->timers[i].used; i++) {
        }
        if (i == MAX_TIMERS) return;
        a->timers[i].a = a;
        a->timers[i].ms = (int)x;
        a->timers[i].used = 1;
        a->timers[i].set_at = wsc_now_ms();
        rc = wsc_timer(ctx, (int)x, 0, on_timer, &a->timers[i]);
        if (rc <= 0) {
            a->timers[i].used = 0;
            check("timer", rc, 1);
        }
    } else if (strncmp(cmd, "!repeat ", 8) == 0) {
        a->reps = 0;
        a->rep_target = y;
        a->rep_id = wsc_timer(ctx, (int)x, 1, on_repeat, a);
        if (a->rep_id <= 0) check("repeat-timer", a->rep_id, 1);
    } else if (strncmp(cmd, "!wake ", 6) == 0) {
        sigset_t all, old;
        if (a->wake_thread_on) pthread_join(a->wake_thread, NULL);
        a->wake_n = x;
        a->wake_count = 0;
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, &old);
        a->wake_thread_on = pthread_create(&a->wake_thread, NULL, wake_writer, a) == 0;
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    } else if (strncmp(cmd, "!own ", 5) == 0) {
        a->own_set_at = wsc_now_ms();
        a->own_deadline = a->own_set_at + x;
    } else if (strcmp(cmd, "!stats") == 0) {
        char text[200];
        int n = snprintf(text, sizeof text, "stats iterations=%ld polls=%ld pongs=%ld",
                         a->iterations, a->polls, a->pongs);
        if (id) wsc_send(ctx, id, WSC_TEXT, text, (size_t)n);
        else {
            printf("%s\n", text);
            fflush(stdout);
        }
    } else {
        printf("unknown command %s\n", cmd);
        fflush(stdout);
    }
}

static void on_event(wsc_ctx *ctx, wsc_id id, int ev, void *data, void *user) {
    app *a = (app *)user;
    if (ev == WSC_EV_MESSAGE) {
        wsc_msg *m = (wsc_msg *)data;
        char cmd[100];
        if (is_command(m, cmd, sizeof cmd)) command(a, id, cmd);
        else wsc_send(ctx, id, m->opcode, m->data, m->len); /* the echo */
    } else if (ev == WSC_EV_PONG) {
        a->pongs++;
    } else if (ev == WSC_EV_CLOSE) {
        wsc_close_info *ci = (wsc_close_info *)data;
        printf("close code=%d\n", ci->code);
        fflush(stdout);
    }
}

/* ---- stdin ---- */

static void stdin_line(app *a, char *s) {
    if (s[0] == '!') {
        command(a, 0, s);
    } else if (strncmp(s, "say ", 4) == 0) {
        /* sent from outside wsc_poll(): queued; wsc_next_timeout() must now be 0 */
        int n = say(a->ctx, "stdin %s", s + 4);
        if (n > 0) check("next-timeout-output", wsc_next_timeout(a->ctx), 0);
        else check("say-reached-clients", n, 1);
    } else if (strcmp(s, "quit") == 0) {
        a->quit = 1;
    } else {
        printf("unknown stdin line %s\n", s);
        fflush(stdout);
    }
}

static void read_stdin(app *a) {
    ssize_t n = read(0, a->line + a->line_len, sizeof a->line - 1 - a->line_len);
    char *nl;
    if (n <= 0) {
        if (n == 0 || (errno != EINTR && errno != EAGAIN)) a->quit = 1; /* EOF */
        return;
    }
    a->line_len += (size_t)n;
    a->line[a->line_len] = 0;
    while ((nl = strchr(a->line, '\n')) != NULL) {
        size_t used = (size_t)(nl - a->line) + 1;
        *nl = 0;
        stdin_line(a, a->line);
        memmove(a->line, nl + 1, a->line_len - used);
        a->line_len -= used;
        a->line[a->line_len] = 0;
    }
    if (a->line_len == sizeof a->line - 1) a->line_len = 0; /* overlong: drop */
}

/* ---- checks before any client ---- */

static void on_never(wsc_ctx *ctx, void *arg) {
    (void)ctx;
    (void)arg;
}

static void selftest(app *a) {
    int t, v;
    check("next-timeout-idle", wsc_next_timeout(a->ctx), -1);
    t = wsc_timer(a->ctx, 5000, 0, on_never, NULL);
    v = wsc_next_timeout(a->ctx);
    check("next-timeout-timer", v > 4000 && v <= 5000, 1);
    if (!(v > 4000 && v <= 5000)) printf("next_timeout with a 5000 ms timer: %d\n", v);
    check("timer-cancel", wsc_timer_cancel(a->ctx, t), 0);
    check("next-timeout-cancelled", wsc_next_timeout(a->ctx), -1);
#ifdef WSCLUSTER_EPOLL
    printf("backend epoll\n");
    check("loop-fd", wsc_loop_fd(a->ctx) >= 0, 1);
#else
    printf("backend poll\n");
    check("loop-fd", wsc_loop_fd(a->ctx), -1);
#endif
}

static int min_timeout(int x, int y) {
    if (x < 0) return y;
    if (y < 0) return x;
    return x < y ? x : y;
}

int main(int argc, char **argv) {
    static app the_app;
    app *a = &the_app;
    wsc_config cfg;
    struct sigaction sa;
    struct pollfd *fds;
    size_t cap = 4; /* small on purpose: wsc_pollfds() reports when it needs more */
    int l, rc, n, i, pipefd[2], stdin_open = 1;
    g_echo_said = 1; /* its tests also run with no client connected */
    memset(&cfg, 0, sizeof cfg);
    cfg.on_event = on_event;
    cfg.user = a;
    cfg.log_level = WSC_LOG_WARN;
    cfg.ping_interval_ms = -1;
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--ping-ms") == 0 && i + 1 < argc) {
            cfg.ping_interval_ms = atoi(argv[++i]);
            cfg.idle_timeout_ms = 30000; /* not 2 x ping: a slow test machine is no peer death */
        } else {
            fprintf(stderr, "usage: api_extloop [--ping-ms N]\n");
            return 2;
        }
    }
    a->ctx = wsc_create(&cfg);
    if (!a->ctx) return 1;
    if (cfg.ping_interval_ms < 0) selftest(a);
#ifdef WSCLUSTER_EPOLL
    else printf("backend epoll\n");
#else
    else printf("backend poll\n");
#endif
    if (pipe(pipefd) < 0 || fcntl(pipefd[0], F_SETFL, O_NONBLOCK) < 0) return 1;
    a->wake_r = pipefd[0];
    a->wake_w = pipefd[1];
    check("watch-wake", wsc_watch(a->ctx, a->wake_r, POLLIN, on_wake, a), 0);
    if ((l = wsc_listen(a->ctx, "ws://127.0.0.1:0")) < 0) {
        fprintf(stderr, "api_extloop: listen: %s\n", wsc_strerror(l));
        return 1;
    }
    printf("listening %d\n", wsc_listener_port(a->ctx, l));
    fflush(stdout);

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    fds = (struct pollfd *)malloc(cap * sizeof *fds);
    if (!fds) return 1;
    while (!a->quit && !g_term) {
        size_t nfds = 0, lib_first;
        int lib_to, own_to = -1, timeout, ready = 0;
        int64_t now = wsc_now_ms(), lib_due;
        if (stdin_open) {
            fds[nfds].fd = 0;
            fds[nfds].events = POLLIN;
            fds[nfds].revents = 0;
            nfds++;
        }
        lib_first = nfds;
#ifdef WSCLUSTER_EPOLL
        fds[nfds].fd = wsc_loop_fd(a->ctx);
        fds[nfds].events = POLLIN;
        fds[nfds].revents = 0;
        nfds++;
#else
        for (;;) {
            size_t want = wsc_pollfds(a->ctx, fds + nfds, cap - nfds);
            if (want <= cap - nfds) {
                nfds += want;
                break;
            }
            cap = nfds + want + 4;
            fds = (struct pollfd *)realloc(fds, cap * sizeof *fds);
            if (!fds) return 1;
        }
#endif
        lib_to = wsc_next_timeout(a->ctx);
        if (a->own_deadline) own_to = a->own_deadline > now ? (int)(a->own_deadline - now) : 0;
        timeout = min_timeout(lib_to, own_to);
        lib_due = lib_to >= 0 ? now + lib_to : INT64_MAX;
        rc = poll(fds, (nfds_t)nfds, timeout);
        a->iterations++;
        if (rc < 0) {
            if (errno == EINTR) continue;
            perror("poll");
            break;
        }
        for (i = (int)lib_first; i < (int)nfds; i++)
            if (fds[i].revents) ready = 1;
        now = wsc_now_ms();
        if (ready || now >= lib_due) {
            a->polls++;
            n = wsc_poll(a->ctx, 0);
            if (n < 0) {
                fprintf(stderr, "api_extloop: wsc_poll: %s\n", wsc_strerror(n));
                break;
            }
        }
        if (a->own_deadline && wsc_now_ms() >= a->own_deadline) {
            say(a->ctx, "own fired after %lld", (long long)(wsc_now_ms() - a->own_set_at));
            a->own_deadline = 0;
        }
        if (stdin_open && (fds[0].revents & (POLLIN | POLLHUP | POLLERR))) {
            read_stdin(a);
            if (a->quit) stdin_open = 0;
        }
    }
    free(fds);
    if (a->wake_thread_on) pthread_join(a->wake_thread, NULL);
    check("unwatch-wake", wsc_unwatch(a->ctx, a->wake_r), 0);
    n = wsc_shutdown(a->ctx, 0, 3000);
    printf("shutdown returned %d\n", n);
    fflush(stdout);
    wsc_destroy(a->ctx);
    close(a->wake_r);
    close(a->wake_w);
    printf("exit failures=%d\n", g_failures);
    fflush(stdout);
    return g_failures ? 1 : 0;
}
