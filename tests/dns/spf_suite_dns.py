"""Serves one scenario of the OpenSPF YAML suite over real DNS on 127.0.0.1, the way
the suite's reference driver (pyspf's testspf.py) answers from its zonedata:
  - SPF entries are served as TXT unless the name has TXT entries of its own
    (type 99 is not queried: RFC 7208 3.1); "NONE" values are dropped;
  - a bare TIMEOUT reached before any entry of the asked type, or a TIMEOUT value for
    the type, is no answer at all (the resolver times out); so is any name under error.;
  - a name absent from the zone is NXDOMAIN; present without the type, NODATA;
  - a CNAME is answered with the target's records of the asked type, one level deep.
Usage: spf_suite_dns.py SUITE.yml SCENARIO_INDEX PORT
"""
import socket
import sys
import time

import yaml
from dnslib import AAAA, CNAME, MX, PTR, QTYPE, RCODE, RR, TXT, A, DNSLabel
from dnslib.server import BaseResolver, DNSLogger, DNSServer


def entries(zonedata):
    zone = {}
    for name, items in zonedata.items():
        out, generated, own_txt = [], [], False
        for item in items:
            if isinstance(item, str):
                out.append(("", item))
                continue
            for t, v in item.items():
                if t == "TXT":
                    own_txt = True
                if t in ("TXT", "SPF") and not isinstance(v, list):
                    v = [v]
                if v == ["NONE"]:
                    continue
                if t == "SPF":
                    generated.append(("TXT", v))
                    continue
                out.append((t, v))
        if not own_txt:
            out.extend(generated)
        zone[name.lower().rstrip(".")] = out
    return zone


def rdata(t, v):
    if t == "A":
        return A(v)
    if t == "AAAA":
        return AAAA(v)
    if t == "MX":
        return MX(v[1], v[0])
    if t == "PTR":
        return PTR(v)
    if t == "CNAME":
        return CNAME(v)
    if t == "TXT":
        return TXT([s.encode("utf-8") for s in v])
    raise ValueError(t)


class Resolver(BaseResolver):
    def __init__(self, zone):
        self.zone = zone

    def lookup(self, name, qtype, depth=0):
        """Returns (rcode, [(name, type, value)]) or None for no answer."""
        if name not in self.zone:
            return None if name.startswith("error.") else (RCODE.NXDOMAIN, [])
        seen, found = False, []
        for t, v in self.zone[name]:
            if t == "":
                if not seen:
                    return None
                break
            if t == qtype:
                seen = True
            if v == "TIMEOUT":
                if t == qtype:
                    return None
                continue
            if t == qtype:
                found.append((name, t, v))
            if t == "CNAME" and qtype != "CNAME" and depth == 0:
                found.append((name, t, v))
                sub = self.lookup(v.lower().rstrip("."), qtype, 1)
                if sub is None:
                    return None
                found.extend(sub[1])
        return (RCODE.NOERROR, found)

    def resolve(self, request, handler):
        reply = request.reply()
        # The raw labels: str() would escape the spaces some suite names hold.
        name = b".".join(request.q.qname.label).decode("utf-8", "replace").lower()
        qtype = QTYPE[request.q.qtype]
        result = self.lookup(name, qtype)
        if result is None:
            return None
        reply.header.rcode = result[0]
        for owner, t, v in result[1]:
            reply.add_answer(RR(DNSLabel(owner.encode("utf-8").split(b".")), getattr(QTYPE, t), rdata=rdata(t, v), ttl=60))
        return reply


def main():
    suite, index, port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    with open(suite, "rb") as f:
        scenario = list(yaml.safe_load_all(f))[index]
    resolver = Resolver(entries(scenario["zonedata"]))
    quiet = DNSLogger("-request,-reply,-truncated,-error,-recv,-send,-data")

    from dnslib.server import DNSHandler

    class Handler(DNSHandler):
        def get_reply(self, data):
            from dnslib import DNSRecord
            reply = self.server.resolver.resolve(DNSRecord.parse(data), self)
            if reply is None:
                time.sleep(5)  # never answer: the client times out first
                return b""
            return reply.pack()

    servers = [DNSServer(resolver, port=port, address="127.0.0.1", tcp=False, handler=Handler, logger=quiet),
               DNSServer(resolver, port=port, address="127.0.0.1", tcp=True, handler=Handler, logger=quiet)]
    for s in servers:
        s.start_thread()
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
