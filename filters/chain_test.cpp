#include "filters/chain.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace mxgate {
namespace {
namespace asio = boost::asio;
using namespace std::chrono_literals;

// A scripted filter: returns the given verdict at RCPT; records that it ran.
class Scripted final : public Filter {
 public:
  Scripted(const char* name, Verdict v, std::chrono::milliseconds delay = 0ms, bool throws = false)
      : name_(name), v_(std::move(v)), delay_(delay), throws_(throws) {}
  const char* name() const override { return name_; }
  Task<Verdict> on_rcpt_to(const Envelope&, const Mailbox& rcpt) override {
    ++calls;
    last_rcpt = rcpt.address;
    if (delay_ > 0ms) {
      asio::steady_timer t(co_await asio::this_coro::executor);
      t.expires_after(delay_);
      co_await t.async_wait(asio::use_awaitable);
    }
    if (throws_) throw std::runtime_error("boom");
    co_return v_;
  }
  int calls = 0;
  std::string last_rcpt;

 private:
  const char* name_;
  Verdict v_;
  std::chrono::milliseconds delay_;
  bool throws_;
};

ChainResult run_rcpt(const FilterChain& chain) {
  asio::io_context ioc;
  ChainResult out;
  auto env = std::make_shared<const Envelope>();
  auto rcpt = std::make_shared<const Mailbox>(Mailbox{"r@example.org", {}});
  asio::co_spawn(ioc, [&]() -> Task<void> { out = co_await chain.run(Stage::RcptTo, env, rcpt); },
                 asio::detached);
  ioc.run();
  return out;
}

Verdict with_symbol(Verdict v, const char* name, double score) {
  v.symbols.push_back({name, score, ""});
  return v;
}

TEST(FilterChain, EmptyChainContinues) {
  FilterChain chain;
  auto r = run_rcpt(chain);
  EXPECT_EQ(r.action, Action::Continue);
  EXPECT_TRUE(r.symbols.empty());
}

TEST(FilterChain, RunsInOrderKeepsSymbolsAndFirstDecisionWins) {
  auto a = std::make_shared<Scripted>("a", with_symbol(Verdict::next(), "A_SEEN", 1.0));
  SmtpReply no(550, "5.7.1", "no");
  auto b = std::make_shared<Scripted>("b", with_symbol(Verdict::reject(no), "B_REJECT", 5.0));
  auto c = std::make_shared<Scripted>("c", with_symbol(Verdict::next(), "C_SEEN", 1.0));
  FilterChain chain({a, b, c}, 1s);
  auto r = run_rcpt(chain);
  EXPECT_EQ(r.action, Action::Reject);
  ASSERT_TRUE(r.reply);
  EXPECT_EQ(r.reply->wire(), "550 5.7.1 no\r\n");
  EXPECT_EQ(r.decided_by, "b");
  ASSERT_EQ(r.symbols.size(), 2u);
  EXPECT_EQ(r.symbols[0].name, "A_SEEN");
  EXPECT_EQ(r.symbols[1].name, "B_REJECT");
  EXPECT_EQ(a->calls, 1);
  EXPECT_EQ(a->last_rcpt, "r@example.org");
  EXPECT_EQ(c->calls, 0);  // the stage ended at b
}

TEST(FilterChain, AcceptEndsTheStageWithYes) {
  auto allow = std::make_shared<Scripted>("allow", Verdict::accept());
  SmtpReply no(550, "5.7.1", "no");
  auto deny = std::make_shared<Scripted>("deny", Verdict::reject(no));
  FilterChain chain({allow, deny}, 1s);
  auto r = run_rcpt(chain);
  EXPECT_EQ(r.action, Action::Accept);
  EXPECT_EQ(deny->calls, 0);
}

TEST(FilterChain, SlowFilterBecomesTempfail) {
  auto slow = std::make_shared<Scripted>("slow", Verdict::next(), 2s);
  auto after = std::make_shared<Scripted>("after", Verdict::next());
  FilterChain chain({slow, after}, 100ms);
  auto start = std::chrono::steady_clock::now();
  auto r = run_rcpt(chain);
  EXPECT_EQ(r.action, Action::Tempfail);
  ASSERT_TRUE(r.reply);
  EXPECT_EQ(r.reply->wire(), "451 4.3.0 Temporary filter failure, try again later\r\n");
  EXPECT_EQ(r.timed_out, std::vector<std::string>{"slow"});
  EXPECT_TRUE(r.failed.empty());
  EXPECT_EQ(after->calls, 0);
  // ioc.run() also waits for the abandoned hook to finish; it must not crash.
  EXPECT_GE(std::chrono::steady_clock::now() - start, 100ms);
}

TEST(FilterChain, OverdueHooksAreCappedAndCountedDown) {
  auto slow = std::make_shared<Scripted>("slow", Verdict::next(), 2s);
  FilterChain chain({slow}, 5ms);
  asio::io_context ioc;
  std::vector<ChainResult> results;
  std::size_t peak = 0;
  auto env = std::make_shared<const Envelope>();
  auto rcpt = std::make_shared<const Mailbox>(Mailbox{"r@example.org", {}});
  asio::co_spawn(ioc, [&]() -> Task<void> {
    for (std::size_t i = 0; i < FilterChain::kMaxOverdueHooks + 5; ++i) {
      results.push_back(co_await chain.run(Stage::RcptTo, env, rcpt));
      peak = std::max(peak, chain.overdue());
    }
  }, asio::detached);
  ioc.run();  // also lets every overdue hook finish
  EXPECT_EQ(peak, FilterChain::kMaxOverdueHooks);
  EXPECT_EQ(slow->calls, static_cast<int>(FilterChain::kMaxOverdueHooks));  // the rest never started
  for (const auto& r : results) EXPECT_EQ(r.action, Action::Tempfail);
  EXPECT_EQ(chain.overdue(), 0u);
}

TEST(FilterChain, ThrowingFilterBecomesTempfail) {
  auto bad = std::make_shared<Scripted>("bad", Verdict::next(), 0ms, true);
  FilterChain chain({bad}, 1s);
  auto r = run_rcpt(chain);
  EXPECT_EQ(r.action, Action::Tempfail);
  EXPECT_EQ(r.decided_by, "bad");
  // Counted apart from a timeout: a throw is a bug, a timeout is load.
  EXPECT_EQ(r.failed, std::vector<std::string>{"bad"});
  EXPECT_TRUE(r.timed_out.empty());
}

// Something that is not a std::exception is caught as well (it must not escape the
// chain and end the session).
struct ThrowsInt final : Filter {
  const char* name() const override { return "ints"; }
  Task<Verdict> on_rcpt_to(const Envelope&, const Mailbox&) override {
    throw 42;
    co_return Verdict::next();
  }
};

TEST(FilterChain, ANonStandardThrowIsCaughtToo) {
  FilterChain chain({std::make_shared<ThrowsInt>()}, 1s);
  auto r = run_rcpt(chain);
  EXPECT_EQ(r.action, Action::Tempfail);
  EXPECT_EQ(r.failed, std::vector<std::string>{"ints"});
}

TEST(Verdict, FactoriesCheckReplyClass) {
  EXPECT_THROW(Verdict::reject(SmtpReply(451, "4.7.1", "x")), std::invalid_argument);
  EXPECT_THROW(Verdict::tempfail(SmtpReply(550, "5.7.1", "x")), std::invalid_argument);
  EXPECT_THROW(Verdict::reject(SmtpReply(550, "", "x")), std::invalid_argument);
  EXPECT_EQ(Verdict::tempfail(SmtpReply(451, "4.7.1", "x")).action, Action::Tempfail);
  EXPECT_EQ(Verdict::quarantine("why").action, Action::Quarantine);
}

}  // namespace
}  // namespace mxgate
