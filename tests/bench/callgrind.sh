#!/bin/sh
# make bench-callgrind [BASE=REV]: the node at BASE (default HEAD~1) against the working
# tree, counted in instructions (valgrind callgrind), which load on the machine does not
# change: wall-clock figures on a shared 2-core VM swing 20-40% run to run, these by well
# under 1%. Three workloads, each a fresh node (or two) under callgrind driven by wsbench:
#   echo     16 conns x 8 in flight on /echo        -> instructions per echoed message
#   fan-out  200 subscribers, 8 in flight on /ws    -> instructions per delivery
#   cluster  2 instances, subscribers on both       -> instructions per delivery, each
# The count covers the whole process (start-up included), divided by /stats' sent count.
set -u
cd "$(dirname "$0")/../.." || exit 1
BASE=${BASE:-HEAD~1}
OUT=build/bench/callgrind
command -v valgrind >/dev/null 2>&1 || { echo "bench-callgrind: valgrind is needed" >&2; exit 1; }
rev=$(git rev-parse --short "$BASE") || exit 1
rm -rf "$OUT" && mkdir -p "$OUT/src"
git archive "$rev" wscluster.h examples | tar -x -C "$OUT/src" || exit 1
make -s build/chat_html.h build/wscluster-node build/bench/wsbench || exit 1
BACKEND=$( [ "$(uname -s)" = Linux ] && echo -DWSCLUSTER_EPOLL)
cc -std=c99 -O2 -g $BACKEND -Ibuild "$OUT/src/examples/node.c" -o "$OUT/node-base" || exit 1
cp build/wscluster-node "$OUT/node-new"
WB=build/bench/wsbench

ir() { grep -m1 '^summary:\|^totals:' "$1" | awk '{print $2}'; }
sent() { "$WB" get "http://127.0.0.1:$1/stats" | sed -n 's/.*"sent":\([0-9]*\).*/\1/p' | head -n 1; }
under() { # side tag port [args...]: a node under callgrind, in the background -> PID
    side=$1; tag=$2; port=$3; shift 3
    WSCLUSTER_SECRET=cg valgrind --tool=callgrind --callgrind-out-file="$OUT/$side.$tag.out" \
        "$OUT/node-$side" --listen "127.0.0.1:$port" --log-level warn "$@" \
        >/dev/null 2>"$OUT/$side.$tag.err" &
    PID=$!
}
per() { awk -v i="$1" -v n="$2" 'BEGIN { if (n > 0) printf "%.0f", i / n; else printf "-" }'; }

for side in base new; do
    for mode in echo fanout; do
        port=$("$WB" freeport 1)
        under "$side" "$mode" "$port"
        sleep 3
        if [ "$mode" = echo ]; then
            "$WB" echo --url "ws://127.0.0.1:$port/echo" --conns 16 --inflight 8 --seconds 6 >/dev/null 2>&1
        else
            "$WB" fanout --url "ws://127.0.0.1:$port/ws" --subs 200 --inflight 8 --seconds 6 >/dev/null 2>&1
        fi
        n=$(sent "$port")
        kill -TERM "$PID"; wait "$PID"
        eval "R_${side}_$mode=\$(per \$(ir \$OUT/\$side.\$mode.out) \$n)"
    done
    set -- $("$WB" freeport 2)
    printf '127.0.0.1:%s\n127.0.0.1:%s\n' "$1" "$2" > "$OUT/peers.txt"
    p1=$1; p2=$2
    under "$side" c1 "$p1" --id cg1 --peers "$OUT/peers.txt"; pid1=$PID
    under "$side" c2 "$p2" --id cg2 --peers "$OUT/peers.txt"; pid2=$PID
    i=0
    while [ $i -lt 100 ] && ! "$WB" get "http://127.0.0.1:$p2/stats" 2>/dev/null | grep -q '"subscriber":1,"observable":1'; do
        sleep 0.3; i=$((i + 1))
    done
    "$WB" fanout --url "ws://127.0.0.1:$p1/ws" --url "ws://127.0.0.1:$p2/ws" --subs 200 \
        --inflight 8 --seconds 8 >/dev/null 2>&1
    n1=$(sent "$p1"); n2=$(sent "$p2")
    kill -TERM "$pid1" "$pid2"; wait "$pid1"; wait "$pid2"
    eval "R_${side}_c1=\$(per \$(ir \$OUT/\$side.c1.out) \$n1)"
    eval "R_${side}_c2=\$(per \$(ir \$OUT/\$side.c2.out) \$n2)"
done

{
    echo "| instructions | base $rev | working tree | change |"
    echo "|---|---|---|---|"
    for k in echo:"echo, per message" fanout:"fan-out, per delivery" c1:"cluster publisher, per delivery" c2:"cluster other instance, per delivery"; do
        key=${k%%:*}
        eval "b=\$R_base_$key; w=\$R_new_$key"
        echo "| ${k#*:} | $b | $w | $(awk -v b="$b" -v w="$w" 'BEGIN { if (b > 0) printf "%+.1f%%", (w - b) * 100 / b }') |"
    done
} | tee build/bench-callgrind.md
