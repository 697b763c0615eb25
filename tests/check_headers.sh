#!/bin/sh
# The single header must be healthy: warning-free as C99 (gcc, clang) and as C++ (g++,
# clang++), static and extern, linked from two translation units, with each optional part
# left out; every external symbol starts with wsc_; a misspelled implementation macro fails
# the build; examples/minimal.c stays within 48 KB of code at -Os.
set -u
cd "$(dirname "$0")/.."
T=build/hdr
mkdir -p "$T"
W="-Wall -Wextra -Wpedantic -Wshadow -Werror"
fail=0
run() { if "$@" >"$T/log" 2>&1; then :; else echo "check_headers: FAILED: $*"; cat "$T/log"; fail=1; fi; }

cat > "$T/impl.c" <<'X'
#define WSCLUSTER_IMPLEMENTATION
#include "../../wscluster.h"
X
cat > "$T/user.c" <<'X'
#include "../../wscluster.h"
int main(void) {
    wsc_ctx *ctx = wsc_create(NULL);
    unsigned char d[20];
    wsc_sha1("abc", 3, d);
    if (!ctx || wsc_listen(ctx, "ws://127.0.0.1:0") < 0) return 1;
    wsc_poll(ctx, 0);
    if (wsc_next_timeout(ctx) < -1 || wsc_pollfds(ctx, NULL, 0) == 0) return 1;
    if (wsc_shutdown(ctx, 0, 10) != 0) return 1;
    wsc_destroy(ctx);
    return d[0] == 0xa9 ? 0 : 1;
}
X
cat > "$T/static.c" <<'X'
#define WSCLUSTER_STATIC
#define WSCLUSTER_IMPLEMENTATION
#include "../../wscluster.h"
int main(void) { wsc_ctx *c = wsc_create(NULL); wsc_destroy(c); return 0; }
X
cat > "$T/typo.c" <<'X'
#define WSCLUSTER_IMPLEMENTATON
#include "../../wscluster.h"
X
for cc in gcc clang; do
    run $cc -std=c99 $W -Wconversion -c "$T/impl.c" -o "$T/impl_$cc.o"
    run $cc -std=c99 $W -Wconversion "$T/user.c" "$T/impl_$cc.o" -o "$T/user_$cc"
    run "$T/user_$cc"
    run $cc -std=c99 $W -Wconversion "$T/static.c" -o "$T/static_$cc"
    bad=$(nm -g --defined-only "$T/impl_$cc.o" | awk '{print $3}' | grep -v '^wsc_' || true)
    if [ -n "$bad" ]; then echo "check_headers: external symbols without wsc_: $bad"; fail=1; fi
    if $cc -std=c99 "$T/user.c" "$T/typo.c" -o "$T/typo_$cc" >/dev/null 2>&1; then
        echo "check_headers: a misspelled WSCLUSTER_IMPLEMENTATION linked ($cc)"; fail=1
    fi
done
# with TLS (mbedTLS): as C and as C++, linked
cat > "$T/impl_tls.c" <<'X'
#define WSCLUSTER_MBEDTLS
#define WSCLUSTER_IMPLEMENTATION
#include "../../wscluster.h"
X
TLSLIB="-lmbedtls -lmbedx509 -lmbedcrypto"
for cc in gcc clang; do
    run $cc -std=c99 $W -Wconversion -c "$T/impl_tls.c" -o "$T/impl_tls_$cc.o"
    run $cc -std=c99 $W "$T/user.c" "$T/impl_tls_$cc.o" -o "$T/user_tls_$cc" $TLSLIB
    run "$T/user_tls_$cc"
done
run g++ -std=c++11 $W -x c++ -c "$T/impl_tls.c" -o "$T/impl_tls_gxx.o"
# the epoll backend, with and without TLS, as C and as C++
for cc in gcc clang; do
    run $cc -std=c99 $W -Wconversion -DWSCLUSTER_EPOLL -c "$T/impl_tls.c" -o "$T/impl_ep_$cc.o"
    run $cc -std=c99 $W -Wconversion -DWSCLUSTER_EPOLL -c "$T/impl.c" -o "$T/impl_ep2_$cc.o"
    run $cc -std=c99 $W "$T/user.c" "$T/impl_ep2_$cc.o" -o "$T/user_ep_$cc"
    run "$T/user_ep_$cc"
done
run g++ -std=c++11 $W -x c++ -DWSCLUSTER_EPOLL -c "$T/impl.c" -o "$T/impl_ep_gxx.o"
for cxx in g++ clang++; do
    run $cxx -std=c++11 $W -x c++ -c "$T/impl.c" -o "$T/impl_$cxx.o"
    run $cxx -std=c++11 $W -x c++ "$T/user.c" -x none "$T/impl_$cxx.o" -o "$T/user_$cxx"
    run "$T/user_$cxx"
done
# the examples too, with both compilers
for cc in gcc clang; do
    for f in examples/node.c examples/minimal.c tests/wsc_client.c tests/unit.c; do
        run $cc -std=c99 $W -Wconversion -O2 -Ibuild -c "$f" -o "$T/ex_$cc.o"
    done
done
# the optional parts left out (manual: COMPILE-TIME MACROS): each macro, alone and with TLS
# and epoll, warning-free as C (gcc, clang) and C++ (g++, clang++); the stubs link and the
# program runs; static too
for m in NO_REDIS NO_CLUSTER NO_CLIENT; do
    for cc in gcc clang; do
        run $cc -std=c99 $W -Wconversion -DWSCLUSTER_$m -c "$T/impl.c" -o "$T/impl_${m}_$cc.o"
        run $cc -std=c99 $W -Wconversion "$T/user.c" "$T/impl_${m}_$cc.o" -o "$T/user_${m}_$cc"
        run "$T/user_${m}_$cc"
        run $cc -std=c99 $W -Wconversion -DWSCLUSTER_$m -DWSCLUSTER_EPOLL -c "$T/impl_tls.c" \
            -o "$T/impl_tls_${m}_$cc.o"
        run $cc -std=c99 $W -Wconversion -DWSCLUSTER_$m -O2 -c "$T/static.c" -o "$T/static_${m}_$cc.o"
        bad=$(nm -g --defined-only "$T/impl_${m}_$cc.o" | awk '{print $3}' | grep -v '^wsc_' || true)
        if [ -n "$bad" ]; then echo "check_headers: external symbols without wsc_ ($m): $bad"; fail=1; fi
    done
    for cxx in g++ clang++; do
        run $cxx -std=c++11 $W -x c++ -DWSCLUSTER_$m -c "$T/impl.c" -o "$T/impl_${m}_$cxx.o"
    done
done
# the footprint (issue 11): examples/minimal.c's code at -Os with gcc, without TLS
if [ "$(uname -m)" = x86_64 ]; then
    run gcc -std=c99 -Os examples/minimal.c -o "$T/minimal_os"
    text=$(size -A "$T/minimal_os" 2>/dev/null | awk '$1 == ".text" {print $2}')
    echo "check_headers: examples/minimal.c .text at -Os: ${text:-?} bytes (at most 48000)"
    if [ -z "$text" ] || [ "$text" -gt 48000 ]; then
        echo "check_headers: FAILED: examples/minimal.c .text over 48 KB (48000 bytes)"; fail=1
    fi
fi
# the layer rule (manual: ARCHITECTURE): no call runs up from a layer to one above it
run /usr/bin/python3 tests/check_layers.py
[ $fail -eq 0 ] && echo "check_headers: ok (gcc, clang, g++, clang++; static, extern, TLS, epoll, NO_REDIS/_CLUSTER/_CLIENT, nm, typo, minimal.c size, layers)"
exit $fail
