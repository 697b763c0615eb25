"""Tests of the foreign-loop and lifecycle API: wsc_watch/wsc_unwatch, wsc_next_timeout,
wsc_loop_fd, wsc_pollfds, wsc_shutdown, wsc_reject_headers, close info readable during
WSC_EV_CLOSE and wsc_stats.posted, through the test programs tests/api_watch.c and
tests/api_extloop.c (built for the poll() and the epoll backend) with real peers: Python
websockets, raw sockets and Node's ws.

Run: /usr/bin/python3 tests/test_api.py   (binaries from WSC_API_DIR, default build/;
WSC_API_DIR=build/asan runs the ASan+UBSan builds, whose leaks make the exit status non-zero).

The programs print "check NAME ok|FAIL" lines for the API's return values and exit 1 if any
failed; every test ends by stopping its program and asserting a clean exit. Waits poll a
condition against generous deadlines; the few fixed sleeps are quiet periods after the
expected messages arrived, in which an unwatched descriptor or a cancelled timer would show
up again (it fires every 50-60 ms)."""

import asyncio
import os
import queue
import re
import signal
import subprocess
import tempfile
import threading
import time
import unittest
import uuid

from websockets.exceptions import ConnectionClosed

import util
from util import (HOST, OP_CLOSE, REPO, TIMEOUT, RawWS, connect, parse_close, read_http_head,
                  recv, recv_all, run_async, upgrade_request, wait_for, ws_connect)

API_DIR = os.environ.get("WSC_API_DIR", "build")
if not os.path.isabs(API_DIR):
    API_DIR = os.path.join(REPO, API_DIR)
NODE_MODULES = os.path.join(REPO, "tests", ".npm", "node_modules")

# a Node ws client: prints "open", then "close CODE" when the server closes it
NODE_CLIENT = r"""
const WebSocket = require('ws');
const ws = new WebSocket(process.argv[1]);
ws.on('open', () => console.log('open'));
ws.on('message', (d) => console.log('message ' + d));
ws.on('close', (code) => { console.log('close ' + code); process.exit(0); });
ws.on('error', (e) => { console.log('error ' + e.message); process.exit(1); });
setTimeout(() => { console.log('timeout'); process.exit(2); }, 60000);
"""


class Proc:
    """A child process whose stdout lines are collected by a thread."""

    def __init__(self, cmd, env=None, name=None):
        self.cmd = cmd
        self.name = name or os.path.basename(cmd[0])
        self.lines = []
        self.stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.stderr, cwd=REPO, env=env)
        self.drainer = threading.Thread(target=self._drain, daemon=True)
        self.drainer.start()

    def _drain(self):
        for raw in self.proc.stdout:
            self.lines.append(raw.decode("utf-8", "replace").rstrip("\n"))

    def stderr_tail(self, n=3000):
        try:
            fd = self.stderr.fileno()
            return os.pread(fd, os.fstat(fd).st_size, 0).decode("utf-8", "replace")[-n:]
        except Exception:
            return ""

    def diag(self):
        return "%s stdout:\n%s\nstderr:\n%s" % (self.name, "\n".join(self.lines[-60:]),
                                                self.stderr_tail())

    def matching(self, rx):
        return [m for m in (re.search(rx, ln) for ln in list(self.lines)) if m]

    def wait_line(self, rx, count=1, timeout=TIMEOUT * 2):
        """The first `count` stdout lines matching rx (waits for them)."""
        return wait_for(lambda: (len(self.matching(rx)) >= count and self.matching(rx)[:count]),
                        timeout, "%s: %d line(s) matching %r" % (self.name, count, rx),
                        diag=self.diag)

    def write(self, line):
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()

    def alive(self):
        return self.proc.poll() is None

    def wait(self, timeout=30):
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError("%s did not exit within %ss\n%s" % (self.name, timeout,
                                                                       self.diag()))
        self.drainer.join(10)
        return rc

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.drainer.join(5)
        for f in (self.proc.stdin, self.proc.stdout, self.stderr):
            try:
                f.close()
            except OSError:
                pass


class Prog(Proc):
    """One api_* program from WSC_API_DIR, started until it reports its port."""

    def __init__(self, name, *args):
        path = os.path.join(API_DIR, name)
        if not os.access(path, os.X_OK):
            raise AssertionError("test program missing: %s (make all asan)" % path)
        super().__init__([path] + list(args), name=name)
        try:
            self.port = int(self.wait_line(r"^listening (\d+)$")[0].group(1))
        except BaseException:
            self.kill()
            raise

    def url(self, user="alice", path="/x", token="secret"):
        q = "user=%s" % user + ("&token=%s" % token if token is not None else "")
        return "ws://%s:%d%s?%s" % (HOST, self.port, path, q)

    def check_lines(self):
        return {m.group(1): m.group(2) for m in self.matching(r"^check (\S+) (ok|FAIL)")}


class NodeClient(Proc):
    """Node's ws library as a client of url."""

    def __init__(self, url):
        env = dict(os.environ, NODE_PATH=NODE_MODULES)
        if not os.path.isdir(os.path.join(NODE_MODULES, "ws")):
            raise AssertionError("Node ws missing in %s (make deps)" % NODE_MODULES)
        super().__init__(["node", "-e", NODE_CLIENT, url], env=env, name="node-ws")


async def expect(ws, expected, timeout=TIMEOUT * 2):
    """The next len(expected) messages must be exactly `expected`, in order."""
    got = []
    try:
        for _ in expected:
            got.append(await recv(ws, timeout))
    except asyncio.TimeoutError:
        raise AssertionError("timed out: expected %r, got only %r" % (expected, got))
    if got != expected:
        raise AssertionError("expected %r\n     got %r" % (expected, got))


async def quiet_then_sync(ws, quiet=0.6):
    """Nothing may arrive during `quiet` seconds: after it, an echo comes back first."""
    await asyncio.sleep(quiet)
    token = "sync-%s" % uuid.uuid4().hex[:8]
    await ws.send(token)
    got = await recv(ws, TIMEOUT * 2)
    if got != token:
        raise AssertionError("a message arrived after the sequence ended: %r" % (got,))


async def closed_code(ws, timeout=TIMEOUT * 2):
    """Read until the server closes; the close code the client saw."""
    try:
        while True:
            await asyncio.wait_for(ws.recv(), timeout)
    except ConnectionClosed:
        return ws.close_code
    except asyncio.TimeoutError:
        raise AssertionError("the server did not close the connection within %ss" % timeout)


class ProgCase(unittest.TestCase):
    """Each test starts its own program; at the end it is stopped (SIGTERM unless the test
    ended it) and must exit 0 having printed "exit failures=0" and no FAIL check."""

    BIN = None
    ARGS = ()

    def setUp(self):
        self.prog = self.start_prog()

    def start_prog(self, *args):
        p = Prog(self.BIN, *(args or self.ARGS))
        self.addCleanup(p.kill)
        return p

    def tearDown(self):
        p = self.prog
        if p.alive():
            p.proc.send_signal(signal.SIGTERM)
        self.assert_clean_exit(p)

    def assert_clean_exit(self, p):
        rc = p.wait(30)
        self.assertEqual(rc, 0, "%s exited with status %s\n%s" % (p.name, rc, p.diag()))
        self.assertTrue(p.matching(r"^exit failures=0$"), p.diag())
        self.assertEqual(p.matching(r"FAIL"), [], p.diag())


# ------------------------------------------------------------------------- api_watch --

class WatchTests(ProgCase):
    """api_watch: a server in wsc_run() whose watched descriptors are served by the
    library's own loop (the plain build uses epoll, the ASan build poll())."""

    BIN = "api_watch"

    def test_argument_checks_at_startup(self):
        # watch(-1) -> WSC_ERR_INVAL, unwatch of an unknown fd -> WSC_ERR_STALE,
        # WSC_MAX_WATCH fit and one more is WSC_ERR_LIMIT, replacing needs no new slot,
        # wsc_loop_fd() matches the backend, the pipe's first registration is replaced
        checks = self.prog.check_lines()
        for name in ("watch-bad-fd", "unwatch-unknown", "unwatch-bad-fd", "watch-up-to-limit",
                     "watch-over-limit", "watch-replace-at-limit", "unwatch-all",
                     "unwatch-again", "loop-fd", "watch-first", "watch-replace"):
            self.assertEqual(checks.get(name), "ok", "check %s: %s\n%s"
                             % (name, checks.get(name), self.prog.diag()))

    def test_echo(self):
        async def go():
            async with ws_connect(self.prog.url()) as ws:
                await ws.send("hello")
                self.assertEqual(await recv(ws), "hello")
                data = os.urandom(70000)
                await ws.send(data)
                self.assertEqual(await recv(ws), data)
        run_async(go())

    def test_pipe_written_by_a_thread(self):
        # the thread's bytes reach the clients only through the wsc_watch callback; the
        # callback first registered for the pipe (for POLLOUT) was replaced and must never run
        async def go():
            async with ws_connect(self.prog.url()) as ws:
                await ws.send("!pipe 40")
                await expect(ws, ["pipe %d" % i for i in range(1, 41)])
                await ws.send("!pipe 15")
                await expect(ws, ["pipe %d" % i for i in range(1, 16)])
        run_async(go())

    def test_timerfd_ticks_and_unwatch_from_its_callback(self):
        # a 50 ms periodic timerfd; after N ticks its callback unwatches it but leaves it
        # armed, so only the unwatch keeps it quiet; watching it again works
        async def go():
            async with ws_connect(self.prog.url()) as ws:
                await ws.send("!ticks 5")
                await expect(ws, ["tick %d" % i for i in range(1, 6)] + ["ticks done"])
                await quiet_then_sync(ws)
                await ws.send("!ticks 3")
                await expect(ws, ["tick %d" % i for i in range(1, 4)] + ["ticks done"])
                await quiet_then_sync(ws)
        run_async(go())
        # stdout is read by a thread that may lag behind the WebSocket: wait for the lines
        self.prog.wait_line(r"^check unwatch-in-callback ok$", 2)
        self.prog.wait_line(r"^check unwatch-twice ok$", 2)

    def test_watch_again_changes_the_events(self):
        # a pipe's write end watched for POLLOUT writes a byte per call; after N the same fd
        # is watched again for POLLIN only (never true on a write end): the writes stop
        async def go():
            async with ws_connect(self.prog.url()) as ws:
                for n in (20, 7):
                    await ws.send("!out %d" % n)
                    await expect(ws, ["out %d" % i for i in range(1, n + 1)] + ["out done"])
                    await quiet_then_sync(ws)
        run_async(go())
        self.prog.wait_line(r"^check out-rewatch ok$", 2)

    def test_post_from_a_thread_is_counted(self):
        async def go():
            async with ws_connect(self.prog.url("alice")) as a, \
                    ws_connect(self.prog.url("bob")) as b:
                await a.send("!stats")
                self.assertRegex(await recv(a), r"^stats posted=0 ")
                await b.send("sync")  # bob is open before the posts start
                self.assertEqual(await recv(b), "sync")
                await a.send("!post 50")
                posts = ["post %d" % i for i in range(1, 51)]
                await expect(a, posts)
                await expect(b, posts)
                await a.send("!stats")
                self.assertRegex(await recv(a), r"^stats posted=50 ")
        run_async(go())

    def refused(self, path):
        """A raw upgrade to path: (status, headers, body); the server must close after."""
        with connect(self.prog.port) as s:
            s.sendall(upgrade_request(path))
            status, headers, rest = read_http_head(s)
            body = rest + recv_all(s)
        return status, headers, body

    def test_reject_headers_401_with_www_authenticate(self):
        for path in ("/x?user=mallory", "/x?user=mallory&token=wrong"):
            with self.subTest(path=path):
                status, headers, body = self.refused(path)
                self.assertEqual(status, 401)
                self.assertEqual(headers.get("www-authenticate"), 'Bearer realm="test"')
                self.assertEqual(body, b"token required\n")
                self.assertEqual(headers.get("content-length"), str(len(body)))
                self.assertNotIn("sec-websocket-accept", headers)
        self.assertEqual(len(self.prog.wait_line(r"^rejected rc=0$", 2)), 2)

        async def go():  # the listener still serves; the refused never opened
            async with ws_connect(self.prog.url("alice")) as ws:
                await ws.send("!stats")
                self.assertRegex(await recv(ws), r"^stats posted=0 opens=1 closes=0$")
        run_async(go())
        self.prog.proc.send_signal(signal.SIGTERM)
        self.assert_clean_exit(self.prog)  # all its output is in now
        self.assertEqual(self.prog.matching(r"user=mallory"), [], self.prog.diag())

    def test_close_event_reads_class_meta_userdata(self):
        # four ways to end: the client's close 1000 and 4321, the server's close 4001, and an
        # abrupt EOF without close frame (1006); each CLOSE still reads info, meta, userdata
        async def go():
            async with ws_connect(self.prog.url("alice", "/room/a")) as ws:
                await ws.send("x")
                await recv(ws)
            ws = await ws_connect(self.prog.url("bob", "/room/b"))
            await ws.send("x")
            await recv(ws)
            await ws.close(code=4321)
            async with ws_connect(self.prog.url("carol", "/room/c")) as ws:
                await ws.send("!close")
                self.assertEqual(await closed_code(ws), 4001)
        run_async(go())
        raw = RawWS(self.prog.port, "/room/d?user=dave&token=secret")
        raw.send_text("x")
        raw.recv_message()
        raw.close()
        for user, code, path in (("alice", 1000, "/room/a"), ("bob", 4321, "/room/b"),
                                 ("carol", 4001, "/room/c"), ("dave", 1006, "/room/d")):
            self.prog.wait_line(r"^close user=%s cls=1 ud=ok code=%d path=%s$"
                                % (user, code, re.escape(path)))
        self.assertEqual(len(self.prog.matching(r"^close ")), 4, self.prog.diag())
        self.prog.proc.send_signal(signal.SIGTERM)
        self.prog.wait_line(r"^live-ud 0$")
        self.prog.wait_line(r"^shutdown returned 0$")

    def test_sigterm_shutdown_seen_as_1001_by_python_and_node(self):
        async def go():
            async with ws_connect(self.prog.url("alice")) as a, \
                    ws_connect(self.prog.url("bob")) as b:
                for ws in (a, b):
                    await ws.send("sync")
                    self.assertEqual(await recv(ws), "sync")
                node = NodeClient(self.prog.url("nodejs"))
                self.addCleanup(node.kill)
                node.wait_line(r"^open$")
                self.prog.wait_line(r"^open user=nodejs$")
                self.prog.proc.send_signal(signal.SIGTERM)
                codes = await asyncio.gather(closed_code(a), closed_code(b))
                self.assertEqual(codes, [1001, 1001])
                self.assertEqual(node.wait(30), 0, node.diag())
                self.assertEqual(node.matching(r"^close (\d+)$")[0].group(1), "1001",
                                 node.diag())
        run_async(go())
        self.assert_clean_exit(self.prog)
        for user in ("alice", "bob", "nodejs"):
            self.prog.wait_line(r"^close user=%s cls=1 ud=ok code=1001 path=/x$" % user)
        self.assertTrue(self.prog.matching(r"^shutdown returned 3$"), self.prog.diag())
        self.assertTrue(self.prog.matching(r"^live-ud 0$"), self.prog.diag())
        # the CLOSE events came from wsc_shutdown, after the loop ended
        lines = self.prog.lines
        self.assertLess(lines.index("run returned 0"),
                        min(i for i, ln in enumerate(lines) if ln.startswith("close ")))

    def test_shutdown_refused_inside_the_handler(self):
        # "!shutdown": wsc_shutdown() from the handler is WSC_ERR_STATE, then wsc_stop();
        # the real shutdown after wsc_run() closes the client with 1001
        async def go():
            async with ws_connect(self.prog.url("alice")) as ws:
                await ws.send("!shutdown")
                self.assertEqual(await closed_code(ws), 1001)
        run_async(go())
        self.assert_clean_exit(self.prog)
        self.assertTrue(self.prog.matching(r"^check shutdown-in-handler ok$"), self.prog.diag())
        self.assertTrue(self.prog.matching(r"^shutdown returned 1$"), self.prog.diag())
        self.assertTrue(self.prog.matching(r"^close user=alice cls=1 ud=ok code=1001 "),
                        self.prog.diag())

    def test_shutdown_waits_for_a_silent_peer_then_drops_it(self):
        # a raw client never answers the close: wsc_shutdown(ctx, 0, 3000) waits for it,
        # then drops it, still with its CLOSE event; a polite client is closed with 1001
        raw = RawWS(self.prog.port, "/x?user=silent&token=secret")
        self.addCleanup(raw.close)
        raw.send_text("x")
        raw.recv_message()

        async def go():
            async with ws_connect(self.prog.url("alice")) as ws:
                await ws.send("sync")
                await recv(ws)
                t0 = time.monotonic()
                self.prog.proc.send_signal(signal.SIGTERM)
                self.assertEqual(await closed_code(ws), 1001)
                return t0
        t0 = run_async(go())
        self.assert_clean_exit(self.prog)
        elapsed = time.monotonic() - t0
        self.assertGreaterEqual(elapsed, 2.5, "shutdown did not wait for the silent peer")
        fin, op, payload = raw.recv_frame()
        self.assertEqual(op, OP_CLOSE)
        self.assertEqual(parse_close(payload)[0], 1001)
        self.assertTrue(self.prog.matching(r"^close user=silent cls=1 ud=ok code=\d+ "),
                        self.prog.diag())
        self.assertTrue(self.prog.matching(r"^shutdown returned 2$"), self.prog.diag())
        self.assertTrue(self.prog.matching(r"^live-ud 0$"), self.prog.diag())


# ----------------------------------------------------------------------- api_extloop --

class ExtLoopCase(ProgCase):
    """api_extloop: its own poll() over stdin and the library (wsc_loop_fd or
    wsc_pollfds), timeout from wsc_next_timeout(), wsc_poll(ctx, 0) only when due."""

    BACKEND = None

    def tearDown(self):
        # "quit" on stdin rather than SIGTERM: a signal landing just before poll() would
        # leave an idle program asleep
        if self.prog.alive():
            try:
                self.prog.write("quit")
            except OSError:
                pass
        self.assert_clean_exit(self.prog)

    def test_backend_and_next_timeout(self):
        # idle: -1; a 5 s timer: (4000, 5000]; cancelled: -1 again; loop fd by backend
        self.assertTrue(self.prog.matching(r"^backend %s$" % self.BACKEND), self.prog.diag())
        checks = self.prog.check_lines()
        for name in ("next-timeout-idle", "next-timeout-timer", "timer-cancel",
                     "next-timeout-cancelled", "loop-fd", "watch-wake"):
            self.assertEqual(checks.get(name), "ok", "check %s: %s\n%s"
                             % (name, checks.get(name), self.prog.diag()))

    def test_echo_many_clients(self):
        # 12 clients at once: with poll() wsc_pollfds() outgrows the program's first array
        async def one(i):
            async with ws_connect(self.prog.url("u%d" % i)) as ws:
                for j in range(20):
                    msg = "c%d m%d" % (i, j) if j % 2 else os.urandom(j * 50)
                    await ws.send(msg)
                    self.assertEqual(await recv(ws, TIMEOUT * 2), msg)

        async def go():
            await asyncio.gather(*(one(i) for i in range(12)))
        run_async(go(), 120)

    def test_timers_fire_in_order_through_next_timeout(self):
        # commands on stdin, no client: no descriptor of the library's becomes ready and no
        # sweep is due, so only wsc_next_timeout() can make the loop call wsc_poll()
        for ms in (600, 150, 350):
            self.prog.write("!timer %d" % ms)
        fired = self.prog.wait_line(r"^said timer (\d+) fired after (\d+)$", 3)
        got = [m.group(0) for m in fired]
        self.assertEqual([int(m.group(1)) for m in fired], [150, 350, 600], got)
        for m in fired:  # not early (a little slack for the loop's cached clock)
            self.assertGreaterEqual(int(m.group(2)), int(m.group(1)) - 50, got)

    def test_timer_reaches_a_websocket_client(self):
        async def go():
            async with ws_connect(self.prog.url()) as ws:
                await ws.send("!timer 200")
                m = re.match(r"^timer 200 fired after (\d+)$", await recv(ws, TIMEOUT * 2))
                self.assertTrue(m)
                self.assertGreaterEqual(int(m.group(1)), 150)
        run_async(go())

    def test_repeating_timer_cancelled_in_its_callback(self):
        self.prog.write("!repeat 60 6")
        self.prog.wait_line(r"^said repeat done$")
        time.sleep(0.6)  # ten more periods: a timer still running would print "rep 7"
        self.assertEqual([m.group(0) for m in self.prog.matching(r"^said rep \d+$")],
                         ["said rep %d" % i for i in range(1, 7)])
        checks = self.prog.check_lines()
        self.assertEqual(checks.get("timer-cancel-in-callback"), "ok", self.prog.diag())
        self.assertEqual(checks.get("timer-cancel-twice"), "ok", self.prog.diag())

    def test_watched_fd_wakes_the_foreign_loop(self):
        # a thread writes into a pipe watched with wsc_watch(), no client connected: the
        # program's poll() sees it only through wsc_loop_fd() / wsc_pollfds()
        self.prog.write("!wake 12")
        lines = self.prog.wait_line(r"^said wake \d+$", 12)
        self.assertEqual([m.group(0) for m in lines],
                         ["said wake %d" % i for i in range(1, 13)])

    def test_watched_fd_reaches_a_websocket_client(self):
        async def go():
            async with ws_connect(self.prog.url()) as ws:
                await ws.send("!wake 5")
                await expect(ws, ["wake %d" % i for i in range(1, 6)])
        run_async(go())

    def test_stdin_in_the_same_poll_set_and_output_flushed(self):
        # a broadcast made outside wsc_poll() leaves because wsc_next_timeout() is then 0
        async def go():
            async with ws_connect(self.prog.url()) as ws:
                await ws.send("sync")
                self.assertEqual(await recv(ws), "sync")
                self.prog.write("say hello there")
                self.assertEqual(await recv(ws, TIMEOUT * 2), "stdin hello there")
                self.prog.write("say again")
                self.assertEqual(await recv(ws, TIMEOUT * 2), "stdin again")
        run_async(go())
        self.prog.wait_line(r"^check next-timeout-output ok$", 2)

    def test_own_deadline_combined_with_the_librarys(self):
        async def go():
            async with ws_connect(self.prog.url()) as ws:
                await ws.send("!own 300")
                got = await recv(ws, TIMEOUT * 2)
                m = re.match(r"^own fired after (\d+)$", got)
                self.assertTrue(m, got)
                self.assertGreaterEqual(int(m.group(1)), 300)
        run_async(go())

    def test_idle_loop_sleeps(self):
        # an idle library must not make the program spin: with no connection nothing is due
        # (a turn per stdin line); with one, the library's 100 ms sweep makes ~15 in 1.5 s
        def stdin_stats():
            n = len(self.prog.matching(r"^stats "))
            self.prog.write("!stats")
            m = self.prog.wait_line(r"^stats iterations=(\d+) polls=(\d+)", n + 1)[-1]
            return int(m.group(1))

        it0 = stdin_stats()
        time.sleep(1.5)
        self.assertLess(stdin_stats() - it0, 10, "loop turns in 1.5 s idle, no connection")

        async def stats(ws):
            await ws.send("!stats")
            m = re.match(r"^stats iterations=(\d+) polls=(\d+)", await recv(ws))
            self.assertTrue(m)
            return int(m.group(1)), int(m.group(2))

        async def go():
            async with ws_connect(self.prog.url()) as ws:
                it0, p0 = await stats(ws)
                await asyncio.sleep(1.5)
                it1, p1 = await stats(ws)
                self.assertLess(it1 - it0, 60, "loop turns in 1.5 s idle, one connection")
                self.assertGreaterEqual(p1 - p0, 1)
        run_async(go())

    def test_heartbeat_driven_by_next_timeout(self):
        # the library's own pings (every 200 ms) run only if wsc_next_timeout() schedules them
        self.prog.write("quit")
        self.assert_clean_exit(self.prog)
        self.prog = self.start_prog("--ping-ms", "200")

        async def go():
            async with ws_connect(self.prog.url()) as ws:
                deadline = time.monotonic() + 30
                while True:
                    await asyncio.sleep(0.5)
                    await ws.send("!stats")
                    m = re.match(r"^stats .* pongs=(\d+)$", await recv(ws))
                    self.assertTrue(m)
                    if int(m.group(1)) >= 3:
                        return
                    self.assertLess(time.monotonic(), deadline, "pongs: %s" % m.group(1))
        run_async(go())

    def test_quit_shuts_down_with_1001(self):
        async def go():
            async with ws_connect(self.prog.url("alice")) as ws:
                await ws.send("sync")
                self.assertEqual(await recv(ws), "sync")
                node = NodeClient(self.prog.url("nodejs"))
                self.addCleanup(node.kill)
                node.wait_line(r"^open$")
                self.prog.write("quit")
                self.assertEqual(await closed_code(ws), 1001)
                self.assertEqual(node.wait(30), 0, node.diag())
                self.assertEqual(node.matching(r"^close (\d+)$")[0].group(1), "1001",
                                 node.diag())
        run_async(go())
        self.assert_clean_exit(self.prog)
        self.assertTrue(self.prog.matching(r"^shutdown returned 2$"), self.prog.diag())
        self.assertEqual(len(self.prog.matching(r"^close code=1001$")), 2, self.prog.diag())


class ExtLoopPollTests(ExtLoopCase):
    BIN = "api_extloop"
    BACKEND = "poll"


class ExtLoopEpollTests(ExtLoopCase):
    BIN = "api_extloop_epoll"
    BACKEND = "epoll"


del ExtLoopCase, ProgCase  # bases only: not collected as tests

if __name__ == "__main__":
    util.main()
