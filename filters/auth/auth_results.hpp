// AuthResults: what the SPF, DKIM and DMARC filters found for one transaction, and
// the Authentication-Results header (RFC 8601) that reports it downstream.
//
// The filters run in config order and hand their outcomes to each other through
// FilterState::auth (filters/filter_state.hpp): SPF writes at MAIL FROM, DKIM at end
// of data, DMARC reads both. The session formats the header once, at end of data,
// and removes any Authentication-Results field that claims our authserv-id
// (RFC 8601 5), so a sender cannot forge our verdict.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "filters/message.hpp"

namespace mxgate {

// RFC 8601 2.7 result names (softfail is SPF only, policy DKIM only).
enum class AuthResult { None, Pass, Fail, SoftFail, Neutral, Policy, TempError, PermError };
const char* auth_result_name(AuthResult r);

struct SpfOutcome {
  AuthResult result = AuthResult::None;
  std::string identity;     // "mailfrom" or "helo" (RFC 7208 2.3, 2.4)
  std::string sender;       // the checked identity: "user@example.org", or "postmaster@helo.name"
  std::string domain;       // its domain
  std::string client_ip;
  std::string helo;
  std::string mechanism;    // the term that matched, e.g. "ip4:192.0.2.0/24", "default"
  std::string reason;       // for logs and Received-SPF comments: "no SPF record", "DNS timeout on ..."
  std::string explanation;  // the domain's exp= text, on fail
};

struct DkimOutcome {
  AuthResult result = AuthResult::None;  // pass fail neutral policy temperror permerror
  std::string domain;       // d=, only if it is a valid domain name, else ""
  std::string selector;     // s=, likewise
  std::string identity;     // i=, if given and valid
  std::string algorithm;    // a=, e.g. "rsa-sha256"
  std::string b_prefix;     // the first characters of b=, to tell signatures apart (RFC 6008)
  unsigned key_bits = 0;
  std::string reason;       // "body hash mismatch", "key revoked", "rsa-sha1 not accepted"
};

// ARC (RFC 8617): the chain of forwarders' seals on the message.
struct ArcOutcome {
  AuthResult result = AuthResult::None;  // none, pass, fail
  unsigned instances = 0;                // ARC sets on the message (N)
  // RFC 8617 5.2 step 5: 0 when every ARC-Message-Signature still validates, else the
  // oldest instance from which on they all do.
  unsigned oldest_pass = 0;
  std::string reason;
  std::vector<std::string> sealers;  // d= of each ARC-Seal, instance 1..N (pass only)
  std::vector<std::string> aar;      // each ARC-Authentication-Results after "i=N;", 1..N (pass only)
};

// One author domain's result, when a message has several (DmarcOutcome::authors).
struct DmarcAuthorResult {
  std::string domain;
  AuthResult result = AuthResult::None;
  std::string disposition;  // on fail
};

struct DmarcOutcome {
  AuthResult result = AuthResult::None;  // pass fail none temperror permerror
  // With several author domains, every field above `authors` is the strictest
  // domain's (RFC 7489 6.6.1); from_domain is "" when the decider is a bad From.
  std::string from_domain;    // RFC5322.From domain ("" if From could not be used)
  std::string policy_domain;  // where the record was found (From domain or organisational domain)
  std::string policy;         // requested: "none", "quarantine", "reject" (p, sp or np as applied)
  std::string disposition;    // after pct: "none", "quarantine", "reject"
  bool spf_aligned = false;
  bool dkim_aligned = false;
  std::string reason;
  std::size_t from_fields = 0;    // From fields in the message
  std::size_t mailboxes = 0;      // author mailboxes in all of them
  // Why From is not one clean list of mailboxes with domains ("" if it is): no From,
  // a syntax error, a group, an address without a usable domain, too many domains.
  std::string bad_from;
  std::vector<DmarcAuthorResult> authors;  // each author domain's result, if more than one
  // More author domains than kMaxAuthorDomains: the rest were not evaluated, so a
  // p=reject domain may be among them. The dmarc filter refuses such mail itself.
  bool too_many_authors = false;
  bool multiple_authors() const { return from_fields > 1 || mailboxes > 1; }
};

struct AuthResults {
  std::optional<SpfOutcome> spf_helo;  // the HELO identity, once per session
  std::optional<SpfOutcome> spf;       // this transaction's MAIL FROM (or HELO for <>)
  bool dkim_checked = false;
  std::vector<DkimOutcome> dkim;       // one per DKIM-Signature, in header order
  std::optional<DmarcOutcome> dmarc;
  std::optional<ArcOutcome> arc;
  // Bumped at each new transaction. A hook reads it when it starts and writes its
  // outcome only if it is unchanged: a hook that overran smtp.filter_timeout and
  // finishes during the next transaction must not report into it.
  std::uint64_t generation = 0;
  bool empty() const { return !spf && !spf_helo && !dkim_checked && !dmarc && !arc; }
  void reset_transaction() {
    ++generation;
    spf.reset();
    dkim_checked = false;
    dkim.clear();
    dmarc.reset();
    arc.reset();
  }
};

// The value of an Authentication-Results field: "authserv-id; spf=pass smtp.mailfrom=...;
// dkim=...; dmarc=...", folded. Values that are not RFC 2045 tokens are quoted.
std::string authentication_results_value(std::string_view authserv_id, const AuthResults& auth);
// True if an existing Authentication-Results field names this authserv-id (compared
// case-insensitively, comments skipped).
bool claims_authserv_id(const HeaderField& field, std::string_view authserv_id);
// The message data without the Authentication-Results fields that claim our
// authserv-id, byte for byte otherwise (other fields may be DKIM-signed); nullopt if
// there are none.
std::optional<std::string> without_our_results(const Message& msg, std::string_view authserv_id);
// An RFC 8601 / RFC 2045 value: the string itself if it is a token (or a dot-atom domain
// or an addr-spec that needs no quoting), else a quoted-string.
std::string ar_value(std::string_view v);

}  // namespace mxgate
