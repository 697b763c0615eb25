#!/usr/bin/env python3
"""The Redis backplane (issue 10): real redis-server processes (Debian's, started here on a
free 127.0.0.1 port, no persistence) and real wscluster-node processes with --backplane.
Killed (-9), stopped (SIGSTOP) and restarted Redis; a forger on the same Redis; stream mode
catching up after an instance was stopped, and its gap event when history was trimmed."""
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import util  # noqa: E402
import test_cluster as tc  # noqa: E402
from util import HOST, OP_BINARY, OP_TEXT, fresh_port, get_stats, tok, wait_for  # noqa: E402
from test_attacks import MIB, FastReader, rss  # noqa: E402
import test_tls as tt  # noqa: E402  (its certificates; a module, so no tests of it run here)

REDIS = shutil.which("redis-server") or "/usr/bin/redis-server"


def resp_cmd(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


class Redis:
    """One redis-server. cmd() speaks RESP on a fresh connection and returns the raw reply."""

    def __init__(self, tmp, *extra, tls=None):
        self.port = fresh_port()
        self.tmp = tmp
        self.extra = list(extra)
        self.proc = None
        self.tls = tls  # (cert, key): the port speaks TLS only

    def start(self):
        if self.proc:
            self.log.close()
        if not os.access(REDIS, os.X_OK):
            raise AssertionError("redis-server is needed (apt-get install redis-server)")
        self.log = open(os.path.join(self.tmp, "redis-%d.log" % self.port), "ab")
        ports = ["--port", str(self.port)]
        if self.tls:
            ports = ["--port", "0", "--tls-port", str(self.port), "--tls-cert-file",
                     self.tls[0], "--tls-key-file", self.tls[1], "--tls-auth-clients", "no"]
        self.proc = subprocess.Popen(
            [REDIS] + ports + ["--bind", HOST, "--save", "", "--appendonly",
             "no", "--dir", self.tmp] + self.extra,
            stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        wait_for(self.ping, 20, "redis-server on %d" % self.port)
        return self

    def ping(self):
        try:
            if self.tls:
                socket.create_connection((HOST, self.port), timeout=5).close()
                return True
            return self.cmd("PING", auth=False).startswith(b"+PONG") or True
        except OSError:
            return False

    def cmd(self, *args, auth=True, password=None, db=None):
        s = socket.create_connection((HOST, self.port), timeout=5)
        try:
            if password:
                s.sendall(resp_cmd("AUTH", password))
                s.recv(1000)
            if db is not None:
                s.sendall(resp_cmd("SELECT", db))
                s.recv(1000)
            s.sendall(resp_cmd(*args))
            return s.recv(65536)
        finally:
            s.close()

    def url(self, query="", cred=""):
        return "redis://%s%s:%d%s" % (cred, HOST, self.port, query)

    def kill9(self):
        self.proc.kill()
        self.proc.wait()

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
            self.proc.wait()
        if self.proc:
            self.log.close()


class RedisCase(tc.ClusterCase):
    """Nodes with --backplane (and, where asked, a server list); a Redis per class."""
    REDIS_ARGS = ()

    @classmethod
    def setUpNodes(cls):
        cls.redis = Redis(cls.tmp.name, *cls.REDIS_ARGS).start()
        cls.setUpCluster()

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            cls.redis.stop()

    @classmethod
    def node(cls, name, query="", peers=None, cred="", extra=()):
        return cls.start(tc.CNode(name, peers, tcp=False,
                                  extra=["--backplane", cls.redis.url(query, cred)] + list(extra)))

    def wait_up(self, nodes, state="up"):
        wait_for(lambda: all(n.stats()["backplane"]["state"] == state for n in nodes),
                 tc.DEADLINE, "backplane %s on %s" % (state, [n.name for n in nodes]),
                 diag=lambda: "\n".join(n.log_tail(1500) for n in nodes))


class PubSubTests(RedisCase):
    """3 instances that share only a Redis: every selector kind, once, cluster-wide."""

    @classmethod
    def setUpCluster(cls):
        cls.n = [cls.node("p%d" % i) for i in range(3)]

    def test_1_every_selector_once(self):
        self.wait_up(self.n)
        a = self.client(self.n[0], user="ann", group="g1")
        b = self.client(self.n[1], user="bob", group="g1")
        c = self.client(self.n[2], user="cat", group="g2")
        everyone = [a, b, c]
        self.wait_clients({n: 1 for n in self.n})
        m_all, m_user, m_group, m_sel = (tok("all"), tok("user"), tok("group"), tok("sel"))
        self.n[1].send(m_all)
        self.n[0].send(m_user, user="cat")
        self.n[2].send(m_group, group="g1")
        self.n[0].send(m_sel, selector="user-prefix", arg="bo")
        conn = [x for x in self.n[2].clients() if x.get("user") == "cat"]
        m_conn = tok("conn")
        self.assertEqual(len(conn), 1, conn)
        self.n[0].send(m_conn, conn=conn[0]["id"])
        expected = {m_all: everyone, m_user: [c], m_group: [a, b], m_sel: [b], m_conn: [c]}
        self.expect_delivery(everyone, expected)
        st = self.n[0].stats()["backplane"]
        self.assertEqual((st["kind"], st["state"]), ("redis", "up"), st)
        self.assertGreater(st["published"], 0, st)
        for n in self.n:  # no peer links at all: Redis carried everything
            c_ = n.stats()["connections"]
            self.assertEqual(c_["subscriber"] + c_["observable"], 0, c_)
        # /metrics says so too: the Redis backplane up, what it carried, promtool-clean
        from test_metrics import promtool_check, samples, scrape
        for i, n in enumerate(self.n):
            text = scrape(n)[1]
            promtool_check(self, text)
            m = samples(text)
            self.assertEqual(m['wscluster_backplane_state{kind="redis-pubsub"}'], 2)
            self.assertGreater(m['wscluster_forwards_total{direction="in",transport="redis"}'], 0)
            self.assertEqual(m['wscluster_forwards_total{direction="out",transport="mesh"}'], 0)
        self.assertGreaterEqual(samples(scrape(self.n[0])[1])[
            'wscluster_forwards_total{direction="out",transport="redis"}'], 3)

    def test_2_binary_text_and_16_mib(self):
        self.wait_up(self.n)
        readers = [FastReader(n.req_port) for n in self.n]
        for r in readers:
            self.addCleanup(r.close)
        self.wait_clients({n: 1 for n in self.n})
        big = b"R" * 16 + bytes(16 * MIB - 80)
        readers[0].send(big)
        wait_for(lambda: all(len(r.got) >= 1 or r.error for r in readers), 60,
                 "the 16 MiB message everywhere", diag=lambda: [(len(r.got), r.error) for r in readers])
        for r in readers:
            self.assertEqual(r.got, [(OP_BINARY, len(big), big[:16])], r.error)


class TenInstancesTests(RedisCase):
    @classmethod
    def setUpCluster(cls):
        cls.n = [cls.node("t%d" % i) for i in range(10)]

    def test_ten_instances_once_each(self):
        self.wait_up(self.n)
        clients = [self.client(n, user="u%d" % i, group="g%d" % (i % 2))
                   for i, n in enumerate(self.n)]
        self.wait_clients({n: 1 for n in self.n})
        msgs = [tok("ten-%d" % i) for i in range(3)]
        self.n[0].send(msgs[0])
        self.n[5].send(msgs[1])
        self.n[9].post(msgs[2].encode(), "application/octet-stream")
        expected = {m: clients for m in msgs}
        m_user, m_group, m_sel, m_conn = tok("u7"), tok("g1"), tok("sel"), tok("conn")
        self.n[0].send(m_user, user="u7")
        self.n[3].send(m_group, group="g1")
        self.n[8].send(m_sel, selector="user-prefix", arg="u2")
        self.n[1].send(m_conn, conn=self.n[6].clients()[0]["id"])
        expected.update({m_user: [clients[7]], m_group: clients[1::2], m_sel: [clients[2]],
                         m_conn: [clients[6]]})
        self.expect_delivery(clients, expected, opcodes={msgs[0]: OP_TEXT, msgs[2]: OP_BINARY})


class AuthTests(RedisCase):
    """requirepass and an ACL user with only the commands the backplane needs."""
    REDIS_ARGS = ("--requirepass", "rootpw")

    @classmethod
    def setUpCluster(cls):
        r = cls.redis.cmd("ACL", "SETUSER", "wsc", "on", ">wscpw", "resetchannels", "&*",
                          "~*", "+ping", "+publish", "+subscribe", "+select", "+xadd",
                          "+xread", "+xrevrange", "+xinfo|stream", password="rootpw")
        assert r.startswith(b"+OK"), r

    def test_right_and_wrong_credentials(self):
        good = self.node("a1", cred=":rootpw@")
        acl = self.node("a2", cred="wsc:wscpw@")
        bad = self.node("a3", cred="wsc:nope@")
        self.wait_up([good, acl])
        self.wait_log(bad, "redis refused AUTH")
        self.assertEqual(bad.stats()["backplane"]["state"], "down")
        c1, c2 = self.client(good), self.client(acl)
        self.wait_clients({good: 1, acl: 1})
        m = tok("acl")
        acl.send(m)
        self.expect_delivery([c1, c2], {m: [c1, c2]})

    def test_stream_mode_with_an_acl_user(self):
        # on database 2 (SELECT): the stream is a key there, not in database 0
        s1 = self.node("s1", "/2?mode=stream&channel=acl-stream", cred="wsc:wscpw@")
        s2 = self.node("s2", "/2?mode=stream&channel=acl-stream", cred="wsc:wscpw@")
        self.wait_up([s1, s2])
        c1, c2 = self.client(s1), self.client(s2)
        self.wait_clients({s1: 1, s2: 1})
        m = tok("acl-stream")
        s1.send(m)
        self.expect_delivery([c1, c2], {m: [c1, c2]})
        self.assertEqual(self.redis.cmd("EXISTS", "acl-stream", password="rootpw"), b":0\r\n")
        self.assertEqual(self.redis.cmd("EXISTS", "acl-stream", password="rootpw", db=2),
                         b":1\r\n")


class ForgeryTests(RedisCase):
    """Another client of the same Redis PUBLISHes a well-formed FORWARD, unsigned or signed
    with another secret: never delivered, counted, logged once."""

    @classmethod
    def setUpCluster(cls):
        cls.n = [cls.node("f%d" % i) for i in range(2)]

    def test_forged_publish_is_refused(self):
        self.wait_up(self.n)
        clients = [self.client(n) for n in self.n]
        self.wait_clients({n: 1 for n in self.n})
        forged = tc.link_forward("f0", 1 << 60, b"FORGED")
        import hashlib
        import hmac as hm
        for body in (forged, forged + hm.new(b"other", forged, hashlib.sha256).digest(),
                     forged + bytes(32)):
            r = self.redis.cmd("PUBLISH", "wscluster", body)
            self.assertTrue(r.startswith(b":"), r)
        real = tok("real")
        self.n[0].send(real)
        self.expect_delivery(clients, {real: clients})
        for c in clients:
            self.assertEqual(c.containing("FORGED"), [])
        for n in self.n:
            st = n.stats()["backplane"]
            self.assertGreaterEqual(st["refused"], 3, st)
            self.assertEqual(n.log_count("was refused"), 1, n.log_tail())


class FailoverTests(RedisCase):
    """kill -9 Redis during traffic: with a server list the mesh carries on and Redis takes
    over again when it is back, nothing duplicated and nothing lost after the switch;
    without one, drops are counted and delivery resumes."""

    @classmethod
    def setUpCluster(cls):
        cls.list = os.path.join(cls.tmp.name, "peers")
        ports = [fresh_port() for _ in range(2)]
        util.write_file(cls.list, "".join("127.0.0.1:%d\n" % p for p in ports))
        cls.m = [cls.start(tc.CNode("m%d" % i, cls.list, port=p, tcp=False,
                                    extra=["--backplane", cls.redis.url()]))
                 for i, p in enumerate(ports)]
        cls.alone = cls.node("alone", "?channel=other")

    def send_numbered(self, node, prefix, n):
        for i in range(n):
            node.send("%s-%d" % (prefix, i))

    def test_1_kill_and_restart_with_a_server_list(self):
        self.wait_up(self.m)
        util.wait_mesh(self.m)
        a, b = self.client(self.m[0]), self.client(self.m[1])
        self.wait_clients({self.m[0]: 1, self.m[1]: 1})
        self.send_numbered(self.m[0], "before", 20)
        self.redis.kill9()
        self.wait_up(self.m, "down")
        pub0 = self.m[0].stats()["backplane"]["published"]
        fwd0 = self.m[0].stats()["forwarded"]["out"]
        self.send_numbered(self.m[0], "during", 30)  # over the mesh
        wait_for(lambda: b.count("during-29"), tc.DEADLINE, "the mesh carries on")
        st = self.m[0].stats()
        self.assertEqual(st["backplane"]["published"], pub0, st)
        self.assertGreaterEqual(st["forwarded"]["out"] - fwd0, 30, st)
        self.redis.start()
        self.wait_up(self.m)
        self.send_numbered(self.m[0], "after", 20)
        wait_for(lambda: b.count("after-19"), tc.DEADLINE, "Redis carries again")
        time.sleep(tc.DRAIN)
        self.assertGreaterEqual(self.m[0].stats()["backplane"]["published"], pub0 + 20)
        for c in (a, b):
            for pfx, n in (("during", 30), ("after", 20)):
                for i in range(n):
                    self.assertEqual(c.count("%s-%d" % (pfx, i)), 1, (c.label, pfx, i))
            for i in range(20):
                self.assertLessEqual(c.count("before-%d" % i), 1)
        self.assertGreater(self.m[0].log_count("backplane: redis down"), 0)

    def test_2_without_a_server_list_drops_are_counted(self):
        self.wait_up([self.alone])
        dropped0 = self.alone.stats()["forwarded"]["dropped"]
        self.redis.kill9()
        self.wait_up([self.alone], "down")
        for i in range(5):
            self.alone.send("lost-%d" % i)
        st = self.alone.stats()
        self.assertGreaterEqual(st["forwarded"]["dropped"] - dropped0, 5, st)
        self.redis.start()
        self.wait_up([self.alone])


class StoppedRedisTests(RedisCase):
    """SIGSTOP Redis: the instances notice within the heartbeat, fail over (or drop), and
    hold bounded memory however much is sent meanwhile."""

    @classmethod
    def setUpCluster(cls):
        cls.n = [cls.node("x%d" % i) for i in range(2)]

    def test_stopped_redis_bounded(self):
        self.wait_up(self.n)
        c = self.client(self.n[1])
        self.wait_clients({self.n[1]: 1})
        base = [rss(n.proc.pid) for n in self.n]
        self.redis.signal(signal.SIGSTOP)
        try:
            body = b"s" * (256 * 1024)
            for i in range(120):  # 30 MiB while Redis does not read, from both instances
                self.n[i % 2].post(body, "application/octet-stream")
            self.wait_up(self.n, "down")
            for n, b in zip(self.n, base):  # every instance holds a bounded amount
                growth = rss(n.proc.pid) - b
                self.assertLess(growth, 40 * MIB, "%s: RSS grew %.1f MiB" % (n.name, growth / MIB))
        finally:
            self.redis.signal(signal.SIGCONT)
        self.wait_up(self.n)
        m = tok("back")
        self.n[0].send(m)
        c.wait_got(m)


class StreamTests(RedisCase):
    """mode=stream: an instance stopped for 3 s gets what was sent meanwhile, in order, once;
    with history trimmed past it, the gap is reported."""

    @classmethod
    def setUpCluster(cls):
        cls.s = [cls.node("s%d" % i, "?mode=stream&channel=st") for i in range(2)]
        cls.t = [cls.node("t%d" % i, "?mode=stream&channel=trim&maxlen=10") for i in range(2)]

    def test_1_stopped_instance_catches_up(self):
        self.wait_up(self.s)
        r = FastReader(self.s[1].req_port)
        self.addCleanup(r.close)
        self.wait_clients({self.s[1]: 1})
        self.s[1].send_signal(signal.SIGSTOP)
        try:
            for i in range(0, 1000, 50):
                self.s[0].post(b"".join(b"%04d\n" % k for k in range(i, i + 50)),
                               "application/octet-stream")  # warm-up the stream
            t0 = time.monotonic()
            for i in range(1000):
                self.s[0].send("m%04d" % i)
            time.sleep(max(0, 3 - (time.monotonic() - t0)))
        finally:
            self.s[1].send_signal(signal.SIGCONT)
        wait_for(lambda: sum(1 for g in r.got if g[2].startswith(b"m")) >= 1000 or r.error,
                 60, "1000 messages after the stop", diag=lambda: (len(r.got), r.error))
        got = [g[2].rstrip(b"\0")[:5] for g in r.got if g[2].startswith(b"m")]
        time.sleep(tc.DRAIN)
        got = [g[2][:5] for g in r.got if g[2].startswith(b"m")]
        self.assertEqual(got, [b"m%04d" % i for i in range(1000)])

    def test_2_trimmed_history_raises_the_gap(self):
        self.wait_up(self.t)
        self.t[1].send_signal(signal.SIGSTOP)
        try:
            for i in range(600):
                self.t[0].send("trim-%d" % i)
            time.sleep(max(0.0, (tc.HB_MS + tc.HB_TIMEOUT_MS) / 1000.0))
        finally:
            self.t[1].send_signal(signal.SIGCONT)
        self.wait_log(self.t[1], "was trimmed past entry")
        log = self.t[1].log_text()
        lost = [int(x) for x in __import__("re").findall(r": (\d+) message\(s\) lost", log)]
        self.assertTrue(lost and 0 < sum(lost) <= 600, log[-2000:])  # counted (Redis 7)
        self.assertIn("history trimmed", log)


class RedissTests(util.NodesCase):
    """rediss://: the backplane over TLS (the TLS build), the server verified against the CA
    (its certificate names 127.0.0.1 by IP address only)."""

    @classmethod
    def setUpNodes(cls):
        c = tt.certs()
        cls.redis = Redis(cls.tmp.name, tls=(c.ip4, c.ip4_key)).start()

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            cls.redis.stop()

    def tls_node(self, name, ca):
        url = "rediss://%s:%d" % (HOST, self.redis.port)
        return self.start(util.Node("--id", name, "--backplane", url, "--tls-ca", ca,
                                    binary=tt.NODE_TLS_BIN, name=name,
                                    env={"WSCLUSTER_SECRET": tc.SECRET}))

    def test_rediss_verified(self):
        a = self.tls_node("tls-a", tt.certs().ca)
        b = self.tls_node("tls-b", tt.certs().ca)
        rogue = self.tls_node("tls-rogue", tt.certs().other_ca)
        for n in (a, b):
            wait_for(lambda n=n: get_stats(n.ws_port)["backplane"]["state"] == "up", tc.DEADLINE,
                     "rediss up on %s" % n.name, diag=lambda n=n: n.log_tail())
        ws = util.RawWS(b.ws_port, "/ws")
        self.addCleanup(ws.close)
        wait_for(lambda: get_stats(b.ws_port)["connections"]["client"] == 1, tc.DEADLINE, "client")
        m = tok("over-tls")
        util.http_request(a.ws_port, "GET", "/send?msg=" + m)
        self.assertEqual(ws.recv_message(timeout=10), (OP_TEXT, m.encode()))
        wait_for(lambda: "TLS handshake" in rogue.log_text(), tc.DEADLINE, "the rogue's TLS failure",
                 diag=rogue.log_tail)
        self.assertEqual(get_stats(rogue.ws_port)["backplane"]["state"], "down")


class BadUrlTests(unittest.TestCase):
    """The backplane URL is checked at start: each bad one stops the node with its reason."""

    def test_bad_urls_refused_at_start(self):
        from test_attacks import run_node
        cases = [("http://127.0.0.1:6379", "not redis://"), ("redis://", "not redis://"),
                 ("redis://127.0.0.1:99999", "not redis://"),
                 ("redis://user@127.0.0.1", "[user]:password@"),
                 ("redis://127.0.0.1?mode=queue", "pubsub or stream"),
                 ("redis://127.0.0.1?maxlen=0", "maxlen"),
                 ("redis://127.0.0.1?channel=", "channel must be 1-127 bytes"),
                 ("redis://127.0.0.1?channel=" + "c" * 200, "channel must be 1-127 bytes")]
        for url, why in cases:
            with self.subTest(url=url):
                rc, err = run_node("--backplane", url)
                self.assertNotIn(rc, (0, None), err)
                self.assertIn(why, err)


def tearDownModule():
    tt.tearDownModule()


if __name__ == "__main__":
    util.main()
