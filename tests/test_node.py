"""Interop tests: the Python websockets client (and raw sockets) against wscluster-node."""

import asyncio
import json
import os
import signal
import unittest
import uuid
from urllib.parse import quote

from websockets.exceptions import ConnectionClosed, InvalidStatusCode

from util import (OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT, Node,
                  NodeTestCase, RawTCP, RawWS, assert_echo, close_payload, client_count,
                  get_stats, http_request, main, recv, run_async, upgrade_request,
                  wait_for, ws_connect)
import util

MiB = 1 << 20
SIZES = [0, 1, 125, 126, 65535, 65536, MiB, 16 * MiB]


def text_of(n):
    return ("abcdefghijklmnopqrstuvwxyz0123456789" * (n // 36 + 1))[:n]


def token():
    return uuid.uuid4().hex


class EchoTests(NodeTestCase, unittest.TestCase):
    NODE_TCP = True

    def test_echo_text_sizes(self):
        async def go():
            async with ws_connect(self.node.url("/echo")) as ws:
                for n in SIZES:
                    with self.subTest(size=n):
                        msg = text_of(n)
                        await ws.send(msg)
                        got = await recv(ws, 30)
                        self.assertIsInstance(got, str)
                        self.assertEqual(len(got), n)
                        self.assertTrue(got == msg, "text echo of %d bytes differs" % n)
        run_async(go(), 120)

    def test_echo_binary_sizes(self):
        async def go():
            async with ws_connect(self.node.url("/echo")) as ws:
                for n in SIZES:
                    with self.subTest(size=n):
                        msg = os.urandom(n)
                        await ws.send(msg)
                        got = await recv(ws, 30)
                        self.assertIsInstance(got, bytes)
                        self.assertEqual(len(got), n)
                        self.assertTrue(got == msg, "binary echo of %d bytes differs" % n)
        run_async(go(), 120)

    def test_echo_multibyte_utf8(self):
        async def go():
            async with ws_connect(self.node.url("/echo")) as ws:
                for msg in ["h\u00e9llo w\u00f6rld", "\u2713\u20ac", "\U0001d11e\U0001f600",
                            "\u00e9" * 70000, "\U0010ffff\ud7ff\ue000"]:
                    await ws.send(msg)
                    self.assertEqual(await recv(ws), msg)
        run_async(go())

    def test_many_messages_in_order(self):
        async def go():
            async with ws_connect(self.node.url("/echo")) as ws:
                msgs = ["m%d" % i if i % 2 else b"b%d" % i for i in range(500)]
                for m in msgs:
                    await ws.send(m)
                for m in msgs:
                    self.assertEqual(await recv(ws), m)
        run_async(go())

    def test_fragmented_list_and_async_iterator(self):
        async def agen(parts):
            for p in parts:
                yield p

        async def go():
            async with ws_connect(self.node.url("/echo")) as ws:
                await ws.send(["frag1 ", "\u00e9", "", "frag3"])
                self.assertEqual(await recv(ws), "frag1 \u00e9frag3")
                await ws.send([b"\x00\x01", b"", b"\x02" * 70000])
                self.assertEqual(await recv(ws), b"\x00\x01" + b"\x02" * 70000)
                await ws.send(agen(["a" * 1000 for _ in range(50)]))
                self.assertEqual(await recv(ws), "a" * 50000)
                await ws.send(agen([os.urandom(10) for _ in range(3)]))
                self.assertEqual(len(await recv(ws)), 30)
        run_async(go())

    def test_raw_fragments_with_interleaved_ping(self):
        with RawWS(self.node.ws_port, "/echo") as ws:
            ws.send(OP_TEXT, b"Hel", fin=False)
            ws.send(OP_PING, b"in-between")
            ws.send(OP_CONT, b"lo ", fin=False)
            ws.send(OP_PONG, b"unsolicited")  # must be ignored
            ws.send(OP_CONT, b"", fin=False)
            ws.send(OP_CONT, b"world", fin=True)
            frames = [ws.recv_frame(), ws.recv_frame()]
            self.assertIn((True, OP_PONG, b"in-between"), frames)
            self.assertIn((True, OP_TEXT, b"Hello world"), frames)
            # pong answers the ping right away, before the message completes
            self.assertEqual(frames[0][1], OP_PONG)

    def test_raw_utf8_split_across_fragments(self):
        euro = "\u20ac".encode()  # e2 82 ac
        with RawWS(self.node.ws_port, "/echo") as ws:
            ws.send(OP_TEXT, b"x" + euro[:1], fin=False)
            ws.send(OP_CONT, euro[1:2], fin=False)
            ws.send(OP_CONT, euro[2:] + b"y", fin=True)
            self.assertEqual(ws.recv_message(), (OP_TEXT, b"x" + euro + b"y"))

    def test_raw_many_tiny_fragments(self):
        payload = os.urandom(2000)
        with RawWS(self.node.ws_port, "/echo") as ws:
            frames = [util.build_frame(OP_BINARY if i == 0 else OP_CONT, payload[i:i + 1],
                                       fin=(i == len(payload) - 1))
                      for i in range(len(payload))]
            ws.send_raw(b"".join(frames))
            self.assertEqual(ws.recv_message(), (OP_BINARY, payload))

    def test_raw_frame_split_into_single_bytes(self):
        frame = util.build_frame(OP_TEXT, b"byte by byte" * 20)
        with RawWS(self.node.ws_port, "/echo") as ws:
            for i in range(len(frame)):
                ws.send_raw(frame[i:i + 1])
            self.assertEqual(ws.recv_message(), (OP_TEXT, b"byte by byte" * 20))

    def test_frame_pipelined_with_handshake(self):
        # The first frame arrives in the same segment as the upgrade request.
        key = util.ws_key()
        s = util.connect(self.node.ws_port)
        try:
            s.sendall(upgrade_request("/echo", key) + util.build_frame(OP_TEXT, b"early"))
            status, headers, rest = util.read_http_head(s)
            self.assertEqual(status, 101)
            self.assertEqual(headers.get("sec-websocket-accept"), util.accept_for(key))
            ws = RawWS.wrap(s, rest)
            self.assertEqual(ws.recv_message(), (OP_TEXT, b"early"))
        finally:
            s.close()

    def test_handshake_header_variants(self):
        # Header names/values are case-insensitive; Connection may be a token list.
        key = util.ws_key()
        head = ("GET /echo HTTP/1.1\r\nhost: 127.0.0.1\r\nUPGRADE: WebSocket\r\n"
                "connection: keep-alive, Upgrade\r\nsec-websocket-key: %s\r\n"
                "SEC-WEBSOCKET-VERSION: 13\r\nOrigin: http://127.0.0.1\r\n"
                "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
                "\r\n" % key)
        s = util.connect(self.node.ws_port)
        try:
            s.sendall(head.encode())
            status, headers, _ = util.read_http_head(s)
            self.assertEqual(status, 101)
            self.assertEqual(headers.get("sec-websocket-accept"), util.accept_for(key))
            self.assertEqual(headers.get("upgrade", "").lower(), "websocket")
            self.assertNotIn("sec-websocket-extensions", headers)
        finally:
            s.close()

    def test_ping_pong_websockets(self):
        async def go():
            async with ws_connect(self.node.url("/echo")) as ws:
                waiter = await ws.ping(b"hello-ping")
                await asyncio.wait_for(waiter, 10)
        run_async(go())

    def test_ping_pong_raw_payloads(self):
        with RawWS(self.node.ws_port, "/echo") as ws:
            for payload in [b"", b"x", os.urandom(125), bytes(range(100))]:
                ws.send(OP_PING, payload)
                fin, op, got = ws.recv_frame()
                self.assertEqual((fin, op, got), (True, OP_PONG, payload))

    def test_close_codes_echoed(self):
        async def go(code):
            async with ws_connect(self.node.url("/echo")) as ws:
                await ws.send("before close")
                self.assertEqual(await recv(ws), "before close")
                await ws.close(code, "bye")
                return ws.close_code
        for code in [1000, 1001, 1003, 1007, 1008, 1011, 3000, 4000, 4321, 4999]:
            with self.subTest(code=code):
                self.assertEqual(run_async(go(code)), code)

    def test_close_without_code(self):
        with RawWS(self.node.ws_port, "/echo") as ws:
            ws.send(OP_CLOSE, b"")
            code = ws.expect_close(reply=False)
            self.assertIn(code, (None, 1000))

    def test_close_reason_utf8(self):
        with RawWS(self.node.ws_port, "/echo") as ws:
            ws.send(OP_CLOSE, close_payload(4000, "\u00e9t\u00e9".encode()))
            self.assertEqual(ws.expect_close(reply=False), 4000)

    def test_invalid_utf8_text_1007(self):
        cases = {
            "ff": b"\xff",
            "lone continuation": b"ok\x80",
            "overlong slash": b"\xc0\xaf",
            "overlong 3 byte": b"\xe0\x80\xaf",
            "surrogate": b"\xed\xa0\x80",
            "above U+10FFFF": b"\xf4\x90\x80\x80",
            "truncated at end": b"abc\xe2\x82",
        }
        for name, payload in cases.items():
            with self.subTest(case=name):
                with RawWS(self.node.ws_port, "/echo") as ws:
                    ws.send(OP_TEXT, payload)
                    self.assertEqual(ws.expect_close(), 1007)

    def test_invalid_utf8_in_fragmented_text_1007(self):
        for split in [(b"ok\xe2\x82", b"\x28"), (b"\xf0\x9f", b"\x98")]:
            with self.subTest(split=split):
                with RawWS(self.node.ws_port, "/echo") as ws:
                    ws.send(OP_TEXT, split[0], fin=False)
                    ws.send(OP_CONT, split[1], fin=True)
                    self.assertEqual(ws.expect_close(), 1007)

    def test_invalid_utf8_binary_is_fine(self):
        with RawWS(self.node.ws_port, "/echo") as ws:
            ws.send(OP_BINARY, b"\xff\xfe\xc0\xaf")
            self.assertEqual(ws.recv_message(), (OP_BINARY, b"\xff\xfe\xc0\xaf"))

    def test_tcp_ping_and_close(self):
        with RawTCP(self.node.tcp_port) as t:
            for payload in [b"", b"tcp-ping", os.urandom(125)]:
                t.send(OP_PING, payload)
                self.assertEqual(t.recv_frame(), (OP_PONG, payload))
            t.send(OP_CLOSE, close_payload(1000))
            self.assertEqual(t.expect_close(), 1000)

    def test_tcp_close_4000_echoed(self):
        with RawTCP(self.node.tcp_port) as t:
            t.sync()
            t.send(OP_CLOSE, close_payload(4000, b"app"))
            self.assertEqual(t.expect_close(), 4000)


class MaxMessageTests(NodeTestCase, unittest.TestCase):
    NODE_ARGS = ("--max-message", "1024")
    NODE_TCP = True

    def test_at_limit_ok(self):
        async def go():
            async with ws_connect(self.node.url("/echo")) as ws:
                await ws.send("x" * 1024)
                self.assertEqual(await recv(ws), "x" * 1024)
                await ws.send([b"y" * 512, b"y" * 512])
                self.assertEqual(await recv(ws), b"y" * 1024)
        run_async(go())

    def test_over_limit_1009(self):
        async def go(msg):
            async with ws_connect(self.node.url("/echo")) as ws:
                await ws.send(msg)
                with self.assertRaises(ConnectionClosed):
                    await recv(ws)
                return ws.close_code
        for msg in ["x" * 1025, b"y" * 1025, b"z" * 70000, ["a" * 600, "b" * 425]]:
            with self.subTest(size=len("".join(msg)) if isinstance(msg, list) else len(msg)):
                self.assertEqual(run_async(go(msg)), 1009)

    def test_over_limit_raw_fragments_1009(self):
        with RawWS(self.node.ws_port, "/echo") as ws:
            for _ in range(20):
                ws.send(OP_BINARY if _ == 0 else OP_CONT, b"q" * 100, fin=False)
            self.assertEqual(ws.expect_close(), 1009)

    def test_post_send_too_big_413(self):
        status, _, _ = http_request(self.node.ws_port, "POST", "/send", body=b"x" * 1025,
                                    headers={"Content-Type": "application/octet-stream"})
        self.assertEqual(status, 413)
        status, _, body = http_request(self.node.ws_port, "POST", "/send", body=b"x" * 1024,
                                       headers={"Content-Type": "application/octet-stream"})
        self.assertEqual(status, 200, body)

    def test_tcp_over_limit_1009(self):
        with RawTCP(self.node.tcp_port) as t:
            t.send(OP_BINARY, b"w" * 1025)
            self.assertEqual(t.expect_close(), 1009)

    def tearDown(self):
        assert_echo(self.node.ws_port)


class BroadcastTests(NodeTestCase, unittest.TestCase):
    NODE_TCP = True

    def test_ws_broadcast_reaches_all(self):
        async def go():
            tcp = RawTCP(self.node.tcp_port)
            tcp.sync()
            try:
                async with ws_connect(self.node.url("/ws")) as a, \
                        ws_connect(self.node.url("/ws?user=bob")) as b, \
                        ws_connect(self.node.url("/ws")) as c:
                    msg = "hello-" + token()
                    await a.send(msg)
                    for ws in (a, b, c):
                        self.assertEqual(await recv(ws), msg)
                    self.assertEqual(tcp.recv_message(), (OP_TEXT, msg.encode()))

                    blob = b"\x00bin\xff" + os.urandom(100)
                    await b.send(blob)
                    for ws in (a, b, c):
                        self.assertEqual(await recv(ws), blob)
                    self.assertEqual(tcp.recv_message(), (OP_BINARY, blob))

                    big = os.urandom(200000)
                    await c.send(big)
                    for ws in (a, b, c):
                        self.assertEqual(await recv(ws), big)
                    self.assertEqual(tcp.recv_message(), (OP_BINARY, big))

                    # a TCP client's message goes to every /ws client and back to itself
                    tmsg = "from-tcp-\u00e9-" + token()
                    tcp.send(OP_TEXT, tmsg)
                    for ws in (a, b, c):
                        self.assertEqual(await recv(ws), tmsg)
                    self.assertEqual(tcp.recv_message(), (OP_TEXT, tmsg.encode()))
                    tcp.send(OP_BINARY, b"\x01\x02")
                    for ws in (a, b, c):
                        self.assertEqual(await recv(ws), b"\x01\x02")
                    self.assertEqual(tcp.recv_message(), (OP_BINARY, b"\x01\x02"))
            finally:
                tcp.close()
        run_async(go())

    def test_echo_clients_do_not_get_broadcasts(self):
        async def go():
            async with ws_connect(self.node.url("/ws")) as w, \
                    ws_connect(self.node.url("/echo")) as e:
                await e.send("echo-only")
                self.assertEqual(await recv(e), "echo-only")
                marker = "marker-" + token()
                await w.send(marker)
                # /ws sees the marker first, so the /echo message never reached it
                self.assertEqual(await recv(w), marker)
                await e.send("echo-2")
                self.assertEqual(await recv(e), "echo-2")
        run_async(go())

    def test_send_get_broadcast(self):
        async def go():
            tcp = RawTCP(self.node.tcp_port)
            tcp.sync()
            try:
                async with ws_connect(self.node.url("/ws")) as a, \
                        ws_connect(self.node.url("/ws?user=carol")) as b:
                    msg = "get-" + token()
                    status, headers, body = await asyncio.to_thread(
                        http_request, self.node.ws_port, "GET", "/send?msg=" + msg)
                    self.assertEqual(status, 200, body)
                    self.assertIn("application/json", headers.get("content-type", ""))
                    data = json.loads(body)
                    self.assertIs(data["ok"], True)
                    self.assertGreaterEqual(data["delivered"], 3)
                    self.assertEqual(await recv(a), msg)
                    self.assertEqual(await recv(b), msg)
                    self.assertEqual(tcp.recv_message(), (OP_TEXT, msg.encode()))
            finally:
                tcp.close()
        run_async(go())

    def test_send_get_percent_decoding(self):
        async def go():
            async with ws_connect(self.node.url("/ws")) as a:
                msg = "h\u00e9llo w&rld=" + token()
                status, _, body = await asyncio.to_thread(
                    http_request, self.node.ws_port, "GET", "/send?msg=" + quote(msg, safe=""))
                self.assertEqual(status, 200, body)
                self.assertEqual(await recv(a), msg)
        run_async(go())

    def test_send_get_user_targeting(self):
        async def go():
            alice = "alice" + token()[:8]
            async with ws_connect(self.node.url("/ws?user=" + alice)) as a1, \
                    ws_connect(self.node.url("/ws?user=" + alice)) as a2, \
                    ws_connect(self.node.url("/ws?user=bob" + token()[:8])) as b, \
                    ws_connect(self.node.url("/ws")) as anon:
                msg = "private-" + token()
                status, _, body = await asyncio.to_thread(
                    http_request, self.node.ws_port, "GET",
                    "/send?msg=%s&user=%s" % (msg, alice))
                self.assertEqual(status, 200, body)
                self.assertEqual(json.loads(body)["delivered"], 2)
                self.assertEqual(await recv(a1), msg)
                self.assertEqual(await recv(a2), msg)
                nobody = "nobody" + token()[:8]
                status, _, body = await asyncio.to_thread(
                    http_request, self.node.ws_port, "GET",
                    "/send?msg=x&user=" + nobody)
                self.assertEqual(status, 200, body)
                self.assertEqual(json.loads(body)["delivered"], 0)
                # bob and anon must see the public marker as their next message
                marker = "public-" + token()
                await anon.send(marker)
                for ws in (b, anon, a1, a2):
                    self.assertEqual(await recv(ws), marker)
        run_async(go())

    def test_send_post_text_and_binary(self):
        async def go():
            tcp = RawTCP(self.node.tcp_port)
            tcp.sync()
            try:
                async with ws_connect(self.node.url("/ws")) as a:
                    text = "posted \u00e9 " + token()
                    status, _, body = await asyncio.to_thread(
                        http_request, self.node.ws_port, "POST", "/send",
                        text.encode(), {"Content-Type": "text/plain; charset=utf-8"})
                    self.assertEqual(status, 200, body)
                    self.assertIs(json.loads(body)["ok"], True)
                    self.assertEqual(await recv(a), text)
                    self.assertEqual(tcp.recv_message(), (OP_TEXT, text.encode()))

                    blob = b"\x00\x01\x02" + os.urandom(3000) + b"\x00"
                    status, _, body = await asyncio.to_thread(
                        http_request, self.node.ws_port, "POST", "/send", blob,
                        {"Content-Type": "application/octet-stream"})
                    self.assertEqual(status, 200, body)
                    self.assertEqual(await recv(a), blob)
                    self.assertEqual(tcp.recv_message(), (OP_BINARY, blob))
            finally:
                tcp.close()
        run_async(go())

    def test_send_missing_msg_400(self):
        status, _, _ = http_request(self.node.ws_port, "GET", "/send")
        self.assertEqual(status, 400)
        status, _, _ = http_request(self.node.ws_port, "GET", "/send?user=x")
        self.assertEqual(status, 400)

    def test_index_page(self):
        status, headers, body = http_request(self.node.ws_port, "GET", "/")
        self.assertEqual(status, 200)
        self.assertIn("text/html", headers.get("content-type", ""))
        self.assertIn(b"<script", body.lower())
        self.assertEqual(headers.get("connection", "").lower(), "close")

    def test_unknown_path_404(self):
        status, headers, _ = http_request(self.node.ws_port, "GET", "/no/such/thing")
        self.assertEqual(status, 404)
        self.assertEqual(headers.get("connection", "").lower(), "close")

    def test_unknown_ws_path_404(self):
        async def go():
            with self.assertRaises(InvalidStatusCode) as cm:
                async with ws_connect(self.node.url("/nope")):
                    pass
            self.assertEqual(cm.exception.status_code, 404)
        run_async(go())


class StatsTests(NodeTestCase, unittest.TestCase):
    NODE_ARGS = ("--id", "stats-node-1")

    def test_fields(self):
        s = get_stats(self.node.ws_port)
        self.assertEqual(s["id"], "stats-node-1")
        self.assertEqual(set(s["connections"]), {"client", "subscriber", "observable"})
        self.assertEqual(s["connections"]["subscriber"], 0)
        self.assertEqual(s["connections"]["observable"], 0)
        for k in ("received", "sent", "dropped", "closed_slow"):
            self.assertIsInstance(s["messages"][k], int)
            self.assertGreaterEqual(s["messages"][k], 0)

    def test_counters_change(self):
        port = self.node.ws_port

        async def go():
            before = get_stats(port)
            async with ws_connect(self.node.url("/ws")) as a, \
                    ws_connect(self.node.url("/ws")) as b:
                wait_for(lambda: client_count(port) >= 2, msg="client count 2")
                await a.send("count me")
                self.assertEqual(await recv(a), "count me")
                self.assertEqual(await recv(b), "count me")
                mid = get_stats(port)
                self.assertGreaterEqual(mid["messages"]["received"],
                                        before["messages"]["received"] + 1)
                self.assertGreaterEqual(mid["messages"]["sent"], before["messages"]["sent"] + 2)
            wait_for(lambda: client_count(port) == 0, msg="client count back to 0")
        run_async(go())


class PingTests(NodeTestCase, unittest.TestCase):
    NODE_ARGS = ("--ping-interval-ms", "1000")

    def test_server_pings_and_keeps_responsive_client(self):
        with RawWS(self.node.ws_port, "/echo") as ws:
            fin, op, payload = ws.recv_frame(timeout=15)
            self.assertEqual(op, OP_PING)
            ws.send(OP_PONG, payload)
            # stay well past the 2 s idle timeout while answering pings
            deadline = util.time.monotonic() + 3.5
            while util.time.monotonic() < deadline:
                try:
                    fin, op, payload = ws.recv_frame(timeout=0.5)
                except AssertionError:
                    continue  # read timeout
                self.assertEqual(op, OP_PING)
                ws.send(OP_PONG, payload)
            ws.send_text("still here")
            self.assertEqual(ws.recv_message(), (OP_TEXT, b"still here"))

    def test_silent_client_is_dropped(self):
        with RawWS(self.node.ws_port, "/echo") as ws:
            t0 = util.time.monotonic()
            while True:  # never answer: node should give up after about 2 s
                try:
                    fin, op, payload = ws.recv_frame(timeout=20)
                except EOFError:
                    break
                if op == OP_CLOSE:
                    break
                self.assertEqual(op, OP_PING)
            self.assertLess(util.time.monotonic() - t0, 20)


class ShutdownTests(unittest.TestCase):
    def _shutdown(self, sig):
        node = Node(tcp=True).start()
        try:
            async def go():
                tcp = RawTCP(node.tcp_port)
                tcp.sync()
                async with ws_connect(node.url("/ws")) as w, \
                        ws_connect(node.url("/echo")) as e:
                    await e.send("pre")
                    self.assertEqual(await recv(e), "pre")
                    node.send_signal(sig)
                    for ws in (w, e):
                        with self.assertRaises(ConnectionClosed):
                            await recv(ws, 15)
                        await asyncio.wait_for(ws.wait_closed(), 15)
                        self.assertEqual(ws.close_code, 1001)
                # TCP clients: a close frame with 1001 (or at least a clean EOF)
                try:
                    code = await asyncio.to_thread(tcp.expect_close, 15)
                    self.assertEqual(code, 1001)
                finally:
                    tcp.close()
            run_async(go())
            rc = node.wait(30)
            self.assertEqual(rc, 0, "exit status after %s\n%s" % (sig.name, node.log_tail()))
        finally:
            node.kill()

    def test_sigterm_1001_exit_0(self):
        self._shutdown(signal.SIGTERM)

    def test_sigint_1001_exit_0(self):
        self._shutdown(signal.SIGINT)

    def test_idle_node_sigterm(self):
        node = Node().start()
        try:
            assert_echo(node.ws_port)
            node.stop()
        finally:
            node.kill()


if __name__ == "__main__":
    main()
