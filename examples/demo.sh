#!/bin/sh
# make demo: a three-instance wscluster on this machine. Instances demo-1..demo-3 listen on
# 127.0.0.1:8081-8083 (HTTP + WebSocket, chat page at /) and 127.0.0.1:9081-9083 (TCP
# framer), all reading the server list examples/demo-peers.txt, with a demo cluster secret.
# Logs: build/demo-N.log. Ctrl-C (or SIGTERM to this script) stops all three.
# BACKPLANE=redis (make demo BACKPLANE=redis): a local redis-server on 127.0.0.1:6399 (no
# persistence) carries the messages, the mesh stays configured as its standby: stop Redis
# (kill -STOP or kill its pid) and the instances fail over to the mesh, then back.
# Needs build/wscluster-node (make builds it); POSIX sh.
set -u
cd "$(dirname "$0")/.." || exit 1

BIN=./build/wscluster-node
PEERS=examples/demo-peers.txt
# demo only: a real cluster keeps its secret out of scripts and argv
WSCLUSTER_SECRET=${WSCLUSTER_SECRET:-wscluster-demo-secret}
export WSCLUSTER_SECRET

BACKPLANE=${BACKPLANE:-}
REDIS_PORT=6399
bp_args=""
redis_pid=""
if [ "$BACKPLANE" = redis ]; then
    if ! command -v redis-server >/dev/null 2>&1; then
        echo "demo: redis-server not found (make deps installs it)" >&2
        exit 1
    fi
    mkdir -p build
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no \
        </dev/null >build/demo-redis.log 2>&1 &
    redis_pid=$!
    bp_args="--backplane redis://127.0.0.1:$REDIS_PORT"
elif [ -n "$BACKPLANE" ]; then
    echo "demo: BACKPLANE is redis or nothing (the mesh)" >&2
    exit 1
fi

if [ ! -x "$BIN" ]; then
    echo "demo: $BIN not found: run make first" >&2
    exit 1
fi

pids=""
stopping=0

stop() {
    [ "$stopping" = 1 ] && return
    stopping=1
    trap '' INT TERM
    echo
    echo "demo: stopping"
    for pid in $pids; do
        kill -TERM "$pid" 2>/dev/null
    done
    status=0
    for pid in $pids; do
        wait "$pid" || status=1
    done
    if [ -n "$redis_pid" ]; then
        kill -CONT "$redis_pid" 2>/dev/null
        kill -TERM "$redis_pid" 2>/dev/null
        wait "$redis_pid" 2>/dev/null
    fi
    if [ "$status" = 0 ]; then
        echo "demo: all instances stopped"
    else
        echo "demo: an instance exited with an error; see build/demo-*.log" >&2
    fi
    exit "$status"
}
trap stop INT TERM

mkdir -p build
for i in 1 2 3; do
    "$BIN" --id "demo-$i" --listen "127.0.0.1:808$i" --tcp-listen "127.0.0.1:908$i" \
        --peers "$PEERS" $bp_args </dev/null >"build/demo-$i.log" 2>&1 &
    pids="$pids $!"
done

nap() { sleep 0.2 2>/dev/null || sleep 1; }

# true once instance $1 has both Subscriber and Observable links to the other two
linked() {
    s=$(curl -fsS --max-time 2 "http://127.0.0.1:808$1/stats" 2>/dev/null) || return 1
    case $s in *'"subscriber":2'*) ;; *) return 1 ;; esac
    case $s in *'"observable":2'*) return 0 ;; esac
    return 1
}

alive() {
    for pid in $pids; do
        kill -0 "$pid" 2>/dev/null || return 1
    done
}

if command -v curl >/dev/null 2>&1; then
    tries=0
    until linked 1 && linked 2 && linked 3; do
        alive || break
        tries=$((tries + 1))
        if [ "$tries" -ge 100 ]; then
            echo "demo: instances not linked yet; carrying on (see build/demo-*.log)" >&2
            break
        fi
        nap
    done
else
    sleep 2
fi

if ! alive; then
    echo "demo: an instance failed to start (port in use?):" >&2
    for i in 1 2 3; do
        tail -n 3 "build/demo-$i.log" | sed "s/^/  demo-$i: /" >&2
    done
    stop
fi

cat <<MSG
demo: three linked instances (server list $PEERS, logs build/demo-N.log):
  chat on demo-1: http://127.0.0.1:8081/
  chat on demo-2: http://127.0.0.1:8082/
  chat on demo-3: http://127.0.0.1:8083/
Open two or more of them (different instances) in browser tabs and chat across the cluster.
Send to every client of the cluster from the shell:
  curl 'http://127.0.0.1:8082/send?msg=hello'
The whole cluster, live: http://127.0.0.1:8081/cluster   (kill one instance and watch it go down)
Cluster state: curl http://127.0.0.1:8081/stats   metrics: curl http://127.0.0.1:8081/metrics
TCP devices: ./build/device 127.0.0.1:9081
Ctrl-C stops all three.
MSG
if [ -n "$redis_pid" ]; then
    cat <<MSG
Backplane: redis-server on 127.0.0.1:$REDIS_PORT (pid $redis_pid, log build/demo-redis.log)
carries the messages; /stats shows "backplane":{"kind":"redis","state":"up",...}.
Failover: kill -STOP $redis_pid (or kill $redis_pid) and chat on: the mesh carries it;
kill -CONT $redis_pid and Redis takes over again.
MSG
fi

# until a signal arrives (the trap stops the instances) or every instance has exited
wait
trap '' INT TERM
echo "demo: all instances exited"
