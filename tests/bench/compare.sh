#!/bin/sh
# make bench-compare [BASE=REV] [ROUNDS=N]: wscluster-node built at BASE (default HEAD~1)
# against the working tree, in one run: the wscluster part of `make bench` (BENCH_SERVERS=wsc:
# echo, fan-out, fixed rate, idle, the 3-instance cluster, heap calls), alternating
# base / new / base / new ... ROUNDS times each (default 2), so that both see the same
# machine. Prints, per metric, the median of each side and the change, with "worse" where
# the new build is worse by more than 5%; writes it to build/bench-compare.md.
# Other settings (BENCH_SECONDS, BENCH_QUICK, BENCH_RATE) pass through to run.sh.
set -u
cd "$(dirname "$0")/../.." || exit 1
BASE=${BASE:-HEAD~1}
ROUNDS=${ROUNDS:-2}
OUT=build/bench/compare
rev=$(git rev-parse --short "$BASE") || { echo "bench-compare: no revision $BASE" >&2; exit 1; }
rm -rf "$OUT" && mkdir -p "$OUT/src"
# the base: its header and node source from git, built as the node always is
git archive "$rev" wscluster.h examples | tar -x -C "$OUT/src" || exit 1
make -s build/chat_html.h || exit 1
BACKEND=$( [ "$(uname -s)" = Linux ] && echo -DWSCLUSTER_EPOLL)
cc -std=c99 -O2 -g $BACKEND -Ibuild "$OUT/src/examples/node.c" -o "$OUT/node-base" || exit 1
make -s build/wscluster-node || exit 1
cp build/wscluster-node "$OUT/node-new"
new="working tree ($(git rev-parse --short HEAD)$(git diff --quiet HEAD -- wscluster.h examples || echo +changes))"
i=1
while [ "$i" -le "$ROUNDS" ]; do
    for side in base new; do
        echo "bench-compare: round $i, $side"
        BENCH_SERVERS=wsc BENCH_NODE="$OUT/node-$side" BENCH_NODE_NAME="$side" \
            sh tests/bench/run.sh > "$OUT/$side.$i.log" 2>&1 || echo "bench-compare: run failed (see $OUT/$side.$i.log)"
        cp build/bench/results.txt "$OUT/$side.$i.txt"
    done
    i=$((i + 1))
done
# per metric: median of each side; direction from the metric's name
awk -v base="$rev" -v new="$new" -v rounds="$ROUNDS" '
function med(side, k,    n, i, j, t, a) {
    n = 0
    for (i = 1; i <= rounds; i++) if ((side, i, k) in V) a[++n] = V[side, i, k]
    if (n == 0) return ""
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
FNR == 1 { split(FILENAME, p, "/"); split(p[length(p)], q, "."); side = q[1]; round = q[2] }
$1 == "wsc" && $3 ~ /^-?[0-9.]+$/ { V[side, round, $2] = $3 + 0; if (!($2 in K)) { K[$2] = 1; keys[++n] = $2 } }
END {
    printf "| metric | base %s | %s | change | |\n|---|---|---|---|---|\n", base, new
    for (i = 1; i <= n; i++) {
        k = keys[i]
        if (k !~ /(rate|deliv_rate|cpu_us_per_op|cpu_ns_per_delivery|p50_us|p99_us|kb_per_conn|rss_open_kb|allocs)$/) continue
        b = med("base", k); w = med("new", k)
        if (b == "" || w == "") continue
        higher = (k ~ /rate$/)
        ch = b != 0 ? 100 * (w - b) / b : 0
        worse = higher ? -ch : ch
        printf "| %s | %.4g | %.4g | %+.1f%% | %s |\n", k, b, w, ch, (b != 0 && worse > 5) ? "worse" : ""
    }
    printf "\nMedians of %d interleaved runs per side; \"worse\": the new build is worse by more than 5%%.\n", rounds
}' "$OUT"/base.*.txt "$OUT"/new.*.txt | tee build/bench-compare.md
