// SpamAssassin's trust path: every Received header parsed into a relay (ip, rdns,
// helo, by, ident, envfrom, id, auth), the relays split top-down into trusted /
// untrusted and internal / external (Message/Metadata/Received.pm of 4.0.1), and
// the pseudo-headers its rules read:
//
//   X-Spam-Relays-Untrusted  "[ ip=1.2.3.4 rdns=mx.example.com helo=mx.example.com by=mx.our.net
//                              ident= envfrom= intl=0 id=4Q2x auth= msa=0 ] [ ... ]"
//   X-Spam-Relays-Trusted / -Internal / -External, and ALL-TRUSTED, ALL-UNTRUSTED,
//   ALL-INTERNAL, ALL-EXTERNAL (the header fields above / below the trust boundary).
//
// Two ways in:
// - Offline (`mxgate check`, no client address): only the headers, as SpamAssassin
//   reads a corpus file.
// - Live: mxgate is the receiving MX but adds no Received header before scanning;
//   it knows the connecting client for certain, so that client becomes the first
//   relay (SpamAssassin would read it from its own MX's Received header): the first
//   untrusted relay is a fact, not a parse. mxgate itself counts as trusted.
//
// Trust: trusted_networks / internal_networks / msa_networks from the rule files
// (127/8 and ::1 always in), or, when neither of the first two is set, SpamAssassin's
// inference: a relay from a private address or with an authentication token is
// trusted (and internal), and trust stops at the first one that is neither.
//
// Bounded: at most kMaxReceived Received headers, each cut at kMaxReceivedBytes.
// Pure CPU work on the immutable message; safe on any thread.
#pragma once
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "filters/cidr.hpp"
#include "filters/envelope.hpp"
#include "filters/message.hpp"
#include "filters/mime/mime.hpp"

namespace mxgate {

inline constexpr std::size_t kMaxReceived = 50;
inline constexpr std::size_t kMaxReceivedBytes = 4096;

// One trusted_networks-style list: entries in file order, "!" ones excluding.
// The most specific entry containing an address decides (SpamAssassin with
// Net::Patricia; its sequential fallback takes the first match, which agrees
// when, as its manual asks, narrower entries come first).
struct NetList {
  struct Entry {
    Cidr net;
    bool exclude = false;
  };
  std::vector<Entry> entries;
  bool contains(const std::string& ip) const;
};

struct RelaySettings {
  NetList trusted, internal, msa;  // each also holds 127/8 and ::1 (SpamAssassin adds them)
  bool trusted_configured = false, internal_configured = false;
  // Single-address headers read as one more (oldest) relay, "from X-Originating-IP: ip"
  // (10_default_prefs.cf sets these; used when the rule files do not mention the key).
  std::vector<std::string> originating_ip_headers = {
      "X-Yahoo-Post-IP", "X-Originating-IP", "X-Apparently-From", "X-SenderIP", "X-AOL-IP",
      "X-MS-Exchange-CrossTenant-OriginalAttributedTenantConnectingIp"};
};

struct Relay {
  std::string ip, rdns, helo, by, ident, envfrom, id, auth;
  bool ip_private = false;
  bool no_reverse_dns = false;  // the MTA looks names up and found none
  bool internal = false, msa = false;
  // SpamAssassin's as_string: "[ ip=... rdns=... helo=... by=... ident= envfrom= intl=0 id= auth= msa=0 ]".
  std::string as_string() const;
};

// What one Received header gave: a relay, nothing useful (a local handover,
// skipped as SpamAssassin skips it), or unparseable.
struct ReceivedParse {
  enum class Kind { Relay, Skipped, Unparseable, FetcherMarker } kind = Kind::Unparseable;
  Relay relay;
  std::string qmail_scanner_envfrom;  // set with Skipped for qmail-scanner lines
};
// `value` is the field value (folding allowed).
ReceivedParse parse_received(std::string_view value);

struct RelayPath {
  std::vector<Relay> trusted, untrusted, internal, external;  // each newest first
  std::size_t unparseable = 0;
  // Index (counting Received headers from the top, 0 = the newest) of the last
  // trusted / internal one; -1: none. With a client relay the indices count it as
  // Received header 0, as SpamAssassin counts its own MX's header.
  int last_trusted_index = -1, last_internal_index = -1;
  bool client_relay = false;  // the first relay is the live SMTP client
  std::string trusted_str, untrusted_str, internal_str, external_str;
};

// SpamAssassin's IS_IP_PRIVATE: RFC 1918, loopback, link-local and their IPv6 kin.
bool ip_is_private(std::string_view ip);

// Parses the message's Received headers (at most kMaxReceived) and, when the
// envelope has a client address, puts that client first.
RelayPath analyse_relays(const RelaySettings* settings, const MimeView& view, const Message& msg,
                         const Envelope& env);

// The text of X-Spam-Relays-* (any case) and ALL-TRUSTED / ALL-UNTRUSTED /
// ALL-INTERNAL / ALL-EXTERNAL (exact, optionally ":raw"), as SpamAssassin's get()
// returns it; nullopt for any other key or when SpamAssassin returns nothing.
std::optional<std::string> relay_header_text(std::string_view field, bool raw, const RelayPath& path,
                                             const MimeView& view, const Message& msg);
// The pseudo-header names above.
bool is_relay_pseudo_header(std::string_view field);

// SpamAssassin's get_envelope_from(): in a live transaction (a client address and
// a MAIL FROM) the MAIL FROM address; for a stored message, the envelope sender the
// last untrusted relay (else the first trusted one) recorded, then X-Envelope-From,
// Envelope-Sender and Return-Path, each only if no field of that name is below a
// Received field (a later hop may have changed the envelope). An X-Sender with an address on a
// fetchmail-retrieved message makes it unknown. nullopt: unknown.
std::optional<std::string> envelope_sender(const RelayPath* path, const MimeView& view, const Message& msg,
                                           const Envelope& env);

// The message's relays, computed once per message and shared by every eval test
// that reads them (RelayEval here, WLBLEval's check_mailfrom_matches_rcvd, ...).
class EvalContext;
const RelayPath& relay_path(EvalContext& ctx);

}  // namespace mxgate
