#include "policy/policy.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <unordered_map>

#include "filters/dmarc/dmarc.hpp"

namespace mxgate {

const SmtpReply kQuarantineUnavailable{451, "4.3.0",
                                       "Message held for review but no quarantine is configured; try again later"};

namespace {
// Postfix's wording, which senders' postmasters recognise; the rule itself stays in
// our log, not in the reply.
const SmtpReply kClientDenied{550, "5.7.1", "Client host rejected: Access denied"};
const SmtpReply kHeloDenied{550, "5.7.1", "Helo command rejected: Access denied"};
const SmtpReply kSenderDenied{550, "5.7.1", "Sender address rejected: Access denied"};
const SmtpReply kRcptDenied{550, "5.7.1", "Recipient address rejected: Access denied"};
}  // namespace

const char* Decision::verdict() const {
  switch (action) {
    case Action::Reject: return "reject";
    case Action::Tempfail: return "tempfail";
    case Action::Quarantine: return "quarantine";
    case Action::Continue:
    case Action::Accept: break;
  }
  return outcome == PolicyAction::Tag ? "tag" : "accept";
}

// As a SpamAssassin rule hits once. The first report stands (the filter's, with
// its configured score), as the filters run before `content`.
void count_each_name_once(std::vector<Symbol>& symbols) {
  std::vector<Symbol> out;
  out.reserve(symbols.size());
  std::unordered_map<std::string, std::size_t> at;  // name -> index in out
  for (auto& s : symbols) {
    auto [it, fresh] = at.emplace(s.name, out.size());
    if (fresh) {
      out.push_back(std::move(s));
      continue;
    }
    Symbol* first = &out[it->second];
    std::string also = "also reported";
    if (!s.where.empty()) also += " (" + s.where + ")";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", s.score);
    also += " with score " + std::string(buf) + ", counted once";
    first->where += (first->where.empty() ? "" : "; ") + also;
  }
  symbols = std::move(out);
}

double total_score(const std::vector<Symbol>& symbols) {
  double s = 0.0;
  for (const auto& sym : symbols) s += sym.score;
  return s;
}

void Evidence::add(const ChainResult& r) {
  symbols.insert(symbols.end(), r.symbols.begin(), r.symbols.end());
  add_headers.insert(add_headers.end(), r.add_headers.begin(), r.add_headers.end());
  if (r.action == Action::Quarantine && !quarantine_requested) {
    quarantine_requested = true;
    quarantine_by = r.decided_by;
  }
}

void Evidence::add(const Evidence& later) {
  symbols.insert(symbols.end(), later.symbols.begin(), later.symbols.end());
  add_headers.insert(add_headers.end(), later.add_headers.begin(), later.add_headers.end());
  if (later.quarantine_requested && !quarantine_requested) {
    quarantine_requested = true;
    quarantine_by = later.quarantine_by;
  }
}

// ---- Early checks -------------------------------------------------------------------

namespace {

std::optional<Refusal> deny_client(const AccessList& deny, const ClientInfo& c) {
  if (auto e = match_ip(deny.client_ip, c.ip); !e.empty()) return Refusal{kClientDenied, deny.path + ".client_ip " + e};
  return std::nullopt;
}
std::optional<Refusal> deny_helo(const AccessList& deny, const ClientInfo& c) {
  if (auto e = match_domain(deny.helo, c.helo); !e.empty()) return Refusal{kHeloDenied, deny.path + ".helo " + e};
  return std::nullopt;
}
std::optional<Refusal> deny_sender(const AccessList& deny, const Mailbox& s) {
  if (auto e = match_address(deny.sender, s.address); !e.empty())
    return Refusal{kSenderDenied, deny.path + ".sender " + e};
  return std::nullopt;
}

}  // namespace

std::optional<Refusal> check_client(const PolicyConfig& p, const ClientInfo& client) {
  return deny_client(p.global.deny, client);
}
std::optional<Refusal> check_helo(const PolicyConfig& p, const ClientInfo& client) {
  return deny_helo(p.global.deny, client);
}
std::optional<Refusal> check_sender(const PolicyConfig& p, const Mailbox& sender) {
  return deny_sender(p.global.deny, sender);
}

std::optional<Refusal> check_rcpt(const PolicyConfig& p, const ClientInfo& client, const Mailbox& sender,
                                  const Mailbox& rcpt) {
  if (p.delay_reject) {
    if (auto r = check_client(p, client)) return r;
    if (auto r = check_helo(p, client)) return r;
    if (auto r = check_sender(p, sender)) return r;
  }
  const DomainPolicy& d = p.for_domain(rcpt.domain());
  if (&d != &p.global) {
    if (auto r = deny_client(d.deny, client)) return r;
    if (auto r = deny_helo(d.deny, client)) return r;
    if (auto r = deny_sender(d.deny, sender)) return r;
    if (auto e = match_address(d.deny.rcpt, rcpt.address); !e.empty())
      return Refusal{kRcptDenied, d.deny.path + ".rcpt " + e};
  }
  if (auto e = match_address(p.global.deny.rcpt, rcpt.address); !e.empty())
    return Refusal{kRcptDenied, p.global.deny.path + ".rcpt " + e};
  return std::nullopt;
}

// ---- End of data --------------------------------------------------------------------

std::vector<std::string> domains_in_from(const std::vector<const HeaderField*>& from_fields) {
  std::vector<std::string> out;
  for (const HeaderField* f : from_fields)
    for (auto& d : domains_seen_in(f->value))
      if (std::find(out.begin(), out.end(), d) == out.end()) out.push_back(std::move(d));
  return out;
}

namespace {

struct Outcome {
  PolicyAction action = PolicyAction::None;
  std::string rule;
  std::optional<SmtpReply> reply;  // for Reject
  const DomainPolicy* policy = nullptr;
  std::string arc_excuse;  // a DMARC failure a trusted ARC sealer vouched for
};

// RFC 8617's purpose: a forwarder the admin trusts (dmarc.trusted_arc_sealers) sealed
// the message after it saw DMARC pass; the failure now is the forwarder's own change
// (a subject tag, a footer). Only the newest seal counts: it is the hop that handed
// the message on, and a valid chain means nothing changed since it sealed. "" if the
// chain does not vouch.
std::string arc_vouches(const AuthResults* auth, const DomainPolicy& d) {
  if (d.dmarc_trusted_arc_sealers.empty() || !auth || !auth->arc || auth->arc->result != AuthResult::Pass ||
      auth->arc->sealers.empty() || auth->arc->aar.empty())
    return {};
  const std::string& sealer = auth->arc->sealers.back();
  const std::string entry = match_domain(d.dmarc_trusted_arc_sealers, sealer);
  if (entry.empty()) return {};
  // The sealer's own record of what it saw: a "dmarc=pass" result in its AAR.
  const std::string aar = lower(auth->arc->aar.back());
  bool passed = false;
  for (std::size_t at = aar.find("dmarc=pass"); at != std::string::npos && !passed; at = aar.find("dmarc=pass", at + 1)) {
    const bool starts = at == 0 || aar[at - 1] == ';' || aar[at - 1] == ' ' || aar[at - 1] == '\t';
    const std::size_t end = at + 10;
    const bool ends = end == aar.size() || aar[end] == ';' || aar[end] == ' ' || aar[end] == '\t' || aar[end] == '(';
    passed = starts && ends;
  }
  if (!passed) return {};
  return sealer + " (trusted ARC sealer, i=" + std::to_string(auth->arc->instances) + ") saw dmarc=pass";
}

bool spf_passed(const AuthResults* auth) {
  return auth && auth->spf && auth->spf->result == AuthResult::Pass;
}

bool dmarc_passed(const AuthResults* auth, const std::string& from_domain) {
  return auth && auth->dmarc && auth->dmarc->result == AuthResult::Pass && !from_domain.empty() &&
         iequals(auth->dmarc->from_domain, from_domain);
}

// An allow entry that can be forged counts only with proof: a sender with SPF pass
// for MAIL FROM, a From domain with DMARC pass, a HELO name that is the client's
// forward-confirmed DNS name. A client address or a recipient needs none.
std::string allowed_by(const AccessList& allow, const MessageFacts& f, const Mailbox& rcpt) {
  if (allow.empty()) return {};
  if (f.client) {
    if (auto e = match_ip(allow.client_ip, f.client->ip); !e.empty()) return allow.path + ".client_ip " + e;
    if (!allow.helo.empty() && iequals(f.client->name, f.client->helo))
      if (auto e = match_domain(allow.helo, f.client->helo); !e.empty()) return allow.path + ".helo " + e;
  }
  if (f.sender && spf_passed(f.auth))
    if (auto e = match_address(allow.sender, f.sender->address); !e.empty()) return allow.path + ".sender " + e;
  if (dmarc_passed(f.auth, f.from_domain))
    if (auto e = match_domain(allow.from_domain, f.from_domain); !e.empty()) return allow.path + ".from_domain " + e;
  if (auto e = match_address(allow.rcpt, rcpt.address); !e.empty()) return allow.path + ".rcpt " + e;
  return {};
}

// The outcome for one recipient's domain policy.
Outcome evaluate(const PolicyConfig& p, const DomainPolicy& d, const MessageFacts& f, const Mailbox& rcpt,
                 double score, const std::string& quarantine_by) {
  Outcome out;
  out.policy = &d;
  // Deny: only the header From domain is left to check at end of data (the rest was
  // refused at its SMTP stage).
  std::vector<std::string> from_domains = f.all_from_domains;
  if (!f.from_domain.empty()) from_domains.push_back(f.from_domain);
  for (const AccessList* deny : {&d.deny, &p.global.deny}) {
    for (const auto& fd : from_domains) {
      if (auto e = match_domain(deny->from_domain, fd); !e.empty()) {
        out.action = PolicyAction::Reject;
        out.rule = deny->path + ".from_domain " + e;
        out.reply = SmtpReply(550, "5.7.1", "Message rejected: sender domain " + fd + " denied");
        return out;
      }
    }
    if (deny == &p.global.deny || &d == &p.global) break;
  }
  for (const AccessList* allow : {&d.allow, &p.global.allow}) {
    if (auto rule = allowed_by(*allow, f, rcpt); !rule.empty()) {
      out.rule = rule;
      return out;
    }
    if (&d == &p.global) break;
  }
  // The explicit rules and the thresholds each propose; the strictest wins, and on a
  // tie the explicit rule is named (it says more than a score).
  // `reply` is the rule's refusal; it is used as is when its class fits the action
  // (5xx for reject, 4xx for tempfail), else the policy's own reject/tempfail reply.
  auto propose = [&](PolicyAction a, std::string rule, std::optional<SmtpReply> reply) {
    if (a > out.action) {
      out.action = a;
      out.rule = std::move(rule);
      if (a == PolicyAction::Tempfail && (!reply || !reply->transient())) reply = p.tempfail_reply;
      if (a == PolicyAction::Reject && (!reply || !reply->permanent())) reply = p.reject_reply;
      out.reply = std::move(reply);
    }
  };
  if (!quarantine_by.empty()) propose(PolicyAction::Quarantine, quarantine_by, std::nullopt);
  if (f.auth && f.auth->dmarc && f.auth->dmarc->result == AuthResult::Fail) {
    const DmarcOutcome& dm = *f.auth->dmarc;
    const std::string& domain = dm.from_domain.empty() ? f.from_domain : dm.from_domain;
    // Gmail's and Microsoft's wording, which senders' postmasters know.
    SmtpReply r(550, "5.7.1",
                "Unauthenticated email from " + domain + " is not accepted due to domain's DMARC policy");
    const std::string excuse = dm.disposition == "none" ? std::string() : arc_vouches(f.auth, d);
    if (!excuse.empty()) out.arc_excuse = excuse + "; " + d.path + ".dmarc." + dm.disposition + " not applied";
    else if (dm.disposition == "reject") propose(d.dmarc_reject, d.path + ".dmarc.reject " + domain, r);
    else if (dm.disposition == "quarantine")
      propose(d.dmarc_quarantine, d.path + ".dmarc.quarantine " + domain, r);
  }
  if (f.auth && f.auth->dmarc && f.auth->dmarc->result == AuthResult::TempError && d.dmarc_temperror != PolicyAction::None) {
    // The From domain's policy could not be fetched: with dmarc.temperror: tempfail
    // the sender retries rather than a p=reject domain's forgery slipping through.
    const std::string& domain = f.auth->dmarc->from_domain.empty() ? f.from_domain : f.auth->dmarc->from_domain;
    SmtpReply r(451, "4.7.1", "DMARC policy of " + domain + " could not be checked; try again later");
    propose(d.dmarc_temperror, d.path + ".dmarc.temperror " + domain, r);
  }
  if (f.auth && f.auth->dmarc && !f.auth->dmarc->bad_from.empty()) {
    // No author domain whose policy could be applied for certain: a forger's way
    // around DMARC unless it is refused (RFC 7489 6.6.1).
    SmtpReply r(550, "5.7.1", "Message rejected: the From header is not a valid list of author addresses");
    propose(d.dmarc_bad_from, d.path + ".dmarc.bad_from", r);
  }
  if (f.auth && f.auth->dmarc && f.auth->dmarc->multiple_authors()) {
    SmtpReply r(550, "5.7.1", "Message rejected: mail with more than one author in From is not accepted");
    propose(d.dmarc_multiple_from, d.path + ".dmarc.multiple_from", r);
  }
  if (f.auth && f.auth->spf && f.auth->spf->result == AuthResult::Fail) {
    const SpfOutcome& s = *f.auth->spf;
    SmtpReply r(550, "5.7.23", "SPF validation failed for " + (s.domain.empty() ? s.sender : s.domain));
    propose(d.spf_fail, d.path + ".spf_fail " + s.domain, r);
  }
  if (f.auth && f.auth->spf && f.auth->spf->result == AuthResult::TempError && d.spf_temperror != PolicyAction::None) {
    const SpfOutcome& s = *f.auth->spf;
    SmtpReply r(451, "4.7.24", "SPF check of " + (s.domain.empty() ? s.sender : s.domain) + " failed temporarily; try again later");
    propose(d.spf_temperror, d.path + ".spf_temperror " + s.domain, r);
  }
  const Thresholds& t = d.thresholds;
  if (t.reject && score >= *t.reject) propose(PolicyAction::Reject, d.path + ".thresholds.reject", p.reject_reply);
  else if (t.quarantine && score >= *t.quarantine)
    propose(PolicyAction::Quarantine, d.path + ".thresholds.quarantine", std::nullopt);
  else if (t.tag && score >= *t.tag) propose(PolicyAction::Tag, d.path + ".thresholds.tag", std::nullopt);
  // Nothing fired: the score stayed under every threshold, which is a decision too.
  if (out.action == PolicyAction::None) out.rule = d.path + ".thresholds";
  return out;
}

}  // namespace

Decision decide(const ChainResult& end_of_data, const Evidence& earlier, const PolicyConfig* policy,
                const MessageFacts& facts, bool quarantine_available) {
  Decision d;
  d.symbols = earlier.symbols;
  d.symbols.insert(d.symbols.end(), end_of_data.symbols.begin(), end_of_data.symbols.end());
  d.add_headers = earlier.add_headers;
  d.add_headers.insert(d.add_headers.end(), end_of_data.add_headers.begin(), end_of_data.add_headers.end());
  count_each_name_once(d.symbols);
  d.score = total_score(d.symbols);
  d.reason = end_of_data.decided_by;
  // A filter's own refusal stands: it was configured to refuse (reject_on_fail...).
  if (end_of_data.action == Action::Reject || end_of_data.action == Action::Tempfail) {
    d.action = end_of_data.action;
    d.reply = end_of_data.reply;
    return d;
  }
  std::string quarantine_by;
  if (end_of_data.action == Action::Quarantine) quarantine_by = end_of_data.decided_by;
  else if (earlier.quarantine_requested) quarantine_by = earlier.quarantine_by;
  if (!quarantine_by.empty()) quarantine_by = "filter " + quarantine_by;
  else if (end_of_data.action == Action::Quarantine || earlier.quarantine_requested) quarantine_by = "filter";

  Outcome final;
  if (end_of_data.action == Action::Accept) {
    // A filter's Accept (an allow-list of its own) ends the decision with a yes.
    final.rule = end_of_data.decided_by;
  } else if (!policy) {
    if (!quarantine_by.empty()) {
      final.action = PolicyAction::Quarantine;
      final.rule = quarantine_by;
    }
  } else {
    static const std::vector<Mailbox> kNone;
    const std::vector<Mailbox>& rcpts = facts.rcpts && !facts.rcpts->empty() ? *facts.rcpts : kNone;
    bool first = true;
    auto consider = [&](const Mailbox& rcpt) {
      Outcome o = evaluate(*policy, policy->for_domain(rcpt.domain()), facts, rcpt, d.score, quarantine_by);
      if (first || o.action > final.action) final = std::move(o);
      first = false;
    };
    if (rcpts.empty()) consider(Mailbox{});
    // One evaluation per distinct domain policy would do for thresholds, but allow
    // lists can name a recipient, so every recipient is looked at.
    for (const auto& r : rcpts) consider(r);
    if (final.policy) d.required = final.policy->thresholds.tag;
    if (!final.arc_excuse.empty()) d.symbols.push_back({"DMARC_ARC_OVERRIDE", 0.0, final.arc_excuse});
  }
  if (!final.rule.empty()) d.reason = final.rule;
  d.outcome = final.action;
  switch (final.action) {
    case PolicyAction::None:
    case PolicyAction::Tag:
      d.action = Action::Accept;
      break;
    case PolicyAction::Tempfail:
      d.action = Action::Tempfail;
      d.reply = final.reply ? *final.reply : (policy ? policy->tempfail_reply : SmtpReply(451, "4.7.1", "Try again later"));
      break;
    case PolicyAction::Reject:
      d.action = Action::Reject;
      d.reply = final.reply ? *final.reply : (policy ? policy->reject_reply : SmtpReply(550, "5.7.1", "Message rejected"));
      break;
    case PolicyAction::Quarantine:
      if (quarantine_available) {
        d.action = Action::Quarantine;
      } else {
        d.action = Action::Tempfail;
        d.reply = kQuarantineUnavailable;
        d.reason = final.rule + " asked for quarantine; none configured";
      }
      break;
  }
  return d;
}

}  // namespace mxgate
