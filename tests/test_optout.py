"""The builds without an optional part (COMPILE-TIME MACROS): tests/optout.c built with
-DWSCLUSTER_NO_REDIS, -DWSCLUSTER_NO_CLUSTER and -DWSCLUSTER_NO_CLIENT (tests/optout.sh
builds them) serves WebSocket and TCP on 127.0.0.1, and a real client (Python websockets)
checks what each build still does and that the parts it left out answer WSC_ERR_NOTBUILT.

Run: /usr/bin/python3 tests/test_optout.py  (binaries build/optout/optout_no_{redis,cluster,
client}; WSC_OPTOUT_DIR=build/optout/asan runs the ASan+UBSan builds, whose leaks make the
exit status non-zero)."""

import asyncio
import os
import re
import unittest

import util
from util import HOST, OP_BINARY, OP_TEXT, RawTCP, main, run_async, ws_connect

OPTOUT_DIR = os.environ.get("WSC_OPTOUT_DIR", "build/optout")
if not os.path.isabs(OPTOUT_DIR):
    OPTOUT_DIR = os.path.join(util.REPO, OPTOUT_DIR)
NOTBUILT = -16
STATE = -4


async def recv(ws, timeout=util.TIMEOUT):
    return await asyncio.wait_for(ws.recv(), timeout)


async def ask(ws, text):
    await ws.send(text)
    return await recv(ws)


class OptOut(util.NodeTestCase):
    """One build: MACRO names it ("NO_REDIS", ...); its program is started once per class
    (and stopped by NodeTestCase: it must exit 0)."""
    MACRO = None

    @classmethod
    def setUpClass(cls):
        binary = os.path.join(OPTOUT_DIR, "optout_" + cls.MACRO.lower())
        cls.node = util.Node(tcp=True, binary=binary, name="optout " + cls.MACRO).start()

    def url(self, query=""):
        return "ws://%s:%d/chat%s" % (HOST, self.node.ws_port, query)

    def part_out(self, macro):
        """Is `macro`'s part left out of this build? (each macro implies the ones below)"""
        order = ["NO_CLIENT", "NO_CLUSTER", "NO_REDIS"]
        return order.index(macro) >= order.index(self.MACRO)

    # ---------------------------------------------------------------------------------

    def test_selftest(self):
        """The program's own checks (stubs, refused options) passed, in the right build."""
        out = "\n".join(self.node.stdout_lines)
        self.assertIn("built %s" % self.MACRO, out)
        self.assertIn("checks failures=0", out)
        self.assertNotRegex(out, r"(?m)^check .* FAIL")
        self.assertGreaterEqual(len(re.findall(r"(?m)^check \S+ ok$", out)), 12)

    def test_echo_ws_and_tcp(self):
        async def go():
            async with ws_connect(self.url()) as ws:
                self.assertEqual(await ask(ws, "hello"), "hello")
                await ws.send(b"\x00\x01\xff" * 1000)
                self.assertEqual(await recv(ws), b"\x00\x01\xff" * 1000)
        run_async(go())
        with RawTCP(self.node.tcp_port) as t:
            t.send(OP_TEXT, b"over tcp")
            self.assertEqual(t.recv_message(), (OP_TEXT, b"over tcp"))
            t.send(OP_BINARY, b"\x00\x02")
            self.assertEqual(t.recv_message(), (OP_BINARY, b"\x00\x02"))

    def test_stubs(self):
        """The functions of the parts left out answer WSC_ERR_NOTBUILT on a live context."""
        async def go():
            async with ws_connect(self.url()) as ws:
                return await ask(ws, "!stubs")
        got = dict(kv.split("=") for kv in run_async(go()).split()[1:])
        got = {k: int(v) for k, v in got.items()}
        self.assertEqual(got["resp"], NOTBUILT)  # every build here leaves Redis out
        if self.part_out("NO_CLUSTER"):
            self.assertEqual((got["refresh"], got["summary"], got["peers"]), (NOTBUILT, NOTBUILT, 0))
        else:
            self.assertEqual((got["refresh"], got["summary"], got["peers"]), (STATE, 0, 0))
        self.assertEqual(got["connect"], NOTBUILT if self.part_out("NO_CLIENT") else 0)

    def test_sends_reach_local_clients(self):
        """broadcast, the cluster-wide sends (a cluster of one when the cluster is left out)
        and wsc_post reach this instance's clients, each as its target says."""
        async def go():
            async with ws_connect(self.url("?group=red")) as a, \
                    ws_connect(self.url("?group=blue")) as b:
                for _ in range(100):  # the clients of the tests before have left
                    if await ask(a, "!count") == "count 2":
                        break
                    await asyncio.sleep(0.05)
                self.assertEqual(await ask(a, "!bcast one"), "one")
                self.assertEqual(await recv(a), "sent 2")
                self.assertEqual(await recv(b), "one")
                self.assertEqual(await ask(a, "!all two"), "two")
                self.assertEqual(await recv(a), "sent 2")
                self.assertEqual(await recv(b), "two")
                self.assertEqual(await ask(b, "!where red three"), "sent 1")  # a, not b
                self.assertEqual(await recv(a), "three")
                self.assertEqual(await ask(a, "!where red four"), "four")
                self.assertEqual(await recv(a), "sent 1")
                me = await ask(b, "!me")
                self.assertRegex(me, r"^me \S+/[0-9a-f]+$")
                self.assertEqual(await ask(a, "!conn %s five" % me[3:]), "sent 1")
                self.assertEqual(await recv(b), "five")
                self.assertEqual(await ask(a, "!post six"), "sent 0")
                self.assertEqual(await recv(a), "six")
                self.assertEqual(await recv(b), "six")
                # nothing else was on its way to either
                await a.send("sync")
                self.assertEqual(await recv(a), "sync")
                await b.send("sync")
                self.assertEqual(await recv(b), "sync")
        run_async(go())

    def test_connect(self):
        """wsc_connect: refused without the client role, else a real outbound connection
        (to this very server) that opens, sends and receives."""
        async def go():
            async with ws_connect(self.url()) as ws:
                r = await ask(ws, "!connect ws://%s:%d/self" % (HOST, self.node.ws_port))
                if self.part_out("NO_CLIENT"):
                    self.assertEqual(r, "connect %d" % NOTBUILT)
                    return
                self.assertEqual(r, "connect 0")
                # its server side (a client here) echoes, and the outbound end says so
                self.assertEqual(await recv(ws), "client got ping-self")
                self.assertEqual(await recv(ws), "client closed")
        run_async(go())
        util.assert_echo(self.node.ws_port)


class NoRedis(OptOut, unittest.TestCase):
    MACRO = "NO_REDIS"


class NoCluster(OptOut, unittest.TestCase):
    MACRO = "NO_CLUSTER"


class NoClient(OptOut, unittest.TestCase):
    MACRO = "NO_CLIENT"


if __name__ == "__main__":
    main()
