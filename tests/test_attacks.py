#!/usr/bin/env python3
"""Attacks on bounds and trust (issue 9): real wscluster-node processes, real sockets, the
node's own log and /stats as evidence. Each test names the finding it guards; each failed
against f85dc96/9b5379e and passes now."""
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import util  # noqa: E402
import test_cluster as tc  # noqa: E402  (its cluster node; a module, so no tests of it run here)
from util import HOST, NODE_BIN, REPO, free_port  # noqa: E402


def run_node(*args, timeout=5):
    """Start a node that is expected to refuse its options: (exit status, stderr); the status
    is None when it did not exit within timeout s (it took the options)."""
    try:
        p = subprocess.run([NODE_BIN, "--listen", "%s:%d" % (HOST, free_port())] + list(args),
                           cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        return None, (e.stderr or b"").decode("utf-8", "replace")
    return p.returncode, p.stderr.decode("utf-8", "replace")


class WireLengthTests(util.NodesCase):
    """10: lengths that go on the wire are checked where they are configured; a 225-character
    advertised host used to wrap the HELLO's one-byte length, the HELLO no longer parsed and
    a TCP peer broadcast it (secret included) as chat."""

    def test_long_advertise_refused_at_start(self):
        host = "a" * 250  # the advertised URL would be 270 bytes: its length byte wrapped
        rc, err = run_node("--advertise", "%s:9000" % host, "--secret", "s3cret",
                           "--peers", os.devnull)
        self.assertNotIn(rc, (0, None), err)
        self.assertIn("advertise", err)
        self.assertIn("255", err)

    def test_long_secret_refused_at_start(self):
        rc, err = run_node("--secret", "k" * 300, "--peers", os.devnull)
        self.assertNotIn(rc, (0, None), err)
        self.assertIn("secret is 300 bytes", err)
        self.assertNotIn("k" * 20, err)  # and never logged

    def test_longest_allowed_lengths_still_link(self):
        # a 255-byte secret and the longest advertise that fits: the two nodes still link
        pf = os.path.join(self.tmp.name, "peers")
        a, b = (tc.CNode(n, peers_file=pf, secret="s" * 255, tcp=False) for n in ("len-a", "len-b"))
        tc.write_file(pf, tc.peers_text([a.entry, b.entry]))
        self.start(a)
        self.start(b)
        util.wait_mesh([a, b])


if __name__ == "__main__":
    unittest.main(verbosity=1)
