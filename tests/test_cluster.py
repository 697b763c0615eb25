"""Multi-process tests of the cluster layer: several wscluster-node instances linked through a
server list, WebSocket and raw TCP clients on each, failures (kill -9, SIGSTOP), membership
changes at runtime, the cluster secret, a hostile peer, and the device / threads examples.

Run: /usr/bin/python3 tests/test_cluster.py   (binaries from WSC_NODE_BIN, WSC_DEVICE_BIN,
WSC_THREADS_BIN; the ASan builds in build/asan/ work too, only slower).

Every wait polls a condition (/stats, a client's inbox, a log) against a generous deadline.
Fixed sleeps never stand in for a condition: they are the short drains after the expected
messages arrived (giving duplicates a chance to show up) and the spacing of samples taken
over a few refresh periods. Tests of server bugs still open are skipped unless
WSC_KNOWN_BUGS=1."""

import asyncio
import hashlib
import hmac
import json
import os
import re
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
import uuid
from urllib.parse import quote, urlencode

import util
from util import fresh_port, tok, wait_for, write_file
from util import (HOST, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG, OP_TEXT, Node, RawTCP, RawWS,
                  close_payload, get_stats, http_request, main, mesh_problems, parse_close,
                  read_http_head, upgrade_request, wait_mesh)

DEVICE_BIN = util._bin("WSC_DEVICE_BIN", "build/device")
THREADS_BIN = util._bin("WSC_THREADS_BIN", "build/threads")

HB_MS, HB_TIMEOUT_MS, REFRESH_MS = 200, 1000, 500
HB_ARGS = ["--heartbeat-ms", str(HB_MS), "--heartbeat-timeout-ms", str(HB_TIMEOUT_MS),
           "--refresh-ms", str(REFRESH_MS)]
DEADLINE = 30.0   # generous bound for anything that must eventually happen
QUICK = 2.0       # "promptly": a message among healthy instances while another one is stuck
SLACK = 2.0       # scheduling slack on a slow, noisy machine (ASan) over a protocol timer
DRAIN = 1.0       # after the expected messages arrived, listen this long for duplicates
SECRET = "s3cret-%s" % uuid.uuid4().hex[:10]

# tests of server bugs still open are skipped unless WSC_KNOWN_BUGS=1
KNOWN_BUGS = os.environ.get("WSC_KNOWN_BUGS") == "1"

TIMINGS = {}      # measured durations, printed at the end (VERBOSE runs) for the report


def note_time(name, seconds):
    TIMINGS[name] = seconds


# ------------------------------------------------------------------------ link format --

def str8(s):
    s = s.encode() if isinstance(s, str) else s
    return bytes([len(s)]) + s


def str16(s):
    s = s.encode() if isinstance(s, str) else s
    return struct.pack("!H", len(s)) + s


def target_match(*kv):
    return b"\x01" + bytes([len(kv)]) + b"".join(str8(k) + str16(v) for k, v in kv)


def target_conn(global_id):
    node, _, hexid = global_id.rpartition("/")
    return b"\x02" + str8(node) + struct.pack("!Q", int(hexid, 16))


def target_named(name, arg):
    return b"\x03" + str8(name) + str16(arg)


LINK_VERSION = b"\x02"  # the link format's version byte (2: the challenge-response handshake)


def link_hello(node, advertise, nonce=None):
    """HELLO (Subscriber -> Observable): node, advertised address, 32-byte nonce_s."""
    return LINK_VERSION + b"H" + str8(node) + str8(advertise) + (nonce or os.urandom(32))


def link_welcome(node, nonce=None, proof=None):
    """WELCOME (Observable -> Subscriber): node, 32-byte nonce_o, 32-byte proof_o."""
    return LINK_VERSION + b"W" + str8(node) + (nonce or os.urandom(32)) + (proof or bytes(32))


def link_auth(proof):
    """AUTH (Subscriber -> Observable): 32-byte proof_s."""
    return LINK_VERSION + b"A" + proof


def link_proof(secret, side, nonce_s, nonce_o, node_s, node_o):
    """The handshake proof of side "o" (WELCOME) or "s" (AUTH), as FORWARDING FORMAT says:
    HMAC-SHA-256(secret, "wscluster-" side || nonce_s || nonce_o || str8 node_s || str8
    node_o); 32 zero bytes without a secret."""
    if secret is None:
        return bytes(32)
    data = b"wscluster-" + side.encode() + nonce_s + nonce_o + str8(node_s) + str8(node_o)
    return hmac.new(secret.encode(), data, hashlib.sha256).digest()


def link_forward(origin, msg_id, payload, opcode=OP_TEXT, target=b"\x00", plen=None):
    payload = payload.encode() if isinstance(payload, str) else payload
    return (LINK_VERSION + b"F" + str8(origin) + struct.pack("!QBB", msg_id, opcode, target[0])
            + target[1:] + struct.pack("!I", len(payload) if plen is None else plen) + payload)


def _parse_hs(data, kind, nstr, nraw):
    if len(data) < 2 or data[:1] != LINK_VERSION or data[1:2] != kind:
        raise AssertionError("not a %r: %r" % (kind, data[:40]))
    out, at = [], 2
    for _ in range(nstr):
        n = data[at]
        out.append(data[at + 1:at + 1 + n].decode())
        at += 1 + n
    for _ in range(nraw):
        out.append(data[at:at + 32])
        at += 32
    if at != len(data):
        raise AssertionError("%r with a wrong length: %r" % (kind, data))
    return tuple(out)


def parse_hello(data):
    """(node, advertise, nonce_s) of a HELLO; AssertionError if it is not one."""
    return _parse_hs(data, b"H", 2, 1)


def parse_welcome(data):
    """(node, nonce_o, proof_o) of a WELCOME; AssertionError if it is not one."""
    return _parse_hs(data, b"W", 1, 2)


def parse_auth(data):
    """(proof_s,) of an AUTH; AssertionError if it is not one."""
    return _parse_hs(data, b"A", 0, 1)


# ----------------------------------------------------------------------- processes --

class CNode(Node):
    """A cluster instance on ports chosen before it starts (peer lists name them)."""

    def __init__(self, name, peers_file=None, secret=SECRET, tcp=True, extra=(), env=None,
                 port=None, tcp_port=None, peers_env_file=False):
        self.cfg = dict(peers_file=peers_file, secret=secret, tcp=tcp, extra=tuple(extra),
                        env=dict(env or {}), peers_env_file=peers_env_file)
        port = port or fresh_port()
        tcp_port = tcp_port or (fresh_port() if tcp else 0)
        e = {k: None for k in os.environ if k.startswith("WSCLUSTER_")}
        if secret is not None:
            e["WSCLUSTER_SECRET"] = secret  # the secret always comes from the environment
        args = ["--id", name] + HB_ARGS
        if peers_file and peers_env_file:
            e["WSCLUSTER_PEERS_FILE"] = peers_file
        elif peers_file:
            args += ["--peers", peers_file]
        e.update(self.cfg["env"])
        super().__init__(*(args + list(extra)), tcp=bool(tcp_port), env=e, port=port,
                         tcp_port=tcp_port, name=name)

    def clone(self):
        """The same instance again (same id, ports, list, secret), not started."""
        return CNode(self.name, port=self.req_port, tcp_port=self.req_tcp_port, **self.cfg)

    @property
    def entry(self):
        return "%s:%d" % (HOST, self.req_port)

    @property
    def link_url(self):
        return "ws://%s:%d/wscluster" % (HOST, self.req_port)

    def stats(self):
        return get_stats(self.req_port)

    def peers(self):
        return {p["url"]: p for p in self.stats()["peers"]}

    def send(self, msg, expect=200, **params):
        params = dict(params, msg=msg)
        path = "/send?" + urlencode(params, quote_via=quote)
        status, _, body = http_request(self.req_port, "GET", path)
        if status != expect:
            raise AssertionError("GET %s on %s answered %d: %r" % (path, self.name, status, body))
        return json.loads(body)

    def post(self, body, ctype, expect=200, **params):
        path = "/send" + ("?" + urlencode(params, quote_via=quote) if params else "")
        status, _, data = http_request(self.req_port, "POST", path, body=body,
                                       headers={"Content-Type": ctype})
        if status != expect:
            raise AssertionError("POST %s on %s answered %d: %r" % (path, self.name, status, data))
        return json.loads(data)

    def clients(self):
        status, _, body = http_request(self.req_port, "GET", "/clients")
        if status != 200:
            raise AssertionError("/clients answered %d" % status)
        return json.loads(body)


class Proc:
    """An example program; its stdout lines are collected as they come."""

    def __init__(self, cmd, env=None):
        if not os.access(cmd[0], os.X_OK):
            raise AssertionError("binary missing: %s" % cmd[0])
        e = {k: v for k, v in os.environ.items() if not k.startswith("WSCLUSTER_")}
        e.update(env or {})
        self.cmd = cmd
        self.stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.stderr,
                                     stdin=subprocess.DEVNULL, env=e, cwd=util.REPO)
        self.lines = []
        self.cond = threading.Condition()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for raw in self.proc.stdout:
            with self.cond:
                self.lines.append(raw.decode("utf-8", "replace").rstrip("\n"))
                self.cond.notify_all()

    def log(self):
        fd = self.stderr.fileno()
        return os.pread(fd, os.fstat(fd).st_size, 0).decode("utf-8", "replace")

    def wait_line(self, regex, timeout=DEADLINE):
        rx = re.compile(regex)
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for ln in self.lines:
                    if rx.search(ln):
                        return ln
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self.thread.is_alive()):
                    raise AssertionError("%s: no line matching %r (status %s); stdout tail %r\n"
                                         "stderr: %s" % (os.path.basename(self.cmd[0]), regex,
                                                         self.proc.poll(), self.lines[-10:],
                                                         self.log()[-2000:]))
                self.cond.wait(min(left, 0.2))

    def wait(self, timeout=DEADLINE):
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("%s did not exit within %ss; stdout tail %r" %
                                 (self.cmd[0], timeout, self.lines[-10:]))
        self.thread.join(5)
        return rc

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.thread.join(5)
        self.proc.stdout.close()
        self.stderr.close()


# -------------------------------------------------------------------------- clients --

class Client:
    """A chat client (WebSocket /ws or raw TCP framer) whose inbox is filled by a reader
    thread, so tests can send, poll /stats and look at what arrived, in any order."""

    def __init__(self, port, kind="ws", user=None, group=None, path=None, label=None):
        self.kind = kind
        self.user = user
        self.label = label or "%s:%s:%s" % (kind, port, user or "-")
        self.msgs = []              # (opcode, payload, monotonic time of arrival)
        self.cond = threading.Condition()
        self.wlock = threading.Lock()
        self.close_code = None
        self.error = None
        self.done = False
        self.closing = False
        if kind == "ws":
            if path is None:
                q = {}
                if user is not None:
                    q["user"] = user
                if group is not None:
                    q["group"] = group
                path = "/ws" + ("?" + urlencode(q) if q else "")
            self.conn = RawWS(port, path)
        else:
            self.conn = RawTCP(port)
            self.conn.sync()  # the node has registered it once the pong came back
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _send(self, op, payload):
        with self.wlock:
            self.conn.send(op, payload)

    def _run(self):
        op0, parts = None, []
        try:
            while True:
                if self.kind == "ws":
                    fin, op, payload = self.conn.recv_frame(timeout=None)
                else:
                    (op, payload), fin = self.conn.recv_frame(timeout=None), True
                if op == OP_PING:
                    self._send(OP_PONG, payload)
                elif op == OP_PONG:
                    continue
                elif op == OP_CLOSE:
                    self.close_code = parse_close(payload)[0]
                    if not self.closing:
                        self.closing = True
                        self._send(OP_CLOSE, payload[:2])
                    return
                else:
                    if op != 0:
                        op0 = op
                    parts.append(payload)
                    if fin:
                        with self.cond:
                            self.msgs.append((op0, b"".join(parts), time.monotonic()))
                            self.cond.notify_all()
                        op0, parts = None, []
        except (EOFError, OSError):
            pass
        except Exception as e:  # a protocol violation by the node: reported by check()
            self.error = e
        finally:
            with self.cond:
                self.done = True
                self.cond.notify_all()

    def send_text(self, text):
        self._send(OP_TEXT, text.encode() if isinstance(text, str) else text)

    def send_binary(self, data):
        self._send(OP_BINARY, data)

    @staticmethod
    def _b(p):
        return p.encode() if isinstance(p, str) else p

    def count(self, payload, opcode=None):
        payload = self._b(payload)
        with self.cond:
            return sum(1 for op, p, _ in self.msgs
                       if p == payload and (opcode is None or op == opcode))

    def arrival(self, payload):
        payload = self._b(payload)
        with self.cond:
            for _, p, t in self.msgs:
                if p == payload:
                    return t
        return None

    def containing(self, needle):
        needle = self._b(needle)
        with self.cond:
            return [(op, p) for op, p, _ in self.msgs if needle in p]

    def wait_got(self, payload, timeout=DEADLINE):
        wait_for(lambda: self.count(payload) > 0, timeout, "%r at %s" % (payload, self.label),
                 diag=lambda: "inbox tail: %r" % [p[:60] for _, p, _ in self.msgs[-10:]])

    def wait_done(self, timeout=DEADLINE):
        wait_for(lambda: self.done, timeout, "%s to be closed" % self.label)

    def check(self):
        if self.error:
            raise AssertionError("%s: %s" % (self.label, self.error))

    def close(self):
        if not self.done and not self.closing:
            self.closing = True
            try:
                self._send(OP_CLOSE, close_payload(1000))
            except OSError:
                pass
            self.thread.join(5)
        try:
            self.conn.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.conn.close()
        self.thread.join(5)


# ------------------------------------------------------------------------ the peer --

class FakePeer:
    """A hand-driven cluster peer: a websockets server on /wscluster that answers a node's
    HELLO with WELCOME (its proof made with `secret`: SECRET, another one, or None for the
    zero proof of an instance without a secret), waits for the node's AUTH, and then sends
    whatever the test tells it to. `after_welcome`: bytes sent right behind the WELCOME;
    `silent`: never answer a HELLO."""

    def __init__(self, node_id, secret=SECRET, after_welcome=None, silent=False):
        self.node_id = node_id
        self.secret = secret
        self.after_welcome = after_welcome
        self.silent = silent
        self.port = fresh_port()
        self.recs = []
        self.cond = threading.Condition()
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.error = None
        self.first_reply = None  # set: the next link gets this instead of a WELCOME
        self.thread = threading.Thread(target=self._main, daemon=True)

    @property
    def entry(self):
        return "%s:%d" % (HOST, self.port)

    @property
    def link_url(self):
        return "ws://%s:%d/wscluster" % (HOST, self.port)

    def start(self):
        self.thread.start()
        if not self.ready.wait(10) or self.error:
            raise AssertionError("fake peer did not start: %r" % (self.error,))
        return self

    def _main(self):
        import websockets
        asyncio.set_event_loop(self.loop)
        try:
            server = self.loop.run_until_complete(websockets.serve(
                self._handler, HOST, self.port, subprotocols=["wscluster"],
                ping_interval=None, max_size=None, close_timeout=2))
        except Exception as e:
            self.error = e
            self.ready.set()
            return
        self.ready.set()
        self.loop.run_forever()
        server.close()
        self.loop.run_until_complete(server.wait_closed())
        self.loop.close()

    def _set(self, rec, **kw):
        with self.cond:
            rec.update(kw)
            self.cond.notify_all()

    async def _handler(self, ws):
        import websockets
        rec = {"ws": ws, "path": ws.path, "headers": ws.request_headers,
               "subprotocol": ws.subprotocol, "hello": None, "welcomed": False,
               "auth": None, "auth_ok": None, "first": None, "closed": False, "code": None,
               "msgs": []}
        with self.cond:
            self.recs.append(rec)
            self.cond.notify_all()
        try:
            if ws.path != "/wscluster":
                await ws.close(1008, "wrong path")
                return
            hello = await ws.recv()
            self._set(rec, hello=hello)
            with self.cond:
                first, self.first_reply = self.first_reply, None
            if first is not None:  # one-shot: something else than WELCOME
                self._set(rec, first=first)
                await ws.send(first)
            elif not self.silent:
                node_s, _, nonce_s = parse_hello(hello)
                nonce_o = os.urandom(32)
                proof_o = link_proof(self.secret, "o", nonce_s, nonce_o, node_s, self.node_id)
                await ws.send(link_welcome(self.node_id, nonce_o, proof_o))
                if self.after_welcome is not None:
                    await ws.send(self.after_welcome)
                auth = await ws.recv()
                want = link_proof(self.secret, "s", nonce_s, nonce_o, node_s, self.node_id)
                ok = parse_auth(auth)[0] == want
                self._set(rec, auth=auth, auth_ok=ok, welcomed=ok)
            async for m in ws:
                rec["msgs"].append(m)
        except websockets.ConnectionClosed:
            pass
        finally:
            await ws.wait_closed()
            self._set(rec, closed=True, code=ws.close_code)

    def live(self, exclude=()):
        with self.cond:
            for rec in reversed(self.recs):
                if rec["welcomed"] and not rec["closed"] and not any(rec is x for x in exclude):
                    return rec
        return None

    def wait_live(self, exclude=(), timeout=DEADLINE):
        return wait_for(lambda: self.live(exclude), timeout, "the node to link to the fake peer",
                        diag=lambda: "links so far: %r" % [(r["welcomed"], r["closed"], r["code"])
                                                           for r in self.recs])

    def send(self, rec, data):
        asyncio.run_coroutine_threadsafe(rec["ws"].send(data), self.loop).result(10)

    def reply_next_with(self, data, timeout=DEADLINE):
        """The next link the node opens gets `data` instead of WELCOME; returns its record."""
        with self.cond:
            n = len(self.recs)
            self.first_reply = data
        return wait_for(lambda: next((r for r in self.recs[n:] if r["first"] is not None), None),
                        timeout, "the node to link to the fake peer again")

    def wait_closed(self, rec, timeout=DEADLINE):
        wait_for(lambda: rec["closed"], timeout, "the node to close the fake peer's link")
        return rec["code"]

    def stop(self):
        if self.thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)


# ---------------------------------------------------------------------- test base --

class HandLink:
    """A peer link driven by hand as its Subscriber: a WebSocket upgrade on /wscluster (tcp:
    a TCP framer connection), then HELLO, WELCOME and AUTH as the test says."""

    def __init__(self, port, node_id, advertise="", secret=SECRET, tcp=False):
        self.tcp, self.node_id, self.secret = tcp, node_id, secret
        self.conn = (RawTCP(port) if tcp else
                     RawWS(port, "/wscluster", extra=[("Sec-WebSocket-Protocol", "wscluster")]))
        self.nonce_s = os.urandom(32)
        self.hello = link_hello(node_id, advertise, self.nonce_s)
        self.welcome = None
        self.proof_ok = None  # the node's WELCOME proves it knows self.secret
        self.received = []    # link messages outcome() read past

    def send(self, data):
        self.conn.send(OP_BINARY, data)

    def next(self, timeout=util.TIMEOUT, ping=None):
        """("msg", payload), ("close", code), ("eof", None) or ("pong", payload); pings are
        answered."""
        try:
            while True:
                if self.tcp:
                    op, payload = self.conn.recv_frame(timeout)
                else:
                    _, op, payload = self.conn.recv_frame(timeout)
                if op == OP_PING:
                    self.conn.send(OP_PONG, payload)
                elif op == OP_PONG:
                    return "pong", payload
                elif op == OP_CLOSE:
                    return "close", parse_close(payload)[0]
                else:
                    return "msg", payload
        except (EOFError, ConnectionResetError, BrokenPipeError):
            return "eof", None

    def say_hello(self, hello=None):
        """Send HELLO (ours, or recorded bytes); ("welcome", (node, nonce_o, proof_o)) or
        how the node ended the link instead."""
        self.send(hello or self.hello)
        kind, v = self.next()
        if kind != "msg":
            return kind, v
        self.welcome = parse_welcome(v)
        node_o, nonce_o, proof_o = self.welcome
        self.proof_ok = proof_o == link_proof(self.secret, "o", self.nonce_s, nonce_o,
                                              self.node_id, node_o)
        return "welcome", self.welcome

    def auth(self, proof=None):
        """Send AUTH: the proof made with self.secret, or the one given."""
        if proof is None:
            node_o, nonce_o, _ = self.welcome
            proof = link_proof(self.secret, "s", self.nonce_s, nonce_o, self.node_id, node_o)
        self.send(link_auth(proof))

    def outcome(self, timeout=util.TIMEOUT):
        """"ok" once the node keeps the link past what was sent (a ping comes back), else
        its close code (None: EOF without one)."""
        token = os.urandom(8)
        try:
            self.conn.send(OP_PING, token)
        except OSError:
            pass
        while True:
            kind, v = self.next(timeout)
            if kind == "pong" and v == token:
                return "ok"
            if kind in ("close", "eof"):
                return v
            if kind == "msg":
                self.received.append(v)

    def handshake(self):
        """The whole handshake: "ok", or the close code that ended it."""
        kind, v = self.say_hello()
        if kind != "welcome":
            return v
        self.auth()
        return self.outcome()

    def close(self):
        self.conn.close()


def links_down(viewer, target):
    """viewer's entry for target shows both links down."""
    p = viewer.peers().get(target.link_url)
    return p is not None and p["subscriber"] == "down" and p["observable"] == "down"


class ClusterCase(util.NodesCase):
    """Nodes started by a class are stopped with SIGTERM at its end and must exit 0."""
    TMP_PREFIX = "wsc-cluster-"

    @classmethod
    def setUpNodes(cls):
        cls.setUpCluster()

    @classmethod
    def setUpCluster(cls):
        pass

    def client(self, node, kind="ws", **kw):
        port = node if isinstance(node, int) else (node.req_port if kind == "ws" else node.tcp_port)
        if "label" not in kw and not isinstance(node, int):
            kw["label"] = "%s/%s/%s" % (node.name, kind, kw.get("user") or "-")
        c = Client(port, kind, **kw)
        self.addCleanup(c.close)
        return c

    def expect_delivery(self, clients, expected, opcodes=None, timeout=DEADLINE):
        """expected: {payload: clients that must get it}. Waits until they all have it, drains
        a little, then: each of them got it exactly once, every other client never."""
        opcodes = opcodes or {}
        exp = {Client._b(p): list(r) for p, r in expected.items()}
        ops = {Client._b(p): o for p, o in opcodes.items()}

        def missing():
            return [(c.label, p[:40]) for p, rc in exp.items() for c in rc if c.count(p) == 0]
        wait_for(lambda: not missing(), timeout, "delivery", diag=lambda: "missing %r"
                 % missing())
        time.sleep(DRAIN)
        errors = []
        for c in clients:
            c.check()
            for p, rc in exp.items():
                want = 1 if any(c is x for x in rc) else 0
                got = c.count(p)
                if got != want:
                    errors.append("%s got %r %d times, expected %d" % (c.label, p[:40], got, want))
                elif want and p in ops and c.count(p, ops[p]) != 1:
                    errors.append("%s got %r with the wrong opcode: %r" % (
                        c.label, p[:40], [op for op, q, _ in c.msgs if q == p]))
        if errors:
            self.fail("\n".join(errors))

    def wait_clients(self, counts):
        """counts: {node: number of chat clients} as /stats reports them."""
        wait_for(lambda: all(n.stats()["connections"]["client"] == k for n, k in counts.items()),
                 DEADLINE, "client counts %r" % {n.name: k for n, k in counts.items()},
                 diag=lambda: {n.name: n.stats()["connections"] for n in counts})

    def wait_delivering(self, nodes, clients, timeout=DEADLINE):
        """For lists whose peer tables are not a plain mesh: send probe rounds from every
        node until one round reaches every client."""
        deadline = time.monotonic() + timeout
        while True:
            probes = []
            for n in nodes:
                probes.append(tok("probe-" + n.name))
                n.send(probes[-1])
            round_end = time.monotonic() + 2
            while time.monotonic() < round_end:
                if all(c.count(p) for c in clients for p in probes):
                    return
                time.sleep(0.05)
            if time.monotonic() > deadline:
                self.fail("no probe round reached every client; tables: %r"
                          % {n.name: n.stats()["peers"] for n in nodes})

    def wait_log(self, node, needle, count=1, timeout=DEADLINE):
        wait_for(lambda: node.log_count(needle) >= count, timeout,
                 "%r in the log of %s" % (needle, node.name), diag=lambda: node.log_tail(3000))


def peers_text(entries, comment=True):
    lines = ["# wscluster test server list"] if comment else []
    lines += list(entries)
    return "\n".join(lines) + "\n"


# ========================================================== 1-3, 8a: the shared cluster ==

class ClusterTests(ClusterCase):
    """Three instances sharing one server list (the secret from WSCLUSTER_SECRET). The tests
    here leave the cluster as they found it."""

    @classmethod
    def setUpCluster(cls):
        cls.peers_file = os.path.join(cls.tmp.name, "peers")
        # one instance finds the list through the environment, the others through --peers
        ns = [CNode(name, peers_file=cls.peers_file, peers_env_file=(i == 1))
              for i, name in enumerate(("alpha", "beta", "gamma"))]
        text = "# shared list\n\n" + "\n".join("%s   # %s" % (n.entry, n.name) for n in ns) + "\n"
        write_file(cls.peers_file, text)
        cls.N = [cls.start(n) for n in ns]
        wait_mesh(cls.N)

    def setUp(self):
        wait_mesh(self.N)

    def test_broadcast_from_every_source_reaches_every_client_once(self):
        clients = []
        for n in self.N:
            clients += [self.client(n, "ws", user="u-" + n.name), self.client(n, "ws"),
                        self.client(n, "tcp")]
        self.wait_clients({n: 3 for n in self.N})
        sent = []
        for i, n in enumerate(self.N):
            wsc, _, tcpc = clients[3 * i:3 * i + 3]
            t = tok("ws-from-%s" % n.name)
            wsc.send_text(t)
            sent.append(t)
            t = tok("tcp-from-%s" % n.name)
            tcpc.send_text(t)
            sent.append(t)
            t = tok("get-from-%s" % n.name)
            r = n.send(t)
            self.assertEqual((r["ok"], r["delivered"], r["forwarded"]), (True, 3, 2), r)
            sent.append(t)
        self.expect_delivery(clients, {t: clients for t in sent},
                             opcodes={t: OP_TEXT for t in sent})

    def test_selectors(self):
        a, b, g = self.N
        a_alice = self.client(a, user="alice", group="red")
        a_bob = self.client(a, user="bob", group="blue")
        a_tcp = self.client(a, "tcp")
        b_alice = self.client(b, user="alice", group="blue")
        b_carol = self.client(b, user="carol", group="red")
        b_tcp = self.client(b, "tcp")
        g_dave = self.client(g, user="dave", group="red")
        g_alfred = self.client(g, user="alfred", group="green")
        g_anon = self.client(g)
        g_tcp = self.client(g, "tcp")
        everyone = [a_alice, a_bob, a_tcp, b_alice, b_carol, b_tcp, g_dave, g_alfred, g_anon,
                    g_tcp]
        self.wait_clients({a: 3, b: 3, g: 4})

        # /clients: ids, metadata and protocol of this node's clients
        listed = {(c["user"], c["group"], c["proto"]): c["id"] for c in g.clients()}
        self.assertEqual(set(listed), {("dave", "red", "ws"), ("alfred", "green", "ws"),
                                       ("", "", "ws"), ("", "", "tcp")})
        for gid in listed.values():
            self.assertTrue(gid.startswith("gamma/"), gid)
        a_listed = {(c["user"], c["proto"]): c["id"] for c in a.clients()}

        exp = {}
        t = tok("user-alice")          # a user on two instances gets it on both
        r = g.send(t, user="alice")
        self.assertEqual((r["delivered"], r["forwarded"]), (0, 2), r)
        exp[t] = [a_alice, b_alice]
        t = tok("group-red")
        r = a.send(t, group="red")
        self.assertEqual(r["delivered"], 1, r)
        exp[t] = [a_alice, b_carol, g_dave]
        t = tok("alice-and-blue")      # user AND group
        r = b.send(t, user="alice", group="blue")
        self.assertEqual(r["delivered"], 1, r)
        exp[t] = [b_alice]
        t = tok("alice-and-green")     # nobody is both
        a.send(t, user="alice", group="green")
        exp[t] = []
        t = tok("user-nobody")
        b.send(t, user="nobody")
        exp[t] = []
        t = tok("conn-dave")           # one connection of another instance
        r = a.send(t, conn=listed[("dave", "red", "ws")])
        self.assertEqual((r["delivered"], r["forwarded"]), (0, 1), r)
        exp[t] = [g_dave]
        t = tok("conn-tcp")
        r = b.send(t, conn=listed[("", "", "tcp")])
        self.assertEqual((r["delivered"], r["forwarded"]), (0, 1), r)
        exp[t] = [g_tcp]
        t = tok("conn-local")          # a connection of this very instance: no copies
        r = a.send(t, conn=a_listed[("bob", "ws")])
        self.assertEqual((r["delivered"], r["forwarded"]), (1, 0), r)
        exp[t] = [a_bob]
        t = tok("conn-unknown")
        r = a.send(t, conn="gamma/fffffff")
        self.assertEqual(r["delivered"], 0, r)
        exp[t] = []
        t = tok("prefix-al")           # a named selector, evaluated on every instance
        r = b.send(t, selector="user-prefix", arg="al")
        self.assertEqual(r["delivered"], 1, r)
        exp[t] = [a_alice, b_alice, g_alfred]
        t = tok("prefix-empty")        # every named user
        b.send(t, selector="user-prefix", arg="")
        exp[t] = [a_alice, a_bob, b_alice, b_carol, g_dave, g_alfred]
        blob = b"\x00\x01bin\xff\xfe" + uuid.uuid4().bytes + b"\x00"
        r = b.post(blob, "application/octet-stream")
        self.assertEqual((r["delivered"], r["forwarded"]), (3, 2), r)
        exp[blob] = everyone
        t = tok("post-text-bob")
        b.post(t.encode(), "text/plain; charset=utf-8", user="bob")
        exp[t] = [a_bob]
        ops = {p: OP_TEXT for p in exp}
        ops[blob] = OP_BINARY
        self.expect_delivery(everyone, exp, opcodes=ops)
        # a conn id that is not NODE/HEX is refused
        self.assertEqual(a.send("x", expect=400, conn="no-slash")["ok"], False)

    def test_stats_peer_table(self):
        for n in self.N:
            st = n.stats()
            self.assertEqual(st["id"], n.name)
            self.assertEqual((st["connections"]["subscriber"], st["connections"]["observable"]),
                             (2, 2), st["connections"])
            peers = {p["url"]: p for p in st["peers"]}
            self.assertEqual(set(peers), {m.link_url for m in self.N}, st["peers"])
            me = peers[n.link_url]
            self.assertTrue(me["self"], me)
            for m in self.N:
                if m is n:
                    continue
                p = peers[m.link_url]
                self.assertEqual((p["self"], p["introduced"], p["node"], p["subscriber"],
                                  p["observable"]), (False, False, m.name, "up", "up"), p)
                # heartbeats keep the link busy: something arrived within the timeout
                self.assertGreaterEqual(p["last_heartbeat_ms"], 0, p)
                self.assertLess(p["last_heartbeat_ms"], HB_TIMEOUT_MS, p)
            for key in ("out", "in", "dropped", "duplicates"):
                self.assertIsInstance(st["forwarded"][key], int)
            self.assertNotIn("unauthenticated", n.log_text())

    def test_device_example(self):
        a, b, g = self.N
        watcher = self.client(g, user="watcher")
        b_tcp = self.client(b, "tcp")
        dev = tok("dev")
        count = 40
        p = Proc([DEVICE_BIN, "--id", dev, "--interval-ms", "100", "--count", str(count),
                  "%s:%d" % (HOST, a.tcp_port)])
        try:
            p.wait_line(r"^connected to tcp://127\.0\.0\.1:%d\b" % a.tcp_port)
            wait_for(lambda: watcher.containing('"device":"%s"' % dev), DEADLINE,
                     "a reading on gamma's client")
            t = tok("to-device")
            b.send(t)                  # from another instance than the device's
            p.wait_line(r"^recv %s$" % re.escape(t))
            self.assertEqual(p.wait(), 0, p.log())
        finally:
            p.kill()
        sent = [json.loads(ln[5:]) for ln in p.lines if ln.startswith("sent ")]
        self.assertEqual([s["reading"] for s in sent], list(range(count)))
        self.assertEqual({s["device"] for s in sent}, {dev})
        # every reading reached the other instances' clients once, in order
        time.sleep(DRAIN)
        for c in (watcher, b_tcp):
            got = [json.loads(pl)["reading"] for op, pl in c.containing('"device":"%s"' % dev)]
            self.assertEqual(got, list(range(count)), c.label)


# ========================================================================= 4: failures ==

class FailureTests(ClusterCase):
    @classmethod
    def setUpCluster(cls):
        cls.peers_file = os.path.join(cls.tmp.name, "peers")
        ns = [CNode(name, peers_file=cls.peers_file) for name in ("f1", "f2", "f3")]
        write_file(cls.peers_file, peers_text(n.entry for n in ns))
        cls.N = [cls.start(n) for n in ns]
        wait_mesh(cls.N)

    def setUp(self):
        wait_mesh(self.N)

    def test_kill9_then_restart_on_same_port(self):
        f1, f2, f3 = self.N
        c1, c2, c3 = self.client(f1), self.client(f2, "tcp"), self.client(f3, user="c3")
        t = tok("before")
        f1.send(t)
        self.expect_delivery([c1, c2, c3], {t: [c1, c2, c3]})

        f3.killed_on_purpose = True
        f3.proc.kill()
        f3.proc.wait()
        t0 = time.monotonic()
        wait_for(lambda: links_down(f1, f3) and links_down(f2, f3), DEADLINE,
                 "f3's links to show down", diag=lambda: (f1.peers(), f2.peers()))
        elapsed = time.monotonic() - t0
        note_time("kill -9: links down", elapsed)
        self.assertLess(elapsed, HB_TIMEOUT_MS / 1000 + SLACK)
        c3.wait_done()
        for n in (f1, f2):
            c = n.stats()["connections"]
            self.assertEqual((c["subscriber"], c["observable"]), (1, 1), (n.name, c))

        # the two survivors keep delivering to each other, promptly
        t1, t2, t3 = tok("f1-get"), tok("c1-ws"), tok("c2-tcp")
        s = time.monotonic()
        r = f1.send(t1)
        self.assertEqual((r["delivered"], r["forwarded"]), (1, 1), r)
        c1.send_text(t2)
        c2.send_text(t3)
        self.expect_delivery([c1, c2], {t1: [c1, c2], t2: [c1, c2], t3: [c1, c2]})
        self.assertLess(c2.arrival(t1) - s, QUICK)

        # the same instance again, on the same ports
        f3b = self.start(f3.clone())
        self.N[2] = f3b
        t0 = time.monotonic()
        wait_mesh(self.N)
        elapsed = time.monotonic() - t0
        note_time("kill -9: mesh restored after restart", elapsed)
        self.assertLess(elapsed, 10 + REFRESH_MS / 1000 + SLACK + 3)  # backoff cap + refresh
        c3b = self.client(f3b, "tcp")
        t4, t5, t6 = tok("f1-after"), tok("f2-after"), tok("c3b-after")
        f1.send(t4)
        f2.send(t5)
        c3b.send_text(t6)
        self.expect_delivery([c1, c2, c3b], {t: [c1, c2, c3b] for t in (t4, t5, t6)})

    def test_sigstop_does_not_block_the_others_then_sigcont(self):
        f1, f2, f3 = self.N
        c1, c2, c3 = self.client(f1), self.client(f2), self.client(f3, "tcp")
        self.wait_clients({f1: 1, f2: 1, f3: 1})
        f3.send_signal(signal.SIGSTOP)
        self.addCleanup(f3.send_signal, signal.SIGCONT)
        t0 = time.monotonic()
        latencies = []

        def one_message(label):
            t = tok(label)
            s = time.monotonic()
            f1.send(t)
            c2.wait_got(t)
            latencies.append(c2.arrival(t) - s)
            return t

        sent = [one_message("stopped-%d" % i) for i in range(3)]
        wait_for(lambda: links_down(f1, f3) and links_down(f2, f3), DEADLINE,
                 "links to the stopped f3 to show down",
                 diag=lambda: (f1.peers()[f3.link_url], f2.peers()[f3.link_url]))
        down = time.monotonic() - t0
        note_time("SIGSTOP: links down", down)
        sent += [one_message("stopped-after-down-%d" % i) for i in range(2)]
        note_time("SIGSTOP: worst f1->f2 latency", max(latencies))
        self.assertLess(max(latencies), QUICK, latencies)
        # heartbeat timeout, plus the sweep and a slow machine
        self.assertLess(down, HB_TIMEOUT_MS / 1000 + SLACK + 1)
        self.expect_delivery([c1, c2], {t: [c1, c2] for t in sent})

        f3.send_signal(signal.SIGCONT)
        t0 = time.monotonic()
        wait_mesh(self.N)
        note_time("SIGCONT: mesh restored", time.monotonic() - t0)
        t1, t2 = tok("after-cont"), tok("c3-after-cont")
        f1.send(t1)
        c3.send_text(t2)
        self.expect_delivery([c1, c2, c3], {t1: [c1, c2, c3], t2: [c1, c2, c3]})


# ======================================================================= 5: membership ==

class MembershipTests(ClusterCase):
    """m1 and m3 re-read the list every REFRESH_MS; m2 only on SIGHUP (refresh 10 min).
    The tests build on each other, in name order."""

    @classmethod
    def setUpCluster(cls):
        cls.peers_file = os.path.join(cls.tmp.name, "peers")
        m1 = CNode("m1", peers_file=cls.peers_file)
        m2 = CNode("m2", peers_file=cls.peers_file, extra=["--refresh-ms", "600000"])
        m3 = CNode("m3", peers_file=cls.peers_file, peers_env_file=True)
        cls.base = [m1, m2, m3]
        write_file(cls.peers_file, peers_text(n.entry for n in cls.base))
        for n in cls.base:
            cls.start(n)
        wait_mesh(cls.base)
        cls.m4 = cls.m5 = None

    def test_1_add_instance_to_shared_file(self):
        m1, m2, m3 = self.base
        m4 = CNode("m4", peers_file=self.peers_file)
        write_file(self.peers_file, peers_text(n.entry for n in self.base + [m4]))
        type(self).m4 = self.start(m4)
        wait_mesh(self.base + [m4])
        # m1 and m3 re-read the list: their m4 entry comes from it
        wait_for(lambda: not m1.peers()[m4.link_url]["introduced"]
                 and not m3.peers()[m4.link_url]["introduced"], DEADLINE,
                 "m1 and m3 to find m4 in the list")
        # m2 has only met m4 through its introduction, until SIGHUP
        self.assertTrue(m2.peers()[m4.link_url]["introduced"], m2.peers()[m4.link_url])
        m2.send_signal(signal.SIGHUP)
        wait_for(lambda: not m2.peers()[m4.link_url]["introduced"], DEADLINE,
                 "m2 to re-read the list on SIGHUP")
        self.wait_log(m2, "SIGHUP")
        cs = [self.client(n) for n in self.base] + [self.client(m4, "tcp")]
        t1, t2 = tok("from-m4"), tok("to-m4")
        cs[3].send_text(t1)
        m2.send(t2)
        self.expect_delivery(cs, {t1: cs, t2: cs})

    def test_2_isolated_instance_found_after_list_update(self):
        m1, m2, m3 = self.base
        m4 = self.m4
        self.assertIsNotNone(m4, "needs test_1")
        port = fresh_port()
        m5 = CNode("m5", port=port, env={"WSCLUSTER_PEERS": "%s:%d" % (HOST, port)})
        type(self).m5 = self.start(m5)
        c1, c5 = self.client(m1), self.client(m5)
        # alone: it knows only itself, nobody knows it, it gets nothing from the cluster
        st = m5.stats()
        self.assertEqual([(p["url"], p["self"]) for p in st["peers"]], [(m5.link_url, True)])
        t0 = tok("before-join")
        m1.send(t0)
        c1.wait_got(t0)

        lines = ([n.entry for n in self.base + [m4]] + ["", "# next line is bad",
                 "not-a-host:port:99"] + [m5.entry])
        bad_line = 1 + 1 + lines.index("not-a-host:port:99")  # peers_text adds a comment line
        write_file(self.peers_file, peers_text(lines))
        for n in (m1, m3, m4):
            self.wait_log(n, "server list %s:%d: " % (self.peers_file, bad_line))
        self.assertRegex(m1.log_text(), r"server list %s:%d: [^\n]*\(entry skipped\)"
                         % (re.escape(self.peers_file), bad_line))
        # the good lines still work: the refreshing instances link to m5 and it links back
        wait_mesh([m1, m3, m4, m5], strict=False)
        p5 = m5.peers()
        self.assertTrue(p5[m1.link_url]["introduced"], p5)
        # m2 has not re-read the list and m5 cannot know about it
        self.assertNotIn(m5.link_url, m2.peers())
        self.assertNotIn(m2.link_url, m5.peers())
        m2.send_signal(signal.SIGHUP)
        wait_mesh(self.base + [m4, m5])
        self.assertEqual(c5.count(t0), 0, "an instance outside the cluster got its message")
        cs = [c1, self.client(m2, "tcp"), self.client(m3), self.client(m4), c5]
        sent = [tok("to-m5-from-" + n.name) for n in (m1, m2, m3, m4)]
        for n, t in zip((m1, m2, m3, m4), sent):
            n.send(t)
        t = tok("from-m5-client")
        c5.send_text(t)
        sent.append(t)
        t = tok("from-m5-get")
        m5.send(t)
        sent.append(t)
        self.expect_delivery(cs, {t: cs for t in sent})

    def test_3_unreadable_list_keeps_the_last_one(self):
        m1, m2, m3 = self.base
        nodes = self.base + [self.m4, self.m5]
        self.assertTrue(all(nodes), "needs test_1 and test_2")
        text = peers_text(n.entry for n in nodes)
        write_file(self.peers_file, text)
        wait_mesh(nodes)
        before = {n.name: set(n.peers()) for n in (m1, m2, m3)}
        needle = "keeping the last list"
        try:
            for how in ("deleted", "a directory"):
                k1, k2, k3 = (n.log_count(needle) for n in (m1, m2, m3))
                os.remove(self.peers_file)
                if how == "a directory":
                    os.mkdir(self.peers_file)
                m2.send_signal(signal.SIGHUP)
                # logged once per failure, not on every refresh; no peer is forgotten
                self.wait_log(m1, needle, k1 + 1)
                self.wait_log(m3, needle, k3 + 1)
                self.wait_log(m2, needle, k2 + 1)
                time.sleep(4 * REFRESH_MS / 1000)
                m2.send_signal(signal.SIGHUP)
                time.sleep(REFRESH_MS / 1000)
                self.assertEqual([n.log_count(needle) for n in (m1, m2, m3)],
                                 [k1 + 1, k2 + 1, k3 + 1], how)
                self.assertEqual(mesh_problems(nodes), [], how)
                self.assertEqual({n.name: set(n.peers()) for n in (m1, m2, m3)}, before, how)
                # readable again (same text): the next failure is logged again
                if os.path.isdir(self.peers_file):
                    os.rmdir(self.peers_file)
                write_file(self.peers_file, text)
                m2.send_signal(signal.SIGHUP)
                time.sleep(2 * REFRESH_MS / 1000)
        finally:
            if os.path.isdir(self.peers_file):
                os.rmdir(self.peers_file)
            write_file(self.peers_file, text)
        m2.send_signal(signal.SIGHUP)
        wait_mesh(nodes)

    def test_4_remove_instance_from_the_list(self):
        m1, m2, m3 = self.base
        m4, m5 = self.m4, self.m5
        self.assertTrue(m4 and m5, "needs test_1 and test_2")
        rest = [m1, m2, m3, m5]
        write_file(self.peers_file, peers_text(n.entry for n in rest))
        m2.send_signal(signal.SIGHUP)
        # every instance that reads the list closes its link to m4 and forgets it
        wait_for(lambda: all(m4.link_url not in n.peers() for n in (m1, m2, m3)), DEADLINE,
                 "m1, m2 and m3 to drop m4", diag=lambda: [n.peers().get(m4.link_url)
                                                           for n in (m1, m2, m3)])
        # m5 has no list (it met m4 by introduction): its link is the only one left on m4
        wait_for(lambda: m4.stats()["connections"]["observable"] == 1, DEADLINE,
                 "m4 to keep one Observable link (m5's)",
                 diag=lambda: m4.stats()["connections"])
        for n in (m1, m2, m3):
            self.assertEqual(n.stats()["connections"]["subscriber"], 3, n.name)
        m4.stop()
        wait_for(lambda: all(m4.link_url not in n.peers() for n in rest), DEADLINE,
                 "every instance to forget m4", diag=lambda: m5.peers())
        wait_mesh(rest)
        cs = [self.client(n) for n in rest]
        t = tok("after-removal")
        m1.send(t)
        self.expect_delivery(cs, {t: cs})
        self.assertEqual(mesh_problems(rest), [])
        for n in rest:
            self.assertNotIn(m4.link_url, n.peers())


# ========================================================================= 6: secret ==

class SecurityTests(ClusterCase):
    @classmethod
    def setUpCluster(cls):
        cls.peers_file = os.path.join(cls.tmp.name, "peers")
        cls.bad_port = fresh_port()
        cls.S = [CNode("s1", peers_file=cls.peers_file), CNode("s2", peers_file=cls.peers_file)]
        write_file(cls.peers_file, peers_text([n.entry for n in cls.S] +
                                              ["%s:%d" % (HOST, cls.bad_port)]))
        for n in cls.S:
            cls.start(n)
        wait_mesh(cls.S)

    def test_wrong_secret_instance_is_refused(self):
        s1, s2 = self.S
        k1, k2 = (n.log_count("wrong cluster secret") for n in self.S)
        bad = self.start(CNode("intruder", peers_file=self.peers_file, port=self.bad_port,
                               secret="not-" + SECRET))
        seen_up = []
        end = time.monotonic() + max(4.0, 3 * HB_TIMEOUT_MS / 1000)  # several attempts
        while time.monotonic() < end:
            # links exist for the length of a handshake (it runs on them): what counts is
            # that none is ever believed, i.e. up in a peer table
            st = bad.stats()
            seen_up += [("intruder", p) for p in st["peers"]
                        if "up" in (p["subscriber"], p["observable"])]
            for n in self.S:
                p = n.peers()[bad.link_url]
                if "up" in (p["subscriber"], p["observable"]):
                    seen_up.append((n.name, p))
            time.sleep(0.1)
        self.assertEqual(seen_up, [])
        for n, k in zip(self.S, (k1, k2)):
            self.wait_log(n, "wrong cluster secret", k + 1)
        self.wait_log(bad, "wrong cluster secret")  # it refuses s1 and s2 the same way
        self.assertEqual(mesh_problems(self.S), [])
        bad.stop()

    def test_wrong_secret_is_refused_on_ws_and_tcp_links(self):
        # A peer link is let in unauthenticated (no secret header: an upgrade on /wscluster
        # gets 101) and must prove the secret in its AUTH; without it: 4401, logged, nothing
        # learned. Over WebSocket and over the TCP framer alike.
        s1 = self.S[0]
        k = s1.log_count("wrong cluster secret")
        secrets = [("wrong", "wrong"), ("prefix", SECRET[:-1]), ("longer", SECRET + "x"),
                   ("empty", ""), ("none: zero proof", None)]
        for tcp in (False, True):
            for name, secret in secrets:
                with self.subTest(link="tcp" if tcp else "ws", secret=name):
                    link = HandLink(s1.tcp_port if tcp else s1.req_port, "intruder",
                                    "127.0.0.1:%d" % self.bad_port, secret=secret, tcp=tcp)
                    try:
                        self.assertEqual(link.say_hello()[0], "welcome")
                        self.assertEqual(link.welcome[0], "s1")
                        self.assertFalse(link.proof_ok)  # s1's proof is not under this secret
                        link.auth()
                        self.assertEqual(link.outcome(), 4401)
                    finally:
                        link.close()
        self.wait_log(s1, "wrong cluster secret", k + 2 * len(secrets))
        self.assertNotIn("intruder", [p["node"] for p in s1.stats()["peers"]])
        # the right secret is let in on both (so the 4401s were about the secret), and s1
        # proved that it knows it too
        for tcp in (False, True):
            with self.subTest(link="tcp" if tcp else "ws", secret="right"):
                link = HandLink(s1.tcp_port if tcp else s1.req_port, "probe", "", tcp=tcp)
                try:
                    self.assertEqual(link.handshake(), "ok")
                    self.assertTrue(link.proof_ok)
                finally:
                    link.close()
        wait_mesh(self.S)

    def test_handshake_messages_out_of_order_are_protocol_errors(self):
        s1 = self.S[0]
        hs = lambda: link_hello("probe", "")  # noqa: E731
        cases = [  # what is sent in order, on a fresh link to s1
            ("FORWARD before HELLO", [link_forward("probe", 1, "x")]),
            ("AUTH before HELLO", [link_auth(bytes(32))]),
            ("WELCOME to an Observable", [link_welcome("probe")]),
            ("second HELLO", [hs(), hs()]),
            ("FORWARD instead of AUTH", [hs(), link_forward("probe", 1, "x")]),
        ]
        for tcp in (False, True):
            for name, msgs in cases:
                with self.subTest(link="tcp" if tcp else "ws", case=name):
                    if tcp and msgs[0][1:2] != b"H":
                        continue  # over TCP a first message other than HELLO is a client's
                    link = HandLink(s1.tcp_port if tcp else s1.req_port, "probe", "", tcp=tcp)
                    try:
                        errors = s1.stats()["protocol_errors"]
                        for m in msgs:
                            link.send(m)
                        kind, v = link.next()
                        while kind == "msg":  # the WELCOME of the first HELLO
                            parse_welcome(v)
                            kind, v = link.next()
                        self.assertEqual((kind, v), ("close", 1002))
                        wait_for(lambda: s1.stats()["protocol_errors"] > errors, DEADLINE,
                                 "protocol_errors to count it")
                    finally:
                        link.close()
        # after the handshake too: a second AUTH
        link = HandLink(s1.req_port, "probe", "")
        try:
            self.assertEqual(link.handshake(), "ok")
            link.auth()
            self.assertEqual(link.outcome(), 1002)
        finally:
            link.close()
        wait_mesh(self.S)

    def test_nothing_is_forwarded_to_a_link_before_its_auth(self):
        s1 = self.S[0]
        # it advertises an address (nothing listens there): once authenticated it is a peer
        link = HandLink(s1.req_port, "listener", "127.0.0.1:%d" % fresh_port())
        try:
            self.assertEqual(link.say_hello()[0], "welcome")
            t1 = tok("before-auth")
            s1.send(t1)
            self.assertEqual(link.outcome(), "ok")  # a ping round trip after the send
            self.assertEqual(link.received, [])
            self.assertNotIn("listener", [p["node"] for p in s1.stats()["peers"]])
            link.auth()
            self.assertEqual(link.outcome(), "ok")
            t2 = tok("after-auth")
            s1.send(t2)
            got = []
            while not got or t2.encode() not in got[-1]:
                kind, v = link.next()
                self.assertEqual(kind, "msg")
                got.append(v)
            self.assertFalse(any(t1.encode() in m for m in link.received + got),
                             "a FORWARD before AUTH")
            self.assertEqual(got[-1][:2], LINK_VERSION + b"F")
        finally:
            link.close()

    def test_a_version_1_hello_over_tcp_is_refused_not_delivered(self):
        # the format before the handshake carried the secret in HELLO: an old instance's
        # HELLO must not reach the application as a TCP client's message (node: chat)
        s1 = self.S[0]
        c = self.client(s1)
        self.wait_clients({s1: 1})
        old = b"\x01H" + str8("old-node") + str8("") + str8(SECRET)
        with RawTCP(s1.tcp_port) as t:
            t.send(OP_BINARY, old)
            self.assertEqual(t.expect_close(), 1002)
        self.wait_log(s1, "speaks link format version 1")
        time.sleep(DRAIN)
        self.assertEqual(c.containing(SECRET), [])
        self.assertEqual(c.containing("old-node"), [])

    def test_no_secret_logs_unauthenticated_warning(self):
        n = self.start(CNode("open", secret=None))
        self.wait_log(n, "unauthenticated")
        self.assertRegex(n.log_text(), r"WARN[^\n]*unauthenticated")
        n.stop()
        for s in self.S:
            self.assertNotIn("unauthenticated", s.log_text())


class ImpostorTests(ClusterCase):
    """Peers that answer a node's HELLO without knowing the secret: one with no secret (its
    proof is all zeros), one with a wrong one, one with a random proof that claims the node's
    own id. The node's Subscriber refuses each WELCOME (4401, logged) and takes no FORWARD
    from them, though each sends one right behind its WELCOME."""

    @classmethod
    def setUpCluster(cls):
        cls.leaked = {}
        cls.fakes = []
        for name, secret in (("nosecret", None), ("wrongsecret", "not-" + SECRET)):
            t = tok("IMPOSTOR-" + name)
            cls.leaked[name] = t
            cls.fakes.append(FakePeer("fake-" + name, secret=secret,
                                      after_welcome=link_forward("fake-" + name, 1 << 50, t)))
        t = tok("IMPOSTOR-self")
        cls.leaked["self"] = t
        cls.fakes.append(FakePeer("i", secret=None, after_welcome=link_forward("i", 1 << 50, t)))
        cls.silent = FakePeer("fake-silent", silent=True)
        for f in cls.fakes + [cls.silent]:
            f.start()
        pf = os.path.join(cls.tmp.name, "peers")
        cls.i = CNode("i", peers_file=pf, extra=["--handshake-timeout-ms", "2000"])
        write_file(pf, peers_text([cls.i.entry, cls.silent.entry] + [f.entry for f in cls.fakes]))
        cls.start(cls.i)

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            for f in cls.fakes + [cls.silent]:
                f.stop()

    def test_an_observable_that_never_answers_is_dropped(self):
        # our Subscriber waits handshake_timeout_ms for the WELCOME, then closes (1008)
        f = self.silent
        rec = wait_for(lambda: next((r for r in f.recs if r["hello"] is not None), None),
                       DEADLINE, "the node's HELLO to the silent peer")
        t0 = time.monotonic()
        self.assertEqual(f.wait_closed(rec), 1008)
        self.assertLess(time.monotonic() - t0, 2.0 + SLACK + 1)
        self.assertIn("not authenticated within handshake_timeout_ms=2000", self.i.log_text())
        self.assertNotEqual(self.i.peers()[f.link_url]["subscriber"], "up")

    def test_observables_without_the_secret_are_refused(self):
        i = self.i
        c = self.client(i)
        self.wait_clients({i: 1})
        before = [sum(1 for r in f.recs if r["closed"]) for f in self.fakes]
        for f, n0 in zip(self.fakes, before):  # refused twice more while c listens
            wait_for(lambda: sum(1 for r in f.recs if r["closed"]) >= n0 + 2, DEADLINE,
                     "the node to refuse %s twice" % f.node_id,
                     diag=lambda: [(r["hello"] is not None, r["code"]) for r in f.recs])
            codes = [r["code"] for r in f.recs if r["closed"]]
            self.assertEqual(set(codes), {4401}, f.node_id)
            self.assertTrue(all(r["auth"] is None for r in f.recs), "an AUTH to an impostor")
            p = i.peers()[f.link_url]
            self.assertNotEqual(p["subscriber"], "up", p)
            self.assertFalse(p["self"], "an impostor's WELCOME made a listed peer 'this instance'")
        self.assertIn("failed to prove the cluster secret", i.log_text())
        st = i.stats()
        self.assertEqual(st["forwarded"]["in"], 0, st["forwarded"])
        self.expect_delivery([c], {t: [] for t in self.leaked.values()}, timeout=1)


# =================================================================== 7: hostile peer ==

class HostilePeerTests(ClusterCase):
    """h lists g and a fake peer; g lists h. The fake peer answers h's HELLO, then misbehaves."""

    @classmethod
    def setUpCluster(cls):
        cls.fake = FakePeer("fake-peer").start()
        h_file = os.path.join(cls.tmp.name, "h-peers")
        g_file = os.path.join(cls.tmp.name, "g-peers")
        cls.h = CNode("h", peers_file=h_file)
        cls.g = CNode("g", peers_file=g_file)
        write_file(h_file, peers_text([cls.h.entry, cls.g.entry, cls.fake.entry]))
        write_file(g_file, peers_text([cls.h.entry, cls.g.entry]))
        cls.start(cls.h)
        cls.start(cls.g)
        wait_mesh([cls.h, cls.g], strict=False)
        cls.fake.wait_live()

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            cls.fake.stop()

    def setUp(self):
        wait_mesh([self.h, self.g], strict=False)

    def assert_still_serving(self, ch, cg):
        t1, t2 = tok("g-to-h"), tok("h-to-g")
        self.g.send(t1)
        self.h.send(t2)
        self.expect_delivery([ch, cg], {t1: [ch, cg], t2: [ch, cg]})
        self.assertEqual(mesh_problems([self.h, self.g], strict=False), [])

    def test_hello_sent_to_peer(self):
        rec = self.fake.wait_live()
        self.assertEqual(rec["path"], "/wscluster")
        self.assertEqual(rec["subprotocol"], "wscluster")
        self.assertIsNone(rec["headers"].get("X-Wscluster-Secret"))
        self.assertEqual(parse_hello(rec["hello"])[:2], ("h", self.h.link_url))
        self.assertTrue(rec["auth_ok"], "h's AUTH does not prove the secret")
        for data in (rec["hello"], rec["auth"], str(rec["headers"]).encode()):
            self.assertNotIn(SECRET.encode(), data)
        p = self.h.peers()[self.fake.link_url]
        self.assertEqual((p["node"], p["subscriber"], p["observable"]), ("fake-peer", "up", "down"))

    def test_malformed_link_messages_close_that_link_with_1002(self):
        h = self.h
        ch, cg = self.client(h), self.client(self.g, "tcp")
        reconnects = h.peers()[self.g.link_url]["reconnects"]
        good = link_forward("fake-origin", 1 << 50, "hello")
        cases = [
            ("garbage", b"\xde\xad\xbe\xef garbage"),
            ("unknown type", LINK_VERSION + b"Zjunk"),
            ("empty", b""),
            ("truncated FORWARD", good[:20]),
            ("FORWARD without payload length", good[:-9]),
            ("FORWARD length too long", link_forward("fake-origin", 2, "hello", plen=6)),
            ("FORWARD length too short", link_forward("fake-origin", 3, "hello", plen=4)),
            ("FORWARD bad opcode", link_forward("fake-origin", 4, "hello", opcode=9)),
            ("FORWARD bad UTF-8 text", link_forward("fake-origin", 5, b"\xff\xfe")),
            ("FORWARD unknown target", link_forward("fake-origin", 6, "x", target=b"\x07")),
            ("FORWARD trailing bytes", good + b"\x00"),
            ("WELCOME again, too long", link_welcome("fake-peer") + b"x"),
            ("AUTH too short", link_auth(bytes(31))),
        ]
        cases += [  # link messages that are well-formed but wrong here
            ("WELCOME again", link_welcome("fake-peer")),
            ("HELLO on the node's own link", link_hello("fake-peer", self.fake.entry)),
            ("AUTH on the node's own link", link_auth(bytes(32))),
            ("FORWARD of link format version 1", b"\x01" + good[1:]),
            ("FORWARD of an unknown version", b"\x03" + good[1:]),
        ]
        used = []
        for name, data in cases:
            with self.subTest(case=name):
                rec = self.fake.wait_live(exclude=used)
                used.append(rec)
                errors = h.stats()["protocol_errors"]
                self.fake.send(rec, data)
                self.assertEqual(self.fake.wait_closed(rec), 1002)
                wait_for(lambda: h.stats()["protocol_errors"] >= errors + 1, DEADLINE,
                         "protocol_errors to count it")
                self.assertEqual(h.stats()["protocol_errors"], errors + 1)
        with self.subTest(case="FORWARD instead of WELCOME"):
            errors = h.stats()["protocol_errors"]
            rec = self.fake.reply_next_with(link_forward("fake-origin", 8, tok("early")))
            self.assertEqual(self.fake.wait_closed(rec), 1002)
            wait_for(lambda: h.stats()["protocol_errors"] >= errors + 1, DEADLINE,
                     "protocol_errors to count it")
        with self.subTest(case="text frame on a link"):
            rec = self.fake.wait_live(exclude=used)
            used.append(rec)
            self.fake.send(rec, "\x01Fnot binary")
            self.assertIn(self.fake.wait_closed(rec), (1002, 1003))
        h.assert_alive()
        self.assertIn("malformed link message", h.log_text())
        self.assert_still_serving(ch, cg)
        # the other link never blinked, and the fake peer is linked again
        self.assertEqual(h.peers()[self.g.link_url]["reconnects"], reconnects)
        self.fake.wait_live(exclude=used)

    def test_forward_targets_from_peer(self):
        """Every target kind of the FORWARD format, as a peer sends it."""
        h = self.h
        c_u = self.client(h, user="tgt-user", group="grp")
        c_o = self.client(h, user="other", group="grp")
        c_t = self.client(h, "tcp")
        cg = self.client(self.g, user="tgt-user", group="grp")
        self.wait_clients({h: 3})
        ids = {(c["user"], c["proto"]): c["id"] for c in h.clients()}
        g_id = self.g.clients()[0]["id"]
        rec = self.fake.wait_live()
        origin = self.fake.node_id  # a link speaks for its own node only
        f0 = h.stats()["forwarded"]
        cases = [
            ("match user", target_match(("user", "tgt-user")), [c_u]),
            ("match group", target_match(("group", "grp")), [c_u, c_o]),
            ("match user AND group", target_match(("user", "other"), ("group", "grp")), [c_o]),
            ("match none", target_match(("user", "tgt-user"), ("group", "nope")), []),
            ("conn ws", target_conn(ids[("tgt-user", "ws")]), [c_u]),
            ("conn tcp", target_conn(ids[("", "tcp")]), [c_t]),
            ("conn on another node", target_conn(g_id), []),
            ("named", target_named("user-prefix", "tgt"), [c_u]),
            ("named, empty arg", target_named("user-prefix", ""), [c_u, c_o]),
            ("all", b"\x00", [c_u, c_o, c_t]),
        ]
        exp = {}
        base = 2000  # above the ids test_duplicate_forward_delivered_once sent on this link
        for i, (name, target, rcpts) in enumerate(cases):
            t = tok(name.replace(" ", "_"))
            self.fake.send(rec, link_forward(origin, base + i, t, target=target))
            exp[t] = rcpts
        t = tok("unknown-selector")
        self.fake.send(rec, link_forward(origin, base + 100, t, target=target_named("no-such", "x")))
        exp[t] = []
        blob = b"\x00\xffbinary" + uuid.uuid4().bytes
        self.fake.send(rec, link_forward(origin, base + 101, blob, opcode=OP_BINARY))
        exp[blob] = [c_u, c_o, c_t]
        ops = {p: OP_TEXT for p in exp}
        ops[blob] = OP_BINARY
        # h delivers to its own clients only: g's client never gets any of them
        self.expect_delivery([c_u, c_o, c_t, cg], exp, opcodes=ops)
        f1 = h.stats()["forwarded"]
        self.assertEqual(f1["in"] - f0["in"], len(cases) + 2, (f0, f1))  # + unknown, binary
        self.assertGreaterEqual(f1["dropped"] - f0["dropped"], 1, "unknown selector not counted")
        self.assertFalse(rec["closed"])

    def test_duplicate_forward_delivered_once(self):
        h = self.h
        ch, cg = self.client(h), self.client(self.g)
        rec = self.fake.wait_live()
        f0 = h.stats()["forwarded"]
        t = tok("dup")
        origin, msg_id = self.fake.node_id, 1077
        msg = link_forward(origin, msg_id, t)
        self.fake.send(rec, msg)
        self.fake.send(rec, msg)
        t2 = tok("next-id")
        self.fake.send(rec, link_forward(origin, msg_id + 1, t2))
        self.fake.send(rec, msg)
        # h delivers to its own clients and never forwards again (g's client gets nothing)
        self.expect_delivery([ch, cg], {t: [ch], t2: [ch]})
        wait_for(lambda: h.stats()["forwarded"]["duplicates"] >= f0["duplicates"] + 2, DEADLINE,
                 "forwarded.duplicates", diag=lambda: h.stats()["forwarded"])
        f1 = h.stats()["forwarded"]
        self.assertEqual(f1["duplicates"] - f0["duplicates"], 2, (f0, f1))
        self.assertEqual(f1["in"] - f0["in"], 2, (f0, f1))
        self.assertFalse(rec["closed"], "a duplicate closed the link")
        self.assert_still_serving(ch, self.client(self.g, "tcp"))


    def test_spoofed_origin_and_id_jump_close_the_link(self):
        # 8: a link speaks for the node that authenticated on it. A FORWARD claiming another
        # origin (g, or h itself) is refused and never delivered; one whose id jumps 2^39
        # ahead cannot move the window past the peer's real messages.
        h, g = self.h, self.g
        ch, cg = self.client(h), self.client(g)
        cases = [("as g", "g", 5), ("as h itself", "h", 6), ("as an unknown node", "nobody", 7)]
        used = []
        for name, origin, i in cases:
            with self.subTest(case=name):
                rec = self.fake.wait_live(exclude=used)
                used.append(rec)
                t = tok("SPOOFED-%d" % i)
                self.fake.send(rec, link_forward(origin, 100 + i, t))
                self.assertEqual(self.fake.wait_closed(rec), 1002)
                self.expect_delivery([ch, cg], {t: []}, timeout=1)
        self.assertIn("origin is not the link's node", h.log_text())
        with self.subTest(case="id jump"):
            rec = self.fake.wait_live(exclude=used)
            used.append(rec)
            t1, t2 = tok("jump-first"), tok("jump-far")
            self.fake.send(rec, link_forward(self.fake.node_id, 1000, t1))
            self.fake.send(rec, link_forward(self.fake.node_id, 1000 + (1 << 39), t2))
            self.assertEqual(self.fake.wait_closed(rec), 1002)
            self.expect_delivery([ch, cg], {t1: [ch], t2: []})
            # the relinked peer's next real ids are delivered, not dropped as "too old"
            rec = self.fake.wait_live(exclude=used)
            t3 = tok("after-jump")
            self.fake.send(rec, link_forward(self.fake.node_id, 1001, t3))
            self.expect_delivery([ch, cg], {t3: [ch]})
        # g's real messages still reach h's clients (its window was never touched)
        self.assert_still_serving(ch, cg)


# ==================================================================== TCP peer links ==

class TcpLinkTests(ClusterCase):
    """Instances listed by their TCP framer listeners (tcp://HOST:PORT): the links they open
    from the list are TCP framer links, the links opened back after an introduction go to
    the advertised WebSocket address."""

    @classmethod
    def setUpCluster(cls):
        cls.peers_file = os.path.join(cls.tmp.name, "peers")
        cls.N = [CNode(name, peers_file=cls.peers_file) for name in ("t1", "t2", "t3")]
        write_file(cls.peers_file, peers_text("tcp://%s:%d" % (HOST, n.req_tcp_port)
                                              for n in cls.N))
        for n in cls.N:
            cls.start(n)

    def test_tcp_listed_cluster_delivers_once(self):
        clients = []
        for n in self.N:
            clients += [self.client(n, user="u-" + n.name), self.client(n, "tcp")]
        self.wait_delivering(self.N, clients)
        for n in self.N:
            st = n.stats()
            self.assertGreaterEqual(st["connections"]["subscriber"], 2, (n.name, st["peers"]))
        sent = []
        for i, n in enumerate(self.N):
            sent.append(tok("get-" + n.name))
            n.send(sent[-1])
            sent.append(tok("tcp-" + n.name))
            clients[2 * i + 1].send_text(sent[-1])
        blob = os.urandom(3000) + b"\x00"
        self.N[1].post(blob, "application/octet-stream")
        exp = {t: clients for t in sent}
        exp[blob] = clients
        ops = {p: OP_TEXT for p in exp}
        ops[blob] = OP_BINARY
        self.expect_delivery(clients, exp, opcodes=ops)

    def test_tcp_listed_peers_show_up_in_peer_table(self):
        """The listed tcp:// entry is the one that shows the peer (not an introduced ws://
        twin), both links up, and no send counts a linked peer as unreachable."""
        clients = [self.client(n) for n in self.N]
        self.wait_delivering(self.N, clients)
        listed = {"tcp://%s:%d" % (HOST, n.req_tcp_port): n for n in self.N}
        d0 = {n.name: n.stats()["forwarded"]["dropped"] for n in self.N}
        for _ in range(4):  # a few refresh periods
            for n in self.N:
                n.send(tok("sample"))
                peers = n.peers()
                for url, m in listed.items():
                    if m is n:
                        continue
                    p = peers.get(url)
                    self.assertEqual((p["node"], p["subscriber"], p["observable"]),
                                     (m.name, "up", "up"), (n.name, url, p))
            time.sleep(REFRESH_MS / 1000)
        # every peer is linked both ways: nothing counted as "peer unreachable"
        self.assertEqual({n.name: n.stats()["forwarded"]["dropped"] for n in self.N}, d0)


# ====================================================================== link edge cases ==

class LinkEdgeTests(ClusterCase):
    """Regressions: these failed against the first cluster build (a527bcd), or later ones."""

    def mesh_of_two(self, prefix, **kw):
        """Two fresh instances, PREFIX-a and PREFIX-b, listing each other, linked both ways."""
        pf = os.path.join(self.tmp.name, "peers-" + prefix)
        a, b = (CNode("%s-%s" % (prefix, x), peers_file=pf, **kw) for x in "ab")
        write_file(pf, peers_text([a.entry, b.entry]))
        self.start(a)
        self.start(b)
        wait_mesh([a, b])
        return a, b

    def test_message_of_max_message_bytes_crosses_instances(self):
        # the FORWARD wrapping a payload adds ~30 bytes: the receiving link must accept a
        # max-message payload plus its envelope (it used to close with 1009, message lost)
        a, b = self.mesh_of_two("mx", extra=["--max-message", "1024"])
        ca, cb = self.client(a), self.client(b)
        reconnects = b.peers()[a.link_url]["reconnects"]
        big1, big2 = b"1" * 1000, b"2" * 1024
        for blob in (big1, big2):
            self.assertEqual(a.post(blob, "application/octet-stream")["delivered"], 1)
        self.expect_delivery([ca, cb], {big1: [ca, cb], big2: [ca, cb]}, timeout=5)
        self.assertEqual(b.peers()[a.link_url]["reconnects"], reconnects)

    def test_unreachable_peer_raises_one_drop_event_per_outage(self):
        # messages for a peer without a link to us: one event when the drops start, one
        # summary with their count when it is back (not one event per message)
        a, b = self.mesh_of_two("out")
        d0 = a.stats()["forwarded"]["dropped"]
        b.killed_on_purpose = True
        b.proc.kill()
        b.proc.wait()
        wait_for(lambda: a.peers()[b.link_url]["observable"] != "up", DEADLINE,
                 "a to see b's link down", diag=lambda: a.peers())
        for i in range(7):
            a.send(tok("while-down-%d" % i))
        self.assertEqual(a.stats()["forwarded"]["dropped"] - d0, 7, a.stats()["forwarded"])
        start = "peer out-b: peer unreachable: dropping messages for it"
        summary = "peer out-b: peer reachable again; 7 message(s) dropped"
        self.assertEqual(a.log_count(start), 1, a.log_tail())
        b2 = self.start(b.clone())
        wait_mesh([a, b2])
        wait_for(lambda: a.log_count(summary) == 1, DEADLINE, "the outage summary",
                 diag=a.log_tail)
        a.send(tok("after"))
        self.assertEqual(a.stats()["forwarded"]["dropped"] - d0, 7)
        self.assertEqual(a.log_count(start), 1)

    def test_sigterm_closes_links_gracefully_without_retrying(self):
        # wsc_shutdown: the peer sees its links closed with 1001 (a close, not a timeout),
        # and the instance going away plans no reconnects while it tears down
        a, b = self.mesh_of_two("sd")
        c = self.client(a)
        self.wait_clients({a: 1})
        a.stop()  # SIGTERM, exit status 0 asserted
        log = a.log_text()
        self.assertEqual(log.count("shutting down"), 1, a.log_tail())
        self.assertNotIn("retry in", log.split("shutting down", 1)[1], a.log_tail())
        c.wait_done()
        self.assertEqual(c.close_code, 1001)
        wait_for(lambda: b.peers()[a.link_url]["subscriber"] != "up", DEADLINE,
                 "b to see its link to a closed", diag=lambda: b.peers())
        self.assertEqual(b.log_count("heartbeat timeout"), 0, b.log_tail())

    def test_aliased_entries_keep_observable_state(self):
        # every instance listed twice (127.0.0.1:P and localhost:P): the alias link that was
        # opened and closed on every refresh used to clear the peer's observable state
        pf = os.path.join(self.tmp.name, "peers-alias")
        a, b = CNode("al-a", peers_file=pf), CNode("al-b", peers_file=pf)
        write_file(pf, peers_text(["127.0.0.1:%d" % a.req_port, "localhost:%d" % a.req_port,
                                   "127.0.0.1:%d" % b.req_port, "localhost:%d" % b.req_port]))
        self.start(a)
        self.start(b)
        clients = [self.client(a), self.client(b)]
        self.wait_delivering([a, b], clients)
        d0 = (a.stats()["forwarded"]["dropped"], b.stats()["forwarded"]["dropped"])
        for _ in range(4):
            for n, m in ((a, b), (b, a)):
                n.send(tok("sample"))
                p = n.peers()[m.link_url]
                self.assertEqual((p["node"], p["subscriber"], p["observable"]),
                                 (m.name, "up", "up"), (n.name, p))
            time.sleep(REFRESH_MS / 1000)
        self.assertEqual((a.stats()["forwarded"]["dropped"],
                          b.stats()["forwarded"]["dropped"]), d0)


# ================================================================ 8b: threads example ==

class ThreadsExampleTests(ClusterCase):
    def test_threads_posts_every_message_once_in_order(self):
        workers, messages = 4, 50
        port = fresh_port()
        p = Proc([THREADS_BIN, "--listen", "%s:%d" % (HOST, port), "--workers", str(workers),
                  "--messages", str(messages), "--wait-clients", "2"])
        try:
            p.wait_line(r"^listening ws://127\.0\.0\.1:%d$" % port)
            cs = [self.client(port, path="/first"), self.client(port, path="/x/y?z=1")]
            p.wait_line(r"^posted %d$" % (workers * messages))
            self.assertEqual(p.wait(), 0, p.log())
        finally:
            p.kill()
        for c in cs:
            c.wait_done()
            c.check()
            self.assertEqual(c.close_code, 1000)
            got = [(op, pl.decode()) for op, pl, _ in c.msgs]
            self.assertEqual(len(got), workers * messages)
            self.assertEqual({op for op, _ in got}, {OP_TEXT})
            texts = [t for _, t in got]
            self.assertEqual(set(texts), {"worker %d message %d" % (w, i)
                                          for w in range(workers) for i in range(messages)})
            for w in range(workers):
                mine = [int(t.rsplit(" ", 1)[1]) for t in texts
                        if t.startswith("worker %d " % w)]
                self.assertEqual(mine, list(range(messages)), "worker %d out of order" % w)


def tearDownModule():
    if TIMINGS and os.environ.get("VERBOSE", "1") != "0":
        print("\ntimings: " + ", ".join("%s %.2f s" % kv for kv in TIMINGS.items()))


if __name__ == "__main__":
    main()
