"""The operator's view of a cluster: GET /metrics (Prometheus text format 0.0.4, checked line
by line by Debian's promtool) and the live view's data (the WebSocket on /cluster, fed by the
SUMMARY each instance sends down its links every heartbeat), on real wscluster-node
processes killed and restarted.

Run: /usr/bin/python3 tests/test_metrics.py   (WSC_NODE_BIN as the other suites; promtool
from the prometheus package: sh tests/deps.sh installs it)."""

import asyncio
import json
import os
import re
import shutil
import subprocess
import time

import util
from util import HOST, get_stats, http_request, main, tok, wait_for, wait_mesh, write_file
from test_cluster import DEADLINE, SLACK, HB_TIMEOUT_MS, ClusterCase, CNode

PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$')


def scrape(node, headers=None, path="/metrics"):
    status, hdrs, body = http_request(node.req_port, "GET", path, headers=headers)
    if status != 200:
        raise AssertionError("GET %s on %s: %d %r" % (path, node.name, status, body[:200]))
    return hdrs, body.decode()


def samples(text):
    """{'name{labels}': value} of every sample line; AssertionError on a line that is neither
    a comment nor a sample."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        if not m:
            raise AssertionError("not a sample line: %r" % line)
        out[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return out


def promtool_check(testcase, text):
    """promtool check metrics: exit 0 and nothing to say (no lint finding)."""
    r = subprocess.run([PROMTOOL, "check", "metrics"], input=text.encode(), capture_output=True,
                       timeout=60)
    testcase.assertEqual((r.returncode, r.stdout.decode() + r.stderr.decode()), (0, ""),
                         "promtool on:\n" + text)


def view(node, query="", timeout=DEADLINE):
    """The first JSON picture the /cluster WebSocket of node sends."""
    import websockets

    async def go():
        async with websockets.connect("ws://%s:%d/cluster%s" % (HOST, node.req_port, query),
                                      open_timeout=timeout) as ws:
            return json.loads(await asyncio.wait_for(ws.recv(), timeout))
    return util.run_async(go(), timeout + 5)


def instances(picture):
    return {i["node"]: i for i in picture["instances"]}


def view_problems(picture, names):
    """What keeps a picture from showing names all up, each with its links up to the others
    (as each instance itself reports them)."""
    problems = []
    inst = instances(picture)
    if sorted(inst) != sorted(names) or len(picture["instances"]) != len(names):
        return ["instances shown: %r" % [i["node"] for i in picture["instances"]]]
    for n in names:
        i = inst[n]
        if i["state"] != "up":
            problems.append("%s is %s" % (n, i["state"]))
            continue
        links = {l["peer"]: l for l in i["links"]}
        for m in names:
            if m == n:
                continue
            l = links.get(m)
            if not l or not l["sub"] or not l["obs"]:
                problems.append("%s's link to %s: %r" % (n, m, l))
    return problems


class ThreeCase(ClusterCase):
    """Three instances, NAMES, sharing one server list, meshed before the tests."""
    NAMES = ()

    @classmethod
    def setUpCluster(cls):
        cls.peers_file = os.path.join(cls.tmp.name, "peers")
        ns = [CNode(name, peers_file=cls.peers_file) for name in cls.NAMES]
        write_file(cls.peers_file, "\n".join(n.entry for n in ns) + "\n")
        cls.N = [cls.start(n) for n in ns]
        wait_mesh(cls.N)


class MetricsTests(ThreeCase):
    """Three instances; /metrics on each, its counters moved by real traffic."""

    NAMES = ("m1", "m2", "m3")

    def setUp(self):
        wait_mesh(self.N)

    def test_every_line_passes_promtool_and_counters_move(self):
        a, b, c = self.N
        before = [samples(scrape(n)[1]) for n in self.N]
        hdrs, text = scrape(a)
        self.assertTrue(hdrs["content-type"].startswith("text/plain; version=0.0.4"), hdrs)
        promtool_check(self, text)
        for name in ("connections", "messages_total", "bytes_total", "deliveries_total",
                     "forwards_total", "drops_total", "duplicates_total", "closed_total",
                     "memory_held_bytes", "memory_limit_bytes", "backplane_state",
                     "peer_link_up", "peer_reconnects_total", "peer_heartbeat_rtt_seconds"):
            self.assertIn("# TYPE wscluster_%s " % name, text)
        s = before[0]
        self.assertEqual(s['wscluster_info{node="m1"}'], 1)
        self.assertEqual(s['wscluster_backplane_state{kind="mesh"}'], 0)
        for peer in ("m2", "m3"):
            for link in ("subscriber", "observable"):
                self.assertEqual(s['wscluster_peer_link_up{peer="%s",link="%s"}' % (peer, link)], 1)
        # traffic: 5 chat messages from a WebSocket client of m1, 1 from a TCP client of m2
        ca, cb, cc = (self.client(n, user="u-" + n.name) for n in self.N)
        ct = self.client(b, "tcp")
        self.wait_clients({a: 1, b: 2, c: 1})
        sent = [tok("m") for _ in range(5)]
        for t in sent:
            ca.send_text(t)
        t_tcp = tok("tcp")
        ct.send_text(t_tcp)
        self.expect_delivery([ca, cb, cc, ct], {t: [ca, cb, cc, ct] for t in sent + [t_tcp]})
        after = [samples(scrape(n)[1]) for n in self.N]

        def moved(i, key):
            return after[i][key] - before[i].get(key, 0)
        self.assertEqual(moved(0, 'wscluster_messages_total{direction="in"}'), 5)
        self.assertEqual(moved(0, 'wscluster_messages_total{direction="out"}'), 5)
        self.assertEqual(moved(0, 'wscluster_forwards_total{direction="out",transport="mesh"}'),
                         10)  # each message down 2 links
        self.assertEqual(moved(0, 'wscluster_forwards_total{direction="in",transport="mesh"}'), 1)
        self.assertEqual(moved(1, 'wscluster_forwards_total{direction="in",transport="mesh"}'), 5)
        self.assertEqual(moved(2, 'wscluster_forwards_total{direction="in",transport="mesh"}'), 6)
        self.assertEqual(moved(1, 'wscluster_messages_total{direction="in"}'), 1)
        # m1's one client got all 6, its links 2 x 5; m2's two clients 6 each, its links 2 x 1
        self.assertEqual(moved(0, "wscluster_deliveries_total"), 6 + 10)
        self.assertEqual(moved(1, "wscluster_deliveries_total"), 12 + 2)
        self.assertGreaterEqual(moved(0, 'wscluster_bytes_total{direction="in"}'),
                                sum(len(t) for t in sent))
        self.assertGreater(moved(0, 'wscluster_bytes_total{direction="out"}'), 0)
        self.assertEqual(after[0]['wscluster_connections{class="client",protocol="ws"}'], 1)
        self.assertEqual(after[1]['wscluster_connections{class="client",protocol="tcp"}'], 1)
        self.assertEqual(after[1]['wscluster_connections{class="client",protocol="ws"}'], 1)
        self.assertEqual(after[0]['wscluster_connections{class="subscriber",protocol="ws"}'], 2)
        for i in range(3):
            self.assertEqual(moved(i, "wscluster_duplicates_total"), 0)
            self.assertEqual(moved(i, 'wscluster_drops_total{reason="unreachable"}'), 0)
        # heartbeats: a histogram per peer, cumulative, its +Inf bucket its count
        for i, n in enumerate(self.N):
            for peer in {"m1", "m2", "m3"} - {n.name}:
                key = 'wscluster_peer_heartbeat_rtt_seconds_%s{peer="%s"%s}'
                count = after[i][key % ("count", peer, "")]
                self.assertGreater(count, 0)
                buckets = [v for k, v in after[i].items() if k.startswith(
                    'wscluster_peer_heartbeat_rtt_seconds_bucket{peer="%s",' % peer)]
                self.assertEqual(buckets, sorted(buckets))
                self.assertEqual(after[i][key % ("bucket", peer, ',le="+Inf"')], count)
                self.assertGreater(after[i][key % ("sum", peer, "")], 0)
        promtool_check(self, scrape(b)[1])
        promtool_check(self, scrape(c)[1])

    def test_killed_peer_shows_down_then_drops_then_up(self):
        a, b, c = self.N
        ca = self.client(a, user="killer")
        self.wait_clients({a: 1})
        c.killed_on_purpose = True
        c.kill()
        key_up = 'wscluster_peer_link_up{peer="m3",link="subscriber"}'
        wait_for(lambda: samples(scrape(a)[1])[key_up] == 0,
                 HB_TIMEOUT_MS / 1000 + SLACK + 5, "m3 shown down on m1")
        before = samples(scrape(a)[1])
        ca.send_text(tok("lost-for-m3"))
        wait_for(lambda: samples(scrape(a)[1])['wscluster_drops_total{reason="unreachable"}']
                 > before['wscluster_drops_total{reason="unreachable"}'], DEADLINE,
                 "an unreachable drop counted")
        n3 = CNode("m3", peers_file=self.peers_file, port=c.req_port, tcp_port=c.req_tcp_port)
        self.N[2] = self.start(n3)
        wait_mesh(self.N)
        s = samples(scrape(a)[1])
        self.assertEqual(s[key_up], 1)
        self.assertGreaterEqual(s['wscluster_peer_reconnects_total{peer="m3"}'], 1)
        promtool_check(self, scrape(a)[1])


class TokenTests(ClusterCase):
    """--api-token guards /metrics, the view page and its WebSocket like /stats."""

    @classmethod
    def setUpCluster(cls):
        cls.token = tok("tkn")
        cls.n = cls.start(CNode("t1", extra=["--api-token", cls.token]))

    def test_token_rule(self):
        n = self.n
        for path in ("/metrics", "/cluster"):
            status, hdrs, _ = http_request(n.req_port, "GET", path)
            self.assertEqual(status, 401, path)
            self.assertIn("bearer", hdrs.get("www-authenticate", "").lower())
            status, _, _ = http_request(n.req_port, "GET", path + "?token=wrong")
            self.assertEqual(status, 401, path)
        _, text = scrape(n, headers={"Authorization": "Bearer " + self.token})
        promtool_check(self, text)
        _, text = scrape(n, path="/metrics?token=" + self.token)
        self.assertIn("wscluster_info", text)
        hdrs, page = scrape(n, path="/cluster?token=" + self.token)
        self.assertIn("text/html", hdrs["content-type"])
        self.assertIn("<title>wscluster", page)
        status = _upgrade_status(n.req_port, "/cluster")
        self.assertEqual(status, 401)
        pic = view(n, "?token=" + self.token)
        self.assertEqual([i["node"] for i in pic["instances"]], ["t1"])
        self.assertEqual(pic["instances"][0]["state"], "up")


def _upgrade_status(port, path):
    """The status line of a WebSocket upgrade of path, read raw."""
    sock = util.connect(port)
    try:
        sock.sendall(util.upgrade_request(path))
        return util.read_http_head(sock)[0]
    finally:
        sock.close()


class ViewTests(ThreeCase):
    """The /cluster WebSocket: every instance, as reported by its own summary, and the death
    and return of one."""

    NAMES = ("v1", "v2", "v3")

    def wait_view(self, node, pred, what, timeout=DEADLINE):
        last = []

        def ok():
            last[:] = [view(node)]
            return pred(last[0])
        wait_for(ok, timeout, what, diag=lambda: json.dumps(last[0] if last else None)[:3000])
        return last[0]

    def test_whole_cluster_on_every_instance_then_kill_and_restart(self):
        names = ["v1", "v2", "v3"]
        for n in self.N:
            pic = self.wait_view(n, lambda p: not view_problems(p, names),
                                 "%s shows every instance up" % n.name)
            self.assertEqual(pic["self"], n.name)
            me = pic["instances"][0]
            self.assertTrue(me["self"])
            self.assertEqual(me["node"], n.name)
            self.assertEqual(me["clients"]["subscriber"], 2)
            self.assertEqual(me["memory"]["max"], 268435456)
            for i in pic["instances"][1:]:  # summaries are at most a heartbeat or so old
                self.assertLess(i["age_ms"], HB_TIMEOUT_MS + SLACK * 1000)
                self.assertTrue(all(l["rtt_ms"] is None or l["rtt_ms"] >= 0 for l in i["links"]))
        v1, v2, v3 = self.N
        v2.killed_on_purpose = True
        t0 = time.monotonic()
        v2.kill()
        self.wait_view(v1, lambda p: instances(p)["v2"]["state"] == "down" and not any(
            l["sub"] for l in instances(p)["v3"]["links"] if l["peer"] == "v2"),
            "v2 down on v1's view, also in v3's summary", HB_TIMEOUT_MS / 1000 + SLACK + 8)
        took = time.monotonic() - t0
        self.assertLess(took, HB_TIMEOUT_MS / 1000 + SLACK + 8)
        self.N[1] = self.start(CNode("v2", peers_file=self.peers_file, port=v2.req_port,
                                     tcp_port=v2.req_tcp_port))
        wait_mesh(self.N)
        self.wait_view(v1, lambda p: not view_problems(p, names), "v2 up again on v1's view")
        self.wait_view(v3, lambda p: not view_problems(p, names), "v2 up again on v3's view")

    def test_view_counts_chat_traffic(self):
        v1, v2, v3 = self.N
        c3 = self.client(v3, user="talker")
        self.wait_clients({v3: 1})
        pic = self.wait_view(v1, lambda p: instances(p)["v3"]["state"] == "up",
                             "v3's summary on v1's view")
        base = instances(pic)["v3"]["msgs"]["in"]
        for _ in range(4):
            c3.send_text(tok("hello"))
        self.wait_view(v1, lambda p: instances(p)["v3"]["msgs"]["in"] >= base + 4,
                       "v3's message count moves on v1's view")

    def test_view_socket_ignores_what_it_is_sent(self):
        import websockets
        v1 = self.N[0]
        listener = self.client(v1, user="listener")
        self.wait_clients({v1: 1})

        async def go():
            async with websockets.connect("ws://%s:%d/cluster" % (HOST, v1.req_port)) as ws:
                await ws.recv()
                await ws.send("not for the chat")
                await ws.recv()  # the next picture: the socket lives on
        util.run_async(go(), DEADLINE)
        time.sleep(0.5)
        self.assertEqual(listener.count("not for the chat"), 0)


if __name__ == "__main__":
    main()
