#!/bin/sh
# Install what `make test` needs and a fresh Debian machine lacks: Debian packages with
# apt-get when run as root, npm packages into tests/.npm (git-ignored). Where it cannot
# install, it stops and prints the exact command to run.
set -eu
cd "$(dirname "$0")/.."
pkgs=""
have() { command -v "$1" >/dev/null 2>&1; }
have gcc || pkgs="$pkgs gcc"
have make || pkgs="$pkgs make"
have clang || pkgs="$pkgs clang"
have nm || pkgs="$pkgs binutils"
# libFuzzer and clang's sanitizer runtimes live in libclang-rt-<major>-dev
if have clang; then
    major=$(clang --version | sed -n 's/.*clang version \([0-9]*\).*/\1/p' | head -n 1)
    if ! ls /usr/lib/llvm-"$major"/lib/clang/*/lib/linux/libclang_rt.fuzzer-*.a >/dev/null 2>&1; then
        pkgs="$pkgs libclang-rt-$major-dev"
    fi
else
    pkgs="$pkgs libclang-rt-dev"
fi
# Debian's python3 with its websockets, never a pyenv one that may come first on PATH
/usr/bin/python3 -c 'import websockets' >/dev/null 2>&1 || pkgs="$pkgs python3 python3-websockets"
have node || pkgs="$pkgs nodejs"
have npm || pkgs="$pkgs npm"
[ -x /usr/bin/chromium ] || pkgs="$pkgs chromium"
[ -f /usr/include/mbedtls/ssl.h ] || pkgs="$pkgs libmbedtls-dev"   # the TLS variant
have openssl || pkgs="$pkgs openssl"                               # test certificates
have redis-server || [ -x /usr/bin/redis-server ] || pkgs="$pkgs redis-server" # the backplane
have promtool || pkgs="$pkgs prometheus"                          # promtool checks /metrics
have pkg-config || pkgs="$pkgs pkgconf"                           # make install's wscluster.pc
have groff || pkgs="$pkgs groff-base"                             # the man page, checked
have man || pkgs="$pkgs man-db"                                   # and rendered
if [ -n "$pkgs" ]; then
    if [ "$(id -u)" = 0 ] && have apt-get; then
        echo "deps: installing$pkgs"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $pkgs >/dev/null
    else
        echo "deps: missing packages; run:  sudo apt-get install -y$pkgs" >&2
        exit 1
    fi
fi
if [ ! -d tests/.npm/node_modules/ws ] || [ ! -d tests/.npm/node_modules/playwright-core ]; then
    echo "deps: installing npm packages into tests/.npm"
    mkdir -p tests/.npm
    npm install --prefix tests/.npm --no-audit --no-fund --loglevel=error \
        ws@8.23.0 playwright-core@1.65.1 >/dev/null
fi
echo "deps: ok"
