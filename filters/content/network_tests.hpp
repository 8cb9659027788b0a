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
// And of the URIDNSBL plugin (25_uribl.cf):
//   urirhssub URIBL_DBL_SPAM dbl.spamhaus.org. A 127.0.1.2
//   body      URIBL_DBL_SPAM eval:check_uridnsbl('URIBL_DBL_SPAM')
// urirhssub and urirhsbl rules ask about the registrable domain of each host of
// the message's URI detail list (an address as the reversed address), skipping
// uridnsbl_skip_domain entries, at most uridnsbl_max_domains (20) picked as
// SpamAssassin picks them (links with anchor text first, then forms, images, other
// tags, text-parser URIs). A subtest is an address, a number (a bit mask, 127/8
// only), a range "a-b" or "value/mask" (decimal, hex or dotted). uridnsbl and
// uridnssub (name-server lookups) are not supported.
//
// The questions are asked before the scan (ContentFilter::on_end_of_data) and the
// eval functions read the answers (NetworkHits through the EvalContext).
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
};

// What the rule set's network tests ask about this message (pure). `ctx` (for the
// URI detail list) may be null: then no URIDNSBL questions.
NetworkPlan plan_network_tests(const rules::RuleSet& rs, const RelayPath& path, const EvalSettings& settings,
                               const MimeView& view, EvalContext* ctx = nullptr);

// Which rules hit, from the answers (in the plan's question order).
NetworkHits network_hits(const NetworkPlan& plan, const std::vector<DnsResult>& answers);

// check_subtest: a regular expression, an address (equal) or a number (bits).
bool dnsbl_subtest_matches(const std::string& subtest, const std::string& answer);

}  // namespace mxgate
