// evaluate_dmarc(): RFC 7489 6.6 for one message, with RFC 9091's np=.
#include <array>
#include <random>
#include <string>
#include <vector>

#include "filters/dmarc/dmarc.hpp"
#include "filters/dns/resolver.hpp"

namespace mxgate {
namespace {

struct RecordLookup {
  enum Kind { Found, NoRecord, Multiple, Temporary } kind = NoRecord;
  std::string record;
  std::string detail;  // for the reason: DNS status or record count
};

// 6.6.3 steps 1-4 at one name: only records that begin with v=DMARC1 count.
Task<RecordLookup> find_record(DnsLookup& dns, std::string domain) {
  RecordLookup out;
  std::string name = "_dmarc." + domain;
  if (name.size() > 253) co_return out;  // cannot exist in the DNS; never worth a query
  DnsResult r = co_await dns.query(name, RrType::TXT);
  if (r.temporary()) {
    out.kind = RecordLookup::Temporary;
    out.detail = std::string(dns_status_name(r.status)) + (r.error.empty() ? "" : " (" + r.error + ")");
    co_return out;
  }
  if (r.status != DnsStatus::Answer) co_return out;  // NXDOMAIN, NODATA
  std::size_t found = 0;
  for (const auto& txt : r.records) {
    DmarcRecordStatus s = parse_dmarc_record(txt).status;
    if (s == DmarcRecordStatus::Empty || s == DmarcRecordStatus::NotDmarc) continue;
    if (found++ == 0) out.record = txt;
  }
  if (found == 1) out.kind = RecordLookup::Found;
  if (found > 1) {
    out.kind = RecordLookup::Multiple;
    out.detail = std::to_string(found);
  }
  co_return out;
}

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
  const PublicSuffixList& psl = *cfg.psl;

  // 6.6.3: the From domain first, then its Organisational Domain.
  std::string org = organizational_domain(psl, from_domain);
  std::string policy_domain = from_domain;
  RecordLookup found = co_await find_record(dns, policy_domain);
  if (found.kind == RecordLookup::NoRecord && !org.empty() && org != from_domain) {
    policy_domain = org;
    found = co_await find_record(dns, policy_domain);
  }
  switch (found.kind) {
    case RecordLookup::Temporary:
      out.result = AuthResult::TempError;
      out.policy_domain = policy_domain;
      out.reason = "DNS failure looking up _dmarc." + policy_domain + ": " + found.detail;
      co_return out;
    case RecordLookup::NoRecord:
      out.result = AuthResult::None;
      out.reason = "no DMARC record for " + from_domain + (org != from_domain ? " or " + org : "");
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
  const bool at_org = policy_domain != from_domain;

  // 3.1: alignment. SPF counts for the RFC5321.MailFrom identity: the MAIL FROM
  // domain, or the HELO domain when the reverse-path is null (RFC 7489 3.1.2 via RFC
  // 7208 2.4: auth.spf carries identity "helo" only then). The separate session-wide
  // HELO check (auth.spf_helo) never counts.
  std::string aligned_with, temp_with;
  if (auth.spf &&
      domains_aligned(psl, from_domain, auth.spf->domain, rec.aspf)) {
    if (auth.spf->result == AuthResult::Pass) {
      out.spf_aligned = true;
      aligned_with = "spf=" + normalize_domain(auth.spf->domain);
    } else if (auth.spf->result == AuthResult::TempError) {
      temp_with = "spf=" + normalize_domain(auth.spf->domain);
    }
  }
  for (const auto& d : auth.dkim) {
    if (!domains_aligned(psl, from_domain, d.domain, rec.adkim)) continue;
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
  if (requested != DmarcPolicy::None && rec.pct < 100) {
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
  if (!cfg.psl) {
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
