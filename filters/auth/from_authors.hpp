// The authors of a message: its RFC5322.From field(s) parsed once per transaction
// and shared by DMARC (every author domain, RFC 7489 6.6.1), policy (the From domain
// of its allow and deny lists) and the log.
//
// RFC 5322 3.4 address syntax with the obsolete forms of 4.4, over the raw field
// value: nested comments, quoted strings, folding, no fixed buffers (an 8 KB or 70 KB
// From parses like any other). Being lenient would be a security bug: an attacker
// wants one domain evaluated while the reader's mail client shows another. So every
// mailbox of every From field is an author (group members included), and anything
// that is not a clean list of mailboxes with domain names is a problem the caller can
// refuse on. A field that does not parse at all still has the domains after its '@'s
// found by a rough scan, so a malformed From cannot hide a domain.
#pragma once
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "filters/envelope.hpp"
#include "filters/message.hpp"

namespace mxgate {

// Lowercases ASCII letters and removes one trailing dot. "" if the result is not a
// domain name (empty, an empty label, a label over 63 or a name over 253 octets).
std::string normalize_domain(std::string_view domain);

struct FromDomain {
  bool ok = false;
  std::string domain;       // lowercased, no trailing dot
  std::string local_part;   // as written (quoted strings unquoted)
  std::string error;        // why not ok: "2 mailboxes in From", "group syntax in From", ...
};

// Parses one From field value (RFC 5322 3.6.2 mailbox-list, 4.4 obsolete forms) and
// requires exactly one mailbox with a domain name. 8-bit bytes are allowed in display
// names and comments (RFC 6532); in the domain only if `smtputf8`.
FromDomain parse_from_domain(std::string_view field_value, bool smtputf8 = false);
// The same for a whole message: exactly one From field.
FromDomain from_domain_of(const Message& msg, bool smtputf8 = false);

// Every author of a message (RFC 7489 6.6.1): each mailbox of each From field.
struct FromAuthors {
  std::size_t fields = 0;               // From fields in the message
  std::vector<FromDomain> mailboxes;    // every mailbox (group members too), in order
  // Why From is not one clean list of mailboxes with domain names: "no From field", a
  // syntax error, a group, a mailbox without a usable domain. Empty if it is.
  std::vector<std::string> problems;
  // Domains found after an '@' in fields that did not parse (normalised).
  std::vector<std::string> salvaged;
  // The distinct usable domains, in From order, then the salvaged ones.
  std::vector<std::string> domains() const;
};
FromAuthors from_authors_of(const Message& msg, bool smtputf8 = false);

// A rough scan, not a parser: the names after every '@' of a field value, lowercased,
// without trailing dots, each once. It errs on finding more (comments and display
// names included), which is what a check that must not miss a domain wants.
std::vector<std::string> domains_seen_in(std::string_view field_value);

// The authors of this transaction's message, parsed once and kept in the session's
// FilterState (parsed anew, not kept, without one). SMTPUTF8 comes from the envelope.
std::shared_ptr<const FromAuthors> authors_of(const Envelope& env, const Message& msg);

// The From domain when there is exactly one author with a usable domain in exactly
// one From field and nothing wrong with it (what from_domain_of() finds), else "".
std::string single_author_domain(const FromAuthors& a);

}  // namespace mxgate
