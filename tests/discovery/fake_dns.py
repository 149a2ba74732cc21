#!/usr/bin/python3
"""A tiny authoritative DNS server for tests: answers SRV and A queries from a table over UDP.

Usage: fake_dns.py --port P [--host 127.0.0.1] --zone FILE
The zone file has one record per line:  NAME SRV PRIORITY WEIGHT PORT TARGET
                                   or:  NAME A ADDRESS
                                   or:  NAME SERVFAIL      (every query for NAME fails)
Names are case-insensitive, without the trailing dot. A query for a name with no record of that
type gets NOERROR and no answer when the name has other records, NXDOMAIN otherwise. The file is
read again before each answer, so a test can change the records of a running server. Prints
"ready <port>" once listening and every query it answers on stderr ("query NAME TYPE -> RCODE").
"""
import argparse
import socket
import struct
import sys

TYPE_A, TYPE_SRV = 1, 33
TYPE_NAMES = {1: "A", 28: "AAAA", 33: "SRV", 5: "CNAME"}
RCODE_OK, RCODE_SERVFAIL, RCODE_NXDOMAIN = 0, 2, 3


def read_zone(path):
    zone = {}
    with open(path) as f:
        for line in f:
            parts = line.split()
            if not parts or parts[0].startswith("#"):
                continue
            zone.setdefault(parts[0].lower().rstrip("."), []).append(parts[1:])
    return zone


def encode_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def parse_question(packet):
    """(id, flags, qname, qtype, end of the question) of a query."""
    qid, flags, qdcount = struct.unpack("!HHH", packet[:6])
    if qdcount < 1:
        raise ValueError("no question")
    pos, labels = 12, []
    while packet[pos] != 0:
        n = packet[pos]
        labels.append(packet[pos + 1:pos + 1 + n].decode("ascii", "replace"))
        pos += 1 + n
    pos += 1
    qtype, _qclass = struct.unpack("!HH", packet[pos:pos + 4])
    return qid, flags, ".".join(labels), qtype, pos + 4


def answer(packet, zone):
    qid, flags, qname, qtype, qend = parse_question(packet)
    records = zone.get(qname.lower().rstrip("."))
    answers = []
    rcode = RCODE_OK
    if records is None:
        rcode = RCODE_NXDOMAIN
    elif any(r[0] == "SERVFAIL" for r in records):
        rcode = RCODE_SERVFAIL
    else:
        for r in records:
            if r[0] == "SRV" and qtype == TYPE_SRV:
                prio, weight, port = (int(x) for x in r[1:4])
                rdata = struct.pack("!HHH", prio, weight, port) + encode_name(r[4])
                answers.append((TYPE_SRV, rdata))
            elif r[0] == "A" and qtype == TYPE_A:
                answers.append((TYPE_A, socket.inet_aton(r[1])))
    rd = flags & 0x0100
    out = struct.pack("!HHHHHH", qid, 0x8000 | 0x0400 | rd | 0x0080 | rcode, 1, len(answers), 0, 0)
    out += packet[12:qend]
    for rtype, rdata in answers:
        out += struct.pack("!HHHIH", 0xC00C, rtype, 1, 30, len(rdata)) + rdata
    return out, qname, qtype, rcode


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--zone", required=True)
    args = ap.parse_args()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((args.host, args.port))
    print("ready %d" % sock.getsockname()[1], file=sys.stderr, flush=True)
    while True:
        packet, peer = sock.recvfrom(4096)
        try:
            out, qname, qtype, rcode = answer(packet, read_zone(args.zone))
        except (ValueError, IndexError, struct.error, OSError) as e:
            print("bad query: %s" % e, file=sys.stderr, flush=True)
            continue
        print("query %s %s -> %d" % (qname, TYPE_NAMES.get(qtype, qtype), rcode), file=sys.stderr, flush=True)
        sock.sendto(out, peer)


if __name__ == "__main__":
    main()
