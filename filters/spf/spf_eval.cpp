// check_host() (RFC 7208 section 4) over the shared resolver: one record lookup
// (4.4), each mechanism in turn (5, with the 5.5 ptr validation), redirect= and exp=
// (6), the DNS lookup limits (4.6.4) and a time budget; and the public check_spf /
// check_spf_helo (2.3, 2.4). Records are parsed in spf_record.cpp, macros expanded in
// spf_macro.cpp.
#include "filters/spf/spf.hpp"

#include <chrono>
#include <ctime>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "filters/dns/query_all.hpp"
#include "filters/dns/resolver.hpp"
#include "filters/dns/reverse.hpp"
#include "filters/spf/spf_internal.hpp"

namespace mxgate {

using namespace spf_detail;

namespace {

// ------------------------------------------------------------------ evaluation

// The PTR name of the client (its text is canonical: inet_ntop of what we parsed).
std::string reverse_name(const Ip& ip) { return reverse_lookup_name(ip.text); }

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

}  // namespace mxgate
