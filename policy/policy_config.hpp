// PolicyConfig: the `policy:` section — score thresholds, explicit rules (DMARC, SPF,
// allow and deny lists), tagging, and per-recipient-domain overrides.
//
// Keys (docs/configuration.md, "policy"):
//   thresholds: {tag: 5, quarantine: off, reject: 15}    on the sum of symbol scores
//   reject_reply, delay_reject, spf_fail, dmarc: {reject, quarantine, temperror, bad_from, multiple_from}
//   allow / deny: {client_ip, helo, sender, from_domain, rcpt}
//   tagging: {headers, subject_prefix, flag_header, status_header, level_header, score_header}
//   domains: {example.org: {thresholds, spf_fail, dmarc, allow, deny}, .example.net: ...}
// A domain's thresholds and actions replace the global ones key by key; its lists are
// added to the global lists. Every rule keeps its config path, which the verdict names
// ("policy.domains.example.org.thresholds.reject"), so a log line leads to the key.
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "filters/cidr.hpp"
#include "filters/smtp_reply.hpp"

namespace mxgate {

class ConfigMap;

// What policy does with a message, strictest last: the verdict for a message with
// several recipients is the strictest of their domains' verdicts. Tempfail (the
// sender retries later) is stricter than quarantine: nothing is accepted at all.
enum class PolicyAction { None, Tag, Quarantine, Tempfail, Reject };
const char* policy_action_name(PolicyAction a);  // "accept", "tag", "quarantine", "tempfail", "reject"

struct Thresholds {
  std::optional<double> tag = 5.0;       // thresholds.tag (SpamAssassin's required_score)
  std::optional<double> quarantine;      // thresholds.quarantine (off: needs a quarantine store)
  std::optional<double> reject = 15.0;   // thresholds.reject
};

// One allow or deny list. Entries are lowercased; a domain entry "example.org" matches
// that domain, ".example.org" its subdomains (not itself), as Postfix access tables with
// parent_domain_matches_subdomains off.
struct AccessList {
  std::string path;                      // "policy.deny", "policy.domains.example.org.allow"
  std::vector<Cidr> client_ip;           // CIDR or one address
  std::vector<std::string> helo;         // host names / .domains
  std::vector<std::string> sender;       // user@domain, domain, .domain, or "<>" (null sender)
  std::vector<std::string> from_domain;  // header From domain: domain or .domain
  std::vector<std::string> rcpt;         // user@domain, domain, .domain
  bool empty() const;
};

// The entry of `list` that matches, or "" (empty strings never match).
std::string match_ip(const std::vector<Cidr>& list, const std::string& ip);
std::string match_domain(const std::vector<std::string>& list, std::string_view domain);
// `address` is "user@domain" or "" for the null path (matched by "<>").
std::string match_address(const std::vector<std::string>& list, std::string_view address);

struct DomainPolicy {
  std::string domain;  // "" for the global policy, else the key under `domains`
  std::string path;    // "policy" or "policy.domains.<key>"
  Thresholds thresholds;
  PolicyAction spf_fail = PolicyAction::None;            // spf_fail
  PolicyAction dmarc_reject = PolicyAction::Reject;      // dmarc.reject
  PolicyAction dmarc_quarantine = PolicyAction::Tag;     // dmarc.quarantine
  PolicyAction dmarc_temperror = PolicyAction::None;     // dmarc.temperror (DNS failed: tempfail?)
  // A From that is not a clean list of mailboxes with domains (none, a syntax error, a
  // group, an address literal): no domain's DMARC policy can be trusted to apply.
  PolicyAction dmarc_bad_from = PolicyAction::Reject;    // dmarc.bad_from
  // More than one author (mailboxes or From fields). Every author domain is evaluated
  // and the strictest DMARC result counts anyway; this refuses such mail outright
  // (RFC 7489 6.6.1 says receivers typically do).
  PolicyAction dmarc_multiple_from = PolicyAction::None; // dmarc.multiple_from
  // ARC (RFC 8617): forwarders whose word is taken over a DMARC failure. When the
  // chain passes, its newest seal is by one of these (d=), and that sealer's
  // ARC-Authentication-Results says dmarc=pass, dmarc.reject / dmarc.quarantine are
  // not applied (symbol DMARC_ARC_OVERRIDE says so). Empty: off.
  std::vector<std::string> dmarc_trusted_arc_sealers;    // dmarc.trusted_arc_sealers
  PolicyAction spf_temperror = PolicyAction::None;       // spf_temperror
  AccessList allow;  // this level's own entries (a domain's are checked before the global ones)
  AccessList deny;
};

struct TaggingConfig {
  enum class Headers { All, Spam, Off };
  Headers headers = Headers::All;           // tagging.headers: all|spam|off
  std::string subject_prefix;               // tagging.subject_prefix ("" = leave Subject alone)
  std::string flag_header = "X-Spam-Flag";      // tagging.flag_header
  std::string status_header = "X-Spam-Status";  // tagging.status_header
  std::string level_header = "X-Spam-Level";    // tagging.level_header
  std::string score_header = "X-Spam-Score";    // tagging.score_header
};

struct PolicyConfig {
  DomainPolicy global;                  // path "policy"
  std::vector<DomainPolicy> domains;    // policy.domains.*
  SmtpReply reject_reply{550, "5.7.1", "Message rejected as spam"};  // reject_reply
  SmtpReply tempfail_reply{451, "4.7.1", "Try again later"};         // tempfail_reply
  bool delay_reject = true;             // delay_reject (Postfix smtpd_delay_reject)
  TaggingConfig tagging;                // tagging.*
  // The policy for a recipient domain: an exact `domains` key, else the nearest
  // ".parent" key, else the global policy.
  const DomainPolicy& for_domain(std::string_view domain) const;
};

using PolicyConfigPtr = std::shared_ptr<const PolicyConfig>;

// Reads the `policy` mapping (absent: the defaults). `quarantine_available`: whether a
// quarantine store is configured; without one, a quarantine action is a load error
// (it could only ever answer 451, and the sender would retry forever).
PolicyConfigPtr read_policy_config(ConfigMap& m, bool quarantine_available);

}  // namespace mxgate
