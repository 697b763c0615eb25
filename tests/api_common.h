/* api_common.h: what the API test programs share: "check" lines, a line broadcast to every
   client, a sleep, "!command" messages. Included by api_watch.c and api_extloop.c after
   wscluster.h and the system headers. */
#ifndef API_COMMON_H
#define API_COMMON_H

static int g_failures;   /* "exit failures=N" at the end; non-zero fails the test */
static int g_echo_said;  /* also print what say() broadcasts (for runs with no client) */

static void check(const char *name, long got, long want) {
    if (got == want) {
        printf("check %s ok\n", name);
    } else {
        printf("check %s FAIL got %ld want %ld\n", name, got, want);
        g_failures++;
    }
    fflush(stdout);
}

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static int say(wsc_ctx *ctx, const char *fmt, ...) {
    char buf[4200];
    int n;
    va_list ap;
    va_start(ap, fmt);
    n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0) return n;
    if ((size_t)n >= sizeof buf) n = (int)sizeof buf - 1;
    if (g_echo_said) {
        printf("said %s\n", buf);
        fflush(stdout);
    }
    return wsc_broadcast(ctx, NULL, 0, WSC_TEXT, buf, (size_t)n);
}

static void sleep_ms(long ms) {
    struct timespec ts;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

/* a text message "!word" (shorter than cap) is a command to the program: cmd gets it */
static int is_command(const wsc_msg *m, char *cmd, size_t cap) {
    if (m->opcode != WSC_TEXT || m->len == 0 || m->data[0] != '!' || m->len >= cap) return 0;
    memcpy(cmd, m->data, m->len);
    cmd[m->len] = 0;
    return 1;
}

#endif
