/* wsbench: the load generator of `make bench` (tests/bench/run.sh).

   A single-threaded, non-blocking (epoll) RFC 6455 client that holds thousands of
   connections: random Sec-WebSocket-Key per connection with the Accept checked, a fresh
   random mask per frame, server frames parsed with 7/16/64-bit lengths, fragmented
   messages joined, pings answered with pongs, close frames answered.

   Modes (URL = ws://HOST:PORT/PATH, IPv4 literal or localhost; --url may repeat):
     echo    --conns N --inflight K [--size B]   each connection keeps K messages
             outstanding on /echo; reports round trips/s and RTT p50/p99.
     fanout  --subs N --inflight W               one publisher + N subscribers on the
             broadcast path (/ws: every message goes to every /ws client, sender
             included). The publisher keeps W messages in flight; by default a message
             is done when EVERY receiver (all subscribers and the publisher itself) has
             it (--done all); --done pub: when the publisher receives its own copy.
             Every receiver checks order, loss and duplicates; latency is publisher send
             -> subscriber receive. With several --url the subscribers are spread round
             robin over them and the publisher is on the first (cluster mode); latency
             of subscribers not on the first URL is also reported as "remote".
     rate    --subs N --rate R                   fan-out at a fixed R messages/s (latency).
     idle    --conns N                           open N connections and hold them idle;
             prints the server RSS before/after (--server-pid), holds --seconds.
     get     URL (http://HOST:PORT/PATH)         prints the body of a plain HTTP GET.
     freeport N                                  prints N distinct free ports on 127.0.0.1.
   Common: --seconds S (measured interval, default 10), --warmup S (default 1),
     --server-pid PID (repeatable: server CPU utime+stime from /proc/PID/stat over the
     measured interval, summed; RSS from /proc/PID/status), --signal-pid PID (SIGUSR1 at
     the start and at the end of the measured interval: tests/bench/malloc_count.c),
     --connect-concurrency N (handshakes in progress at once, default 64).
   Output: human-readable lines on stderr, then one line on stdout:
     RESULT mode=... key=value ...
   Exit status 0 when the run completed (errors are counted in the RESULT line), 1 when it
   could not run (connections refused, stalled, bad options).

   Message payload (text, --size bytes, at least 32): 16 hex digits of sequence number,
   16 hex digits of the send time (CLOCK_MONOTONIC ns), then 'p' padding. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define MAX_URLS 16
#define MAX_PIDS 16
#define RBUF (64 * 1024)
#define MAXEV 1024
#define MIN_SIZE 32

/* ------------------------------------------------------------------ small helpers -- */
static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t rng_s;
static uint64_t rng(void) { /* xorshift64* */
    rng_s ^= rng_s >> 12;
    rng_s ^= rng_s << 25;
    rng_s ^= rng_s >> 27;
    return rng_s * 2685821657736338717ull;
}
static void rng_seed(void) {
    int fd = open("/dev/urandom", O_RDONLY);
    if (fd < 0 || read(fd, &rng_s, sizeof rng_s) != (ssize_t)sizeof rng_s) rng_s = now_ns();
    if (fd >= 0) close(fd);
    rng_s ^= (uint64_t)getpid() << 32;
    if (!rng_s) rng_s = 88172645463325252ull;
}

static void die(const char *fmt, const char *arg) {
    fprintf(stderr, "wsbench: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n");
    exit(1);
}

/* SHA-1 (for Sec-WebSocket-Accept) */
typedef struct { uint32_t h[5]; uint64_t len; unsigned char buf[64]; size_t n; } sha1_ctx;
#define ROL(x, n) (((x) << (n)) | ((x) >> (32 - (n))))
static void sha1_block(sha1_ctx *c, const unsigned char *p) {
    uint32_t w[80], a, b, cc, d, e, t;
    int i;
    for (i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (; i < 80; i++) w[i] = ROL(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    a = c->h[0]; b = c->h[1]; cc = c->h[2]; d = c->h[3]; e = c->h[4];
    for (i = 0; i < 80; i++) {
        uint32_t f, k;
        if (i < 20) { f = (b & cc) | (~b & d); k = 0x5A827999; }
        else if (i < 40) { f = b ^ cc ^ d; k = 0x6ED9EBA1; }
        else if (i < 60) { f = (b & cc) | (b & d) | (cc & d); k = 0x8F1BBCDC; }
        else { f = b ^ cc ^ d; k = 0xCA62C1D6; }
        t = ROL(a, 5) + f + e + k + w[i];
        e = d; d = cc; cc = ROL(b, 30); b = a; a = t;
    }
    c->h[0] += a; c->h[1] += b; c->h[2] += cc; c->h[3] += d; c->h[4] += e;
}
static void sha1(const void *data, size_t len, unsigned char out[20]) {
    sha1_ctx c = {{0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0}, 0, {0}, 0};
    const unsigned char *p = (const unsigned char *)data;
    size_t i;
    c.len = (uint64_t)len * 8;
    for (i = 0; i < len; i++) {
        c.buf[c.n++] = p[i];
        if (c.n == 64) { sha1_block(&c, c.buf); c.n = 0; }
    }
    c.buf[c.n++] = 0x80;
    if (c.n > 56) {
        while (c.n < 64) c.buf[c.n++] = 0;
        sha1_block(&c, c.buf);
        c.n = 0;
    }
    while (c.n < 56) c.buf[c.n++] = 0;
    for (i = 0; i < 8; i++) c.buf[56 + i] = (unsigned char)(c.len >> (56 - 8 * i));
    sha1_block(&c, c.buf);
    for (i = 0; i < 20; i++) out[i] = (unsigned char)(c.h[i / 4] >> (24 - 8 * (i % 4)));
}
static void base64(const unsigned char *in, size_t n, char *out) {
    static const char T[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t i, o = 0;
    for (i = 0; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = T[v >> 18]; out[o++] = T[(v >> 12) & 63];
        out[o++] = T[(v >> 6) & 63]; out[o++] = T[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = T[v >> 18]; out[o++] = T[(v >> 12) & 63]; out[o++] = '='; out[o++] = '=';
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = T[v >> 18]; out[o++] = T[(v >> 12) & 63];
        out[o++] = T[(v >> 6) & 63]; out[o++] = '=';
    }
    out[o] = '\0';
}

/* latency histogram: 32 linear sub-buckets per power of two (about 3% resolution), ns */
#define HB (60 * 32 + 64)
typedef struct hist { uint64_t b[HB]; uint64_t n, max, sum; } hist;
static unsigned hidx(uint64_t v) {
    int msb;
    if (v < 32) return (unsigned)v;
    msb = 63 - __builtin_clzll(v);
    return (unsigned)((msb - 4) * 32 + (int)((v >> (msb - 5)) - 32));
}
static uint64_t hval(unsigned i) { /* the middle of bucket i */
    unsigned shift;
    uint64_t lo;
    if (i < 32) return i;
    shift = i / 32 - 1;
    lo = (uint64_t)(32 + i % 32) << shift;
    return lo + (((uint64_t)1 << shift) >> 1);
}
static void hist_add(hist *h, uint64_t v) {
    unsigned i = hidx(v);
    if (i >= HB) i = HB - 1;
    h->b[i]++;
    h->n++;
    h->sum += v;
    if (v > h->max) h->max = v;
}
static double hist_pct_us(const hist *h, double p) {
    uint64_t want, acc = 0;
    unsigned i;
    if (!h->n) return -1;
    want = (uint64_t)(p * (double)h->n);
    if (want >= h->n) want = h->n - 1;
    for (i = 0; i < HB; i++) {
        acc += h->b[i];
        if (acc > want) return (double)hval(i) / 1000.0;
    }
    return (double)h->max / 1000.0;
}

/* ------------------------------------------------------------------ /proc readers -- */
static double proc_cpu_s(int pid) { /* utime + stime of the whole process, seconds */
    char path[64], buf[2048], *p;
    unsigned long ut = 0, st = 0;
    int fd, i;
    ssize_t n;
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    fd = open(path, O_RDONLY);
    if (fd < 0) return -1;
    n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return -1;
    buf[n] = '\0';
    p = strrchr(buf, ')');
    if (!p) return -1;
    p += 2; /* state */
    for (i = 0; i < 11 && p; i++) { /* field 3 is state; utime is field 14 */
        p = strchr(p, ' ');
        if (p) p++;
    }
    if (!p || sscanf(p, "%lu %lu", &ut, &st) != 2) return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}
static long proc_rss_kb(int pid) {
    char path[64], line[256];
    long kb = -1;
    FILE *f;
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    f = fopen(path, "r");
    if (!f) return -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0) { kb = strtol(line + 6, NULL, 10); break; }
    fclose(f);
    return kb;
}

/* ------------------------------------------------------------------ options -------- */
enum { M_ECHO, M_FANOUT, M_RATE, M_IDLE };
typedef struct url { char host[64], path[256]; struct sockaddr_in sa; int port; } url;
static struct {
    int mode;
    url urls[MAX_URLS];
    int nurls;
    int conns, inflight, size;
    double seconds, warmup, rate, drain_s;
    int pids[MAX_PIDS], npids, signal_pid;
    int concurrency, done_pub;
} o;

static int parse_url(const char *s, url *u, const char *scheme) {
    const char *p, *colon, *slash;
    size_t sl = strlen(scheme), hl;
    if (strncmp(s, scheme, sl) != 0) return -1;
    p = s + sl;
    slash = strchr(p, '/');
    colon = strchr(p, ':');
    if (!colon || (slash && colon > slash)) return -1;
    hl = (size_t)(colon - p);
    if (hl == 0 || hl >= sizeof u->host) return -1;
    memcpy(u->host, p, hl);
    u->host[hl] = '\0';
    u->port = atoi(colon + 1);
    if (u->port <= 0 || u->port > 65535) return -1;
    snprintf(u->path, sizeof u->path, "%s", slash ? slash : "/");
    memset(&u->sa, 0, sizeof u->sa);
    u->sa.sin_family = AF_INET;
    u->sa.sin_port = htons((uint16_t)u->port);
    if (strcmp(u->host, "localhost") == 0) return inet_pton(AF_INET, "127.0.0.1", &u->sa.sin_addr) == 1 ? 0 : -1;
    return inet_pton(AF_INET, u->host, &u->sa.sin_addr) == 1 ? 0 : -1;
}

/* ------------------------------------------------------------------ connections ---- */
enum { ST_WAIT, ST_CONNECTING, ST_HANDSHAKE, ST_OPEN, ST_DEAD };
enum { R_ECHO, R_SUB, R_PUB, R_IDLE };
typedef struct conn {
    int fd, state, role, url_i, tries;
    uint64_t retry_at;
    char accept[32];
    unsigned char *in; size_t inlen, incap;     /* an incomplete frame (or handshake) */
    unsigned char *out; size_t outlen, outcap;  /* bytes the socket did not take yet */
    unsigned char *frag; size_t fraglen, fragcap; int fragop, infrag;
    int epout;
    /* echo */
    uint64_t tx_seq, rx_seq;
    /* receiver tracking (fan-out) */
    int started;
    uint64_t expect, seen;
} conn;

static struct {
    conn *c;
    int n, ep;
    unsigned char rbuf[RBUF];
    uint64_t now, t0;
    int phase;  /* P_CONNECT .. P_DONE */
    uint64_t phase_at, measure_start, measure_end;
    int open, dead, connecting, next_to_connect;
    /* fan-out */
    uint64_t next_seq, run_start, oldest, last_progress;
    uint32_t *left; uint64_t ring;
    int live_recv;
    uint64_t rate_start, rate_sent;
    /* counters (measured interval only) */
    uint64_t m_ops, m_deliv, m_msgs, m_behind;
    hist lat, lat_remote;
    /* counters (whole run) */
    uint64_t lost, dups, ooo, corrupt, proto, closed_by_server, refused, conn_fail, unexpected;
    uint64_t late;
    double cpu0[MAX_PIDS], cpu1[MAX_PIDS];
    struct rusage ru0, ru1;
    int stalled;
} g;

enum { P_CONNECT, P_SYNC, P_WARMUP, P_MEASURE, P_DRAIN, P_DONE };

static void ep_mod(conn *c, int out) {
    struct epoll_event ev;
    ev.events = EPOLLIN | (out ? EPOLLOUT : 0);
    ev.data.ptr = c;
    epoll_ctl(g.ep, EPOLL_CTL_MOD, c->fd, &ev);
    c->epout = out;
}

static void buf_add(unsigned char **b, size_t *len, size_t *cap, const void *p, size_t n) {
    if (*len + n > *cap) {
        size_t nc = *cap ? *cap : 256;
        while (nc < *len + n) nc *= 2;
        *b = (unsigned char *)realloc(*b, nc);
        if (!*b) { fprintf(stderr, "wsbench: out of memory\n"); exit(1); }
        *cap = nc;
    }
    memcpy(*b + *len, p, n);
    *len += n;
}

static void conn_dead(conn *c, int by_server);

static void conn_flush(conn *c) {
    ssize_t w;
    if (c->state == ST_DEAD || !c->outlen) return;
    w = send(c->fd, c->out, c->outlen, MSG_NOSIGNAL);
    if (w < 0) {
        if (errno == EAGAIN || errno == EINTR) w = 0;
        else { conn_dead(c, 1); return; }
    }
    if ((size_t)w < c->outlen) {
        memmove(c->out, c->out + w, c->outlen - (size_t)w);
        c->outlen -= (size_t)w;
        if (!c->epout) ep_mod(c, 1);
    } else {
        c->outlen = 0;
        if (c->epout) ep_mod(c, 0);
        if (c->outcap > 65536) { free(c->out); c->out = NULL; c->outcap = 0; }
    }
}

/* queue one masked client frame (flushed by the caller) */
static void conn_frame(conn *c, int op, const unsigned char *p, size_t n) {
    unsigned char h[14];
    size_t hl = 2, i, start;
    uint32_t m = (uint32_t)(rng() >> 16);
    unsigned char mask[4];
    h[0] = (unsigned char)(0x80 | op);
    if (n < 126) h[1] = (unsigned char)(0x80 | n);
    else if (n < 65536) { h[1] = 0x80 | 126; h[2] = (unsigned char)(n >> 8); h[3] = (unsigned char)n; hl = 4; }
    else {
        h[1] = 0x80 | 127;
        for (i = 0; i < 8; i++) h[2 + i] = (unsigned char)((uint64_t)n >> (56 - 8 * i));
        hl = 10;
    }
    memcpy(mask, &m, 4);
    memcpy(h + hl, mask, 4);
    hl += 4;
    buf_add(&c->out, &c->outlen, &c->outcap, h, hl);
    start = c->outlen;
    buf_add(&c->out, &c->outlen, &c->outcap, p, n);
    for (i = 0; i < n; i++) c->out[start + i] ^= mask[i & 3];
}

static const char HEX[] = "0123456789abcdef";
static void put_hex(unsigned char *p, uint64_t v) {
    int i;
    for (i = 15; i >= 0; i--) { p[i] = (unsigned char)HEX[v & 15]; v >>= 4; }
}
static int get_hex(const unsigned char *p, uint64_t *v) {
    uint64_t r = 0;
    int i;
    for (i = 0; i < 16; i++) {
        unsigned char ch = p[i];
        r <<= 4;
        if (ch >= '0' && ch <= '9') r |= (uint64_t)(ch - '0');
        else if (ch >= 'a' && ch <= 'f') r |= (uint64_t)(ch - 'a' + 10);
        else return -1;
    }
    *v = r;
    return 0;
}
static void send_msg(conn *c, uint64_t seq) {
    unsigned char buf[4096];
    unsigned char *p = buf;
    size_t n = (size_t)o.size;
    if (n > sizeof buf) p = (unsigned char *)malloc(n);
    if (!p) exit(1);
    put_hex(p, seq);
    put_hex(p + 16, now_ns() - g.t0);
    if (n > 32) memset(p + 32, 'p', n - 32);
    conn_frame(c, 0x1, p, n);
    if (p != buf) free(p);
}

/* ------------------------------------------------------------------ fan-out tracking */
static int measuring(void) { return g.phase == P_MEASURE; }

static void fan_advance(void) {
    uint64_t before = g.oldest;
    if (o.done_pub) return;
    while (g.oldest < g.next_seq && g.left[g.oldest & (g.ring - 1)] == 0) g.oldest++;
    if (g.oldest != before) g.last_progress = g.now;
}
static void fan_decr(uint64_t from, uint64_t to) { /* one receiver will not count [from,to) */
    uint64_t q;
    if (o.done_pub || g.phase < P_WARMUP) return;
    if (from < g.oldest) from = g.oldest;
    if (to > g.next_seq) to = g.next_seq;
    for (q = from; q < to; q++)
        if (g.left[q & (g.ring - 1)]) g.left[q & (g.ring - 1)]--;
}

static void recv_track(conn *c, uint64_t s, uint64_t sent) {
    int tracked = g.phase >= P_WARMUP && s >= g.run_start && s < g.next_seq;
    if (!c->started) { /* tracking starts with the first message this receiver sees */
        c->started = 1;
        c->expect = s + 1;
        c->seen = 1;
        if (tracked && !o.done_pub && g.left[s & (g.ring - 1)]) g.left[s & (g.ring - 1)]--;
    } else if (s == c->expect) {
        c->seen = (c->seen << 1) | 1;
        c->expect++;
        if (tracked && !o.done_pub && g.left[s & (g.ring - 1)]) g.left[s & (g.ring - 1)]--;
    } else if (s > c->expect) { /* a gap: counted lost unless it shows up later */
        uint64_t gap = s - c->expect;
        g.lost += gap;
        fan_decr(c->expect, s);
        c->seen = gap + 1 >= 64 ? 1 : (c->seen << (gap + 1)) | 1;
        c->expect = s + 1;
        if (tracked && !o.done_pub && g.left[s & (g.ring - 1)]) g.left[s & (g.ring - 1)]--;
    } else {
        uint64_t d = c->expect - 1 - s;
        if (d < 64 && (c->seen >> d) & 1) g.dups++;
        else {
            g.ooo++;
            if (d < 64) c->seen |= (uint64_t)1 << d;
            if (g.lost) g.lost--;
            g.late++;
        }
        return;
    }
    if (c->role == R_PUB) {
        if (o.done_pub && g.phase >= P_WARMUP && c->expect > g.oldest && c->expect <= g.next_seq) {
            g.oldest = c->expect;
            g.last_progress = g.now;
        }
        return;
    }
    if (measuring()) {
        uint64_t lat = g.now - g.t0 > sent ? g.now - g.t0 - sent : 0;
        g.m_deliv++;
        hist_add(&g.lat, lat);
        if (c->url_i != 0) hist_add(&g.lat_remote, lat);
    }
}

/* ------------------------------------------------------------------ messages ------- */
static void on_message(conn *c, const unsigned char *p, size_t n) {
    uint64_t seq, sent;
    if (n < MIN_SIZE || get_hex(p, &seq) < 0 || get_hex(p + 16, &sent) < 0) { g.corrupt++; return; }
    if (n != (size_t)o.size) g.corrupt++;
    switch (c->role) {
    case R_ECHO:
        if (seq != c->rx_seq) g.ooo++;
        c->rx_seq = seq + 1;
        if (measuring()) {
            g.m_ops++;
            hist_add(&g.lat, g.now - g.t0 > sent ? g.now - g.t0 - sent : 0);
        }
        if (g.phase == P_WARMUP || g.phase == P_MEASURE) {
            send_msg(c, c->tx_seq++);
        }
        break;
    case R_SUB:
    case R_PUB:
        recv_track(c, seq, sent);
        break;
    default:
        g.unexpected++;
    }
}

static void on_frame(conn *c, int fin, int op, unsigned char *p, size_t n) {
    if (op == 0x8) { /* close: answer with the same code, then drop the socket */
        unsigned char code[2] = {0x03, 0xe8};
        if (n >= 2) { code[0] = p[0]; code[1] = p[1]; }
        conn_frame(c, 0x8, code, 2);
        conn_flush(c);
        conn_dead(c, 1);
        return;
    }
    if (op == 0x9) { conn_frame(c, 0xA, p, n); return; }
    if (op == 0xA) return;
    if (op == 0x1 || op == 0x2) {
        if (c->infrag) { g.proto++; c->infrag = 0; c->fraglen = 0; }
        if (fin) { on_message(c, p, n); return; }
        c->infrag = 1;
        c->fragop = op;
        c->fraglen = 0;
        buf_add(&c->frag, &c->fraglen, &c->fragcap, p, n);
        return;
    }
    if (op == 0x0) {
        if (!c->infrag) { g.proto++; return; }
        buf_add(&c->frag, &c->fraglen, &c->fragcap, p, n);
        if (fin) {
            c->infrag = 0;
            on_message(c, c->frag, c->fraglen);
            c->fraglen = 0;
            if (c->fragcap > 65536) { free(c->frag); c->frag = NULL; c->fragcap = 0; }
        }
        return;
    }
    g.proto++;
}

/* parse frames in p[0..n); returns bytes consumed */
static size_t parse_frames(conn *c, unsigned char *p, size_t n) {
    size_t pos = 0;
    while (n - pos >= 2 && c->state == ST_OPEN) {
        unsigned char b0 = p[pos], b1 = p[pos + 1];
        size_t hl = 2;
        uint64_t len = b1 & 0x7f;
        int i;
        if (len == 126) hl += 2;
        else if (len == 127) hl += 8;
        if (b1 & 0x80) hl += 4;
        if (n - pos < hl) break;
        if (len == 126) len = (uint64_t)p[pos + 2] << 8 | p[pos + 3];
        else if (len == 127)
            for (len = 0, i = 0; i < 8; i++) len = len << 8 | p[pos + 2 + (size_t)i];
        if (b0 & 0x70) g.proto++;
        if (len > ((uint64_t)1 << 31)) { g.proto++; conn_dead(c, 0); return n; }
        if (n - pos - hl < len) break;
        if (b1 & 0x80) { /* servers must not mask */
            unsigned char *m = p + pos + hl - 4;
            size_t k;
            g.proto++;
            for (k = 0; k < len; k++) p[pos + hl + k] ^= m[k & 3];
        }
        on_frame(c, b0 & 0x80, b0 & 0x0f, p + pos + hl, (size_t)len);
        pos += hl + (size_t)len;
    }
    return pos;
}

/* the 101 response: returns bytes consumed, 0 if incomplete, -1 if refused/invalid */
static long parse_handshake(conn *c, const unsigned char *p, size_t n) {
    const char *s = (const char *)p, *end = NULL, *line;
    size_t i;
    int ok_acc = 0;
    for (i = 3; i < n; i++)
        if (p[i] == '\n' && p[i - 1] == '\r' && p[i - 2] == '\n' && p[i - 3] == '\r') { end = s + i + 1; break; }
    if (!end) return n > 16384 ? -1 : 0;
    if (n < 12 || strncmp(s, "HTTP/1.1 101", 12) != 0) {
        const char *eol = memchr(s, '\r', (size_t)(end - s));
        if (g.refused < 3)
            fprintf(stderr, "wsbench: handshake refused: %.*s\n", (int)(eol ? eol - s : 40), s);
        return -1;
    }
    line = strstr(s, "\r\n");
    while (line && line + 2 < end) {
        const char *ls = line + 2, *le = strstr(ls, "\r\n");
        if (!le || le >= end) break;
        if ((size_t)(le - ls) > 21 && strncasecmp(ls, "Sec-WebSocket-Accept:", 21) == 0) {
            const char *v = ls + 21;
            while (*v == ' ' || *v == '\t') v++;
            if ((size_t)(le - v) >= 28 && strncmp(v, c->accept, 28) == 0) ok_acc = 1;
        }
        line = le;
    }
    if (!ok_acc) {
        fprintf(stderr, "wsbench: bad or missing Sec-WebSocket-Accept\n");
        return -2;
    }
    return (long)(end - s);
}

static void conn_opened(conn *c);

static void conn_read(conn *c) {
    unsigned char *p;
    size_t have;
    ssize_t r;
    if (c->inlen) {
        if (c->incap - c->inlen < RBUF) {
            size_t nc = c->inlen + RBUF;
            c->in = (unsigned char *)realloc(c->in, nc);
            if (!c->in) exit(1);
            c->incap = nc;
        }
        r = recv(c->fd, c->in + c->inlen, RBUF, 0);
        p = c->in;
        have = c->inlen + (r > 0 ? (size_t)r : 0);
    } else {
        r = recv(c->fd, g.rbuf, RBUF, 0);
        p = g.rbuf;
        have = r > 0 ? (size_t)r : 0;
    }
    if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
        if (c->state == ST_HANDSHAKE) { conn_dead(c, -1); return; }
        conn_dead(c, 1);
        return;
    }
    if (r < 0) return;
    g.now = now_ns();
    {
        size_t used = 0;
        if (c->state == ST_HANDSHAKE) {
            long h = parse_handshake(c, p, have);
            if (h < 0) { g.refused++; conn_dead(c, h == -1 ? -2 : -3); return; }
            if (h == 0) used = 0;
            else {
                used = (size_t)h;
                c->state = ST_OPEN;
                conn_opened(c);
            }
        }
        if (c->state == ST_OPEN) used += parse_frames(c, p + used, have - used);
        if (c->state == ST_DEAD) return;
        if (used < have) {
            if (p == c->in) {
                memmove(c->in, c->in + used, have - used);
                c->inlen = have - used;
            } else {
                c->inlen = 0;
                buf_add(&c->in, &c->inlen, &c->incap, p + used, have - used);
            }
        } else {
            c->inlen = 0;
            if (c->incap > 4 * RBUF) { free(c->in); c->in = NULL; c->incap = 0; }
        }
    }
    conn_flush(c);
}

/* ------------------------------------------------------------------ connecting ----- */
static void conn_start(conn *c) {
    int fd, one = 1;
    struct epoll_event ev;
    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) { perror("wsbench: socket"); exit(1); }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->fd = fd;
    c->tries++;
    c->state = ST_CONNECTING;
    g.connecting++;
    ev.events = EPOLLOUT | EPOLLIN;
    ev.data.ptr = c;
    epoll_ctl(g.ep, EPOLL_CTL_ADD, fd, &ev);
    c->epout = 1;
    if (connect(fd, (struct sockaddr *)&o.urls[c->url_i].sa, sizeof o.urls[c->url_i].sa) < 0 &&
        errno != EINPROGRESS) {
        /* reported through EPOLLERR */
    }
}

static void conn_connected(conn *c) {
    int err = 0;
    socklen_t el = sizeof err;
    unsigned char keyraw[16];
    char key[32], req[600], cat[96];
    unsigned char dig[20];
    uint64_t a = rng(), b = rng();
    url *u = &o.urls[c->url_i];
    int n;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
    if (err) { conn_dead(c, -1); return; }
    memcpy(keyraw, &a, 8);
    memcpy(keyraw + 8, &b, 8);
    base64(keyraw, 16, key);
    snprintf(cat, sizeof cat, "%s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", key);
    sha1(cat, strlen(cat), dig);
    base64(dig, 20, c->accept);
    n = snprintf(req, sizeof req,
                 "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n",
                 u->path, u->host, u->port, key);
    c->state = ST_HANDSHAKE;
    buf_add(&c->out, &c->outlen, &c->outcap, req, (size_t)n);
    ep_mod(c, 0);
    conn_flush(c);
}

static void conn_opened(conn *c) {
    g.connecting--;
    g.open++;
    if (c->role == R_SUB || c->role == R_PUB) g.live_recv++;
    if (c->role == R_ECHO && (g.phase == P_WARMUP || g.phase == P_MEASURE)) {
        int k;
        for (k = 0; k < o.inflight; k++) send_msg(c, c->tx_seq++);
    }
}

/* by_server: 1 closed/reset once open, 0 by us, -1 connect/handshake failed (retry),
   -2 refused (non-101), -3 bad handshake */
static void conn_dead(conn *c, int by_server) {
    int was = c->state;
    if (was == ST_DEAD || was == ST_WAIT) return;
    epoll_ctl(g.ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
    c->outlen = c->inlen = 0;
    c->infrag = 0;
    if (was == ST_CONNECTING || was == ST_HANDSHAKE) {
        g.connecting--;
        if (by_server == -1 && c->tries < 8 && g.phase == P_CONNECT) { /* backlog overflow etc. */
            c->state = ST_WAIT;
            c->retry_at = now_ns() + (uint64_t)(50 + (rng() % 200)) * 1000000u * (uint64_t)c->tries;
            return;
        }
        g.conn_fail++;
        c->state = ST_DEAD;
        g.dead++;
        return;
    }
    c->state = ST_DEAD;
    g.dead++;
    g.open--;
    if (by_server > 0 && g.phase < P_DONE) {
        g.closed_by_server++;
        if (g.closed_by_server <= 3) fprintf(stderr, "wsbench: connection closed by the server\n");
    }
    if (c->role == R_SUB || c->role == R_PUB) {
        g.live_recv--;
        if (c->started) fan_decr(c->expect, g.next_seq);
        else fan_decr(g.run_start, g.next_seq);
        fan_advance();
    }
}

/* ------------------------------------------------------------------ phases --------- */
static void sample_start(void) {
    int i;
    for (i = 0; i < o.npids; i++) g.cpu0[i] = proc_cpu_s(o.pids[i]);
    getrusage(RUSAGE_SELF, &g.ru0);
    if (o.signal_pid > 0) kill(o.signal_pid, SIGUSR1);
    g.measure_start = now_ns();
}
static void sample_end(void) {
    int i;
    g.measure_end = now_ns();
    if (o.signal_pid > 0) kill(o.signal_pid, SIGUSR1);
    for (i = 0; i < o.npids; i++) g.cpu1[i] = proc_cpu_s(o.pids[i]);
    getrusage(RUSAGE_SELF, &g.ru1);
}
static double tv_s(struct timeval t) { return (double)t.tv_sec + (double)t.tv_usec / 1e6; }

static void set_phase(int p) {
    g.phase = p;
    g.phase_at = now_ns();
    g.last_progress = g.phase_at;
}

static void pub_send(conn *pub, uint64_t seq) {
    if (!o.done_pub && g.phase >= P_WARMUP) g.left[seq & (g.ring - 1)] = (uint32_t)g.live_recv;
    send_msg(pub, seq);
    if (measuring()) g.m_msgs++;
}

static void tick(void) {
    uint64_t t = now_ns();
    conn *pub = g.n ? &g.c[0] : NULL;
    int i;
    g.now = t;
    if (g.phase == P_CONNECT) {
        /* start connections up to the concurrency limit; retry those waiting */
        for (i = 0; i < g.n && g.connecting < o.concurrency; i++) {
            conn *c = &g.c[i];
            if (c->state == ST_WAIT && c->retry_at <= t) conn_start(c);
        }
        if (g.open + g.dead == g.n && g.connecting == 0) {
            int waiting = 0;
            for (i = 0; i < g.n; i++) waiting += g.c[i].state == ST_WAIT;
            if (waiting) return;
            fprintf(stderr, "wsbench: %d connections open (%d failed) in %.2f s\n", g.open, g.dead,
                    (double)(t - g.phase_at) / 1e9);
            if (g.dead) { g.phase = P_DONE; return; }
            if (o.mode == M_IDLE) { set_phase(P_MEASURE); return; }
            if (o.mode == M_ECHO) {
                set_phase(P_WARMUP);
                for (i = 0; i < g.n; i++) {
                    int k;
                    for (k = 0; k < o.inflight; k++) send_msg(&g.c[i], g.c[i].tx_seq++);
                    conn_flush(&g.c[i]);
                }
                return;
            }
            set_phase(P_SYNC);
        } else if (t - g.phase_at > 120000000000ull) {
            fprintf(stderr, "wsbench: connecting took over 120 s\n");
            g.phase = P_DONE;
        }
        return;
    }
    if (g.phase == P_SYNC) { /* until every receiver has seen a message */
        int all = 1;
        for (i = 0; i < g.n; i++)
            if (g.c[i].state == ST_OPEN && !g.c[i].started) { all = 0; break; }
        if (all && t - g.phase_at > 100000000u) {
            g.run_start = g.oldest = g.next_seq;
            set_phase(P_WARMUP);
            g.rate_start = t;
            g.rate_sent = 0;
        } else if (t - g.phase_at > 15000000000ull) {
            fprintf(stderr, "wsbench: not every subscriber got a message within 15 s (cluster links down?)\n");
            g.stalled = 1;
            g.phase = P_DONE;
            return;
        } else if (pub->state == ST_OPEN && (t - g.last_progress) > 20000000u) {
            g.last_progress = t;
            send_msg(pub, g.next_seq++);
            conn_flush(pub);
        }
        return;
    }
    if (g.phase == P_WARMUP && t - g.phase_at >= (uint64_t)(o.warmup * 1e9)) {
        set_phase(P_MEASURE);
        sample_start();
        if (o.mode == M_IDLE) return;
    } else if (g.phase == P_MEASURE && t - g.phase_at >= (uint64_t)(o.seconds * 1e9)) {
        if (o.mode == M_IDLE) { g.phase = P_DONE; return; }
        sample_end();
        set_phase(P_DRAIN);
    } else if (g.phase == P_DRAIN) {
        int done = 0;
        if (o.mode == M_ECHO) {
            done = 1;
            for (i = 0; i < g.n; i++)
                if (g.c[i].state == ST_OPEN && g.c[i].rx_seq != g.c[i].tx_seq) { done = 0; break; }
        } else { /* every live receiver has everything that was sent */
            done = 1;
            for (i = 0; i < g.n; i++)
                if (g.c[i].state == ST_OPEN && (!g.c[i].started || g.c[i].expect < g.next_seq)) {
                    done = 0;
                    break;
                }
        }
        if (done || t - g.phase_at > (uint64_t)(o.drain_s * 1e9)) g.phase = P_DONE;
        return;
    }
    if (g.phase != P_WARMUP && g.phase != P_MEASURE) return;
    if (o.mode == M_FANOUT || o.mode == M_RATE) {
        if (pub->state != ST_OPEN) { fprintf(stderr, "wsbench: publisher closed\n"); g.phase = P_DONE; return; }
        fan_advance();
        if (o.mode == M_FANOUT) {
            while (g.next_seq - g.oldest < (uint64_t)o.inflight) pub_send(pub, g.next_seq++);
        } else {
            uint64_t due = (uint64_t)((double)(t - g.rate_start) * o.rate / 1e9) + 1;
            while (g.rate_sent < due) {
                if (g.next_seq - g.oldest >= g.ring) { /* receivers far behind: skip */
                    if (measuring()) g.m_behind++;
                } else pub_send(pub, g.next_seq++);
                g.rate_sent++;
            }
        }
        conn_flush(pub);
        if (g.oldest < g.next_seq && now_ns() > g.last_progress + 10000000000ull) {
            fprintf(stderr, "wsbench: no progress for 10 s (message %llu incomplete)\n",
                    (unsigned long long)g.oldest);
            g.stalled = 1;
            if (g.phase == P_MEASURE) sample_end();
            g.phase = P_DONE;
        }
    }
}

/* ------------------------------------------------------------------ get ------------ */
static int do_get(const char *s) {
    url u;
    int fd;
    char req[512], buf[65536];
    ssize_t r;
    size_t n = 0;
    char *body;
    if (parse_url(s, &u, "http://") < 0) die("bad URL %s", s);
    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&u.sa, sizeof u.sa) < 0) return 1;
    snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: %s:%d\r\nConnection: close\r\n\r\n", u.path,
             u.host, u.port);
    if (write(fd, req, strlen(req)) < 0) return 1;
    while (n < sizeof buf - 1 && (r = read(fd, buf + n, sizeof buf - 1 - n)) > 0) n += (size_t)r;
    close(fd);
    buf[n] = '\0';
    body = strstr(buf, "\r\n\r\n");
    if (!body) return 1;
    printf("%s\n", body + 4);
    return strncmp(buf, "HTTP/1.1 200", 12) == 0 ? 0 : 1;
}

/* N distinct free ports on 127.0.0.1 (all held open while choosing), one per line */
static int do_freeport(int n) {
    int fds[64], i;
    if (n < 1 || n > 64) return 2;
    for (i = 0; i < n; i++) {
        struct sockaddr_in sa;
        socklen_t sl = sizeof sa;
        memset(&sa, 0, sizeof sa);
        sa.sin_family = AF_INET;
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        fds[i] = socket(AF_INET, SOCK_STREAM, 0);
        if (fds[i] < 0 || bind(fds[i], (struct sockaddr *)&sa, sizeof sa) < 0 ||
            getsockname(fds[i], (struct sockaddr *)&sa, &sl) < 0)
            return 1;
        printf("%d\n", ntohs(sa.sin_port));
    }
    for (i = 0; i < n; i++) close(fds[i]);
    return 0;
}

/* ------------------------------------------------------------------ main ----------- */
static void usage(void) {
    fprintf(stderr,
            "usage: wsbench echo   --url ws://H:P/echo --conns N --inflight K [--size B]\n"
            "       wsbench fanout --url ws://H:P/ws [--url ...] --subs N --inflight W [--done all|pub]\n"
            "       wsbench rate   --url ws://H:P/ws [--url ...] --subs N --rate MSGS_PER_S\n"
            "       wsbench idle   --url ws://H:P/echo --conns N\n"
            "       wsbench get    http://H:P/path\n"
            "       wsbench freeport N        (N free ports on 127.0.0.1)\n"
            "common: --seconds S [10] --warmup S [1] --server-pid PID (repeat) --signal-pid PID\n"
            "        --connect-concurrency N [64]\n");
    exit(2);
}

int main(int argc, char **argv) {
    int i, total, maxfd;
    struct rlimit rl;
    struct epoll_event evs[MAXEV];
    double cpu = 0, secs, ccpu;
    if (argc < 2) usage();
    signal(SIGPIPE, SIG_IGN);
    if (strcmp(argv[1], "get") == 0) return argc == 3 ? do_get(argv[2]) : 2;
    if (strcmp(argv[1], "freeport") == 0) return argc == 3 ? do_freeport(atoi(argv[2])) : 2;
    if (strcmp(argv[1], "echo") == 0) o.mode = M_ECHO;
    else if (strcmp(argv[1], "fanout") == 0) o.mode = M_FANOUT;
    else if (strcmp(argv[1], "rate") == 0) o.mode = M_RATE;
    else if (strcmp(argv[1], "idle") == 0) o.mode = M_IDLE;
    else usage();
    o.conns = 100; o.inflight = 1; o.size = 32; o.seconds = 10; o.warmup = 1; o.rate = 1000;
    o.concurrency = 64; o.drain_s = 3;
    for (i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) usage();
        i++;
        if (strcmp(a, "--url") == 0) {
            if (o.nurls == MAX_URLS || parse_url(v, &o.urls[o.nurls++], "ws://") < 0) die("bad --url %s", v);
        } else if (strcmp(a, "--conns") == 0 || strcmp(a, "--subs") == 0) o.conns = atoi(v);
        else if (strcmp(a, "--inflight") == 0) o.inflight = atoi(v);
        else if (strcmp(a, "--size") == 0) o.size = atoi(v);
        else if (strcmp(a, "--seconds") == 0) o.seconds = atof(v);
        else if (strcmp(a, "--warmup") == 0) o.warmup = atof(v);
        else if (strcmp(a, "--rate") == 0) o.rate = atof(v);
        else if (strcmp(a, "--drain") == 0) o.drain_s = atof(v);
        else if (strcmp(a, "--server-pid") == 0) {
            if (o.npids == MAX_PIDS) die("too many --server-pid%s", "");
            o.pids[o.npids++] = atoi(v);
        } else if (strcmp(a, "--signal-pid") == 0) o.signal_pid = atoi(v);
        else if (strcmp(a, "--connect-concurrency") == 0) o.concurrency = atoi(v);
        else if (strcmp(a, "--done") == 0) o.done_pub = strcmp(v, "pub") == 0;
        else die("unknown option %s", a);
    }
    if (!o.nurls) die("--url is required%s", "");
    if (o.size < MIN_SIZE) die("--size must be at least 32%s", "");
    if (o.conns < 1 || o.inflight < 1 || o.seconds <= 0 || o.rate <= 0 || o.concurrency < 1) usage();
    rng_seed();

    total = o.conns + ((o.mode == M_FANOUT || o.mode == M_RATE) ? 1 : 0);
    maxfd = total + 64;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)maxfd) {
        rl.rlim_cur = (rlim_t)maxfd;
        if (rl.rlim_max < rl.rlim_cur) rl.rlim_max = rl.rlim_cur;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
            getrlimit(RLIMIT_NOFILE, &rl);
            rl.rlim_cur = rl.rlim_max;
            setrlimit(RLIMIT_NOFILE, &rl);
            if (rl.rlim_cur < (rlim_t)maxfd) die("RLIMIT_NOFILE too low for the connections%s", "");
        }
    }
    g.ep = epoll_create1(EPOLL_CLOEXEC);
    g.n = total;
    g.c = (conn *)calloc((size_t)total, sizeof *g.c);
    if (!g.c || g.ep < 0) return 1;
    if (o.mode == M_FANOUT || o.mode == M_RATE) {
        uint64_t w = o.mode == M_RATE ? 65536 : (uint64_t)o.inflight;
        g.ring = 1;
        while (g.ring < w) g.ring <<= 1;
        g.left = (uint32_t *)calloc((size_t)g.ring, sizeof *g.left);
        if (!g.left) return 1;
    }
    for (i = 0; i < total; i++) {
        conn *c = &g.c[i];
        c->fd = -1;
        c->state = ST_WAIT;
        if (o.mode == M_ECHO) { c->role = R_ECHO; c->url_i = i % o.nurls; }
        else if (o.mode == M_IDLE) { c->role = R_IDLE; c->url_i = i % o.nurls; }
        else if (i == 0) { c->role = R_PUB; c->url_i = 0; }
        else { c->role = R_SUB; c->url_i = (i - 1) % o.nurls; }
    }
    g.t0 = now_ns();
    {
        long rss_before = o.npids ? proc_rss_kb(o.pids[0]) : -1, rss_open = -1, rss_after = -1;
        double open_s = 0;
        set_phase(P_CONNECT);
        while (g.phase != P_DONE) {
            int n, timeout = (o.mode == M_RATE || g.phase == P_CONNECT || g.phase == P_SYNC) ? 1 : 5;
            if (o.mode == M_IDLE && g.phase == P_MEASURE) {
                if (rss_open < 0) {
                    open_s = (double)(g.phase_at - g.t0) / 1e9;
                    rss_open = o.npids ? proc_rss_kb(o.pids[0]) : -1;
                    printf("ready %d\n", g.open);
                    fflush(stdout);
                }
                timeout = 100;
                if (now_ns() - g.phase_at >= (uint64_t)(o.seconds * 1e9)) {
                    rss_after = o.npids ? proc_rss_kb(o.pids[0]) : -1;
                    g.phase = P_DONE;
                    break;
                }
            }
            n = epoll_wait(g.ep, evs, MAXEV, timeout);
            for (i = 0; i < n; i++) {
                conn *c = (conn *)evs[i].data.ptr;
                uint32_t e = evs[i].events;
                if (c->state == ST_CONNECTING) {
                    if (e & (EPOLLOUT | EPOLLERR | EPOLLHUP)) conn_connected(c);
                    continue;
                }
                if (c->state == ST_DEAD || c->state == ST_WAIT) continue;
                if (e & (EPOLLIN | EPOLLHUP | EPOLLERR)) conn_read(c);
                if (c->state != ST_DEAD && c->state != ST_WAIT && (e & EPOLLOUT)) conn_flush(c);
            }
            tick();
        }
        for (i = 0; i < g.n; i++) { /* a close frame (1000) on every open connection */
            static const unsigned char bye[2] = {0x03, 0xe8};
            if (g.c[i].state != ST_OPEN) continue;
            g.c[i].outlen = 0;
            conn_frame(&g.c[i], 0x8, bye, 2);
            if (send(g.c[i].fd, g.c[i].out, g.c[i].outlen, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) { /* gone */ }
        }
        if (o.mode == M_IDLE) {
            double per = -1;
            if (rss_after < 0 && o.npids) rss_after = proc_rss_kb(o.pids[0]);
            if (rss_before >= 0 && rss_after >= 0 && g.open > 0)
                per = (double)(rss_after - rss_before) / (double)g.open;
            fprintf(stderr, "wsbench idle: %d open in %.2f s; server RSS %ld KiB before, %ld KiB open, "
                    "%ld KiB after %.1f s; %.2f KiB per connection\n", g.open, open_s, rss_before,
                    rss_open, rss_after, o.seconds, per);
            printf("RESULT mode=idle conns=%d open=%d failed=%d open_s=%.3f rss_before_kb=%ld "
                   "rss_open_kb=%ld rss_after_kb=%ld kb_per_conn=%.3f closed=%llu refused=%llu\n",
                   o.conns, g.open, g.dead, open_s, rss_before, rss_open, rss_after, per,
                   (unsigned long long)g.closed_by_server, (unsigned long long)g.refused);
            return g.open == o.conns ? 0 : 1;
        }
    }
    if (!g.measure_end) {
        printf("RESULT mode=%s failed=1 open=%d conn_fail=%llu refused=%llu stalled=%d\n", argv[1],
               g.open, (unsigned long long)g.conn_fail, (unsigned long long)g.refused, g.stalled);
        return 1;
    }
    /* tail loss: what every live receiver still lacks after the drain */
    if (o.mode != M_ECHO)
        for (i = 0; i < g.n; i++) {
            conn *c = &g.c[i];
            if (c->state == ST_OPEN && c->started && c->expect < g.next_seq) g.lost += g.next_seq - c->expect;
        }
    secs = (double)(g.measure_end - g.measure_start) / 1e9;
    for (i = 0; i < o.npids; i++)
        if (g.cpu0[i] >= 0 && g.cpu1[i] >= 0) cpu += g.cpu1[i] - g.cpu0[i];
        else cpu = -1e9;
    if (cpu < 0) cpu = -1;
    ccpu = tv_s(g.ru1.ru_utime) + tv_s(g.ru1.ru_stime) - tv_s(g.ru0.ru_utime) - tv_s(g.ru0.ru_stime);
    if (o.mode == M_ECHO) {
        double rate = (double)g.m_ops / secs;
        fprintf(stderr, "wsbench echo: %d conns x %d in flight: %.0f round trips/s, RTT p50 %.1f us "
                "p99 %.1f us; server CPU %.3f s = %.2f us per round trip; client CPU %.0f%%\n",
                o.conns, o.inflight, rate, hist_pct_us(&g.lat, .5), hist_pct_us(&g.lat, .99), cpu,
                cpu >= 0 && g.m_ops ? cpu * 1e6 / (double)g.m_ops : -1, 100 * ccpu / secs);
        printf("RESULT mode=echo conns=%d inflight=%d seconds=%.3f ops=%llu rate=%.1f cpu_s=%.3f "
               "cpu_us_per_op=%.4f p50_us=%.1f p99_us=%.1f max_us=%.1f client_cpu_pct=%.0f "
               "ooo=%llu corrupt=%llu proto=%llu closed=%llu\n",
               o.conns, o.inflight, secs, (unsigned long long)g.m_ops, rate, cpu,
               cpu >= 0 && g.m_ops ? cpu * 1e6 / (double)g.m_ops : -1, hist_pct_us(&g.lat, .5),
               hist_pct_us(&g.lat, .99), (double)g.lat.max / 1000.0, 100 * ccpu / secs,
               (unsigned long long)g.ooo, (unsigned long long)g.corrupt, (unsigned long long)g.proto,
               (unsigned long long)g.closed_by_server);
    } else {
        double drate = (double)g.m_deliv / secs, mrate = (double)g.m_msgs / secs;
        double per = cpu >= 0 && g.m_deliv ? cpu * 1e9 / (double)g.m_deliv : -1;
        fprintf(stderr, "wsbench %s: %d subs over %d server(s): %.0f msg/s, %.0f deliveries/s, "
                "latency p50 %.1f us p99 %.1f us (remote p99 %.1f us); server CPU %.3f s = %.0f ns "
                "per delivery; lost %llu dup %llu out-of-order %llu; client CPU %.0f%%\n",
                argv[1], o.conns, o.nurls, mrate, drate, hist_pct_us(&g.lat, .5),
                hist_pct_us(&g.lat, .99), hist_pct_us(&g.lat_remote, .99), cpu, per,
                (unsigned long long)g.lost, (unsigned long long)g.dups, (unsigned long long)g.ooo,
                100 * ccpu / secs);
        printf("RESULT mode=%s subs=%d servers=%d inflight=%d rate_target=%.0f seconds=%.3f msgs=%llu "
               "deliveries=%llu msg_rate=%.1f deliv_rate=%.1f cpu_s=%.3f cpu_ns_per_delivery=%.1f "
               "p50_us=%.1f p99_us=%.1f max_us=%.1f remote_p50_us=%.1f remote_p99_us=%.1f "
               "lost=%llu dups=%llu ooo=%llu corrupt=%llu proto=%llu closed=%llu behind=%llu "
               "stalled=%d client_cpu_pct=%.0f done=%s\n",
               argv[1], o.conns, o.nurls, o.inflight, o.mode == M_RATE ? o.rate : 0, secs,
               (unsigned long long)g.m_msgs, (unsigned long long)g.m_deliv, mrate, drate, cpu, per,
               hist_pct_us(&g.lat, .5), hist_pct_us(&g.lat, .99), (double)g.lat.max / 1000.0,
               hist_pct_us(&g.lat_remote, .5), hist_pct_us(&g.lat_remote, .99),
               (unsigned long long)g.lost, (unsigned long long)g.dups, (unsigned long long)g.ooo,
               (unsigned long long)g.corrupt, (unsigned long long)g.proto,
               (unsigned long long)g.closed_by_server, (unsigned long long)g.m_behind, g.stalled,
               100 * ccpu / secs, o.done_pub ? "pub" : "all");
    }
    return g.stalled ? 1 : 0;
}
