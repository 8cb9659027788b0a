// SpamAssassin's network tests of the DNSEval plugin, as its stock rules write them
// (20_dnsbl_tests.cf):
//   header __RCVD_IN_ZEN  eval:check_rbl('zen', 'zen.spamhaus.org.')
//   header RCVD_IN_SBL    eval:check_rbl_sub('zen', '127.0.0.2')
//   header RCVD_IN_XBL    eval:check_rbl('zen-lastexternal', 'zen.spamhaus.org.', '^127\.0\.0\.[45678]$')
// asked through the one resolver when content.network_tests is on (off by default:
// like SpamAssassin's -L), so the stock RCVD_IN_* rules and their scores apply; the
// message is then scored with SpamAssassin's network score set.
//
// Which addresses a check_rbl asks about (DNSEval's check_rbl_backend): the
// untrusted relays' addresses, private ones dropped, each once, newest first
// reversed to oldest first, plus the originating-IP headers' untrusted addresses
// (X-Originating-IP...); a set named "-lastexternal" asks only about the last
// external relay (the one that handed the mail to the trusted side), "-notfirsthop"
// about all external ones but the origin, "-firsttrusted" about the first trusted
// one, "-untrusted" all untrusted but the first; at most num_check_received
// addresses (9); trusted relays are never asked about except by `nice` rules.
// mxgate's own client is the first untrusted relay (relays.hpp). Answers outside
// 127/8 are ignored (SpamAssassin bug 6803). A check_rbl_sub hits when an answer to
// its set's questions matches its subtest: a regular expression, an address
// (equal), or a number (a bit mask over the address).
//
// DNSEval's other lists, in the same sets (none is in the stock rules; local rules
// use them): check_rbl_envfrom (the envelope sender's host), check_rbl_from_host
// (the hosts of all_from_addrs), check_rbl_from_domain (their registrable domains),
// check_rbl_headers (the first address's host of each listed field, default
// EnvelopeFrom, Reply-To, Disposition-Notification-To, X-WebmasterMail, X-MailFrom,
// else each line of the field as a host), check_rbl_rcvd (the origin relay's
// address, by, helo and rDNS names), check_rbl_ns_from (the envelope sender
// domain's name servers, a second round); a name needs a known TLD (util_rb_tld),
// an address is reversed; tflags domains_only / ips_only choose. check_dns_sender
// (NO_DNS_FOR_FROM) hits when the envelope sender's domain has neither an A nor an
// MX record, both answered for certain. (SpamAssassin 4.0.1 looks for that only
// among answers that carry A or MX records, so its rule practically never fires;
// its check_rbl_ns_from reads the authority section's SOA primary name instead of
// the NS records.)
//
// And of the URIDNSBL plugin (25_uribl.cf):
//   urirhssub URIBL_DBL_SPAM dbl.spamhaus.org. A 127.0.1.2
//   body      URIBL_DBL_SPAM eval:check_uridnsbl('URIBL_DBL_SPAM')
// urirhssub and urirhsbl rules ask about the registrable domain of each host of
// the message's URI detail list (an address as the reversed address), skipping
// uridnsbl_skip_domain entries, at most uridnsbl_max_domains (20) picked as
// SpamAssassin picks them (links with anchor text first, then forms, images, other
// tags, text-parser URIs). A subtest is an address, a number (a bit mask, 127/8
// only), a range "a-b" or "value/mask" (decimal, hex or dotted).
//   uridnssub URIBL_SBL   zen.spamhaus.org. A 127.0.0.2      (tflags net: ns)
//   uridnssub URIBL_SBL_A zen.spamhaus.org. A 127.0.0.2      (tflags net a)
// uridnsbl and uridnssub rules ask an address list about addresses behind the
// links: with tflags `ns` (the default) the addresses of each link domain's name
// servers, with `a` the addresses of each link host; either way in rounds (the
// NS and A questions, then the name servers' A questions, then the list's), each
// bounded (kMaxNsPerDomain, kMaxAddrsPerName, kMaxUriAddresses). Link hosts that
// are addresses are asked only by the rhs rules, as SpamAssassin does. (SpamAssassin
// 4.0.1's code asks the name servers' addresses with the `a` rules instead, which
// its own documentation contradicts; mxgate does what the documentation says.)
// urinsrhsbl and urifullnsrhsbl (name servers' names in a domain list) are not
// supported.
//
// The questions are asked before the scan (ContentFilter::on_end_of_data: the
// plan, then extend_network_plan for each further round) and the eval functions
// read the answers (NetworkHits through the EvalContext).
#pragma once
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "filters/content/eval_tests.hpp"
#include "filters/dns/query_all.hpp"
#include "rules/rule_compiler.hpp"

namespace mxgate {

struct RelayPath;
class EvalContext;

// The rule files' URIDNSBL settings.
struct UriDnsblSettings {
  struct Rhs {
    std::string rule, zone;
    RrType type = RrType::A;
    std::string subtest;  // canonical: "N" mask, "A-B" range, "V/M"; "" none
  };
  std::vector<Rhs> rhs;
  std::vector<Rhs> rev;  // uridnsbl / uridnssub: an address list, asked about the addresses behind a link
  std::set<std::string, std::less<>> skip;  // uridnsbl_skip_domain
  std::size_t max_domains = 20;
};
std::set<std::string, std::less<>> uridnsbl_setting_keys();
Result<std::shared_ptr<const UriDnsblSettings>> parse_uridnsbl_settings(const std::vector<rules::Setting>& settings);
// A URIDNSBL subtest ("127.0.1.2", "2", "127.0.0.2-127.0.0.9", "0x7f000002/0xff")
// in canonical form, or nullopt if it is none of these.
std::optional<std::string> canonical_uridnsbl_subtest(std::string_view subtest);
bool uridnsbl_subtest_matches(const std::string& canonical, const std::string& answer);

struct NetworkPlan {
  struct Ask {
    std::string rule;     // the check_rbl rule
    std::string set;
    std::string subtest;  // "" for none
    std::string ip;
    std::string zone;
    std::size_t question = 0;  // index into questions (rules sharing one share it)
    bool uri = false;          // a URIDNSBL subtest (canonical form)
  };
  std::vector<DnsQuestion> questions;  // each once
  std::vector<Ask> asks;
  // set -> its check_rbl_sub rules (subtest, rule)
  std::map<std::string, std::vector<std::pair<std::string, std::string>>> subs;

  // The URIDNSBL address rules' later rounds (extend_network_plan).
  struct UriHost {
    std::string host, domain;
    std::size_t ns_question = kNone, a_question = kNone;  // round 1
  };
  struct NsName {
    std::string name, domain;  // the name server, and the link domain it serves
    std::size_t a_question = kNone;
  };
  static constexpr std::size_t kNone = static_cast<std::size_t>(-1);
  std::vector<UriDnsblSettings::Rhs> ns_rules, a_rules;  // tflags ns / a
  struct DnsSender {  // check_dns_sender
    std::string rule, domain;
    std::size_t a_question = kNone, mx_question = kNone;
  };
  struct NsFrom {  // check_rbl_ns_from: the name servers' names in a name list, round 2
    std::string rule, set, subtest, zone, domain;
    std::size_t ns_question = kNone;
  };
  std::vector<DnsSender> dns_senders;
  std::vector<NsFrom> ns_froms;
  std::vector<UriHost> uri_hosts;
  std::vector<NsName> ns_names;  // round 2
  int round = 1;

  // The index of a question, added if new: each asked once.
  std::size_t question(const std::string& name, RrType type);
  std::map<std::pair<std::string, int>, std::size_t> index;
};

// What the rule set's network tests ask about this message (pure). `ctx` (for the
// URI detail list) may be null: then no URIDNSBL questions.
NetworkPlan plan_network_tests(const rules::RuleSet& rs, const RelayPath& path, const EvalSettings& settings,
                               const MimeView& view, EvalContext* ctx = nullptr);

// The next round of questions, from the answers to every question so far (in
// order): the link domains' name servers' addresses after round 1, the address
// lists' questions after round 2. False when there is nothing more to ask.
bool extend_network_plan(NetworkPlan& plan, const std::vector<DnsResult>& answers);

// Which rules hit, from the answers (in the plan's question order).
NetworkHits network_hits(const NetworkPlan& plan, const std::vector<DnsResult>& answers);

// check_subtest: a regular expression, an address (equal) or a number (bits).
bool dnsbl_subtest_matches(const std::string& subtest, const std::string& answer);

}  // namespace mxgate
