"""Hostile input against wscluster-node: every case must leave the node serving."""

import json
import os
import socket
import struct
import time
import unittest

from util import (OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT, NodeTestCase,
                  RawTCP, RawWS, assert_echo, build_frame, client_count, close_payload,
                  connect, http_request, main, raise_nofile, read_http_head, recv_all,
                  upgrade_request, wait_for)

MANY = 1100
# Before any node starts, so the nodes inherit it too.
NOFILE = raise_nofile(MANY * 2 + 200)


def http_exchange(port, data, timeout=10):
    """Send raw bytes, return (status or None, headers, body bytes up to EOF)."""
    s = connect(port, timeout)
    try:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        status, headers, rest = read_http_head(s, timeout)
        return status, headers, rest + (recv_all(s, timeout) if status is not None else b"")
    finally:
        s.close()


class HostileHttpTests(NodeTestCase, unittest.TestCase):
    NODE_ARGS = ("--handshake-timeout-ms", "1000")

    def tearDown(self):
        self.node.assert_alive()
        assert_echo(self.node.ws_port)

    def test_garbage_instead_of_http(self):
        cases = [
            b"\x00\x01\x02garbage\xff\r\n\r\n",
            b"HELLO\r\n\r\n",
            b"GET\r\n\r\n",
            b"GET / HTTP/1.1\r\n\x00\r\n\r\n",
            b"GET / HTTP/9.9\r\nHost: x\r\n\r\n",
            b"GET /  HTTP/1.1 extra\r\nHost: x\r\n\r\n",
            b"GET / HTTP/1.1\r\nNo colon here\r\n\r\n",
            b"GET / HTTP/1.1\r\n : empty name\r\n\r\n",
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + os.urandom(200),  # TLS hello
            b"\r\n\r\n\r\n",
            os.urandom(4000),
        ]
        for data in cases:
            with self.subTest(data=data[:40]):
                status, _, _ = http_exchange(self.node.ws_port, data)
                self.assertTrue(status is None or 400 <= status < 500 or status == 505,
                                "garbage answered %r" % status)
                assert_echo(self.node.ws_port)

    def test_oversized_head_431(self):
        for pad in (9000, 20000):
            with self.subTest(pad=pad):
                req = upgrade_request("/echo", extra=[("X-Pad", "a" * pad)])
                status, _, _ = http_exchange(self.node.ws_port, req)
                self.assertEqual(status, 431)
        # unterminated oversized head, request line only
        status, _, _ = http_exchange(self.node.ws_port,
                                     b"GET /" + b"x" * 9000 + b" HTTP/1.1\r\n")
        self.assertEqual(status, 431)

    def test_head_below_limit_accepted(self):
        req = upgrade_request("/echo", extra=[("X-Pad", "a" * 6000)])
        s = connect(self.node.ws_port)
        try:
            s.sendall(req)
            status, _, _ = read_http_head(s)
            self.assertEqual(status, 101)
        finally:
            s.close()

    def test_too_many_headers_431(self):
        extra = [("X-H%d" % i, "v") for i in range(100)]
        status, _, _ = http_exchange(self.node.ws_port, upgrade_request("/echo", extra=extra))
        self.assertEqual(status, 431)

    def test_wrong_version_426(self):
        for version in ("8", "12", "14", "abc"):
            with self.subTest(version=version):
                status, headers, _ = http_exchange(
                    self.node.ws_port, upgrade_request("/echo", version=version))
                self.assertEqual(status, 426)
                self.assertEqual(headers.get("sec-websocket-version"), "13")

    def test_missing_version(self):
        status, _, _ = http_exchange(
            self.node.ws_port, upgrade_request("/echo", omit=("sec-websocket-version",)))
        self.assertIn(status, (400, 426))

    def test_bad_key_400(self):
        cases = {
            "missing": upgrade_request("/echo", omit=("sec-websocket-key",)),
            "short": upgrade_request("/echo", key="dGhl"),
            "empty": upgrade_request("/echo", key=""),
            "not base64": upgrade_request("/echo", key="!" * 22 + "=="),
            "17 bytes": upgrade_request("/echo", key="AAAAAAAAAAAAAAAAAAAAAAA="),
        }
        for name, req in cases.items():
            with self.subTest(case=name):
                status, _, _ = http_exchange(self.node.ws_port, req)
                self.assertEqual(status, 400)

    def test_bad_upgrade_requests_4xx(self):
        cases = {
            "no upgrade header": upgrade_request("/echo", omit=("upgrade",)),
            "no connection header": upgrade_request("/echo", omit=("connection",)),
            "upgrade: h2c": upgrade_request("/echo", omit=("upgrade",),
                                            extra=[("Upgrade", "h2c")]),
            "post": upgrade_request("/echo").replace(b"GET ", b"POST ", 1),
            "http/1.0": upgrade_request("/echo").replace(b"HTTP/1.1", b"HTTP/1.0", 1),
        }
        for name, req in cases.items():
            with self.subTest(case=name):
                status, _, _ = http_exchange(self.node.ws_port, req)
                self.assertIsNotNone(status)
                self.assertTrue(400 <= status < 500, "%s answered %s" % (name, status))

    def test_chunked_post_rejected(self):
        req = (b"POST /send HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"5\r\nhello\r\n0\r\n\r\n")
        status, _, _ = http_exchange(self.node.ws_port, req)
        self.assertIsNotNone(status)
        self.assertTrue(400 <= status < 600 and status != 500, status)

    def test_post_body_shorter_than_content_length(self):
        # Body never completes: the handshake timeout must reap it.
        s = connect(self.node.ws_port)
        try:
            s.sendall(b"POST /send HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc")
            recv_all(s, 10)
        finally:
            s.close()

    def test_slowloris_partial_head_closed(self):
        s = connect(self.node.ws_port)
        try:
            s.sendall(b"GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: web")
            t0 = time.monotonic()
            recv_all(s, 10)  # fails if the node keeps it open 10 s
            self.assertGreater(time.monotonic() - t0, 0.5)
        finally:
            s.close()

    def test_slowloris_silent_connection_closed(self):
        s = connect(self.node.ws_port)
        try:
            recv_all(s, 10)
        finally:
            s.close()

    def test_slowloris_trickle_closed(self):
        # One byte every 200 ms never finishes a head within the 1 s timeout.
        s = connect(self.node.ws_port)
        try:
            req = upgrade_request("/echo")
            t0 = time.monotonic()
            closed = False
            for i in range(len(req) - 4):
                try:
                    s.sendall(req[i:i + 1])
                except (BrokenPipeError, ConnectionResetError):
                    closed = True
                    break
                s.settimeout(0.2)
                try:
                    if s.recv(4096) == b"":
                        closed = True
                        break
                except socket.timeout:
                    pass
                except ConnectionResetError:
                    closed = True
                    break
                if time.monotonic() - t0 > 10:
                    break
            self.assertTrue(closed, "trickling client still connected after 10 s")
        finally:
            s.close()

    def test_opened_connection_not_subject_to_handshake_timeout(self):
        with RawWS(self.node.ws_port, "/echo") as ws:
            time.sleep(2.0)
            ws.send_text("after the handshake timeout")
            self.assertEqual(ws.recv_message(), (OP_TEXT, b"after the handshake timeout"))


class HostileFrameTests(NodeTestCase, unittest.TestCase):

    def tearDown(self):
        self.node.assert_alive()
        assert_echo(self.node.ws_port)

    def expect_code(self, frames, codes, path="/echo"):
        with RawWS(self.node.ws_port, path) as ws:
            for f in frames:
                try:
                    ws.send_raw(f)
                except (BrokenPipeError, ConnectionResetError):
                    break
            code = ws.expect_close()
            self.assertIn(code, codes)

    def test_unmasked_frame_1002(self):
        self.expect_code([build_frame(OP_TEXT, b"hello", mask=False)], (1002,))
        self.expect_code([build_frame(OP_PING, b"hello", mask=False)], (1002,))
        self.expect_code([build_frame(OP_TEXT, b"hello", mask=False)], (1002,), "/ws")

    def test_rsv_bits_1002(self):
        for rsv in (1, 2, 4, 7):
            with self.subTest(rsv=rsv):
                self.expect_code([build_frame(OP_TEXT, b"x", rsv=rsv)], (1002,))
        self.expect_code([build_frame(OP_PING, b"x", rsv=4)], (1002,))

    def test_unknown_opcode_1002(self):
        for op in (3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF):
            with self.subTest(opcode=op):
                self.expect_code([build_frame(op, b"x")], (1002,))

    def test_fragmented_control_1002(self):
        for op in (OP_PING, OP_PONG, OP_CLOSE):
            with self.subTest(opcode=op):
                payload = close_payload(1000) if op == OP_CLOSE else b"x"
                self.expect_code([build_frame(op, payload, fin=False)], (1002,))

    def test_control_payload_126_1002(self):
        self.expect_code([build_frame(OP_PING, b"p" * 126)], (1002,))
        self.expect_code([build_frame(OP_PONG, b"p" * 126)], (1002,))
        self.expect_code([build_frame(OP_CLOSE, close_payload(1000, b"r" * 124))], (1002,))

    def test_continuation_without_start_1002(self):
        self.expect_code([build_frame(OP_CONT, b"x", fin=True)], (1002,))
        self.expect_code([build_frame(OP_CONT, b"x", fin=False)], (1002,))

    def test_new_data_frame_inside_fragmented_message_1002(self):
        for op in (OP_TEXT, OP_BINARY):
            with self.subTest(opcode=op):
                self.expect_code([build_frame(OP_TEXT, b"a", fin=False),
                                  build_frame(op, b"b", fin=True)], (1002,))

    def test_invalid_close_codes_1002(self):
        for code in (0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535):
            with self.subTest(code=code):
                self.expect_code([build_frame(OP_CLOSE, close_payload(code))], (1002,))

    def test_close_one_byte_payload_1002(self):
        self.expect_code([build_frame(OP_CLOSE, b"\x03")], (1002,))

    def test_close_reason_invalid_utf8(self):
        self.expect_code([build_frame(OP_CLOSE, close_payload(1000, b"\xff\xfe"))],
                         (1002, 1007))

    def test_length_top_bit_set(self):
        hdr = struct.pack("!BBQ", 0x82, 0x80 | 127, (1 << 63) | 5) + os.urandom(4)
        self.expect_code([hdr + b"hello"], (1002, 1009))

    def test_length_over_max_rejected_from_header(self):
        # Only the header is sent: the node must not wait for 17 MiB of payload.
        hdr = struct.pack("!BBQ", 0x82, 0x80 | 127, (16 << 20) + 1) + os.urandom(4)
        self.expect_code([hdr], (1009,))
        hdr = struct.pack("!BBQ", 0x82, 0x80 | 127, 1 << 40) + os.urandom(4)
        self.expect_code([hdr + b"x" * 100], (1009,))

    def test_abrupt_disconnects(self):
        frame = build_frame(OP_BINARY, os.urandom(300))
        cuts = {
            "after 1 header byte": frame[:1],
            "inside extended length": frame[:3],
            "inside mask key": frame[:6],
            "inside payload": frame[:100],
            "inside a fragmented message": build_frame(OP_TEXT, b"a", fin=False) + frame[:50],
        }
        for name, data in cuts.items():
            for reset in (False, True):
                with self.subTest(case=name, reset=reset):
                    ws = RawWS(self.node.ws_port, "/echo")
                    ws.send_raw(data)
                    if reset:  # RST instead of FIN
                        ws.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                           struct.pack("ii", 1, 0))
                    ws.close()
                    assert_echo(self.node.ws_port)

    def test_disconnect_mid_handshake_and_during_reply(self):
        for data in (b"GET /ec", upgrade_request("/echo")):
            s = connect(self.node.ws_port)
            s.sendall(data)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()
        # a client that never reads a large echo and then vanishes
        ws = RawWS(self.node.ws_port, "/echo")
        ws.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        for _ in range(4):
            ws.send(OP_BINARY, os.urandom(1 << 20))
        ws.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        ws.close()

    def test_data_after_close_ignored(self):
        with RawWS(self.node.ws_port, "/echo") as ws:
            ws.send_raw(build_frame(OP_CLOSE, close_payload(1000)) +
                        build_frame(OP_TEXT, b"late") + b"\xff\xff\xff")
            fin, op, payload = ws.recv_frame()
            self.assertEqual(op, OP_CLOSE)
            self.assertEqual(payload[:2], close_payload(1000))


class HostileTcpTests(NodeTestCase, unittest.TestCase):
    NODE_TCP = True

    def tearDown(self):
        self.node.assert_alive()
        with RawTCP(self.node.tcp_port) as t:
            t.sync()
            t.send(OP_TEXT, b"tcp still works")
            self.assertEqual(t.recv_message(), (OP_TEXT, b"tcp still works"))
        assert_echo(self.node.ws_port)

    def expect_code(self, data, codes):
        with RawTCP(self.node.tcp_port) as t:
            try:
                t.send_raw(data)
            except (BrokenPipeError, ConnectionResetError):
                pass
            self.assertIn(t.expect_close(), codes)

    def test_unknown_type_1002(self):
        for ftype in (0x00, 0x03, 0x07, 0x0B, 0x81, 0xFF):
            with self.subTest(type=ftype):
                self.expect_code(struct.pack("!IB", 3, ftype) + b"abc", (1002,))

    def test_oversized_length_1009(self):
        self.expect_code(struct.pack("!IB", 0xFFFFFFFF, OP_BINARY), (1009,))
        self.expect_code(struct.pack("!IB", (16 << 20) + 1, OP_TEXT) + b"abc", (1009,))

    def test_invalid_utf8_text(self):
        self.expect_code(struct.pack("!IB", 2, OP_TEXT) + b"\xc0\xaf", (1007, 1002))

    def test_control_too_long(self):
        self.expect_code(struct.pack("!IB", 126, OP_PING) + b"p" * 126, (1002, 1009))

    def test_bad_close_payloads(self):
        self.expect_code(struct.pack("!IB", 1, OP_CLOSE) + b"\x03", (1002,))
        self.expect_code(struct.pack("!IB", 2, OP_CLOSE) + struct.pack("!H", 1005), (1002,))

    def test_garbage_stream(self):
        # random bytes: whatever the first 5 bytes decode to, the node must cope
        for _ in range(5):
            with RawTCP(self.node.tcp_port) as t:
                try:
                    t.send_raw(os.urandom(2000))
                except (BrokenPipeError, ConnectionResetError):
                    pass
                t.sock.shutdown(socket.SHUT_WR)

    def test_abrupt_disconnects(self):
        frame = struct.pack("!IB", 100, OP_BINARY) + os.urandom(100)
        for cut in (1, 4, 5, 50):
            for reset in (False, True):
                with self.subTest(cut=cut, reset=reset):
                    t = RawTCP(self.node.tcp_port)
                    t.send_raw(frame[:cut])
                    if reset:
                        t.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                          struct.pack("ii", 1, 0))
                    t.close()
                    with RawTCP(self.node.tcp_port) as ok:
                        ok.sync()


class ManyConnectionsTests(NodeTestCase, unittest.TestCase):

    def test_many_concurrent_ws_connections(self):
        if NOFILE < MANY + 100:
            self.skipTest("RLIMIT_NOFILE too low (%d)" % NOFILE)
        port = self.node.ws_port
        socks = []
        try:
            for i in range(MANY):
                s = connect(port, 30)
                s.sendall(upgrade_request("/echo"))
                status, _, rest = read_http_head(s, 30)
                self.assertEqual(status, 101, "connection %d" % i)
                self.assertEqual(rest, b"")
                socks.append(s)
            for i, s in enumerate(socks):
                s.sendall(build_frame(OP_TEXT, b"conn-%d" % i))
            for i, s in enumerate(socks):
                ws = RawWS.wrap(s)
                self.assertEqual(ws.recv_message(timeout=30), (OP_TEXT, b"conn-%d" % i))
            self.assertGreaterEqual(client_count(port), MANY)
            assert_echo(port)
            # half close politely, half just vanish
            for i, s in enumerate(socks):
                if i % 2:
                    s.sendall(build_frame(OP_CLOSE, close_payload(1000)))
                else:
                    s.close()
            for i, s in enumerate(socks):
                if i % 2:
                    ws = RawWS.wrap(s)
                    self.assertEqual(ws.expect_close(timeout=30, reply=False), 1000)
        finally:
            for s in socks:
                s.close()
        wait_for(lambda: client_count(port) == 0, timeout=30, msg="client count back to 0")
        assert_echo(port)


class MaxClientsTests(NodeTestCase, unittest.TestCase):
    NODE_ARGS = ("--max-clients", "3")

    def test_503_when_full(self):
        port = self.node.ws_port
        held = [RawWS(port, "/echo") for _ in range(3)]
        try:
            status, _, _ = http_exchange(port, upgrade_request("/echo"))
            self.assertEqual(status, 503)
            held.pop().close()

            def admitted():
                s = connect(port)
                try:
                    s.sendall(upgrade_request("/echo"))
                    return read_http_head(s)[0] == 101
                finally:
                    s.close()
            wait_for(admitted, msg="a free slot after one client left")
        finally:
            for ws in held:
                ws.close()

        def drained():
            # plain HTTP counts against the limit too: 503 until the closes are seen
            status, _, body = http_request(port, "GET", "/stats")
            return status == 200 and json.loads(body)["connections"]["client"] == 0
        wait_for(drained, msg="client count back to 0")
        assert_echo(port)


if __name__ == "__main__":
    main()
