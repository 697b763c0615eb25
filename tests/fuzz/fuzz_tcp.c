/* libFuzzer target: the length-prefixed TCP frame decoder. The input is decoded whole
   and again in pieces cut where the input says; both runs must report the same events,
   the same bytes and the same verdict (a streaming parser must not care how TCP splits). */
#define WSCLUSTER_IMPLEMENTATION
#include "../../wscluster.h"
#include <stdlib.h>

typedef struct sum { uint64_t h; size_t bytes, events; int last_kind; } sum;

static int cb(void *arg, const wsc_frame_ev *ev) {
    sum *s = (sum *)arg;
    size_t i;
    if (ev->len > (1u << 24)) abort();
    if (ev->kind != WSC_FR_DATA) s->h = s->h * 31 + (uint64_t)ev->kind * 7 + (uint64_t)ev->code;
    for (i = 0; i < ev->len; i++) s->h = s->h * 131 + ev->data[i];
    if (ev->kind != WSC_FR_DATA && ev->len > 125) abort();
    s->bytes += ev->len;
    s->events += ev->kind != WSC_FR_DATA || ev->last;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    wsc_tcp_decoder a, b;
    sum sa, sb;
    unsigned char *x, *y;
    size_t pos = 0, cut;
    int64_t ra, rb = 0;
    if (size < 2) return 0;
    memset(&a, 0, sizeof a);
    a.max_message = (data[0] & 2) ? 1000 : 0;
    cut = (size_t)data[1] % 17 + 1;
    data += 2;
    size -= 2;
    b = a;
    x = (unsigned char *)malloc(size + 1);
    y = (unsigned char *)malloc(size + 1);
    memcpy(x, data, size);
    memcpy(y, data, size);
    memset(&sa, 0, sizeof sa);
    memset(&sb, 0, sizeof sb);
    ra = wsc_tcp_decode(&a, x, size, cb, &sa);
    while (pos < size) {
        size_t n = size - pos < cut ? size - pos : cut;
        int64_t r = wsc_tcp_decode(&b, y + pos, n, cb, &sb);
        if (r < 0) { rb = r; break; }
        rb += r;
        pos += n;
        if (b.closed) break;
    }
    if ((ra < 0) != (rb < 0) || a.close_code != b.close_code) abort();
    if (ra >= 0 && (sa.h != sb.h || sa.bytes != sb.bytes || sa.events != sb.events)) abort();
    if (a.close_code && a.close_code != 1002 && a.close_code != 1007 && a.close_code != 1009)
        abort();
    free(x);
    free(y);
    return 0;
}
