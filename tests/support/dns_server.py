"""An authoritative DNS server for the tests, built on dnslib's server.

Serves the records of a JSON file, read again on every query, so a test can publish a record
late or remove it: {"name.": {"TXT": ["..."], "A": ["127.0.0.1"]}, "alias.": {"CNAME": "name."}}.
An alias is followed inside the zone.
Unknown names answer NXDOMAIN; known names without the type asked answer NOERROR, empty.

    python3 dns_server.py --port PORT --zone FILE
"""

import argparse
import json
import time

from dnslib import QTYPE, RCODE, RR, A, AAAA, CNAME, TXT
from dnslib.server import BaseResolver, DNSLogger, DNSServer


class FileResolver(BaseResolver):
    def __init__(self, path):
        self.path = path

    def records(self):
        try:
            with open(self.path) as f:
                return {k.lower().rstrip("."): v for k, v in json.load(f).items()}
        except (OSError, ValueError):
            return {}

    def resolve(self, request, handler):
        reply = request.reply()
        name = str(request.q.qname).lower().rstrip(".")
        qtype = QTYPE[request.q.qtype]
        zone = self.records()
        if name not in zone:
            reply.header.rcode = RCODE.NXDOMAIN
            return reply
        owner, entry = request.q.qname, zone[name]
        if "CNAME" in entry:
            reply.add_answer(RR(owner, QTYPE.CNAME, rdata=CNAME(entry["CNAME"]), ttl=0))
            if qtype == "CNAME":
                return reply
            # Follow the alias inside the zone, as an authoritative server does.
            owner = entry["CNAME"]
            entry = zone.get(owner.lower().rstrip("."), {})
        if qtype == "TXT":
            for value in entry.get("TXT", []):
                reply.add_answer(RR(owner, QTYPE.TXT, rdata=TXT(value), ttl=0))
        if qtype in ("A", "ANY"):
            for ip in entry.get("A", []):
                reply.add_answer(RR(owner, QTYPE.A, rdata=A(ip), ttl=0))
        if qtype in ("AAAA", "ANY"):
            for ip in entry.get("AAAA", []):
                reply.add_answer(RR(owner, QTYPE.AAAA, rdata=AAAA(ip), ttl=0))
        return reply


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--zone", required=True)
    args = parser.parse_args()
    resolver = FileResolver(args.zone)
    logger = DNSLogger("-request,-reply,-truncated,-error,-recv,-send,-data")
    for tcp in (False, True):
        DNSServer(resolver, port=args.port, address="127.0.0.1", tcp=tcp, logger=logger).start_thread()
    print("ready", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
