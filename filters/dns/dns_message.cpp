#include "filters/dns/dns_message.hpp"

#include <arpa/inet.h>

#include <algorithm>

namespace mxgate {

const char* rr_type_name(RrType t) {
  switch (t) {
    case RrType::A: return "A";
    case RrType::NS: return "NS";
    case RrType::CNAME: return "CNAME";
    case RrType::SOA: return "SOA";
    case RrType::PTR: return "PTR";
    case RrType::MX: return "MX";
    case RrType::TXT: return "TXT";
    case RrType::AAAA: return "AAAA";
  }
  return "?";
}

namespace {
struct Reader {
  const unsigned char* msg;
  std::size_t len;
  std::size_t pos = 0;
  bool bad = false;

  std::uint16_t u16() {
    if (pos + 2 > len) { bad = true; return 0; }
    std::uint16_t v = static_cast<std::uint16_t>(msg[pos] << 8 | msg[pos + 1]);
    pos += 2;
    return v;
  }
  std::uint32_t u32() {
    std::uint32_t hi = u16(), lo = u16();
    return hi << 16 | lo;
  }
  // Reads a (possibly compressed) name at `at`, returns it and the position after it
  // in the original stream. Loops are cut off by a jump limit.
  std::string name_at(std::size_t at, std::size_t* after) {
    std::string out;
    std::size_t p = at;
    bool jumped = false;
    int jumps = 0;
    while (true) {
      if (p >= len) { bad = true; return out; }
      unsigned char l = msg[p];
      if ((l & 0xC0) == 0xC0) {
        if (p + 1 >= len || ++jumps > 32) { bad = true; return out; }
        std::size_t target = static_cast<std::size_t>((l & 0x3F) << 8 | msg[p + 1]);
        if (!jumped && after) *after = p + 2;
        jumped = true;
        p = target;
        continue;
      }
      if (l & 0xC0) { bad = true; return out; }
      if (l == 0) {
        if (!jumped && after) *after = p + 1;
        return out;
      }
      if (p + 1 + l > len || out.size() + l > 255) { bad = true; return out; }
      if (!out.empty()) out += '.';
      out.append(reinterpret_cast<const char*>(msg + p + 1), l);
      p += 1 + l;
    }
  }
  std::string name() {
    std::size_t after = pos;
    std::string n = name_at(pos, &after);
    pos = after;
    return n;
  }
};
}  // namespace

ParsedAnswer parse_dns_answer(const unsigned char* msg, std::size_t len, RrType type) {
  ParsedAnswer out;
  Reader r{msg, len};
  r.u16();  // id
  std::uint16_t flags = r.u16();
  std::uint16_t qd = r.u16(), an = r.u16(), ns = r.u16();
  r.u16();  // additional
  if (r.bad) {
    out.error = "short header";
    return out;
  }
  out.rcode = flags & 0x0F;
  out.truncated = flags & 0x0200;
  for (int i = 0; i < qd && !r.bad; ++i) {
    r.name();
    r.u16();
    r.u16();
  }
  bool first = true;
  auto section = [&](int count, bool answers) {
    for (int i = 0; i < count && !r.bad; ++i) {
      r.name();
      std::uint16_t rtype = r.u16();
      r.u16();  // class
      std::uint32_t ttl = r.u32();
      std::uint16_t rdlen = r.u16();
      if (r.bad || r.pos + rdlen > len) {
        r.bad = true;
        return;
      }
      std::size_t rd = r.pos, end = r.pos + rdlen;
      if (answers && rtype == static_cast<std::uint16_t>(type)) {
        std::string rec;
        char buf[INET6_ADDRSTRLEN];
        switch (type) {
          case RrType::A:
            if (rdlen != 4 || !inet_ntop(AF_INET, msg + rd, buf, sizeof buf)) { r.bad = true; return; }
            rec = buf;
            break;
          case RrType::AAAA:
            if (rdlen != 16 || !inet_ntop(AF_INET6, msg + rd, buf, sizeof buf)) { r.bad = true; return; }
            rec = buf;
            break;
          case RrType::MX: {
            Reader sub{msg, len, rd};
            std::uint16_t pref = sub.u16();
            std::string host = sub.name_at(sub.pos, nullptr);
            if (sub.bad) { r.bad = true; return; }
            rec = std::to_string(pref) + " " + host;
            break;
          }
          case RrType::TXT: {
            std::size_t p = rd;
            while (p < end) {
              std::size_t l = msg[p];
              if (p + 1 + l > end) { r.bad = true; return; }
              rec.append(reinterpret_cast<const char*>(msg + p + 1), l);
              p += 1 + l;
            }
            break;
          }
          case RrType::NS:
          case RrType::CNAME:
          case RrType::PTR:
            rec = r.name_at(rd, nullptr);
            break;
          case RrType::SOA:
            break;
        }
        out.records.push_back(std::move(rec));
        out.ttl = first ? ttl : std::min(out.ttl, ttl);
        first = false;
      } else if (!answers && rtype == static_cast<std::uint16_t>(RrType::SOA)) {
        std::size_t p = rd;
        r.name_at(p, &p);
        r.name_at(p, &p);
        Reader sub{msg, len, p};
        for (int k = 0; k < 4; ++k) sub.u32();  // serial refresh retry expire
        std::uint32_t minimum = sub.u32();
        if (!sub.bad) out.negative_ttl = std::min(ttl, minimum);
      }
      r.pos = end;
    }
  };
  section(an, true);
  section(ns, false);
  if (r.bad) {
    out.records.clear();
    out.error = "malformed DNS message";
    return out;
  }
  out.ok = true;
  return out;
}

}  // namespace mxgate
