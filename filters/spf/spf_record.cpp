// The parts of SPF that read text: client and record addresses (RFC 7208 5.6, with
// an IPv4-mapped IPv6 client checked as IPv4, section 5), domain names (4.3, 4.8) and
// the record parser (4.5 the "v=spf1" test, 4.6 record syntax, 5 mechanisms and their
// dual CIDR lengths, 6 modifiers). Nothing here does DNS.
#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <string>
#include <vector>

#include "base/text.hpp"
#include "filters/spf/spf_internal.hpp"

namespace mxgate::spf_detail {

// ------------------------------------------------------------------ addresses

bool parse_ip(const std::string& s, Ip& out) {
  in_addr a4;
  in6_addr a6;
  if (inet_pton(AF_INET, s.c_str(), &a4) == 1) {
    out.v4 = true;
    std::memcpy(out.b.data(), &a4, 4);
  } else if (inet_pton(AF_INET6, s.c_str(), &a6) == 1) {
    static const unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(&a6, kMapped, 12) == 0) {  // RFC 7208 5: check the IPv4 address
      out.v4 = true;
      std::memcpy(out.b.data(), reinterpret_cast<unsigned char*>(&a6) + 12, 4);
    } else {
      out.v4 = false;
      std::memcpy(out.b.data(), &a6, 16);
    }
  } else {
    return false;
  }
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(out.v4 ? AF_INET : AF_INET6, out.b.data(), buf, sizeof buf);
  out.text = buf;
  return true;
}

bool prefix_equal(const unsigned char* a, const unsigned char* b, unsigned bits) {
  unsigned whole = bits / 8, rest = bits % 8;
  if (std::memcmp(a, b, whole) != 0) return false;
  if (rest == 0) return true;
  unsigned char mask = static_cast<unsigned char>(0xff << (8 - rest));
  return (a[whole] & mask) == (b[whole] & mask);
}

// Does `record` (an A or AAAA answer, as text) cover the client within `bits`?
bool covers(const Ip& client, const std::string& record, unsigned bits) {
  Ip r;
  if (!parse_ip(record, r) || r.v4 != client.v4) return false;
  return prefix_equal(client.b.data(), r.b.data(), bits);
}

// ------------------------------------------------------------------ names

namespace {
bool alnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }
bool alpha(char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0; }
}  // namespace

// toplabel = ( *alphanum ALPHA *alphanum ) / ( 1*alphanum "-" *( alphanum / "-" ) alphanum )
bool toplabel(const std::string& l) {
  if (l.empty()) return false;
  bool has_alpha = false, has_dash = false;
  for (char c : l) {
    if (c == '-') has_dash = true;
    else if (!alnum(c)) return false;
    if (alpha(c)) has_alpha = true;
  }
  if (!has_dash) return has_alpha;
  return alnum(l.front()) && alnum(l.back());
}

// Subject of 4.3 and of every target name: no empty label except a final dot, labels
// of at most 63 octets, at most 253 in all, and more than one label.
bool valid_domain(std::string d) {
  if (!d.empty() && d.back() == '.') d.pop_back();
  if (d.empty() || d.size() > 253) return false;
  std::size_t start = 0, labels = 0;
  while (true) {
    std::size_t dot = d.find('.', start);
    std::size_t len = (dot == std::string::npos ? d.size() : dot) - start;
    if (len == 0 || len > 63) return false;
    ++labels;
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return labels >= 2;
}

std::string strip_dot(std::string d) {
  if (!d.empty() && d.back() == '.') d.pop_back();
  return d;
}

// 4.8: an expanded name longer than 253 loses labels on the left until it fits.
std::string truncate_left(std::string d) {
  while (d.size() > 253) {
    auto dot = d.find('.');
    if (dot == std::string::npos) break;
    d.erase(0, dot + 1);
  }
  return d;
}

bool under(const std::string& name, const std::string& domain) {
  std::string n = lower(strip_dot(name)), d = lower(strip_dot(domain));
  return n == d || (n.size() > d.size() && n.compare(n.size() - d.size(), d.size(), d) == 0 &&
                    n[n.size() - d.size() - 1] == '.');
}

// ------------------------------------------------------------------ records (4.6)

namespace {

bool parse_cidr_len(const std::string& s, unsigned max, unsigned& out) {
  if (s.empty() || s.size() > 3) return false;
  for (char c : s)
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  if (s.size() > 1 && s[0] == '0') return false;  // ip4-cidr-length = "/" ("0" / %x31-39 0*1DIGIT)
  unsigned v = static_cast<unsigned>(std::stoul(s));
  if (v > max) return false;
  out = v;
  return true;
}

// Splits "domain/24//64" into the domain part and the CIDR lengths.
bool split_dual_cidr(std::string& arg, Term& t) {
  auto dd = arg.find("//");
  if (dd != std::string::npos) {
    if (!parse_cidr_len(arg.substr(dd + 2), 128, t.cidr6)) return false;
    arg.erase(dd);
  }
  auto slash = arg.rfind('/');
  if (slash != std::string::npos) {
    std::string len = arg.substr(slash + 1);
    bool digits = !len.empty() && std::all_of(len.begin(), len.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
    if (digits) {
      if (!parse_cidr_len(len, 32, t.cidr4)) return false;
      arg.erase(slash);
    }
  }
  return true;
}

bool modifier_name(const std::string& n) {
  if (n.empty() || !alpha(n[0])) return false;
  for (char c : n)
    if (!alnum(c) && c != '-' && c != '_' && c != '.') return false;
  return true;
}

}  // namespace

bool parse_record(const std::string& txt, Record& rec, std::string& error) {
  std::vector<std::string> words;
  std::size_t i = 6;  // after "v=spf1"
  while (i < txt.size()) {
    if (txt[i] == ' ') {
      ++i;
      continue;
    }
    auto end = txt.find(' ', i);
    if (end == std::string::npos) end = txt.size();
    words.push_back(txt.substr(i, end - i));
    i = end;
  }
  for (const auto& w : words) {
    auto eq = w.find('=');
    auto colon = w.find_first_of(":/");
    if (eq != std::string::npos && (colon == std::string::npos || eq < colon) && modifier_name(w.substr(0, eq))) {
      std::string name = lower(w.substr(0, eq)), value = w.substr(eq + 1);
      if (name == "redirect" || name == "exp") {
        auto& slot = name == "redirect" ? rec.redirect : rec.exp;
        if (slot) { error = "more than one " + name + "= modifier"; return false; }
        if (!domain_spec_syntax(value)) { error = "bad domain in " + w; return false; }
        slot = value;
      } else if (!macro_syntax(value, false)) {
        error = "bad modifier " + w;
        return false;
      }
      continue;
    }
    Term t;
    t.text = w;
    std::string rest = w;
    switch (rest.empty() ? ' ' : rest[0]) {
      case '+': t.qual = Qual::Pass; rest.erase(0, 1); break;
      case '-': t.qual = Qual::Fail; rest.erase(0, 1); break;
      case '~': t.qual = Qual::SoftFail; rest.erase(0, 1); break;
      case '?': t.qual = Qual::Neutral; rest.erase(0, 1); break;
      default: break;
    }
    std::size_t name_end = 0;
    while (name_end < rest.size() && alnum(rest[name_end])) ++name_end;
    std::string name = lower(rest.substr(0, name_end));
    std::string arg = rest.substr(name_end);
    auto bad = [&](const char* why) {
      error = std::string(why) + ": " + w;
      return false;
    };
    bool has_domain = !arg.empty() && arg[0] == ':';
    if (name == "all") {
      if (!arg.empty()) return bad("\"all\" takes no argument");
      t.mech = Mech::All;
      rec.has_all = true;
    } else if (name == "include" || name == "exists") {
      t.mech = name == "include" ? Mech::Include : Mech::Exists;
      if (!has_domain) return bad("domain required");
      t.domain_spec = arg.substr(1);
      if (!domain_spec_syntax(t.domain_spec)) return bad("bad domain");
    } else if (name == "a" || name == "mx") {
      t.mech = name == "a" ? Mech::A : Mech::Mx;
      if (!split_dual_cidr(arg, t)) return bad("bad CIDR length");
      if (has_domain) {
        t.domain_spec = arg.substr(1);
        if (!domain_spec_syntax(t.domain_spec)) return bad("bad domain");
      } else if (!arg.empty()) {
        return bad("unexpected text");
      }
    } else if (name == "ptr") {
      t.mech = Mech::Ptr;
      if (has_domain) {
        t.domain_spec = arg.substr(1);
        if (!domain_spec_syntax(t.domain_spec)) return bad("bad domain");
      } else if (!arg.empty()) {
        return bad("unexpected text");
      }
    } else if (name == "ip4" || name == "ip6") {
      bool v4 = name == "ip4";
      t.mech = v4 ? Mech::Ip4 : Mech::Ip6;
      if (!has_domain) return bad("address required");
      std::string addr = arg.substr(1);
      auto slash = addr.find('/');
      if (slash != std::string::npos) {
        if (!parse_cidr_len(addr.substr(slash + 1), v4 ? 32 : 128, v4 ? t.cidr4 : t.cidr6))
          return bad("bad CIDR length");
        addr.erase(slash);
      }
      in_addr a4;
      in6_addr a6;
      if (v4 ? inet_pton(AF_INET, addr.c_str(), &a4) != 1 : inet_pton(AF_INET6, addr.c_str(), &a6) != 1)
        return bad("bad address");
      t.net.v4 = v4;
      if (v4) std::memcpy(t.net.b.data(), &a4, 4);
      else std::memcpy(t.net.b.data(), &a6, 16);
      t.net.text = addr;
    } else {
      return bad("unknown mechanism");
    }
    rec.terms.push_back(std::move(t));
  }
  return true;
}

bool is_spf1(const std::string& txt) {
  return txt.size() >= 6 && lower(txt.substr(0, 6)) == "v=spf1" && (txt.size() == 6 || txt[6] == ' ');
}

}  // namespace mxgate::spf_detail
