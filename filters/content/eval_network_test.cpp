// SpamAssassin's DNSEval network tests (check_rbl, check_rbl_sub): which addresses
// each asks about, what its answers mean, and the network score set they bring.
#include <gtest/gtest.h>

#include "filters/content/content_filter.hpp"
#include "filters/content/content_scan.hpp"
#include "filters/content/eval_test_util.hpp"
#include "filters/content/network_tests.hpp"
#include "filters/content/relays.hpp"
#include "filters/content/uri_detail.hpp"
#include "filters/dns/fake_lookup.hpp"
#include "filters/filter_state.hpp"
#include "rules/rule_compiler.hpp"
#include "tests/run_task.hpp"

namespace mxgate {
namespace {

// As 20_dnsbl_tests.cf writes them, with the network sets' scores.
const char* kRules =
    "header __RCVD_IN_ZEN eval:check_rbl('zen', 'zen.spamhaus.org.')\n"
    "header RCVD_IN_SBL eval:check_rbl_sub('zen', '127.0.0.2')\n"
    "header RCVD_IN_XBL eval:check_rbl('zen-lastexternal', 'zen.spamhaus.org.', '^127\\.0\\.0\\.[45678]$')\n"
    "header RCVD_IN_DNSWL_HI eval:check_rbl('dnswl-firsttrusted', 'list.dnswl.org.', '^127\\.0\\.\\d+\\.3$')\n"
    "tflags RCVD_IN_DNSWL_HI nice\n"
    "header RCVD_IN_BITS eval:check_rbl('bits', 'bits.example.', '8')\n"
    "body NOTHING /xyzzy/\n"
    "score RCVD_IN_SBL 0 2.5 0 2.5\n"
    "score RCVD_IN_XBL 0 0.7 0 0.7\n"
    "score RCVD_IN_DNSWL_HI 0 -5 0 -5\n"
    "score RCVD_IN_BITS 0 1 0 1\n"
    "score NOTHING 1 2 3 4\n";

// The message came from 198.51.100.7 through 192.168.1.5 (private: never asked)
// to the client that talks to mxgate, 203.0.113.9.
const char* kMessage =
    "Received: from relay.example (relay.example [192.168.1.5]) by out.example with ESMTP id 1;"
    " Mon, 7 Dec 2026 10:00:02 +0000\r\n"
    "Received: from origin.example (origin.example [198.51.100.7]) by relay.example with ESMTP id 2;"
    " Mon, 7 Dec 2026 10:00:01 +0000\r\n"
    "From: a@origin.example\r\nSubject: hi\r\n\r\nbody\r\n";

rules::RuleSetPtr compile() {
  auto parsed = rules::parse_rule_text(kRules, "t.cf", content_parse_options());
  EXPECT_TRUE(parsed.ok()) << format_errors(parsed.errors);
  EXPECT_TRUE(check_eval_args(*parsed.value).empty());
  auto rs = rules::RuleSet::compile(std::move(*parsed.value));
  EXPECT_TRUE(rs.ok()) << format_errors(rs.errors);
  return *rs.value;
}

Envelope envelope() {
  Envelope env;
  env.client.ip = "203.0.113.9";
  env.client.helo = "out.example";
  env.state = std::make_shared<FilterState>();
  return env;
}

TEST(NetworkTests, WhichAddressesEachSetAsksAbout) {
  auto rs = compile();
  Message msg(kMessage);
  MimeView view = parse_mime(msg);
  Envelope env = envelope();
  EvalSettings settings;
  RelayPath path = analyse_relays(nullptr, view, msg, env);
  NetworkPlan plan = plan_network_tests(*rs, path, settings, view);
  std::vector<std::string> asked;
  for (const auto& a : plan.asks) asked.push_back(a.set + " " + plan.questions[a.question].name);
  EXPECT_EQ(asked, (std::vector<std::string>{
                       // all untrusted, oldest first; the private relay never
                       "zen 7.100.51.198.zen.spamhaus.org", "zen 9.113.0.203.zen.spamhaus.org",
                       // the last external relay: the one that handed the mail to us
                       "zen-lastexternal 9.113.0.203.zen.spamhaus.org",
                       // firsttrusted: the first of the untrusted ones here (no trusted relay)
                       "dnswl-firsttrusted 9.113.0.203.list.dnswl.org",
                       "bits 7.100.51.198.bits.example", "bits 9.113.0.203.bits.example"}));
  // 9.113.0.203.zen.spamhaus.org is asked once for both sets that want it.
  EXPECT_EQ(plan.questions.size(), 5u);
  ASSERT_EQ(plan.subs.count("zen"), 1u);
  EXPECT_EQ(plan.subs.at("zen").front(), (std::pair<std::string, std::string>{"127.0.0.2", "RCVD_IN_SBL"}));
  // Everything trusted: nothing asked.
  auto trusting = testing::settings_from("trusted_networks 0.0.0.0/0\n");
  RelayPath all_trusted = analyse_relays(trusting.relay.get(), view, msg, env);
  EXPECT_TRUE(plan_network_tests(*rs, all_trusted, trusting, view).questions.empty());
}

TEST(NetworkTests, SubtestsAsSpamAssassinReadsThem) {
  EXPECT_TRUE(dnsbl_subtest_matches("", "127.0.0.9"));
  EXPECT_TRUE(dnsbl_subtest_matches("127.0.0.2", "127.0.0.2"));
  EXPECT_FALSE(dnsbl_subtest_matches("127.0.0.2", "127.0.0.20"));
  EXPECT_TRUE(dnsbl_subtest_matches("^127\\.0\\.0\\.[45678]$", "127.0.0.4"));
  EXPECT_FALSE(dnsbl_subtest_matches("^127\\.0\\.0\\.[45678]$", "127.0.0.10"));
  EXPECT_TRUE(dnsbl_subtest_matches("8", "127.0.0.8"));    // a bit mask
  EXPECT_TRUE(dnsbl_subtest_matches("8", "127.0.0.14"));
  EXPECT_FALSE(dnsbl_subtest_matches("8", "127.0.0.2"));
  EXPECT_FALSE(dnsbl_subtest_matches("8", "10.0.0.8"));    // outside 127/8
}

TEST(NetworkTests, AnswersBecomeHitsAndTheNetworkScoreSet) {
  auto rs = compile();
  Message msg(kMessage);
  MimeView view = parse_mime(msg);
  Envelope env = envelope();
  RelayPath path = analyse_relays(nullptr, view, msg, env);
  NetworkPlan plan = plan_network_tests(*rs, path, EvalSettings{}, view);
  FakeLookup z;
  z.add("7.100.51.198.zen.spamhaus.org", RrType::A, "127.0.0.2");
  z.add("9.113.0.203.zen.spamhaus.org", RrType::A, "127.0.0.4");
  z.add("9.113.0.203.list.dnswl.org", RrType::A, "127.0.15.3");
  z.add("7.100.51.198.bits.example", RrType::A, "198.51.100.1");  // outside 127/8: no listing
  auto answers = testing::run_task(query_all(z, plan.questions));
  NetworkHits hits = network_hits(plan, answers);
  std::map<std::string, std::string> got(hits.hits.begin(), hits.hits.end());
  EXPECT_EQ(got.at("RCVD_IN_SBL"), "198.51.100.7 listed in zen.spamhaus.org (127.0.0.2)");
  EXPECT_EQ(got.at("RCVD_IN_XBL"), "203.0.113.9 listed in zen.spamhaus.org (127.0.0.4)");
  EXPECT_TRUE(got.count("__RCVD_IN_ZEN"));
  EXPECT_TRUE(got.count("RCVD_IN_DNSWL_HI"));
  EXPECT_FALSE(got.count("RCVD_IN_BITS"));
  // Through the scan: the network set's scores.
  std::map<std::string, double> scored;
  ContentScan cs = scan_content(*rs, view, msg, env, ScanLimits{}, EvalSettings{}, &hits);
  EXPECT_EQ(cs.score_set, rules::kSetNet);
  for (const auto& s : content_symbols(*rs, cs)) scored[s.name] = s.score;
  EXPECT_EQ(scored, (std::map<std::string, double>{{"RCVD_IN_SBL", 2.5}, {"RCVD_IN_XBL", 0.7}, {"RCVD_IN_DNSWL_HI", -5}}));
  // Network tests off: nothing hits, set 0.
  ContentScan off = scan_content(*rs, view, msg, env, ScanLimits{});
  EXPECT_EQ(off.score_set, rules::kSetLocal);
  EXPECT_TRUE(content_symbols(*rs, off).empty());
}

}  // namespace
}  // namespace mxgate

namespace mxgate {
namespace {

// A rule file and a message, parsed and planned as the content filter does.
struct UriCase {
  UriCase(const char* cf, const char* message, const char* mail_from = nullptr) : msg(message) {
    auto parsed = rules::parse_rule_text(cf, "t.cf", content_parse_options());
    EXPECT_TRUE(parsed.ok()) << format_errors(parsed.errors);
    auto s = eval_settings(parsed.value->settings);
    EXPECT_TRUE(s.ok()) << format_errors(s.errors);
    es = *s.value;
    auto compiled = rules::RuleSet::compile(std::move(*parsed.value));
    EXPECT_TRUE(compiled.ok()) << format_errors(compiled.errors);
    rs = *compiled.value;
    view = parse_mime(msg);
    env.state = std::make_shared<FilterState>();
    if (mail_from) {  // a live transaction: the client and MAIL FROM are the envelope
      env.client.ip = "203.0.113.9";
      env.client.helo = "out.sender.com";
      env.mail_from = Mailbox{mail_from, {}};
    }
    texts = build_scan_texts(view, msg, ScanLimits{}, es.uri.get());
    EvalContext ctx(view, msg, env, texts, es);
    plan = plan_network_tests(*rs, analyse_relays(es.relay.get(), view, msg, env), es, view, &ctx);
  }
  std::map<std::string, double> scored(const NetworkHits& hits) const {
    std::map<std::string, double> out;
    for (const auto& sym : content_symbols(*rs, scan_content(*rs, view, msg, env, ScanLimits{}, es, &hits)))
      out[sym.name] = sym.score;
    return out;
  }
  Message msg;
  EvalSettings es;
  rules::RuleSetPtr rs;
  MimeView view;
  Envelope env;
  ScanTexts texts;
  NetworkPlan plan;
};

TEST(UriDnsbl, SubtestsAsUriDnsblReadsThem) {
  EXPECT_EQ(canonical_uridnsbl_subtest("127.0.1.2"), std::optional<std::string>("2130706690-2130706690"));
  EXPECT_EQ(canonical_uridnsbl_subtest("2"), std::optional<std::string>("2"));
  EXPECT_EQ(canonical_uridnsbl_subtest("0x10"), std::optional<std::string>("16"));
  EXPECT_EQ(canonical_uridnsbl_subtest("127.0.0.2-127.0.0.9"), std::optional<std::string>("2130706434-2130706441"));
  EXPECT_FALSE(canonical_uridnsbl_subtest("spam"));
  auto m = [](const char* sub, const char* answer) { return uridnsbl_subtest_matches(*canonical_uridnsbl_subtest(sub), answer); };
  EXPECT_TRUE(m("127.0.1.2", "127.0.1.2"));
  EXPECT_FALSE(m("127.0.1.2", "127.0.1.4"));
  EXPECT_TRUE(m("2", "127.0.0.2"));
  EXPECT_TRUE(m("2", "127.0.0.14"));
  EXPECT_FALSE(m("2", "127.0.0.4"));
  EXPECT_FALSE(m("2", "10.0.0.2"));  // a mask: 127/8 only
  EXPECT_TRUE(m("127.0.0.2-127.0.0.9", "127.0.0.5"));
  EXPECT_FALSE(m("127.0.0.2-127.0.0.9", "127.0.0.10"));
}

// 25_uribl.cf's shape: urirhssub + check_uridnsbl, a skip list, through the scan.
TEST(UriDnsbl, LinkDomainsAskedAndScored) {
  const char* cf =
      "urirhssub URIBL_DBL_SPAM dbl.spamhaus.org. A 127.0.1.2\n"
      "body URIBL_DBL_SPAM eval:check_uridnsbl('URIBL_DBL_SPAM')\n"
      "score URIBL_DBL_SPAM 0 2.5 0 2.5\n"
      "urirhssub URIBL_BLACK multi.uribl.com. A 2\n"
      "body URIBL_BLACK eval:check_uridnsbl('URIBL_BLACK')\n"
      "score URIBL_BLACK 0 1.7 0 1.7\n"
      "urirhssub URIBL_OFF off.example. A 2\n"
      "body URIBL_OFF eval:check_uridnsbl('URIBL_OFF')\n"
      "score URIBL_OFF 0\n"
      "uridnsbl_skip_domain skipped.net\n"
      "util_rb_tld com org net\n";  // SpamAssassin's own rule files list every TLD
  UriCase c(cf,
            "From: a@sender.example\r\nSubject: s\r\nContent-Type: text/html\r\n\r\n"
            "<a href=\"http://www.bad-domain.com/x\">click</a> <a href=\"http://skipped.net/\">s</a>"
            " <img src=\"http://cdn.images.org/i.png\"> http://198.51.100.4/p\r\n");
  const NetworkPlan& plan = c.plan;
  std::set<std::string> names;
  for (const auto& q : plan.questions) names.insert(q.name);
  // Hosts with a TLD the rule files list only (util_rb_tld): the rest are no domains.
  EXPECT_EQ(names, (std::set<std::string>{"bad-domain.com.dbl.spamhaus.org", "bad-domain.com.multi.uribl.com",
                                          "images.org.dbl.spamhaus.org", "images.org.multi.uribl.com",
                                          "4.100.51.198.dbl.spamhaus.org", "4.100.51.198.multi.uribl.com"}));
  FakeLookup z;
  z.add("bad-domain.com.dbl.spamhaus.org", RrType::A, "127.0.1.2");
  z.add("bad-domain.com.multi.uribl.com", RrType::A, "127.0.0.4");  // grey only: not bit 2
  z.add("4.100.51.198.multi.uribl.com", RrType::A, "127.0.0.2");
  NetworkHits hits = network_hits(plan, testing::run_task(query_all(z, plan.questions)));
  std::map<std::string, double> scored = c.scored(hits);
  EXPECT_EQ(scored, (std::map<std::string, double>{{"URIBL_DBL_SPAM", 2.5}, {"URIBL_BLACK", 1.7}}));
  EXPECT_EQ(hits.hits.at("URIBL_DBL_SPAM"), "bad-domain.com listed in dbl.spamhaus.org (127.0.1.2)");
}

// uridnssub: the link domain's name servers' addresses (tflags ns, the default) and
// the link host's own addresses (tflags a), asked in rounds, bounded, in a list.
TEST(UriDnsbl, NameServerAndHostAddressesAskedInRounds) {
  const char* cf =
      "uridnssub URIBL_SBL zen.spamhaus.org. A 127.0.0.2\n"
      "body URIBL_SBL eval:check_uridnsbl('URIBL_SBL')\n"
      "tflags URIBL_SBL net\n"
      "score URIBL_SBL 0 1.6 0 1.6\n"
      "uridnssub URIBL_SBL_A zen.spamhaus.org. A 127.0.0.2\n"
      "body URIBL_SBL_A eval:check_uridnsbl('URIBL_SBL_A')\n"
      "tflags URIBL_SBL_A net a\n"
      "score URIBL_SBL_A 0 0.1 0 0.1\n"
      "uridnsbl URIBL_ANY any.example. A\n"
      "body URIBL_ANY eval:check_uridnsbl('URIBL_ANY')\n"
      "tflags URIBL_ANY net ns\n"
      "score URIBL_ANY 0 0.5 0 0.5\n"
      "util_rb_tld com org net\n";
  UriCase c(cf,
            "From: a@sender.example\r\nSubject: s\r\nContent-Type: text/html\r\n\r\n"
            "<a href=\"http://www.spammy.com/x\">click</a> <a href=\"http://clean.org/\">c</a>"
            " <a href=\"http://198.51.100.4/p\">ip</a>\r\n");
  ASSERT_EQ(c.es.uridnsbl->rev.size(), 3u);
  NetworkPlan& plan = c.plan;
  auto names = [&](std::size_t from) {
    std::set<std::string> n;
    for (std::size_t i = from; i < plan.questions.size(); ++i)
      n.insert(std::string(rr_type_name(plan.questions[i].type)) + " " + plan.questions[i].name);
    return n;
  };
  // Round 1: the domains' name servers, the hosts' addresses; an address link is
  // not asked (the rhs rules would ask it; there are none here).
  EXPECT_EQ(names(0), (std::set<std::string>{"NS spammy.com", "NS clean.org", "A www.spammy.com", "A clean.org"}));

  FakeLookup z;
  z.add("spammy.com", RrType::NS, "ns1.badhost.net");
  z.add("spammy.com", RrType::NS, "ns2.badhost.net");
  z.add("spammy.com", RrType::NS, "192.0.2.99");  // an address as a name server: skipped
  z.add("clean.org", RrType::NS, "ns.goodhost.net");
  z.add("www.spammy.com", RrType::A, "198.51.100.20");
  z.add("www.spammy.com", RrType::A, "10.1.2.3");  // private: never asked about
  z.add("clean.org", RrType::A, "203.0.113.5");
  z.add("ns1.badhost.net", RrType::A, "198.51.100.53");
  z.add("ns2.badhost.net", RrType::A, "198.51.100.53");  // the same address: asked once
  z.add("ns.goodhost.net", RrType::A, "203.0.113.53");
  z.add("53.100.51.198.zen.spamhaus.org", RrType::A, "127.0.0.2");
  z.add("53.100.51.198.any.example", RrType::A, "127.0.0.9");
  z.add("20.100.51.198.zen.spamhaus.org", RrType::A, "127.0.0.2");
  z.add("53.113.0.203.zen.spamhaus.org", RrType::A, "127.0.0.4");  // another code: no subtest match

  std::vector<DnsResult> answers = testing::run_task(query_all(z, plan.questions));
  std::size_t from = plan.questions.size();
  ASSERT_TRUE(extend_network_plan(plan, answers));
  EXPECT_EQ(names(from), (std::set<std::string>{"A ns1.badhost.net", "A ns2.badhost.net", "A ns.goodhost.net"}));
  auto more = testing::run_task(query_all(z, {plan.questions.begin() + static_cast<long>(from), plan.questions.end()}));
  answers.insert(answers.end(), more.begin(), more.end());
  from = plan.questions.size();
  ASSERT_TRUE(extend_network_plan(plan, answers));
  EXPECT_EQ(names(from), (std::set<std::string>{
                             "A 53.100.51.198.zen.spamhaus.org", "A 53.100.51.198.any.example",    // ns rules
                             "A 53.113.0.203.zen.spamhaus.org", "A 53.113.0.203.any.example",      // ns rules
                             "A 20.100.51.198.zen.spamhaus.org", "A 5.113.0.203.zen.spamhaus.org"  // a rule
                         }));
  more = testing::run_task(query_all(z, {plan.questions.begin() + static_cast<long>(from), plan.questions.end()}));
  answers.insert(answers.end(), more.begin(), more.end());
  EXPECT_FALSE(extend_network_plan(plan, answers));

  NetworkHits hits = network_hits(plan, answers);
  EXPECT_EQ(c.scored(hits), (std::map<std::string, double>{{"URIBL_SBL", 1.6}, {"URIBL_SBL_A", 0.1}, {"URIBL_ANY", 0.5}}));
  EXPECT_EQ(hits.hits.at("URIBL_SBL"),
            "198.51.100.53 (name server ns1.badhost.net of spammy.com) listed in zen.spamhaus.org (127.0.0.2)");
  EXPECT_EQ(hits.hits.at("URIBL_SBL_A"), "198.51.100.20 (address of www.spammy.com) listed in zen.spamhaus.org (127.0.0.2)");
}

TEST(UriDnsbl, NameServerLookupsAreBounded) {
  const char* cf =
      "uridnssub URIBL_SBL zen.spamhaus.org. A 127.0.0.2\n"
      "body URIBL_SBL eval:check_uridnsbl('URIBL_SBL')\n"
      "score URIBL_SBL 0 1.6 0 1.6\n"
      "util_rb_tld com\n";
  UriCase c(cf, "From: a@b.example\r\nSubject: s\r\n\r\nhttp://hostile.com/\r\n");
  NetworkPlan& plan = c.plan;
  ASSERT_EQ(plan.questions.size(), 1u);  // NS hostile.com (no a rule: no host lookup)
  FakeLookup z;
  for (int i = 0; i < 100; ++i) z.add("hostile.com", RrType::NS, "ns" + std::to_string(i) + ".hostile.com");
  for (int i = 0; i < 100; ++i) z.add("ns0.hostile.com", RrType::A, "198.51.100." + std::to_string(i + 1));
  std::vector<DnsResult> answers = testing::run_task(query_all(z, plan.questions));
  ASSERT_TRUE(extend_network_plan(plan, answers));
  EXPECT_EQ(plan.questions.size(), 1u + 8u) << "at most 8 name servers per domain";
  auto more = testing::run_task(query_all(z, {plan.questions.begin() + 1, plan.questions.end()}));
  answers.insert(answers.end(), more.begin(), more.end());
  ASSERT_TRUE(extend_network_plan(plan, answers));
  EXPECT_EQ(plan.questions.size(), 1u + 8u + 8u) << "at most 8 addresses per name server";
}

// DNSEval's lists of hosts and domains other than the relays', its name-server list
// and check_dns_sender, asked in the same sets, answered by name lists.
TEST(NetworkTests, SenderHostsDomainsAndHeadersAskedAsDnsEvalDoes) {
  const char* cf =
      "header RBL_ENVFROM eval:check_rbl_envfrom('ef', 'rhs.example.')\n"
      "header RBL_FROMHOST eval:check_rbl_from_host('fh', 'rhs.example.')\n"
      "header RBL_FROMDOM eval:check_rbl_from_domain('fd', 'dom.example.', '127.0.0.2')\n"
      "header RBL_HDRS eval:check_rbl_headers('hd', 'hdr.example.', '127.0.0.4', 'Reply-To,X-Host')\n"
      "header RBL_RCVD eval:check_rbl_rcvd('rc', 'rcvd.example.')\n"
      "tflags RBL_RCVD ips_only\n"
      "header RBL_NSFROM eval:check_rbl_ns_from('nsf', 'nsbl.example.')\n"
      "header NO_DNS_FOR_FROM eval:check_dns_sender()\n"
      "header RBL_FD_SUB eval:check_rbl_sub('fd', '127.0.0.3')\n"
      "score RBL_ENVFROM 0 1 0 1\nscore RBL_FROMHOST 0 1 0 1\nscore RBL_FROMDOM 0 1 0 1\n"
      "score RBL_HDRS 0 1 0 1\nscore RBL_RCVD 0 1 0 1\nscore RBL_NSFROM 0 1 0 1\n"
      "score NO_DNS_FOR_FROM 0 0.8 0 0.8\nscore RBL_FD_SUB 0 1 0 1\n"
      "util_rb_tld com org net\n";
  const char* message =
      "Received: from origin.sender.com (origin.sender.com [198.51.100.7]) by out.sender.com with ESMTP id 2;"
      " Mon, 7 Dec 2026 10:00:01 +0000\r\n"
      "From: Someone <a@mail.from-host.com>\r\nReply-To: r@reply.org\r\nX-Host: 198.51.100.9\r\n"
      "Subject: s\r\n\r\nbody\r\n";
  UriCase c(cf, message, "bounce@sub.envfrom.com");
  NetworkPlan& plan = c.plan;
  std::set<std::string> asked;
  for (const auto& a : plan.asks) asked.insert(a.rule + " " + plan.questions[a.question].name);
  EXPECT_EQ(asked, (std::set<std::string>{
                       "RBL_ENVFROM sub.envfrom.com.rhs.example",
                       "RBL_FROMHOST mail.from-host.com.rhs.example", "RBL_FROMHOST sub.envfrom.com.rhs.example",
                       "RBL_FROMDOM from-host.com.dom.example", "RBL_FROMDOM envfrom.com.dom.example",
                       "RBL_HDRS reply.org.hdr.example", "RBL_HDRS 9.100.51.198.hdr.example",
                       // ips_only: the origin relay's address, not its names
                       "RBL_RCVD 7.100.51.198.rcvd.example"}));
  std::set<std::string> other;
  for (const auto& q : plan.questions)
    if (q.name.find(".example") == std::string::npos) other.insert(std::string(rr_type_name(q.type)) + " " + q.name);
  EXPECT_EQ(other, (std::set<std::string>{"NS sub.envfrom.com", "A sub.envfrom.com", "MX sub.envfrom.com"}));

  FakeLookup z;
  z.add("sub.envfrom.com.rhs.example", RrType::A, "127.0.0.2");
  z.add("from-host.com.dom.example", RrType::A, "127.0.0.3");  // the set's sub rule, not the subtest
  z.add("9.100.51.198.hdr.example", RrType::A, "127.0.0.4");
  z.add("sub.envfrom.com", RrType::NS, "ns1.dnshost.net");
  z.add("sub.envfrom.com", RrType::NS, "not a name");
  z.add("ns1.dnshost.net.nsbl.example", RrType::A, "127.0.0.2");
  z.fail("sub.envfrom.com", RrType::A, DnsStatus::NxDomain);
  z.fail("sub.envfrom.com", RrType::MX, DnsStatus::NxDomain);
  std::vector<DnsResult> answers = testing::run_task(query_all(z, plan.questions));
  const std::size_t from = plan.questions.size();
  ASSERT_TRUE(extend_network_plan(plan, answers));
  ASSERT_EQ(plan.questions.size(), from + 1);
  EXPECT_EQ(plan.questions.back().name, "ns1.dnshost.net.nsbl.example");
  auto more = testing::run_task(query_all(z, {plan.questions.begin() + static_cast<long>(from), plan.questions.end()}));
  answers.insert(answers.end(), more.begin(), more.end());
  EXPECT_FALSE(extend_network_plan(plan, answers));
  NetworkHits hits = network_hits(plan, answers);
  EXPECT_EQ(c.scored(hits), (std::map<std::string, double>{{"RBL_ENVFROM", 1},
                                                            {"RBL_FROMHOST", 1},
                                                            {"RBL_FD_SUB", 1},
                                                            {"RBL_HDRS", 1},
                                                            {"RBL_NSFROM", 1},
                                                            {"NO_DNS_FOR_FROM", 0.8}}));
  EXPECT_EQ(hits.hits.at("NO_DNS_FOR_FROM"), "sub.envfrom.com has no A and no MX record");
  EXPECT_EQ(hits.hits.at("RBL_NSFROM"), "ns1.dnshost.net (name server of sub.envfrom.com) listed in nsbl.example (127.0.0.2)");

  // A domain with an MX, or whose lookups failed, is not "no DNS".
  FakeLookup mx;
  mx.add("sub.envfrom.com", RrType::MX, "10 mx.envfrom.com");
  mx.fail("sub.envfrom.com", RrType::A, DnsStatus::NoData);
  UriCase d(cf, message, "bounce@sub.envfrom.com");
  EXPECT_FALSE(network_hits(d.plan, testing::run_task(query_all(mx, d.plan.questions))).hits.count("NO_DNS_FOR_FROM"));
  FakeLookup down;
  down.fail("sub.envfrom.com", RrType::A, DnsStatus::Timeout);
  down.fail("sub.envfrom.com", RrType::MX, DnsStatus::NxDomain);
  EXPECT_FALSE(network_hits(d.plan, testing::run_task(query_all(down, d.plan.questions))).hits.count("NO_DNS_FOR_FROM"));
}


}  // namespace
}  // namespace mxgate
