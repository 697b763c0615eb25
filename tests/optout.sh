#!/bin/sh
# The builds without an optional part (COMPILE-TIME MACROS in the manual): tests/optout.c
# with -DWSCLUSTER_NO_REDIS, -DWSCLUSTER_NO_CLUSTER and -DWSCLUSTER_NO_CLIENT, plain (gcc)
# and ASan+UBSan (clang), strict warnings; then tests/test_optout.py against each set.
set -u
cd "$(dirname "$0")/.."
PY=/usr/bin/python3
D=build/optout
WARN="-std=c99 -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Werror"
SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined"
mkdir -p "$D/asan"
fail=0
for m in NO_REDIS NO_CLUSTER NO_CLIENT; do
    name=optout_$(echo "$m" | tr 'A-Z' 'a-z')
    gcc $WARN -O2 -g -DWSCLUSTER_$m -pthread tests/optout.c -o "$D/$name" || fail=1
    clang $WARN -O1 -g $SAN -DWSCLUSTER_$m -pthread tests/optout.c -o "$D/asan/$name" || fail=1
done
[ $fail -eq 0 ] || { echo "optout: build failed"; exit 1; }
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
WSC_OPTOUT_DIR=$D $PY tests/test_optout.py || fail=1
WSC_OPTOUT_DIR=$D/asan $PY tests/test_optout.py || fail=1
[ $fail -eq 0 ] && echo "optout: ok (NO_REDIS, NO_CLUSTER, NO_CLIENT; plain and ASan)"
exit $fail
