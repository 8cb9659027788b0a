// The end-of-data outcome: everything the filters and lists said about a message ->
// what the client hears, what the MX gets, and what the log says about why.
//
// One function, finish(), for every caller: the SMTP session, `mxgate check`, and the
// tools to come (quarantine release, corpus evaluation, the console). None of them
// builds a header, edits a message or merges evidence on its own, so they cannot
// drift apart.
//
// finish() = decide() (policy.hpp: the verdict and the rule behind it) plus what the
// verdict means for the message:
//   - the fields to prepend, in order: our Authentication-Results (RFC 8601), the
//     filters' own fields (Received-SPF...), SpamAssassin's X-Spam-* (tagging.hpp);
//   - the header edit: incoming Authentication-Results that claim our authserv-id
//     and incoming X-Spam-* of the names we write are removed (a sender must not
//     forge our verdict), the Subject prefixed when tagged;
//   - the facts the transaction log needs to answer "why?" on its own.
// A refused message (reject, tempfail) gets no headers and no edit: nothing is sent.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "filters/auth/auth_results.hpp"
#include "filters/envelope.hpp"
#include "filters/message.hpp"
#include "policy/policy.hpp"
#include "policy/quarantine.hpp"
#include "policy/tagging.hpp"

namespace mxgate {

// What of the running config the outcome depends on.
struct OutcomeSettings {
  const PolicyConfig* policy = nullptr;  // null: the filters' verdicts only
  std::string_view authserv_id;          // ours, in Authentication-Results (the config's, outliving the call)
  bool quarantine_available = false;     // a quarantine store is configured
  // With no filter configured nothing was scored: an "X-Spam-Status: No, score=0.0"
  // would claim a check that never ran.
  bool filters_configured = true;
};

// What the transaction log line needs beyond the decision.
struct LogFacts {
  std::string header_from, subject, message_id;  // the first of each, unfolded
  std::string authentication_results;            // our value, unfolded ("" if nothing was checked)
  // Score-0 notes on what the edit did (FORGED_AUTH_RESULTS_REMOVED,
  // FORGED_SPAM_HEADERS_REMOVED), for the log only.
  std::vector<Symbol> notes;
};

struct Outcome {
  Decision decision;                   // verdict, reply, every symbol, score, deciding rule
  std::vector<HeaderField> prepend;    // fields to put on top, in order (valid ones only)
  HeaderEdit edit;                     // what was removed and prefixed (counts filled in)
  std::optional<std::string> edited;   // the message after the edit; nullopt if unchanged
  LogFacts log;
  bool delivers() const { return decision.action == Action::Accept || decision.action == Action::Quarantine; }
  // The prepended fields in wire form.
  std::string prepend_wire() const;
  // The message as it leaves: edited, or the original bytes.
  const std::string& body(const Message& msg) const { return edited ? *edited : msg.data(); }
};

// The facts policy reads about a message and its envelope; the From domain (or all
// of them, when From is not one mailbox) is read here once.
MessageFacts message_facts(const Envelope& env, const AuthResults* auth, const Message& msg);

// `end_of_data`: the last stage's chain result; `earlier`: every stage before it,
// connect and HELO included.
Outcome finish(const OutcomeSettings& s, const ChainResult& end_of_data, const Evidence& earlier,
               const MessageFacts& facts, const Message& msg);

// The quarantine's index record for a message the outcome holds (the id and time are
// the store's to give).
QuarantineRecord quarantine_record(const Envelope& env, const Outcome& out, const Message& msg);

}  // namespace mxgate
