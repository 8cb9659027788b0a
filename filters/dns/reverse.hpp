// The client's verified host name (forward-confirmed reverse DNS), as Postfix's
// smtpd finds it: the PTR names of the address, each looked up forward; the first
// name (in PTR order) whose A/AAAA records include the address is the client's name.
// Anything else — no PTR, a PTR whose name does not resolve back, a malformed name,
// a DNS failure — leaves the name "unknown". Forward lookups run concurrently.
#pragma once
#include <string>

#include "base/task.hpp"

namespace mxgate {

class DnsLookup;

struct ClientName {
  std::string verified;  // "" if none
  std::string reverse;   // the first PTR name, verified or not ("" if none)
  bool temporary = false;  // a DNS failure, not an answer, left the name unknown
};

// `ip`: IPv4 or IPv6 text (an IPv4-mapped IPv6 address is looked up as IPv4).
// At most `max_names` PTR names are checked.
Task<ClientName> lookup_client_name(DnsLookup& dns, std::string ip, unsigned max_names = 5);

// "4.3.2.1.in-addr.arpa" / nibble form under "ip6.arpa"; "" if `ip` is not an address.
std::string reverse_lookup_name(const std::string& ip);
// The same without the suffix ("4.3.2.1", 32 nibbles for IPv6): how DNS lists are
// asked about an address (RFC 5782 2.1, 2.4).
std::string reversed_address(const std::string& ip);

}  // namespace mxgate
