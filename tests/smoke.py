"""Smoke test of one node build, native or emulated: what `make cross` and `make musl` run for
every target (tests/cross.sh). A WebSocket echo through one node (7-bit, 16-bit and 64-bit
frame lengths, text and binary); three nodes meshed from one server list with a shared
WSCLUSTER_SECRET, where a message sent on one reaches the WebSocket and TCP clients on all;
one killed with SIGKILL and started again, and the cluster heals.

Run: /usr/bin/python3 tests/smoke.py   (the node from WSC_NODE_BIN; WSC_NODE_WRAP is put before
it, e.g. "qemu-s390x-static -L /usr/s390x-linux-gnu"). Heartbeats are slower than in
test_cluster.py and every deadline generous: an emulated node runs many times slower."""

import asyncio
import os
import signal
import unittest

import util
from util import (OP_BINARY, OP_TEXT, Node, NodeTestCase, RawTCP, main, recv, run_async, tok,
                  wait_for, wait_mesh, write_file, ws_connect)
from test_cluster import CNode, peers_text

DEADLINE = 60.0
HB = ["--heartbeat-ms", "500", "--heartbeat-timeout-ms", "5000", "--refresh-ms", "1000"]


class EchoTests(NodeTestCase, unittest.TestCase):
    def test_echo(self):
        payloads = ["hello", "\u00fc\u20ac\U0001f600" * 40, os.urandom(125), os.urandom(126),
                    os.urandom(70000), b""]

        async def go():
            async with ws_connect(self.node.url("/echo")) as ws:
                for p in payloads:
                    await ws.send(p)
                    self.assertEqual(await recv(ws, DEADLINE), p)
        run_async(go(), DEADLINE * 2)


class ClusterTests(util.NodesCase):
    TMP_PREFIX = "wsc-smoke-"

    @classmethod
    def setUpNodes(cls):
        cls.peers_file = os.path.join(cls.tmp.name, "peers")
        cls.N = [CNode(name, peers_file=cls.peers_file, extra=HB) for name in ("s1", "s2", "s3")]
        write_file(cls.peers_file, peers_text(n.entry for n in cls.N))
        for n in cls.N:
            cls.start(n)
        wait_mesh(cls.N, DEADLINE)

    def round(self, sender):
        """A chat client on every node and a TCP client on the last: a message from the
        sender's WebSocket and one from the TCP client reach every one of them."""
        tcp = RawTCP(self.N[-1].tcp_port, timeout=DEADLINE)
        t_ws, t_tcp = tok("ws-from-" + sender.name), tok("tcp-from-" + self.N[-1].name)

        async def until(ws, want):
            while True:
                m = await recv(ws, DEADLINE)
                if m == want:
                    return

        async def go():
            clients = []
            try:
                tcp.sync(DEADLINE)
                for n in self.N:
                    clients.append(await ws_connect(n.url("/ws"), open_timeout=DEADLINE))
                wait_for(lambda: all(n.stats()["connections"]["client"] == (2 if n is self.N[-1]
                                                                              else 1)
                                     for n in self.N), DEADLINE, "chat clients on every node")
                await clients[self.N.index(sender)].send(t_ws)
                for ws in clients:
                    await until(ws, t_ws)
                self.assertEqual(tcp.recv_message(DEADLINE), (OP_TEXT, t_ws.encode()))
                tcp.send(OP_BINARY, t_tcp)
                for ws in clients:
                    await until(ws, t_tcp.encode())
                self.assertEqual(tcp.recv_message(DEADLINE), (OP_BINARY, t_tcp.encode()))
            finally:
                tcp.close()
                for ws in clients:
                    await ws.close()
        run_async(go(), DEADLINE * 3)

    def test_mesh_delivers_then_heals_after_a_kill(self):
        self.round(self.N[0])
        victim = self.N[2]
        victim.killed_on_purpose = True
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        again = victim.clone()
        self.N[2] = self.start(again)
        wait_mesh(self.N, DEADLINE)
        self.round(self.N[2])  # from the restarted one, and to it
        self.round(self.N[1])


if __name__ == "__main__":
    main()
