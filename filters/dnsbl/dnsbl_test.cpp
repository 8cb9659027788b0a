// DNS lists: question names, answer codes (ranges, bits, error codes), the filter at
// connect, RCPT and end of data on a FakeLookup, and the config's errors.
#include "filters/dnsbl/dnsbl_filter.hpp"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include "filters/config_node.hpp"
#include "tests/run_task.hpp"
#include "filters/dns/fake_lookup.hpp"
#include "filters/filter_state.hpp"
#include "filters/mime/mime.hpp"

namespace mxgate {
namespace {

template <typename T>
T run(Task<T> task) {
  return testing::run_task(std::move(task));
}

std::shared_ptr<DnsblFilter> make(const std::string& yaml, std::vector<ConfigError>* errs = nullptr) {
  std::vector<ConfigError> local;
  auto& e = errs ? *errs : local;
  ConfigMap cfg(YAML::Load(yaml), "t.yaml", "dnsbl", &e);
  auto f = make_dnsbl_filter(cfg);
  cfg.finish();
  if (!errs) {
    EXPECT_TRUE(e.empty()) << (e.empty() ? "" : e[0].str());
  }
  return std::dynamic_pointer_cast<DnsblFilter>(f);
}

Envelope envelope(const std::string& ip, std::shared_ptr<DnsLookup> dns) {
  Envelope env;
  env.client.ip = ip;
  env.txn_id = "T.1";
  env.mail_from = Mailbox{"bounce@mailer.example.net", {}};
  env.state = std::make_shared<FilterState>();
  env.state->dns = std::move(dns);
  return env;
}

std::map<std::string, double> symbols(const Verdict& v) {
  std::map<std::string, double> out;
  for (const auto& s : v.symbols) out[s.name] = s.score;
  return out;
}

const char* kZen = R"(
lists:
  - name: SPAMHAUS_ZEN
    zone: zen.spamhaus.org
    codes:
      - {code: 127.0.0.2, symbol: RBL_SBL, score: 4}
      - {code: 127.0.0.4-127.0.0.7, symbol: RBL_XBL, score: 5}
      - {code: 127.0.0.10/31, symbol: RBL_PBL, score: 1.5}
  - zone: list.dnswl.org
    score: -2
)";

TEST(DnsblList, QuestionNames) {
  DnsblList l;
  l.zone = "zen.spamhaus.org";
  EXPECT_EQ(dnsbl_query_for_ip(l, "192.0.2.7"), "7.2.0.192.zen.spamhaus.org");
  EXPECT_EQ(dnsbl_query_for_ip(l, "2001:db8::1"),
            "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.zen.spamhaus.org");
  EXPECT_EQ(dnsbl_query_for_ip(l, "not an ip"), "");
  EXPECT_EQ(dnsbl_query_for_domain(l, "Example.COM."), "example.com.zen.spamhaus.org");
  l.key = "abcdef0123";  // Spamhaus DQS: the key between the item and the zone
  l.zone = "zen.dq.spamhaus.net";
  EXPECT_EQ(dnsbl_query_for_ip(l, "192.0.2.7"), "7.2.0.192.abcdef0123.zen.dq.spamhaus.net");
}

TEST(DnsblList, AnswerCodes) {
  DnsblList l;
  l.name = "LIST";
  l.score = 1;
  DnsblCode c;
  ASSERT_TRUE(parse_dnsbl_range("127.0.1.2-127.0.1.99", &c));
  c.symbol = "DBL_SPAM";
  l.codes.push_back(c);
  DnsblCode b;
  b.kind = DnsblCode::Kind::Bits;
  b.bits = 2;
  b.symbol = "URIBL_BLACK";
  l.codes.push_back(b);
  DnsblCode e;
  ASSERT_TRUE(parse_dnsbl_range("127.255.255.0/24", &e));
  l.errors.push_back(e);
  DnsblCode fb;
  fb.symbol = "LIST";
  auto names = [&](const std::vector<std::string>& rec) {
    std::vector<std::string> out;
    for (const auto* x : interpret_dnsbl_answer(l, rec, fb).listed) out.push_back(x->symbol);
    return out;
  };
  EXPECT_EQ(names({"127.0.1.2"}), std::vector<std::string>{"DBL_SPAM"});
  EXPECT_EQ(names({"127.0.0.2"}), std::vector<std::string>{"URIBL_BLACK"});        // bit 2
  EXPECT_EQ(names({"127.0.0.14"}), std::vector<std::string>{"URIBL_BLACK"});       // 2|4|8
  EXPECT_EQ(names({"127.0.0.4"}), std::vector<std::string>{});                     // grey only: no code
  EXPECT_EQ(names({"127.0.1.2", "127.0.1.3"}), std::vector<std::string>{"DBL_SPAM"});  // once
  auto err = interpret_dnsbl_answer(l, {"127.255.255.254"}, fb);
  EXPECT_TRUE(err.listed.empty());
  EXPECT_EQ(err.error, std::optional<std::string>("127.255.255.254"));
  auto hijack = interpret_dnsbl_answer(l, {"198.51.100.1"}, fb);  // NXDOMAIN rewritten
  EXPECT_TRUE(hijack.listed.empty());
  EXPECT_TRUE(hijack.error);
  l.codes.clear();  // no codes: any listing code is the list's own symbol
  EXPECT_EQ(names({"127.0.0.9"}), std::vector<std::string>{"LIST"});
  DnsblCode bad;
  EXPECT_FALSE(parse_dnsbl_range("127.0.0.9-127.0.0.2", &bad));
  EXPECT_FALSE(parse_dnsbl_range("127.0.0.0/33", &bad));
  EXPECT_FALSE(parse_dnsbl_range("zen", &bad));
}

TEST(DnsblFilter, ClientListsAtConnect) {
  auto f = make(kZen);
  auto z = std::make_shared<FakeLookup>();
  z->add("7.2.0.192.zen.spamhaus.org", RrType::A, "127.0.0.4");
  z->add("7.2.0.192.zen.spamhaus.org", RrType::A, "127.0.0.11");
  z->add("7.2.0.192.list.dnswl.org", RrType::A, "127.0.10.2");
  z->add("8.2.0.192.zen.spamhaus.org", RrType::A, "127.255.255.254");  // "refused": not a listing
  z->fail("9.2.0.192.zen.spamhaus.org", RrType::A, DnsStatus::Timeout);
  Verdict v = run(f->on_connect(envelope("192.0.2.7", z)));
  EXPECT_EQ(v.action, Action::Continue);
  EXPECT_EQ(symbols(v), (std::map<std::string, double>{{"RBL_XBL", 5}, {"RBL_PBL", 1.5}, {"RBL_LIST_DNSWL_ORG", -2}}));
  for (const auto& s : v.symbols)
    if (s.name == "RBL_XBL") {
      EXPECT_EQ(s.detail, "192.0.2.7 listed on zen.spamhaus.org (127.0.0.4)");
    }
  EXPECT_TRUE(run(f->on_connect(envelope("192.0.2.8", z))).symbols.empty());
  EXPECT_TRUE(run(f->on_connect(envelope("192.0.2.9", z))).symbols.empty());   // timeout: nothing
  EXPECT_TRUE(run(f->on_connect(envelope("192.0.2.10", z))).symbols.empty());  // not listed
  // Private clients are not asked about at all.
  const std::size_t before = z->queries();
  EXPECT_TRUE(run(f->on_connect(envelope("10.1.2.3", z))).symbols.empty());
  EXPECT_TRUE(run(f->on_connect(envelope("fd00::1", z))).symbols.empty());
  EXPECT_EQ(z->queries(), before);
  // IPv6 in nibbles.
  z->add("1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.zen.spamhaus.org", RrType::A, "127.0.0.2");
  EXPECT_EQ(symbols(run(f->on_connect(envelope("2001:db8::1", z)))), (std::map<std::string, double>{{"RBL_SBL", 4}}));
}

TEST(DnsblFilter, RejectAtConnectOrAtRcpt) {
  auto f = make(R"(
lists:
  - {name: ZEN, zone: zen.spamhaus.org, action: reject, codes: [{code: 127.0.0.2-127.0.0.11, symbol: RBL_ZEN, score: 5}]}
  - {name: LATE, zone: late.example, action: reject, reject_at: rcpt,
     reply: "550 5.7.1 Mail from {ip} refused: see https://{zone}/"}
)");
  auto z = std::make_shared<FakeLookup>();
  z->add("7.2.0.192.zen.spamhaus.org", RrType::A, "127.0.0.2");
  z->add("8.2.0.192.late.example", RrType::A, "127.0.0.2");
  Verdict v = run(f->on_connect(envelope("192.0.2.7", z)));
  EXPECT_EQ(v.action, Action::Reject);
  ASSERT_TRUE(v.reply);
  EXPECT_EQ(v.reply->code(), 554);
  EXPECT_EQ(v.reply->plain_text(), "Service unavailable; client [192.0.2.7] blocked using zen.spamhaus.org");
  // Listed only on the RCPT-time list: the connection goes on, each RCPT is refused.
  Envelope late = envelope("192.0.2.8", z);
  EXPECT_EQ(run(f->on_connect(late)).action, Action::Continue);
  Verdict r = run(f->on_rcpt_to(late, Mailbox{"user@example.org", {}}));
  EXPECT_EQ(r.action, Action::Reject);
  EXPECT_EQ(r.reply->wire(), "550 5.7.1 Mail from 192.0.2.8 refused: see https://late.example/\r\n");
  EXPECT_EQ(run(f->on_rcpt_to(envelope("192.0.2.7", z), Mailbox{"user@example.org", {}})).action, Action::Continue);
  // A 4xx reply is a tempfail: the client comes back later (greylisting by list).
  auto soft = make("lists:\n  - {zone: zen.spamhaus.org, action: reject, reply: \"421 4.7.1 Try later, [{ip}]\"}\n");
  Verdict t = run(soft->on_connect(envelope("192.0.2.7", z)));
  EXPECT_EQ(t.action, Action::Tempfail);
  EXPECT_EQ(t.reply->code(), 421);
}

const char* kDbl = R"(
lists:
  - name: DBL
    zone: dbl.spamhaus.org
    type: domains
    codes:
      - {code: 127.0.1.2-127.0.1.99, symbol: URIBL_DBL_SPAM, score: 2.5}
  - name: MULTI
    zone: multi.uribl.com
    type: domains
    check: [urls]
    codes:
      - {bits: 2, symbol: URIBL_BLACK, score: 1.7}
)";

const char* kMail =
    "From: \"Shop\" <news@mail.shop.example.co.uk>\r\n"
    "Reply-To: replies@other.example\r\n"
    "To: you@example.org\r\n"
    "Subject: offer\r\n"
    "Content-Type: text/html\r\n"
    "\r\n"
    "<a href=\"http://www.bad.example/x\">x</a> <a href=\"https://cdn.bad.example/y\">y</a>"
    " <a href=\"http://192.0.2.44/z\">z</a> <a href=\"http://github.io/\">p</a>\r\n";

TEST(DnsblFilter, DomainQuestionsAreRegistrableDomainsAskedOnce) {
  auto f = make(kDbl);
  Message msg(kMail);
  MimeView view = parse_mime(msg);
  auto z = std::make_shared<FakeLookup>();
  Envelope env = envelope("192.0.2.7", z);
  std::vector<std::string> got;
  for (const auto& q : domain_questions(f->config(), f->config().lists[0], env, msg, view))
    got.push_back(q.from + " " + q.item + " " + q.query);
  EXPECT_EQ(got, (std::vector<std::string>{"mail-from example.net example.net.dbl.spamhaus.org",
                                           "from example.co.uk example.co.uk.dbl.spamhaus.org",
                                           "reply-to other.example other.example.dbl.spamhaus.org",
                                           "url bad.example bad.example.dbl.spamhaus.org",
                                           "url 192.0.2.44 44.2.0.192.dbl.spamhaus.org"}));
  // A per-list bound, and which sources a list reads.
  auto g = make(std::string(kDbl) + "max_domain_lookups: 2\n");
  EXPECT_EQ(domain_questions(g->config(), g->config().lists[0], env, msg, view).size(), 2u);
  std::vector<std::string> urls_only;
  for (const auto& q : domain_questions(f->config(), f->config().lists[1], env, msg, view)) urls_only.push_back(q.item);
  EXPECT_EQ(urls_only, (std::vector<std::string>{"bad.example", "192.0.2.44"}));
}

TEST(DnsblFilter, DomainListsAtEndOfData) {
  auto f = make(kDbl);
  auto z = std::make_shared<FakeLookup>();
  z->add("bad.example.dbl.spamhaus.org", RrType::A, "127.0.1.2");
  z->add("bad.example.multi.uribl.com", RrType::A, "127.0.0.2");
  z->add("other.example.dbl.spamhaus.org", RrType::A, "127.255.255.252");  // error code
  Message msg(kMail);
  Envelope env = envelope("192.0.2.7", z);
  Verdict v = run(f->on_end_of_data(env, msg));
  EXPECT_EQ(symbols(v), (std::map<std::string, double>{{"URIBL_DBL_SPAM", 2.5}, {"URIBL_BLACK", 1.7}}));
  for (const auto& s : v.symbols) {
    EXPECT_EQ(s.where, "url");
    EXPECT_NE(s.detail.find("bad.example listed on"), std::string::npos) << s.detail;
  }
}

TEST(DnsblConfig, ErrorsNameTheKey) {
  std::vector<ConfigError> errs;
  make(R"(
lists:
  - {zone: "", codes: [{code: 127.0.0.9-127.0.0.2, symbol: X}]}
  - {zone: dbl.example, type: domains, action: reject}
  - {zone: ok.example, codes: [{bits: 2}], errors: [nonsense], reply: "250 2.0.0 fine"}
)", &errs);
  std::string all;
  for (const auto& e : errs) all += e.str() + "\n";
  EXPECT_NE(all.find("dnsbl.lists[0].zone"), std::string::npos) << all;
  EXPECT_NE(all.find("dnsbl.lists[0].codes[0].code"), std::string::npos) << all;
  EXPECT_NE(all.find("dnsbl.lists[1].action: reject is for client lists"), std::string::npos) << all;
  EXPECT_NE(all.find("dnsbl.lists[2].codes[0].symbol"), std::string::npos) << all;
  EXPECT_NE(all.find("dnsbl.lists[2].errors[0]"), std::string::npos) << all;
  EXPECT_NE(all.find("dnsbl.lists[2].reply"), std::string::npos) << all;
  std::vector<ConfigError> none;
  make("lists: []\n", &none);
  ASSERT_FALSE(none.empty());
  EXPECT_NE(none[0].str().find("dnsbl.lists"), std::string::npos) << none[0].str();
}

}  // namespace
}  // namespace mxgate
