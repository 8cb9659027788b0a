// evaluate_dmarc(): RFC 7489 6.6 for one message, with RFC 9091's np=.
#include <array>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "filters/dmarc/dmarc.hpp"
#include "filters/dns/resolver.hpp"

namespace mxgate {
namespace {

enum class Existence { Exists, Missing, Unknown };

// RFC 9091 2.1: a non-existent domain has NXDOMAIN, or NODATA for A, AAAA and MX alike.
Task<Existence> domain_exists(DnsLookup& dns, std::string domain) {
  static constexpr std::array<RrType, 3> kTypes{RrType::A, RrType::AAAA, RrType::MX};
  bool unknown = false;
  for (RrType t : kTypes) {
    DnsResult r = co_await dns.query(domain, t);
    if (r.status == DnsStatus::Answer && !r.records.empty()) co_return Existence::Exists;
    if (r.status == DnsStatus::NxDomain) co_return Existence::Missing;
    if (r.temporary()) unknown = true;
  }
  co_return unknown ? Existence::Unknown : Existence::Missing;
}

// Which record governs a From domain, however it was found.
struct Discovery {
  RecordLookup lookup;        // the record (Found), or why there is none
  std::string policy_domain;  // where it was found (or the last name asked)
  std::string org_domain;     // the From domain's Organisational Domain
  bool at_author = true;      // the record is the From domain's own: p applies
  std::string none_reason;    // for NoRecord
};

// RFC 7489 6.6.3: the From domain, then its Organisational Domain (Public Suffix List).
Task<Discovery> discover_rfc7489(DnsLookup& dns, const PublicSuffixList& psl, std::string from_domain) {
  Discovery d;
  d.org_domain = organizational_domain(psl, from_domain);
  d.policy_domain = from_domain;
  d.lookup = co_await find_dmarc_record(dns, from_domain);
  if (d.lookup.kind == RecordLookup::NoRecord && !d.org_domain.empty() && d.org_domain != from_domain) {
    d.policy_domain = d.org_domain;
    d.at_author = false;
    d.lookup = co_await find_dmarc_record(dns, d.org_domain);
  }
  d.none_reason = "no DMARC record for " + from_domain + (d.org_domain != from_domain ? " or " + d.org_domain : "");
  co_return d;
}

// RFC 9989 4.10.1: the From domain's own record, else the Organisational Domain's,
// else the public suffix domain's (psd=y), all from one tree walk.
Task<Discovery> discover_rfc9989(DnsLookup& dns, std::string from_domain) {
  Discovery d;
  d.policy_domain = from_domain;
  // The From domain's own answer decides "several records" and DNS failures there,
  // as in RFC 7489; the walk then goes on for the Organisational Domain.
  d.lookup = co_await find_dmarc_record(dns, from_domain);
  if (d.lookup.kind == RecordLookup::Temporary || d.lookup.kind == RecordLookup::Multiple) co_return d;
  const DmarcWalk w = co_await dmarc_tree_walk(dns, from_domain);
  if (w.temporary) {
    d.lookup.kind = RecordLookup::Temporary;
    d.lookup.detail = w.temp_detail;
    co_return d;
  }
  d.org_domain = dmarc_walk_org_domain(w);
  if (d.lookup.kind == RecordLookup::Found) co_return d;
  const DmarcWalk::Found* org = nullptr;
  const DmarcWalk::Found* psd = nullptr;
  for (const auto& f : w.found) {
    if (f.domain == d.org_domain) org = &f;
    if (f.parsed.psd == 'y' && f.domain != from_domain) psd = &f;
  }
  if (const DmarcWalk::Found* use = org ? org : psd) {
    d.lookup.kind = RecordLookup::Found;
    d.lookup.record = use->record;
    d.policy_domain = use->domain;
    d.at_author = false;
  }
  std::string asked;
  for (const auto& n : w.asked) asked += (asked.empty() ? "" : ", ") + n;
  d.none_reason = "no DMARC record for " + from_domain + " or its parents (asked " + asked + ")";
  co_return d;
}

unsigned default_draw() {
  thread_local std::mt19937 gen{std::random_device{}()};
  return std::uniform_int_distribution<unsigned>(0, 99)(gen);
}

DmarcPolicy lower_policy(DmarcPolicy p) {
  // 6.6.4: a message not sampled by pct gets the next policy down.
  return p == DmarcPolicy::Reject ? DmarcPolicy::Quarantine : DmarcPolicy::None;
}

// 6.6.2-6.6.4 for one author domain (normalised, valid).
// A coroutine: the domain is taken by value; auth, dns and cfg are the caller's and
// outlive it.
Task<DmarcOutcome> evaluate_domain(std::string from_domain, const AuthResults& auth, DnsLookup& dns,
                                   const DmarcConfig& cfg) {
  DmarcOutcome out;
  out.from_domain = from_domain;
  const PublicSuffixList* psl = cfg.psl.get();  // RFC 7489 only

  // 6.6.3 (RFC 9989 4.10.1): where the policy record is.
  const bool walk = cfg.discovery == DmarcDiscovery::Rfc9989;
  // (Not a ?: of two co_awaits: g++ 12 destroys such temporaries twice.)
  Discovery disc;
  if (walk)
    disc = co_await discover_rfc9989(dns, from_domain);
  else
    disc = co_await discover_rfc7489(dns, *psl, from_domain);
  RecordLookup& found = disc.lookup;
  std::string policy_domain = disc.policy_domain;
  const std::string org = disc.org_domain;
  switch (found.kind) {
    case RecordLookup::Temporary:
      out.result = AuthResult::TempError;
      out.policy_domain = policy_domain;
      out.reason = "DNS failure looking up _dmarc." + policy_domain + ": " + found.detail;
      co_return out;
    case RecordLookup::NoRecord:
      out.result = AuthResult::None;
      out.reason = disc.none_reason;
      co_return out;
    case RecordLookup::Multiple:
      // 6.6.3: "If the remaining set contains multiple records ... DMARC processing is
      // not applied"; there is no fallback to the Organisational Domain either.
      out.result = AuthResult::None;
      out.policy_domain = policy_domain;
      out.reason = found.detail + " DMARC records at _dmarc." + policy_domain;
      co_return out;
    case RecordLookup::Found:
      break;
  }
  out.policy_domain = policy_domain;
  DmarcRecord rec = parse_dmarc_record(found.record);
  if (!rec.usable()) {
    out.result = AuthResult::None;
    out.reason = "DMARC record at _dmarc." + policy_domain + " has no valid p= and no valid rua= (6.6.3)";
    co_return out;
  }
  const bool at_org = !disc.at_author;

  // 3.1: alignment. SPF counts for the RFC5321.MailFrom identity: the MAIL FROM
  // domain, or the HELO domain when the reverse-path is null (RFC 7489 3.1.2 via RFC
  // 7208 2.4: auth.spf carries identity "helo" only then). The separate session-wide
  // HELO check (auth.spf_helo) never counts.
  // RFC 9989: relaxed alignment compares Organisational Domains found by walking
  // each authenticated domain (the From domain's is known), once per domain.
  std::map<std::string, std::optional<std::string>> walked;  // domain -> its org (nullopt: DNS failed)
  auto aligned = [&](std::string auth_domain, DmarcAlign mode) -> Task<std::optional<bool>> {
    if (!walk) co_return domains_aligned(*psl, from_domain, auth_domain, mode);
    const std::string a = normalize_domain(auth_domain);
    if (a.empty()) co_return false;
    if (a == from_domain) co_return true;
    if (mode == DmarcAlign::Strict) co_return false;
    auto it = walked.find(a);
    if (it == walked.end()) {
      const DmarcWalk w = co_await dmarc_tree_walk(dns, a);
      it = walked.emplace(a, w.temporary ? std::nullopt : std::optional<std::string>(dmarc_walk_org_domain(w))).first;
    }
    if (!it->second) co_return std::nullopt;
    co_return *it->second == org;
  };
  std::string aligned_with, temp_with;
  std::optional<bool> spf_al = false;
  if (auth.spf && (auth.spf->result == AuthResult::Pass || auth.spf->result == AuthResult::TempError))
    spf_al = co_await aligned(auth.spf->domain, rec.aspf);
  if (!spf_al) {
    temp_with = "spf=" + normalize_domain(auth.spf->domain) + " (Organisational Domain unknown: DNS)";
  } else if (*spf_al) {
    if (auth.spf->result == AuthResult::Pass) {
      out.spf_aligned = true;
      aligned_with = "spf=" + normalize_domain(auth.spf->domain);
    } else if (auth.spf->result == AuthResult::TempError) {
      temp_with = "spf=" + normalize_domain(auth.spf->domain);
    }
  }
  for (const auto& d : auth.dkim) {
    if (d.result != AuthResult::Pass && d.result != AuthResult::TempError) continue;
    const std::optional<bool> al = co_await aligned(d.domain, rec.adkim);
    if (!al) {
      if (temp_with.find("dkim=") == std::string::npos)
        temp_with += (temp_with.empty() ? "" : ", ") + std::string("dkim=") + normalize_domain(d.domain) +
                     " (Organisational Domain unknown: DNS)";
      continue;
    }
    if (!*al) continue;
    if (d.result == AuthResult::Pass && !out.dkim_aligned) {
      out.dkim_aligned = true;
      aligned_with += (aligned_with.empty() ? "" : ", ") + std::string("dkim=") + normalize_domain(d.domain);
    } else if (d.result == AuthResult::TempError && temp_with.find("dkim=") == std::string::npos) {
      temp_with += (temp_with.empty() ? "" : ", ") + std::string("dkim=") + normalize_domain(d.domain);
    }
  }

  // 6.6.3 / 3 (sp): p for the domain's own record; sp (default p) for a subdomain
  // under the Organisational Domain's record; np is decided below, on failure only.
  DmarcPolicy requested = rec.p;
  std::string which = "p";
  if (at_org && rec.sp) {
    requested = *rec.sp;
    which = "sp";
  }
  if (out.spf_aligned || out.dkim_aligned) {
    out.result = AuthResult::Pass;
    out.policy = dmarc_policy_name(requested);
    out.disposition = "none";
    out.reason = "aligned: " + aligned_with;
    co_return out;
  }
  if (!temp_with.empty()) {
    // A result that could still have aligned is unknown, not failed: a retry may pass.
    out.result = AuthResult::TempError;
    out.policy = dmarc_policy_name(requested);
    out.reason = "no aligned pass; temporary error for " + temp_with;
    co_return out;
  }
  if (!auth.spf && !auth.dkim_checked) {
    // Nothing to align with because nothing was checked (the spf and dkim filters did
    // not run first): failing the message on that would be our error, not the sender's.
    out.result = AuthResult::TempError;
    out.policy = dmarc_policy_name(requested);
    out.reason = "no SPF or DKIM results to align (spf and dkim must run before dmarc)";
    co_return out;
  }

  std::string note;
  if (at_org && rec.np) {
    Existence e = co_await domain_exists(dns, from_domain);
    if (e == Existence::Missing) {
      requested = *rec.np;
      which = "np";
    } else if (e == Existence::Unknown) {
      // We know DMARC failed; only the choice between sp and np is open. Keep sp
      // rather than turn a decided failure into a temperror.
      note = "; existence of " + from_domain + " unknown (DNS), np not applied";
    }
  }
  DmarcPolicy disposition = requested;
  std::string sampled;
  if (walk) {
    // RFC 9989 4.7: pct is gone; t=y asks for the policy one level down.
    if (rec.test_mode && requested != DmarcPolicy::None) {
      disposition = lower_policy(requested);
      sampled = " t=y (test mode)";
    }
  } else if (requested != DmarcPolicy::None && rec.pct < 100) {
    unsigned draw = cfg.random ? cfg.random() % 100 : default_draw();
    if (draw >= rec.pct) {
      disposition = lower_policy(requested);
      sampled = " pct=" + std::to_string(rec.pct) + " not sampled";
    } else {
      sampled = " pct=" + std::to_string(rec.pct) + " sampled";
    }
  }
  out.result = AuthResult::Fail;
  out.policy = dmarc_policy_name(requested);
  out.disposition = dmarc_policy_name(disposition);
  out.reason = "no aligned SPF or DKIM pass; " + which + "=" + out.policy + sampled + note;
  co_return out;
}

}  // namespace

int dmarc_strictness(AuthResult result, const std::string& disposition) {
  switch (result) {
    case AuthResult::Fail:
      return disposition == "reject" ? 6 : disposition == "quarantine" ? 5 : 3;
    case AuthResult::TempError: return 4;
    case AuthResult::PermError: return 2;
    case AuthResult::Pass: return 0;
    default: return 1;
  }
}

Task<DmarcOutcome> evaluate_dmarc(const Message& msg, const AuthResults& auth, DnsLookup* dns,
                                  const DmarcConfig& cfg, bool smtputf8) {
  const FromAuthors authors = from_authors_of(msg, smtputf8);
  co_return co_await evaluate_dmarc(authors, auth, dns, cfg);
}

Task<DmarcOutcome> evaluate_dmarc(const FromAuthors& authors, const AuthResults& auth, DnsLookup* dns,
                                  const DmarcConfig& cfg) {
  std::vector<std::string> domains = authors.domains();
  std::vector<std::string> problems = authors.problems;
  const bool too_many = domains.size() > kMaxAuthorDomains;
  if (too_many) {
    problems.push_back(std::to_string(domains.size()) + " author domains in From, only the first " +
                       std::to_string(kMaxAuthorDomains) + " evaluated");
    domains.resize(kMaxAuthorDomains);
  }
  std::string bad_from;
  for (const auto& p : problems) bad_from += (bad_from.empty() ? "" : "; ") + p;
  auto finish = [&](DmarcOutcome o) {
    o.from_fields = authors.fields;
    o.mailboxes = authors.mailboxes.size();
    o.bad_from = bad_from;
    o.too_many_authors = too_many;
    return o;
  };

  DmarcOutcome out;
  if (domains.empty()) {
    out.result = AuthResult::PermError;
    out.reason = bad_from.empty() ? "no author domain in From" : bad_from;
    co_return finish(std::move(out));
  }
  out.from_domain = domains.front();
  if (!dns) {
    out.result = AuthResult::TempError;
    out.reason = "no resolver";
    co_return finish(std::move(out));
  }
  if (!cfg.psl && cfg.discovery == DmarcDiscovery::Rfc7489) {
    out.result = AuthResult::TempError;
    out.reason = "no public suffix list loaded";
    co_return finish(std::move(out));
  }
  // One domain after another: almost every message has one, the cache answers
  // repeats, and kMaxAuthorDomains bounds the rest.
  std::vector<DmarcOutcome> each;
  for (const auto& d : domains) each.push_back(co_await evaluate_domain(d, auth, *dns, cfg));
  std::size_t pick = 0;
  for (std::size_t i = 1; i < each.size(); ++i)
    if (dmarc_strictness(each[i].result, each[i].disposition) > dmarc_strictness(each[pick].result, each[pick].disposition))
      pick = i;
  out = each[pick];
  if (!bad_from.empty() &&
      dmarc_strictness(AuthResult::PermError, "") > dmarc_strictness(out.result, out.disposition)) {
    // The domains that could be read passed or have no policy, but the From as a
    // reader sees it is not only those: that is not a pass.
    out = DmarcOutcome{};
    out.result = AuthResult::PermError;
    out.reason = bad_from;
  }
  if (each.size() > 1)
    for (const auto& o : each) out.authors.push_back({o.from_domain, o.result, o.disposition});
  co_return finish(std::move(out));
}

}  // namespace mxgate
