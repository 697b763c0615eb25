"""Slow consumers against wscluster-node: a client that stops reading is closed (1008) once
its output queue passes --max-pending, without slowing anyone else down; a single message
larger than --max-pending still reaches a client that keeps up.

Run:  /usr/bin/python3 tests/test_slow.py      Env: WSC_NODE_BIN (default build/wscluster-node)
"""

import asyncio
import json
import os
import socket
import struct
import threading
import time
import unittest

from util import (HOST, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG, OP_TEXT, TIMEOUT, Node, RawTCP,
                  RawWS, assert_echo, client_count, free_port, get_stats, http_request, main,
                  parse_close, read_http_head, recv, run_async, tcp_frame, upgrade_request,
                  wait_for, ws_connect)

KiB = 1 << 10
MiB = 1 << 20
MAX_PENDING = 256 * KiB
SIZE = 8 * KiB       # bytes per message pushed through /send
RCVBUF = 4096        # the slow client's receive buffer (set before connect)
WINDOW = 8           # messages a fast reader may be behind the sender (cluster test)
SLOW = 120.0         # generous bound for whole phases (ASan build on a slow machine)


def _kernel_send_buffer_max():
    """On loopback the node's kernel send buffer autotunes up to tcp_wmem's maximum (4 MiB
    by default), all of which fills before the node's own queue grows: the slow client is
    only caught once that much is in flight."""
    try:
        with open("/proc/sys/net/ipv4/tcp_wmem") as f:
            return int(f.read().split()[2])
    except (OSError, ValueError, IndexError):
        return 4 * MiB


# enough messages to fill the kernel buffers and then twice MAX_PENDING (400 at least)
COUNT = max(400, (_kernel_send_buffer_max() + 2 * MAX_PENDING) // SIZE + 100)


def payload(i, size=SIZE):
    """Message i: a 6-digit sequence number, then a printable pattern up to `size` bytes."""
    head = b"%06d:" % i
    body = (b"abcdefghijklmnopqrstuvwxyz0123456789" * (size // 36 + 1))[: size - len(head)]
    return head + body


def seq_of(data):
    return int(data[:6])


def send_via_http(port, i, data, binary):
    """POST /send one message (binary or text frame); returns the JSON answer."""
    ctype = "application/octet-stream" if binary else "text/plain; charset=utf-8"
    status, _, body = http_request(port, "POST", "/send", data, {"Content-Type": ctype},
                                   timeout=30)
    if status != 200:
        raise AssertionError("POST /send #%d answered %d: %r" % (i, status, body[:200]))
    answer = json.loads(body)
    if answer.get("ok") is not True:
        raise AssertionError("POST /send #%d: %r" % (i, answer))
    return answer


def slow_socket(port):
    """A connected socket whose receive buffer is tiny and which this test never reads
    (until it checks how the node closed it)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)  # before connect: small window
    s.settimeout(TIMEOUT)
    s.connect((HOST, port))
    return s


def slow_ws(port, path="/ws?user=slow"):
    s = slow_socket(port)
    try:
        s.sendall(upgrade_request(path))
        status, _, rest = read_http_head(s)
        if status != 101:
            raise AssertionError("slow client handshake answered %r" % status)
    except BaseException:
        s.close()
        raise
    return RawWS.wrap(s, rest)


class Reader(threading.Thread):
    """Reads data messages from a RawWS or RawTCP client as fast as they come (answering
    pings) until `want` have arrived or something fails."""

    def __init__(self, conn, want):
        super().__init__(daemon=True)
        self.conn, self.want = conn, want
        self.got = []
        self.error = None

    def run(self):
        try:
            while len(self.got) < self.want:
                self.got.append(self.conn.recv_message(timeout=SLOW))
        except BaseException as e:  # reported by finish()
            self.error = e

    def reach(self, n, timeout=SLOW):
        """Wait until n messages have arrived (or the reader has stopped)."""
        wait_for(lambda: len(self.got) >= n or not self.is_alive(), timeout=timeout,
                 msg="reader at %d of %d messages" % (n, self.want), interval=0.005)

    def finish(self, timeout=SLOW):
        self.join(timeout)
        if self.is_alive():
            raise AssertionError("reader still waiting: %d of %d messages"
                                 % (len(self.got), self.want))
        if self.error is not None:
            raise AssertionError("reader failed after %d of %d messages: %r"
                                 % (len(self.got), self.want, self.error))
        return self.got


def read_until_closed(recv_frame, close_op, timeout=SLOW):
    """Everything a (slow) client can still read: ([sequence numbers of the complete data
    messages], close code or None if the stream ended without a close frame)."""
    seqs = []
    deadline = time.monotonic() + timeout
    while True:
        if time.monotonic() > deadline:
            raise AssertionError("slow client still open after %ss (%d messages read)"
                                 % (timeout, len(seqs)))
        try:
            op, data = recv_frame()
        except EOFError:  # EOF or reset, possibly in the middle of a frame
            return seqs, None
        if op == close_op:
            return seqs, parse_close(data)[0]
        if op in (OP_TEXT, OP_BINARY):
            seqs.append(seq_of(data))
        elif op not in (OP_PING, OP_PONG):
            raise AssertionError("unexpected frame type %#x" % op)


def ws_frames(ws):
    def recv_frame():
        fin, op, data = ws.recv_frame(timeout=SLOW)
        if not fin:
            raise AssertionError("node fragmented a broadcast message")
        return op, data
    return recv_frame


def tcp_frames(tcp):
    return lambda: tcp.recv_frame(timeout=SLOW)


class SlowConsumerTests(unittest.TestCase):
    def setUp(self):
        self.node = Node("--max-pending", str(MAX_PENDING), "--id", "slow-node", tcp=True).start()

    def tearDown(self):
        self.node.kill()

    def push(self, n):
        """Push messages 0..n-1 (text and binary alternately) through POST /send."""
        port = self.node.ws_port
        for i in range(n):
            send_via_http(port, i, payload(i), binary=bool(i % 2))

    def check_fast_client(self, got, n):
        self.assertEqual(len(got), n)
        for i, (op, data) in enumerate(got):
            if (op, data) != ((OP_BINARY if i % 2 else OP_TEXT), payload(i)):
                self.fail("fast client: message %d is %r %r..., want #%d"
                          % (i, op, data[:16], i))

    def check_slow_client(self, seqs, code):
        # the slow client gets a gapless prefix of the stream, then 1008 (or EOF/reset)
        self.assertEqual(seqs, list(range(len(seqs))), "slow client's messages: gaps/reorder")
        self.assertLess(len(seqs), COUNT, "the slow client got everything: not closed as slow")
        self.assertIn(code, (1008, None), "slow client closed with %r, expected 1008" % code)

    def check_still_serving(self, fast):
        port = self.node.ws_port
        self.node.assert_alive()
        assert_echo(port)
        # the fast client is still subscribed and gets new messages
        status, _, body = http_request(port, "GET", "/send?msg=after-the-storm")
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body)["delivered"], 1)
        self.assertEqual(fast.recv_message(timeout=SLOW), (OP_TEXT, b"after-the-storm"))
        # and a newcomer can join and chat
        with RawWS(port, "/ws?user=new") as late:
            wait_for(lambda: client_count(port) == 2, msg="newcomer counted")
            late.send_text("hi from the newcomer")
            self.assertEqual(late.recv_message(timeout=SLOW), (OP_TEXT, b"hi from the newcomer"))
            self.assertEqual(fast.recv_message(timeout=SLOW), (OP_TEXT, b"hi from the newcomer"))

    def test_slow_ws_client_closed_1008_fast_one_gets_all(self):
        port = self.node.ws_port
        slow = slow_ws(port)
        fast = RawWS(port, "/ws?user=fast")
        try:
            wait_for(lambda: client_count(port) == 2, msg="both clients counted")
            reader = Reader(fast, COUNT + 1)
            reader.start()
            self.push(COUNT)
            # GET /send works through the same path
            status, _, body = http_request(port, "GET", "/send?msg=%06d:end" % COUNT)
            self.assertEqual(status, 200, body)
            got = reader.finish()
            self.check_fast_client(got[:COUNT], COUNT)
            self.assertEqual(got[COUNT], (OP_TEXT, b"%06d:end" % COUNT))

            stats = get_stats(port)
            self.assertGreaterEqual(stats["messages"]["closed_slow"], 1, stats)
            # the node lets go of the slow client even though it never reads
            wait_for(lambda: client_count(port) == 1, timeout=SLOW,
                     msg="slow client dropped from the client count")
            seqs, code = read_until_closed(ws_frames(slow), OP_CLOSE)
            self.check_slow_client(seqs, code)
            self.assertEqual(get_stats(port)["messages"]["closed_slow"], 1)
            self.check_still_serving(fast)
        finally:
            slow.close()
            fast.close()
        self.node.stop()  # exit status 0 after SIGTERM

    def test_slow_client_that_wakes_up_reads_1008(self):
        # A slow client that starts reading right after being cut off (well within the
        # node's 3 s close timeout) gets its gapless prefix and then the close frame 1008.
        port = self.node.ws_port
        slow = slow_ws(port)
        fast = RawWS(port, "/ws?user=fast")
        result = {}

        def wake_up():  # poll /stats; read the slow client as soon as it has been cut off
            try:
                wait_for(lambda: get_stats(port)["messages"]["closed_slow"] >= 1,
                         timeout=SLOW, interval=0.02, msg="closed_slow >= 1")
                result["closed"] = read_until_closed(ws_frames(slow), OP_CLOSE)
            except BaseException as e:
                result["error"] = e

        try:
            wait_for(lambda: client_count(port) == 2, msg="both clients counted")
            reader = Reader(fast, COUNT)
            reader.start()
            waker = threading.Thread(target=wake_up, daemon=True)
            waker.start()
            self.push(COUNT)
            self.check_fast_client(reader.finish(), COUNT)
            waker.join(SLOW)
            self.assertFalse(waker.is_alive(), "slow client reader hangs")
            self.assertNotIn("error", result)
            seqs, code = result["closed"]
            self.check_slow_client(seqs, code)
            self.assertEqual(code, 1008)
            # answer the close: the node then ends the TCP connection
            slow.send(OP_CLOSE, struct.pack("!H", 1008))
            slow.expect_eof(SLOW)
            wait_for(lambda: client_count(port) == 1, timeout=SLOW, msg="slow client gone")
            self.assertEqual(get_stats(port)["messages"]["closed_slow"], 1)
            self.check_still_serving(fast)
        finally:
            slow.close()
            fast.close()
        self.node.stop()

    def test_slow_tcp_client_closed_1008(self):
        port = self.node.ws_port
        s = slow_socket(self.node.tcp_port)
        slow = RawTCP.__new__(RawTCP)
        slow.sock, slow.buf = s, b""
        fast = RawWS(port, "/ws?user=fast")
        try:
            s.sendall(tcp_frame(OP_PING, b"sync"))  # registered once the pong is queued
            ftype, data = slow.recv_frame()
            self.assertEqual((ftype, data), (OP_PONG, b"sync"))
            wait_for(lambda: client_count(port) == 2, msg="both clients counted")
            reader = Reader(fast, COUNT)
            reader.start()
            self.push(COUNT)
            self.check_fast_client(reader.finish(), COUNT)
            self.assertGreaterEqual(get_stats(port)["messages"]["closed_slow"], 1)
            wait_for(lambda: client_count(port) == 1, timeout=SLOW,
                     msg="slow TCP client dropped from the client count")
            seqs, code = read_until_closed(tcp_frames(slow), OP_CLOSE)
            self.check_slow_client(seqs, code)
            self.check_still_serving(fast)
        finally:
            slow.close()
            fast.close()
        self.node.stop()

    def test_two_slow_clients_one_fast(self):
        port = self.node.ws_port
        slow1, slow2 = slow_ws(port, "/ws?user=s1"), slow_ws(port, "/ws?user=s2")
        fast = RawWS(port, "/ws?user=fast")
        try:
            wait_for(lambda: client_count(port) == 3, msg="three clients counted")
            reader = Reader(fast, COUNT)
            reader.start()
            self.push(COUNT)
            self.check_fast_client(reader.finish(), COUNT)
            wait_for(lambda: client_count(port) == 1, timeout=SLOW,
                     msg="both slow clients dropped")
            self.assertEqual(get_stats(port)["messages"]["closed_slow"], 2)
            for slow in (slow1, slow2):
                self.check_slow_client(*read_until_closed(ws_frames(slow), OP_CLOSE))
            self.check_still_serving(fast)
        finally:
            for c in (slow1, slow2, fast):
                c.close()
        self.node.stop()


class ClusterSlowConsumerTests(unittest.TestCase):
    """Two linked instances: a slow client on instance 1 is cut off by instance 1 alone; the
    peer link carrying the messages from instance 0 stays up and loses nothing."""

    def setUp(self):
        ports = [free_port(), free_port()]
        env = {"WSCLUSTER_PEERS": ",".join("%s:%d" % (HOST, p) for p in ports),
               "WSCLUSTER_SECRET": os.urandom(8).hex()}
        self.nodes = []
        for i, p in enumerate(ports):
            self.nodes.append(Node("--listen", "%s:%d" % (HOST, p), "--id", "slow-cl-%d" % i,
                                   "--max-pending", str(MAX_PENDING), "--heartbeat-ms", "200",
                                   "--heartbeat-timeout-ms", "1000", env=env).start())

    def tearDown(self):
        for n in self.nodes:
            n.kill()

    def links(self, node):
        return [(p["node"], p["subscriber"], p["observable"], p["reconnects"])
                for p in get_stats(node.ws_port)["peers"] if not p["self"]]

    def test_slow_client_on_other_instance(self):
        n0, n1 = self.nodes
        wait_for(lambda: all(len(self.links(n)) == 1 and self.links(n)[0][1:3] == ("up", "up")
                             for n in self.nodes), timeout=SLOW, msg="instances linked")
        before = [self.links(n) for n in self.nodes]
        slow = slow_ws(n1.ws_port)
        fast1 = RawWS(n1.ws_port, "/ws?user=fast1")
        fast0 = RawWS(n0.ws_port, "/ws?user=fast0")
        try:
            wait_for(lambda: client_count(n1.ws_port) == 2 and client_count(n0.ws_port) == 1,
                     msg="clients counted")
            readers = [Reader(fast0, COUNT), Reader(fast1, COUNT)]
            for r in readers:
                r.start()
            for i in range(COUNT):  # all pushed on instance 0
                # the fast readers stay within WINDOW messages (far under max_pending), so
                # only the slow client can fall behind, however starved the readers' thread
                for r in readers:
                    r.reach(i - WINDOW)
                send_via_http(n0.ws_port, i, payload(i), binary=bool(i % 2))
            for r in readers:
                got = r.finish()
                for i, (op, data) in enumerate(got):
                    if (op, data) != ((OP_BINARY if i % 2 else OP_TEXT), payload(i)):
                        self.fail("fast client: message %d is %r %r..." % (i, op, data[:16]))
            s0, s1 = get_stats(n0.ws_port), get_stats(n1.ws_port)
            self.assertEqual(s0["messages"]["closed_slow"], 0, s0)
            self.assertEqual(s1["messages"]["closed_slow"], 1, s1)
            self.assertEqual(s0["forwarded"]["out"], COUNT, s0["forwarded"])
            self.assertEqual(s0["forwarded"]["dropped"], 0, s0["forwarded"])
            self.assertEqual(s1["forwarded"]["in"], COUNT, s1["forwarded"])
            # the link never went down: same links, no new reconnects
            self.assertEqual([self.links(n) for n in self.nodes], before)
            wait_for(lambda: client_count(n1.ws_port) == 1, timeout=SLOW,
                     msg="slow client dropped")
            seqs, code = read_until_closed(ws_frames(slow), OP_CLOSE)
            self.assertEqual(seqs, list(range(len(seqs))))
            self.assertLess(len(seqs), COUNT)
            self.assertIn(code, (1008, None))
            assert_echo(n1.ws_port)
        finally:
            for c in (slow, fast0, fast1):
                c.close()
        for n in self.nodes:
            n.stop()


class BigMessageTests(unittest.TestCase):
    """--max-pending bounds the backlog, not the message: one message bigger than the bound
    still goes out whole to a client whose queue is empty."""

    def setUp(self):
        self.node = Node("--max-pending", str(MAX_PENDING), "--max-message", str(2 * MiB)).start()

    def tearDown(self):
        self.node.kill()

    def test_message_larger_than_max_pending_reaches_readers(self):
        port = self.node.ws_port

        async def go():
            async with ws_connect(self.node.url("/ws?user=c")) as c, \
                    ws_connect(self.node.url("/ws?user=d")) as d:
                await asyncio.to_thread(wait_for, lambda: client_count(port) == 2,
                                        msg="two clients counted")
                for i, size in enumerate((MiB, MiB + 12345, 2 * MiB)):
                    # POST /send, binary then text
                    big = os.urandom(size)
                    answer = await asyncio.to_thread(
                        http_request, port, "POST", "/send", big,
                        {"Content-Type": "application/octet-stream"}, 60)
                    self.assertEqual(answer[0], 200, answer[2][:200])
                    self.assertEqual(json.loads(answer[2])["delivered"], 2)
                    for ws in (c, d):
                        got = await recv(ws, SLOW)
                        self.assertIsInstance(got, bytes)
                        self.assertTrue(got == big, "POST #%d: %d bytes differ" % (i, size))
                    text = payload(i, size).decode()
                    answer = await asyncio.to_thread(
                        http_request, port, "POST", "/send", text.encode(),
                        {"Content-Type": "text/plain; charset=utf-8"}, 60)
                    self.assertEqual(answer[0], 200, answer[2][:200])
                    for ws in (c, d):
                        got = await recv(ws, SLOW)
                        self.assertTrue(got == text, "POST text #%d differs" % i)
                    # a client's own 1 MiB+ message, broadcast to both (sender included)
                    blob = os.urandom(size)
                    await c.send(blob)
                    for ws in (c, d):
                        got = await recv(ws, SLOW)
                        self.assertTrue(got == blob, "/ws broadcast #%d differs" % i)
                stats = await asyncio.to_thread(get_stats, port)
                self.assertEqual(stats["messages"]["closed_slow"], 0, stats)
                self.assertEqual(await asyncio.to_thread(client_count, port), 2)
        run_async(go(), 300)
        # one over max-message is still refused
        status, _, _ = http_request(port, "POST", "/send", b"x" * (2 * MiB + 1),
                                    {"Content-Type": "application/octet-stream"}, timeout=60)
        self.assertEqual(status, 413)
        assert_echo(port)
        self.node.stop()


if __name__ == "__main__":
    main()
