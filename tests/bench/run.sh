#!/bin/sh
# make bench: wscluster-node against libwebsockets, Node ws and Python websockets, in one run.
#
# Every server runs pinned to core 0 (taskset -c 0), the load generator build/bench/wsbench
# (tests/bench/wsbench.c) to core 1; each mode gets a freshly started server. Modes:
#   echo 100 conns x 1 in flight, echo 100 conns x 16 in flight (32-byte text messages),
#   fan-out 1000 subscribers + 1 publisher with 64 messages in flight (a message is done
#   when every receiver has it), fan-out at a fixed rate (latency), idle 5000 connections
#   (server RSS growth per connection);
# then, for wscluster-node only: the same fan-out and fixed-rate runs with the subscribers
# spread over 3 instances (publisher on the first), and heap calls per message in steady
# state (LD_PRELOAD build/bench/malloc_count.so, counted between two SIGUSR1 marks sent by
# the generator around its measured interval).
# Prints one markdown table (rows = metrics, columns = servers, ratios) and writes it to
# build/bench.md. A server that cannot be built or started shows "n/a" with the reason.
#
# Env: BENCH_SECONDS (measured seconds per run, an integer, default 10), BENCH_QUICK=1 (smoke run:
# 2 s, 200 subscribers, 1000 idle connections), BENCH_RATE (fixed-rate messages/s, default
# 50), BENCH_SERVERS (default "wsc lws node py"), BENCH_PERF=1 (perf profile of
# wscluster-node during fan-out: build/bench/perf-fanout.txt), BENCH_NODE (the wscluster-node
# binary to measure, default build/wscluster-node, built here) and BENCH_NODE_NAME (its
# column title); tests/bench/compare.sh uses these two to set two builds side by side.
set -u
cd "$(dirname "$0")/../.." || exit 1

QUICK=${BENCH_QUICK:-0}
if [ "$QUICK" = 1 ]; then
    S=${BENCH_SECONDS:-2}; WARM=0.5; SUBS=200; IDLE=1000
else
    S=${BENCH_SECONDS:-10}; WARM=1; SUBS=1000; IDLE=5000
fi
CONNS=100
RATE=${BENCH_RATE:-50}
SERVERS=${BENCH_SERVERS:-wsc lws node py}
OUT=build/bench
LOG=$OUT/logs
RES=$OUT/results.txt
BENCH=$OUT/wsbench
PY=/usr/bin/python3
NODE=${BENCH_NODE:-build/wscluster-node}
START=$(date +%s)

mkdir -p "$OUT"
# one run at a time: a second one would share the logs and halve every figure
if ! mkdir "$OUT/.lock" 2>/dev/null; then
    other=$(cat "$OUT/.lock/pid" 2>/dev/null)
    if [ -n "$other" ] && kill -0 "$other" 2>/dev/null; then
        echo "bench: another run (pid $other) is in progress" >&2
        exit 1
    fi
fi
echo $$ > "$OUT/.lock/pid"
trap 'rm -rf "$OUT/.lock"' EXIT
trap 'exit 130' INT TERM
mkdir -p "$LOG"
rm -f "$LOG"/*
: > "$RES"
put() { printf '%s %s %s\n' "$1" "$2" "$3" >> "$RES"; }   # server key value...

# ---------------------------------------------------------------- what the run needs
echo "bench: dependencies"
sh tests/deps.sh || echo "bench: tests/deps.sh failed: the peers it installs may show n/a"
if [ ! -f /usr/include/libwebsockets.h ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "bench: installing libwebsockets-dev"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libwebsockets-dev pkg-config >/dev/null ||
            echo "bench: apt-get install libwebsockets-dev failed"
    else
        echo "bench: libwebsockets-dev missing; run:  sudo apt-get install -y libwebsockets-dev"
    fi
fi
# thousands of connections on both sides
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null

echo "bench: building"
if ! make -s build/bench/wsbench build/bench/malloc_count.so; then
    echo "bench: cannot build the load generator" >&2
    exit 1
fi
avail() { # server -> 0 if it can run; sets WHY
    WHY=
    case $1 in
    wsc) if [ -n "${BENCH_NODE:-}" ]; then [ -x "$NODE" ] || WHY="$NODE not found"
         else make -s build/wscluster-node >"$LOG/build-wsc.txt" 2>&1 || WHY="build failed: $(grep -m1 error "$LOG/build-wsc.txt")"; fi ;;
    lws) if [ ! -f /usr/include/libwebsockets.h ]; then WHY="libwebsockets-dev not installed"
         else make -s build/bench/lws_server >"$LOG/build-lws.txt" 2>&1 || WHY="build failed (see $LOG/build-lws.txt)"; fi ;;
    node) if ! command -v node >/dev/null 2>&1; then WHY="node not installed"
          elif [ ! -d tests/.npm/node_modules/ws ]; then WHY="ws not in tests/.npm (sh tests/deps.sh)"; fi ;;
    py) $PY -c 'import websockets' >/dev/null 2>&1 || WHY="python3-websockets not installed" ;;
    *) WHY="unknown server (known: wsc lws node py)" ;;
    esac
    [ -z "$WHY" ]
}
server_cmd() {
    case $1 in
    wsc) echo "$NODE --listen 127.0.0.1:0 --log-level warn" ;;
    lws) echo "build/bench/lws_server 0" ;;
    node) echo "node tests/bench/ws_server.mjs 0" ;;
    py) echo "$PY tests/bench/py_server.py 0" ;;
    esac
}
server_name() {
    case $1 in
    wsc) v=$(git rev-parse --short HEAD 2>/dev/null); git diff --quiet HEAD -- wscluster.h examples 2>/dev/null || v="$v+changes"
         echo "${BENCH_NODE_NAME:-wscluster-node ($v)}" ;;
    lws) echo "libwebsockets $(pkg-config --modversion libwebsockets 2>/dev/null | sed 's/-$//' || echo 4.x)" ;;
    node) echo "Node ws $(sed -n 's/.*"version": *"\([^"]*\)".*/\1/p' tests/.npm/node_modules/ws/package.json 2>/dev/null | head -n 1) (node $(node --version 2>/dev/null))" ;;
    py) echo "Python websockets $($PY -c 'import websockets; print(websockets.__version__)' 2>/dev/null)" ;;
    *) echo "$1" ;;
    esac
}

# ---------------------------------------------------------------- servers
alive() { # pid
    st=$(sed 's/.*) \(.\).*/\1/' "/proc/$1/stat" 2>/dev/null)
    [ -n "$st" ] && [ "$st" != Z ]
}
SPID=
start_server() { # tag cmd... -> SPID, SPORT, or SREASON
    tag=$1
    shift
    SPORT=
    SREASON=
    taskset -c 0 "$@" >"$LOG/$tag.out" 2>"$LOG/$tag.err" &
    SPID=$!
    n=0
    while [ $n -lt 150 ]; do
        SPORT=$(sed -n 's#^listening ws://127\.0\.0\.1:\([0-9][0-9]*\).*#\1#p' "$LOG/$tag.out" | head -n 1)
        [ -n "$SPORT" ] && return 0
        if ! alive "$SPID"; then
            SREASON="did not start: $(tail -n 1 "$LOG/$tag.err" | cut -c1-80)"
            wait "$SPID" 2>/dev/null
            SPID=
            return 1
        fi
        sleep 0.1
        n=$((n + 1))
    done
    SREASON="no ready line within 15 s"
    stop_server
    return 1
}
stop_pid() {
    kill -TERM "$1" 2>/dev/null
    n=0
    while alive "$1" && [ $n -lt 50 ]; do sleep 0.1; n=$((n + 1)); done
    kill -KILL "$1" 2>/dev/null
    wait "$1" 2>/dev/null
}
stop_server() {
    [ -n "$SPID" ] && stop_pid "$SPID"
    SPID=
}
trap 'stop_server; for p in ${CPIDS:-}; do kill -KILL $p 2>/dev/null; done; rm -rf "$OUT/.lock"' EXIT
trap 'exit 130' INT TERM

# run the generator pinned to core 1; store its RESULT line as srv run.key value
bench() { # srv run mode args...
    srv=$1
    run=$2
    shift 2
    line=$(taskset -c 1 "$BENCH" "$@" 2>"$LOG/$srv.$run.bench" | grep '^RESULT' | tail -n 1)
    sed "s/^/  [$srv $run] /" "$LOG/$srv.$run.bench" | grep -v 'connections open' || true
    if [ -z "$line" ]; then
        put "$srv" "$run.error" "generator failed: $(tail -n 1 "$LOG/$srv.$run.bench" | cut -c1-80)"
        return 1
    fi
    for kv in $line; do
        case $kv in *=*) put "$srv" "$run.${kv%%=*}" "${kv#*=}" ;; esac
    done
    case $line in
    *stalled=1*) put "$srv" "$run.error" "stalled (no progress)"; return 1 ;;
    *failed=1*) put "$srv" "$run.error" "connections failed"; return 1 ;;
    esac
    return 0
}
one() { # srv run path mode args...: fresh server, one generator run
    srv=$1
    run=$2
    path=$3
    mode=$4
    shift 4
    if ! start_server "$srv.$run" $(server_cmd "$srv"); then
        put "$srv" "$run.error" "$SREASON"
        return 1
    fi
    bench "$srv" "$run" "$mode" --url "ws://127.0.0.1:$SPORT$path" --server-pid "$SPID" "$@"
    alive "$SPID" || put "$srv" "$run.error" "server died (see $LOG/$srv.$run.err)"
    stop_server
}

# A closed-loop throughput run keeps the server or the generator busy; when neither was busy
# 85% of its core, something else on the machine got in the way: run it once more and keep
# the better of the two.
busy() { # srv run -> 0 if the server or the generator was busy (or the run failed)
    awk -v s="$1" -v r="$2" '$1 == s && $2 == r ".cpu_s" { c = $3 } $1 == s && $2 == r ".seconds" { t = $3 }
        $1 == s && $2 == r ".client_cpu_pct" { g = $3 } $1 == s && $2 == r ".error" { e = 1 }
        END { if (e || t <= 0 || c == "") exit 0; exit !(100 * c / t >= 85 || g >= 85) }' "$RES"
}
again() { # srv run metric command...: the command once more if the first try ran idle
    a_srv=$1
    a_run=$2
    a_key=$3
    shift 3
    "$@"
    busy "$a_srv" "$a_run" && return 0
    echo "  [$a_srv $a_run] neither the server nor the generator was busy: once more"
    grep "^$a_srv $a_run\." "$RES" > "$OUT/try1.txt"
    grep -v "^$a_srv $a_run\." "$RES" > "$OUT/rest.txt"
    mv "$OUT/rest.txt" "$RES"
    "$@"
    v1=$(awk -v k="$a_run.$a_key" '$2 == k { print $3 }' "$OUT/try1.txt")
    v2=$(awk -v s="$a_srv" -v k="$a_run.$a_key" '$1 == s && $2 == k { print $3 }' "$RES")
    if awk -v a="${v1:-0}" -v b="${v2:-0}" 'BEGIN { exit !(a + 0 > b + 0) }'; then
        grep -v "^$a_srv $a_run\." "$RES" > "$OUT/rest.txt"
        cat "$OUT/try1.txt" >> "$OUT/rest.txt"
        mv "$OUT/rest.txt" "$RES"
    fi
    put "$a_srv" "$a_run.tries" 2
}

COMMON="--seconds $S --warmup $WARM"
for srv in $SERVERS; do
    put "$srv" name "$(server_name "$srv")"
    if ! avail "$srv"; then
        echo "bench: $srv: n/a: $WHY"
        put "$srv" avail.error "$WHY"
        continue
    fi
    echo "bench: $(server_name "$srv")"
    again "$srv" echo1 rate one "$srv" echo1 /echo echo --conns $CONNS --inflight 1 $COMMON
    again "$srv" echo16 rate one "$srv" echo16 /echo echo --conns $CONNS --inflight 16 $COMMON
    if [ "$srv" = wsc ] && [ "${BENCH_PERF:-0}" = 1 ] && command -v perf >/dev/null 2>&1; then
        # the same fan-out run, profiled: perf samples the pinned server during the run
        if start_server "wsc.perf" $(server_cmd wsc); then
            perf record -q -F 999 -g -p "$SPID" -o "$OUT/perf.data" -- sleep $((S + 3)) \
                >"$LOG/perf.txt" 2>&1 &
            PP=$!
            taskset -c 1 "$BENCH" fanout --url "ws://127.0.0.1:$SPORT/ws" --subs $SUBS --inflight 64 $COMMON \
                >/dev/null 2>&1
            wait $PP
            stop_server
            {
                echo "perf: wscluster-node during fan-out ($SUBS subs, 64 in flight); share by binary:"
                perf report -i "$OUT/perf.data" --stdio --no-children --sort dso -g none 2>/dev/null |
                    grep '%' | head -n 4
                echo "top symbols:"
                perf report -i "$OUT/perf.data" --stdio --no-children --sort symbol -g none \
                    --percent-limit 0.5 2>/dev/null | grep '%' | sed 's/[[:space:]]*-[[:space:]]*-[[:space:]]*$//' |
                    head -n 30
            } > "$OUT/perf-fanout.txt"
            echo "bench: perf profile of the fan-out run: $OUT/perf-fanout.txt"
        fi
    fi
    again "$srv" fan deliv_rate one "$srv" fan /ws fanout --subs $SUBS --inflight 64 $COMMON
    one "$srv" rate /ws rate --subs $SUBS --rate "$RATE" $COMMON
    one "$srv" idle /echo idle --conns $IDLE --seconds 1 --connect-concurrency 64
done

# ---------------------------------------------------------------- the cluster (wscluster-node)
CPIDS=
cluster_start() { # tag [backplane URL] -> CPIDS, CURLS (/ws), CPIDARGS, or CREASON
    tag=$1
    bp=${2:-}
    CPIDS=
    CURLS=
    CPIDARGS=
    CREASON=
    ports=$("$BENCH" freeport 3)
    : > "$OUT/peers.txt"
    for p in $ports; do echo "127.0.0.1:$p" >> "$OUT/peers.txt"; done
    i=1
    for p in $ports; do
        # with a backplane: Redis alone (no server list), so that it carries everything
        if [ -n "$bp" ]; then set -- --backplane "$bp"; else set -- --peers "$OUT/peers.txt"; fi
        WSCLUSTER_SECRET=bench-secret taskset -c 0 "$NODE" --listen "127.0.0.1:$p" \
            --id "bench-$i" "$@" --log-level warn \
            --refresh-ms 1000 >"$LOG/$tag.$i.out" 2>"$LOG/$tag.$i.err" &
        CPIDS="$CPIDS $!"
        CPIDARGS="$CPIDARGS --server-pid $!"
        CURLS="$CURLS --url ws://127.0.0.1:$p/ws"
        i=$((i + 1))
    done
    n=0
    while [ $n -lt 200 ]; do # every instance: 2 subscriber and 2 observable links up
        up=0
        for p in $ports; do
            if [ -n "$bp" ]; then want='"state":"up"'; else want='"subscriber":2,"observable":2'; fi
            "$BENCH" get "http://127.0.0.1:$p/stats" 2>/dev/null | grep -q "$want" && up=$((up + 1))
        done
        [ $up = 3 ] && return 0
        sleep 0.1
        n=$((n + 1))
    done
    CREASON="cluster links not up within 20 s (see $LOG/$tag.*.err)"
    return 1
}
cluster_stop() {
    for p in $CPIDS; do stop_pid "$p"; done
    CPIDS=
}
if echo " $SERVERS " | grep -q ' wsc ' && ! grep -q '^wsc avail.error' "$RES"; then
    echo "bench: wscluster-node cluster (3 instances on core 0, publisher on the first)"
    cluster_run() { # run mode args...: a fresh 3-instance cluster, one generator run
        if cluster_start "wsc.$1"; then
            bench wsc "$@" $CURLS $CPIDARGS
            for p in $CPIDS; do alive "$p" || put wsc "$1.error" "an instance died (see $LOG/wsc.$1.*.err)"; done
        else
            put wsc "$1.error" "$CREASON"
        fi
        cluster_stop
    }
    again wsc cfan deliv_rate cluster_run cfan fanout --subs $SUBS --inflight 64 $COMMON
    cluster_run crate rate --subs $SUBS --rate "$RATE" $COMMON

    # the same cluster with Redis between the instances (pubsub, then stream), if installed
    if command -v redis-server >/dev/null 2>&1; then
        echo "bench: wscluster-node cluster over Redis (redis-server on core 0 with the instances)"
        RPORT=$("$BENCH" freeport 1)
        taskset -c 0 redis-server --port "$RPORT" --bind 127.0.0.1 --save "" --appendonly no \
            >"$LOG/redis.out" 2>&1 &
        RPID=$!
        sleep 0.5
        redis_run() { # tag url mode args...
            t=$1
            u=$2
            shift 2
            if cluster_start "wsc.$t" "$u"; then
                bench wsc "$t" "$@" $CURLS $CPIDARGS
                for p in $CPIDS; do alive "$p" || put wsc "$t.error" "an instance died (see $LOG/wsc.$t.*.err)"; done
            else
                put wsc "$t.error" "$CREASON"
            fi
            cluster_stop
        }
        redis_run rfan "redis://127.0.0.1:$RPORT" fanout --subs $SUBS --inflight 64 $COMMON
        redis_run rrate "redis://127.0.0.1:$RPORT" rate --subs $SUBS --rate "$RATE" $COMMON
        redis_run sfan "redis://127.0.0.1:$RPORT?mode=stream&channel=bench" fanout --subs $SUBS --inflight 64 $COMMON
        redis_run srate "redis://127.0.0.1:$RPORT?mode=stream&channel=bench" rate --subs $SUBS --rate "$RATE" $COMMON
        stop_pid "$RPID"
    else
        echo "bench: redis-server not installed: no Redis rows"
    fi

    # ------------------------------------------------------------ heap calls in steady state
    echo "bench: wscluster-node heap calls per message (LD_PRELOAD malloc_count.so)"
    MS=$(( S / 2 )); [ "$MS" -lt 2 ] && MS=2
    for run in mfan mecho; do
        rm -f "$OUT/malloc-$run.txt"
        # env (exec'd by taskset) puts the shim under the server alone
        if start_server "wsc.$run" env MALLOC_COUNT_FILE="$(pwd)/$OUT/malloc-$run.txt" \
            LD_PRELOAD="$(pwd)/$OUT/malloc_count.so" $(server_cmd wsc); then
            if [ $run = mfan ]; then
                bench wsc mfan fanout --url "ws://127.0.0.1:$SPORT/ws" --signal-pid "$SPID" \
                    --server-pid "$SPID" --subs $SUBS --inflight 64 --seconds $MS --warmup $WARM
            else
                bench wsc mecho echo --url "ws://127.0.0.1:$SPORT/echo" --signal-pid "$SPID" \
                    --server-pid "$SPID" --conns $CONNS --inflight 16 --seconds $MS --warmup $WARM
            fi
            stop_server
            a0=$(sed -n '1s/.*allocs=\([0-9]*\).*/\1/p' "$OUT/malloc-$run.txt" 2>/dev/null)
            a1=$(sed -n '2s/.*allocs=\([0-9]*\).*/\1/p' "$OUT/malloc-$run.txt" 2>/dev/null)
            if [ -n "$a0" ] && [ -n "$a1" ]; then put wsc "$run.allocs" $((a1 - a0))
            else put wsc "$run.error" "no counter marks (LD_PRELOAD shim not loaded?)"; fi
        else
            put wsc "$run.error" "$SREASON"
        fi
    done
fi

# ---------------------------------------------------------------- the table
END=$(date +%s)
CPU=$(sed -n 's/^model name[[:space:]]*: *//p' /proc/cpuinfo | head -n 1)
{
    echo "# wscluster benchmark"
    echo
    echo "Machine: $(nproc) cores, $CPU, Linux $(uname -r); $(date -u '+%Y-%m-%d %H:%M UTC')."
    echo "Servers pinned to core 0, the load generator (tests/bench/wsbench.c) to core 1; loopback;"
    echo "32-byte text messages; ${S} s measured per run after ${WARM} s warm-up; a fresh server per run."
    [ "$QUICK" = 1 ] && echo "**BENCH_QUICK=1: a smoke run with small counts, not figures to quote.**"
    echo
} > "$OUT/header.md"
awk -v subs="$SUBS" -v idle="$IDLE" -v rate="$RATE" -v conns="$CONNS" -v servers="$SERVERS" \
    -f tests/bench/table.awk "$RES" > "$OUT/table.md"
{
    cat "$OUT/header.md" "$OUT/table.md"
    echo
    echo "Whole run: $((END - START)) s. Raw figures: $RES; generator and server logs: $LOG/."
} > build/bench.md
echo
cat build/bench.md
