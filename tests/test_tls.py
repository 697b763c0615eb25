"""TLS (mbedTLS) tests: the node's wss:// and tcps:// listeners against Python's ssl and
websockets, our client role (wsc-client-tls) against Python TLS servers and the node, clusters
whose links are wss:// or tcps://, certificate verification (wrong CA, wrong name, insecure
mode), hostile bytes on the TLS listener, and the plain build's refusal of TLS.

Run: /usr/bin/python3 tests/test_tls.py
Binaries: WSC_NODE_TLS_BIN (default build/wscluster-node-tls), WSC_CLIENT_TLS_BIN (default
build/wsc-client-tls), WSC_NODE_BIN (the plain build, default build/wscluster-node). The ASan
builds (build/asan/...) work too: every node is stopped with SIGTERM and must exit 0, so a
LeakSanitizer report fails the test that owned the node.

A throwaway CA and certificates are made with the openssl CLI in a temporary directory
(EC P-256): the server certificate names DNS:localhost and IP:127.0.0.1 (an address is named
by an iPAddress entry, never by a DNS name spelling it, as real CAs issue them), plus an
unrelated CA, a certificate of the right CA for the wrong name, one of the unrelated CA, and
for section 7 certificates that name addresses only (127.0.0.1, ::1, or others).

Every wait polls a condition against a generous deadline; fixed sleeps are only the short
drains after expected messages arrived (giving duplicates a chance to show up) and the
observation windows of "never happens" checks. Tests of server bugs still open are skipped
unless WSC_KNOWN_BUGS=1 (as in test_cluster.py)."""

import asyncio
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from urllib.parse import quote, urlencode

import websockets

import util
from util import fresh_port, tok, wait_for, write_file
from util import (HOST, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG, OP_TEXT, LoopThread, RawTCP,
                  RawWS, Recorder, accept_for, build_frame, close_payload, main, parse_close,
                  read_http_head, recv_all, tcp_frame, upgrade_request, wait_mesh, ws_key)

NODE_TLS_BIN = util._bin("WSC_NODE_TLS_BIN", "build/wscluster-node-tls")
CLIENT_TLS_BIN = util._bin("WSC_CLIENT_TLS_BIN", "build/wsc-client-tls")
NODE_PLAIN_BIN = util.NODE_BIN

MiB = 1 << 20
TIMEOUT = 20.0         # one network wait (TLS handshakes cost CPU; ASan is slow)
DEADLINE = 30.0        # anything that must eventually happen
SLACK = 4.0            # scheduling slack over a protocol timer on a slow, noisy machine
DRAIN = 1.0            # after the expected messages arrived, listen this long for duplicates
HS_TIMEOUT_MS = 1000   # --handshake-timeout-ms of the hostile-input node
HB_ARGS = ["--heartbeat-ms", "200", "--heartbeat-timeout-ms", "1000", "--refresh-ms", "500"]
SECRET = "tls-s3cret-%s" % uuid.uuid4().hex[:10]

# WSC_KNOWN_BUGS=1 would run tests of open server bugs (skipped otherwise); none is open
KNOWN_BUGS = os.environ.get("WSC_KNOWN_BUGS") == "1"


# ---------------------------------------------------------------------- certificates --

class Certs:
    """A CA, a server certificate of it, an unrelated CA, a certificate of the right CA for
    the wrong name and a certificate of the unrelated CA; all PEM files in `dir`."""

    def __init__(self, d):
        self.dir = d
        if not shutil.which("openssl"):
            raise AssertionError("the openssl command is needed (apt-get install openssl)")
        self.ca, self.ca_key = self._ca("ca", "wscluster test CA")
        self.other_ca, self.other_ca_key = self._ca("other-ca", "unrelated test CA")
        san = "DNS:localhost,IP:127.0.0.1"
        self.cert, self.key = self._leaf("server", "localhost", san, "ca")
        self.wrong_name, self.wrong_name_key = self._leaf("wrong-name", "wrong.example",
                                                          "DNS:wrong.example", "ca")
        self.rogue, self.rogue_key = self._leaf("rogue", "localhost", san, "other-ca")
        # an address alone, as a CA certifies one: no DNS entry, a CN that is not the address
        self.ip4, self.ip4_key = self._leaf("ip4", "node by address", "IP:127.0.0.1", "ca")
        self.ip6, self.ip6_key = self._leaf("ip6", "node by v6 address", "IP:::1", "ca")
        self.other_ip4, self.other_ip4_key = self._leaf("other-ip4", "127.0.0.1",
                                                        "IP:10.0.0.5", "ca")
        self.other_ip6, self.other_ip6_key = self._leaf("other-ip6", "::1",
                                                        "IP:fd00::5,IP:::2", "ca")
        # the address spelled as a DNS name: what mbedTLS 2.28 alone used to match
        self.dns_ip4, self.dns_ip4_key = self._leaf("dns-ip4", "127.0.0.1", "DNS:127.0.0.1",
                                                    "ca")

    def _run(self, *args):
        r = subprocess.run(["openssl"] + list(args), cwd=self.dir, capture_output=True,
                           timeout=60, stdin=subprocess.DEVNULL)
        if r.returncode != 0:
            raise AssertionError("openssl %s failed: %s" % (" ".join(args), r.stderr[-2000:]))

    def _path(self, name):
        return os.path.join(self.dir, name)

    def _ca(self, name, cn):
        self._run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                  "-nodes", "-keyout", name + ".key", "-out", name + ".pem", "-days", "3",
                  "-subj", "/CN=" + cn, "-addext", "basicConstraints=critical,CA:TRUE",
                  "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        return self._path(name + ".pem"), self._path(name + ".key")

    def _leaf(self, name, cn, san, ca):
        with open(self._path(name + ".ext"), "w") as f:
            f.write("subjectAltName=%s\nbasicConstraints=CA:FALSE\n"
                    "keyUsage=critical,digitalSignature,keyEncipherment\n"
                    "extendedKeyUsage=serverAuth,clientAuth\n" % san)
        self._run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                  "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + cn)
        self._run("x509", "-req", "-in", name + ".csr", "-CA", ca + ".pem", "-CAkey",
                  ca + ".key", "-set_serial", str(random.randrange(1, 1 << 62)), "-days", "3",
                  "-out", name + ".pem", "-extfile", name + ".ext")
        return self._path(name + ".pem"), self._path(name + ".key")


_certs = None
_certs_dir = None


def certs():
    """The module's certificates, made on first use (by the first setUpClass)."""
    global _certs, _certs_dir
    if _certs is None:
        _certs_dir = tempfile.TemporaryDirectory(prefix="wsc-tls-")
        _certs = Certs(_certs_dir.name)
    return _certs


def tearDownModule():
    if _certs_dir is not None:
        _certs_dir.cleanup()


def client_ctx(ca=None, verify=True):
    """A client context trusting `ca` (the test CA by default). An EOF without close_notify
    reads as a plain EOF (tls_exchange() is the check that the node sends one)."""
    if verify:
        ctx = ssl.create_default_context(cafile=ca or certs().ca)
    else:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    ctx.options |= getattr(ssl, "OP_IGNORE_UNEXPECTED_EOF", 0)
    return ctx


def server_ctx(cert=None, key=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert or certs().cert, key or certs().key)
    return ctx


# ---------------------------------------------------------------------------- nodes --

class TNode(util.Node):
    """A wscluster-node (TLS build by default) on ports read from its `listening` lines.
    tls=True passes the test certificate (--tls-cert/--tls-key). WSCLUSTER_* variables of
    the caller's environment are removed; `env` adds some back."""

    def __init__(self, *args, binary=None, tls=True, tcp=False, env=None, port=0, tcp_port=0,
                 name=None):
        args = list(args)
        if tls:
            args = ["--tls-cert", certs().cert, "--tls-key", certs().key] + args
        if name:
            args = ["--id", name] + args
        e = {k: None for k in os.environ if k.startswith("WSCLUSTER_")}
        e.update(env or {})
        super().__init__(*args, tcp=tcp, env=e, port=port, tcp_port=tcp_port,
                         binary=binary or NODE_TLS_BIN, name=name)

    # --- HTTPS --
    def https(self, method, path, body=None, headers=None, ctx=None):
        conn = http.client.HTTPSConnection(HOST, self.ws_port, timeout=TIMEOUT,
                                           context=ctx or client_ctx())
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
        finally:
            conn.close()

    def stats(self):
        status, _, body = self.https("GET", "/stats")
        if status != 200:
            raise AssertionError("/stats on %s answered %d: %r" % (self.name, status, body[:200]))
        return json.loads(body)

    def peers(self):
        return {p["url"]: p for p in self.stats()["peers"]}

    def send(self, msg, expect=200, **params):
        params = dict(params, msg=msg)
        path = "/send?" + urlencode(params, quote_via=quote)
        status, _, body = self.https("GET", path)
        if status != expect:
            raise AssertionError("GET %s on %s answered %d: %r" % (path, self.name, status, body))
        return json.loads(body)

    def post(self, body, ctype, expect=200):
        status, _, data = self.https("POST", "/send", body=body, headers={"Content-Type": ctype})
        if status != expect:
            raise AssertionError("POST /send on %s answered %d: %r" % (self.name, status, data))
        return json.loads(data)

    def wss(self, path="/echo"):
        return "wss://%s:%d%s" % (HOST, self.ws_port, path)


class CNode(TNode):
    """A cluster instance on ports chosen before it starts (the server list names them).
    scheme: how the list names it, wss (its --listen) or tcps (its --tcp-listen)."""

    def __init__(self, name, peers_file, scheme="wss", ca="ca", extra=(), cert=None,
                 port=None, tcp_port=None, ca_env=False):
        self.cfg = dict(peers_file=peers_file, scheme=scheme, ca=ca, extra=tuple(extra),
                        cert=cert, ca_env=ca_env)
        port = port or fresh_port()
        tcp_port = tcp_port or (fresh_port() if scheme == "tcps" else 0)
        c = certs()
        args = HB_ARGS + ["--peers", peers_file]
        env = {"WSCLUSTER_SECRET": SECRET}
        if ca:
            ca_file = {"ca": c.ca, "other": c.other_ca}[ca]
            if ca_env:
                env["WSCLUSTER_TLS_CA"] = ca_file
            else:
                args += ["--tls-ca", ca_file]
        if cert:  # another certificate than the good one
            pem, key = {"wrong-name": (c.wrong_name, c.wrong_name_key),
                        "rogue": (c.rogue, c.rogue_key), "ip4": (c.ip4, c.ip4_key),
                        "other-ip4": (c.other_ip4, c.other_ip4_key)}[cert]
            args = ["--tls-cert", pem, "--tls-key", key] + args
        super().__init__(*(args + list(extra)), tls=not cert, tcp=bool(tcp_port), env=env,
                         port=port, tcp_port=tcp_port, name=name)

    def clone(self):
        return CNode(self.name, port=self.req_port, tcp_port=self.req_tcp_port, **self.cfg)

    @property
    def entry(self):
        if self.cfg["scheme"] == "tcps":
            return "tcps://%s:%d" % (HOST, self.req_tcp_port)
        return "wss://%s:%d" % (HOST, self.req_port)

    @property
    def link_url(self):
        """The URL under which the others' peer tables show this instance."""
        if self.cfg["scheme"] == "tcps":
            return "tcps://%s:%d" % (HOST, self.req_tcp_port)
        return "wss://%s:%d/wscluster" % (HOST, self.req_port)


class NodesCase(util.NodesCase):
    """util.NodesCase with the test certificates made first."""
    TMP_PREFIX = "wsc-tls-case-"

    @classmethod
    def setUpClass(cls):
        certs()
        super().setUpClass()

    def own_node(self, node):
        """A node for this test alone: started now, killed at cleanup (the test itself
        stops it with SIGTERM and checks the exit status)."""
        self.addCleanup(node.kill)
        return node.start()

    def stop_ok(self, node):
        node.assert_alive()
        node.send_signal(signal.SIGTERM)
        rc = node.wait(DEADLINE)
        self.assertEqual(rc, 0, "node exited with %s after SIGTERM\n%s" % (rc, node.log_tail()))


# --------------------------------------------------------------- raw TLS connections --

def tls_socket(port, ctx=None, server_hostname="127.0.0.1", timeout=TIMEOUT):
    raw = util.connect(port, timeout)
    try:
        return (ctx or client_ctx()).wrap_socket(raw, server_hostname=server_hostname)
    except BaseException:
        raw.close()
        raise


def tls_ws(port, path="/echo", timeout=TIMEOUT):
    """A RawWS over TLS: the handshake done by hand, frames through util's helpers."""
    s = tls_socket(port, timeout=timeout)
    key = ws_key()
    s.sendall(upgrade_request(path, key))
    status, headers, rest = read_http_head(s, timeout)
    if status != 101 or headers.get("sec-websocket-accept") != accept_for(key):
        s.close()
        raise AssertionError("wss handshake to %s answered %r %r" % (path, status, headers))
    return RawWS.wrap(s, rest)


def tls_tcp(port, timeout=TIMEOUT):
    """A RawTCP (the node's TCP framer) over TLS."""
    t = RawTCP.__new__(RawTCP)
    t.sock, t.buf = tls_socket(port, timeout=timeout), b""
    return t


def assert_tls_echo(testcase, port, text=None):
    """A fresh wss:// /echo round trip with a close handshake: the node still serves."""
    text = text or tok("still-alive")
    with tls_ws(port) as ws:
        ws.send_text(text)
        testcase.assertEqual(ws.recv_message(TIMEOUT), (OP_TEXT, text.encode()))
        ws.send(OP_CLOSE, close_payload(1000))
        testcase.assertEqual(ws.expect_close(TIMEOUT, reply=False), 1000)


def reset_close(sock):
    """Close with an RST (SO_LINGER 0): the abrupt way."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


class HandshakeDriver:
    """A TLS client handshake driven by hand over a plain socket (ssl.MemoryBIO), so a test
    can stop, truncate or abandon it at any step."""

    def __init__(self, sock):
        self.sock = sock
        self.inc, self.out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.obj = client_ctx(verify=False).wrap_bio(self.inc, self.out,
                                                     server_hostname="localhost")

    def step(self):
        """Run the handshake as far as the received bytes allow; returns what the client
        wants to send now, and whether the handshake is complete."""
        try:
            self.obj.do_handshake()
            done = True
        except ssl.SSLWantReadError:
            done = False
        return self.out.read(), done

    def client_hello(self):
        data, _ = self.step()
        return data

    def second_flight(self, timeout=TIMEOUT):
        """After the ClientHello was sent: read the server's flight until the client has its
        next flight (key exchange, Finished) ready; return it unsent."""
        self.sock.settimeout(timeout)
        while True:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise AssertionError("node closed the connection during the handshake")
            self.inc.write(chunk)
            data, _ = self.step()
            if data:
                return data


def tls_exchange(port, data, timeout=TIMEOUT):
    """Send `data` over a fresh TLS connection driven through MemoryBIOs and read until the
    node closes; returns (plaintext received, whether the last TLS record before the TCP
    FIN was an alert: the close_notify that tells a client the stream was not truncated)."""
    s = util.connect(port, timeout)
    try:
        d = HandshakeDriver(s)
        s.sendall(d.client_hello())
        s.sendall(d.second_flight(timeout))
        s.settimeout(timeout)
        while not d.step()[1]:
            chunk = s.recv(65536)
            if not chunk:
                raise AssertionError("node closed a good handshake")
            d.inc.write(chunk)
        d.obj.write(data)
        s.sendall(d.out.read())
        raw = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                break
            raw += chunk
    finally:
        s.close()
    types, at = [], 0
    while at + 5 <= len(raw):
        types.append(raw[at])
        at += 5 + struct.unpack("!H", raw[at + 3:at + 5])[0]
    d.inc.write(raw)
    got = b""
    try:
        while True:
            part = d.obj.read(65536)
            if not part:
                break
            got += part
    except (ssl.SSLWantReadError, ssl.SSLZeroReturnError):
        pass
    return got, at == len(raw) and bool(types) and types[-1] == 21


def client_hello():
    """The bytes of a real ClientHello (Python's, TLS 1.2 and 1.3)."""
    return HandshakeDriver(None).client_hello()


# ---------------------------------------------------------------- async websockets --

def wss_connect(url, **kw):
    kw.setdefault("ssl", client_ctx())
    kw.setdefault("open_timeout", TIMEOUT)
    kw.setdefault("close_timeout", TIMEOUT)
    return util.ws_connect(url, **kw)


class Inbox:
    """A websockets client over TLS whose messages a reader task collects, so a test thread
    can send over HTTPS and look at what arrived."""

    def __init__(self, lt, url, label):
        self.lt, self.label = lt, label
        self.msgs = []
        self.lock = threading.Lock()
        self.done = False
        self.close_code = None
        lt.run(self._open(url))

    async def _open(self, url):
        self.ws = await wss_connect(url)
        self.reader = asyncio.ensure_future(self._read())

    async def _read(self):
        try:
            async for m in self.ws:
                with self.lock:
                    self.msgs.append(m)
        except websockets.ConnectionClosed:
            pass
        finally:
            self.close_code = self.ws.close_code
            self.done = True

    def send(self, data):
        self.lt.run(self.ws.send(data))

    def count(self, payload):
        with self.lock:
            return sum(1 for m in self.msgs if m == payload)

    def close(self):
        if not self.done:
            try:
                self.lt.run(self.ws.close(), TIMEOUT)
            except Exception:
                pass


# ================================================ 1. Python's TLS clients against the node ==

class NodeTlsTests(NodesCase):
    """One TLS node (wss:// and tcps://) driven by Python's ssl and websockets."""

    @classmethod
    def setUpNodes(cls):
        cls.node = cls.start(TNode("--max-pending", str(4 * MiB), tcp=True, name="tls-node"))
        cls.lt = LoopThread()

    @classmethod
    def tearDownClass(cls):
        cls.lt.stop()
        super().tearDownClass()

    def run_async(self, coro, timeout=120):
        return self.lt.run(asyncio.wait_for(coro, timeout), timeout + 5)

    def test_listening_lines_name_tls_schemes(self):
        self.assertIn("listening wss://127.0.0.1:%d" % self.node.ws_port, self.node.stdout_lines)
        self.assertIn("listening tcps://127.0.0.1:%d" % self.node.tcp_port,
                      self.node.stdout_lines)

    def test_echo_text_and_binary_all_sizes(self):
        texts = ["", "hello over TLS", "h\u00e9llo \u2603 \U0001F600", "x" * 125, "y" * 126,
                 "z" * 65535, "w" * 65536, "t" * MiB]
        blobs = [b"", b"\x00\x01\x02\xff", os.urandom(126), os.urandom(70000),
                 bytes(range(256)) * 4096, os.urandom(16 * MiB)]

        async def go():
            async with wss_connect(self.node.wss()) as ws:
                for m in texts + blobs:
                    await ws.send(m)
                    got = await asyncio.wait_for(ws.recv(), 60)
                    self.assertEqual(type(got), type(m))
                    self.assertTrue(got == m, "echo of %d %s differs" % (len(m), type(m)))
            return ws.close_code
        self.assertEqual(self.run_async(go()), 1000)

    def test_echo_16mib_text_and_pipelined_megabytes(self):
        """The largest message the node takes (16 MiB, its max-message) as text, then 12 x
        1 MiB sent back to back: the node's TLS writes block and resume many times."""
        big = "abcdefghijklmnop" * (MiB)
        assert len(big) == 16 * MiB
        blobs = [bytes([i]) * 1000 + os.urandom(MiB - 1000) for i in range(12)]

        async def go():
            async with wss_connect(self.node.wss()) as ws:
                await ws.send(big)
                self.assertTrue(await asyncio.wait_for(ws.recv(), 60) == big)
                got = []

                async def reader():
                    while len(got) < len(blobs):
                        got.append(await ws.recv())
                r = asyncio.ensure_future(reader())
                for b in blobs:
                    await ws.send(b)
                await asyncio.wait_for(r, 90)
                self.assertTrue(got == blobs, "pipelined echoes differ or are out of order")
        self.run_async(go())

    def test_fragmented_input(self):
        async def go():
            async with wss_connect(self.node.wss()) as ws:
                await ws.send(["frag", "ment", "", "ed \u00e9"])
                self.assertEqual(await asyncio.wait_for(ws.recv(), TIMEOUT), "fragmented \u00e9")
                parts = [os.urandom(40000) for _ in range(5)] + [b""]
                await ws.send(parts)
                self.assertEqual(await asyncio.wait_for(ws.recv(), TIMEOUT), b"".join(parts))
        self.run_async(go())
        # by hand: a ping between fragments, and a UTF-8 character split across fragments
        with tls_ws(self.node.ws_port) as ws:
            snow = "\u2603".encode()
            ws.send(OP_TEXT, b"a" + snow[:1], fin=False)
            ws.send(OP_PING, b"between")
            ws.send(0, snow[1:] + b"b", fin=False)
            ws.send(0, b"c" * 70000, fin=True)
            fin, op, payload = ws.recv_frame(TIMEOUT)
            self.assertEqual((op, payload), (OP_PONG, b"between"))
            self.assertEqual(ws.recv_message(TIMEOUT), (OP_TEXT, b"a" + snow + b"b" + b"c" * 70000))

    def test_ping(self):
        async def go():
            async with wss_connect(self.node.wss()) as ws:
                for payload in (b"", b"tls-ping", os.urandom(125)):
                    waiter = await ws.ping(payload)
                    await asyncio.wait_for(waiter, TIMEOUT)
        self.run_async(go())
        with tls_ws(self.node.ws_port) as ws:
            ws.send(OP_PING, b"raw-ping")
            self.assertEqual(ws.recv_frame(TIMEOUT), (True, OP_PONG, b"raw-ping"))

    def test_close_codes_echoed(self):
        for code in (1000, 4000):
            async def go():
                async with wss_connect(self.node.wss()) as ws:
                    await ws.send("before close")
                    await asyncio.wait_for(ws.recv(), TIMEOUT)
                    await ws.close(code, "bye")
                return ws.close_code
            with self.subTest(code=code):
                self.assertEqual(self.run_async(go()), code)
                with tls_ws(self.node.ws_port) as ws:
                    ws.send(OP_CLOSE, close_payload(code, b"raw"))
                    self.assertEqual(ws.expect_close(TIMEOUT, reply=False), code)
                # the TLS session ends with a close_notify, not just a TCP FIN
                key = ws_key()
                got, notify = tls_exchange(self.node.ws_port, upgrade_request("/echo", key)
                                           + build_frame(OP_CLOSE, close_payload(code)))
                self.assertIn(accept_for(key).encode(), got)
                self.assertTrue(got.endswith(b"\x88\x02" + struct.pack("!H", code)), got[-20:])
                self.assertTrue(notify, "no TLS close_notify after the close handshake")

    def test_https_endpoints(self):
        base = "https://%s:%d" % (HOST, self.node.ws_port)
        with urllib.request.urlopen(base + "/", context=client_ctx(), timeout=TIMEOUT) as r:
            self.assertEqual(r.status, 200)
            self.assertIn("text/html", r.headers["Content-Type"])
            self.assertIn(b"<", r.read())
        with urllib.request.urlopen(base + "/stats", context=client_ctx(), timeout=TIMEOUT) as r:
            st = json.loads(r.read())
        got, notify = tls_exchange(self.node.ws_port,
                                   b"GET /stats HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        self.assertTrue(got.startswith(b"HTTP/1.1 200") and got.endswith(b"}"), got[-100:])
        self.assertTrue(notify, "no TLS close_notify after the HTTP response")
        self.assertEqual(st["id"], "tls-node")
        self.assertIn("client", st["connections"])
        with self.assertRaises(urllib.error.HTTPError) as cm:
            urllib.request.urlopen(base + "/no-such-page", context=client_ctx(), timeout=TIMEOUT)
        self.assertEqual(cm.exception.code, 404)
        cm.exception.close()
        # POST /send with a binary body reaches a wss:// chat client
        with tls_ws(self.node.ws_port, "/ws?user=https-test") as ws:
            wait_for(lambda: self.node.stats()["connections"]["client"] >= 1, msg="chat client")
            blob = os.urandom(5000)
            res = self.node.post(blob, "application/octet-stream")
            self.assertTrue(res["ok"])
            self.assertEqual(ws.recv_message(TIMEOUT), (OP_BINARY, blob))
            ws.send(OP_CLOSE, close_payload(1000))
            ws.expect_close(TIMEOUT, reply=False)
        # the node really presents the test CA's certificate: another CA does not trust it
        with self.assertRaises(urllib.error.URLError) as cm:
            urllib.request.urlopen(base + "/stats", context=client_ctx(certs().other_ca),
                                   timeout=TIMEOUT)
        self.assertIsInstance(cm.exception.reason, ssl.SSLCertVerificationError)

    def test_tcps_framer(self):
        with tls_tcp(self.node.tcp_port) as t:
            t.sync(TIMEOUT)  # ping -> pong
            t.send(OP_TEXT, "over tcps \u00e9")
            self.assertEqual(t.recv_message(TIMEOUT), (OP_TEXT, "over tcps \u00e9".encode()))
            blob = os.urandom(200000)
            t.send(OP_BINARY, blob)
            self.assertEqual(t.recv_message(TIMEOUT), (OP_BINARY, blob))
            t.send(OP_CLOSE, close_payload(4000, b"bye"))
            self.assertEqual(t.expect_close(TIMEOUT), 4000)

    def test_many_concurrent_tls_clients(self):
        async def one(i):
            async with wss_connect(self.node.wss()) as ws:
                for j in range(5):
                    m = "client %d message %d %s" % (i, j, "p" * (i * 500))
                    await ws.send(m)
                    self.assertEqual(await asyncio.wait_for(ws.recv(), 60), m)
            return ws.close_code

        async def go():
            return await asyncio.gather(*(one(i) for i in range(24)))
        self.assertEqual(self.run_async(go()), [1000] * 24)
        wait_for(lambda: self.node.stats()["connections"]["client"] == 0, msg="clients gone")

    def test_slow_consumer_over_tls(self):
        """A chat client that reads nothing while others send to it: the node queues the
        messages until --max-pending, then closes with 1008. What it wrote before must still
        be a valid TLS stream of whole frames ending with the close frame: the purge must
        keep the frame whose TLS record is half written. Large frames (many records each) and
        frames of one record each (a blocked write is then always at a frame's first record).
        (Its own echoes would not do: a connection whose queue is full is not read.)"""
        for size in (MiB, 10000):
            with self.subTest(size=size):
                self._slow_consumer(size)
        assert_tls_echo(self, self.node.ws_port)

    def _slow_consumer(self, size):
        before = self.node.stats()["messages"]["closed_slow"]
        s = tls_socket(self.node.ws_port)
        key = ws_key()
        s.sendall(upgrade_request("/ws", key))
        status, _, rest = read_http_head(s, TIMEOUT)
        self.assertEqual(status, 101)
        ws = RawWS.wrap(s, rest)
        body = b"\x5a" * size
        for _ in range(2000):  # POST /send: one broadcast to every chat client (only this one)
            st, _, _ = self.node.https("POST", "/send", body=body,
                                       headers={"Content-Type": "application/octet-stream"})
            self.assertEqual(st, 200)
            if self.node.stats()["messages"]["closed_slow"] > before:
                break
        self.assertGreater(self.node.stats()["messages"]["closed_slow"], before,
                           self.node.log_tail())
        frames, code = 0, None
        try:
            while True:
                fin, op, payload = ws.recv_frame(TIMEOUT)
                if op == OP_CLOSE:
                    code = parse_close(payload)[0]
                    break
                self.assertEqual((fin, op, len(payload)), (True, OP_BINARY, size),
                                 "message %d" % frames)
                self.assertEqual(payload.count(b"\x5a"), size, "message %d corrupted" % frames)
                frames += 1
        except EOFError:
            pass
        ws.close()
        self.assertEqual(code, 1008, "got %d whole messages, then no 1008 close frame" % frames)

    def test_normal_https_requests_log_no_tls_errors(self):
        before = self.node.log_count("TLS: NET")
        for _ in range(20):
            self.node.stats()
        time.sleep(0.3)
        self.assertEqual(self.node.log_count("TLS: NET"), before, self.node.log_tail(1500))

    def test_upgrade_and_frames_in_one_record(self):
        """The upgrade request and the first frames in one TLS record (one sendall)."""
        s = tls_socket(self.node.ws_port)
        key = ws_key()
        s.sendall(upgrade_request("/echo", key) + build_frame(OP_TEXT, b"first")
                  + build_frame(OP_BINARY, b"\x00second") + build_frame(OP_PING, b"p"))
        status, headers, rest = read_http_head(s, TIMEOUT)
        self.assertEqual((status, headers.get("sec-websocket-accept")), (101, accept_for(key)))
        with RawWS.wrap(s, rest) as ws:
            self.assertEqual(ws.recv_frame(TIMEOUT), (True, OP_TEXT, b"first"))
            self.assertEqual(ws.recv_frame(TIMEOUT), (True, OP_BINARY, b"\x00second"))
            self.assertEqual(ws.recv_frame(TIMEOUT), (True, OP_PONG, b"p"))
            ws.send(OP_CLOSE, close_payload(1000))
            self.assertEqual(ws.expect_close(TIMEOUT, reply=False), 1000)

    def test_large_https_post(self):
        """A 3 MiB POST /send over https, its body in many TLS records, to a wss:// client."""
        with tls_ws(self.node.ws_port, "/ws") as ws:
            wait_for(lambda: self.node.stats()["connections"]["client"] >= 1, msg="chat client")
            body = os.urandom(3 * MiB)
            res = self.node.post(body, "application/octet-stream")
            self.assertEqual(res["delivered"], 1, res)
            self.assertEqual(ws.recv_message(TIMEOUT), (OP_BINARY, body))
            ws.send(OP_CLOSE, close_payload(1000))
            ws.expect_close(TIMEOUT, reply=False)

    def test_sigterm_closes_tls_clients_with_1001(self):
        # the certificate through the environment this time
        n = self.own_node(TNode(tls=False, tcp=True, name="sigterm-node",
                                env={"WSCLUSTER_TLS_CERT": certs().cert,
                                     "WSCLUSTER_TLS_KEY": certs().key}))
        self.assertEqual(n.schemes, {"ws": "wss", "tcp": "tcps"})
        with urllib.request.urlopen("https://%s:%d/stats" % (HOST, n.ws_port),
                                    context=client_ctx(), timeout=TIMEOUT) as r:
            self.assertEqual(json.loads(r.read())["id"], "sigterm-node")
        wss = [Inbox(self.lt, n.wss("/ws"), "ws"), Inbox(self.lt, n.wss("/echo"), "echo")]
        t = tls_tcp(n.tcp_port)
        self.addCleanup(t.close)
        t.sync(TIMEOUT)
        big = os.urandom(3 * MiB)  # a large echo may still be in flight at SIGTERM
        wss[1].send(big)
        wait_for(lambda: n.stats()["connections"]["client"] == 3, msg="3 clients")
        n.send_signal(signal.SIGTERM)
        wait_for(lambda: all(c.done for c in wss), DEADLINE, "wss clients closed")
        self.assertEqual([c.close_code for c in wss], [1001, 1001])
        self.assertEqual(t.expect_close(TIMEOUT), 1001)
        rc = n.wait(DEADLINE)
        self.assertEqual(rc, 0, "exit %s after SIGTERM\n%s" % (rc, n.log_tail()))


# ===================================================== 2. our client role over TLS ==

def run_client(*args, timeout=120):
    return util.run_client(CLIENT_TLS_BIN, *args, timeout=timeout)


class ClientRoleTlsTests(util.ClientChecks, NodesCase):
    """build/wsc-client-tls against Python websockets TLS servers and against the node."""

    @classmethod
    def setUpNodes(cls):
        c = certs()
        cls.lt = LoopThread()
        cls.rec = Recorder()

        async def start():
            kw = dict(max_size=None, ping_interval=None, compression=None)
            good = await websockets.serve(cls.rec.echo, HOST, 0, ssl=server_ctx(), **kw)
            name = await websockets.serve(cls.rec.echo, HOST, 0,
                                          ssl=server_ctx(c.wrong_name, c.wrong_name_key), **kw)
            rogue = await websockets.serve(cls.rec.echo, HOST, 0,
                                           ssl=server_ctx(c.rogue, c.rogue_key), **kw)
            plain = await websockets.serve(cls.rec.echo, HOST, 0, **kw)
            return good, name, rogue, plain
        cls.servers = cls.lt.run(start())
        cls.good, cls.wrong_name, cls.rogue, cls.plain = [
            s.sockets[0].getsockname()[1] for s in cls.servers]
        cls.node = cls.start(TNode(tcp=True, name="client-role-node"))

    @classmethod
    def tearDownClass(cls):
        async def stop():
            for s in cls.servers:
                s.close()
                await s.wait_closed()
        try:
            cls.lt.run(stop())
            cls.lt.stop()
        finally:
            super().tearDownClass()

    def url(self, port, path="/echo"):
        return "wss://%s:%d%s" % (HOST, port, path)

    def test_sizes_text_and_binary_against_python(self):
        for binary in (False, True):
            for size in (1, 126, 70000, MiB):
                with self.subTest(size=size, binary=binary):
                    args = ["--count", 2, "--size", size, "--ca", certs().ca]
                    args += ["--binary"] if binary else []
                    n0 = len(self.rec.conns)
                    self.assertOk(run_client(*args, self.url(self.good)), 2)
                    rec = self.rec.last()
                    self.assertEqual(len(self.rec.conns), n0 + 1)
                    self.assertEqual(rec["sizes"], [size, size])
                    self.assertEqual(rec["kinds"], {"bytes" if binary else "str"})
                    self.assertEqual(rec["close_code"], 1000)
                    self.assertEqual(rec["path"], "/echo")
                    if binary and size >= 256:
                        self.assertTrue(rec["zeros"])

    def test_many_messages_against_python(self):
        self.assertOk(run_client("--count", 300, "--size", 3000, "--ca", certs().ca,
                                 self.url(self.good)), 300)

    def test_wrong_ca_is_refused(self):
        n0 = len(self.rec.conns)
        res = run_client("--ca", certs().other_ca, self.url(self.good))
        self.assertExit(res, 1, r"(?i)verif")
        time.sleep(0.3)
        self.assertEqual(len(self.rec.conns), n0, "the server saw a WebSocket connection")

    def test_server_of_another_ca_is_refused(self):
        res = run_client("--ca", certs().ca, self.url(self.rogue))
        self.assertExit(res, 1, r"(?i)verif")

    def test_hostname_is_checked(self):
        """A certificate of the right CA for another name (wrong.example)."""
        res = run_client("--ca", certs().ca, self.url(self.wrong_name))
        self.assertExit(res, 1, r"(?i)verif")
        self.assertRegex(res.stderr.decode(errors="replace"), r"(?i)CN|name")

    def test_insecure_accepts_unverifiable_servers(self):
        for port in (self.rogue, self.wrong_name):
            with self.subTest(port=port):
                res = run_client("--insecure", "--size", 70000, "--binary", self.url(port))
                self.assertOk(res, 1)
                self.assertRegex(res.stderr.decode(errors="replace"), r"VERIFICATION IS OFF")
        # against the node too, even while only another CA is at hand
        self.assertOk(run_client("--insecure", self.url(self.node.ws_port)), 1)

    def test_no_ca_and_not_insecure_refuses_to_connect(self):
        n0 = len(self.rec.conns)
        res = run_client(self.url(self.good))
        self.assertExit(res, 1, r"tls_ca")
        self.assertEqual(len(self.rec.conns), n0)

    def test_wss_to_a_plain_server_fails_cleanly(self):
        res = run_client("--ca", certs().ca, self.url(self.plain), timeout=60)
        self.assertExit(res, 1)

    def _one_shot_server(self, action):
        """A TLS server for one connection: it completes the TLS handshake, reads the
        upgrade request, then hangs up: "eof" (a plain close) or "rst" (a reset)."""
        ls = socket.socket()
        ls.bind((HOST, 0))
        ls.listen(1)
        ls.settimeout(DEADLINE)
        port = ls.getsockname()[1]

        def run():
            try:
                c, _ = ls.accept()
                c.settimeout(TIMEOUT)
                t = server_ctx().wrap_socket(c, server_side=True)
                t.recv(65536)
                if action == "rst":
                    reset_close(t)
                else:
                    t.close()
            except Exception:
                pass
            finally:
                ls.close()
        th = threading.Thread(target=run, daemon=True)
        th.start()
        self.addCleanup(th.join, 10)
        return port

    def _hangup_during_upgrade(self, action):
        port = self._one_shot_server(action)
        t0 = time.monotonic()
        try:
            res = run_client("--ca", certs().ca, self.url(port), timeout=25)
        except subprocess.TimeoutExpired:
            self.fail("wsc-client-tls hung after the server hung up (%s) during the "
                      "WebSocket handshake" % action)
        self.assertExit(res, 1)
        self.assertLess(time.monotonic() - t0, 10 + SLACK)

    def test_server_closing_during_upgrade(self):
        self._hangup_during_upgrade("eof")

    def test_server_resetting_during_upgrade(self):
        self._hangup_during_upgrade("rst")

    def test_against_node_wss_echo(self):
        for binary in (False, True):
            for size in (1, 126, 70000, MiB):
                with self.subTest(size=size, binary=binary):
                    args = ["--count", 2, "--size", size, "--ca", certs().ca]
                    args += ["--binary"] if binary else []
                    self.assertOk(run_client(*args, self.url(self.node.ws_port)), 2)

    def test_against_node_tcps(self):
        url = "tcps://%s:%d" % (HOST, self.node.tcp_port)
        for binary in (False, True):
            for size in (1, 70000, MiB):
                with self.subTest(size=size, binary=binary):
                    args = ["--count", 2, "--size", size, "--ca", certs().ca]
                    args += ["--binary"] if binary else []
                    self.assertOk(run_client(*args, url), 2)
        self.assertExit(run_client("--ca", certs().other_ca, url), 1, r"(?i)verif")

    def test_against_node_refusals(self):
        self.assertExit(run_client("--ca", certs().ca, self.url(self.node.ws_port, "/nope")), 2)
        self.assertExit(run_client("--ca", certs().other_ca, self.url(self.node.ws_port)), 1,
                        r"(?i)verif")
        assert_tls_echo(self, self.node.ws_port)


# ============================================== 3. clusters linked over wss:// / tcps:// ==

class ClusterBase(NodesCase):
    SCHEME = "wss"

    @classmethod
    def setUpNodes(cls):
        cls.lt = LoopThread()
        cls.peers_file = os.path.join(cls.tmp.name, "peers")
        cls.N = [CNode(name, cls.peers_file, scheme=cls.SCHEME, ca_env=(i == 1))
                 for i, name in enumerate(("tls-a", "tls-b", "tls-c"))]
        write_file(cls.peers_file, "# TLS cluster\n" + "".join(
            "%s   # %s\n" % (n.entry, n.name) for n in cls.N))
        for n in cls.N:
            cls.start(n)
        wait_mesh(cls.N)

    @classmethod
    def tearDownClass(cls):
        cls.lt.stop()
        super().tearDownClass()

    def clients(self, nodes, per_node=2):
        out = []
        for n in nodes:
            for k in range(per_node):
                c = Inbox(self.lt, n.wss("/ws?user=u-%s-%d" % (n.name, k)), "%s/%d" % (n.name, k))
                self.addCleanup(c.close)
                out.append(c)
        wait_for(lambda: all(n.stats()["connections"]["client"] == per_node for n in nodes),
                 DEADLINE, "%d chat clients on each node" % per_node,
                 diag=lambda: {n.name: n.stats()["connections"] for n in nodes})
        return out

    def expect_once(self, clients, payloads, not_at=()):
        def missing():
            return [(c.label, p[:30]) for p in payloads for c in clients if c.count(p) == 0]
        wait_for(lambda: not missing(), DEADLINE, "delivery", diag=lambda: "missing %r" % missing())
        time.sleep(DRAIN)
        errors = ["%s got %r %d times" % (c.label, p[:30], c.count(p))
                  for p in payloads for c in clients if c.count(p) != 1]
        errors += ["%s got %r" % (c.label, p[:30]) for p in payloads for c in not_at
                   if c.count(p)]
        if errors:
            self.fail("\n".join(errors))

    def check_peer_tables(self):
        for n in self.N:
            st = n.stats()
            peers = {p["url"]: p for p in st["peers"]}
            for m in self.N:
                if m is n:
                    continue
                p = peers.get(m.link_url)
                self.assertIsNotNone(p, "%s: no entry %s in %r"
                                     % (n.name, m.link_url, sorted(peers)))
                self.assertTrue(p["url"].startswith(self.SCHEME + "://"), p)
                self.assertEqual((p["node"], p["self"], p["subscriber"], p["observable"]),
                                 (m.name, False, "up", "up"), (n.name, p))
            for p in st["peers"]:
                self.assertRegex(p["url"], r"^(wss|tcps)://", "a plain link in %s" % n.name)
            self.assertEqual((st["connections"]["subscriber"], st["connections"]["observable"]),
                             (2, 2), (n.name, st["connections"]))


class WssClusterTests(ClusterBase):
    """Three instances, every server-list entry wss://, secret and CA set."""

    SCHEME = "wss"

    def setUp(self):
        wait_mesh(self.N)

    def test_1_peer_tables(self):
        self.check_peer_tables()
        for n in self.N:
            self.assertIn("advertised as wss://127.0.0.1:%d/wscluster" % n.ws_port, n.log_text())

    def test_2_send_reaches_every_instance_once(self):
        clients = self.clients(self.N)
        sent = []
        for n in self.N:
            sent.append(tok("get-" + n.name))
            res = n.send(sent[-1])
            self.assertEqual((res["delivered"], res["forwarded"]), (2, 2), res)
        sent.append(tok("from-client"))
        clients[3].send(sent[-1])
        self.expect_once(clients, sent)
        blob = os.urandom(300000) + b"\x00"
        self.N[2].post(blob, "application/octet-stream")
        self.expect_once(clients, [blob])

    def test_2b_large_and_many_messages_cross_tls_links(self):
        """A max-message (16 MiB) payload, then a burst of 300 messages from one client:
        every client of every instance gets each once, the burst in order."""
        clients = self.clients(self.N, per_node=1)
        big = os.urandom(16 * MiB)
        res = self.N[0].post(big, "application/octet-stream")
        self.assertEqual(res["forwarded"], 2, res)
        self.expect_once(clients, [big])
        label = tok("burst")
        burst = ["%s %03d %s" % (label, i, "b" * 5000) for i in range(300)]

        async def send_all():
            for m in burst:
                await clients[1].ws.send(m)
        self.lt.run(send_all(), DEADLINE)
        self.expect_once(clients, burst[-1:])
        for c in clients:
            with c.lock:
                seen = [m for m in c.msgs if isinstance(m, str) and m.startswith(label)]
            self.assertEqual(seen, burst, "%s: burst lost, duplicated or reordered" % c.label)

    def test_3_kill9_and_restart_restores_links(self):
        a, b, c = self.N
        c.killed_on_purpose = True
        c.proc.kill()
        c.proc.wait(DEADLINE)

        def down():
            return all(x.peers()[c.link_url]["subscriber"] == "down" for x in (a, b))
        wait_for(down, DEADLINE, "a and b to see c down")
        ab = self.clients((a, b), per_node=1)
        m = tok("while-c-is-down")
        a.send(m)
        self.expect_once(ab, [m])
        c2 = c.clone()
        c.kill()
        self.nodes.append(c2)
        c2.start()
        self.N[2] = c2
        wait_mesh(self.N)
        cc = self.clients((c2,), per_node=1)
        sent = [tok("after-restart-" + n.name) for n in self.N]
        for n, t in zip(self.N, sent):
            n.send(t)
        self.expect_once(ab + cc, sent)


class TcpsClusterTests(ClusterBase):
    """Three instances listed by their tcps:// listeners (TCP framer over TLS)."""

    SCHEME = "tcps"

    def test_peer_tables_and_delivery(self):
        wait_mesh(self.N)
        self.check_peer_tables()
        clients = self.clients(self.N)
        sent = []
        for n in self.N:
            sent.append(tok("tcps-" + n.name))
            n.send(sent[-1])
        self.expect_once(clients, sent)
        # a tcps:// chat client on one instance reaches the wss:// clients everywhere
        with tls_tcp(self.N[0].tcp_port) as t:
            t.sync(TIMEOUT)
            m = tok("from-tcps-client")
            t.send(OP_TEXT, m)
            self.expect_once(clients, [m])
            self.assertEqual(t.recv_message(TIMEOUT), (OP_TEXT, m.encode()))


# ============================================ 4. verification failures between instances ==

class VerificationClusterTests(NodesCase):
    """a and b are good; c trusts an unrelated CA (it can verify nobody); d presents a
    certificate of the right CA for the wrong name (nobody can verify it)."""

    @classmethod
    def setUpNodes(cls):
        cls.lt = LoopThread()
        pf = os.path.join(cls.tmp.name, "peers")
        cls.a = CNode("ok-a", pf)
        cls.b = CNode("ok-b", pf)
        cls.c = CNode("wrong-ca", pf, ca="other")
        cls.d = CNode("wrong-name", pf, cert="wrong-name")
        write_file(pf, "".join("%s\n" % n.entry for n in (cls.a, cls.b, cls.c, cls.d)))
        for n in (cls.a, cls.b, cls.c, cls.d):
            cls.start(n)

    @classmethod
    def tearDownClass(cls):
        cls.lt.stop()
        super().tearDownClass()

    def test_good_instances_link_bad_ones_do_not(self):
        a, b, c, d = self.a, self.b, self.c, self.d
        wait_mesh([a, b], strict=False)
        # c's own links fail verification, and its log says why
        wait_for(lambda: c.log_count("TLS handshake") >= 2 and re.search(
            r"(?i)verif.*(not correctly signed|trusted CA)", c.log_text()), DEADLINE,
            "the wrong-CA instance to log the verification failure", diag=c.log_tail)
        # a and b cannot verify d's name
        for x in (a, b):
            wait_for(lambda: re.search(r"(?i)verif.*(CN|name)", x.log_text()), DEADLINE,
                     "%s to log the name mismatch" % x.name, diag=x.log_tail)
        for _ in range(4):  # a few refresh periods: never up
            cs = c.stats()
            self.assertEqual(cs["connections"]["subscriber"], 0, cs)
            for p in cs["peers"]:
                self.assertEqual(p["subscriber"], "down", p)
            for x in (a, b):
                self.assertEqual(x.peers()[d.link_url]["subscriber"], "down")
            time.sleep(0.5)
        # a message sent on a reaches b, never c (c has no link that a pushes to)
        ca, cb, cc = [Inbox(self.lt, n.wss("/ws"), n.name) for n in (a, b, c)]
        for x in (ca, cb, cc):
            self.addCleanup(x.close)
        wait_for(lambda: all(n.stats()["connections"]["client"] == 1 for n in (a, b, c)),
                 msg="clients")
        m = tok("from-a")
        a.send(m)
        wait_for(lambda: ca.count(m) and cb.count(m), DEADLINE, "a's message at a and b")
        time.sleep(DRAIN)
        self.assertEqual((ca.count(m), cb.count(m), cc.count(m)), (1, 1, 0))
        for n in (a, b, c, d):
            n.assert_alive()


class TlsConfigTests(NodesCase):
    """Insecure mode and a missing CA, on small clusters of two."""

    def test_insecure_instance_links_and_says_so(self):
        pf = os.path.join(self.tmp.name, "peers-insecure")
        a = CNode("ins-a", pf, ca=None, extra=["--tls-insecure", "1"])
        b = CNode("ins-b", pf)
        write_file(pf, "%s\n%s\n" % (a.entry, b.entry))
        self.start(a)
        self.start(b)
        wait_mesh([a, b])
        self.assertIn("VERIFICATION IS OFF", a.log_text())
        self.assertNotIn("VERIFICATION IS OFF", b.log_text())

    def test_no_ca_no_links(self):
        pf = os.path.join(self.tmp.name, "peers-noca")
        a = CNode("noca-a", pf, ca=None)
        b = CNode("noca-b", pf)
        write_file(pf, "%s\n%s\n" % (a.entry, b.entry))
        self.start(a)
        self.start(b)
        wait_for(lambda: "tls_ca" in a.log_text(), DEADLINE, "a to log its missing CA",
                 diag=a.log_tail)
        time.sleep(1.5)
        st = a.stats()
        self.assertEqual(st["connections"]["subscriber"], 0, st)
        self.assertEqual(a.peers()[b.link_url]["subscriber"], "down")

    def test_key_not_matching_certificate_refused_at_start(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("WSCLUSTER_")}
        p = subprocess.Popen([NODE_TLS_BIN, "--listen", "%s:0" % HOST, "--tls-cert",
                              certs().cert, "--tls-key", certs().rogue_key],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             stdin=subprocess.DEVNULL, env=env)
        try:
            out, err = p.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            p.send_signal(signal.SIGTERM)
            out, err = p.communicate(timeout=DEADLINE)
            self.fail("the node started with a key that does not match its certificate:\n%s"
                      % (out + err).decode(errors="replace")[-2000:])
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("key", err.decode(errors="replace"))

    def test_bad_tls_options_refused_at_start(self):
        c = certs()
        cases = [
            (["--tls-cert", c.cert], "go together"),
            (["--tls-key", c.key], "go together"),
            (["--tls-cert", os.path.join(self.tmp.name, "missing.pem"), "--tls-key", c.key],
             "missing.pem"),
            (["--tls-cert", c.cert, "--tls-key", os.path.join(self.tmp.name, "nokey.pem")],
             "nokey.pem"),
            (["--tls-cert", c.key, "--tls-key", c.key], "certificate"),
        ]
        for args, needle in cases:
            with self.subTest(args=args):
                r = subprocess.run([NODE_TLS_BIN, "--listen", "%s:0" % HOST] + args,
                                   capture_output=True, timeout=60, stdin=subprocess.DEVNULL,
                                   env={k: v for k, v in os.environ.items()
                                        if not k.startswith("WSCLUSTER_")})
                self.assertNotEqual(r.returncode, 0, r)
                self.assertIn(needle, r.stderr.decode(errors="replace"))
                self.assertNotIn(b"listening", r.stdout)


class IntroductionTests(NodesCase):
    """An instance that lists only another one is introduced by its HELLO: the other side
    links back to the address it advertises, which must be wss:// for a TLS listener."""

    def _pair(self, b_extra=(), b_port=None):
        fa = os.path.join(self.tmp.name, "list-%s" % uuid.uuid4().hex[:6])
        fb = fa + "-b"
        a = CNode("intro-a-" + uuid.uuid4().hex[:4], fa)
        b = CNode("intro-b-" + uuid.uuid4().hex[:4], fb, extra=b_extra, port=b_port)
        write_file(fa, "# a knows nobody\n")
        write_file(fb, "%s\n" % a.entry)
        self.start(a)
        self.start(b)
        return a, b

    def test_introduced_instance_linked_back_over_wss(self):
        a, b = self._pair()
        wait_mesh([a, b])
        p = a.peers()[b.link_url]
        self.assertTrue(p["introduced"], p)
        # the same with the address given as a wss:// URL
        c_port = fresh_port()
        a2, c = self._pair(["--advertise", "wss://127.0.0.1:%d" % c_port], c_port)
        wait_mesh([a2, c])
        self.assertTrue(a2.peers()[c.link_url]["introduced"])

    def test_advertise_host_port_on_a_tls_node(self):
        port = fresh_port()
        fa = os.path.join(self.tmp.name, "list-adv")
        a = CNode("adv-a", fa)
        b = CNode("adv-b", fa + "-b", port=port, extra=["--advertise", "127.0.0.1:%d" % port])
        write_file(fa, "\n")
        write_file(fa + "-b", "%s\n" % a.entry)
        self.start(a)
        self.start(b)
        wait_for(lambda: "advertised as" in b.log_text(), msg="b's advertised address")
        self.assertIn("advertised as wss://127.0.0.1:%d/wscluster" % port, b.log_text())
        wait_mesh([a, b])


# ============================================== 5. hostile input on the TLS listener ==

class HostileTlsTests(NodesCase):
    """Bytes a TLS listener must survive. After each test the node still serves a TLS echo;
    at the end it exits 0 on SIGTERM (ASan: no leak, no error)."""

    @classmethod
    def setUpNodes(cls):
        cls.node = cls.start(TNode("--handshake-timeout-ms", str(HS_TIMEOUT_MS), tcp=True,
                                   name="hostile"))

    def tearDown(self):
        self.node.assert_alive()
        assert_tls_echo(self, self.node.ws_port)
        wait_for(lambda: self.node.stats()["connections"]["client"] == 0, DEADLINE,
                 "no client left", diag=lambda: self.node.stats())

    def port(self, which):
        return self.node.ws_port if which == "wss" else self.node.tcp_port

    def test_garbage_instead_of_client_hello(self):
        for which in ("wss", "tcps"):
            for junk in (b"\x00" * 64, os.urandom(4096), b"\x16\x03\x01\x00\x05" + os.urandom(5),
                         b"\x16\x03\x03\x40\x00" + os.urandom(16384),  # oversize record
                         b"\x17\x03\x03\x00\x10" + os.urandom(16),     # app data first
                         b"\x15\x03\x03\x00\x02\x02\x28"):             # an alert first
                with self.subTest(which=which, junk=junk[:8]):
                    s = util.connect(self.port(which), TIMEOUT)
                    try:
                        s.sendall(junk)
                    except OSError:
                        pass
                    t0 = time.monotonic()
                    data = recv_all(s, HS_TIMEOUT_MS / 1000 + SLACK)
                    s.close()
                    self.assertFalse(data.startswith(b"HTTP/"), data[:80])
                    self.assertLess(time.monotonic() - t0, HS_TIMEOUT_MS / 1000 + SLACK)

    def test_truncated_client_hello_then_silence(self):
        hello = client_hello()
        self.assertEqual(hello[0], 0x16)
        for which in ("wss", "tcps"):
            for cut in (1, 5, len(hello) // 2, len(hello) - 1):
                with self.subTest(which=which, cut=cut):
                    s = util.connect(self.port(which), TIMEOUT)
                    t0 = time.monotonic()
                    s.sendall(hello[:cut])
                    data = recv_all(s, HS_TIMEOUT_MS / 1000 + SLACK)
                    took = time.monotonic() - t0
                    s.close()
                    self.assertEqual(data, b"", "the node answered a partial ClientHello")
                    self.assertGreater(took, HS_TIMEOUT_MS / 1000 * 0.8,
                                       "closed before the handshake timeout")
                    self.assertLess(took, HS_TIMEOUT_MS / 1000 + SLACK)

    def test_silence_from_the_start(self):
        socks = [util.connect(self.port(w), TIMEOUT) for w in ("wss", "tcps")]
        t0 = time.monotonic()
        for s in socks:
            self.assertEqual(recv_all(s, HS_TIMEOUT_MS / 1000 + SLACK), b"")
            s.close()
        self.assertGreater(time.monotonic() - t0, HS_TIMEOUT_MS / 1000 * 0.8)

    def test_half_done_handshakes_do_not_block_others(self):
        """Thirty connections stuck in the handshake while a full TLS echo goes through;
        then the timeout closes every one."""
        hello = client_hello()
        stuck = []
        for i in range(30):
            s = util.connect(self.port("wss" if i % 2 else "tcps"), TIMEOUT)
            s.sendall(hello[: (i * 7) % len(hello)])
            stuck.append(s)
        t0 = time.monotonic()
        assert_tls_echo(self, self.node.ws_port)
        for s in stuck:
            self.assertEqual(recv_all(s, HS_TIMEOUT_MS / 1000 + 2 * SLACK), b"")
            s.close()
        self.assertLess(time.monotonic() - t0, HS_TIMEOUT_MS / 1000 + 2 * SLACK)

    def test_plain_http_to_the_tls_port(self):
        for req in (b"GET /stats HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
                    upgrade_request("/echo"),
                    b"POST /send HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"):
            with self.subTest(req=req[:20]):
                s = util.connect(self.node.ws_port, TIMEOUT)
                s.sendall(req)
                data = recv_all(s, HS_TIMEOUT_MS / 1000 + SLACK)
                s.close()
                self.assertFalse(data.startswith(b"HTTP/"), data[:100])
                self.assertNotIn(b"{", data)
        # a plain TCP-framer frame to the tcps:// port
        s = util.connect(self.node.tcp_port, TIMEOUT)
        s.sendall(tcp_frame(OP_TEXT, "plain text to a TLS port"))
        data = recv_all(s, HS_TIMEOUT_MS / 1000 + SLACK)
        s.close()
        self.assertNotIn(b"plain text", data)

    def test_garbage_after_the_tls_handshake(self):
        for junk in (b"\x00\x01\x02 garbage\r\n\r\n", b"NOT-HTTP\r\n\r\n",
                     b"GET /echo HTTP/1.1\r\nUpgrade websocket\r\n\r\n", os.urandom(3000),
                     b"GET / HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 20000 + b"\r\n\r\n"):
            with self.subTest(junk=junk[:16]):
                s = tls_socket(self.node.ws_port)
                try:
                    s.sendall(junk)
                except OSError:
                    pass
                data = recv_all(s, TIMEOUT)
                s.close()
                if data:
                    self.assertRegex(data[:20], rb"^HTTP/1\.1 4(00|31) ", data[:200])

    def test_garbage_after_tls_on_tcps(self):
        with tls_tcp(self.node.tcp_port) as t:
            t.sync(TIMEOUT)
            t.send_raw(struct.pack("!IB", 3, 0x07) + b"abc")  # unknown frame type
            self.assertEqual(t.expect_close(TIMEOUT), 1002)
        with tls_tcp(self.node.tcp_port) as t:
            t.send_raw(struct.pack("!IB", 0xFFFFFFF0, 0x02))  # over max-message
            self.assertEqual(t.expect_close(TIMEOUT), 1009)
        with tls_ws(self.node.ws_port) as ws:  # an unmasked frame on wss
            ws.send(OP_TEXT, b"unmasked", mask=False)
            self.assertEqual(ws.expect_close(TIMEOUT), 1002)

    def test_abrupt_disconnect_during_the_handshake(self):
        hello = client_hello()
        for which in ("wss", "tcps"):
            for rnd in range(4):
                with self.subTest(which=which, round=rnd):
                    # 1: right after the ClientHello
                    s = util.connect(self.port(which), TIMEOUT)
                    s.sendall(hello)
                    reset_close(s)
                    # 2: after reading part of the server's flight
                    s = util.connect(self.port(which), TIMEOUT)
                    s.sendall(hello)
                    s.settimeout(TIMEOUT)
                    self.assertTrue(s.recv(100))
                    reset_close(s)
                    # 3: in the middle of the client's second flight
                    s = util.connect(self.port(which), TIMEOUT)
                    d = HandshakeDriver(s)
                    s.sendall(d.client_hello())
                    flight = d.second_flight()
                    s.sendall(flight[: len(flight) // 2])
                    (reset_close if rnd % 2 else socket.socket.close)(s)
                    # 4: the handshake done, then gone without a close_notify
                    s = util.connect(self.port(which), TIMEOUT)
                    d = HandshakeDriver(s)
                    s.sendall(d.client_hello())
                    s.sendall(d.second_flight())
                    while not d.step()[1]:
                        self.inc_from(s, d)
                    reset_close(s)

    @staticmethod
    def inc_from(s, d):
        chunk = s.recv(65536)
        if not chunk:
            raise AssertionError("node closed a good handshake")
        d.inc.write(chunk)

    def test_abrupt_disconnect_mid_message(self):
        for rnd in range(3):
            # half of a large frame, then RST
            ws = tls_ws(self.node.ws_port)
            frame = build_frame(OP_BINARY, os.urandom(300000))
            ws.sock.sendall(frame[: len(frame) // 2])
            reset_close(ws.sock)
            # while the node is writing a large echo to us
            ws = tls_ws(self.node.ws_port)
            ws.send(OP_BINARY, os.urandom(2 * MiB))
            ws.sock.settimeout(TIMEOUT)
            self.assertTrue(ws.sock.recv(1000))
            reset_close(ws.sock)
            # a TLS close_notify in the middle of a WebSocket message
            ws = tls_ws(self.node.ws_port)
            ws.send(OP_TEXT, b"partial", fin=False)
            try:
                ws.sock.unwrap()
            except (OSError, ssl.SSLError):
                pass
            ws.close()
            # on tcps: half a frame then RST
            t = tls_tcp(self.node.tcp_port)
            t.send_raw(tcp_frame(OP_BINARY, os.urandom(100000))[:50000])
            reset_close(t.sock)

    def test_slow_http_request_after_tls(self):
        """TLS done, then an HTTP request that never ends: closed by the same timeout."""
        s = tls_socket(self.node.ws_port)
        t0 = time.monotonic()
        s.sendall(b"GET /stats HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        data = recv_all(s, 2 * HS_TIMEOUT_MS / 1000 + SLACK)
        s.close()
        self.assertFalse(data.startswith(b"HTTP/1.1 200"), data[:100])
        self.assertLess(time.monotonic() - t0, 2 * HS_TIMEOUT_MS / 1000 + SLACK)

    def test_full_tls_listener_sends_no_plaintext(self):
        n = self.own_node(TNode("--max-clients", "2", name="full"))
        held = [tls_socket(n.ws_port) for _ in range(2)]  # handshake done: both counted
        for h in held:
            self.addCleanup(h.close)
        s = util.connect(n.ws_port, TIMEOUT)
        s.sendall(client_hello())
        data = recv_all(s, TIMEOUT)
        s.close()
        self.assertFalse(data.startswith(b"HTTP/"), "plaintext on a TLS port: %r" % data[:80])
        for h in held:
            h.close()
        self.stop_ok(n)

    def test_sigterm_with_connections_in_every_tls_state(self):
        """SIGTERM while connections sit half-way through the TLS handshake, after it
        without a request, inside a request, and on a wss:// echo nobody reads: exit 0,
        promptly (the node gives up waiting after 3 s)."""
        n = self.own_node(TNode("--handshake-timeout-ms", "60000", tcp=True, name="sigterm-tls"))
        hello = client_hello()
        socks = []
        for port in (n.ws_port, n.tcp_port):
            s = util.connect(port, TIMEOUT)
            s.sendall(hello[:40])
            socks.append(s)
            s = util.connect(port, TIMEOUT)
            d = HandshakeDriver(s)
            s.sendall(d.client_hello())
            d.second_flight()          # the server waits for our key exchange
            socks.append(s)
        s = tls_socket(n.ws_port)      # TLS done, no request
        socks.append(s)
        s = tls_socket(n.ws_port)      # half a request
        s.sendall(b"GET /stats HTTP/1.1\r\n")
        socks.append(s)
        ws = tls_ws(n.ws_port)         # megabytes of echo nobody reads
        ws.send(OP_BINARY, os.urandom(3 * MiB))
        socks.append(ws.sock)
        for x in socks:
            self.addCleanup(x.close)
        time.sleep(0.5)
        t0 = time.monotonic()
        self.stop_ok(n)
        self.assertLess(time.monotonic() - t0, 3 + 2 * SLACK)

    def test_handshake_timeout_does_not_cut_slow_but_complete_handshakes(self):
        """A handshake done in pieces well inside the timeout works; only the idle ones are
        closed."""
        s = util.connect(self.node.ws_port, TIMEOUT)
        d = HandshakeDriver(s)
        hello = d.client_hello()
        s.sendall(hello[:10])
        time.sleep(0.3)
        s.sendall(hello[10:])
        flight = d.second_flight()
        time.sleep(0.2)
        s.sendall(flight)
        while not d.step()[1]:
            self.inc_from(s, d)
        d.obj.write(b"GET /stats HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        s.sendall(d.out.read())
        got = b""
        s.settimeout(TIMEOUT)
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            d.inc.write(chunk)
            eof = False
            try:
                while True:
                    part = d.obj.read(65536)
                    if not part:
                        eof = True
                        break
                    got += part
            except ssl.SSLWantReadError:
                pass
            except ssl.SSLError:
                eof = True
            if eof or b'"peers"' in got:
                break
        s.close()
        self.assertTrue(got.startswith(b"HTTP/1.1 200"), got[:100])


# ======================================================== 6. the plain build and TLS ==

class PlainBuildTests(NodesCase):
    def test_plain_build_refuses_tls_options(self):
        c = certs()
        env0 = {k: v for k, v in os.environ.items() if not k.startswith("WSCLUSTER_")}
        cases = [(["--tls-cert", c.cert, "--tls-key", c.key], {}),
                 (["--tls-ca", c.ca], {}),
                 ([], {"WSCLUSTER_TLS_CERT": c.cert, "WSCLUSTER_TLS_KEY": c.key})]
        for args, env in cases:
            with self.subTest(args=args, env=env):
                if not os.access(NODE_PLAIN_BIN, os.X_OK):
                    raise AssertionError("node binary missing: %s" % NODE_PLAIN_BIN)
                r = subprocess.run([NODE_PLAIN_BIN, "--listen", "%s:0" % HOST] + args,
                                   capture_output=True, timeout=60, stdin=subprocess.DEVNULL,
                                   env=dict(env0, **env))
                self.assertEqual(r.returncode, 2, r)
                self.assertRegex(r.stderr.decode(errors="replace"), r"(?i)tls")
                self.assertNotIn(b"listening", r.stdout)

    def test_plain_build_skips_tls_entries(self):
        pf = os.path.join(self.tmp.name, "peers")
        good_port = fresh_port()
        write_file(pf, "wss://127.0.0.1:%d\n# comment\ntcps://127.0.0.1:%d\n127.0.0.1:%d\n"
                   % (fresh_port(), fresh_port(), good_port))
        n = self.start(TNode("--peers", pf, binary=NODE_PLAIN_BIN, tls=False, name="plain"))
        self.assertEqual(n.schemes, {"ws": "ws"})
        rx = r"server list %s:%d: .*\(entry skipped\)"
        wait_for(lambda: re.search(rx % (re.escape(pf), 1), n.log_text())
                 and re.search(rx % (re.escape(pf), 3), n.log_text()), DEADLINE,
                 "both TLS entries logged as bad lines", diag=n.log_tail)
        self.assertNotRegex(n.log_text(), rx % (re.escape(pf), 4))
        self.assertRegex(n.log_text(), r"(?i)tls|wss")
        st = util.get_stats(n.ws_port)
        urls = [p["url"] for p in st["peers"]]
        self.assertFalse([u for u in urls if u.startswith(("wss", "tcps"))], urls)
        self.assertIn("ws://127.0.0.1:%d/wscluster" % good_port, urls)
        util.assert_echo(n.ws_port)


# ===================================== 7. peers named by IP address (iPAddress SANs) ==

def v6_unavailable():
    """Why the IPv6 tests cannot run on this machine, or None when ::1 can be bound."""
    if not socket.has_ipv6:
        return "this Python has no IPv6 support (socket.has_ipv6 is false)"
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
    except OSError as e:
        return "::1 cannot be bound on this machine (%s)" % e
    return None


def fresh_port6():
    with socket.socket(socket.AF_INET6) as s:
        s.bind(("::1", 0))
        return s.getsockname()[1]


NOT_NAMED = r"TLS handshake with %s failed: .*verif.*does not name %s"


class IpAddressTests(util.ClientChecks, NodesCase):
    """A server dialled by IP address must be named by an iPAddress subjectAltName of its
    certificate, as CAs certify addresses: one naming only that address (no DNS entry, a CN
    that is not the address) is accepted; one naming other addresses is refused, even with
    the address as its CN, and so is one that spells the address as a DNS name; the log says
    which address the certificate does not name. Our client role (wsc-client-tls) over
    wss:// and tcps://, and cluster links; IPv6 over [::1] where the machine has it (the
    node's tcps:// listener, its wss:// one stays on 127.0.0.1 where the tests' helpers are)."""

    @classmethod
    def setUpNodes(cls):
        c = certs()

        def node(name, pem, key, tcp=False, tcp6=False):
            args = ["--tls-cert", pem, "--tls-key", key]
            if tcp6:
                args += ["--tcp-listen", "[::1]:%d" % fresh_port6()]
            n = cls.start(TNode(*args, tls=False, tcp=tcp, name=name))
            if tcp6:
                line = wait_for(lambda: [x for x in n.stdout_lines if "tcps://[::1]:" in x],
                                DEADLINE, "%s's [::1] listener" % name, diag=n.log_tail)
                n.tcp6_port = int(line[0].rsplit(":", 1)[1])
            return n
        cls.ip4 = node("ip4", c.ip4, c.ip4_key, tcp=True)
        cls.other4 = node("other-ip4", c.other_ip4, c.other_ip4_key)
        cls.dns4 = node("dns-ip4", c.dns_ip4, c.dns_ip4_key)
        cls.no_v6 = v6_unavailable()
        if not cls.no_v6:
            cls.ip6 = node("ip6", c.ip6, c.ip6_key, tcp6=True)
            cls.other6 = node("other-ip6", c.other_ip6, c.other_ip6_key, tcp6=True)

    def refused(self, url, hostport, addr):
        res = run_client("--ca", certs().ca, url)
        self.assertExit(res, 1, NOT_NAMED % (re.escape(hostport), re.escape(addr)))

    def test_certificate_naming_only_the_address_is_accepted(self):
        for url in ("wss://127.0.0.1:%d/echo" % self.ip4.ws_port,
                    "tcps://127.0.0.1:%d" % self.ip4.tcp_port):
            with self.subTest(url=url):
                self.assertOk(run_client("--count", 2, "--size", 70000, "--ca", certs().ca,
                                         url), 2)

    def test_certificate_for_another_address_is_refused(self):
        port = self.other4.ws_port
        self.refused("wss://127.0.0.1:%d/echo" % port, "127.0.0.1:%d" % port, "127.0.0.1")

    def test_address_spelled_as_a_dns_name_is_refused(self):
        port = self.dns4.ws_port
        self.refused("wss://127.0.0.1:%d/echo" % port, "127.0.0.1:%d" % port, "127.0.0.1")

    def test_names_are_still_checked_as_names(self):
        """localhost is a name, which mbedTLS checks against DNS entries: the server
        certificate (DNS:localhost) is accepted, one naming only 127.0.0.1 is not."""
        addrs = {a[4][0] for a in socket.getaddrinfo("localhost", 1, type=socket.SOCK_STREAM)}
        if addrs != {"127.0.0.1"}:
            self.skipTest("localhost resolves to %s, not to 127.0.0.1 alone (where the nodes "
                          "listen)" % sorted(addrs))
        node = self.own_node(TNode(name="localhost-node"))
        self.assertOk(run_client("--ca", certs().ca, "wss://localhost:%d/echo" % node.ws_port), 1)
        self.stop_ok(node)
        res = run_client("--ca", certs().ca, "wss://localhost:%d/echo" % self.ip4.ws_port)
        self.assertExit(res, 1, r"(?i)verif.*CN")

    def test_insecure_mode_does_not_look_at_addresses(self):
        res = run_client("--insecure", "wss://127.0.0.1:%d/echo" % self.other4.ws_port)
        self.assertOk(res, 1)

    def test_ipv6_address(self):
        if self.no_v6:
            self.skipTest(self.no_v6)
        self.assertOk(run_client("--count", 2, "--ca", certs().ca,
                                 "tcps://[::1]:%d" % self.ip6.tcp6_port), 2)
        port = self.other6.tcp6_port
        self.refused("tcps://[::1]:%d" % port, "[::1]:%d" % port, "::1")
        # a v6 certificate is no certificate for 127.0.0.1, nor one for v4 for ::1
        port = self.ip6.ws_port
        self.refused("wss://127.0.0.1:%d/echo" % port, "127.0.0.1:%d" % port, "127.0.0.1")

    def test_cluster_linked_by_address(self):
        """ip-a and ip-b carry certificates naming 127.0.0.1 only and link; ip-c's names
        10.0.0.5: nobody links to it, and the log says why. (ip-c can link to the others,
        whose certificates are good: that direction is not looked at.)"""
        pf = os.path.join(self.tmp.name, "peers-ip")
        a = CNode("ip-a", pf, cert="ip4")
        b = CNode("ip-b", pf, cert="ip4")
        x = CNode("ip-c", pf, cert="other-ip4")
        write_file(pf, "".join("%s\n" % n.entry for n in (a, b, x)))
        for n in (a, b, x):
            self.start(n)
        wait_mesh([a, b], strict=False)
        rx = NOT_NAMED % (re.escape("127.0.0.1:%d" % x.req_port), re.escape("127.0.0.1"))
        for n in (a, b):
            wait_for(lambda: re.search(rx, n.log_text()), DEADLINE,
                     "%s to log that ip-c's certificate does not name 127.0.0.1" % n.name,
                     diag=n.log_tail)
        for _ in range(3):  # a few refresh periods: never up
            for n in (a, b):
                self.assertEqual(n.peers()[x.link_url]["subscriber"], "down")
            time.sleep(0.5)


if __name__ == "__main__":
    main()
