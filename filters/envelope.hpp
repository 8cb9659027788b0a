// Envelope: what the SMTP dialogue has told us so far about one session and its
// current transaction. Filters read it; only proxy/session.cpp writes it.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace mxgate {

struct FilterState;

// A reverse- or forward-path from MAIL FROM / RCPT TO (RFC 5321 4.1.2).
struct Mailbox {
  std::string address;              // "user@example.org" without <>; "" for the null path <>
  std::vector<std::string> params;  // ESMTP parameters as sent: "SIZE=1234", "BODY=8BITMIME"
  bool is_null() const { return address.empty(); }
  std::string local_part() const;
  std::string domain() const;  // "" if none (e.g. <postmaster>)
};

struct ClientInfo {
  std::string ip;               // the client's address; the XCLIENT-presented one where trusted
  std::uint16_t port = 0;
  std::string name = "unknown";  // verified reverse name when known (XCLIENT NAME), else "unknown"
  std::string helo;             // HELO/EHLO argument
  bool esmtp = false;           // greeted with EHLO
  bool tls = false;             // STARTTLS completed
  std::string tls_version;      // "TLSv1.3"
  std::string tls_cipher;
  std::string login;            // XCLIENT LOGIN, if presented
  bool xclient = false;         // attributes above came from a trusted XCLIENT
  std::string peer_ip;          // the TCP peer, which differs from ip after XCLIENT
};

struct Envelope {
  std::string session_id;  // unique per connection, e.g. "4FZ2K9"
  std::string txn_id;      // session_id + "." + transaction number; "" outside a transaction
  std::string local_ip;
  std::uint16_t local_port = 0;
  ClientInfo client;
  std::optional<Mailbox> mail_from;  // set from MAIL FROM until the transaction ends
  std::vector<Mailbox> rcpts;        // recipients accepted so far, by us and the downstream
  std::uint64_t declared_size = 0;   // MAIL FROM SIZE=, 0 if not given
  bool smtputf8 = false;             // MAIL FROM SMTPUTF8
  std::string body_type;             // MAIL FROM BODY= ("7BIT", "8BITMIME") or ""
  // Services and results shared by this session's filters (filters/filter_state.hpp);
  // the same object in every snapshot of the session. Null outside a session
  // (filters must cope: no DNS, nothing to hand on).
  std::shared_ptr<FilterState> state;
};

}  // namespace mxgate
