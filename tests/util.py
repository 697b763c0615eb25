"""Shared helpers for the wscluster-node Python tests (stdlib + websockets 10.x only)."""

import asyncio
import base64
import hashlib
import http.client
import json
import os
import queue
import re
import resource
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import uuid

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOST = "127.0.0.1"
TIMEOUT = 10.0  # generous default for every single wait
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def _bin(env, default):
    path = os.environ.get(env, default)
    return path if os.path.isabs(path) else os.path.join(REPO, path)


NODE_BIN = _bin("WSC_NODE_BIN", "build/wscluster-node")
# a command every node is started through, e.g. "qemu-aarch64-static -L /usr/aarch64-linux-gnu"
# (make cross runs the smoke test on emulated targets)
NODE_WRAP = os.environ.get("WSC_NODE_WRAP", "").split()
CLIENT_BIN = _bin("WSC_CLIENT_BIN", "build/wsc-client")

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


def raise_nofile(want):
    """Raise the soft RLIMIT_NOFILE (inherited by nodes started later); return the new soft."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def wait_for(pred, timeout=30.0, msg="condition", diag=None, interval=0.05):
    """pred()'s first true value; AssertionError (with diag()'s text) after timeout s."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            extra = ""
            if diag:
                try:
                    extra = "\n" + str(diag())
                except Exception as e:  # diagnostics must not hide the timeout
                    extra = "\n(diagnostics failed: %r)" % (e,)
            raise AssertionError("timed out after %.0f s waiting for %s%s" % (timeout, msg, extra))
        time.sleep(interval)


_used_ports = set()


def fresh_port():
    """A free port on 127.0.0.1, never handed out twice by this process."""
    while True:
        p = free_port()
        if p not in _used_ports:
            _used_ports.add(p)
            return p


def tok(label):
    return "%s-%s" % (label, uuid.uuid4().hex[:12])


def write_file(path, text):
    """Replace a file atomically: a node re-reading it never sees half of it."""
    tmp = "%s.tmp%d" % (path, os.getpid())
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def run_async(coro, timeout=60):
    """Run a coroutine to completion on a fresh event loop with an overall timeout."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


# ---------------------------------------------------------------------------- the node --

class Node:
    """One wscluster-node process on ephemeral ports, read from its `listening` lines
    (ws:// and tcp://, or wss:// and tcps:// from a TLS listener: `schemes` tells which)."""

    def __init__(self, *args, tcp=False, env=None, port=0, tcp_port=0, binary=None, name=None):
        """`port` / `tcp_port`: listen on these (0: ephemeral); a nonzero tcp_port implies
        tcp. `env` entries whose value is None are removed from the inherited environment.
        `binary`: another build than NODE_BIN; `name`: how messages and NodesCase call it."""
        self.args = list(args)
        self.tcp = tcp or bool(tcp_port)
        self.env = env
        self.req_port = port
        self.req_tcp_port = tcp_port
        self.binary = binary or NODE_BIN
        self.name = name or "node"
        self.killed_on_purpose = False  # NodesCase: a non-zero exit of this node is expected
        self.proc = None
        self.ws_port = None
        self.tcp_port = None
        self.schemes = {}               # {"ws": "ws" or "wss", "tcp": "tcp" or "tcps"}
        self.stdout_lines = []

    def start(self):
        if not os.access(self.binary, os.X_OK):
            raise AssertionError("node binary missing: %s" % self.binary)
        cmd = NODE_WRAP + [self.binary, "--listen", "%s:%d" % (HOST, self.req_port)]
        if self.tcp:
            cmd += ["--tcp-listen", "%s:%d" % (HOST, self.req_tcp_port)]
        cmd += self.args
        env = dict(os.environ)
        for k, v in (self.env or {}).items():
            if v is None:
                env.pop(k, None)
            else:
                env[k] = v
        self.cmd = cmd
        self.stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.stderr,
                                     stdin=subprocess.DEVNULL, cwd=REPO, env=env)
        lines = queue.Queue()

        def drain():  # keep reading so the node never blocks on a full stdout pipe
            for raw in self.proc.stdout:
                line = raw.decode("utf-8", "replace").rstrip("\n")
                self.stdout_lines.append(line)
                lines.put(line)
            lines.put(None)

        self.drainer = threading.Thread(target=drain, daemon=True)
        self.drainer.start()
        deadline = time.monotonic() + 30
        while self.ws_port is None or (self.tcp and self.tcp_port is None):
            try:
                line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                line = None
            if line is None:
                msg = ("node did not report its listeners: %r\nstderr:\n%s"
                       % (self.stdout_lines, self.log_tail()))
                self.kill()
                raise AssertionError(msg)
            m = re.match(r"^listening (wss|ws|tcps|tcp)://127\.0\.0\.1:(\d+)\s*$", line)
            if m and m.group(1) in ("ws", "wss"):
                self.ws_port = int(m.group(2))
                self.schemes["ws"] = m.group(1)
            elif m:
                self.tcp_port = int(m.group(2))
                self.schemes["tcp"] = m.group(1)
        return self

    def log_text(self):
        """Everything the node wrote to stderr so far. pread: the file offset is shared with
        the running node, so seeking it would make the node overwrite its own log."""
        try:
            fd = self.stderr.fileno()
            return os.pread(fd, os.fstat(fd).st_size, 0).decode("utf-8", "replace")
        except Exception:
            return ""

    def log_tail(self, n=4000):
        return self.log_text()[-n:]

    def log_count(self, needle):
        return self.log_text().count(needle)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def assert_alive(self):
        if not self.alive():
            raise AssertionError("node exited with status %s\nstderr:\n%s"
                                 % (self.proc.returncode, self.log_tail()))

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def wait(self, timeout=30):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            msg = "node did not exit within %ss\nstderr:\n%s" % (timeout, self.log_tail())
            self.kill()
            raise AssertionError(msg)

    def stop(self, sig=signal.SIGTERM):
        """Signal the node, wait, and assert exit status 0."""
        if self.proc is None:
            return
        self.assert_alive()
        self.send_signal(sig)
        rc = self.wait()
        if rc != 0:
            raise AssertionError("node exited with status %s after %s\nstderr:\n%s"
                                 % (rc, signal.Signals(sig).name, self.log_tail()))

    def kill(self):
        """Make sure the process is gone and release its pipes (idempotent)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.drainer.join(5)
        self.proc.stdout.close()
        self.stderr.close()

    def url(self, path="/echo"):
        return "ws://%s:%d%s" % (HOST, self.ws_port, path)


class NodeTestCase:
    """Mixin for unittest.TestCase: one node per class, started with NODE_ARGS."""

    NODE_ARGS = ()
    NODE_TCP = False

    @classmethod
    def setUpClass(cls):
        cls.node = Node(*cls.NODE_ARGS, tcp=cls.NODE_TCP).start()

    @classmethod
    def tearDownClass(cls):
        node, cls.node = cls.node, None
        try:
            node.stop()
        finally:
            node.kill()


# ------------------------------------------------------------------------------ HTTP --

def http_request(port, method, path, body=None, headers=None, timeout=TIMEOUT):
    """Plain HTTP request; returns (status, {lowercased header: value}, body bytes)."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
    finally:
        conn.close()


def get_stats(port):
    status, headers, body = http_request(port, "GET", "/stats")
    if status != 200:
        raise AssertionError("/stats answered %d: %r" % (status, body[:200]))
    return json.loads(body)


def client_count(port):
    return get_stats(port)["connections"]["client"]


def connect(port, timeout=TIMEOUT):
    s = socket.create_connection((HOST, port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def recv_all(sock, timeout=TIMEOUT, limit=1 << 20):
    """Read until EOF (or reset, or a TLS error on an ssl socket); returns the bytes
    received. Fails on timeout: the peer kept the connection open."""
    sock.settimeout(timeout)
    chunks = []
    total = 0
    while total < limit:
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, ssl.SSLError):
            break
        except socket.timeout:
            raise AssertionError("peer did not close within %ss (got %r)"
                                 % (timeout, b"".join(chunks)[:200]))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)


def read_http_head(sock, timeout=TIMEOUT):
    """Read one HTTP response head: (status, {lower name: value}, leftover bytes).
    Status is None if the peer closed without sending a response."""
    sock.settimeout(timeout)
    buf = b""
    while b"\r\n\r\n" not in buf:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            if not buf:
                return None, {}, b""
            raise AssertionError("connection closed inside response head: %r" % buf[:300])
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    m = re.match(r"^HTTP/1\.[01] (\d{3})", lines[0])
    if not m:
        raise AssertionError("bad status line: %r" % lines[0])
    headers = {}
    for ln in lines[1:]:
        name, _, value = ln.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(m.group(1)), headers, rest


def ws_key():
    return base64.b64encode(os.urandom(16)).decode()


def accept_for(key):
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()


def upgrade_request(path="/echo", key=None, version="13", extra=None, omit=()):
    """Build a WebSocket upgrade request head. `omit` drops headers by lowercase name."""
    hdrs = [("Host", "127.0.0.1"), ("Upgrade", "websocket"), ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", key if key is not None else ws_key()),
            ("Sec-WebSocket-Version", version)]
    hdrs = [(k, v) for k, v in hdrs if k.lower() not in omit] + list(extra or [])
    head = "GET %s HTTP/1.1\r\n" % path + "".join("%s: %s\r\n" % kv for kv in hdrs) + "\r\n"
    return head.encode("latin-1")


# ------------------------------------------------------------------- WebSocket frames --

def apply_mask(data, key):
    if not data:
        return b""
    n = len(data)
    full = key * (n // 4) + key[: n % 4]
    return (int.from_bytes(data, "little") ^ int.from_bytes(full, "little")).to_bytes(n, "little")


def build_frame(opcode, payload=b"", fin=True, rsv=0, mask=True, mask_key=None, length=None):
    """Encode one client frame. `length` overrides the encoded length (hostile frames);
    `rsv` is the 3-bit RSV field."""
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    b0 = (0x80 if fin else 0) | ((rsv & 7) << 4) | (opcode & 0xF)
    n = len(payload) if length is None else length
    m = 0x80 if mask else 0
    if n < 126:
        head = struct.pack("!BB", b0, m | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, m | 126, n)
    else:
        head = struct.pack("!BBQ", b0, m | 127, n)
    if mask:
        key = mask_key or os.urandom(4)
        return head + key + apply_mask(payload, key)
    return head + payload


def close_payload(code, reason=b""):
    return struct.pack("!H", code) + reason


class RawWS:
    """A hand-driven WebSocket client on a plain socket."""

    def __init__(self, port, path="/echo", extra=None, timeout=TIMEOUT):
        self.sock = connect(port, timeout)
        self.buf = b""
        key = ws_key()
        self.sock.sendall(upgrade_request(path, key, extra=extra))
        status, headers, rest = read_http_head(self.sock, timeout)
        if status != 101:
            self.sock.close()
            raise AssertionError("handshake to %s answered %r" % (path, status))
        if headers.get("sec-websocket-accept") != accept_for(key):
            self.sock.close()
            raise AssertionError("bad Sec-WebSocket-Accept %r"
                                 % headers.get("sec-websocket-accept"))
        self.headers = headers
        self.buf = rest

    @classmethod
    def wrap(cls, sock, buf=b""):
        """A RawWS around a socket whose handshake was done by hand."""
        ws = cls.__new__(cls)
        ws.sock, ws.buf = sock, buf
        return ws

    def send_raw(self, data):
        self.sock.sendall(data)

    def send(self, opcode, payload=b"", **kw):
        self.sock.sendall(build_frame(opcode, payload, **kw))

    def send_text(self, text):
        self.send(OP_TEXT, text.encode("utf-8"))

    def _fill(self, n, timeout):
        self.sock.settimeout(timeout)
        while len(self.buf) < n:
            try:
                chunk = self.sock.recv(max(65536, n - len(self.buf)))
            except ConnectionResetError:
                chunk = b""
            except socket.timeout:
                raise AssertionError("timed out reading from node (have %d of %d bytes)"
                                     % (len(self.buf), n))
            if not chunk:
                raise EOFError("connection closed by node")
            self.buf += chunk

    def _take(self, n, timeout):
        self._fill(n, timeout)
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def recv_frame(self, timeout=TIMEOUT):
        """Returns (fin, opcode, payload); raises EOFError on EOF."""
        b0, b1 = self._take(2, timeout)
        if b1 & 0x80:
            raise AssertionError("server frame is masked")
        if b0 & 0x70:
            raise AssertionError("server frame has RSV bits: %#x" % b0)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self._take(2, timeout))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._take(8, timeout))[0]
        return bool(b0 & 0x80), b0 & 0x0F, self._take(n, timeout)

    def recv_message(self, timeout=TIMEOUT, answer_pings=True):
        """Next data message as (opcode, payload), joining fragments and skipping
        pings/pongs. A close frame raises AssertionError with its code."""
        opcode, parts = None, []
        while True:
            fin, op, payload = self.recv_frame(timeout)
            if op == OP_PING:
                if answer_pings:
                    self.send(OP_PONG, payload)
                continue
            if op == OP_PONG:
                continue
            if op == OP_CLOSE:
                raise AssertionError("unexpected close %r" % (parse_close(payload),))
            if opcode is None:
                opcode = op
            parts.append(payload)
            if fin:
                return opcode, b"".join(parts)

    def expect_close(self, timeout=TIMEOUT, reply=True):
        """Read until a close frame; return its code (None if empty). Data frames in between
        are ignored. Replies with a close frame and then expects EOF."""
        while True:
            try:
                fin, op, payload = self.recv_frame(timeout)
            except EOFError:
                raise AssertionError("connection closed without a close frame")
            if op == OP_CLOSE:
                break
        code, _ = parse_close(payload)
        if reply:
            try:
                self.sock.sendall(build_frame(OP_CLOSE, payload[:2]))
            except OSError:
                pass
        self.expect_eof(timeout)
        return code

    def expect_eof(self, timeout=TIMEOUT):
        self.sock.settimeout(timeout)
        deadline = time.monotonic() + timeout
        while True:
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                return
            except socket.timeout:
                raise AssertionError("node did not close the TCP connection")
            if not chunk:
                return
            if time.monotonic() > deadline:
                raise AssertionError("node kept sending instead of closing")

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def parse_close(payload):
    if len(payload) >= 2:
        return struct.unpack("!H", payload[:2])[0], payload[2:]
    return None, payload


def assert_echo(port, text=None):
    """Fresh /echo round trip over a raw socket: proves the node still serves."""
    text = text or "still-alive-%s" % os.urandom(4).hex()
    with RawWS(port, "/echo") as ws:
        ws.send_text(text)
        op, payload = ws.recv_message()
        if (op, payload) != (OP_TEXT, text.encode()):
            raise AssertionError("echo mismatch: %r %r" % (op, payload[:100]))
        ws.send(OP_CLOSE, close_payload(1000))
        code = ws.expect_close(reply=False)
        if code != 1000:
            raise AssertionError("close echo was %r, expected 1000" % code)


# ---------------------------------------------------------------------- TCP framer --

def tcp_frame(ftype, payload=b"", length=None):
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    return struct.pack("!IB", len(payload) if length is None else length, ftype) + payload


class RawTCP:
    """A client of the node's length-prefixed TCP framer."""

    def __init__(self, port, timeout=TIMEOUT):
        self.sock = connect(port, timeout)
        self.buf = b""

    _fill = RawWS._fill
    _take = RawWS._take
    expect_eof = RawWS.expect_eof
    close = RawWS.close
    __enter__ = RawWS.__enter__
    __exit__ = RawWS.__exit__

    def send(self, ftype, payload=b"", length=None):
        self.sock.sendall(tcp_frame(ftype, payload, length))

    def send_raw(self, data):
        self.sock.sendall(data)

    def recv_frame(self, timeout=TIMEOUT):
        n, ftype = struct.unpack("!IB", self._take(5, timeout))
        return ftype, self._take(n, timeout)

    def recv_message(self, timeout=TIMEOUT):
        """Next text/binary frame, answering pings and skipping pongs."""
        while True:
            ftype, payload = self.recv_frame(timeout)
            if ftype == OP_PING:
                self.send(OP_PONG, payload)
            elif ftype == OP_CLOSE:
                raise AssertionError("unexpected close %r" % (parse_close(payload),))
            elif ftype != OP_PONG:
                return ftype, payload

    def sync(self, timeout=TIMEOUT):
        """Ping/pong round trip: afterwards the node has registered this client."""
        token = os.urandom(8)
        self.send(OP_PING, token)
        while True:
            ftype, payload = self.recv_frame(timeout)
            if ftype == OP_PONG and payload == token:
                return

    def expect_close(self, timeout=TIMEOUT):
        while True:
            try:
                ftype, payload = self.recv_frame(timeout)
            except EOFError:
                raise AssertionError("TCP connection closed without a close frame")
            if ftype == OP_CLOSE:
                break
        self.expect_eof(timeout)
        return parse_close(payload)[0]


# ------------------------------------------------------------------ our client role --

def run_client(binary, *args, timeout=90):
    """Run a wsc-client build with `args`: the CompletedProcess, stdout and stderr captured."""
    if not os.access(binary, os.X_OK):
        raise AssertionError("client binary missing: %s" % binary)
    return subprocess.run([binary] + [str(a) for a in args], capture_output=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


class ClientChecks:
    """Mixin for unittest.TestCase: how a run_client() result must have ended."""

    def assertOk(self, res, n):
        """Exit 0 after n echoes checked."""
        out = res.stdout.decode(errors="replace")
        err = res.stderr.decode(errors="replace")[-2000:]
        self.assertEqual(res.returncode, 0, "exit %d\nstdout: %s\nstderr: %s"
                         % (res.returncode, out, err))
        self.assertRegex(out, r"(?m)^ok %d$" % n)

    def assertExit(self, res, code, stderr_rx=None):
        """Exit `code` without an "ok" line, stderr matching stderr_rx if given."""
        err = res.stderr.decode(errors="replace")
        self.assertEqual(res.returncode, code,
                         "stdout: %r\nstderr: %s" % (res.stdout[-500:], err[-2000:]))
        self.assertNotRegex(res.stdout.decode(errors="replace"), r"(?m)^ok ")
        if stderr_rx:
            self.assertRegex(err, stderr_rx)


# -------------------------------------------------------------------- websockets --

def ws_connect(url, **kw):
    import websockets
    opts = dict(max_size=None, ping_interval=None, open_timeout=TIMEOUT,
                close_timeout=TIMEOUT)
    opts.update(kw)
    return websockets.connect(url, **opts)


async def recv(ws, timeout=TIMEOUT):
    return await asyncio.wait_for(ws.recv(), timeout)


class LoopThread:
    """An asyncio loop in a daemon thread (websockets clients and servers live there)."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro, timeout=30):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self):
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


class Recorder:
    """What a Python websockets echo server saw, one dict per connection (written on the
    loop thread): serve with websockets.serve(recorder.echo, ...)."""

    def __init__(self):
        self.conns = []

    async def echo(self, ws):
        import websockets
        rec = {"path": ws.path, "subprotocol": ws.subprotocol, "kinds": set(), "sizes": [],
               "zeros": False, "printable": True, "close_code": None, "done": False}
        self.conns.append(rec)
        try:
            async for msg in ws:
                rec["kinds"].add(type(msg).__name__)
                rec["sizes"].append(len(msg))
                if isinstance(msg, bytes):
                    rec["zeros"] |= b"\x00" in msg
                else:
                    rec["printable"] &= msg.isprintable()
                await ws.send(msg)
        except websockets.ConnectionClosed:
            pass  # close_code below tells the test what happened
        finally:
            rec["close_code"] = ws.close_code
            rec["done"] = True

    def last(self):
        """The last connection's record, once the server side of it has finished."""
        return wait_for(lambda: self.conns and self.conns[-1]["done"] and self.conns[-1],
                        msg="the server side of the connection to finish")


def main():
    import unittest
    unittest.main(module="__main__", verbosity=int(os.environ.get("VERBOSE", "1")))


class NodesCase(unittest.TestCase):
    """Nodes started through start() are stopped with SIGTERM at the end of the class and
    must exit 0 (LeakSanitizer reports make the ASan build exit non-zero). Subclasses start
    their nodes in setUpNodes(); a node stopped with SIGSTOP by a failed test is resumed."""
    TMP_PREFIX = "wsc-nodes-"

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix=cls.TMP_PREFIX)
        cls.nodes = []
        try:
            cls.setUpNodes()
        except BaseException:
            cls._stop_nodes(check=False)
            cls.tmp.cleanup()
            raise

    @classmethod
    def setUpNodes(cls):
        pass

    @classmethod
    def start(cls, node):
        cls.nodes.append(node)
        return node.start()

    @classmethod
    def tearDownClass(cls):
        try:
            cls._stop_nodes(check=True)
        finally:
            cls.tmp.cleanup()

    @classmethod
    def _stop_nodes(cls, check):
        errors = []
        for n in cls.nodes:
            if n.proc is None:
                continue
            try:
                if n.alive():
                    n.send_signal(signal.SIGCONT)
                    n.stop()
                elif n.proc.returncode != 0 and not n.killed_on_purpose:
                    errors.append("%s exited with status %s\n%s"
                                  % (n.name, n.proc.returncode, n.log_tail()))
            except AssertionError as e:
                errors.append("%s: %s" % (n.name, e))
            finally:
                n.kill()
        cls.nodes = []
        if errors and check:
            raise AssertionError("\n".join(errors))


# ------------------------------------------------------------------------- clusters --

def mesh_problems(nodes, strict=True):
    """What keeps `nodes` from being a full mesh: each lists every other one by URL and node
    id with both links up; strict: and has exactly len(others) links of each kind. A node
    has .name, .link_url (how the others' peer tables show it) and .stats()."""
    problems = []
    for n in nodes:
        try:
            st = n.stats()
        except Exception as e:
            problems.append("%s: /stats failed: %r" % (n.name, e))
            continue
        peers = {p["url"]: p for p in st["peers"]}
        others = [m for m in nodes if m is not n]
        for m in others:
            p = peers.get(m.link_url)
            if p is None:
                problems.append("%s has no entry %s for %s (table %r)"
                                % (n.name, m.link_url, m.name, sorted(peers)))
            elif (p["self"] or p["subscriber"] != "up" or p["observable"] != "up"
                  or p["node"] != m.name):
                problems.append("%s sees %s as %r" % (n.name, m.name, p))
        c = st["connections"]
        if strict and (c["subscriber"] != len(others) or c["observable"] != len(others)):
            problems.append("%s has links %r, expected %d of each" % (n.name, c, len(others)))
    return problems


def wait_mesh(nodes, timeout=30.0, strict=True):
    """Wait until mesh_problems(nodes) is empty; returns the seconds it took. On timeout the
    error shows the last problems and the tail of each node's log."""
    last = []

    def ok():
        last[:] = mesh_problems(nodes, strict)
        return not last
    t0 = time.monotonic()
    wait_for(ok, timeout, "a full mesh of %s" % [n.name for n in nodes],
             diag=lambda: "\n".join(last) + "\n" + "\n".join(
                 "--- %s log:\n%s" % (n.name, n.log_tail(1500)) for n in nodes))
    return time.monotonic() - t0


if __name__ == "__main__":
    sys.exit("util.py is a helper module")
