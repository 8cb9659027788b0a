#include "filters/dnsbl/dnsbl_list.hpp"

#include <arpa/inet.h>

#include <algorithm>

#include "base/text.hpp"
#include "filters/dns/reverse.hpp"

namespace mxgate {
namespace {

std::optional<std::uint32_t> ipv4(const std::string& s) {
  in_addr a{};
  if (inet_pton(AF_INET, s.c_str(), &a) != 1) return std::nullopt;
  return ntohl(a.s_addr);
}

std::string suffix(const DnsblList& l) { return (l.key.empty() ? "" : "." + l.key) + "." + l.zone; }

}  // namespace

std::string dnsbl_query_for_ip(const DnsblList& l, const std::string& ip) {
  std::string r = reversed_address(ip);
  return r.empty() ? r : r + suffix(l);
}

std::string dnsbl_query_for_domain(const DnsblList& l, const std::string& domain) {
  std::string d = lower(domain);
  while (!d.empty() && d.back() == '.') d.pop_back();
  return d.empty() ? d : d + suffix(l);
}

bool parse_dnsbl_range(const std::string& text, DnsblCode* out) {
  std::string t(trim(text));
  out->kind = DnsblCode::Kind::Range;
  out->text = t;
  if (std::size_t dash = t.find('-'); dash != std::string::npos) {
    auto lo = ipv4(std::string(trim(t.substr(0, dash)))), hi = ipv4(std::string(trim(t.substr(dash + 1))));
    if (!lo || !hi || *lo > *hi) return false;
    out->lo = *lo;
    out->hi = *hi;
    return true;
  }
  if (std::size_t slash = t.find('/'); slash != std::string::npos) {
    auto base = ipv4(t.substr(0, slash));
    char* end = nullptr;
    long len = std::strtol(t.c_str() + slash + 1, &end, 10);
    if (!base || !end || *end || slash + 1 >= t.size() || len < 0 || len > 32) return false;
    const std::uint32_t mask = len == 0 ? 0 : ~std::uint32_t{0} << (32 - len);
    out->lo = *base & mask;
    out->hi = out->lo | ~mask;
    return true;
  }
  auto a = ipv4(t);
  if (!a) return false;
  out->lo = out->hi = *a;
  return true;
}

DnsblAnswer interpret_dnsbl_answer(const DnsblList& l, const std::vector<std::string>& records,
                                   const DnsblCode& fallback) {
  DnsblAnswer out;
  for (const auto& r : records) {
    auto a = ipv4(r);
    if (!a || (*a >> 24) != 127) {
      out.error = r;  // not a list's answer: a resolver rewriting NXDOMAIN, a wildcard
      continue;
    }
    if (std::any_of(l.errors.begin(), l.errors.end(), [&](const DnsblCode& e) { return e.matches(*a); })) {
      out.error = r;
      continue;
    }
    auto add = [&](const DnsblCode* c) {
      if (std::find(out.listed.begin(), out.listed.end(), c) != out.listed.end()) return;
      out.listed.push_back(c);
      out.listed_as.push_back(r);
    };
    if (l.codes.empty()) {
      add(&fallback);
      continue;
    }
    for (const auto& c : l.codes)
      if (c.matches(*a)) add(&c);
  }
  return out;
}

SmtpReply dnsbl_reply(const DnsblList& l, const std::string& ip) {
  std::string text = l.reply.plain_text();
  auto fill = [&](const std::string& what, const std::string& with) {
    for (std::size_t p = text.find(what); p != std::string::npos; p = text.find(what, p + with.size()))
      text.replace(p, what.size(), with);
  };
  fill("{ip}", ip);
  fill("{zone}", l.zone);
  return SmtpReply{l.reply.code(), l.reply.enhanced(), text};
}

}  // namespace mxgate
