// base/: the text and address helpers, error printing, and the work pool.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <clocale>
#include <future>

#include "base/address.hpp"
#include "base/base64.hpp"
#include "base/config_error.hpp"
#include "base/text.hpp"
#include "base/work_pool.hpp"
#include "base/work_pool_await.hpp"

namespace mxgate {
namespace {

TEST(Text, AsciiOnlyWhateverTheLocale) {
  // Under a Latin-1 locale std::tolower would fold 0xDC to 0xFC; ours never does.
  if (std::setlocale(LC_CTYPE, "de_DE.ISO-8859-1") || std::setlocale(LC_CTYPE, "en_US.ISO-8859-1")) {
    EXPECT_EQ(lower("\xDC"), "\xDC");
    EXPECT_FALSE(iequals("\xDC", "\xFC"));
    std::setlocale(LC_CTYPE, "C");
  }
  EXPECT_EQ(lower("MiXeD-Case.EXAMPLE"), "mixed-case.example");
  EXPECT_EQ(upper("ehlo mx.example"), "EHLO MX.EXAMPLE");
  // 8-bit bytes pass through (UTF-8 domains, Latin-1 headers).
  EXPECT_EQ(lower("B\xc3\x9c" "CHER"), "b\xc3\x9c" "cher");
  EXPECT_TRUE(iequals("Content-Type", "content-TYPE"));
  EXPECT_FALSE(iequals("From", "From:"));
  EXPECT_FALSE(iequals("\xc3\x9c", "\xc3\xbc"));  // no case folding beyond ASCII
  EXPECT_TRUE(istarts_with("SIZE=1000", "size="));
  EXPECT_FALSE(istarts_with("SIZ", "size="));
  EXPECT_EQ(trim(" \t\r\n\v\fword word\r\n"), "word word");
  EXPECT_EQ(trim_wsp(" \tvalue\r\n"), "value\r\n");
  EXPECT_EQ(trim(""), "");
  EXPECT_EQ(trim("   "), "");
  EXPECT_EQ(hex_value('7'), 7);
  EXPECT_EQ(hex_value('b'), 11);
  EXPECT_EQ(hex_value('F'), 15);
  EXPECT_EQ(hex_value('g'), -1);
}

TEST(Base64, RoundTripAndLenientDecoding) {
  const std::string bytes("\x00\xff\x10" "abc", 6);
  for (std::size_t n = 0; n <= bytes.size(); ++n) {
    auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
    std::string enc = base64_encode(p, n);
    EXPECT_EQ(enc.size() % 4, 0u);
    EXPECT_EQ(base64_decode_lenient(enc), bytes.substr(0, n));
  }
  EXPECT_EQ(base64_encode(reinterpret_cast<const unsigned char*>("hi"), 2), "aGk=");
  // Line breaks, junk and misplaced padding are skipped; leftover bits dropped.
  EXPECT_EQ(base64_decode_lenient("aG\r\nk=*"), "hi");
  EXPECT_EQ(base64_decode_lenient("a=Gk"), "hi");
  EXPECT_EQ(base64_decode_lenient("a"), "");
  EXPECT_EQ(base64_value('='), -1);
  EXPECT_EQ(base64_value('/'), 63);
}

TEST(Address, Ipv4MappedIsIpv4) {
  EXPECT_EQ(parse_address("::ffff:192.0.2.1")->to_string(), "192.0.2.1");
  EXPECT_EQ(parse_address("192.0.2.1")->to_string(), "192.0.2.1");
  EXPECT_EQ(parse_address("2001:db8::1")->to_string(), "2001:db8::1");
  EXPECT_FALSE(parse_address("192.0.2.256"));
  EXPECT_FALSE(parse_address("mx.example"));
  EXPECT_TRUE(unmapped(boost::asio::ip::make_address("::ffff:10.0.0.1")).is_v4());
}

TEST(ConfigError, OnePrinter) {
  EXPECT_EQ((ConfigError{"m.yaml", 12, "smtp.max_recipients", "must be between 1 and 100000"}).str(),
            "m.yaml:12: smtp.max_recipients: must be between 1 and 100000");
  EXPECT_EQ((ConfigError{"rules/a.cf", 3, "", "rule X: bad"}).str(), "rules/a.cf:3: rule X: bad");
  EXPECT_EQ((ConfigError{"m.yaml", 0, "", "cannot read"}).str(), "m.yaml: cannot read");
  EXPECT_EQ(format_errors({{"a", 1, "k", "x"}, {"b", 2, "", "y"}}), "a:1: k: x\nb:2: y\n");
}

TEST(WorkPool, BoundedQueueAndQuiesce) {
  WorkPool pool(1, 1);
  std::promise<void> started, release;
  auto gate = release.get_future().share();
  ASSERT_TRUE(pool.try_submit([&started, gate] {
    started.set_value();
    gate.wait();
  }));
  started.get_future().wait();              // the one thread is busy
  ASSERT_TRUE(pool.try_submit([] {}));      // the one queue slot
  EXPECT_FALSE(pool.try_submit([] {}));     // full: the caller is told no
  release.set_value();
  pool.quiesce();
  EXPECT_TRUE(pool.try_submit([] {}));
  pool.quiesce();
}

TEST(WorkPool, OnPoolResumesTheCoroutineWithTheResult) {
  WorkPool pool(2, 8);
  boost::asio::io_context ioc;
  std::optional<int> got;
  std::thread::id ran_on;
  const std::function<int()> job = [&ran_on] {
    ran_on = std::this_thread::get_id();
    return 42;
  };
  boost::asio::co_spawn(ioc, [&]() -> Task<void> { got = co_await on_pool<int>(pool, job); },
                        [](std::exception_ptr e) {
                          if (e) std::rethrow_exception(e);
                        });
  ioc.run();
  EXPECT_EQ(got, 42);
  EXPECT_NE(ran_on, std::this_thread::get_id());
  // An exception in the job reaches the coroutine.
  const std::function<int()> bad = []() -> int { throw std::runtime_error("boom"); };
  bool caught = false;
  boost::asio::io_context ioc2;
  boost::asio::co_spawn(ioc2, [&]() -> Task<void> {
    try {
      co_await on_pool<int>(pool, bad);
    } catch (const std::runtime_error&) {
      caught = true;
    }
  }, [](std::exception_ptr) {});
  ioc2.run();
  EXPECT_TRUE(caught);
}

TEST(WorkPool, OneProcessPool) {
  auto p = process_work_pool(1, 4);
  EXPECT_EQ(current_work_pool(), p);
  EXPECT_EQ(process_work_pool(3, 9), p);  // sizes are fixed by the first call
  EXPECT_EQ(p->threads(), 1u);
  EXPECT_EQ(p->max_queued(), 4u);
}

}  // namespace
}  // namespace mxgate
