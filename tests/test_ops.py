"""Running the node as a system program: systemd's readiness protocol (Type=notify: READY=1
once listening, RELOADING=1 with MONOTONIC_USEC then READY=1 around a SIGHUP reload,
STOPPING=1 at shutdown) received on a datagram socket of the test's own, and the documented
exit codes (0 clean exit and --help, 1 failure to start, 2 bad options or configuration).

Run: /usr/bin/python3 tests/test_ops.py   (WSC_NODE_BIN as the other suites)."""

import os
import signal
import socket
import subprocess
import time
import unittest

import util
from util import HOST, NODE_BIN, Node, assert_echo, fresh_port, main, tok, wait_for, write_file

NODE_TLS_BIN = util._bin("WSC_NODE_TLS_BIN", "build/wscluster-node-tls")
DEADLINE = 30.0  # one wait; the ASan build starts slowly on a busy machine


def clean_env(**extra):
    """The environment without NOTIFY_SOCKET or WSCLUSTER_* (a caller's must not leak in),
    plus extra; as Node(env=...) takes it: None removes a variable."""
    env = {k: None for k in os.environ if k.startswith("WSCLUSTER_") or k == "NOTIFY_SOCKET"}
    env.update(extra)
    return env


def monotonic_us():
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000


class NotifySocket:
    """What systemd listens on: an AF_UNIX datagram socket, bound to a path in tmpdir or,
    abstract, to a fresh name. .address is the NOTIFY_SOCKET value for the node."""

    def __init__(self, tmpdir, abstract=False):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            name = tok("wsc-notify")
            self.sock.bind("\0" + name)
            self.address = "@" + name
        else:
            self.address = os.path.join(tmpdir, tok("notify") + ".sock")
            self.sock.bind(self.address)

    def recv(self, timeout=DEADLINE):
        """The next datagram as {VAR: value}, its lines in order under '_lines'."""
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(4096)
        except socket.timeout:
            raise AssertionError("no notification within %.0f s" % timeout)
        lines = data.decode().split("\n")
        state = dict(line.split("=", 1) for line in lines)
        state["_lines"] = lines
        return state

    def nothing_more(self, wait=0.3):
        """No datagram arrives within wait s: the node sent each state once."""
        self.sock.settimeout(wait)
        try:
            data = self.sock.recv(4096)
        except socket.timeout:
            return
        raise AssertionError("an unexpected notification: %r" % data)

    def close(self):
        self.sock.close()


class NotifyTests(util.NodesCase):
    TMP_PREFIX = "wsc-ops-"

    def notify_socket(self, abstract=False):
        s = NotifySocket(self.tmp.name, abstract)
        self.addCleanup(s.close)
        return s

    def test_ready_reload_stopping(self):
        """The whole life under Type=notify, with a server list to re-read."""
        ns = self.notify_socket()
        peers = os.path.join(self.tmp.name, "peers")
        write_file(peers, "%s:%d\n" % (HOST, fresh_port()))
        node = self.start(Node("--peers", peers, env=clean_env(NOTIFY_SOCKET=ns.address)))
        self.assertEqual(ns.recv()["_lines"], ["READY=1"])
        ns.nothing_more()
        assert_echo(node.ws_port)

        before = monotonic_us()
        node.send_signal(signal.SIGHUP)
        reloading = ns.recv()
        after = monotonic_us()
        self.assertEqual([line.split("=")[0] for line in reloading["_lines"]],
                         ["RELOADING", "MONOTONIC_USEC"], reloading)
        self.assertEqual(reloading["RELOADING"], "1")
        self.assertTrue(before <= int(reloading["MONOTONIC_USEC"]) <= after,
                        "MONOTONIC_USEC %s is not CLOCK_MONOTONIC between %d and %d"
                        % (reloading["MONOTONIC_USEC"], before, after))
        self.assertEqual(ns.recv()["_lines"], ["READY=1"])
        wait_for(lambda: node.log_count("SIGHUP: re-reading the server list") == 1,
                 DEADLINE, "the reload in the log", diag=node.log_tail)
        ns.nothing_more()
        assert_echo(node.ws_port)

        node.stop()  # SIGTERM, exit 0
        self.assertEqual(ns.recv()["_lines"], ["STOPPING=1"])
        ns.nothing_more()

    def test_abstract_socket(self):
        """NOTIFY_SOCKET=@name: the Linux abstract namespace, as systemd may hand it."""
        ns = self.notify_socket(abstract=True)
        node = self.start(Node(env=clean_env(NOTIFY_SOCKET=ns.address)))
        self.assertEqual(ns.recv()["_lines"], ["READY=1"])
        node.stop(signal.SIGINT)
        self.assertEqual(ns.recv()["_lines"], ["STOPPING=1"])

    def test_unreachable_socket_is_logged_not_fatal(self):
        gone = os.path.join(self.tmp.name, "nobody-listens.sock")
        node = self.start(Node(env=clean_env(NOTIFY_SOCKET=gone)))
        wait_for(lambda: "NOTIFY_SOCKET %s: READY=1 not sent" % gone in node.log_text(),
                 DEADLINE, "the failed READY=1 in the log", diag=node.log_tail)
        assert_echo(node.ws_port)
        node.stop()


class ExitCodeTests(unittest.TestCase):
    """0: --help and a clean stop; 1: failure to start; 2: bad options or configuration."""

    def run_node(self, *args, env=None, binary=NODE_BIN):
        """The node run to its end with args after a --listen on a free port; a node that
        does not exit (it accepted the options) is killed and fails the test."""
        full_env = dict(os.environ)
        for k, v in (env if env is not None else clean_env()).items():
            if v is None:
                full_env.pop(k, None)
            else:
                full_env[k] = v
        cmd = [binary, "--listen", "%s:0" % HOST] + list(args)
        try:
            return subprocess.run(cmd, capture_output=True, timeout=DEADLINE,
                                  stdin=subprocess.DEVNULL, env=full_env)
        except subprocess.TimeoutExpired as e:
            raise AssertionError("%s did not exit: it took the options\n%s"
                                 % (cmd, (e.stderr or b"").decode(errors="replace")[-2000:]))

    def assertExit(self, r, code, stderr_has=None):
        err = r.stderr.decode(errors="replace")
        self.assertEqual(r.returncode, code, "%s\nstdout: %r\nstderr: %s"
                         % (r.args, r.stdout[-500:], err[-2000:]))
        if stderr_has:
            self.assertIn(stderr_has, err)
        if code:
            self.assertNotIn(b"listening", r.stdout)

    def test_help_exits_0_and_documents_it(self):
        for flag in ("--help", "-h"):
            with self.subTest(flag=flag):
                r = self.run_node(flag)
                self.assertExit(r, 0)
                out = r.stdout.decode()
                self.assertEqual(r.stderr, b"")
                self.assertIn("Exit status: 0 clean exit", out)
                self.assertIn("1 failure to start or at run time", out)
                self.assertIn("2 bad options or configuration", out)
                self.assertIn("/clients, /stats, /metrics, /cluster and /send need it", out)

    def test_bad_options_exit_2(self):
        cases = [
            (["--no-such-option"], "bad option"),
            (["stray"], "bad option"),
            (["--id"], "bad option"),  # no value
            (["--max-clients", "many"], "--max-clients: 'many' is not a number"),
            (["--max-message", "0"], "--max-message: '0' is not a number"),
            (["--heartbeat-ms", "99999999999"], "--heartbeat-ms"),
            (["--log-level", "loud"], "--log-level"),
            (["--listen", "nohost"], "--listen: 'nohost' is not HOST:PORT"),
            (["--listen", "%s:99999" % HOST], "is not HOST:PORT"),
            (["--tcp-listen", "x"], "--tcp-listen: 'x' is not HOST:PORT"),
            (["--tls-ca", "/dev/null"], "built without TLS"),  # WSC_NODE_BIN: never the TLS build
        ]
        for args, needle in cases:
            with self.subTest(args=args):
                self.assertExit(self.run_node(*args), 2, needle)
        with self.subTest(env="WSCLUSTER_MAX_CLIENTS=abc"):
            self.assertExit(self.run_node(env=clean_env(WSCLUSTER_MAX_CLIENTS="abc")), 2,
                            "--max-clients: 'abc'")

    def test_refused_configuration_exits_2(self):
        """Settings that parse but wsc_create refuses: its log line says which."""
        cases = [
            (["--id", "two words"], "node_id"),
            (["--id", "n" * 65], "node_id"),
            (["--secret", "k" * 300], "secret is 300 bytes"),
            (["--advertise", "%s:9000" % ("h" * 260)], "advertise"),
            (["--backplane", "http://%s:6379" % HOST], "backplane"),
        ]
        for args, needle in cases:
            with self.subTest(args=args[0]):
                r = self.run_node(*args)
                self.assertExit(r, 2, needle)
                self.assertIn("the configuration was refused", r.stderr.decode())

    @unittest.skipUnless(os.access(NODE_TLS_BIN, os.X_OK), "no TLS build (make tls)")
    def test_unusable_certificate_exits_2(self):
        """The TLS build loads its certificate at the first listener: a file that is not one,
        or none at all, is configuration too."""
        missing = os.path.join(os.path.dirname(os.path.abspath(__file__)), "no-such.pem")
        for cert in (os.path.abspath(__file__), missing):
            with self.subTest(cert=os.path.basename(cert)):
                self.assertExit(self.run_node("--tls-cert", cert, "--tls-key", cert,
                                              binary=NODE_TLS_BIN), 2, "TLS: certificate")

    def test_port_in_use_exits_1(self):
        with socket.socket() as taken:
            taken.bind((HOST, 0))
            taken.listen(1)
            port = taken.getsockname()[1]
            for args in (["--listen", "%s:%d" % (HOST, port)],
                         ["--tcp-listen", "%s:%d" % (HOST, port)]):
                with self.subTest(args=args[0]):
                    r = self.run_node(*args)
                    self.assertExit(r, 1, "cannot listen on")
                    self.assertIn("in use", r.stderr.decode())

    def test_signals_exit_0(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            with self.subTest(sig=sig.name):
                node = Node(env=clean_env()).start()
                try:
                    node.stop(sig)  # asserts exit status 0
                finally:
                    node.kill()


if __name__ == "__main__":
    main()
