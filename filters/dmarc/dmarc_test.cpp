#include "filters/dmarc/dmarc_filter.hpp"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <exception>
#include <filesystem>
#include <string>
#include <vector>

#include "filters/config_node.hpp"
#include "filters/dmarc/dmarc.hpp"
#include "filters/dns/fake_lookup.hpp"
#include "filters/filter_state.hpp"

namespace mxgate {
namespace {
namespace asio = boost::asio;

template <typename T>
T run(std::function<Task<T>()> make) {
  asio::io_context ioc;
  T out{};
  asio::co_spawn(
      ioc, [&]() -> Task<void> { out = co_await make(); },
      [](std::exception_ptr e) {
        if (e) std::rethrow_exception(e);
      });
  ioc.run();
  return out;
}

PublicSuffixListPtr system_psl() {
  static PublicSuffixListPtr psl = [] {
    std::string why;
    return PublicSuffixList::load(kDefaultPublicSuffixList, &why);
  }();
  return psl;
}

#define REQUIRE_PSL()                                                                             \
  if (!system_psl()) GTEST_SKIP() << "no public suffix list at " << kDefaultPublicSuffixList \
                                  << " (Debian package publicsuffix)"

Message message_from(const std::string& from_value) {
  return Message("From: " + from_value + "\r\nTo: r@example.net\r\nSubject: s\r\n\r\nbody\r\n");
}

SpfOutcome spf(AuthResult r, const std::string& domain, const char* identity = "mailfrom") {
  SpfOutcome o;
  o.result = r;
  o.identity = identity;
  o.domain = domain;
  o.sender = "bounce@" + domain;
  return o;
}

DkimOutcome dkim(AuthResult r, const std::string& domain) {
  DkimOutcome o;
  o.result = r;
  o.domain = domain;
  o.selector = "s1";
  return o;
}

// SPF passed for an unrelated domain; DKIM checked, with the given signatures.
AuthResults auth_with(std::vector<DkimOutcome> sigs = {}, std::optional<SpfOutcome> s = std::nullopt) {
  AuthResults a;
  a.spf = s ? *s : spf(AuthResult::Pass, "bulk-mailer.example.net");
  a.dkim_checked = true;
  a.dkim = std::move(sigs);
  return a;
}

struct Eval {
  DmarcConfig cfg;
  FakeLookup dns;
  unsigned draw = 0;
  Eval() {
    cfg.psl = system_psl();
    cfg.random = [this] { return draw; };
  }
  DmarcOutcome operator()(const Message& msg, const AuthResults& auth, bool smtputf8 = false) {
    DnsLookup* lookup = &dns;
    const DmarcConfig& c = cfg;
    return run<DmarcOutcome>([&]() { return evaluate_dmarc(msg, auth, lookup, c, smtputf8); });
  }
  DmarcOutcome from(const std::string& from_value, const AuthResults& auth) {
    Message m = message_from(from_value);
    return (*this)(m, auth);
  }
};

// ---- From parsing ----------------------------------------------------------------

struct FromRow {
  const char* value;
  const char* domain;  // nullptr: must be an error
  const char* error_has = "";
};

TEST(DmarcFrom, Table) {
  const FromRow rows[] = {
      {"joe@example.com", "example.com"},
      {"Joe Doe <joe@Example.COM>", "example.com"},
      {"\"Doe, Joe\" <joe@example.com>", "example.com"},
      {"\"eve@evil.example\" <joe@example.com>", "example.com"},
      {"\"quoted \\\" pair\" <joe@example.com>", "example.com"},
      {"joe@example.com (Joe (nested (deeper)) Doe)", "example.com"},
      {"(eve@evil.example) joe@example.com", "example.com"},
      {"(a\\) b) joe@example.com", "example.com"},
      {"(c) joe (c) @ (c) example (c) . (c) com (c)", "example.com"},  // obs-domain, CFWS everywhere
      {"Dr. Joe Q. Public <joe@example.com>", "example.com"},         // obs-phrase with dots
      {"<@relay.example,@r2.example:joe@example.com>", "example.com"},  // obs-route
      {"joe@example.com.", "example.com"},
      {"Joe\r\n <joe@example.com>", "example.com"},                   // folded
      {"\"joe smith\"@example.com", "example.com"},
      {"john..doe.@example.com", "example.com"},                      // real mailers' local parts
      {"=?utf-8?q?J=C3=B6?= <joe@example.com>", "example.com"},
      {"J\xc3\xb6rg <joe@example.com>", "example.com"},               // RFC 6532 display name
      {"joe@example.com,", "example.com"},                            // obs-mbox-list empty element
      {"Joe <joe@example.com>, Eve <eve@evil.example>", nullptr, "2 mailboxes"},
      {"eve@evil.example, joe@example.com", nullptr, "2 mailboxes"},
      {"joe@example.com, joe@example.com", nullptr, "2 mailboxes"},
      {"Friends: joe@example.com;", nullptr, "group"},
      {"Friends: joe@example.com, eve@evil.example;", nullptr, "group"},
      {"undisclosed-recipients:;", nullptr, "group"},
      {"Mail From:<joe@joe.com>", nullptr, "group without ';'"},
      {"", nullptr, "no address"},
      {"joe", nullptr, "without '@'"},
      {"<>", nullptr, "empty address"},
      {"<<joe@example.com>>", nullptr, "expected an address"},
      {"Joe joe@example.com", nullptr, "need <>"},
      {"\"Joe\" joe@example.com", nullptr, "need <>"},
      {"joe@[192.0.2.1]", nullptr, "address literal"},
      {"joe@example..com", nullptr, "empty label"},
      {"joe@.example.com", nullptr, "expected a domain"},
      {"joe@ex!ample.com", nullptr, "not a domain name"},
      {"joe@exa mple.com", nullptr, "expected ','"},
      {"\"unterminated <joe@example.com>", nullptr, "unterminated quoted string"},
      {"(unterminated joe@example.com", nullptr, "unterminated comment"},
      {"joe@example.com)", nullptr, "unbalanced"},
      {"joe@example.com\r\nX-Injected: 1", nullptr, "line break"},
      {"Joe <joe@example.com", nullptr, "expected '>'"},
      {"joe@b\xc3\xbc" "cher.example", nullptr, "without SMTPUTF8"},
  };
  for (const auto& r : rows) {
    FromDomain f = parse_from_domain(r.value);
    if (r.domain) {
      EXPECT_TRUE(f.ok) << r.value << ": " << f.error;
      EXPECT_EQ(f.domain, r.domain) << r.value;
    } else {
      EXPECT_FALSE(f.ok) << r.value << " gave " << f.domain;
      EXPECT_NE(f.error.find(r.error_has), std::string::npos) << r.value << ": " << f.error;
    }
  }
}

TEST(DmarcFrom, Utf8DomainOnlyWithSmtputf8) {
  FromDomain f = parse_from_domain("joe@B\xc3\xbc" "cher.example", /*smtputf8=*/true);
  ASSERT_TRUE(f.ok) << f.error;
  EXPECT_EQ(f.domain, "b\xc3\xbc" "cher.example");  // ASCII lowercased, UTF-8 kept as is
  EXPECT_FALSE(parse_from_domain("joe@b\xc3\xbc" "cher.example", false).ok);
  FromDomain bad = parse_from_domain("joe@b\xc3" "cher.example", true);  // truncated sequence
  EXPECT_FALSE(bad.ok);
  EXPECT_NE(bad.error.find("UTF-8"), std::string::npos) << bad.error;
  EXPECT_FALSE(parse_from_domain("joe@\xc0\xae" "example.com", true).ok);  // overlong '.'
}

TEST(DmarcFrom, LongFieldsHaveNoFixedBuffer) {
  // Around OpenDMARC's 8 KB buffer, and well past it: the domain is always found.
  for (std::size_t n : {8180u, 8186u, 8187u, 8188u, 8189u, 8190u, 8191u, 8192u, 8193u, 8200u, 70000u}) {
    std::string name(n, 'a');
    FromDomain f = parse_from_domain("\"" + name + "\" <joe@example.com>");
    ASSERT_TRUE(f.ok) << n << ": " << f.error;
    EXPECT_EQ(f.domain, "example.com") << n;
    FromDomain g = parse_from_domain(name + "@example.com");
    ASSERT_TRUE(g.ok) << n;
    EXPECT_EQ(g.domain, "example.com");
    EXPECT_EQ(g.local_part.size(), n);
    // The second mailbox past the 8 KB mark is still seen.
    FromDomain h = parse_from_domain("joe@example.com, " + name + "@evil.example");
    EXPECT_FALSE(h.ok) << n;
    EXPECT_NE(h.error.find("2 mailboxes"), std::string::npos);
  }
  // Deeply nested comments are a counter, not recursion.
  std::string deep = std::string(100000, '(') + std::string(100000, ')') + " joe@example.com";
  FromDomain d = parse_from_domain(deep);
  ASSERT_TRUE(d.ok) << d.error;
  EXPECT_EQ(d.domain, "example.com");
  EXPECT_FALSE(parse_from_domain(std::string(100000, '(') + " joe@example.com").ok);
  // A thousand mailboxes are counted, not truncated.
  std::string many;
  for (int i = 0; i < 1000; ++i) many += (i ? ", u" : "u") + std::to_string(i) + "@example.com";
  FromDomain m = parse_from_domain(many);
  EXPECT_FALSE(m.ok);
  EXPECT_NE(m.error.find("1000 mailboxes"), std::string::npos) << m.error;
  // Labels and names over the DNS limits are not domain names.
  EXPECT_FALSE(parse_from_domain("joe@" + std::string(64, 'a') + ".example").ok);
  EXPECT_TRUE(parse_from_domain("joe@" + std::string(63, 'a') + ".example").ok);
}

TEST(DmarcFrom, ExactlyOneFromField) {
  Message two("From: joe@example.com\r\nFrom: eve@evil.example\r\nSubject: s\r\n\r\n");
  FromDomain f = from_domain_of(two);
  EXPECT_FALSE(f.ok);
  EXPECT_EQ(f.error, "2 From fields");
  Message none("Subject: s\r\n\r\n");
  EXPECT_EQ(from_domain_of(none).error, "no From field");
  EXPECT_EQ(from_domain_of(message_from("joe@example.com")).domain, "example.com");
}

TEST(DmarcFrom, EveryAuthorOfAMessage) {
  Message m(
      "From: Joe <joe@Example.com>, eve@evil.example\r\n"
      "From: Team: ann@team.example;, undisclosed:;\r\n"
      "From: billing@bank.example <x@attacker.example>\r\n"
      "From: lit@[192.0.2.1]\r\n\r\n");
  FromAuthors a = from_authors_of(m);
  EXPECT_EQ(a.fields, 4u);
  ASSERT_EQ(a.mailboxes.size(), 4u);  // joe, eve, ann, lit (the third field does not parse)
  EXPECT_EQ(a.mailboxes[0].domain, "example.com");
  EXPECT_EQ(a.mailboxes[2].domain, "team.example");
  EXPECT_FALSE(a.mailboxes[3].ok);
  EXPECT_EQ(a.salvaged, (std::vector<std::string>{"bank.example", "attacker.example"}));
  EXPECT_EQ(a.domains(), (std::vector<std::string>{"example.com", "evil.example", "team.example", "bank.example",
                                                   "attacker.example"}));
  ASSERT_EQ(a.problems.size(), 3u);
  EXPECT_NE(a.problems[0].find("group"), std::string::npos) << a.problems[0];
  EXPECT_NE(a.problems[1].find("syntax error"), std::string::npos) << a.problems[1];
  EXPECT_NE(a.problems[2].find("address literal"), std::string::npos) << a.problems[2];
  FromAuthors clean = from_authors_of(message_from("a@x.example, b@y.example"));
  EXPECT_TRUE(clean.problems.empty());
  EXPECT_EQ(clean.domains(), (std::vector<std::string>{"x.example", "y.example"}));
  EXPECT_EQ(from_authors_of(Message("Subject: s\r\n\r\n")).problems, (std::vector<std::string>{"no From field"}));
}

// ---- Records -----------------------------------------------------------------------

TEST(DmarcRecord, AllTags) {
  DmarcRecord r = parse_dmarc_record(
      "v=DMARC1; p=reject; sp=quarantine; np=reject; adkim=s; aspf=s; pct=50; "
      "rua=mailto:a@x.example,mailto:b@y.example!10m; ruf=mailto:f@x.example; ri=3600; fo=1:d; rf=afrf");
  ASSERT_EQ(r.status, DmarcRecordStatus::Ok);
  EXPECT_TRUE(r.warnings.empty()) << r.warnings.front();
  EXPECT_EQ(r.p, DmarcPolicy::Reject);
  EXPECT_EQ(r.sp, DmarcPolicy::Quarantine);
  EXPECT_EQ(r.np, DmarcPolicy::Reject);
  EXPECT_EQ(r.adkim, DmarcAlign::Strict);
  EXPECT_EQ(r.aspf, DmarcAlign::Strict);
  EXPECT_EQ(r.pct, 50u);
  EXPECT_EQ(r.rua, (std::vector<std::string>{"mailto:a@x.example", "mailto:b@y.example!10m"}));
  EXPECT_EQ(r.ruf, (std::vector<std::string>{"mailto:f@x.example"}));
  EXPECT_EQ(r.ri, 3600u);
  EXPECT_EQ(r.fo, "1:d");
}

TEST(DmarcRecord, StrictParsing) {
  // v=DMARC1 must be the first tag, value exact.
  EXPECT_EQ(parse_dmarc_record("p=reject; v=DMARC1").status, DmarcRecordStatus::NotDmarc);
  EXPECT_EQ(parse_dmarc_record("v=dmarc1; p=reject").status, DmarcRecordStatus::NotDmarc);
  EXPECT_EQ(parse_dmarc_record("v=DMARC1 p=reject").status, DmarcRecordStatus::NotDmarc);
  EXPECT_EQ(parse_dmarc_record("v=spf1 -all").status, DmarcRecordStatus::NotDmarc);
  EXPECT_EQ(parse_dmarc_record("  ").status, DmarcRecordStatus::Empty);
  DmarcRecord upper = parse_dmarc_record("V = DMARC1 ;\tP = Reject ;");
  EXPECT_EQ(upper.status, DmarcRecordStatus::Ok);
  EXPECT_EQ(upper.p, DmarcPolicy::Reject);
  // p missing: no policy, unless rua is valid (6.6.3) -> p=none.
  DmarcRecord nop = parse_dmarc_record("v=DMARC1; pct=100");
  EXPECT_EQ(nop.status, DmarcRecordStatus::NoPolicy);
  EXPECT_FALSE(nop.has_p);
  DmarcRecord rua = parse_dmarc_record("v=DMARC1; rua=mailto:d@example.com");
  EXPECT_EQ(rua.status, DmarcRecordStatus::Ok);
  EXPECT_TRUE(rua.p_from_rua);
  EXPECT_EQ(rua.p, DmarcPolicy::None);
  DmarcRecord badp = parse_dmarc_record("v=DMARC1; p=bogus; sp=reject; rua=mailto:d@example.com");
  EXPECT_EQ(badp.status, DmarcRecordStatus::Ok);
  EXPECT_EQ(badp.p, DmarcPolicy::None);
  EXPECT_FALSE(badp.sp);  // acting as "v=DMARC1; p=none": sp does not survive
  EXPECT_EQ(parse_dmarc_record("v=DMARC1; p=bogus").status, DmarcRecordStatus::NoPolicy);
  EXPECT_EQ(parse_dmarc_record("v=DMARC1; p=reject; rua=bogus").status, DmarcRecordStatus::Ok);
  EXPECT_EQ(parse_dmarc_record("v=DMARC1; p=bogus; rua=bogus").status, DmarcRecordStatus::NoPolicy);
  // Invalid sp is named with invalid p in 6.6.3.
  EXPECT_EQ(parse_dmarc_record("v=DMARC1; p=reject; sp=bogus").status, DmarcRecordStatus::NoPolicy);
  // Invalid optional values fall back to defaults, with a warning each.
  DmarcRecord defs = parse_dmarc_record("v=DMARC1; p=quarantine; adkim=x; aspf=relaxed; pct=101; np=maybe; ri=soon");
  EXPECT_EQ(defs.status, DmarcRecordStatus::Ok);
  EXPECT_EQ(defs.adkim, DmarcAlign::Relaxed);
  EXPECT_EQ(defs.aspf, DmarcAlign::Relaxed);
  EXPECT_EQ(defs.pct, 100u);
  EXPECT_FALSE(defs.np);
  EXPECT_EQ(defs.ri, 86400u);
  EXPECT_EQ(defs.warnings.size(), 5u);
  EXPECT_EQ(parse_dmarc_record("v=DMARC1; p=none; pct=-1").pct, 100u);
  EXPECT_EQ(parse_dmarc_record("v=DMARC1; p=none; pct=0").pct, 0u);
  // Unknown tags are ignored silently; the first of a duplicated tag wins.
  EXPECT_TRUE(parse_dmarc_record("v=DMARC1; p=none; foo=bar; x_y=1").warnings.empty());
  DmarcRecord dup = parse_dmarc_record("v=DMARC1; p=reject; p=none");
  EXPECT_EQ(dup.p, DmarcPolicy::Reject);
  EXPECT_EQ(dup.warnings.size(), 1u);
}

TEST(DmarcPsl, OrganizationalDomain) {
  REQUIRE_PSL();
  const PublicSuffixList& psl = *system_psl();
  EXPECT_EQ(organizational_domain(psl, "mail.example.co.uk"), "example.co.uk");
  EXPECT_EQ(organizational_domain(psl, "a.b.example.com"), "example.com");
  EXPECT_EQ(organizational_domain(psl, "Mail.Example.COM."), "example.com");
  EXPECT_EQ(organizational_domain(psl, "example.com"), "example.com");
  EXPECT_EQ(organizational_domain(psl, "co.uk"), "co.uk");
  EXPECT_EQ(organizational_domain(psl, "x.y.unlisted-tld"), "y.unlisted-tld");
  EXPECT_EQ(organizational_domain(psl, "a..b.com"), "");
  std::string why;
  EXPECT_FALSE(PublicSuffixList::load("/nonexistent/psl.dat", &why));
  EXPECT_NE(why.find("/nonexistent/psl.dat"), std::string::npos);
}

TEST(DmarcPsl, Alignment) {
  REQUIRE_PSL();
  const PublicSuffixList& psl = *system_psl();
  EXPECT_TRUE(domains_aligned(psl, "example.com", "EXAMPLE.com.", DmarcAlign::Strict));
  EXPECT_FALSE(domains_aligned(psl, "example.com", "mail.example.com", DmarcAlign::Strict));
  EXPECT_TRUE(domains_aligned(psl, "example.com", "mail.example.com", DmarcAlign::Relaxed));
  EXPECT_TRUE(domains_aligned(psl, "a.example.co.uk", "b.example.co.uk", DmarcAlign::Relaxed));
  EXPECT_FALSE(domains_aligned(psl, "example.co.uk", "other.co.uk", DmarcAlign::Relaxed));
  EXPECT_FALSE(domains_aligned(psl, "example.com", "", DmarcAlign::Relaxed));
  EXPECT_FALSE(domains_aligned(psl, "example.com", "notexample.com", DmarcAlign::Relaxed));
}

// ---- Evaluation --------------------------------------------------------------------

// RFC 7489 6.6.1: every author domain is evaluated and the strictest result decides,
// so an aligned co-author (or a second From field) never hides a p=reject domain.
TEST(DmarcEval, SeveralAuthorsTheStrictestDecides) {
  REQUIRE_PSL();
  Eval ev;
  ev.dns.add("_dmarc.bank.example", RrType::TXT, "v=DMARC1; p=reject");
  ev.dns.add("_dmarc.evil.example", RrType::TXT, "v=DMARC1; p=none");
  // The attacker's own domain passes; the victim is listed next to it.
  AuthResults a = auth_with({dkim(AuthResult::Pass, "evil.example")}, spf(AuthResult::Pass, "evil.example"));
  for (const char* from : {"me@evil.example, ceo@bank.example", "ceo@bank.example, me@evil.example",
                           "CEO <ceo@bank.example>, <me@evil.example>", "me@evil.example,,CEO@BANK.example."}) {
    DmarcOutcome o = ev.from(from, a);
    EXPECT_EQ(o.result, AuthResult::Fail) << from;
    EXPECT_EQ(o.disposition, "reject") << from;
    EXPECT_EQ(o.from_domain, "bank.example") << from;
    EXPECT_FALSE(o.spf_aligned || o.dkim_aligned) << from;
    EXPECT_EQ(o.mailboxes, 2u) << from;
    EXPECT_TRUE(o.multiple_authors()) << from;
    EXPECT_EQ(o.bad_from, "") << from;
    ASSERT_EQ(o.authors.size(), 2u) << from;
    for (const auto& au : o.authors) {
      EXPECT_EQ(au.result, au.domain == "evil.example" ? AuthResult::Pass : AuthResult::Fail) << from;
    }
  }
  // Two From fields, either order, are two authors too.
  for (const char* m : {"From: me@evil.example\r\nFrom: ceo@bank.example\r\n\r\n",
                        "From: ceo@bank.example\r\nFrom: me@evil.example\r\n\r\n"}) {
    DmarcOutcome o = ev(Message(m), a);
    EXPECT_EQ(o.result, AuthResult::Fail) << m;
    EXPECT_EQ(o.disposition, "reject") << m;
    EXPECT_EQ(o.from_domain, "bank.example") << m;
    EXPECT_EQ(o.from_fields, 2u);
    EXPECT_TRUE(o.multiple_authors());
  }
  // Both authors authenticated: pass, still with both evaluated.
  AuthResults both = auth_with({dkim(AuthResult::Pass, "evil.example"), dkim(AuthResult::Pass, "bank.example")});
  DmarcOutcome p = ev.from("me@evil.example, ceo@bank.example", both);
  EXPECT_EQ(p.result, AuthResult::Pass);
  EXPECT_EQ(p.authors.size(), 2u);
  // The same domain twice is evaluated once and is not "several authors" for the result.
  DmarcOutcome same = ev.from("a@bank.example, b@bank.example", a);
  EXPECT_EQ(same.result, AuthResult::Fail);
  EXPECT_TRUE(same.authors.empty());
  EXPECT_EQ(same.mailboxes, 2u);
}

TEST(DmarcEval, StrictnessOrder) {
  REQUIRE_PSL();
  Eval ev;
  ev.dns.add("_dmarc.q.example", RrType::TXT, "v=DMARC1; p=quarantine");
  ev.dns.add("_dmarc.n.example", RrType::TXT, "v=DMARC1; p=none");
  ev.dns.add("_dmarc.r.example", RrType::TXT, "v=DMARC1; p=reject");
  ev.dns.add("_dmarc.ok.example", RrType::TXT, "v=DMARC1; p=reject");
  ev.dns.fail("_dmarc.tmp.example", RrType::TXT, DnsStatus::Timeout);
  AuthResults a = auth_with({dkim(AuthResult::Pass, "ok.example")});
  struct Row {
    const char* from;
    AuthResult result;
    const char* domain;
  } rows[] = {
      {"a@n.example, b@q.example", AuthResult::Fail, "q.example"},
      {"a@q.example, b@r.example", AuthResult::Fail, "r.example"},
      {"a@n.example, b@tmp.example", AuthResult::TempError, "tmp.example"},  // a retry may find reject
      {"a@r.example, b@tmp.example", AuthResult::Fail, "r.example"},        // a decided reject stands
      {"a@ok.example, b@nodmarc.example", AuthResult::None, "nodmarc.example"},  // not a pass
      {"a@ok.example, b@ok.example", AuthResult::Pass, "ok.example"},
  };
  for (const auto& r : rows) {
    DmarcOutcome o = ev.from(r.from, a);
    EXPECT_EQ(o.result, r.result) << r.from << ": " << o.reason;
    EXPECT_EQ(o.from_domain, r.domain) << r.from;
  }
  EXPECT_GT(dmarc_strictness(AuthResult::Fail, "reject"), dmarc_strictness(AuthResult::Fail, "quarantine"));
  EXPECT_GT(dmarc_strictness(AuthResult::TempError, ""), dmarc_strictness(AuthResult::Fail, "none"));
  EXPECT_GT(dmarc_strictness(AuthResult::PermError, ""), dmarc_strictness(AuthResult::None, ""));
  EXPECT_GT(dmarc_strictness(AuthResult::None, ""), dmarc_strictness(AuthResult::Pass, ""));
}

// A From with no usable domain is a permerror with bad_from set, never a pass; a
// group or an unusable mailbox next to good ones makes the From bad too; a field
// that does not parse still has the domains after its '@'s evaluated.
TEST(DmarcEval, BadFromIsNeverAPass) {
  REQUIRE_PSL();
  Eval ev;
  ev.dns.add("_dmarc.bank.example", RrType::TXT, "v=DMARC1; p=reject");
  ev.dns.add("_dmarc.evil.example", RrType::TXT, "v=DMARC1; p=none");
  AuthResults a = auth_with({dkim(AuthResult::Pass, "evil.example")}, spf(AuthResult::Pass, "evil.example"));
  struct Row {
    std::string message;
    AuthResult result;
    const char* domain;
    const char* bad_has;
  } rows[] = {
      {"Subject: s\r\n\r\n", AuthResult::PermError, "", "no From field"},
      {"From: undisclosed-recipients:;\r\n\r\n", AuthResult::PermError, "", "group"},
      {"From: joe@[192.0.2.1]\r\n\r\n", AuthResult::PermError, "", "address literal"},
      {"From: MAILER-DAEMON\r\n\r\n", AuthResult::PermError, "", "without '@'"},
      // The attacker's aligned domain in a group: a group is not a mailbox list.
      {"From: Team: me@evil.example;\r\n\r\n", AuthResult::PermError, "", "group"},
      {"From: me@evil.example, joe@[192.0.2.1]\r\n\r\n", AuthResult::PermError, "", "address literal"},
      {"From: me@evil.example\r\nFrom: garbage\r\n\r\n", AuthResult::PermError, "", "syntax error"},
      // A group naming the victim is evaluated on the victim.
      {"From: Bank: billing@bank.example;\r\n\r\n", AuthResult::Fail, "bank.example", "group"},
      // Display text written without <>: no parse, but bank.example is still seen.
      {"From: billing@bank.example <me@evil.example>\r\n\r\n", AuthResult::Fail, "bank.example", "syntax error"},
      {"From: Billing <billing@bank.example\r\n\r\n", AuthResult::Fail, "bank.example", "expected '>'"},
  };
  for (const auto& r : rows) {
    DmarcOutcome o = ev(Message(r.message), a);
    EXPECT_EQ(o.result, r.result) << r.message << ": " << o.reason;
    EXPECT_EQ(o.from_domain, r.domain) << r.message;
    EXPECT_NE(o.bad_from.find(r.bad_has), std::string::npos) << r.message << ": " << o.bad_from;
    if (r.result == AuthResult::Fail) {
      EXPECT_EQ(o.disposition, "reject") << r.message;
    }
  }
  // Nothing to look up when no domain is usable.
  Eval quiet;
  quiet(Message("From: undisclosed-recipients:;\r\n\r\n"), a);
  EXPECT_EQ(quiet.dns.queries(), 0u);
}

TEST(DmarcEval, AuthorDomainsAreBounded) {
  REQUIRE_PSL();
  Eval ev;
  std::string from;
  for (std::size_t i = 0; i < kMaxAuthorDomains + 2; ++i) from += (i ? ", u@d" : "u@d") + std::to_string(i) + ".example";
  ev.dns.add("_dmarc.d" + std::to_string(kMaxAuthorDomains - 1) + ".example", RrType::TXT, "v=DMARC1; p=reject");
  DmarcOutcome o = ev.from(from, auth_with());
  EXPECT_EQ(o.result, AuthResult::Fail);  // the last domain evaluated still counts
  EXPECT_NE(o.bad_from.find(std::to_string(kMaxAuthorDomains + 2) + " author domains"), std::string::npos) << o.bad_from;
  EXPECT_EQ(o.authors.size(), kMaxAuthorDomains);
  // No lookup for the domains past the bound.
  for (std::size_t i = kMaxAuthorDomains; i < kMaxAuthorDomains + 2; ++i)
    for (const auto& [name, type] : ev.dns.log())
      EXPECT_EQ(name.find(".d" + std::to_string(i) + ".example"), std::string::npos) << name;
  EXPECT_TRUE(o.too_many_authors);
  EXPECT_FALSE(ev.from("a@d1.example, b@d2.example", auth_with()).too_many_authors);
}

TEST(DmarcFrom, SalvageSeesThroughSpaceAndCommentsAfterTheAt) {
  EXPECT_EQ(domains_seen_in("billing@ bank.example <x@evil.example>"),
            (std::vector<std::string>{"bank.example", "evil.example"}));
  EXPECT_EQ(domains_seen_in("billing@(c)bank.example"), (std::vector<std::string>{"bank.example"}));
  EXPECT_EQ(domains_seen_in("billing@\r\n bank.example"), (std::vector<std::string>{"bank.example"}));
  EXPECT_EQ(domains_seen_in("billing@(a(b)c) Bank.Example."), (std::vector<std::string>{"bank.example"}));
  EXPECT_TRUE(domains_seen_in("no at sign").empty());
}

TEST(DmarcEval, PassByDkimOrSpf) {
  REQUIRE_PSL();
  Eval ev;
  ev.dns.add("_dmarc.example.com", RrType::TXT, "v=DMARC1; p=reject");
  DmarcOutcome o = ev.from("Joe <joe@EXAMPLE.com>", auth_with({dkim(AuthResult::Pass, "Example.COM")}));
  EXPECT_EQ(o.result, AuthResult::Pass) << o.reason;
  EXPECT_TRUE(o.dkim_aligned);
  EXPECT_FALSE(o.spf_aligned);
  EXPECT_EQ(o.from_domain, "example.com");
  EXPECT_EQ(o.policy_domain, "example.com");
  EXPECT_EQ(o.policy, "reject");
  EXPECT_EQ(o.disposition, "none");
  DmarcOutcome s = ev.from("joe@example.com", auth_with({}, spf(AuthResult::Pass, "bounces.example.com")));
  EXPECT_EQ(s.result, AuthResult::Pass) << s.reason;
  EXPECT_TRUE(s.spf_aligned);
  // A failing aligned signature next to a passing unaligned one is still a fail.
  DmarcOutcome f = ev.from("joe@example.com", auth_with({dkim(AuthResult::Fail, "example.com"),
                                                         dkim(AuthResult::Pass, "example.net")},
                                                        spf(AuthResult::Fail, "example.com")));
  EXPECT_EQ(f.result, AuthResult::Fail);
  EXPECT_EQ(f.disposition, "reject");
}

// RFC 7489 3.1.2 / RFC 7208 2.4: for a null reverse-path the transaction's SPF
// identity is the HELO domain, and it aligns like a MAIL FROM domain (an unsigned
// bounce from mx.example.com passes). The session-wide HELO check never counts.
TEST(DmarcEval, NullSenderAlignsOnTheHeloIdentityOnly) {
  REQUIRE_PSL();
  Eval ev;
  ev.dns.add("_dmarc.example.com", RrType::TXT, "v=DMARC1; p=quarantine");
  DmarcOutcome bounce = ev.from("MAILER-DAEMON@mx.example.com",
                                auth_with({}, spf(AuthResult::Pass, "mx.example.com", "helo")));
  EXPECT_EQ(bounce.result, AuthResult::Pass) << bounce.reason;
  EXPECT_TRUE(bounce.spf_aligned);
  AuthResults a = auth_with({}, spf(AuthResult::None, "other.example", "mailfrom"));
  a.spf_helo = spf(AuthResult::Pass, "example.com", "helo");
  DmarcOutcome o = ev.from("joe@example.com", a);
  EXPECT_EQ(o.result, AuthResult::Fail);
  EXPECT_FALSE(o.spf_aligned);
}

TEST(DmarcEval, StrictAndRelaxedAlignment) {
  REQUIRE_PSL();
  struct Row {
    const char* record;
    bool spf_sub, dkim_sub;  // pass for mail.example.com (SPF) / d=mail.example.com (DKIM)
    AuthResult want;
  };
  const Row rows[] = {
      {"v=DMARC1; p=reject", true, false, AuthResult::Pass},            // aspf=r default
      {"v=DMARC1; p=reject; aspf=s", true, false, AuthResult::Fail},
      {"v=DMARC1; p=reject; aspf=s; adkim=r", false, true, AuthResult::Pass},
      {"v=DMARC1; p=reject; adkim=s", false, true, AuthResult::Fail},
      {"v=DMARC1; p=reject; adkim=s; aspf=r", true, true, AuthResult::Pass},
      {"v=DMARC1; p=reject; adkim=s; aspf=s", true, true, AuthResult::Fail},
  };
  for (const auto& r : rows) {
    Eval ev;
    ev.dns.add("_dmarc.example.com", RrType::TXT, r.record);
    std::vector<DkimOutcome> sigs;
    if (r.dkim_sub) sigs.push_back(dkim(AuthResult::Pass, "mail.example.com"));
    AuthResults a = auth_with(sigs, spf(AuthResult::Pass, r.spf_sub ? "mail.example.com" : "other.example.net"));
    DmarcOutcome o = ev.from("joe@example.com", a);
    EXPECT_EQ(o.result, r.want) << r.record << " spf_sub=" << r.spf_sub << " dkim_sub=" << r.dkim_sub << ": "
                                << o.reason;
  }
}

TEST(DmarcEval, OrganizationalDomainFallbackAndSp) {
  REQUIRE_PSL();
  Eval ev;
  ev.dns.add("_dmarc.example.co.uk", RrType::TXT, "v=DMARC1; p=reject; sp=quarantine");
  ev.dns.add("mail.example.co.uk", RrType::A, "192.0.2.1");
  DmarcOutcome o = ev.from("joe@mail.example.co.uk", auth_with());
  EXPECT_EQ(o.result, AuthResult::Fail);
  EXPECT_EQ(o.from_domain, "mail.example.co.uk");
  EXPECT_EQ(o.policy_domain, "example.co.uk");
  EXPECT_EQ(o.policy, "quarantine");  // sp, not p
  EXPECT_EQ(o.disposition, "quarantine");
  ASSERT_EQ(ev.dns.log().size(), 2u);
  EXPECT_EQ(ev.dns.log()[0].first, "_dmarc.mail.example.co.uk");
  EXPECT_EQ(ev.dns.log()[1].first, "_dmarc.example.co.uk");
  // Without sp, p applies to subdomains; the org domain itself always gets p.
  Eval ev2;
  ev2.dns.add("_dmarc.example.co.uk", RrType::TXT, "v=DMARC1; p=reject");
  EXPECT_EQ(ev2.from("joe@a.b.example.co.uk", auth_with()).policy, "reject");
  Eval ev3;
  ev3.dns.add("_dmarc.example.co.uk", RrType::TXT, "v=DMARC1; p=reject; sp=none");
  EXPECT_EQ(ev3.from("joe@example.co.uk", auth_with()).policy, "reject");
  // A subdomain's own record wins, and is its p.
  ev3.dns.add("_dmarc.mail.example.co.uk", RrType::TXT, "v=DMARC1; p=quarantine; sp=none");
  DmarcOutcome own = ev3.from("joe@mail.example.co.uk", auth_with());
  EXPECT_EQ(own.policy_domain, "mail.example.co.uk");
  EXPECT_EQ(own.policy, "quarantine");
  // Relaxed alignment across the organisational domain passes.
  DmarcOutcome pass = ev.from("joe@mail.example.co.uk", auth_with({dkim(AuthResult::Pass, "example.co.uk")}));
  EXPECT_EQ(pass.result, AuthResult::Pass);
}

TEST(DmarcEval, NpForNonExistentSubdomain) {
  REQUIRE_PSL();
  const char* rec = "v=DMARC1; p=none; sp=quarantine; np=reject";
  {
    Eval ev;  // NXDOMAIN for the From domain
    ev.dns.add("_dmarc.example.com", RrType::TXT, rec);
    DmarcOutcome o = ev.from("joe@nosuch.example.com", auth_with());
    EXPECT_EQ(o.result, AuthResult::Fail);
    EXPECT_EQ(o.policy, "reject") << o.reason;
    EXPECT_EQ(o.disposition, "reject");
  }
  {
    Eval ev;  // the name exists but has no A, AAAA or MX: RFC 9091 2.1 counts NODATA too
    ev.dns.add("_dmarc.example.com", RrType::TXT, rec);
    ev.dns.add("empty.example.com", RrType::TXT, "hello");
    EXPECT_EQ(ev.from("joe@empty.example.com", auth_with()).policy, "reject");
  }
  {
    Eval ev;  // exists (MX): sp
    ev.dns.add("_dmarc.example.com", RrType::TXT, rec);
    ev.dns.add("mail.example.com", RrType::MX, "10 mx.example.com");
    EXPECT_EQ(ev.from("joe@mail.example.com", auth_with()).policy, "quarantine");
  }
  {
    Eval ev;  // existence unknown: sp, said in the reason
    ev.dns.add("_dmarc.example.com", RrType::TXT, rec);
    ev.dns.fail("flaky.example.com", RrType::A, DnsStatus::Timeout);
    DmarcOutcome o = ev.from("joe@flaky.example.com", auth_with());
    EXPECT_EQ(o.policy, "quarantine");
    EXPECT_NE(o.reason.find("unknown"), std::string::npos) << o.reason;
  }
  {
    Eval ev;  // np is for subdomains under the org record, not for the org domain itself
    ev.dns.add("_dmarc.example.com", RrType::TXT, "v=DMARC1; p=quarantine; np=reject");
    EXPECT_EQ(ev.from("joe@example.com", auth_with()).policy, "quarantine");
  }
  {
    Eval ev;  // without np, sp applies to a non-existent subdomain; no existence queries
    ev.dns.add("_dmarc.example.com", RrType::TXT, "v=DMARC1; p=none; sp=reject");
    EXPECT_EQ(ev.from("joe@nosuch.example.com", auth_with()).policy, "reject");
    EXPECT_EQ(ev.dns.queries(), 2u);
  }
}

TEST(DmarcEval, PctSampling) {
  REQUIRE_PSL();
  struct Row {
    const char* record;
    unsigned draw;
    const char* disposition;
  };
  const Row rows[] = {
      {"v=DMARC1; p=reject; pct=0", 0, "quarantine"},  // pct=0: never applies, next lower
      {"v=DMARC1; p=reject; pct=0", 99, "quarantine"},
      {"v=DMARC1; p=quarantine; pct=0", 0, "none"},
      {"v=DMARC1; p=reject; pct=100", 99, "reject"},  // pct=100: always
      {"v=DMARC1; p=reject", 99, "reject"},
      {"v=DMARC1; p=reject; pct=50", 49, "reject"},
      {"v=DMARC1; p=reject; pct=50", 50, "quarantine"},
      {"v=DMARC1; p=reject; pct=50", 149, "reject"},  // draws are taken modulo 100
      {"v=DMARC1; p=none; pct=0", 0, "none"},
  };
  for (const auto& r : rows) {
    Eval ev;
    ev.draw = r.draw;
    ev.dns.add("_dmarc.example.com", RrType::TXT, r.record);
    DmarcOutcome o = ev.from("joe@example.com", auth_with());
    EXPECT_EQ(o.result, AuthResult::Fail);
    EXPECT_EQ(o.policy, std::string(r.record).find("p=reject") != std::string::npos       ? "reject"
                        : std::string(r.record).find("p=quarantine") != std::string::npos ? "quarantine"
                                                                                          : "none");
    EXPECT_EQ(o.disposition, r.disposition) << r.record << " draw=" << r.draw;
  }
  // The default draw: pct=0 and pct=100 are exact whatever it gives.
  Eval ev;
  ev.cfg.random = nullptr;
  ev.dns.add("_dmarc.a.example", RrType::TXT, "v=DMARC1; p=reject; pct=0");
  ev.dns.add("_dmarc.b.example", RrType::TXT, "v=DMARC1; p=reject; pct=100");
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(ev.from("x@a.example", auth_with()).disposition, "quarantine");
    EXPECT_EQ(ev.from("x@b.example", auth_with()).disposition, "reject");
  }
}

TEST(DmarcEval, RecordSelection) {
  REQUIRE_PSL();
  {
    Eval ev;  // two DMARC records: none, and no fallback to the org domain
    ev.dns.add("_dmarc.mail.example.com", RrType::TXT, "v=DMARC1; p=reject");
    ev.dns.add("_dmarc.mail.example.com", RrType::TXT, "v=DMARC1; p=none");
    ev.dns.add("_dmarc.example.com", RrType::TXT, "v=DMARC1; p=reject");
    DmarcOutcome o = ev.from("joe@mail.example.com", auth_with());
    EXPECT_EQ(o.result, AuthResult::None);
    EXPECT_NE(o.reason.find("2 DMARC records"), std::string::npos) << o.reason;
    EXPECT_EQ(ev.dns.queries(), 1u);
  }
  {
    Eval ev;  // records that do not begin with v=DMARC1 are not DMARC records
    ev.dns.add("_dmarc.example.com", RrType::TXT, "p=reject; v=DMARC1");
    ev.dns.add("_dmarc.example.com", RrType::TXT, "v=spf1 -all");
    DmarcOutcome o = ev.from("joe@example.com", auth_with());
    EXPECT_EQ(o.result, AuthResult::None);
    EXPECT_EQ(o.policy_domain, "");
  }
  {
    Eval ev;  // ... and do not count against the one that does
    ev.dns.add("_dmarc.example.com", RrType::TXT, "some verification token");
    ev.dns.add("_dmarc.example.com", RrType::TXT, "v=DMARC1; p=reject");
    EXPECT_EQ(ev.from("joe@example.com", auth_with()).result, AuthResult::Fail);
  }
  {
    Eval ev;  // p missing but rua valid: p=none, still a fail to report
    ev.dns.add("_dmarc.example.com", RrType::TXT, "v=DMARC1; rua=mailto:d@example.com");
    DmarcOutcome o = ev.from("joe@example.com", auth_with());
    EXPECT_EQ(o.result, AuthResult::Fail);
    EXPECT_EQ(o.policy, "none");
    EXPECT_EQ(o.disposition, "none");
  }
  {
    Eval ev;  // p missing, no rua: no policy
    ev.dns.add("_dmarc.example.com", RrType::TXT, "v=DMARC1; pct=100");
    DmarcOutcome o = ev.from("joe@example.com", auth_with());
    EXPECT_EQ(o.result, AuthResult::None);
    EXPECT_EQ(o.policy_domain, "example.com");
  }
  {
    Eval ev;  // no record anywhere
    DmarcOutcome o = ev.from("joe@mail.example.com", auth_with());
    EXPECT_EQ(o.result, AuthResult::None);
    EXPECT_EQ(o.reason, "no DMARC record for mail.example.com or example.com");
  }
}

TEST(DmarcEval, TemporaryErrors) {
  REQUIRE_PSL();
  {
    Eval ev;
    ev.dns.fail("_dmarc.example.com", RrType::TXT, DnsStatus::Timeout);
    DmarcOutcome o = ev.from("joe@example.com", auth_with({dkim(AuthResult::Pass, "example.com")}));
    EXPECT_EQ(o.result, AuthResult::TempError);
    EXPECT_NE(o.reason.find("_dmarc.example.com"), std::string::npos) << o.reason;
  }
  {
    Eval ev;  // at the org domain, after NXDOMAIN at the From domain
    ev.dns.fail("_dmarc.example.com", RrType::TXT, DnsStatus::ServFail);
    EXPECT_EQ(ev.from("joe@mail.example.com", auth_with()).result, AuthResult::TempError);
  }
  {
    Eval ev;  // an aligned DKIM temperror could have passed: temperror
    ev.dns.add("_dmarc.example.com", RrType::TXT, "v=DMARC1; p=reject");
    DmarcOutcome o = ev.from("joe@example.com", auth_with({dkim(AuthResult::TempError, "example.com")}));
    EXPECT_EQ(o.result, AuthResult::TempError) << o.reason;
    // An unaligned one could not: fail.
    DmarcOutcome f = ev.from("joe@example.com", auth_with({dkim(AuthResult::TempError, "other.example")}));
    EXPECT_EQ(f.result, AuthResult::Fail);
    // SPF temperror for the aligned MAIL FROM domain: temperror.
    DmarcOutcome s = ev.from("joe@example.com", auth_with({}, spf(AuthResult::TempError, "example.com")));
    EXPECT_EQ(s.result, AuthResult::TempError);
    // A pass decides even when something else had a temperror.
    DmarcOutcome p = ev.from("joe@example.com", auth_with({dkim(AuthResult::Pass, "example.com")},
                                                         spf(AuthResult::TempError, "example.com")));
    EXPECT_EQ(p.result, AuthResult::Pass);
  }
  {
    Eval ev;  // nothing checked at all (spf/dkim filters missing): never a fail
    ev.dns.add("_dmarc.example.com", RrType::TXT, "v=DMARC1; p=reject");
    AuthResults nothing;
    EXPECT_EQ(ev.from("joe@example.com", nothing).result, AuthResult::TempError);
  }
  {
    Eval ev;  // no resolver
    Message m = message_from("joe@example.com");
    AuthResults a = auth_with();
    const DmarcConfig& c = ev.cfg;
    DmarcOutcome o = run<DmarcOutcome>([&]() { return evaluate_dmarc(m, a, nullptr, c); });
    EXPECT_EQ(o.result, AuthResult::TempError);
    EXPECT_EQ(o.reason, "no resolver");
  }
}

// ---- The filter --------------------------------------------------------------------

struct FilterRun {
  std::shared_ptr<DmarcFilter> filter;
  std::shared_ptr<FakeLookup> dns = std::make_shared<FakeLookup>();
  Envelope env;
  explicit FilterRun(const std::string& yaml) {
    std::vector<ConfigError> errs;
    YAML::Node n = YAML::Load(yaml.empty() ? "{}" : yaml);
    {
      ConfigMap cfg(n, "c.yaml", "dmarc", &errs);
      filter = std::dynamic_pointer_cast<DmarcFilter>(make_dmarc_filter(cfg));
    }
    EXPECT_TRUE(errs.empty()) << errs.front().str();
    env.state = std::make_shared<FilterState>();
    env.state->dns = dns;
  }
  Verdict run_eod(const Message& msg) {
    Filter& f = *filter;
    const Envelope& e = env;
    return run<Verdict>([&]() { return f.on_end_of_data(e, msg); });
  }
};

std::vector<std::string> names(const Verdict& v) {
  std::vector<std::string> out;
  for (const auto& s : v.symbols) out.push_back(s.name);
  return out;
}

TEST(DmarcFilter, SymbolsAndAuthResults) {
  REQUIRE_PSL();
  FilterRun fr("");
  ASSERT_TRUE(fr.filter);
  EXPECT_STREQ(fr.filter->name(), "dmarc");
  fr.dns->add("_dmarc.example.com", RrType::TXT, "v=DMARC1; p=reject");
  fr.env.state->auth = auth_with();
  Message msg = message_from("joe@example.com");
  Verdict v = fr.run_eod(msg);
  EXPECT_EQ(v.action, Action::Continue);  // reject_on_policy defaults to false
  EXPECT_EQ(names(v), (std::vector<std::string>{"DMARC_FAIL", "DMARC_POLICY_REJECT"}));
  EXPECT_DOUBLE_EQ(v.symbols[0].score, 1.0);
  EXPECT_DOUBLE_EQ(v.symbols[1].score, 4.0);
  EXPECT_NE(v.symbols[0].detail.find("example.com"), std::string::npos);
  ASSERT_TRUE(fr.env.state->auth.dmarc);
  EXPECT_EQ(fr.env.state->auth.dmarc->result, AuthResult::Fail);
  EXPECT_EQ(fr.env.state->auth.dmarc->disposition, "reject");

  fr.env.state->auth = auth_with({dkim(AuthResult::Pass, "example.com")});
  EXPECT_EQ(names(fr.run_eod(msg)), (std::vector<std::string>{"DMARC_PASS"}));
  EXPECT_EQ(fr.env.state->auth.dmarc->result, AuthResult::Pass);

  Message nobody = message_from("joe@nodmarc.example");
  EXPECT_EQ(names(fr.run_eod(nobody)), (std::vector<std::string>{"DMARC_NONE"}));

  fr.env.state->auth = auth_with();
  Message two = message_from("joe@example.com, eve@evil.example");
  Verdict multi = fr.run_eod(two);
  EXPECT_EQ(names(multi), (std::vector<std::string>{"DMARC_FAIL", "DMARC_POLICY_REJECT", "DMARC_MULTI_FROM"}));
  EXPECT_NE(multi.symbols[0].detail.find("example.com p=reject"), std::string::npos) << multi.symbols[0].detail;
  EXPECT_NE(multi.symbols[0].detail.find("other authors: evil.example=none"), std::string::npos)
      << multi.symbols[0].detail;
  EXPECT_EQ(multi.symbols[2].detail, "2 authors");
  EXPECT_EQ(fr.env.state->auth.dmarc->result, AuthResult::Fail);
  Message fields("From: joe@example.com\r\nFrom: joe@example.com\r\n\r\n");
  EXPECT_EQ(fr.run_eod(fields).symbols.back().detail, "2 authors in 2 From fields");

  Message group = message_from("undisclosed-recipients:;");
  Verdict bad = fr.run_eod(group);
  EXPECT_EQ(names(bad), (std::vector<std::string>{"DMARC_PERMERROR", "DMARC_BAD_FROM"}));
  EXPECT_NE(bad.symbols[1].detail.find("group"), std::string::npos);
  EXPECT_EQ(fr.env.state->auth.dmarc->result, AuthResult::PermError);
  // A bad From next to a decided failure: both are said.
  Message salvaged = message_from("joe@example.com <eve@evil.example>");
  EXPECT_EQ(names(fr.run_eod(salvaged)),
            (std::vector<std::string>{"DMARC_FAIL", "DMARC_POLICY_REJECT", "DMARC_BAD_FROM"}));

  fr.dns->fail("_dmarc.tmp.example", RrType::TXT, DnsStatus::Timeout);
  Message tmp = message_from("joe@tmp.example");
  EXPECT_EQ(names(fr.run_eod(tmp)), (std::vector<std::string>{"DMARC_TEMPERROR"}));

  fr.dns->add("_dmarc.q.example", RrType::TXT, "v=DMARC1; p=quarantine");
  fr.dns->add("_dmarc.n.example", RrType::TXT, "v=DMARC1; p=none");
  fr.env.state->auth = auth_with();
  Message q = message_from("joe@q.example"), n = message_from("joe@n.example");
  EXPECT_EQ(names(fr.run_eod(q)), (std::vector<std::string>{"DMARC_FAIL", "DMARC_POLICY_QUARANTINE"}));
  EXPECT_EQ(names(fr.run_eod(n)), (std::vector<std::string>{"DMARC_FAIL", "DMARC_POLICY_NONE"}));
}

TEST(DmarcFilter, RejectOnPolicy) {
  REQUIRE_PSL();
  FilterRun fr("reject_on_policy: true\n");
  fr.dns->add("_dmarc.example.com", RrType::TXT, "v=DMARC1; p=reject; sp=quarantine");
  fr.env.state->auth = auth_with();
  Message msg = message_from("Joe <joe@example.com>");
  Verdict v = fr.run_eod(msg);
  EXPECT_EQ(v.action, Action::Reject);
  ASSERT_TRUE(v.reply);
  EXPECT_EQ(v.reply->wire(), "550 5.7.1 Message rejected: DMARC policy of example.com says reject\r\n");
  EXPECT_EQ(names(v), (std::vector<std::string>{"DMARC_FAIL", "DMARC_POLICY_REJECT"}));
  // Quarantine (sp) is not a reject.
  Message sub = message_from("joe@www.example.com");
  fr.dns->add("www.example.com", RrType::A, "192.0.2.1");
  EXPECT_EQ(fr.run_eod(sub).action, Action::Continue);
  // A pass is never rejected.
  fr.env.state->auth = auth_with({dkim(AuthResult::Pass, "example.com")});
  EXPECT_EQ(fr.run_eod(msg).action, Action::Continue);

  FilterRun custom("reject_on_policy: true\nreject_reply: \"550 5.7.26 {from}: rejected per DMARC policy of {domain}\"\n");
  custom.dns->add("_dmarc.example.com", RrType::TXT, "v=DMARC1; p=reject");
  custom.env.state->auth = auth_with();
  Message m2 = message_from("joe@mail.example.com");
  Verdict c = custom.run_eod(m2);
  ASSERT_TRUE(c.reply);
  EXPECT_EQ(c.reply->wire(), "550 5.7.26 mail.example.com: rejected per DMARC policy of example.com\r\n");
}

TEST(DmarcFilter, NullStateIsTemperror) {
  REQUIRE_PSL();
  FilterRun fr("");
  fr.env.state = nullptr;
  Message msg = message_from("joe@example.com");
  Verdict v = fr.run_eod(msg);
  EXPECT_EQ(v.action, Action::Continue);
  ASSERT_EQ(names(v), (std::vector<std::string>{"DMARC_TEMPERROR"}));
  EXPECT_NE(v.symbols[0].detail.find("no resolver"), std::string::npos);
}

TEST(DmarcFilter, Config) {
  REQUIRE_PSL();
  std::vector<ConfigError> errs;
  YAML::Node n = YAML::Load(
      "scores: { DMARC_FAIL: 2.5, NO_SUCH: 1 }\n"
      "reject_reply: \"451 4.7.1 later\"\n"
      "public_suffix_list: /nonexistent/list.dat\n"
      "rejekt_on_policy: true\n");
  FilterPtr f;
  {
    ConfigMap cfg(n, "c.yaml", "dmarc", &errs);
    f = make_dmarc_filter(cfg);
  }
  EXPECT_FALSE(f);
  std::vector<std::string> got;
  for (const auto& e : errs) got.push_back(e.str());
  ASSERT_EQ(got.size(), 4u) << ::testing::PrintToString(got);
  EXPECT_NE(got[0].find("dmarc.reject_reply: must be a 5xx"), std::string::npos) << got[0];
  EXPECT_EQ(got[1], "c.yaml:1: dmarc.scores.NO_SUCH: unknown symbol for this filter");
  EXPECT_NE(got[2].find("dmarc.public_suffix_list: cannot load the public suffix list /nonexistent/list.dat"),
            std::string::npos) << got[2];
  EXPECT_NE(got[3].find("rejekt_on_policy"), std::string::npos) << got[3];

  errs.clear();
  YAML::Node ok = YAML::Load("scores: { DMARC_FAIL: 2.5 }\npublic_suffix_list: " +
                             std::string(kDefaultPublicSuffixList) + "\n");
  {
    ConfigMap cfg(ok, "c.yaml", "dmarc", &errs);
    f = make_dmarc_filter(cfg);
  }
  ASSERT_TRUE(errs.empty()) << errs.front().str();
  auto* df = dynamic_cast<DmarcFilter*>(f.get());
  ASSERT_NE(df, nullptr);
  DmarcOutcome o;
  o.result = AuthResult::Fail;
  o.from_domain = "example.com";
  o.policy_domain = "example.com";
  o.policy = o.disposition = "reject";
  Verdict v = df->verdict_for(o);
  EXPECT_DOUBLE_EQ(v.symbols[0].score, 2.5);
  EXPECT_EQ(v.action, Action::Continue);
  // The .dafsa form of the list loads as well.
  std::string why;
  if (std::filesystem::exists("/usr/share/publicsuffix/public_suffix_list.dafsa")) {
    auto d = PublicSuffixList::load("/usr/share/publicsuffix/public_suffix_list.dafsa", &why);
    ASSERT_TRUE(d) << why;
    EXPECT_EQ(organizational_domain(*d, "mail.example.co.uk"), "example.co.uk");
  }
}

// Past the bound the filter refuses by itself: a bad_from policy of none must not
// let a forger bury a p=reject domain as the eleventh author.
TEST(DmarcFilter, TooManyAuthorDomainsAreRefused) {
  REQUIRE_PSL();
  FilterRun fr("");
  fr.env.state->auth = auth_with();
  std::string from;
  for (std::size_t i = 0; i < kMaxAuthorDomains; ++i) from += "u@d" + std::to_string(i) + ".example, ";
  Message over = message_from(from + "ceo@bank.example");
  Verdict v = fr.run_eod(over);
  EXPECT_EQ(v.action, Action::Reject);
  ASSERT_TRUE(v.reply);
  EXPECT_EQ(v.reply->wire(), "550 5.7.1 Message rejected: too many author domains in From\r\n");
  EXPECT_EQ(names(v).back(), "DMARC_MULTI_FROM");
  Message at_bound = message_from(from.substr(0, from.size() - 2));
  EXPECT_EQ(fr.run_eod(at_bound).action, Action::Continue);
}

// ---- RFC 9989: the DNS Tree Walk ---------------------------------------------------

TEST(DmarcWalk, NamesAskedAtMostEight) {
  EXPECT_EQ(dmarc_walk_names("mail.example.com"),
            (std::vector<std::string>{"mail.example.com", "example.com", "com"}));
  // 4.10's example: a long name jumps to its 7 right-most labels after the first query.
  EXPECT_EQ(dmarc_walk_names("a.b.c.d.e.f.g.h.i.j.mail.example.com"),
            (std::vector<std::string>{"a.b.c.d.e.f.g.h.i.j.mail.example.com", "g.h.i.j.mail.example.com",
                                      "h.i.j.mail.example.com", "i.j.mail.example.com", "j.mail.example.com",
                                      "mail.example.com", "example.com", "com"}));
  EXPECT_EQ(dmarc_walk_names("a.b.c.d.e.f.example.com").size(), 8u);  // 8 labels
  EXPECT_EQ(dmarc_walk_names("com"), (std::vector<std::string>{"com"}));
}

DmarcWalk walk_with(std::initializer_list<std::pair<const char*, const char*>> records, const std::string& from) {
  FakeLookup dns;
  for (const auto& [name, txt] : records) dns.add(std::string("_dmarc.") + name, RrType::TXT, txt);
  return run<DmarcWalk>([&]() { return dmarc_tree_walk(dns, from); });
}

TEST(DmarcWalk, OrganisationalDomain) {
  // Records at mail.example.com and example.com: the one with fewest labels.
  DmarcWalk w = walk_with({{"mail.example.com", "v=DMARC1; p=none"}, {"example.com", "v=DMARC1; p=reject"}},
                          "a.mail.example.com");
  EXPECT_EQ(w.found.size(), 2u);
  EXPECT_EQ(w.asked, (std::vector<std::string>{"a.mail.example.com", "mail.example.com", "example.com", "com"}));
  EXPECT_EQ(dmarc_walk_org_domain(w), "example.com");
  // psd=n: that name is the boundary, and the walk stops there.
  w = walk_with({{"mail.example.com", "v=DMARC1; p=none; psd=n"}, {"example.com", "v=DMARC1; p=reject"}},
                "a.mail.example.com");
  EXPECT_EQ(dmarc_walk_org_domain(w), "mail.example.com");
  EXPECT_EQ(w.asked.size(), 2u);
  // psd=y at a public suffix: the name one label below it.
  w = walk_with({{"com", "v=DMARC1; p=reject; psd=y"}}, "a.b.example.com");
  EXPECT_EQ(dmarc_walk_org_domain(w), "example.com");
  w = walk_with({{"bank.example", "v=DMARC1; p=reject; psd=y"}}, "giant.bank.example");  // B.4.3
  EXPECT_EQ(dmarc_walk_org_domain(w), "giant.bank.example");
  // Nothing found: the name is its own Organisational Domain.
  EXPECT_EQ(dmarc_walk_org_domain(walk_with({}, "a.example.org")), "a.example.org");
  // Two records at one name count as none.
  FakeLookup two;
  two.add("_dmarc.example.com", RrType::TXT, "v=DMARC1; p=reject");
  two.add("_dmarc.example.com", RrType::TXT, "v=DMARC1; p=none");
  EXPECT_TRUE(run<DmarcWalk>([&]() { return dmarc_tree_walk(two, "x.example.com"); }).found.empty());
  // A lookup that fails leaves the walk unfinished: no Organisational Domain to trust.
  FakeLookup flaky;
  flaky.fail("_dmarc.example.com", RrType::TXT, DnsStatus::Timeout);
  EXPECT_TRUE(run<DmarcWalk>([&]() { return dmarc_tree_walk(flaky, "x.example.com"); }).temporary);
}

struct Eval9989 : Eval {
  Eval9989() { cfg.discovery = DmarcDiscovery::Rfc9989; }
};

TEST(DmarcEval9989, PolicyFromTheOrganisationalOrPublicSuffixDomain) {
  {
    Eval9989 ev;  // a subdomain under the org record: sp
    ev.dns.add("_dmarc.example.com", RrType::TXT, "v=DMARC1; p=reject; sp=quarantine");
    ev.dns.add("mail.example.com", RrType::A, "192.0.2.1");
    DmarcOutcome o = ev.from("joe@mail.example.com", auth_with());
    EXPECT_EQ(o.result, AuthResult::Fail);
    EXPECT_EQ(o.policy_domain, "example.com");
    EXPECT_EQ(o.policy, "quarantine");
  }
  {
    Eval9989 ev;  // a record between the author and the org domain is not used
    ev.dns.add("_dmarc.b.example.com", RrType::TXT, "v=DMARC1; p=none");
    ev.dns.add("_dmarc.example.com", RrType::TXT, "v=DMARC1; p=reject");
    ev.dns.add("a.b.example.com", RrType::A, "192.0.2.1");
    DmarcOutcome o = ev.from("joe@a.b.example.com", auth_with());
    EXPECT_EQ(o.policy_domain, "example.com") << o.reason;
    EXPECT_EQ(o.policy, "reject");
  }
  {
    Eval9989 ev;  // no org record: the public suffix operator's (psd=y), np for a name that does not exist
    ev.dns.add("_dmarc.bank", RrType::TXT, "v=DMARC1; p=quarantine; np=reject; psd=y");
    DmarcOutcome o = ev.from("joe@nosuch.bank", auth_with());
    EXPECT_EQ(o.result, AuthResult::Fail);
    EXPECT_EQ(o.policy_domain, "bank");
    EXPECT_EQ(o.policy, "reject") << o.reason;
  }
  {
    Eval9989 ev;  // the author's own record: p, even with psd=n
    ev.dns.add("_dmarc.shop.example.com", RrType::TXT, "v=DMARC1; p=quarantine; sp=none; psd=n");
    EXPECT_EQ(ev.from("joe@shop.example.com", auth_with()).policy, "quarantine");
  }
  {
    Eval9989 ev;  // no record anywhere: none, and the reason lists what was asked
    DmarcOutcome o = ev.from("joe@mail.example.org", auth_with());
    EXPECT_EQ(o.result, AuthResult::None);
    EXPECT_NE(o.reason.find("mail.example.org, example.org, org"), std::string::npos) << o.reason;
  }
}

TEST(DmarcEval9989, TestModeReplacesPct) {
  Eval9989 ev;
  ev.dns.add("_dmarc.example.com", RrType::TXT, "v=DMARC1; p=reject; t=y");
  DmarcOutcome o = ev.from("joe@example.com", auth_with());
  EXPECT_EQ(o.policy, "reject");
  EXPECT_EQ(o.disposition, "quarantine");
  EXPECT_NE(o.reason.find("t=y"), std::string::npos) << o.reason;
  Eval9989 ev2;  // pct is gone in RFC 9989: ignored
  ev2.dns.add("_dmarc.example.com", RrType::TXT, "v=DMARC1; p=reject; pct=0");
  EXPECT_EQ(ev2.from("joe@example.com", auth_with()).disposition, "reject");
  Eval ev3;  // and still honoured under RFC 7489
  ev3.cfg.psl = system_psl();
  ev3.draw = 50;
  ev3.dns.add("_dmarc.example.com", RrType::TXT, "v=DMARC1; p=reject; pct=0");
  if (ev3.cfg.psl) {
    EXPECT_EQ(ev3.from("joe@example.com", auth_with()).disposition, "quarantine");
  }
}

TEST(DmarcEval9989, RelaxedAlignmentByWalkedOrganisationalDomains) {
  {
    Eval9989 ev;  // d=example.com for From mail.example.com: the same org domain
    ev.dns.add("_dmarc.example.com", RrType::TXT, "v=DMARC1; p=reject");
    DmarcOutcome o = ev.from("joe@mail.example.com", auth_with({dkim(AuthResult::Pass, "example.com")}));
    EXPECT_EQ(o.result, AuthResult::Pass) << o.reason;
  }
  {
    Eval9989 ev;  // psd=n makes mail.example.com its own organisation: example.com no longer aligns
    ev.dns.add("_dmarc.mail.example.com", RrType::TXT, "v=DMARC1; p=reject; psd=n");
    ev.dns.add("_dmarc.example.com", RrType::TXT, "v=DMARC1; p=none");
    DmarcOutcome o = ev.from("joe@mail.example.com", auth_with({dkim(AuthResult::Pass, "example.com")}));
    EXPECT_EQ(o.result, AuthResult::Fail) << o.reason;
    // ... while a signature of a sibling under it aligns.
    DmarcOutcome s = ev.from("joe@mail.example.com", auth_with({dkim(AuthResult::Pass, "eu.mail.example.com")}));
    EXPECT_EQ(s.result, AuthResult::Pass) << s.reason;
  }
  {
    Eval9989 ev;  // the signer's walk fails: not a failure, a temperror
    ev.dns.add("_dmarc.example.com", RrType::TXT, "v=DMARC1; p=reject");
    ev.dns.fail("_dmarc.signer.example.com", RrType::TXT, DnsStatus::ServFail);
    DmarcOutcome o = ev.from("joe@mail.example.com", auth_with({dkim(AuthResult::Pass, "signer.example.com")}));
    EXPECT_EQ(o.result, AuthResult::TempError) << o.reason;
  }
}

TEST(DmarcRecord, StrayTextAndNewTags) {
  // 4.8 / RFC 7489 6.3: a fragment without "=" is a syntax error, discarded; the rest stands.
  DmarcRecord r = parse_dmarc_record("v=DMARC1; p=reject; hello world; adkim=s");
  EXPECT_TRUE(r.usable());
  EXPECT_EQ(r.p, DmarcPolicy::Reject);
  EXPECT_EQ(r.adkim, DmarcAlign::Strict);
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_NE(r.warnings[0].find("hello world"), std::string::npos);
  // Text inside a value makes that value invalid: p= is not "reject hello".
  EXPECT_EQ(parse_dmarc_record("v=DMARC1; p=reject hello").status, DmarcRecordStatus::NoPolicy);
  EXPECT_TRUE(parse_dmarc_record("v=DMARC1; p=reject hello; rua=mailto:d@example.com").p_from_rua);
  // Without the ";" after v, v is not DMARC1: not a DMARC record at all.
  EXPECT_EQ(parse_dmarc_record("v=DMARC1 p=reject").status, DmarcRecordStatus::NotDmarc);
  // psd and t.
  r = parse_dmarc_record("v=DMARC1; p=none; psd=Y; t=y");
  EXPECT_EQ(r.psd, 'y');
  EXPECT_TRUE(r.test_mode);
  r = parse_dmarc_record("v=DMARC1; p=none; psd=maybe; t=1");
  EXPECT_EQ(r.psd, 'u');
  EXPECT_FALSE(r.test_mode);
  EXPECT_EQ(r.warnings.size(), 2u);
}

TEST(DmarcFilter, DiscoveryConfig) {
  std::vector<ConfigError> errs;
  YAML::Node walk = YAML::Load("discovery: rfc9989\n");
  FilterPtr f;
  {
    ConfigMap cfg(walk, "c.yaml", "dmarc", &errs);
    f = make_dmarc_filter(cfg);  // no public suffix list needed
  }
  EXPECT_TRUE(f);
  EXPECT_TRUE(errs.empty());
  YAML::Node bad = YAML::Load("discovery: dmarcbis\n");
  {
    ConfigMap cfg(bad, "c.yaml", "dmarc", &errs);
    f = make_dmarc_filter(cfg);
  }
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_NE(errs[0].str().find("c.yaml:1: dmarc.discovery"), std::string::npos) << errs[0].str();
}

}  // namespace
}  // namespace mxgate
