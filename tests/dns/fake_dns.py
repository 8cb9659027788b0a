"""A test DNS server (dnslib) for the resolver tests, on 127.0.0.1 only.

Serves a zone file like dnslib.zoneresolver, plus what that one cannot do:
  - NODATA (NOERROR, SOA in the authority section) for a name that exists with other types;
  - NXDOMAIN with the SOA, for negative-caching TTLs;
  - SERVFAIL for names under servfail.<zone>;
  - no answer at all for names under timeout.<zone>.
Usage: fake_dns.py ZONEFILE PORT [--tcp] [--udplen N] [--log-queries FILE]
  --log-queries FILE: append "name type" (e.g. "example.test. TXT") per query received.
"""
import sys
import threading
import time

from dnslib import QTYPE, RCODE, RR, DNSRecord
from dnslib.server import BaseResolver, DNSHandler, DNSLogger, DNSServer


class Resolver(BaseResolver):
    def __init__(self, zone_text, query_log=None):
        self.rrs = RR.fromZone(zone_text)
        self.soa = [rr for rr in self.rrs if rr.rtype == QTYPE.SOA]
        self.query_log = query_log
        self.log_lock = threading.Lock()

    def resolve(self, request, handler):
        reply = request.reply()
        qname = request.q.qname
        name = str(qname).lower()
        if self.query_log:
            with self.log_lock, open(self.query_log, "a") as f:
                f.write("%s %s\n" % (name, QTYPE.get(request.q.qtype)))
        if name.startswith("timeout."):
            time.sleep(30)  # the client gives up first
            return None
        if name.startswith("servfail."):
            reply.header.rcode = RCODE.SERVFAIL
            return reply
        matches = [rr for rr in self.rrs if str(rr.rname).lower() == name]
        answers = [rr for rr in matches if rr.rtype == request.q.qtype]
        if answers:
            for rr in answers:
                reply.add_answer(rr)
            return reply
        if not matches:
            reply.header.rcode = RCODE.NXDOMAIN
        for rr in self.soa:
            reply.add_auth(rr)
        return reply


def main():
    zone, port = sys.argv[1], int(sys.argv[2])
    tcp = "--tcp" in sys.argv
    udplen = 0
    if "--udplen" in sys.argv:
        udplen = int(sys.argv[sys.argv.index("--udplen") + 1])
    query_log = None
    if "--log-queries" in sys.argv:
        query_log = sys.argv[sys.argv.index("--log-queries") + 1]
    resolver = Resolver(open(zone).read(), query_log)

    class Handler(DNSHandler):
        # Answers longer than `udplen` go out over UDP as a real server sends them:
        # header with TC set and the question kept (dnslib's own truncate() drops the
        # question, which resolvers rightly ignore).
        def get_reply(self, data):
            request = DNSRecord.parse(data)
            reply = self.server.resolver.resolve(request, self)
            if reply is None:
                return b""
            rdata = reply.pack()
            if self.protocol == "udp" and udplen and len(rdata) > udplen:
                short = request.reply()
                short.header.tc = 1
                short.header.rcode = reply.header.rcode
                rdata = short.pack()
            return rdata
    quiet = DNSLogger("-request,-reply,-truncated,-error,-recv,-send,-data")
    servers = [DNSServer(resolver, port=port, address="127.0.0.1", tcp=False, handler=Handler, logger=quiet)]
    if tcp:
        servers.append(DNSServer(resolver, port=port, address="127.0.0.1", tcp=True, logger=quiet))
    for s in servers:
        s.start_thread()
    print("ready", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
