#!/bin/sh
# make demo: run wscluster-node with the chat page until Ctrl-C.
set -eu
cd "$(dirname "$0")/.."
PORT=${DEMO_PORT:-8081}
echo "demo: open http://127.0.0.1:$PORT/ in two browser tabs and chat (Ctrl-C stops)"
echo "demo: send from the shell: curl 'http://127.0.0.1:$PORT/send?msg=hello'"
exec ./build/wscluster-node --listen 127.0.0.1:"$PORT" --tcp-listen 127.0.0.1:$((PORT + 1000)) --id demo-1
