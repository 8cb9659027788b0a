// SpfFilter: one row per verdict the filter can return, on a FakeLookup; plus the
// checks the RFC 7208 suite does not make (limits across includes, concurrency of MX
// lookups, IPv4-mapped clients, Received-SPF syntax).
#include "filters/spf/spf_filter.hpp"
#include "filters/spf/spf_internal.hpp"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "filters/config_node.hpp"
#include "tests/run_task.hpp"
#include "filters/dns/fake_lookup.hpp"
#include "filters/filter_state.hpp"

namespace mxgate {
namespace {

template <typename T>
T run(Task<T> task) {
  return testing::run_task(std::move(task));
}

std::shared_ptr<FakeLookup> zone() {
  auto z = std::make_shared<FakeLookup>();
  z->add("pass.test", RrType::TXT, "v=spf1 ip4:192.0.2.0/24 -all");
  z->add("fail.test", RrType::TXT, "v=spf1 -all exp=exp.fail.test");
  z->add("exp.fail.test", RrType::TXT, "%{i} is not one of %{d}'s servers");
  z->add("soft.test", RrType::TXT, "v=spf1 ~all");
  z->add("neutral.test", RrType::TXT, "v=spf1 ?all");
  z->add("none.test", RrType::TXT, "some other text");
  z->fail("temp.test", RrType::TXT, DnsStatus::Timeout);
  z->add("perm.test", RrType::TXT, "v=spf1 bogus:x -all");
  z->add("helo.test", RrType::TXT, "v=spf1 a -all");
  z->add("helo.test", RrType::A, "192.0.2.9");
  return z;
}

struct Row {
  const char* sender;
  const char* ip;
  AuthResult result;
  const char* symbol;
};

SpfFilter make_filter(const char* yaml = "{}", std::vector<ConfigError>* errs_out = nullptr) {
  std::vector<ConfigError> errs;
  ConfigMap m(YAML::Load(yaml), "c.yaml", "spf", &errs);
  auto f = std::dynamic_pointer_cast<SpfFilter>(make_spf_filter(m));
  m.finish();
  if (errs_out) *errs_out = errs;
  else EXPECT_TRUE(errs.empty()) << errs[0].str();
  return *f;
}

Envelope envelope(const std::string& sender, const std::string& ip, std::shared_ptr<DnsLookup> dns) {
  Envelope env;
  env.client.ip = ip;
  env.client.helo = "helo.test";
  env.mail_from = Mailbox{sender, {}};
  env.state = std::make_shared<FilterState>();
  env.state->dns = std::move(dns);
  env.state->hostname = "mx.example";
  return env;
}

TEST(SpfFilter, EachResultIsOneSymbolAndReceivedSpf) {
  const Row rows[] = {
      {"a@pass.test", "192.0.2.7", AuthResult::Pass, "SPF_PASS"},
      {"a@pass.test", "198.51.100.1", AuthResult::Fail, "SPF_FAIL"},
      {"a@fail.test", "192.0.2.7", AuthResult::Fail, "SPF_FAIL"},
      {"a@soft.test", "192.0.2.7", AuthResult::SoftFail, "SPF_SOFTFAIL"},
      {"a@neutral.test", "192.0.2.7", AuthResult::Neutral, "SPF_NEUTRAL"},
      {"a@none.test", "192.0.2.7", AuthResult::None, "SPF_NONE"},
      {"a@nxdomain.test", "192.0.2.7", AuthResult::None, "SPF_NONE"},
      {"a@temp.test", "192.0.2.7", AuthResult::TempError, "SPF_TEMPERROR"},
      {"a@perm.test", "192.0.2.7", AuthResult::PermError, "SPF_PERMERROR"},
      {"", "192.0.2.9", AuthResult::Pass, "SPF_PASS"},  // null sender: HELO identity
      {"a@pass.test", "::ffff:192.0.2.7", AuthResult::Pass, "SPF_PASS"},  // IPv4-mapped
  };
  auto f = make_filter();
  for (const auto& r : rows) {
    auto env = envelope(r.sender, r.ip, zone());
    Verdict v = run(f.on_mail_from(env));
    SCOPED_TRACE(std::string(r.sender) + " from " + r.ip);
    EXPECT_EQ(v.action, Action::Continue);
    ASSERT_EQ(v.symbols.size(), 1u);
    EXPECT_EQ(v.symbols[0].name, r.symbol);
    ASSERT_TRUE(env.state->auth.spf);
    EXPECT_EQ(env.state->auth.spf->result, r.result);
    EXPECT_EQ(env.state->auth.spf->identity, std::string(r.sender).empty() ? "helo" : "mailfrom");
    ASSERT_EQ(v.add_headers.size(), 1u);
    EXPECT_EQ(v.add_headers[0].name, "Received-SPF");
    EXPECT_EQ(v.add_headers[0].value.rfind(std::string(" ") + auth_result_name(r.result) + " (mx.example: ", 0), 0u)
        << v.add_headers[0].value;
    EXPECT_TRUE(v.add_headers[0].valid_to_add());
  }
}

TEST(SpfFilter, ReceivedSpfCarriesTheRfc7208Keys) {
  auto f = make_filter();
  auto env = envelope("a@pass.test", "192.0.2.7", zone());
  Verdict v = run(f.on_mail_from(env));
  EXPECT_EQ(v.add_headers.at(0).value,
            " pass (mx.example: domain of a@pass.test designates 192.0.2.7 as permitted sender)"
            " client-ip=192.0.2.7; envelope-from=a@pass.test; helo=helo.test; receiver=mx.example;"
            " identity=mailfrom; mechanism=\"ip4:192.0.2.0/24\";");
}

TEST(SpfFilter, RejectOnFailUsesTheDomainsExplanation) {
  auto f = make_filter("{reject_on_fail: true}");
  auto env = envelope("a@fail.test", "192.0.2.7", zone());
  Verdict v = run(f.on_mail_from(env));
  EXPECT_EQ(v.action, Action::Reject);
  ASSERT_TRUE(v.reply);
  EXPECT_EQ(v.reply->str(), "550 5.7.23 SPF: 192.0.2.7 is not one of fail.test's servers");
  // A softfail is never refused.
  auto env2 = envelope("a@soft.test", "192.0.2.7", zone());
  EXPECT_EQ(run(f.on_mail_from(env2)).action, Action::Continue);
}

TEST(SpfFilter, TempfailOnTemperrorOnlyWhenAsked) {
  auto lenient = make_filter();
  auto env = envelope("a@temp.test", "192.0.2.7", zone());
  EXPECT_EQ(run(lenient.on_mail_from(env)).action, Action::Continue);
  auto strict = make_filter("{tempfail_on_temperror: true}");
  Verdict v = run(strict.on_mail_from(env));
  EXPECT_EQ(v.action, Action::Tempfail);
  EXPECT_EQ(v.reply->str(), "451 4.7.24 SPF check failed temporarily, try again later");
}

// Answers after a delay, so that something can happen while a hook waits.
class SlowLookup : public DnsLookup {
 public:
  explicit SlowLookup(std::shared_ptr<FakeLookup> z) : z_(std::move(z)) {}
  Task<DnsResult> query(const std::string& name, RrType type) override {
    boost::asio::steady_timer t(co_await boost::asio::this_coro::executor, std::chrono::milliseconds(20));
    co_await t.async_wait(boost::asio::use_awaitable);
    co_return co_await z_->query(name, type);
  }

 private:
  std::shared_ptr<FakeLookup> z_;
};

// A hook that finishes after its transaction ended (it overran smtp.filter_timeout)
// must not report into the next transaction.
TEST(SpfFilter, LateOutcomeDoesNotLandInTheNextTransaction) {
  auto f = make_filter();
  auto env = envelope("a@pass.test", "192.0.2.7", std::make_shared<SlowLookup>(zone()));
  boost::asio::io_context io;
  std::optional<Verdict> v;
  boost::asio::co_spawn(io, [&]() -> Task<void> { v = co_await f.on_mail_from(env); }, boost::asio::detached);
  boost::asio::steady_timer reset(io, std::chrono::milliseconds(5));
  reset.async_wait([&](const boost::system::error_code&) { env.state->auth.reset_transaction(); });
  io.run();
  ASSERT_TRUE(v);
  EXPECT_EQ(v->symbols.at(0).name, "SPF_PASS");  // the verdict itself is still right
  EXPECT_FALSE(env.state->auth.spf);             // but the new transaction has no SPF result
}

TEST(SpfFilter, NoResolverIsATemperrorNotANone) {
  auto f = make_filter();
  auto env = envelope("a@pass.test", "192.0.2.7", nullptr);
  Verdict v = run(f.on_mail_from(env));
  EXPECT_EQ(v.symbols.at(0).name, "SPF_TEMPERROR");
}

TEST(SpfFilter, ConfigErrorsNameTheKey) {
  std::vector<ConfigError> errs;
  make_filter("{fail_reply: \"451 4.7.1 later\", temperror_reply: \"550 5.7.1 no\", scores: {SPF_NOPE: 1}}", &errs);
  ASSERT_EQ(errs.size(), 3u);
  EXPECT_NE(errs[0].str().find("spf.fail_reply: must be a 5xx reply"), std::string::npos) << errs[0].str();
  EXPECT_NE(errs[1].str().find("spf.temperror_reply: must be a 4xx reply"), std::string::npos) << errs[1].str();
  EXPECT_NE(errs[2].str().find("spf.scores.SPF_NOPE: unknown symbol"), std::string::npos) << errs[2].str();
}

// The 10-term limit counts across includes and redirects (RFC 7208 4.6.4).
TEST(Spf, DnsTermLimitSpansIncludes) {
  auto z = std::make_shared<FakeLookup>();
  z->add("chain.test", RrType::TXT, "v=spf1 include:i1.chain.test -all");
  for (int i = 1; i <= 11; ++i)
    z->add("i" + std::to_string(i) + ".chain.test", RrType::TXT,
           "v=spf1 a:nothing.chain.test include:i" + std::to_string(i + 1) + ".chain.test");
  z->exists("nothing.chain.test");
  SpfRequest req{"192.0.2.1", "a@chain.test", "h.test", "mx"};
  SpfLimits lim;
  lim.max_void_lookups = 100;
  auto o = run(check_spf(*z, req, lim));
  EXPECT_EQ(o.result, AuthResult::PermError);
  EXPECT_NE(o.reason.find("more than 10 DNS-querying terms"), std::string::npos) << o.reason;
}

TEST(Spf, MxHostsAreLookedUpConcurrentlyAndAllCount) {
  auto z = std::make_shared<FakeLookup>();
  z->add("mx.test", RrType::TXT, "v=spf1 mx -all");
  for (int i = 0; i < 5; ++i) {
    z->add("mx.test", RrType::MX, std::to_string(i) + " m" + std::to_string(i) + ".mx.test");
    z->add("m" + std::to_string(i) + ".mx.test", RrType::A, "192.0.2." + std::to_string(10 + i));
  }
  SpfRequest req{"192.0.2.14", "a@mx.test", "h.test", "mx"};
  EXPECT_EQ(run(check_spf(*z, req)).result, AuthResult::Pass);
  // One TXT, one MX, five A: every host was asked, none twice.
  EXPECT_EQ(z->queries(), 7u);
  // More than 10 MX names is a permerror, not a silent truncation.
  for (int i = 5; i < 11; ++i) z->add("mx.test", RrType::MX, std::to_string(i) + " m" + std::to_string(i) + ".mx.test");
  EXPECT_EQ(run(check_spf(*z, req)).result, AuthResult::PermError);
}

TEST(Spf, HeloCheckUsesPostmasterAtHelo) {
  auto z = zone();
  SpfRequest req{"192.0.2.9", "someone@elsewhere.test", "helo.test", "mx"};
  auto o = run(check_spf_helo(*z, req));
  EXPECT_EQ(o.result, AuthResult::Pass);
  EXPECT_EQ(o.identity, "helo");
  EXPECT_EQ(o.sender, "postmaster@helo.test");
}

TEST(Spf, AddressLiteralHeloIsNoneWithoutALookup) {
  for (const char* helo : {"[192.0.2.9]", "[IPv6:2001:db8::1]", "192.0.2.9"}) {
    auto z = zone();
    SpfRequest req{"192.0.2.9", "", helo, "mx"};
    auto o = run(check_spf(*z, req));
    EXPECT_EQ(o.result, AuthResult::None) << helo;
    EXPECT_EQ(z->queries(), 0u) << helo;
  }
}

// A chain of slow servers cannot keep the evaluation past spf.timeout: what is left
// is a temperror, without further queries.
TEST(Spf, OutOfTimeIsATemperror) {
  auto z = zone();
  SpfRequest req{"192.0.2.7", "a@pass.test", "h.test", "mx"};
  SpfLimits lim;
  lim.max_time = std::chrono::milliseconds(0);
  auto o = run(check_spf(*z, req, lim));
  EXPECT_EQ(o.result, AuthResult::TempError);
  EXPECT_NE(o.reason.find("out of time"), std::string::npos) << o.reason;
  EXPECT_EQ(z->queries(), 0u);
}

TEST(Spf, NonIpClientIsAPermerror) {
  auto z = zone();
  SpfRequest req{"not-an-ip", "a@pass.test", "h.test", "mx"};
  EXPECT_EQ(run(check_spf(*z, req)).result, AuthResult::PermError);
  EXPECT_EQ(z->queries(), 0u);
}

// Found by fuzzing (tests/fuzz/corpus/auth_records/spf-macro-nul): a NUL byte as a
// macro letter ("%{\0}", which a TXT record can carry) passed the syntax check and
// expand() dereferenced a null value. Now a syntax error, whatever the letter.
TEST(SpfMacro, NulLetterIsASyntaxErrorNotACrash) {
  using namespace spf_detail;
  const std::string nul("%{\0}", 4);
  EXPECT_FALSE(macro_syntax(nul, false));
  EXPECT_FALSE(macro_syntax(nul, true));
  MacroValues m{"u@example.org", "u", "example.org", "example.org", "192.0.2.1", "unknown",
                "helo.example", "192.0.2.1", "mx.example", "1", "in-addr"};
  std::string out;
  EXPECT_FALSE(expand("v=spf1 a:" + nul + ".example -all", m, true, out));
  EXPECT_TRUE(expand("%{d2r}", m, false, out));
  EXPECT_EQ(out, "org.example");
  EXPECT_FALSE(macro_syntax("%{c}", false));  // c, r, t: explanations only
  EXPECT_TRUE(macro_syntax("%{c}", true));
}

// The same strchr trap in the header writers: a NUL (an xtext-decoded XCLIENT HELO
// can carry one) counted as a token character and went into the header bare.
TEST(SpfMacro, NulNeverReachesReceivedSpf) {
  SpfOutcome o;
  o.result = AuthResult::Pass;
  o.identity = "helo";
  o.helo = std::string("a\0b.example", 11);
  o.domain = o.helo;
  o.client_ip = "192.0.2.1";
  const std::string v = received_spf_value(o, "mx.example");
  EXPECT_EQ(v.find('\0'), std::string::npos) << v;
  EXPECT_NE(v.find("\"a?b.example\""), std::string::npos) << v;
}

}  // namespace
}  // namespace mxgate
