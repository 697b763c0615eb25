#!/bin/sh
# Portability, proven (make cross, make musl, make footprint).
#   cross      the unit tests, the node and the examples built with Debian's cross compilers
#              for aarch64, armhf (32-bit; also with a 64-bit time_t) and s390x (big-endian)
#              under the strict flags, the header compiled for each by clang too; then,
#              under qemu-user-static, the unit tests and tests/smoke.py (an echo, a 3-node
#              cluster that heals after a kill)
#   musl       the same programs as static musl-gcc builds; the unit tests and the smoke test
#   footprint  a table: .text of examples/minimal.c (-Os, no TLS) and of the node (-O2), and
#              tests/footprint.c's figures per connection, on x86-64 and each of the above
# Installs the compilers and qemu with apt-get when root; prints the command otherwise.
# Ends with one line "WHAT: N passed, N failed" counting the steps.
set -u
cd "$(dirname "$0")/.." || exit 1
what=${1:-cross}
PY=/usr/bin/python3
B=build/cross
WARN="-std=c99 -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Werror"
PROGS="unit wscluster-node minimal device threads wsc-client"

# target: compiler | qemu | sysroot | GNU triplet (empty qemu: runs natively)
target() {
    case $1 in
    aarch64) echo "aarch64-linux-gnu-gcc|qemu-aarch64-static|/usr/aarch64-linux-gnu|aarch64-linux-gnu" ;;
    armhf) echo "arm-linux-gnueabihf-gcc|qemu-arm-static|/usr/arm-linux-gnueabihf|arm-linux-gnueabihf" ;;
    # armhf with a 64-bit time_t and off_t (Debian's armhf from trixie on: past 2038)
    armhf-t64) echo "arm-linux-gnueabihf-gcc -D_FILE_OFFSET_BITS=64 -D_TIME_BITS=64|qemu-arm-static|/usr/arm-linux-gnueabihf|" ;;
    s390x) echo "s390x-linux-gnu-gcc|qemu-s390x-static|/usr/s390x-linux-gnu|s390x-linux-gnu" ;;
    musl) echo "musl-gcc -static|||" ;;
    x86-64) echo "gcc|||" ;;
    esac
}
field() { target "$1" | cut -d'|' -f"$2"; }
wrap() { q=$(field "$1" 2); [ -n "$q" ] && echo "$q -L $(field "$1" 3)"; }

# ---- what to install
have() { command -v "$1" >/dev/null 2>&1; }
pkgs=""
case $what in cross|footprint)
    have aarch64-linux-gnu-gcc || pkgs="$pkgs gcc-aarch64-linux-gnu libc6-dev-arm64-cross"
    have arm-linux-gnueabihf-gcc || pkgs="$pkgs gcc-arm-linux-gnueabihf libc6-dev-armhf-cross"
    have s390x-linux-gnu-gcc || pkgs="$pkgs gcc-s390x-linux-gnu libc6-dev-s390x-cross"
    have qemu-aarch64-static || pkgs="$pkgs qemu-user-static"
    have clang || pkgs="$pkgs clang" ;;
esac
case $what in musl|footprint) have musl-gcc || pkgs="$pkgs musl-tools" ;; esac
have make || pkgs="$pkgs make"
$PY -c 'import websockets' >/dev/null 2>&1 || pkgs="$pkgs python3 python3-websockets"
if [ -n "$pkgs" ]; then
    if [ "$(id -u)" = 0 ] && have apt-get; then
        echo "$what: installing$pkgs"
        apt-get update -qq
        # shellcheck disable=SC2086 # one word per package
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $pkgs >/dev/null || exit 1
    else
        echo "$what: missing packages; run:  sudo apt-get install -y$pkgs" >&2
        exit 1
    fi
fi

pass=0
fail=0
failed=""
ok() {
    if [ "$1" = 0 ]; then pass=$((pass + 1)); echo "--- ok: $2"
    else fail=$((fail + 1)); failed="$failed $2"; echo "--- FAILED: $2"; fi
}
now() { date +%s; }

# build PROGS (and footprint) for a target with the Makefile's own rules, into build/cross/T
build() {
    t=$1
    cc=$(field "$t" 1)
    shift
    make -s CC="$cc" CFLAGS="-O2 -g" B="$B/$t" "$@"
}

# the unit tests and the smoke test of one built target
run_target() {
    t=$1
    d=$B/$t
    w=$(wrap "$t")
    t0=$(now)
    # shellcheck disable=SC2086 # w is a command and its arguments
    $w "$d/unit" > "$d/unit.log" 2>&1
    rc=$?
    tail -n 1 "$d/unit.log"
    [ $rc = 0 ] || tail -n 30 "$d/unit.log"
    ok $rc "$t-unit"
    WSC_NODE_BIN=$d/wscluster-node WSC_NODE_WRAP="$w" $PY tests/smoke.py > "$d/smoke.log" 2>&1
    rc=$?
    tail -n 3 "$d/smoke.log" | tr '\n' ' '
    echo
    [ $rc = 0 ] || tail -n 60 "$d/smoke.log"
    ok $rc "$t-smoke"
    echo "$t: ran in $(($(now) - t0)) s"
}

one() { # build, check with clang (cross targets), run
    t=$1
    t0=$(now)
    # shellcheck disable=SC2046
    build "$t" $(for p in $PROGS; do printf '%s ' "$B/$t/$p"; done)
    rc=$?
    ok $rc "$t-build"
    [ $rc = 0 ] || return
    tr=$(field "$t" 4)
    if [ -n "$tr" ]; then # clang as well: warning-free for this target's sizes and byte order
        for f in examples/node.c tests/unit.c; do
            # shellcheck disable=SC2086
            clang --target="$tr" $WARN -O2 -DWSCLUSTER_EPOLL -I$B/$t -c "$f" -o "$B/$t/clang.o" || rc=1
        done
        ok $rc "$t-clang"
    fi
    echo "$t: built in $(($(now) - t0)) s"
    run_target "$t"
}

footprint() {
    printf '| target | minimal .text, bytes (-Os) | node .text, bytes (-O2) | conn struct | idle WebSocket | idle TCP | slot table |\n'
    printf '|---|---|---|---|---|---|---|\n'
    for t in x86-64 aarch64 armhf s390x musl; do
        d=$B/$t
        tr=$(field "$t" 4)
        cc=$(field "$t" 1)
        sz=${tr:+$tr-}size
        # shellcheck disable=SC2086
        if ! build "$t" "$d/wscluster-node" "$d/footprint" >&2 ||
            ! $cc $WARN -Os examples/minimal.c -o "$d/minimal-Os"; then
            ok 1 "$t-footprint"
            continue
        fi
        # shellcheck disable=SC2086
        $(wrap "$t") "$d/footprint" > "$d/footprint.txt" || { ok 1 "$t-footprint"; continue; }
        text() { $sz -A "$1" | awk '$1 == ".text" { print $2 }'; }
        v() { awk -v k="$1" '$1 == k { print $2 }' "$d/footprint.txt"; }
        name=$t
        [ "$t" = musl ] && name="x86-64 musl (static, libc included)"
        printf '| %s | %s | %s | %s B | %s B | %s B | %s B/slot x %s = %s KiB |\n' "$name" \
            "$(text "$d/minimal-Os")" "$(text "$d/wscluster-node")" "$(v conn_struct)" \
            "$(v idle_ws)" "$(v idle_tcp)" "$(v slot_bytes)" "$(v slots)" \
            "$(($(v slot_bytes) * $(v slots) / 1024))"
        pass=$((pass + 1))
    done
}

mkdir -p $B
start=$(now)
case $what in
cross) for t in aarch64 armhf armhf-t64 s390x; do one "$t"; done ;;
musl) one musl ;;
footprint) footprint ;;
*) echo "usage: tests/cross.sh cross|musl|footprint" >&2; exit 2 ;;
esac
[ -n "$failed" ] && echo "failed steps:$failed"
echo "$what took $(($(now) - start)) s"
echo "$what: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
