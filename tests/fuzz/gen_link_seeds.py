#!/usr/bin/env python3
"""Writes the seeds of fuzz_link (tests/fuzz/seeds/link/): one message of each kind of the
link format (FORWARDING FORMAT in wscluster.h), version 2, and one version-1 HELLO (the
format before the handshake, which the parser must refuse). Deterministic: re-running it
changes nothing. Run: /usr/bin/python3 tests/fuzz/gen_link_seeds.py"""
import hashlib
import hmac
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "seeds", "link")
V = b"\x02"


def str8(s):
    return bytes([len(s)]) + s


def str16(s):
    return struct.pack("!H", len(s)) + s


def proof(label, nonce_s, nonce_o, node_s, node_o, secret=b"secret"):
    return hmac.new(secret, label + nonce_s + nonce_o + str8(node_s) + str8(node_o),
                    hashlib.sha256).digest()


def forward(origin, msg_id, opcode, target, payload):
    return (V + b"F" + str8(origin) + struct.pack("!QB", msg_id, opcode) + target
            + struct.pack("!I", len(payload)) + payload)


nonce_s = bytes(range(32))
nonce_o = bytes(range(0x80, 0xA0))
def summary(node, links):
    """SUMMARY: node, uptime, 4 x u32 connections, 12 x u64 counters, backplane kind and
    state, then each link: str8 node, flags, u32 rtt_us, u32 reconnects."""
    return (V + b"S" + str8(node) + struct.pack("!Q", 123456) + struct.pack("!4I", 0, 3, 2, 2)
            + struct.pack("!12Q", *range(1, 13)) + b"\x01\x02" + bytes([len(links)])
            + b"".join(str8(n) + struct.pack("!BII", f, r, c) for n, f, r, c in links))


seeds = {
    "hello": V + b"H" + str8(b"node-2") + str8(b"ws://127.0.0.1:8082/wscluster") + nonce_s,
    "welcome": V + b"W" + str8(b"node-1") + nonce_o
               + proof(b"wscluster-o", nonce_s, nonce_o, b"node-2", b"node-1"),
    "auth": V + b"A" + proof(b"wscluster-s", nonce_s, nonce_o, b"node-2", b"node-1"),
    "forward": forward(b"node-1", 42, 1, b"\x01\x02" + str8(b"chan") + str16(b"chat")
                       + str8(b"user") + str16(b"al"), b"hello"),
    "conn": forward(b"n1", 7, 2, b"\x02" + str8(b"n3") + struct.pack("!Q", 5), b"\x00\x01\x02"),
    "named": forward(b"n1", 8, 1, b"\x03" + str8(b"user-prefix") + str16(b"al"), b"hi"),
    "summary": summary(b"node-1", [(b"node-2", 3, 180, 0), (b"node-3", 1, 0xFFFFFFFF, 4)]),
    "hello-v1": b"\x01H" + str8(b"node-2") + str8(b"ws://127.0.0.1:8082/wscluster")
                + str8(b"secret"),
}
for name, data in seeds.items():
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)
