#include "filters/spf/spf.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <memory>
#include <optional>
#include <vector>

#include "filters/dns/resolver.hpp"
#include "filters/dns/reverse.hpp"
#include "base/text.hpp"
#include "filters/dns/query_all.hpp"

namespace mxgate {

namespace {

// ------------------------------------------------------------------ addresses

struct Ip {
  bool v4 = true;
  std::array<unsigned char, 16> b{};  // v4: the first 4 bytes
  std::string text;
};

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

// The PTR name of the client (its text is canonical: inet_ntop of what we parsed).
std::string reverse_name(const Ip& ip) { return reverse_lookup_name(ip.text); }

// ------------------------------------------------------------------ names

bool alnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }
bool alpha(char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0; }

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

// ------------------------------------------------------------------ macros (7)

bool macro_literal(unsigned char c) { return (c >= 0x21 && c <= 0x24) || (c >= 0x26 && c <= 0x7e); }
bool delimiter(char c) { return std::strchr(".-+,/_=", c) != nullptr; }

// Validates a macro-string (or explain-string with `explain`); `ends_with_macro`
// tells whether the last token was a macro-expand (for domain-end).
bool macro_syntax(const std::string& s, bool explain, bool* ends_with_macro = nullptr) {
  bool last_macro = false;
  for (std::size_t i = 0; i < s.size();) {
    char c = s[i];
    if (c == '%') {
      if (i + 1 >= s.size()) return false;
      char n = s[i + 1];
      if (n == '%' || n == '_' || n == '-') {
        i += 2;
        last_macro = true;
        continue;
      }
      if (n != '{') return false;
      std::size_t j = i + 2;
      if (j >= s.size()) return false;
      char letter = static_cast<char>(std::tolower(static_cast<unsigned char>(s[j])));
      if (!std::strchr("slodiphv", letter) && !(explain && std::strchr("crt", letter))) return false;
      ++j;
      std::size_t digits = j;
      while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j]))) ++j;
      if (j > digits) {
        // A DIGIT transformer must be nonzero (7.1).
        if (std::stoul(s.substr(digits, std::min<std::size_t>(j - digits, 9))) == 0) return false;
      }
      if (j < s.size() && (s[j] == 'r' || s[j] == 'R')) ++j;
      while (j < s.size() && delimiter(s[j])) ++j;
      if (j >= s.size() || s[j] != '}') return false;
      i = j + 1;
      last_macro = true;
      continue;
    }
    if (explain && c == ' ') {
      ++i;
      last_macro = false;
      continue;
    }
    if (!macro_literal(static_cast<unsigned char>(c))) return false;
    ++i;
    last_macro = false;
  }
  if (ends_with_macro) *ends_with_macro = last_macro;
  return true;
}

// domain-spec = macro-string domain-end; domain-end = ( "." toplabel [ "." ] ) / macro-expand
bool domain_spec_syntax(const std::string& s) {
  if (s.empty()) return false;
  bool ends_macro = false;
  if (!macro_syntax(s, false, &ends_macro)) return false;
  if (ends_macro) return true;
  std::string t = s;
  if (t.back() == '.') t.pop_back();
  auto dot = t.rfind('.');
  if (dot == std::string::npos) return false;
  std::string top = t.substr(dot + 1);
  // The toplabel must be literal text, not the tail of a macro.
  if (top.find('%') != std::string::npos || top.find('}') != std::string::npos) return false;
  return toplabel(top);
}

std::string url_escape(const std::string& v) {
  std::string out;
  for (unsigned char c : v) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

struct MacroValues {
  std::string s, l, o, d, i, p, h, c, r, t, v;
};

// Expands a string whose syntax was checked. Returns false on a syntax error (only
// explanation text arrives unchecked).
bool expand(const std::string& s, const MacroValues& m, bool explain, std::string& out) {
  if (!macro_syntax(s, explain)) return false;
  out.clear();
  for (std::size_t i = 0; i < s.size();) {
    if (s[i] != '%') {
      out += s[i++];
      continue;
    }
    char n = s[i + 1];
    if (n == '%') { out += '%'; i += 2; continue; }
    if (n == '_') { out += ' '; i += 2; continue; }
    if (n == '-') { out += "%20"; i += 2; continue; }
    std::size_t j = i + 2;
    char letter = s[j++];
    bool upper = std::isupper(static_cast<unsigned char>(letter)) != 0;
    const std::string* value = nullptr;
    switch (std::tolower(static_cast<unsigned char>(letter))) {
      case 's': value = &m.s; break;
      case 'l': value = &m.l; break;
      case 'o': value = &m.o; break;
      case 'd': value = &m.d; break;
      case 'i': value = &m.i; break;
      case 'p': value = &m.p; break;
      case 'h': value = &m.h; break;
      case 'c': value = &m.c; break;
      case 'r': value = &m.r; break;
      case 't': value = &m.t; break;
      case 'v': value = &m.v; break;
    }
    std::size_t digits_start = j;
    while (std::isdigit(static_cast<unsigned char>(s[j]))) ++j;
    std::size_t keep = 0;
    if (j > digits_start) keep = std::stoul(s.substr(digits_start, std::min<std::size_t>(j - digits_start, 9)));
    bool reverse = false;
    if (s[j] == 'r' || s[j] == 'R') {
      reverse = true;
      ++j;
    }
    std::string delims;
    while (s[j] != '}') delims += s[j++];
    if (delims.empty()) delims = ".";
    ++j;  // '}'
    std::vector<std::string> parts;
    std::string cur;
    for (char c : *value) {
      if (delims.find(c) != std::string::npos) {
        parts.push_back(cur);
        cur.clear();
      } else {
        cur += c;
      }
    }
    parts.push_back(cur);
    if (reverse) std::reverse(parts.begin(), parts.end());
    if (keep && keep < parts.size()) parts.erase(parts.begin(), parts.end() - static_cast<long>(keep));
    std::string joined;
    for (std::size_t k = 0; k < parts.size(); ++k) joined += (k ? "." : "") + parts[k];
    out += upper ? url_escape(joined) : joined;
    i = j;
  }
  return true;
}

bool uses_p_macro(const std::string& s) {
  for (std::size_t i = 0; i + 2 < s.size(); ++i)
    if (s[i] == '%' && s[i + 1] == '{' && (s[i + 2] == 'p' || s[i + 2] == 'P')) return true;
  return false;
}

// ------------------------------------------------------------------ records (4.6)

enum class Qual { Pass, Fail, SoftFail, Neutral };
enum class Mech { All, Include, A, Mx, Ptr, Ip4, Ip6, Exists };

struct Term {
  Qual qual = Qual::Pass;
  Mech mech = Mech::All;
  std::string domain_spec;  // "" where the mechanism defaults to the current domain
  unsigned cidr4 = 32, cidr6 = 128;
  Ip net;                   // ip4/ip6
  std::string text;         // as written, for logs and Received-SPF
};

struct Record {
  std::vector<Term> terms;
  std::optional<std::string> redirect, exp;
  bool has_all = false;
};

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

// ------------------------------------------------------------------ evaluation

struct Eval {
  AuthResult result = AuthResult::Neutral;
  std::string mechanism;    // what decided
  std::string reason;
  std::string explanation;  // on fail
};

Eval make(AuthResult r, std::string mech, std::string reason) {
  Eval e;
  e.result = r;
  e.mechanism = std::move(mech);
  e.reason = std::move(reason);
  return e;
}

AuthResult qual_result(Qual q) {
  switch (q) {
    case Qual::Pass: return AuthResult::Pass;
    case Qual::Fail: return AuthResult::Fail;
    case Qual::SoftFail: return AuthResult::SoftFail;
    case Qual::Neutral: return AuthResult::Neutral;
  }
  return AuthResult::Neutral;
}

struct Ctx {
  Ctx(DnsLookup& d, SpfLimits l) : dns(d), lim(l), deadline(std::chrono::steady_clock::now() + l.max_time) {}
  DnsLookup& dns;
  SpfLimits lim;
  std::chrono::steady_clock::time_point deadline;  // past it, every lookup is a timeout
  bool late() const { return std::chrono::steady_clock::now() >= deadline; }
  Ip ip;
  std::string sender, local, sender_domain, helo, receiver;
  unsigned dns_terms = 0;
  unsigned voids = 0;
  std::optional<std::string> validated;  // %{p}, computed once
};

// Every lookup goes through here: once the evaluation has used its time (a chain of
// slow servers), the rest are timeouts, so the result is a temperror in bounded time
// rather than a hook that outlives smtp.filter_timeout.
DnsResult too_late(const std::string& name) {
  DnsResult r;
  r.status = DnsStatus::Timeout;
  r.error = "SPF evaluation out of time before looking up " + name;
  return r;
}

Task<DnsResult> ask(Ctx& c, const std::string& name, RrType type) {
  if (c.late()) co_return too_late(name);
  co_return co_await c.dns.query(name, type);
}

MacroValues macro_values(const Ctx& c, const std::string& domain) {
  MacroValues m;
  m.s = c.sender;
  m.l = c.local;
  m.o = c.sender_domain;
  m.d = domain;
  if (c.ip.v4) {
    m.i = c.ip.text;
    m.v = "in-addr";
  } else {
    // Nibbles in upper case, as the OpenSPF suite expects in explanations (RFC 7208
    // 7.4's example is lower case; DNS does not care, so only explanations differ).
    static const char kHex[] = "0123456789ABCDEF";
    for (int k = 0; k < 16; ++k) {
      m.i += std::string(k ? "." : "") + kHex[c.ip.b[k] >> 4] + "." + kHex[c.ip.b[k] & 0xf];
    }
    m.v = "ip6";
  }
  m.p = c.validated.value_or("unknown");
  m.h = c.helo;
  m.c = c.ip.text;
  m.r = c.receiver.empty() ? "unknown" : c.receiver;
  m.t = std::to_string(static_cast<long long>(std::time(nullptr)));
  return m;
}

// Names from a PTR lookup whose forward addresses include the client (5.5),
// at most lim.max_ptr_names of them looked at.
Task<std::vector<std::string>> validated_names(Ctx& c) {
  std::vector<std::string> out;
  const std::string rev = reverse_name(c.ip);
  DnsResult ptr = co_await ask(c, rev, RrType::PTR);
  if (ptr.status != DnsStatus::Answer) co_return out;
  std::vector<std::string> names = ptr.records;
  if (names.size() > c.lim.max_ptr_names) names.resize(c.lim.max_ptr_names);
  std::vector<DnsQuestion> qs;
  for (const auto& n : names) qs.push_back({n, c.ip.v4 ? RrType::A : RrType::AAAA});
  if (c.late()) co_return out;
  auto results = co_await query_all(c.dns, std::move(qs));
  for (std::size_t k = 0; k < names.size(); ++k) {
    if (results[k].status != DnsStatus::Answer) continue;  // 5.5: a failing name is skipped
    for (const auto& a : results[k].records)
      if (covers(c.ip, a, c.ip.v4 ? 32 : 128)) {
        out.push_back(names[k]);
        break;
      }
  }
  co_return out;
}

// Expands a domain-spec into a target name (4.8: truncated to 253 octets).
Task<std::optional<std::string>> target(Ctx& c, const std::string& spec, const std::string& domain) {
  if (spec.empty()) co_return domain;
  if (uses_p_macro(spec) && !c.validated) {
    auto names = co_await validated_names(c);
    std::string best = "unknown";
    for (const auto& n : names)
      if (under(n, domain)) { best = n; break; }
    if (best == "unknown" && !names.empty()) best = names.front();
    c.validated = best;
  }
  std::string out;
  if (!expand(spec, macro_values(c, domain), false, out)) co_return std::nullopt;
  co_return truncate_left(strip_dot(out));
}

Task<Eval> check_host(Ctx& c, std::string domain, int depth);

// exp= (6.2): errors of any kind mean no explanation.
Task<std::string> explanation(Ctx& c, const std::string& spec, const std::string& domain) {
  auto name = co_await target(c, spec, domain);
  if (!name || !valid_domain(*name)) co_return std::string();
  DnsResult r = co_await ask(c, *name, RrType::TXT);
  if (r.status != DnsStatus::Answer || r.records.size() != 1) co_return std::string();
  std::string text;
  if (uses_p_macro(r.records[0]) && !c.validated) {
    const std::string p_only = "%{p}.x.invalid";  // computes %{p} once
    (void)co_await target(c, p_only, domain);
  }
  if (!expand(r.records[0], macro_values(c, domain), true, text)) co_return std::string();
  for (unsigned char ch : text)
    if (ch < 0x20 || ch > 0x7e) co_return std::string();  // 6.2: US-ASCII only
  co_return text;
}

// A lookup on behalf of a mechanism: counts void answers (4.6.4).
struct Looked {
  DnsResult r;
  bool over_void = false;
};
Task<Looked> mech_lookup(Ctx& c, const std::string& name, RrType type) {
  Looked l;
  l.r = co_await ask(c, name, type);
  if (l.r.status == DnsStatus::NxDomain || l.r.status == DnsStatus::NoData ||
      (l.r.status == DnsStatus::Answer && l.r.records.empty())) {
    if (++c.voids > c.lim.max_void_lookups) l.over_void = true;
  }
  co_return l;
}

std::string dns_problem(const std::string& name, RrType t, const DnsResult& r) {
  std::string out = std::string("DNS ") + dns_status_name(r.status) + " looking up " + name + " " + rr_type_name(t);
  if (!r.error.empty()) out += " (" + r.error + ")";
  return out;
}

// One mechanism: nullopt when it does not match, else the outcome it forces (its
// qualifier's result, or temperror/permerror).
Task<std::optional<Eval>> evaluate(Ctx& c, const Term& t, const std::string& domain, int depth) {
  const bool counted = t.mech == Mech::Include || t.mech == Mech::A || t.mech == Mech::Mx ||
                       t.mech == Mech::Ptr || t.mech == Mech::Exists;
  if (counted && ++c.dns_terms > c.lim.max_dns_terms)
    co_return make(AuthResult::PermError, t.text, "more than " + std::to_string(c.lim.max_dns_terms) + " DNS-querying terms");
  const Eval hit = make(qual_result(t.qual), t.text, "matched " + t.text);
  std::string name = domain;
  if (!t.domain_spec.empty()) {
    auto expanded = co_await target(c, t.domain_spec, domain);
    if (!expanded) co_return make(AuthResult::PermError, t.text, "bad macro in " + t.text);
    name = *expanded;
    // A target that cannot be a DNS name (a label over 63 octets, often from a
    // macro) is treated as a name that does not exist: no match (4.3, 4.8, 5).
    if (t.mech != Mech::Include && !valid_domain(name)) co_return std::nullopt;
  }
  const RrType addr_type = c.ip.v4 ? RrType::A : RrType::AAAA;
  const unsigned bits = c.ip.v4 ? t.cidr4 : t.cidr6;
  switch (t.mech) {
    case Mech::All: co_return hit;
    case Mech::Ip4:
    case Mech::Ip6:
      if (t.net.v4 != c.ip.v4) co_return std::nullopt;
      if (prefix_equal(c.ip.b.data(), t.net.b.data(), t.net.v4 ? t.cidr4 : t.cidr6)) co_return hit;
      co_return std::nullopt;
    case Mech::Include: {
      if (!valid_domain(name)) co_return make(AuthResult::PermError, t.text, "include of an invalid domain " + name);
      Eval sub = co_await check_host(c, name, depth + 1);
      switch (sub.result) {
        case AuthResult::Pass: co_return hit;
        case AuthResult::TempError: co_return make(AuthResult::TempError, t.text, sub.reason);
        case AuthResult::PermError: co_return make(AuthResult::PermError, t.text, sub.reason);
        case AuthResult::None: co_return make(AuthResult::PermError, t.text, "included domain " + name + " has no SPF record");
        default: co_return std::nullopt;
      }
    }
    case Mech::A: {
      auto l = co_await mech_lookup(c, name, addr_type);
      if (l.over_void) co_return make(AuthResult::PermError, t.text, "more than " + std::to_string(c.lim.max_void_lookups) + " void lookups");
      if (l.r.temporary()) co_return make(AuthResult::TempError, t.text, dns_problem(name, addr_type, l.r));
      for (const auto& a : l.r.records)
        if (covers(c.ip, a, bits)) co_return hit;
      co_return std::nullopt;
    }
    case Mech::Mx: {
      auto l = co_await mech_lookup(c, name, RrType::MX);
      if (l.over_void) co_return make(AuthResult::PermError, t.text, "more than " + std::to_string(c.lim.max_void_lookups) + " void lookups");
      if (l.r.temporary()) co_return make(AuthResult::TempError, t.text, dns_problem(name, RrType::MX, l.r));
      if (l.r.records.size() > c.lim.max_mx_names)
        co_return make(AuthResult::PermError, t.text, name + " has more than " + std::to_string(c.lim.max_mx_names) + " MX records");
      std::vector<DnsQuestion> qs;
      for (const auto& mx : l.r.records) {
        auto sp = mx.find(' ');
        std::string host = sp == std::string::npos ? mx : mx.substr(sp + 1);
        if (host.empty() || host == ".") continue;  // null MX (RFC 7505)
        qs.push_back({host, addr_type});
      }
      if (c.late()) co_return make(AuthResult::TempError, t.text, too_late(name + "'s MX hosts").error);
      auto results = co_await query_all(c.dns, qs);
      bool temp = false;
      for (std::size_t k = 0; k < results.size(); ++k) {
        if (results[k].temporary()) temp = true;
        for (const auto& a : results[k].records)
          if (covers(c.ip, a, bits)) co_return hit;
      }
      if (temp) co_return make(AuthResult::TempError, t.text, "DNS failure looking up the addresses of " + name + "'s MX hosts");
      co_return std::nullopt;
    }
    case Mech::Ptr: {
      const std::string rev = reverse_name(c.ip);
      auto l = co_await mech_lookup(c, rev, RrType::PTR);
      if (l.over_void) co_return make(AuthResult::PermError, t.text, "more than " + std::to_string(c.lim.max_void_lookups) + " void lookups");
      if (l.r.status != DnsStatus::Answer) co_return std::nullopt;  // 5.5: errors do not match
      std::vector<std::string> names = l.r.records;
      if (names.size() > c.lim.max_ptr_names) names.resize(c.lim.max_ptr_names);
      std::vector<DnsQuestion> qs;
      for (const auto& n : names) qs.push_back({n, addr_type});
      if (c.late()) co_return std::nullopt;  // 5.5: lookup errors do not match
      auto results = co_await query_all(c.dns, qs);
      for (std::size_t k = 0; k < names.size(); ++k) {
        if (!under(names[k], name) || results[k].status != DnsStatus::Answer) continue;
        for (const auto& a : results[k].records)
          if (covers(c.ip, a, c.ip.v4 ? 32 : 128)) co_return hit;
      }
      co_return std::nullopt;
    }
    case Mech::Exists: {
      auto l = co_await mech_lookup(c, name, RrType::A);  // 5.7: always A, whatever the client
      if (l.over_void) co_return make(AuthResult::PermError, t.text, "more than " + std::to_string(c.lim.max_void_lookups) + " void lookups");
      if (l.r.temporary()) co_return make(AuthResult::TempError, t.text, dns_problem(name, RrType::A, l.r));
      if (!l.r.records.empty()) co_return hit;
      co_return std::nullopt;
    }
  }
  co_return std::nullopt;
}

Task<Eval> check_host(Ctx& c, std::string domain, int depth) {
  domain = strip_dot(domain);
  if (!valid_domain(domain)) co_return make(AuthResult::None, "", "not a valid domain name: " + domain);
  DnsResult r = co_await ask(c, domain, RrType::TXT);
  if (r.temporary()) co_return make(AuthResult::TempError, "", dns_problem(domain, RrType::TXT, r));
  if (r.status != DnsStatus::Answer) co_return make(AuthResult::None, "", "no SPF record for " + domain);
  std::vector<const std::string*> spf;
  for (const auto& txt : r.records)
    if (is_spf1(txt)) spf.push_back(&txt);
  if (spf.empty()) co_return make(AuthResult::None, "", "no SPF record for " + domain);
  if (spf.size() > 1) co_return make(AuthResult::PermError, "", domain + " has more than one SPF record");
  Record rec;
  std::string error;
  if (!parse_record(*spf[0], rec, error)) co_return make(AuthResult::PermError, "", "SPF record of " + domain + ": " + error);
  for (const auto& t : rec.terms) {
    auto m = co_await evaluate(c, t, domain, depth);
    if (!m) continue;
    if (m->result == AuthResult::Fail && rec.exp) m->explanation = co_await explanation(c, *rec.exp, domain);
    co_return *m;
  }
  // 6.1: redirect only when nothing matched and the record has no "all".
  if (rec.redirect && !rec.has_all) {
    if (++c.dns_terms > c.lim.max_dns_terms)
      co_return make(AuthResult::PermError, "redirect=" + *rec.redirect, "more than " + std::to_string(c.lim.max_dns_terms) + " DNS-querying terms");
    auto next = co_await target(c, *rec.redirect, domain);
    if (!next || !valid_domain(*next)) co_return make(AuthResult::PermError, "redirect=" + *rec.redirect, "redirect to an invalid domain");
    Eval sub = co_await check_host(c, *next, depth + 1);
    if (sub.result == AuthResult::None)
      co_return make(AuthResult::PermError, "redirect=" + *rec.redirect, "redirect target " + *next + " has no SPF record");
    co_return sub;
  }
  co_return make(AuthResult::Neutral, "default", "no mechanism matched");
}

Task<SpfOutcome> run(DnsLookup& dns, const SpfRequest& req, SpfLimits limits, bool helo_identity) {
  SpfOutcome o;
  o.client_ip = req.ip;
  o.helo = req.helo;
  Ctx c(dns, limits);
  c.helo = req.helo;
  c.receiver = req.receiver;
  if (!parse_ip(req.ip, c.ip)) {
    o.result = AuthResult::PermError;
    o.reason = "client address " + req.ip + " is not an IP address";
    co_return o;
  }
  if (helo_identity || req.sender.empty()) {
    o.identity = "helo";
    c.local = "postmaster";
    c.sender_domain = strip_dot(req.helo);
  } else {
    o.identity = "mailfrom";
    auto at = req.sender.rfind('@');
    c.local = at == std::string::npos ? "" : req.sender.substr(0, at);
    c.sender_domain = at == std::string::npos ? req.sender : req.sender.substr(at + 1);
    if (c.local.empty()) c.local = "postmaster";  // 4.3
  }
  c.sender = c.local + "@" + c.sender_domain;
  o.sender = c.sender;
  o.domain = c.sender_domain;
  // A HELO that is an address literal ("[192.0.2.1]", or a bare address) names no
  // domain (2.3, 4.3): "none", without asking DNS about it.
  Ip literal;
  std::string bare = c.sender_domain;
  if (bare.size() > 2 && bare.front() == '[' && bare.back() == ']') bare = bare.substr(1, bare.size() - 2);
  if (bare.rfind("IPv6:", 0) == 0 || bare.rfind("ipv6:", 0) == 0) bare = bare.substr(5);
  if ((!bare.empty() && c.sender_domain.front() == '[') || parse_ip(bare, literal)) {
    o.result = AuthResult::None;
    o.reason = "\"" + c.sender_domain + "\" is an address literal, not a domain";
    co_return o;
  }
  Eval e = co_await check_host(c, c.sender_domain, 0);
  o.result = e.result;
  o.mechanism = e.mechanism;
  o.reason = e.reason;
  o.explanation = e.explanation;
  co_return o;
}

}  // namespace

bool spf_valid_domain(const std::string& domain) { return valid_domain(domain); }

Task<SpfOutcome> check_spf(DnsLookup& dns, SpfRequest req, SpfLimits limits) {
  co_return co_await run(dns, req, limits, false);
}

Task<SpfOutcome> check_spf_helo(DnsLookup& dns, SpfRequest req, SpfLimits limits) {
  co_return co_await run(dns, req, limits, true);
}

namespace {
// Record text from DNS goes into a header: control and 8-bit bytes become '?'.
char printable(char c) {
  unsigned char u = static_cast<unsigned char>(c);
  return u < 0x20 || u >= 0x7f ? '?' : c;
}
bool needs_quotes(const std::string& v) {
  for (unsigned char c : v)
    if (!(std::isalnum(c) || std::strchr("!#$%&'*+-/=?^_`{|}~.@", c))) return true;
  return v.empty();
}
std::string quoted(const std::string& v) {
  if (!needs_quotes(v)) return v;
  std::string out = "\"";
  for (char c : v) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\r' || c == '\n') continue;
    out += printable(c);
  }
  return out + "\"";
}
// A comment may not hold unbalanced parentheses or line breaks.
std::string comment_safe(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '(' || c == ')' || c == '\\') out += '\\';
    if (c == '\r' || c == '\n') continue;
    out += printable(c);
  }
  return out;
}
}  // namespace

std::string received_spf_value(const SpfOutcome& o, const std::string& receiver) {
  std::string what;
  const std::string who = "domain of " + (o.identity == "helo" ? o.domain : o.sender);
  switch (o.result) {
    case AuthResult::Pass: what = who + " designates " + o.client_ip + " as permitted sender"; break;
    case AuthResult::Fail: what = who + " does not designate " + o.client_ip + " as permitted sender"; break;
    case AuthResult::SoftFail: what = who + " does not designate " + o.client_ip + " as permitted sender (softfail)"; break;
    case AuthResult::Neutral: what = o.client_ip + " is neither permitted nor denied by " + who; break;
    default: what = o.reason; break;
  }
  std::string v = std::string(auth_result_name(o.result)) + " (" + comment_safe(receiver + ": " + what) + ")";
  v += " client-ip=" + o.client_ip + ";";
  if (o.identity == "mailfrom") v += " envelope-from=" + quoted(o.sender) + ";";
  if (!o.helo.empty()) v += " helo=" + quoted(o.helo) + ";";
  v += " receiver=" + quoted(receiver) + ";";
  v += " identity=" + o.identity + ";";
  if (!o.mechanism.empty()) v += " mechanism=" + quoted(o.mechanism) + ";";
  return v;
}

}  // namespace mxgate
