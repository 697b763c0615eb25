/* unit.c: the pure parts of wscluster.h, no sockets. Every parser is also fed one byte at a
   time and from the end of a guard page. */
#define WSCLUSTER_IMPLEMENTATION
#include "../wscluster.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static int g_pass, g_fail;
#define CHECK(cond)                                                                       \
    do {                                                                                  \
        if (cond) g_pass++;                                                               \
        else { g_fail++; fprintf(stderr, "%s:%d: FAILED: %s\n", __FILE__, __LINE__, #cond); } \
    } while (0)

/* ---- helpers: collect decoder events ---- */
typedef struct rec {
    int n, kinds[64], ops[64], codes[64], firsts[64], lasts[64];
    unsigned char msg[1 << 16];
    size_t msglen, lens[64];
} rec;

static int rec_cb(void *arg, const wsc_frame_ev *ev) {
    rec *r = (rec *)arg;
    if (r->n < 64) {
        r->kinds[r->n] = ev->kind;
        r->ops[r->n] = ev->opcode;
        r->codes[r->n] = ev->code;
        r->firsts[r->n] = ev->first;
        r->lasts[r->n] = ev->last;
        r->lens[r->n] = ev->len;
    }
    if (ev->kind == WSC_FR_DATA && r->msglen + ev->len <= sizeof r->msg) {
        memcpy(r->msg + r->msglen, ev->data, ev->len);
        r->msglen += ev->len;
    }
    r->n++;
    return 0;
}

/* build a frame: masked if mask != 0 */
static size_t frame(unsigned char *out, int b0, const void *payload, size_t len, int mask) {
    static const unsigned char key[4] = {0x37, 0xfa, 0x21, 0x3d};
    size_t h = wsc_ws_header(out, b0 & 0x0f, 0, len, mask ? key : NULL), i;
    out[0] = (unsigned char)b0;
    memcpy(out + h, payload, len);
    if (mask) for (i = 0; i < len; i++) out[h + i] ^= key[i & 3];
    return h + len;
}

/* decode all at once, then again one byte at a time: both must agree */
static int64_t ws_run(int server, uint64_t max, unsigned char *buf, size_t len, rec *r,
                      int *code) {
    wsc_ws_decoder d, d1;
    rec r1;
    unsigned char *copy = (unsigned char *)malloc(len + 1);
    int64_t n, n1 = 0;
    size_t i;
    memcpy(copy, buf, len);
    memset(&d, 0, sizeof d);
    d.expect_mask = (unsigned char)server;
    d.max_message = max;
    memset(r, 0, sizeof *r);
    n = wsc_ws_decode(&d, buf, len, rec_cb, r);
    *code = d.close_code;
    memset(&d1, 0, sizeof d1);
    d1.expect_mask = (unsigned char)server;
    d1.max_message = max;
    memset(&r1, 0, sizeof r1);
    for (i = 0; i < len; i++) {
        int64_t k = wsc_ws_decode(&d1, copy + i, 1, rec_cb, &r1);
        if (k < 0) { n1 = k; break; }
        n1 += k;
        if (d1.closed) break;
    }
    if (n >= 0 && n1 >= 0) CHECK(r1.msglen == r->msglen && memcmp(r1.msg, r->msg, r->msglen) == 0);
    CHECK(d1.close_code == d.close_code);
    free(copy);
    return n;
}

static void hex32(const unsigned char *d, char *hex) {
    int j;
    for (j = 0; j < 32; j++) snprintf(hex + 2 * j, 3, "%02x", d[j]);
}

/* FIPS 180-4 examples, the padding boundaries (55/56/63/64/119/120 bytes), and RFC 4231 test
   cases 1-4, 6 and 7 (6, 7: a key longer than the block) */
static void test_sha256_hmac(void) {
    unsigned char d[32], key[131], data[50];
    char hex[65];
    int i;
    static const struct { const char *in, *hex; } v[] = {
        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
    };
    static const struct { size_t n; const char *hex; } edge[] = {
        {55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"},
        {56, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"},
        {63, "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34"},
        {64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"},
        {119, "31eba51c313a5c08226adf18d4a359cfdfd8d2e816b13f4af952f7ea6584dcfb"},
        {120, "2f3d335432c70b580af0e8e1b3674a7c020d683aa5f73aaaedfdc55af904c21c"},
    };
    for (i = 0; i < 3; i++) {
        wsc_sha256(v[i].in, strlen(v[i].in), d);
        hex32(d, hex);
        CHECK(strcmp(hex, v[i].hex) == 0);
    }
    { /* a million 'a' crosses many blocks */
        char *m = (char *)malloc(1000000);
        memset(m, 'a', 1000000);
        wsc_sha256(m, 1000000, d);
        hex32(d, hex);
        CHECK(strcmp(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0") == 0);
        for (i = 0; i < 6; i++) {
            wsc_sha256(m, edge[i].n, d);
            hex32(d, hex);
            CHECK(strcmp(hex, edge[i].hex) == 0);
        }
        free(m);
    }
    /* RFC 4231 */
    memset(key, 0x0b, 20);
    wsc_hmac_sha256(key, 20, "Hi There", 8, d);
    hex32(d, hex);
    CHECK(strcmp(hex, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7") == 0);
    wsc_hmac_sha256("Jefe", 4, "what do ya want for nothing?", 28, d);
    hex32(d, hex);
    CHECK(strcmp(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843") == 0);
    memset(key, 0xaa, 20);
    memset(data, 0xdd, 50);
    wsc_hmac_sha256(key, 20, data, 50, d);
    hex32(d, hex);
    CHECK(strcmp(hex, "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe") == 0);
    for (i = 0; i < 25; i++) key[i] = (unsigned char)(i + 1);
    memset(data, 0xcd, 50);
    wsc_hmac_sha256(key, 25, data, 50, d);
    hex32(d, hex);
    CHECK(strcmp(hex, "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b") == 0);
    memset(key, 0xaa, 131);
    wsc_hmac_sha256(key, 131, "Test Using Larger Than Block-Size Key - Hash Key First", 54, d);
    hex32(d, hex);
    CHECK(strcmp(hex, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54") == 0);
    {
        static const char t7[] = "This is a test using a larger than block-size key and a larger "
                                 "than block-size data. The key needs to be hashed before being "
                                 "used by the HMAC algorithm.";
        wsc_hmac_sha256(key, 131, t7, sizeof t7 - 1, d);
        hex32(d, hex);
        CHECK(strcmp(hex, "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2") == 0);
    }
}

static void test_sha1_base64(void) {
    unsigned char d[20];
    char hex[41], b[64];
    unsigned char raw[32];
    int i;
    static const struct { const char *in, *hex; } v[] = {
        {"", "da39a3ee5e6b4b0d3255bfef95601890afd80709"},
        {"abc", "a9993e364706816aba3e25717850c26c9cd0d89d"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "84983e441c3bd26ebaae4aa1f95129e5e54670f1"},
    };
    for (i = 0; i < 3; i++) {
        int j;
        wsc_sha1(v[i].in, strlen(v[i].in), d);
        for (j = 0; j < 20; j++) snprintf(hex + 2 * j, 3, "%02x", d[j]);
        CHECK(strcmp(hex, v[i].hex) == 0);
    }
    { /* a million 'a' crosses many blocks */
        char *m = (char *)malloc(1000000);
        int j;
        memset(m, 'a', 1000000);
        wsc_sha1(m, 1000000, d);
        for (j = 0; j < 20; j++) snprintf(hex + 2 * j, 3, "%02x", d[j]);
        CHECK(strcmp(hex, "34aa973cd4c4daa4f61eeb2bdbad27316534016f") == 0);
        free(m);
    }
    test_sha256_hmac();
    /* RFC 4648 vectors */
    CHECK(wsc_base64_encode("", 0, b) == 0 && strcmp(b, "") == 0);
    CHECK(wsc_base64_encode("f", 1, b) == 4 && strcmp(b, "Zg==") == 0);
    CHECK(wsc_base64_encode("fo", 2, b) == 4 && strcmp(b, "Zm8=") == 0);
    CHECK(wsc_base64_encode("foo", 3, b) == 4 && strcmp(b, "Zm9v") == 0);
    CHECK(wsc_base64_encode("foobar", 6, b) == 8 && strcmp(b, "Zm9vYmFy") == 0);
    CHECK(wsc_base64_decode("Zm9vYmE=", 8, raw, sizeof raw) == 5 && memcmp(raw, "fooba", 5) == 0);
    CHECK(wsc_base64_decode("Zm9vYg==", 8, raw, sizeof raw) == 4);
    CHECK(wsc_base64_decode("Zm9vY", 5, raw, sizeof raw) == WSC_ERR_PROTO);
    CHECK(wsc_base64_decode("Zm=vYg==", 8, raw, sizeof raw) == WSC_ERR_PROTO);
    CHECK(wsc_base64_decode("Zm9v!g==", 8, raw, sizeof raw) == WSC_ERR_PROTO);
    CHECK(wsc_base64_decode("Zm9vYmFy", 8, raw, 5) == WSC_ERR_TOOBIG);
    /* RFC 6455 section 1.3 example */
    wsc_ws_accept("dGhlIHNhbXBsZSBub25jZQ==", 24, b);
    CHECK(strcmp(b, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") == 0);
}

static int utf8_ok(const char *s, size_t n) {
    uint32_t st = 0;
    return wsc_utf8_check(&st, (const unsigned char *)s, n) == 0 && st == 0;
}

static void test_utf8(void) {
    static const char good[] = "Hello-\xc2\xb5@\xc3\x9f\xc3\xb6\xc3\xa4\xc3\xbc\xc3\xa0\xc3\xa1-"
                               "UTF-8!! \xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5 "
                               "\xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf \xef\xbf\xbf";
    uint32_t st = 0;
    size_t i;
    CHECK(utf8_ok(good, sizeof good - 1));
    CHECK(!utf8_ok("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80" "edited", 20)); /* surrogate */
    CHECK(!utf8_ok("\xc0\xaf", 2));          /* overlong */
    CHECK(!utf8_ok("\xe0\x80\xaf", 3));      /* overlong */
    CHECK(!utf8_ok("\xf0\x80\x80\xaf", 4));  /* overlong */
    CHECK(!utf8_ok("\xf4\x90\x80\x80", 4));  /* > U+10FFFF */
    CHECK(!utf8_ok("\xf5\x80\x80\x80", 4));
    CHECK(!utf8_ok("\xff", 1));
    CHECK(!utf8_ok("\x80", 1));              /* lone continuation */
    CHECK(!utf8_ok("\xe2\x82", 2));          /* truncated: state non-zero */
    CHECK(utf8_ok("0123456789abcdef0123456789", 26)); /* fast path */
    CHECK(!utf8_ok("0123456789abcdef\xff" "0123456789", 27));
    /* incremental across arbitrary splits */
    for (i = 0; i < sizeof good - 1; i++) {
        st = 0;
        CHECK(wsc_utf8_check(&st, (const unsigned char *)good, i) == 0);
        CHECK(wsc_utf8_check(&st, (const unsigned char *)good + i, sizeof good - 1 - i) == 0);
        CHECK(st == 0);
    }
    /* fail fast: the invalid byte is seen in the first chunk */
    st = 0;
    CHECK(wsc_utf8_check(&st, (const unsigned char *)"\xce\xba\xf4\x90", 4) < 0);
}

static void test_ws(void) {
    unsigned char buf[1 << 17], big[70000];
    rec r;
    int code;
    size_t n;
    int64_t k;
    /* single masked text frame, server side */
    n = frame(buf, 0x81, "Hello", 5, 1);
    k = ws_run(1, 0, buf, n, &r, &code);
    CHECK(k == (int64_t)n && r.n == 1 && r.kinds[0] == WSC_FR_DATA && r.ops[0] == WSC_TEXT &&
          r.firsts[0] && r.lasts[0] && r.msglen == 5 && memcmp(r.msg, "Hello", 5) == 0);
    /* RFC 6455 5.7 examples: unmasked "Hello" to a client; fragmented; ping */
    {
        unsigned char a[] = {0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f};
        unsigned char b[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
        unsigned char c[] = {0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f};
        unsigned char p[] = {0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f};
        CHECK(ws_run(0, 0, a, sizeof a, &r, &code) == 7 && r.msglen == 5);
        CHECK(ws_run(1, 0, b, sizeof b, &r, &code) == 11 && memcmp(r.msg, "Hello", 5) == 0);
        CHECK(ws_run(0, 0, c, sizeof c, &r, &code) == 9 && r.n == 2 && r.firsts[0] &&
              !r.lasts[0] && !r.firsts[1] && r.lasts[1] && memcmp(r.msg, "Hello", 5) == 0);
        CHECK(ws_run(0, 0, p, sizeof p, &r, &code) == 7 && r.kinds[0] == WSC_FR_PING &&
              r.lens[0] == 5);
    }
    /* masking rules per role */
    n = frame(buf, 0x81, "Hi", 2, 0);
    CHECK(ws_run(1, 0, buf, n, &r, &code) == WSC_ERR_PROTO && code == 1002);
    n = frame(buf, 0x81, "Hi", 2, 1);
    CHECK(ws_run(0, 0, buf, n, &r, &code) == WSC_ERR_PROTO && code == 1002);
    /* RSV bits, unknown opcodes (data 3-7, control B-F) */
    n = frame(buf, 0xC1, "Hi", 2, 1);
    CHECK(ws_run(1, 0, buf, n, &r, &code) < 0 && code == 1002);
    n = frame(buf, 0x83, "Hi", 2, 1);
    CHECK(ws_run(1, 0, buf, n, &r, &code) < 0 && code == 1002);
    n = frame(buf, 0x8B, "", 0, 1);
    CHECK(ws_run(1, 0, buf, n, &r, &code) < 0 && code == 1002);
    /* control frames: <= 125 bytes, never fragmented */
    memset(big, 'x', sizeof big);
    n = frame(buf, 0x89, big, 126, 1);
    CHECK(ws_run(1, 0, buf, n, &r, &code) < 0 && code == 1002);
    n = frame(buf, 0x89, big, 125, 1);
    CHECK(ws_run(1, 0, buf, n, &r, &code) == (int64_t)n && r.kinds[0] == WSC_FR_PING && r.lens[0] == 125);
    n = frame(buf, 0x09, "", 0, 1);
    CHECK(ws_run(1, 0, buf, n, &r, &code) < 0 && code == 1002);
    /* fragmentation with an interleaved ping; continuation without a start; a new message
       inside a fragmented one */
    n = frame(buf, 0x01, "fra", 3, 1);
    n += frame(buf + n, 0x89, "p", 1, 1);
    n += frame(buf + n, 0x00, "gme", 3, 1);
    n += frame(buf + n, 0x80, "nts", 3, 1);
    CHECK(ws_run(1, 0, buf, n, &r, &code) == (int64_t)n && r.msglen == 9 &&
          memcmp(r.msg, "fragments", 9) == 0 && r.kinds[1] == WSC_FR_PING);
    n = frame(buf, 0x80, "x", 1, 1);
    CHECK(ws_run(1, 0, buf, n, &r, &code) < 0 && code == 1002);
    n = frame(buf, 0x01, "x", 1, 1);
    n += frame(buf + n, 0x81, "y", 1, 1);
    CHECK(ws_run(1, 0, buf, n, &r, &code) < 0 && code == 1002);
    /* empty fragments and empty messages */
    n = frame(buf, 0x01, "", 0, 1);
    n += frame(buf + n, 0x00, "", 0, 1);
    n += frame(buf + n, 0x80, "", 0, 1);
    CHECK(ws_run(1, 0, buf, n, &r, &code) == (int64_t)n && r.n == 1 && r.firsts[0] && r.lasts[0]);
    /* 16- and 64-bit lengths; non-minimal lengths are accepted */
    n = frame(buf, 0x82, big, 126, 1);
    CHECK(buf[1] == (0x80 | 126) && ws_run(1, 0, buf, n, &r, &code) == (int64_t)n && r.msglen == 126);
    n = frame(buf, 0x82, big, 65536, 1);
    CHECK(buf[1] == (0x80 | 127) && ws_run(1, 0, buf, n, &r, &code) == (int64_t)n && r.msglen == 65536);
    {
        unsigned char nm[] = {0x82, 0xFF, 0, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3, 4, 'a', 'b', 'c'};
        unsigned char top[] = {0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4, 'a'};
        CHECK(ws_run(1, 0, nm, sizeof nm, &r, &code) == (int64_t)sizeof nm && r.msglen == 3);
        CHECK(ws_run(1, 0, top, sizeof top, &r, &code) < 0 && code == 1002);
    }
    /* max_message, across fragments => 1009 */
    n = frame(buf, 0x82, big, 100, 1);
    CHECK(ws_run(1, 99, buf, n, &r, &code) == WSC_ERR_TOOBIG && code == 1009);
    CHECK(ws_run(1, 100, buf, n, &r, &code) == (int64_t)n);
    n = frame(buf, 0x02, big, 60, 1);
    n += frame(buf + n, 0x80, big, 60, 1);
    CHECK(ws_run(1, 100, buf, n, &r, &code) == WSC_ERR_TOOBIG && code == 1009);
    /* UTF-8 validated across fragments, failing fast */
    n = frame(buf, 0x01, "\xce\xba\xe1", 3, 1);
    n += frame(buf + n, 0x80, "\xbd\xb9", 2, 1);
    CHECK(ws_run(1, 0, buf, n, &r, &code) == (int64_t)n && r.msglen == 5);
    n = frame(buf, 0x01, "\xce\xba\xf4\x90", 4, 1);
    n += frame(buf + n, 0x80, "ok", 2, 1);
    CHECK(ws_run(1, 0, buf, n, &r, &code) == WSC_ERR_UTF8 && code == 1007 && r.n == 0);
    n = frame(buf, 0x81, "\xe2\x82", 2, 1);
    CHECK(ws_run(1, 0, buf, n, &r, &code) == WSC_ERR_UTF8 && code == 1007);
    n = frame(buf, 0x82, "\xff\xfe", 2, 1); /* binary is not checked */
    CHECK(ws_run(1, 0, buf, n, &r, &code) == (int64_t)n);
    /* close: empty => 1005; codes; 1-byte payload; reason UTF-8; stops the stream */
    n = frame(buf, 0x88, "", 0, 1);
    CHECK(ws_run(1, 0, buf, n, &r, &code) == (int64_t)n && r.kinds[0] == WSC_FR_CLOSE && r.codes[0] == 1005);
    {
        static const int ok[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 4999};
        static const int bad[] = {0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535};
        unsigned char pl[8];
        size_t i;
        for (i = 0; i < sizeof ok / sizeof ok[0]; i++) {
            pl[0] = (unsigned char)(ok[i] >> 8); pl[1] = (unsigned char)ok[i];
            n = frame(buf, 0x88, pl, 2, 1);
            CHECK(ws_run(1, 0, buf, n, &r, &code) == (int64_t)n && r.codes[0] == ok[i]);
        }
        for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            pl[0] = (unsigned char)(bad[i] >> 8); pl[1] = (unsigned char)bad[i];
            n = frame(buf, 0x88, pl, 2, 1);
            CHECK(ws_run(1, 0, buf, n, &r, &code) < 0 && code == 1002);
        }
        n = frame(buf, 0x88, "\x03", 1, 1);
        CHECK(ws_run(1, 0, buf, n, &r, &code) < 0 && code == 1002);
        n = frame(buf, 0x88, "\x03\xe8\xff", 3, 1);
        CHECK(ws_run(1, 0, buf, n, &r, &code) == WSC_ERR_UTF8 && code == 1007);
        n = frame(buf, 0x88, "\x03\xe8" "bye", 5, 1);
        n += frame(buf + n, 0x81, "after", 5, 1);
        k = ws_run(1, 0, buf, n, &r, &code);
        CHECK(k > 0 && (size_t)k < n && r.n == 1 && r.codes[0] == 1000 && r.lens[0] == 3);
    }
    /* an error is sticky */
    {
        wsc_ws_decoder d;
        unsigned char bad[] = {0x81, 0x02, 'h', 'i'};
        unsigned char good[] = {0x81, 0x82, 0, 0, 0, 0, 'h', 'i'};
        memset(&d, 0, sizeof d);
        d.expect_mask = 1;
        memset(&r, 0, sizeof r);
        CHECK(wsc_ws_decode(&d, bad, sizeof bad, rec_cb, &r) < 0 && d.error != NULL);
        CHECK(wsc_ws_decode(&d, good, sizeof good, rec_cb, &r) < 0 && r.n == 0);
    }
    /* the encoder uses minimal lengths */
    {
        unsigned char h[14];
        CHECK(wsc_ws_header(h, WSC_TEXT, 1, 125, NULL) == 2 && h[0] == 0x81 && h[1] == 125);
        CHECK(wsc_ws_header(h, WSC_TEXT, 1, 126, NULL) == 4 && h[1] == 126);
        CHECK(wsc_ws_header(h, WSC_TEXT, 1, 65535, NULL) == 4);
        CHECK(wsc_ws_header(h, WSC_BINARY, 1, 65536, NULL) == 10 && h[1] == 127);
        CHECK(wsc_ws_header(h, WSC_BINARY, 0, 1, (const unsigned char *)"abcd") == 6 && h[1] == 0x81 && h[0] == 0x02);
    }
}

static size_t tframe(unsigned char *out, int type, const void *p, uint32_t len) {
    wsc_tcp_header(out, type, len);
    memcpy(out + 5, p, len);
    return 5 + len;
}

static int64_t tcp_run(uint64_t max, unsigned char *buf, size_t len, rec *r, int *code) {
    wsc_tcp_decoder d, d1;
    rec r1;
    int64_t n;
    size_t i;
    memset(&d, 0, sizeof d);
    d.max_message = max;
    memset(r, 0, sizeof *r);
    n = wsc_tcp_decode(&d, buf, len, rec_cb, r);
    *code = d.close_code;
    memset(&d1, 0, sizeof d1);
    d1.max_message = max;
    memset(&r1, 0, sizeof r1);
    for (i = 0; i < len && !d1.closed; i++)
        if (wsc_tcp_decode(&d1, buf + i, 1, rec_cb, &r1) < 0) break;
    CHECK(d1.close_code == d.close_code);
    if (n >= 0) CHECK(r1.msglen == r->msglen && memcmp(r1.msg, r->msg, r->msglen) == 0);
    return n;
}

static void test_tcp(void) {
    unsigned char buf[4096];
    rec r;
    int code;
    size_t n;
    n = tframe(buf, 1, "hello", 5);
    n += tframe(buf + n, 9, "pp", 2);
    n += tframe(buf + n, 2, "\0\1\2", 3);
    n += tframe(buf + n, 1, "", 0);
    CHECK(tcp_run(0, buf, n, &r, &code) == (int64_t)n && r.n == 4 && r.kinds[1] == WSC_FR_PING &&
          r.ops[2] == WSC_BINARY && r.msglen == 8 && r.firsts[3] && r.lasts[3]);
    n = tframe(buf, 3, "x", 1);
    CHECK(tcp_run(0, buf, n, &r, &code) < 0 && code == 1002);
    n = tframe(buf, 1, "\xff", 1);
    CHECK(tcp_run(0, buf, n, &r, &code) == WSC_ERR_UTF8 && code == 1007);
    n = tframe(buf, 2, "0123456789", 10);
    CHECK(tcp_run(9, buf, n, &r, &code) == WSC_ERR_TOOBIG && code == 1009);
    wsc_tcp_header(buf, 2, 0xffffffffu);
    CHECK(tcp_run(1 << 20, buf, 5, &r, &code) == WSC_ERR_TOOBIG);
    memset(buf + 1000, 0x41, 200);
    n = tframe(buf, 9, buf + 1000, 126);
    CHECK(tcp_run(0, buf, n, &r, &code) < 0 && code == 1002);
    n = tframe(buf, 8, "\x03\xe9" "gone", 6);
    n += tframe(buf + n, 1, "late", 4);
    CHECK(tcp_run(0, buf, n, &r, &code) == 11 && r.n == 1 && r.codes[0] == 1001);
    n = tframe(buf, 8, "\x03", 1);
    CHECK(tcp_run(0, buf, n, &r, &code) < 0 && code == 1002);
}

static void test_http(void) {
    wsc_http_req q;
    wsc_http_resp s;
    const wsc_str *h;
    char out[64];
    static const char req[] =
        "GET /chat?user=al%20ice&x=1 HTTP/1.1\r\nHost: server.example.com\r\n"
        "Upgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: http://example.com\r\n"
        "Sec-WebSocket-Protocol: chat, superchat\r\nSec-WebSocket-Version: 13\r\n\r\nEXTRA";
    size_t i, hl = sizeof req - 1 - 5;
    CHECK(wsc_http_parse_request(req, sizeof req - 1, &q) == (int)hl);
    CHECK(wsc__seq(q.method, "GET") && wsc__seq(q.path, "/chat") &&
          wsc__seq(q.query, "user=al%20ice&x=1") && q.minor_version == 1 && q.nheaders == 7);
    h = wsc_http_header(q.headers, q.nheaders, "connection");
    CHECK(h && wsc_http_has_token(*h, "upgrade") && wsc_http_has_token(*h, "KEEP-ALIVE") &&
          !wsc_http_has_token(*h, "upgr"));
    h = wsc_http_header(q.headers, q.nheaders, "ORIGIN");
    CHECK(h && wsc__seq(*h, "http://example.com"));
    CHECK(wsc_query_get(q.query, "user", out, sizeof out) == 6 && strcmp(out, "al ice") == 0);
    CHECK(wsc_query_get(q.query, "x", out, sizeof out) == 1 && strcmp(out, "1") == 0);
    CHECK(wsc_query_get(q.query, "nope", out, sizeof out) == -1);
    CHECK(wsc_query_get(q.query, "user", out, 3) == 6 && strcmp(out, "al") == 0);
    /* every proper prefix is incomplete, never an error */
    for (i = 0; i < hl; i++) CHECK(wsc_http_parse_request(req, i, &q) == WSC_ERR_AGAIN);
    /* bare LF line ends are accepted */
    CHECK(wsc_http_parse_request("GET / HTTP/1.1\nHost: a\n\n", 24, &q) == 24);
    /* malformed */
    {
        static const char *bad[] = {
            "GET / HTTP/1.1 \r\n\r\n", "GET  / HTTP/1.1\r\n\r\n", "GET /\r\n\r\n",
            "GET / HTTP/2.0\r\n\r\n", "GET / HTTP/1.1\r\nNoColon\r\n\r\n",
            "GET / HTTP/1.1\r\n : v\r\n\r\n", "GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n",
            "GET / HTTP/1.1\r\nA b: c\r\n\r\n", "GET /\x01 HTTP/1.1\r\n\r\n",
            "G(T / HTTP/1.1\r\n\r\n", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
            "GET / HTTP/1.1\r\nA: b\x01\r\n\r\n"};
        for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
            CHECK(wsc_http_parse_request(bad[i], strlen(bad[i]), &q) == WSC_ERR_PROTO);
    }
    /* too many headers */
    {
        char many[4096];
        int o = snprintf(many, sizeof many, "GET / HTTP/1.1\r\n");
        for (i = 0; i < WSC_MAX_HEADERS + 1; i++)
            o += snprintf(many + o, sizeof many - (size_t)o, "X-%zu: v\r\n", i);
        o += snprintf(many + o, sizeof many - (size_t)o, "\r\n");
        CHECK(wsc_http_parse_request(many, (size_t)o, &q) == WSC_ERR_LIMIT);
    }
    /* responses */
    {
        static const char rs[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                                 "Connection: Upgrade\r\nSec-WebSocket-Accept: x\r\n\r\n";
        CHECK(wsc_http_parse_response(rs, sizeof rs - 1, &s) == (int)sizeof rs - 1 &&
              s.status == 101 && s.nheaders == 3 && wsc__seq(s.reason, "Switching Protocols"));
        CHECK(wsc_http_parse_response("HTTP/1.1 404\r\n\r\n", 16, &s) == 16 && s.status == 404);
        CHECK(wsc_http_parse_response("HTTP/1.1 20x OK\r\n\r\n", 19, &s) == WSC_ERR_PROTO);
        CHECK(wsc_http_parse_response("SSH-2.0-x\r\n", 11, &s) == WSC_ERR_PROTO);
        CHECK(wsc_http_parse_response("HTTP/1.1 101", 12, &s) == WSC_ERR_AGAIN);
    }
}

static void test_url(void) {
    char host[64];
    int proto, port;
    const char *path;
    CHECK(wsc_url_parse("ws://127.0.0.1:8080/ws?x=1", &proto, host, sizeof host, &port, &path) == 0 &&
          proto == WSC_PROTO_WS && strcmp(host, "127.0.0.1") == 0 && port == 8080 &&
          strcmp(path, "/ws?x=1") == 0);
    CHECK(wsc_url_parse("tcp://[::1]:9", &proto, host, sizeof host, &port, &path) == 0 &&
          proto == WSC_PROTO_TCP && strcmp(host, "::1") == 0 && port == 9 && strcmp(path, "/") == 0);
    CHECK(wsc_url_parse("localhost:0", &proto, host, sizeof host, &port, &path) == 0 && port == 0);
    CHECK(wsc_url_parse("http://a:1", &proto, host, sizeof host, &port, &path) == WSC_ERR_ADDR);
    CHECK(wsc_url_parse("ws://a", &proto, host, sizeof host, &port, &path) == WSC_ERR_ADDR);
    CHECK(wsc_url_parse("ws://a:70000", &proto, host, sizeof host, &port, &path) == WSC_ERR_ADDR);
    CHECK(wsc_url_parse("ws://:80", &proto, host, sizeof host, &port, &path) == WSC_ERR_ADDR);
    CHECK(wsc_url_parse("ws://a:8x", &proto, host, sizeof host, &port, &path) == WSC_ERR_ADDR);
    /* found by fuzz_peers: brackets and slashes inside a host */
    CHECK(wsc_url_parse("tcp://[:/[::1]:9", &proto, host, sizeof host, &port, &path) == WSC_ERR_ADDR);
    CHECK(wsc_url_parse("ws://a[b:1", &proto, host, sizeof host, &port, &path) == WSC_ERR_ADDR);
    CHECK(wsc_url_parse("ws://a@b:1", &proto, host, sizeof host, &port, &path) == WSC_ERR_ADDR);
    CHECK(wsc_url_parse("ws://[.%r]:9", &proto, host, sizeof host, &port, &path) == WSC_ERR_ADDR);
    CHECK(wsc_url_parse("wss://[fe80::1%eth0]:443/x", &proto, host, sizeof host, &port, &path) == 0 &&
          proto == (WSC_PROTO_WS | WSC_PROTO_TLS) && strcmp(host, "fe80::1%eth0") == 0);
    CHECK(wsc_url_parse("tcps://my-host.example_1:9", &proto, host, sizeof host, &port, &path) == 0 &&
          proto == (WSC_PROTO_TCP | WSC_PROTO_TLS));
}

/* parsers must never read past the input: put it flush against an inaccessible page */
static void test_guard_page(void) {
    long pg = sysconf(_SC_PAGESIZE);
    int zfd = open("/dev/zero", O_RDWR);
    unsigned char *mem = (unsigned char *)mmap(NULL, (size_t)pg * 2, PROT_READ | PROT_WRITE,
                                               MAP_PRIVATE, zfd, 0);
    static const char head[] = "GET /x HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n";
    unsigned char fr[] = {0x81, 0xFE, 0x00};
    size_t i;
    CHECK(mem != MAP_FAILED);
    if (mem == MAP_FAILED) return;
    mprotect(mem + pg, (size_t)pg, PROT_NONE);
    for (i = 0; i <= sizeof head - 1; i++) {
        wsc_http_req q;
        wsc_http_resp s;
        unsigned char *p = mem + pg - i;
        memcpy(p, head, i);
        CHECK(wsc_http_parse_request((const char *)p, i, &q) == WSC_ERR_AGAIN);
        wsc_http_parse_response((const char *)p, i, &s);
    }
    for (i = 0; i <= sizeof fr; i++) {
        wsc_ws_decoder d;
        wsc_tcp_decoder t;
        rec r;
        memset(&d, 0, sizeof d);
        memset(&t, 0, sizeof t);
        d.expect_mask = 1;
        memcpy(mem + pg - i, fr, i);
        CHECK(wsc_ws_decode(&d, mem + pg - i, i, rec_cb, &r) == (int64_t)i);
        CHECK(wsc_tcp_decode(&t, mem + pg - i, i, rec_cb, &r) >= 0);
    }
    munmap(mem, (size_t)pg * 2);
    close(zfd);
}

/* the context: ids, defaults, stale ids, and a loopback round trip through the loop */
static int g_opened, g_msgs, g_closed, g_close_code;
static void loop_cb(wsc_ctx *ctx, wsc_id id, int ev, void *data, void *user) {
    (void)user;
    if (ev == WSC_EV_OPEN) {
        wsc_conn_info ci;
        g_opened++;
        wsc_get_conn_info(ctx, id, &ci);
        if (!ci.is_server) wsc_send(ctx, id, WSC_TEXT, "ping-me", 7);
    } else if (ev == WSC_EV_MESSAGE) {
        wsc_msg *m = (wsc_msg *)data;
        wsc_conn_info ci;
        g_msgs++;
        wsc_get_conn_info(ctx, id, &ci);
        if (ci.is_server) wsc_send(ctx, id, m->opcode, m->data, m->len);
        else wsc_close(ctx, id, 4001, "done");
    } else if (ev == WSC_EV_CLOSE) {
        g_closed++;
        g_close_code = ((wsc_close_info *)data)->code;
    }
}

/* a log sink that keeps the last line: every line the library logs is one line */
static char g_logline[600];
static void log_keep(void *user, int level, const char *line) {
    (void)user, (void)level;
    snprintf(g_logline, sizeof g_logline, "%s", line);
}
static void test_log_one_line(void) {
    wsc_config cfg;
    wsc_ctx *ctx;
    memset(&cfg, 0, sizeof cfg);
    cfg.log = log_keep;
    ctx = wsc_create(&cfg);
    CHECK(ctx != NULL);
    if (!ctx) return;
    wsc_log(ctx, WSC_LOG_WARN, "reason from a peer: %s", "a\nfake line\r\x1b[2J\x7f");
    CHECK(strcmp(g_logline, "reason from a peer: a?fake line??[2J?") == 0);
    wsc_destroy(ctx);
}

static void test_loop(void) {
    wsc_config cfg;
    wsc_ctx *ctx;
    wsc_id id;
    int l, i;
    char url[64];
    memset(&cfg, 0, sizeof cfg);
    cfg.on_event = loop_cb;
    cfg.log_level = WSC_LOG_WARN;
    ctx = wsc_create(&cfg);
    CHECK(ctx != NULL);
    if (!ctx) return;
    CHECK(wsc_send(ctx, 0, WSC_TEXT, "x", 1) == WSC_ERR_STALE);
    CHECK(wsc_send(ctx, ((wsc_id)7 << 32) | 1, WSC_TEXT, "x", 1) == WSC_ERR_STALE);
    CHECK(wsc_listen(ctx, "ws://127.0.0.1:99999") == WSC_ERR_ADDR);
    l = wsc_listen(ctx, "ws://127.0.0.1:0");
    CHECK(l >= 0 && wsc_listener_port(ctx, l) > 0);
    snprintf(url, sizeof url, "ws://127.0.0.1:%d/t", wsc_listener_port(ctx, l));
    CHECK(wsc_connect(ctx, url, NULL, &id) == 0);
    CHECK(wsc_send(ctx, id, WSC_TEXT, "x", 1) == WSC_ERR_STATE); /* not open yet */
    for (i = 0; i < 200 && g_closed < 2; i++) wsc_poll(ctx, 50);
    CHECK(g_opened == 2 && g_msgs == 2 && g_closed == 2 && g_close_code == 4001);
    CHECK(wsc_send(ctx, id, WSC_TEXT, "x", 1) == WSC_ERR_STALE); /* id went stale */
    CHECK(wsc_count(ctx, 0) == 0);
    wsc_destroy(ctx);
}

/* ---- the link format and the server list ---- */
/* HELLO, WELCOME and AUTH: fixed-length nonces and proofs, no secret; every message
   re-encodes to its bytes, every cut and every extra byte is refused */
static void test_link_handshake(void) {
    unsigned char hello[2 + 3 + 4 + 32], welcome[2 + 3 + 64], auth[2 + 32], buf[128];
    unsigned char *msgs[3];
    size_t lens[3], i, k;
    wsc_link_msg m;
    const char *why;
    memcpy(hello, "\x02H\x02n2\x03ws:", 9);
    for (i = 0; i < 32; i++) hello[9 + i] = (unsigned char)i;
    memcpy(welcome, "\x02W\x02n3", 5);
    for (i = 0; i < 64; i++) welcome[5 + i] = (unsigned char)(0x80 + i);
    memcpy(auth, "\x02" "A", 2);
    for (i = 0; i < 32; i++) auth[2 + i] = (unsigned char)(0xff - i);
    CHECK(wsc_link_parse(hello, sizeof hello, &m, &why) == 0 && m.type == WSC_LINK_HELLO &&
          wsc_str_eq(m.node, "n2") && wsc_str_eq(m.advertise, "ws:") &&
          m.nonce.len == 32 && (const unsigned char *)m.nonce.ptr == hello + 9 && m.proof.len == 0);
    CHECK(wsc_link_parse(welcome, sizeof welcome, &m, &why) == 0 && m.type == WSC_LINK_WELCOME &&
          wsc_str_eq(m.node, "n3") && (const unsigned char *)m.nonce.ptr == welcome + 5 &&
          m.nonce.len == 32 && (const unsigned char *)m.proof.ptr == welcome + 37 &&
          m.proof.len == 32);
    CHECK(wsc_link_parse(auth, sizeof auth, &m, &why) == 0 && m.type == WSC_LINK_AUTH &&
          m.node.len == 0 && m.nonce.len == 0 && (const unsigned char *)m.proof.ptr == auth + 2 &&
          m.proof.len == 32);
    msgs[0] = hello; msgs[1] = welcome; msgs[2] = auth;
    lens[0] = sizeof hello; lens[1] = sizeof welcome; lens[2] = sizeof auth;
    for (k = 0; k < 3; k++) {
        CHECK(wsc_link_parse(msgs[k], lens[k], &m, &why) == 0);
        CHECK(wsc__link_encode_hs(&m, NULL) == lens[k]);
        CHECK(wsc__link_encode_hs(&m, buf) == lens[k] && memcmp(buf, msgs[k], lens[k]) == 0);
        for (i = 0; i < lens[k]; i++) { /* a nonce or proof cut short, or any other cut */
            why = NULL;
            CHECK(wsc_link_parse(msgs[k], i, &m, &why) == WSC_ERR_PROTO && why != NULL);
        }
        memcpy(buf, msgs[k], lens[k]);
        buf[lens[k]] = 0; /* one byte more: a nonce or proof of 33 bytes */
        CHECK(wsc_link_parse(buf, lens[k] + 1, &m, &why) == WSC_ERR_PROTO &&
              strcmp(why, "trailing bytes after link message") == 0);
        buf[0] = 1; /* the format before the handshake: refused by its version */
        CHECK(wsc_link_parse(buf, lens[k], &m, &why) == WSC_ERR_PROTO &&
              strcmp(why, "unknown link format version") == 0);
    }
    { /* the version-1 HELLO (it carried the secret) and WELCOME are refused */
        static const unsigned char v1hello[] = {1, 'H', 2, 'n', '2', 3, 'w', 's', ':', 1, 's'};
        static const unsigned char v1welcome[] = {1, 'W', 2, 'n', '3'};
        static const unsigned char empty_node[] = {2, 'W', 0};
        CHECK(wsc_link_parse(v1hello, sizeof v1hello, &m, &why) == WSC_ERR_PROTO);
        CHECK(wsc_link_parse(v1welcome, sizeof v1welcome, &m, &why) == WSC_ERR_PROTO);
        CHECK(wsc_link_parse(empty_node, sizeof empty_node, &m, &why) == WSC_ERR_PROTO);
    }
    memcpy(buf, hello, sizeof hello);
    buf[3] = ' '; /* node ids are printable without spaces */
    CHECK(wsc_link_parse(buf, sizeof hello, &m, &why) == WSC_ERR_PROTO);
    /* the encoder refuses nonces and proofs of another length, and unknown types */
    CHECK(wsc_link_parse(welcome, sizeof welcome, &m, &why) == 0);
    m.proof.len = 31;
    CHECK(wsc__link_encode_hs(&m, buf) == 0);
    m.proof.len = 32;
    m.nonce.len = 33;
    CHECK(wsc__link_encode_hs(&m, buf) == 0);
    m.nonce.len = 32;
    m.type = WSC_LINK_FORWARD;
    CHECK(wsc__link_encode_hs(&m, buf) == 0);
    { /* the proofs: HMAC-SHA-256(secret, label || nonce_s || nonce_o || str8 node_s ||
         str8 node_o), as FORWARDING FORMAT says (values from Python's hmac module) */
        unsigned char ns[32], no[32], pr[32], zero[32];
        char hex[65];
        wsc_str a, b;
        for (i = 0; i < 32; i++) { ns[i] = (unsigned char)i; no[i] = (unsigned char)(32 + i); }
        a.ptr = "n-s"; a.len = 3;
        b.ptr = "n-o"; b.len = 3;
        wsc__link_proof("k", "wscluster-o", ns, no, a, b, pr);
        for (i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", pr[i]);
        CHECK(strcmp(hex, "2e3e73b1167d91145d68e0e2ef40763cbe756bea7f557159075742de5a549f53") == 0);
        wsc__link_proof("k", "wscluster-s", ns, no, a, b, pr);
        for (i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", pr[i]);
        CHECK(strcmp(hex, "d25f0692737656ce5b36565fd8983da57bfbba2f9078854e8152f09aad39c1b8") == 0);
        wsc__link_proof(NULL, "wscluster-s", ns, no, a, b, pr); /* no secret: zeros */
        memset(zero, 0, sizeof zero);
        CHECK(memcmp(pr, zero, 32) == 0);
        CHECK(wsc__proof_eq(zero, pr));
        for (i = 0; i < 32; i++) { /* a difference anywhere is seen */
            pr[i] = 1;
            CHECK(!wsc__proof_eq(zero, pr));
            pr[i] = 0;
        }
    }
}

static void test_link(void) {
    static const unsigned char fwd[] = {
        2, 'F', 2, 'n', '1', 0, 0, 0, 0, 0, 0, 0, 42, 1, 1, 2,
        4, 'c', 'h', 'a', 'n', 0, 4, 'c', 'h', 'a', 't',
        4, 'u', 's', 'e', 'r', 0, 2, 'a', 'l',
        0, 0, 0, 5, 'h', 'e', 'l', 'l', 'o'};
    unsigned char buf[256], enc[256];
    wsc_link_msg m;
    const char *why;
    size_t i;
    CHECK(wsc_link_parse(fwd, sizeof fwd, &m, &why) == 0);
    CHECK(m.type == WSC_LINK_FORWARD && wsc_str_eq(m.node, "n1") && m.msg_id == 42 &&
          m.opcode == WSC_TEXT && m.target == WSC_TGT_MATCH && m.nmatch == 2 &&
          wsc_str_eq(m.keys[1], "user") && wsc_str_eq(m.values[1], "al") &&
          wsc_str_eq(m.payload, "hello"));
    CHECK(wsc__encode_forward(&m, NULL) == sizeof fwd);
    CHECK(wsc__encode_forward(&m, enc) == sizeof fwd && memcmp(enc, fwd, sizeof fwd) == 0);
    /* every truncation and every extension is refused with a reason */
    for (i = 0; i < sizeof fwd; i++) {
        why = NULL;
        CHECK(wsc_link_parse(fwd, i, &m, &why) == WSC_ERR_PROTO && why != NULL);
    }
    memcpy(buf, fwd, sizeof fwd);
    buf[sizeof fwd] = 'x';
    CHECK(wsc_link_parse(buf, sizeof fwd + 1, &m, &why) == WSC_ERR_PROTO);
    memcpy(buf, fwd, sizeof fwd);
    buf[0] = 1; /* version */
    CHECK(wsc_link_parse(buf, sizeof fwd, &m, &why) == WSC_ERR_PROTO &&
          strcmp(why, "unknown link format version") == 0);
    buf[0] = 3;
    CHECK(wsc_link_parse(buf, sizeof fwd, &m, &why) == WSC_ERR_PROTO);
    memcpy(buf, fwd, sizeof fwd);
    buf[14] = 9; /* target kind */
    CHECK(wsc_link_parse(buf, sizeof fwd, &m, &why) == WSC_ERR_PROTO);
    memcpy(buf, fwd, sizeof fwd);
    buf[sizeof fwd - 1] = 0xff; /* text payload no longer UTF-8 */
    CHECK(wsc_link_parse(buf, sizeof fwd, &m, &why) == WSC_ERR_PROTO);
    memcpy(buf, fwd, sizeof fwd);
    buf[3] = ' '; /* node ids are printable without spaces */
    CHECK(wsc_link_parse(buf, sizeof fwd, &m, &why) == WSC_ERR_PROTO);
    memcpy(buf, fwd, sizeof fwd);
    buf[18] = 0; /* NUL inside a key */
    CHECK(wsc_link_parse(buf, sizeof fwd, &m, &why) == WSC_ERR_PROTO);
    test_link_handshake();
}

typedef struct plist { int n, bad, lines[16], ports[16], protos[16]; char paths[16][128]; } plist;
static void plist_cb(void *arg, const wsc_peer_entry *e) {
    plist *l = (plist *)arg;
    if (e->error) { l->bad++; return; }
    if (l->n < 16) {
        l->lines[l->n] = e->line;
        l->ports[l->n] = e->port;
        l->protos[l->n] = e->proto;
        snprintf(l->paths[l->n], sizeof l->paths[0], "%s", e->path);
    }
    l->n++;
}

/* SUMMARY: what an instance tells its peers of itself; every field at its place, every cut
   and extra byte refused, bad flags and kinds refused, the encoder gives the same bytes */
static void test_summary(void) {
    static wsc_summary s, t;
    unsigned char buf[512], msg[512];
    size_t n, i;
    const char *why;
    wsc_link_msg m;
    memset(&s, 0, sizeof s);
    s.node = wsc__sv("node-1");
    s.uptime_ms = 0x0102030405060708ull;
    s.conns[1] = 7, s.conns[2] = 2, s.conns[3] = 3;
    s.msgs_in = 11, s.msgs_out = 12, s.bytes_in = 13, s.bytes_out = 14, s.fwd_in = 15;
    s.fwd_out = 16, s.bp_in = 17, s.bp_out = 18, s.dropped = 19, s.fwd_dropped = 20;
    s.mem_held = 21, s.mem_max = 1ull << 40, s.bp_kind = 2, s.bp_state = 1;
    s.nlinks = 2;
    s.links[0].node = wsc__sv("node-2"), s.links[0].sub_up = 1, s.links[0].obs_up = 1;
    s.links[0].rtt_us = 180, s.links[0].reconnects = 4;
    s.links[1].node = wsc__sv("n3"), s.links[1].rtt_us = -1, s.links[1].obs_up = 1;
    n = wsc__summary_encode(&s, NULL);
    CHECK(n == 2 + 7 + 8 + 16 + 96 + 3 + (1 + 6 + 9) + (1 + 2 + 9));
    CHECK(wsc__summary_encode(&s, msg) == n);
    CHECK(msg[0] == 2 && msg[1] == 'S' && msg[9] == 1 && msg[16] == 8); /* big-endian */
    CHECK(wsc_summary_parse(msg, n, &t, &why) == 0);
    CHECK(wsc_str_eq(t.node, "node-1") && t.uptime_ms == s.uptime_ms && t.conns[1] == 7 &&
          t.conns[3] == 3 && t.msgs_in == 11 && t.fwd_dropped == 20 && t.mem_max == 1ull << 40 &&
          t.bp_kind == 2 && t.bp_state == 1 && t.nlinks == 2);
    CHECK(wsc_str_eq(t.links[0].node, "node-2") && t.links[0].sub_up && t.links[0].obs_up &&
          t.links[0].rtt_us == 180 && t.links[0].reconnects == 4);
    CHECK(wsc_str_eq(t.links[1].node, "n3") && !t.links[1].sub_up && t.links[1].obs_up &&
          t.links[1].rtt_us == -1);
    CHECK(wsc__summary_encode(&t, buf) == n && memcmp(buf, msg, n) == 0);
    CHECK(wsc_link_parse(msg, n, &m, &why) == 0 && m.type == WSC_LINK_SUMMARY &&
          wsc_str_eq(m.node, "node-1"));
    for (i = 0; i < n; i++) { /* every cut */
        why = NULL;
        CHECK(wsc_summary_parse(msg, i, &t, &why) == WSC_ERR_PROTO && why != NULL);
        CHECK(wsc_link_parse(msg, i, &m, &why) == WSC_ERR_PROTO);
    }
    memcpy(buf, msg, n);
    buf[n] = 0;
    CHECK(wsc_summary_parse(buf, n + 1, &t, &why) == WSC_ERR_PROTO);
    CHECK(wsc_link_parse(buf, n + 1, &m, &why) == WSC_ERR_PROTO);
    buf[n - 9] = 4; /* the second link's flags: an unknown bit */
    CHECK(wsc_summary_parse(buf, n, &t, &why) == WSC_ERR_PROTO);
    memcpy(buf, msg, n);
    buf[2 + 7 + 8 + 16 + 96] = 3; /* backplane kind 3 */
    CHECK(wsc_summary_parse(buf, n, &t, &why) == WSC_ERR_PROTO);
    memcpy(buf, msg, n);
    buf[1] = 'F'; /* not a SUMMARY */
    CHECK(wsc_summary_parse(buf, n, &t, &why) == WSC_ERR_PROTO);
    s.links[1].node = wsc__sv(""); /* node ids are 1-64 bytes: not encoded */
    n = wsc__summary_encode(&s, buf);
    CHECK(wsc_summary_parse(buf, n, &t, &why) == WSC_ERR_PROTO);
}

static void test_peers(void) {
    static const char text[] = "# the shared list\n"
                               "127.0.0.1:8081\n"
                               "\n"
                               "  ws://127.0.0.1:8082/custom   # a comment\n"
                               "tcp://[::1]:9000,10.0.0.1:1\n"
                               "no-port\n"
                               "wss://secure:443\n"
                               "tcp://h:5/path\n"
                               "h:0\n";
    plist l;
    memset(&l, 0, sizeof l);
    CHECK(wsc_peers_parse(text, sizeof text - 1, plist_cb, &l) == 4);
    CHECK(l.n == 4 && l.bad == 4);
    CHECK(l.lines[0] == 2 && l.ports[0] == 8081 && l.protos[0] == WSC_PROTO_WS && l.paths[0][0] == 0);
    CHECK(l.lines[1] == 4 && strcmp(l.paths[1], "/custom") == 0);
    CHECK(l.lines[2] == 5 && l.protos[2] == WSC_PROTO_TCP && l.ports[2] == 9000);
    CHECK(l.lines[3] == 5 && l.ports[3] == 1);
    memset(&l, 0, sizeof l);
    CHECK(wsc_peers_parse("a:1, b:2 c:3\tD:4", 16, plist_cb, &l) == 4); /* the env form */
    memset(&l, 0, sizeof l);
    CHECK(wsc_peers_parse("", 0, plist_cb, &l) == 0 && l.n == 0);
}

/* the duplicate window (a peer's on its link, or an origin's in the backplane): pure */
static void test_dedup(void) {
    wsc__win pa, pb;
    uint64_t base = (uint64_t)1 << 50, k;
    int dups = 0;
    memset(&pa, 0, sizeof pa);
    memset(&pb, 0, sizeof pb);
    CHECK(!wsc__win_seen(&pa, base, 0));
    CHECK(wsc__win_seen(&pa, base, 0));
    CHECK(!wsc__win_seen(&pb, base, 0)); /* per window */
    CHECK(!wsc__win_seen(&pa, base + 5, 0));
    CHECK(!wsc__win_seen(&pa, base + 3, 0)); /* late but inside the window */
    CHECK(wsc__win_seen(&pa, base + 3, 0));
    CHECK(!wsc__win_seen(&pa, base + 5000, 0));
    CHECK(wsc__win_seen(&pa, base + 5, 0)); /* fell out of the window: refused */
    for (k = 1; k <= 3000; k++) dups += wsc__win_seen(&pa, base + 5000 + k, 0);
    CHECK(dups == 0);
    CHECK(wsc__win_seen(&pa, 7, 0) == 1); /* far behind on the same link: refused */
    CHECK(wsc__win_seen(&pa, base + 8000 + ((uint64_t)1 << 33), 0) == -1); /* a jump */
    CHECK(wsc__win_seen(&pa, base + 8001, 0) == 0); /* the window did not move */
    CHECK(wsc__win_seen(&pa, base + 8000 + ((uint64_t)1 << 31), 0) == 0); /* a big gap is fine */
    pa.on = 0; /* a new link (a restarted origin): a fresh window */
    CHECK(wsc__win_seen(&pa, 7, 0) == 0);
    /* jump_ok (the backplane: a restarted origin has no new link to say so) moves it */
    CHECK(wsc__win_seen(&pa, 8 + ((uint64_t)1 << 33), 1) == 0);
    CHECK(wsc__win_seen(&pa, 8 + ((uint64_t)1 << 33), 1) == 1);
    CHECK(wsc__win_seen(&pa, 7, 1) == 1);
}

static int64_t resp(const char *s, wsc_resp_tok *t, size_t max, size_t *nt) {
    return wsc_resp_parse((const unsigned char *)s, strlen(s), 1024, t, max, nt);
}
static void test_resp(void) {
    wsc_resp_tok t[16];
    size_t nt, k;
    unsigned char out[128];
    const char *argv[3] = {"PUBLISH", "ch", "a\r\nb"};
    size_t lens[3] = {7, 2, 4};
    const char *msg = "*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$4\r\na\r\nb\r\n";
    CHECK(resp("+OK\r\n", t, 16, &nt) == 5 && nt == 1 && t[0].type == '+' && t[0].len == 2);
    CHECK(resp("-ERR no\r\n", t, 16, &nt) == 9 && t[0].type == '-' &&
          memcmp(t[0].ptr, "ERR no", 6) == 0);
    CHECK(resp(":-42\r\n", t, 16, &nt) == 6 && t[0].type == ':' && t[0].n == -42);
    CHECK(resp("$-1\r\n", t, 16, &nt) == 5 && t[0].type == '_');
    CHECK(resp("*-1\r\n", t, 16, &nt) == 5 && t[0].type == '_');
    CHECK(resp("*0\r\n", t, 16, &nt) == 4 && nt == 1 && t[0].n == 0);
    CHECK(resp("$0\r\n\r\n", t, 16, &nt) == 6 && t[0].type == '$' && t[0].len == 0);
    /* a pubsub message: its payload may hold CRLF (bulk strings are counted, not scanned) */
    CHECK(resp(msg, t, 16, &nt) == (int64_t)strlen(msg) && nt == 4 && t[0].n == 3 &&
          t[3].len == 4 && memcmp(t[3].ptr, "a\r\nb", 4) == 0);
    CHECK(wsc_resp_cmd(NULL, 3, argv, lens) == strlen("*3\r\n$7\r\nPUBLISH\r\n$2\r\nch\r\n$4\r\na\r\nb\r\n"));
    CHECK(wsc_resp_cmd(out, 3, argv, lens) == 35 &&
          memcmp(out, "*3\r\n$7\r\nPUBLISH\r\n$2\r\nch\r\n$4\r\na\r\nb\r\n", 35) == 0);
    /* every proper prefix is incomplete, never an error */
    for (k = 0; k < strlen(msg); k++)
        CHECK(wsc_resp_parse((const unsigned char *)msg, k, 1024, t, 16, &nt) == 0);
    /* nested: an XREAD reply [[stream, [[id, [field, value]]]]] */
    CHECK(resp("*1\r\n*2\r\n$1\r\ns\r\n*1\r\n*2\r\n$3\r\n1-0\r\n*2\r\n$1\r\nd\r\n$1\r\nx\r\n",
               t, 16, &nt) > 0 && nt == 9 && t[8].type == '$' && t[8].ptr[0] == 'x');
    CHECK(resp("*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n", t, 16, &nt) ==
          WSC_ERR_PROTO); /* 9 levels */
    CHECK(resp("*20\r\n", t, 16, &nt) == WSC_ERR_PROTO); /* more than fit */
    CHECK(resp("$2000\r\n", t, 16, &nt) == WSC_ERR_PROTO); /* over max_bulk */
    CHECK(resp("$2\r\nabc\r\n", t, 16, &nt) == WSC_ERR_PROTO);
    CHECK(resp("?x\r\n", t, 16, &nt) == WSC_ERR_PROTO);
    CHECK(resp(":1x\r\n", t, 16, &nt) == WSC_ERR_PROTO);
    CHECK(resp(":\r\n", t, 16, &nt) == WSC_ERR_PROTO);
    CHECK(resp("+a\nb\r\n", t, 16, &nt) == WSC_ERR_PROTO);
    CHECK(resp("$-2\r\n", t, 16, &nt) == WSC_ERR_PROTO);
    CHECK(resp(":99999999999999999999\r\n", t, 16, &nt) == WSC_ERR_PROTO);
}

/* ---- sizes near SIZE_MAX: nothing wraps where size_t is 32 bits (run by make cross on
   armhf, too) ---- */
static void test_sizes(void) {
    wsc_config cfg;
    wsc_ctx *ctx;
    wsc__conn *c;
    wsc_resp_tok t[4];
    char line[64];
    size_t nt, mem;
    int64_t r;
    CHECK(wsc__over(1, SIZE_MAX, SIZE_MAX) && !wsc__over(0, SIZE_MAX, SIZE_MAX));
    CHECK(wsc__over(SIZE_MAX, 1, SIZE_MAX) && !wsc__over(5, 5, 10) && wsc__over(6, 5, 10));
    CHECK(wsc__size_mul(SIZE_MAX / 2 + 1, 2) == SIZE_MAX && wsc__size_mul(3, 4) == 12);
    CHECK(wsc__size_cap(UINT64_MAX) == SIZE_MAX && wsc__size_cap(7) == 7);
    /* a bulk string of SIZE_MAX - 1 bytes: incomplete (32-bit), or over 18 digits (64-bit);
       never a length that wraps to a short one */
    snprintf(line, sizeof line, "$%zu\r\nab\r\n", SIZE_MAX - 1);
    r = wsc_resp_parse((const unsigned char *)line, strlen(line), SIZE_MAX, t, 4, &nt);
    CHECK(r == (sizeof(size_t) == 4 ? 0 : WSC_ERR_PROTO));
    r = wsc_resp_parse((const unsigned char *)"$999999999999999999\r\nab\r\n", 25, SIZE_MAX, t, 4,
                       &nt);
    CHECK(r == (sizeof(size_t) == 4 ? WSC_ERR_PROTO : 0));
    /* the defaults from max_message (4x) and a link's queue (2x max_pending) cap at SIZE_MAX */
    memset(&cfg, 0, sizeof cfg);
    cfg.log_level = WSC_LOG_ERROR;
    cfg.max_message = (uint64_t)1 << 30;
    cfg.max_pending = SIZE_MAX / 2 + 1;
    ctx = wsc_create(&cfg);
    CHECK(ctx != NULL);
    if (!ctx) return;
    CHECK((uint64_t)ctx->cfg.max_memory ==
          (sizeof(size_t) == 4 ? (uint64_t)SIZE_MAX : (uint64_t)4 << 30));
    CHECK(ctx->cl.link.max_pending == SIZE_MAX);
    /* the memory budget: mem + n past SIZE_MAX is over any budget, not a small sum */
    mem = ctx->io.mem;
    ctx->io.mem = 100;
    ctx->io.budget = SIZE_MAX;
    CHECK(wsc__mem_room(ctx, NULL, SIZE_MAX - 50) == WSC_ERR_LIMIT);
    CHECK(wsc__mem_room(ctx, NULL, SIZE_MAX - 100) == 0);
    CHECK(wsc__buf_new(ctx, SIZE_MAX - 8) == NULL);
    /* an input buffer asked for more than half the address space: refused, no endless
       doubling (the capacity used to wrap to 0) */
    ctx->io.budget = (size_t)1 << 20;
    c = (wsc__conn *)calloc(1, sizeof *c);
    CHECK(c != NULL);
    if (c) {
        CHECK(wsc__in_reserve(ctx, c, SIZE_MAX - 10, SIZE_MAX) == WSC_ERR_LIMIT);
        c->in_cap = 4096;
        CHECK(wsc__in_reserve(ctx, c, SIZE_MAX / 2 + 2, SIZE_MAX) == WSC_ERR_LIMIT);
        CHECK(c->in == NULL && c->in_cap == 4096);
        free(c);
    }
    ctx->io.mem = mem;
    wsc_destroy(ctx);
    memset(&cfg, 0, sizeof cfg);
    cfg.log_level = WSC_LOG_ERROR;
    cfg.max_message = 0xffffffffu;
    ctx = wsc_create(&cfg);
    CHECK(ctx != NULL);
    if (!ctx) return;
    CHECK((uint64_t)ctx->cfg.max_pending ==
          (sizeof(size_t) == 4 ? (uint64_t)SIZE_MAX : (uint64_t)0xffffffffu * 4));
    wsc_destroy(ctx);
}

int main(void) {
    test_link();
    test_summary();
    test_log_one_line();
    test_peers();
    test_dedup();
    test_sha1_base64();
    test_utf8();
    test_ws();
    test_tcp();
    test_http();
    test_url();
    test_guard_page();
    test_loop();
    test_resp();
    test_sizes();
    printf("unit: %d passed, %d failed\n", g_pass, g_fail);
    return g_fail ? 1 : 0;
}
