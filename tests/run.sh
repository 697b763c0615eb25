#!/bin/sh
# The whole suite: builds (gcc + clang, strict warnings; plain and TLS), header health, unit tests, interop
# with real peers (Python websockets, Node ws, Chromium) against the plain and the
# ASan+UBSan builds, each libFuzzer target for FUZZ_SECONDS, and the cross and musl builds
# with their smoke tests (tests/cross.sh). Ends with one line
# "test: N passed, N failed" counting the steps.
set -u
cd "$(dirname "$0")/.."
PY=/usr/bin/python3
FUZZ_SECONDS=${FUZZ_SECONDS:-20}
pass=0
fail=0
failed=""
LOGS=build/logs
mkdir -p $LOGS
# Each step's output goes to build/logs/NAME.log, then to the terminal (a file, not a pipe: a
# process a test left behind cannot hold the step open); the tails of the failed ones are
# printed again at the end, where a CI log that keeps only its last lines shows them.
step() {
    name=$1
    shift
    echo "=== $name"
    "$@" > "$LOGS/$name.log" 2>&1
    rc=$?
    cat "$LOGS/$name.log"
    if [ $rc = 0 ]; then
        pass=$((pass + 1))
        echo "--- ok: $name"
    else
        fail=$((fail + 1))
        failed="$failed $name"
        echo "--- FAILED: $name"
    fi
}
# LeakSanitizer on: a leak makes the node exit non-zero, which every test checks
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:halt_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

step build-gcc make -s CC=gcc all asan
step build-tls make -s CC=gcc tls
step build-clang make -s CC=clang B=build/clang build/clang/wscluster-node build/clang/wsc-client build/clang/unit build/clang/minimal \
    build/clang/api_watch build/clang/api_extloop build/clang/api_extloop_epoll
step headers sh tests/check_headers.sh
step install sh tests/test_install.sh
step optout sh tests/optout.sh
step unit ./build/unit
step unit-asan ./build/asan/unit

for v in plain asan; do
    if [ $v = plain ]; then d=build; else d=build/asan; fi
    export WSC_NODE_BIN=$d/wscluster-node WSC_CLIENT_BIN=$d/wsc-client
    export WSC_DEVICE_BIN=$d/device WSC_THREADS_BIN=$d/threads
    export WSC_NODE_TLS_BIN=$d/wscluster-node-tls WSC_CLIENT_TLS_BIN=$d/wsc-client-tls
    export WSC_API_DIR=$d
    step "python-node-$v" $PY tests/test_node.py
    step "python-badinput-$v" $PY tests/test_badinput.py
    step "python-slow-$v" $PY tests/test_slow.py
    step "python-client-$v" $PY tests/test_client_role.py
    step "python-cluster-$v" $PY tests/test_cluster.py
    step "python-tls-$v" $PY tests/test_tls.py
    step "python-api-$v" $PY tests/test_api.py
    step "python-attacks-$v" $PY tests/test_attacks.py
    step "python-redis-$v" $PY tests/test_redis.py
    step "python-metrics-$v" $PY tests/test_metrics.py
    step "python-ops-$v" $PY tests/test_ops.py
    step "node-ws-$v" node --test tests/node_interop.mjs
    step "browser-$v" node --test tests/browser_test.mjs
    step "browser-cluster-$v" node --test tests/browser_cluster.mjs
    step "browser-view-$v" node --test tests/browser_view.mjs
done
unset WSC_NODE_BIN WSC_CLIENT_BIN WSC_DEVICE_BIN WSC_THREADS_BIN WSC_NODE_TLS_BIN WSC_CLIENT_TLS_BIN
unset WSC_API_DIR

step fuzzers-build make -s fuzz
for f in http ws tcp link peers resp; do
    mkdir -p build/fuzz/corpus_$f
    step "fuzz-$f" ./build/fuzz/fuzz_$f -max_total_time="$FUZZ_SECONDS" -print_final_stats=0 \
        build/fuzz/corpus_$f tests/fuzz/seeds/$f
done

# portability (tests/cross.sh): aarch64, armhf (32- and 64-bit time_t) and s390x under
# qemu-user, and a static musl build
step cross make -s cross
step musl make -s musl

for name in $failed; do
    echo "=== the last lines of $name (all of it: $LOGS/$name.log)"
    grep -v '^"' "$LOGS/$name.log" | tail -n 60
done
[ -n "$failed" ] && echo "failed steps:$failed"
echo "test: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
