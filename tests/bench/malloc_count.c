/* malloc_count.so: an LD_PRELOAD shim that counts heap calls of the process it is loaded
   into (tests/bench/run.sh runs build/wscluster-node under it during a fan-out run).

   Counts malloc, calloc, realloc, free and the aligned allocators, forwarding each to
   glibc's __libc_* entry points. Every SIGUSR1 appends one line with the running totals
   to the file named by $MALLOC_COUNT_FILE (the load generator sends SIGUSR1 at the start
   and at the end of its measured interval: `wsbench --signal-pid PID`), and so does exit:
     mark allocs=N frees=N bytes=N reallocs=N
   allocs counts every call that can allocate (malloc, calloc, realloc, memalign & co.).
   The difference of two lines is what the interval allocated. No stdio in the handler. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

static uint64_t n_alloc, n_free, n_bytes, n_realloc;
static int out_fd = -1;

#define ADD(v, x) __atomic_fetch_add(&(v), (x), __ATOMIC_RELAXED)

void *malloc(size_t n) { ADD(n_alloc, 1); ADD(n_bytes, n); return __libc_malloc(n); }
void *calloc(size_t a, size_t b) { ADD(n_alloc, 1); ADD(n_bytes, a * b); return __libc_calloc(a, b); }
void *realloc(void *p, size_t n) {
    ADD(n_alloc, 1);
    ADD(n_realloc, 1);
    ADD(n_bytes, n);
    return __libc_realloc(p, n);
}
void free(void *p) {
    if (p) ADD(n_free, 1);
    __libc_free(p);
}
void *memalign(size_t al, size_t n) { ADD(n_alloc, 1); ADD(n_bytes, n); return __libc_memalign(al, n); }
void *aligned_alloc(size_t al, size_t n) { return memalign(al, n); }
int posix_memalign(void **out, size_t al, size_t n) {
    void *p = memalign(al, n);
    if (!p) return ENOMEM;
    *out = p;
    return 0;
}
void *valloc(size_t n) { return memalign((size_t)sysconf(_SC_PAGESIZE), n); }

static char *put_u64(char *p, uint64_t v) {
    char tmp[24];
    int i = 0;
    do { tmp[i++] = (char)('0' + v % 10); v /= 10; } while (v);
    while (i) *p++ = tmp[--i];
    return p;
}
static void mark(void) {
    char line[160], *p = line;
    uint64_t a = __atomic_load_n(&n_alloc, __ATOMIC_RELAXED), f = __atomic_load_n(&n_free, __ATOMIC_RELAXED);
    uint64_t b = __atomic_load_n(&n_bytes, __ATOMIC_RELAXED), r = __atomic_load_n(&n_realloc, __ATOMIC_RELAXED);
    if (out_fd < 0) return;
    memcpy(p, "mark allocs=", 12); p = put_u64(p + 12, a);
    memcpy(p, " frees=", 7); p = put_u64(p + 7, f);
    memcpy(p, " bytes=", 7); p = put_u64(p + 7, b);
    memcpy(p, " reallocs=", 10); p = put_u64(p + 10, r);
    *p++ = '\n';
    if (write(out_fd, line, (size_t)(p - line)) < 0) { /* nothing to do */ }
}
static void on_usr1(int sig) {
    int e = errno;
    (void)sig;
    mark();
    errno = e;
}

__attribute__((constructor)) static void mc_init(void) {
    const char *f = getenv("MALLOC_COUNT_FILE");
    struct sigaction sa;
    if (!f || !*f) return;
    out_fd = open(f, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
}
__attribute__((destructor)) static void mc_fini(void) { mark(); }
