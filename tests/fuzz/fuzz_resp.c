/* libFuzzer target: the RESP (Redis reply) parser. Every token must lie inside what the
   parser says it took; a reply it accepts must also be accepted when fed whole again, and
   every proper prefix of it must be "incomplete", never an error nor a different reply. */
#define WSCLUSTER_IMPLEMENTATION
#include "../../wscluster.h"
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    unsigned char *p = (unsigned char *)malloc(size ? size : 1);
    wsc_resp_tok tok[64];
    size_t nt = 0, i, nt2;
    int64_t r;
    memcpy(p, data, size);
    r = wsc_resp_parse(p, size, 1 << 16, tok, 64, &nt);
    if (r > (int64_t)size || nt > 64) abort();
    if (r > 0) {
        for (i = 0; i < nt; i++) {
            const unsigned char *s = (const unsigned char *)tok[i].ptr;
            if (tok[i].len && (s < p || s + tok[i].len > p + r)) abort();
            if (tok[i].type == '$' && (int64_t)tok[i].len != tok[i].n) abort();
        }
        if (wsc_resp_parse(p, (size_t)r, 1 << 16, tok, 64, &nt2) != r || nt2 != nt) abort();
        for (i = 0; i < (size_t)r; i += 1 + (size_t)r / 16)
            if (wsc_resp_parse(p, i, 1 << 16, tok, 64, &nt2) != 0) abort();
    }
    free(p);
    return 0;
}
