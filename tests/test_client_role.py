"""Our client role: build/wsc-client against Python websockets servers, hand-written bad
servers, and the node itself."""

import asyncio
import struct
import unittest

import websockets

import util
from util import (CLIENT_BIN, HOST, LoopThread, NodeTestCase, Recorder, accept_for, apply_mask,
                  build_frame, free_port, main)

MiB = 1 << 20


def run_client(*args, timeout=90):
    return util.run_client(CLIENT_BIN, *args, timeout=timeout)


class ClientCase(util.ClientChecks, unittest.TestCase):
    pass


class AgainstWebsocketsServer(ClientCase):
    @classmethod
    def setUpClass(cls):
        cls.lt = LoopThread()
        cls.rec = Recorder()

        async def start():
            plain = await websockets.serve(cls.rec.echo, HOST, 0, max_size=None,
                                           ping_interval=None, compression=None)
            proto = await websockets.serve(cls.rec.echo, HOST, 0, max_size=None,
                                           ping_interval=None,
                                           subprotocols=["chat.v2", "chat.v1"])
            return plain, proto
        cls.plain, cls.proto = cls.lt.run(start())
        cls.port = cls.plain.sockets[0].getsockname()[1]
        cls.proto_port = cls.proto.sockets[0].getsockname()[1]

    @classmethod
    def tearDownClass(cls):
        async def stop():
            for srv in (cls.plain, cls.proto):
                srv.close()
                await srv.wait_closed()
        cls.lt.run(stop())
        cls.lt.stop()

    def url(self, path="/echo", port=None):
        return "ws://%s:%d%s" % (HOST, port or self.port, path)

    def test_default(self):
        self.assertOk(run_client(self.url()), 1)
        rec = self.rec.last()
        self.assertEqual(rec["sizes"], [16])
        self.assertEqual(rec["kinds"], {"str"})
        self.assertEqual(rec["close_code"], 1000)
        self.assertEqual(rec["path"], "/echo")

    def test_sizes_text_and_binary(self):
        for binary in (False, True):
            for size in (1, 125, 126, 70000, MiB):
                with self.subTest(size=size, binary=binary):
                    count = 3
                    args = ["--count", count, "--size", size] + (["--binary"] if binary else [])
                    self.assertOk(run_client(*args, self.url()), count)
                    rec = self.rec.last()
                    self.assertEqual(rec["sizes"], [size] * count)
                    self.assertEqual(rec["kinds"], {"bytes" if binary else "str"})
                    self.assertEqual(rec["close_code"], 1000)
                    if binary and size >= 256:
                        self.assertTrue(rec["zeros"], "binary pattern has no zero bytes")
                    if not binary:
                        self.assertTrue(rec["printable"], "text pattern is not printable")

    def test_counts(self):
        for count in (1, 10, 500):
            with self.subTest(count=count):
                self.assertOk(run_client("--count", count, "--size", 64, self.url("/")), count)
                self.assertEqual(self.rec.last()["sizes"], [64] * count)

    def test_zero_size(self):
        self.assertOk(run_client("--count", 2, "--size", 0, self.url()), 2)
        self.assertOk(run_client("--count", 2, "--size", 0, "--binary", self.url()), 2)

    def test_subprotocol_selected(self):
        self.assertOk(run_client("--subprotocol", "chat.v1", self.url(port=self.proto_port)), 1)
        self.assertEqual(self.rec.last()["subprotocol"], "chat.v1")

    def test_path_with_query(self):
        self.assertOk(run_client(self.url("/some/path?user=x&y=1")), 1)
        self.assertEqual(self.rec.last()["path"], "/some/path?user=x&y=1")

    def test_nothing_listening_exit_1(self):
        self.assertExit(run_client("ws://%s:%d/" % (HOST, free_port())), 1)


async def read_head(reader):
    head = await reader.readuntil(b"\r\n\r\n")
    headers = {}
    for ln in head.decode("latin-1").split("\r\n")[1:]:
        name, _, value = ln.partition(":")
        headers[name.strip().lower()] = value.strip()
    return headers


async def read_client_frame(reader):
    b0, b1 = await reader.readexactly(2)
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack("!H", await reader.readexactly(2))[0]
    elif n == 127:
        n = struct.unpack("!Q", await reader.readexactly(8))[0]
    key = await reader.readexactly(4) if b1 & 0x80 else None
    payload = await reader.readexactly(n)
    return b0, apply_mask(payload, key) if key else payload


def server_frame(opcode, payload, mask=False, rsv=0):
    """A server's frame: unmasked unless the test wants that violation."""
    return build_frame(opcode, payload, rsv=rsv, mask=mask)


def handshake_ok(key, extra=""):
    return ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Accept: %s\r\n%s\r\n" % (accept_for(key), extra)).encode()


# Bad servers, called as f(reader, writer, Sec-WebSocket-Key) once the request head is read.

async def status_403(r, w, key):
    w.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")


async def status_200(r, w, key):
    w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello")


async def status_404(r, w, key):
    w.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")


async def bad_accept(r, w, key):
    w.write(handshake_ok("x" + key))
    await w.drain()
    await read_client_frame(r)


async def answer_first_frame(r, w, key, answer):
    """Handshake, read the client's first frame, send answer(its payload), then wait for the
    client's next frame (its close)."""
    w.write(handshake_ok(key))
    await w.drain()
    _, payload = await read_client_frame(r)
    w.write(answer(payload))
    await w.drain()
    await read_client_frame(r)


async def masked_echo(r, w, key):
    await answer_first_frame(r, w, key, lambda p: server_frame(0x1, p, mask=True))


async def rsv_echo(r, w, key):
    await answer_first_frame(r, w, key, lambda p: server_frame(0x1, p, rsv=4))


async def wrong_echo(r, w, key):
    await answer_first_frame(r, w, key, lambda p: server_frame(0x1, p[::-1] + b"!"))


async def close_instead_of_echo(r, w, key):
    await answer_first_frame(r, w, key, lambda p: server_frame(0x8, struct.pack("!H", 1011)))


async def eof_after_handshake(r, w, key):
    w.write(handshake_ok(key))


async def unrequested_subprotocol(r, w, key):
    w.write(handshake_ok(key, "Sec-WebSocket-Protocol: bogus\r\n"))
    await w.drain()
    await read_client_frame(r)


async def unrequested_extension(r, w, key):
    w.write(handshake_ok(key, "Sec-WebSocket-Extensions: permessage-deflate\r\n"))
    await w.drain()
    await read_client_frame(r)


async def fragmented_echo_with_ping(r, w, key):
    # A correct server with unusual framing: the client must cope and exit 0.
    w.write(handshake_ok(key))
    await w.drain()
    while True:
        b0, payload = await read_client_frame(r)
        op = b0 & 0x0F
        if op == 0xA:  # the client's answer to our ping
            continue
        if op == 0x8:
            w.write(server_frame(0x8, payload[:2]))
            await w.drain()
            return
        half = len(payload) // 2
        w.write(server_frame(0x9, b"srv-ping"))
        w.write(bytes([op, len(payload[:half]) if half < 126 else 126]) +
                (struct.pack("!H", half) if half >= 126 else b"") + payload[:half])
        w.write(server_frame(0x0, payload[half:]))
        await w.drain()


class AgainstBadServers(ClientCase):
    """Hand-written servers that break the protocol in one specific way each."""

    BEHAVIOURS = {f.__name__: f for f in (
        status_403, status_200, status_404, bad_accept, masked_echo, rsv_echo, wrong_echo,
        close_instead_of_echo, eof_after_handshake, unrequested_subprotocol,
        unrequested_extension, fragmented_echo_with_ping)}

    @classmethod
    def setUpClass(cls):
        cls.lt = LoopThread()
        cls.servers = {}

        async def start():
            for name in cls.BEHAVIOURS:
                srv = await asyncio.start_server(
                    lambda r, w, name=name: cls.handle(name, r, w), HOST, 0)
                cls.servers[name] = srv
        cls.lt.run(start())

    @classmethod
    def tearDownClass(cls):
        async def stop():
            for srv in cls.servers.values():
                srv.close()
                await srv.wait_closed()
        cls.lt.run(stop())
        cls.lt.stop()

    @classmethod
    async def handle(cls, name, reader, writer):
        try:
            headers = await read_head(reader)
            await cls.BEHAVIOURS[name](reader, writer, headers.get("sec-websocket-key", ""))
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def run_against(self, name, *args):
        port = self.servers[name].sockets[0].getsockname()[1]
        return run_client(*args, "ws://%s:%d/echo" % (HOST, port), timeout=60)

    def test_non_101_exit_2(self):
        for name in ("status_403", "status_200", "status_404"):
            with self.subTest(server=name):
                self.assertExit(self.run_against(name), 2)

    def test_protocol_violations_exit_1(self):
        for name in ("bad_accept", "masked_echo", "rsv_echo", "wrong_echo",
                     "close_instead_of_echo", "eof_after_handshake",
                     "unrequested_subprotocol", "unrequested_extension"):
            with self.subTest(server=name):
                self.assertExit(self.run_against(name), 1)

    def test_fragmented_echo_and_server_ping_ok(self):
        self.assertOk(self.run_against("fragmented_echo_with_ping", "--count", 5,
                                       "--size", 300), 5)
        self.assertOk(self.run_against("fragmented_echo_with_ping", "--count", 2,
                                       "--size", 10, "--binary"), 2)


class AgainstNode(NodeTestCase, ClientCase):
    NODE_TCP = True

    def test_echo_endpoint(self):
        url = self.node.url("/echo")
        self.assertOk(run_client(url), 1)
        self.assertOk(run_client("--count", 50, "--size", 70000, url), 50)
        self.assertOk(run_client("--count", 50, "--size", 70000, "--binary", url), 50)
        self.assertOk(run_client("--count", 2, "--size", 4 * MiB, "--binary", url), 2)

    def test_ws_broadcast_to_self(self):
        self.assertOk(run_client("--count", 20, "--size", 1000, self.node.url("/ws")), 20)

    def test_tcp_listener(self):
        url = "tcp://%s:%d" % (HOST, self.node.tcp_port)
        self.assertOk(run_client(url), 1)
        self.assertOk(run_client("--count", 30, "--size", 70000, url), 30)
        self.assertOk(run_client("--count", 30, "--size", 70000, "--binary", url), 30)

    def test_unknown_path_exit_2(self):
        self.assertExit(run_client(self.node.url("/nope")), 2)


if __name__ == "__main__":
    main()
