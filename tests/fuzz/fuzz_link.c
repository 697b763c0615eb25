/* libFuzzer target: the peer-link message parser (HELLO, WELCOME, AUTH, FORWARD, SUMMARY).
   Every view must lie inside the input; nonces and proofs are exactly WSC_LINK_NONCE bytes where their
   message has them and absent elsewhere; a message it accepts must re-encode to the same
   bytes (the format has one encoding). */
#define WSCLUSTER_IMPLEMENTATION
#include "../../wscluster.h"
#include <stdlib.h>

static void inside(wsc_str s, const unsigned char *p, size_t n) {
    if (s.len && ((const unsigned char *)s.ptr < p || (const unsigned char *)s.ptr + s.len > p + n))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    unsigned char *p = (unsigned char *)malloc(size ? size : 1);
    wsc_link_msg m;
    const char *why;
    size_t i;
    memcpy(p, data, size);
    if (wsc_link_parse(p, size, &m, &why) == 0) {
        inside(m.node, p, size);
        inside(m.advertise, p, size);
        inside(m.nonce, p, size);
        inside(m.proof, p, size);
        if (m.nonce.len != ((m.type == WSC_LINK_HELLO || m.type == WSC_LINK_WELCOME) ? 32u : 0u) ||
            m.proof.len != ((m.type == WSC_LINK_WELCOME || m.type == WSC_LINK_AUTH) ? 32u : 0u))
            abort();
        inside(m.payload, p, size);
        inside(m.conn_node, p, size);
        inside(m.name, p, size);
        inside(m.arg, p, size);
        if (m.nmatch > WSC_MAX_MATCH) abort();
        for (i = 0; i < m.nmatch; i++) {
            inside(m.keys[i], p, size);
            inside(m.values[i], p, size);
        }
        if (m.type == WSC_LINK_SUMMARY) { /* wsc_summary_parse agrees, and re-encodes it */
            static wsc_summary sm;
            size_t n;
            unsigned char *q;
            if (wsc_summary_parse(p, size, &sm, &why) != 0 || sm.nlinks > WSC_MAX_PEERS) abort();
            inside(sm.node, p, size);
            for (i = 0; i < sm.nlinks; i++) inside(sm.links[i].node, p, size);
            n = wsc__summary_encode(&sm, NULL);
            q = (unsigned char *)malloc(n ? n : 1);
            wsc__summary_encode(&sm, q);
            if (sm.nlinks < WSC_MAX_PEERS && (n != size || memcmp(p, q, n) != 0)) abort();
            free(q);
        } else {
            int fwd = m.type == WSC_LINK_FORWARD;
            size_t n = fwd ? wsc__encode_forward(&m, NULL) : wsc__link_encode_hs(&m, NULL);
            unsigned char *q = (unsigned char *)malloc(n ? n : 1);
            if (fwd) wsc__encode_forward(&m, q);
            else wsc__link_encode_hs(&m, q);
            if (n != size || memcmp(p, q, n) != 0) abort(); /* the format has one encoding */
            free(q);
        }
    } else if (!why) {
        abort(); /* every refusal says why */
    } else {
        static wsc_summary sm;
        if (wsc_summary_parse(p, size, &sm, &why) == 0) abort(); /* never looser than it */
    }
    free(p);
    return 0;
}
