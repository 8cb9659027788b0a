// DNS lists (RFC 5782): what a list is asked, and what its answer means.
//
// A client list (DNSBL, DNSWL: Spamhaus ZEN, SpamCop, DNSWL.org) is asked about
// the connecting address: "2.0.0.127.zen.spamhaus.org" (IPv6: 32 reversed nibbles).
// A domain list (URIBL, SURBL, Spamhaus DBL) is asked about the registrable domain
// of the hosts in the message's links and of the From, Reply-To and envelope
// sender addresses: "example.com.dbl.spamhaus.org"; a link to an address is asked
// as the reversed address, as SURBL and URIBL list them. With an API key
// (Spamhaus DQS) the key sits between the item and the zone.
//
// An answer is an address in 127.0.0.0/8. What each means is the list's own
// business, so each list names its codes: an address, a range ("127.0.0.4-127.0.0.7"),
// a network ("127.0.0.10/31"), or bits of the last octet (URIBL's and SURBL's
// multi lists: "bits: 2"). Error codes (Spamhaus's 127.255.255.x: "query refused,
// use DQS"; 127.0.0.1, which URIBL and SURBL answer to blocked resolvers) and
// anything outside 127/8 (a resolver that rewrites NXDOMAIN) are never a listing:
// peers that counted them rejected all mail (Haraka #3106).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "filters/smtp_reply.hpp"

namespace mxgate {

struct DnsblCode {
  enum class Kind { Range, Bits } kind = Kind::Range;
  std::uint32_t lo = 0, hi = 0;  // Range: the addresses it covers (host order)
  std::uint32_t bits = 0;        // Bits: any of these bits set in the last octet
  std::string text;              // as configured
  std::string symbol;
  double score = 0;
  bool matches(std::uint32_t a) const {
    // Bits are the multi lists' 127.0.0.X answers.
    return kind == Kind::Bits ? (a >> 8) == 0x7F0000 && (a & 0xff & bits) != 0 : a >= lo && a <= hi;
  }
};

struct DnsblList {
  enum class Target { Client, Domains };
  std::string name;    // the default symbol and the log's name ("SPAMHAUS_ZEN")
  std::string zone;    // "zen.spamhaus.org"
  std::string key;     // an API key asked under (Spamhaus DQS): ITEM.KEY.ZONE
  Target target = Target::Client;
  bool ipv6 = true;    // client lists: asked about IPv6 clients too
  // Domain lists: what is asked about.
  bool urls = true, from = true, reply_to = true, mail_from = true;
  bool ips = true;     // links to an address asked as the reversed address
  std::vector<DnsblCode> codes;  // none: any listing code is `name` with `score`
  double score = 0;
  std::vector<DnsblCode> errors;  // never a listing (default 127.0.0.1, 127.255.255.0/24)
  bool reject = false;           // client lists: refuse the client instead of scoring
  bool reject_at_rcpt = false;   // ... at RCPT (its reply names the list) rather than at connect
  SmtpReply reply{554, "5.7.1", "Service unavailable; client [{ip}] blocked using {zone}"};
};

// "2.0.0.127.zen.spamhaus.org": the question for an address (client lists and
// links to an address) or a domain; "" if `ip` is no address.
std::string dnsbl_query_for_ip(const DnsblList& l, const std::string& ip);
std::string dnsbl_query_for_domain(const DnsblList& l, const std::string& domain);

// "127.0.0.4-127.0.0.7", "127.0.0.10/31", "127.0.0.2": the range; false if bad.
bool parse_dnsbl_range(const std::string& text, DnsblCode* out);

struct DnsblAnswer {
  std::vector<const DnsblCode*> listed;  // each code matched, once (a default code for `codes` empty)
  std::vector<std::string> listed_as;    // the answers that matched, parallel
  std::optional<std::string> error;      // an error code or an answer outside 127/8
};
// `records`: the A records of the answer. `fallback` is the code used when the list
// has no codes of its own (its name and score).
DnsblAnswer interpret_dnsbl_answer(const DnsblList& l, const std::vector<std::string>& records,
                                   const DnsblCode& fallback);

// The reply for a refused client: {ip} and {zone} filled in.
SmtpReply dnsbl_reply(const DnsblList& l, const std::string& ip);

}  // namespace mxgate
