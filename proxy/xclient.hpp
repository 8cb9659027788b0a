// XCLIENT (Postfix XCLIENT_README): a trusted front (a proxy, a test harness)
// presents the real client's attributes, and the session starts over as if that
// client had connected. Parsing is a pure function beside the command parser, so
// every attribute's syntax is unit-tested without a socket.
//
// Attributes: ADDR (IPv4, or IPv6 with or without the "IPV6:" prefix), PORT,
// DESTADDR, DESTPORT, NAME, HELO, PROTO (SMTP|ESMTP), LOGIN; each value xtext
// (RFC 3461 4); [UNAVAILABLE] and [TEMPUNAVAIL] keep what is known. An unknown
// attribute, a bad value or no attribute at all is a 501 5.5.4 and changes nothing.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "filters/envelope.hpp"
#include "filters/smtp_reply.hpp"

namespace mxgate {

struct XclientAttributes {
  ClientInfo client;          // the presented client (xclient set)
  std::string local_ip;       // DESTADDR, else as before
  std::uint16_t local_port = 0;  // DESTPORT, else as before
  bool helo_given = false;    // HELO was presented: later EHLOs do not replace it
};

struct XclientParse {
  std::optional<XclientAttributes> attributes;  // set on success
  std::optional<SmtpReply> error;               // 501 5.5.4 ... on failure
};

// `arg`: everything after "XCLIENT "; `current`, `local_ip`, `local_port`: the
// session as it is, which attributes not given (or unavailable) keep.
XclientParse parse_xclient(std::string_view arg, const ClientInfo& current, const std::string& local_ip,
                           std::uint16_t local_port);

}  // namespace mxgate
