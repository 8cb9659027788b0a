// DnsblFilter: DNS lists, through the one resolver.
//
// - Client lists are asked at connect about the client's address (the TCP peer, or
//   the address a trusted XCLIENT presented): a listing is a symbol with its score
//   for every message of the session, or, with `action: reject`, a refusal — at
//   connect (`554 5.7.1`, before the client ever says HELO, as postscreen does) or
//   at each RCPT (`reject_at: rcpt`, so the log shows whom the mail was for).
// - Domain lists are asked at end of data about the registrable domains (Public
//   Suffix List) of the message's links and of its From, Reply-To and envelope
//   sender; links to an address as the reversed address. Each domain is asked once
//   per list, at most `max_domain_lookups` per list and message.
// A list's error answers are never a listing: logged once per list every ten
// minutes, with how many there were. A timeout or SERVFAIL scores nothing and
// never delays the message beyond the resolver's own timeout (dns.timeout,
// dns.attempts).
//
// Config (filters: - dnsbl: {...}; docs/configuration.md):
//   lists: [ {name, zone, type: client|domains, key, ipv6, codes, score, errors,
//             action: score|reject, reject_at: connect|rcpt, reply, check, ips}, ... ]
//   max_domain_lookups: 20
//   public_suffix_list: /usr/share/publicsuffix/public_suffix_list.dat
//   skip_private: true      private and link-local clients are not asked about
#pragma once
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "filters/auth/public_suffix.hpp"
#include "filters/dnsbl/dnsbl_list.hpp"
#include "filters/filter.hpp"

namespace mxgate {

class ConfigMap;
class DnsLookup;
class MimeView;

struct DnsblConfig {
  std::vector<DnsblList> lists;
  std::size_t max_domain_lookups = 20;
  bool skip_private = true;
  std::string public_suffix_list = kDefaultPublicSuffixList;
  PublicSuffixListPtr psl;
};

// What the domain lists are asked about for a message, per list: the query names
// in order, each once, at most max_domain_lookups; with what each stands for.
struct DomainQuestion {
  std::string query;  // "example.com.dbl.spamhaus.org"
  std::string item;   // "example.com" or "192.0.2.7"
  std::string from;   // "url", "from", "reply-to", "mail-from"
};
std::vector<DomainQuestion> domain_questions(const DnsblConfig& cfg, const DnsblList& l, const Envelope& env,
                                             const Message& msg, const MimeView& view);

class DnsblFilter final : public Filter {
 public:
  explicit DnsblFilter(std::shared_ptr<const DnsblConfig> cfg) : cfg_(std::move(cfg)) {}
  const char* name() const override { return "dnsbl"; }
  Task<Verdict> on_connect(const Envelope& env) override;
  Task<Verdict> on_rcpt_to(const Envelope& env, const Mailbox& rcpt) override;
  Task<Verdict> on_end_of_data(const Envelope& env, const Message& msg) override;
  const DnsblConfig& config() const { return *cfg_; }

 private:
  // The client lists (reject_at_rcpt: those refusing at RCPT; else the others).
  Task<Verdict> check_client(const Envelope& env, bool at_rcpt);
  void error_answer(const DnsblList& l, const std::string& query, const std::string& answer);

  std::shared_ptr<const DnsblConfig> cfg_;
  // Error answers are logged once per list every ten minutes (a list refusing a
  // public resolver would otherwise log every message).
  std::mutex mu_;
  std::map<std::string, std::chrono::steady_clock::time_point> error_logged_;
  std::map<std::string, std::uint64_t> error_count_;
};

FilterPtr make_dnsbl_filter(ConfigMap& cfg);

}  // namespace mxgate
