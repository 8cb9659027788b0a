// policy: turns what the filters found into what happens to the message.
//
// Early, milter-style: a denied client, HELO or sender is refused before the body is
// ever sent — at connect, HELO and MAIL FROM, or (policy.delay_reject, the default,
// as Postfix's smtpd_delay_reject) at each RCPT TO, so the log shows whom it was for;
// a denied recipient at its RCPT TO (check_* below).
//
// At end of data (decide): a filter's own reject or tempfail stands. Otherwise each
// recipient's domain policy gives an outcome — deny lists (header From domain), then
// allow lists (which win over everything below), then the strictest of the explicit
// rules (DMARC disposition, SPF fail, a filter's quarantine request) and the score
// thresholds — and the message gets the strictest outcome over its recipients
// (reject > tempfail > quarantine > tag > accept). Decision::reason names the config key that
// decided it, e.g. "policy.domains.example.org.thresholds.reject".
//
// A Quarantine outcome becomes a 451 tempfail while no quarantine store is available:
// a client hears 250 only once the downstream or the quarantine has the message.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "filters/auth/auth_results.hpp"
#include "filters/chain.hpp"
#include "filters/envelope.hpp"
#include "policy/policy_config.hpp"

namespace mxgate {

struct Decision {
  Action action = Action::Accept;        // Accept (forward), Reject, Tempfail, Quarantine
  PolicyAction outcome = PolicyAction::None;  // the policy's own outcome (Tag: forward tagged)
  std::optional<SmtpReply> reply;        // our own reply for Reject/Tempfail
  std::vector<HeaderField> add_headers;  // to prepend when forwarding
  std::vector<Symbol> symbols;           // every symbol that counted, in filter order
  double score = 0.0;                    // sum of symbol scores
  std::optional<double> required;        // the deciding policy's tag threshold (X-Spam-Status)
  std::string reason;                    // for the log: which rule or filter decided
  bool tagged() const { return outcome == PolicyAction::Tag; }
  // "accept", "tag", "quarantine", "reject", "tempfail": the log's verdict
  const char* verdict() const;
};

extern const SmtpReply kQuarantineUnavailable;  // 451 4.3.0

// What the filters said before end of data: at connect and HELO (for the whole
// session) and at MAIL and each RCPT (for this transaction). It all counts for the
// message: a header added at MAIL FROM (say, Received-SPF) goes on the message too.
struct Evidence {
  std::vector<Symbol> symbols;
  std::vector<HeaderField> add_headers;
  bool quarantine_requested = false;  // a filter asked for quarantine before the data
  std::string quarantine_by;          // which filter
  void add(const ChainResult& r);
  void add(const Evidence& later);  // a later stage's evidence after this one's
};

double total_score(const std::vector<Symbol>& symbols);
// A symbol name counts once (the first report; a later one is noted in its
// `where`): the spf/dkim/dmarc filters and SpamAssassin's stock rules of the same
// names both report SPF_PASS, DKIM_VALID, ... decide() and the log apply it.
void count_each_name_once(std::vector<Symbol>& symbols);

// ---- Early checks: a refusal and the rule that made it, or nullopt ------------------
struct Refusal {
  SmtpReply reply;
  std::string rule;  // "policy.deny.client_ip 192.0.2.0/24"
};
std::optional<Refusal> check_client(const PolicyConfig& p, const ClientInfo& client);
std::optional<Refusal> check_helo(const PolicyConfig& p, const ClientInfo& client);
std::optional<Refusal> check_sender(const PolicyConfig& p, const Mailbox& sender);
// At RCPT TO: the recipient's domain policy's deny lists (client, HELO, sender,
// recipient) and the global recipient list; with delay_reject also the global client,
// HELO and sender lists, which were not applied earlier.
std::optional<Refusal> check_rcpt(const PolicyConfig& p, const ClientInfo& client, const Mailbox& sender,
                                  const Mailbox& rcpt);

// ---- End of data -------------------------------------------------------------------
struct MessageFacts {
  const ClientInfo* client = nullptr;
  const Mailbox* sender = nullptr;             // MAIL FROM
  const std::vector<Mailbox>* rcpts = nullptr;  // accepted recipients
  const AuthResults* auth = nullptr;           // SPF/DKIM/DMARC outcomes (may be null)
  std::string from_domain;                     // header From domain, "" if none
  // Every domain named in any From field (several mailboxes or fields, which leave
  // from_domain empty): deny.from_domain checks them all, so a second mailbox
  // cannot hide a denied domain.
  std::vector<std::string> all_from_domains;
};

// The domains after '@' in every From field of a message, lowercased (for
// MessageFacts::all_from_domains; a rough scan, not a parser: it errs on finding more).
std::vector<std::string> domains_in_from(const std::vector<const HeaderField*>& from_fields);

// `end_of_data` is the last stage's chain result; `earlier` everything before it.
// `policy` null: no policy section (filters' verdicts only, as before thresholds).
Decision decide(const ChainResult& end_of_data, const Evidence& earlier, const PolicyConfig* policy,
                const MessageFacts& facts, bool quarantine_available);

}  // namespace mxgate
