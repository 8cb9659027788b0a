// Forward-confirmed reverse DNS for the client name, on a FakeLookup.
#include "filters/dns/reverse.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include "filters/dns/fake_lookup.hpp"
#include "filters/dns/query_all.hpp"

namespace mxgate {
namespace {

ClientName run(FakeLookup& dns, const std::string& ip) {
  boost::asio::io_context io;
  ClientName out;
  boost::asio::co_spawn(io, [&]() -> Task<void> { out = co_await lookup_client_name(dns, ip); }, boost::asio::detached);
  io.run();
  return out;
}

// query_all: every question at once, answers in question order, one error policy.
struct ThrowingLookup final : DnsLookup {
  Task<DnsResult> query(const std::string& name, RrType) override {
    if (name == "boom.example") throw std::runtime_error("resolver exploded");
    if (name == "int.example") throw 7;
    DnsResult r;
    r.status = DnsStatus::Answer;
    r.records = {name};
    co_return r;
  }
};

std::vector<DnsResult> ask_all(DnsLookup& dns, std::vector<DnsQuestion> qs) {
  boost::asio::io_context io;
  std::vector<DnsResult> out;
  boost::asio::co_spawn(io, [&]() -> Task<void> { out = co_await query_all(dns, qs); }, boost::asio::detached);
  io.run();
  return out;
}

TEST(QueryAll, AnswersInOrderAndErrorsAreTemporary) {
  FakeLookup fake;
  fake.add("a.example", RrType::A, "192.0.2.1");
  fake.fail("slow.example", RrType::A, DnsStatus::Timeout);
  auto r = ask_all(fake, {{"a.example", RrType::A}, {"none.example", RrType::A}, {"slow.example", RrType::A},
                          {"a.example", RrType::MX}});
  ASSERT_EQ(r.size(), 4u);
  EXPECT_EQ(r[0].records, std::vector<std::string>{"192.0.2.1"});
  EXPECT_EQ(r[1].status, DnsStatus::NxDomain);
  EXPECT_TRUE(r[2].temporary());
  EXPECT_EQ(r[3].status, DnsStatus::NoData);
  EXPECT_EQ(fake.queries(), 4u);
  EXPECT_TRUE(ask_all(fake, {}).empty());

  ThrowingLookup thrower;
  auto t = ask_all(thrower, {{"ok.example", RrType::TXT}, {"boom.example", RrType::TXT}, {"int.example", RrType::TXT}});
  ASSERT_EQ(t.size(), 3u);
  EXPECT_EQ(t[0].records, std::vector<std::string>{"ok.example"});
  EXPECT_EQ(t[1].status, DnsStatus::Error);
  EXPECT_TRUE(t[1].temporary());  // never read as "no record"
  EXPECT_EQ(t[1].error, "resolver exploded");
  EXPECT_EQ(t[2].status, DnsStatus::Error);
  EXPECT_EQ(t[2].error, "lookup failed");
}

TEST(ReverseDns, LookupNames) {
  EXPECT_EQ(reverse_lookup_name("192.0.2.7"), "7.2.0.192.in-addr.arpa");
  EXPECT_EQ(reverse_lookup_name("::ffff:192.0.2.7"), "7.2.0.192.in-addr.arpa");
  EXPECT_EQ(reverse_lookup_name("2001:db8::1"),
            "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa");
  EXPECT_EQ(reverse_lookup_name("mail.example.org"), "");
}

TEST(ReverseDns, FirstConfirmedNameInPtrOrder) {
  FakeLookup z;
  z.add("7.2.0.192.in-addr.arpa", RrType::PTR, "liar.example.org");
  z.add("7.2.0.192.in-addr.arpa", RrType::PTR, "mail.example.org");
  z.add("liar.example.org", RrType::A, "198.51.100.1");
  z.add("mail.example.org", RrType::A, "192.0.2.7");
  auto n = run(z, "192.0.2.7");
  EXPECT_EQ(n.verified, "mail.example.org");
  EXPECT_EQ(n.reverse, "liar.example.org");
  EXPECT_FALSE(n.temporary);
}

TEST(ReverseDns, Ipv6IsConfirmedWithAaaa) {
  FakeLookup z;
  z.add(reverse_lookup_name("2001:db8::25"), RrType::PTR, "mx6.example.org");
  z.add("mx6.example.org", RrType::AAAA, "2001:db8:0:0::25");
  EXPECT_EQ(run(z, "2001:db8::25").verified, "mx6.example.org");
}

TEST(ReverseDns, UnknownUnlessConfirmed) {
  FakeLookup z;
  // No PTR at all.
  EXPECT_EQ(run(z, "192.0.2.1").verified, "");
  // A PTR that does not resolve back, and a malformed one (never looked up).
  z.add("2.2.0.192.in-addr.arpa", RrType::PTR, "nowhere.example.org");
  z.add("3.2.0.192.in-addr.arpa", RrType::PTR, "bad name;rm -rf.example.org");
  EXPECT_EQ(run(z, "192.0.2.2").verified, "");
  EXPECT_EQ(run(z, "192.0.2.3").verified, "");
  for (const auto& [name, type] : z.log()) EXPECT_EQ(name.find("bad name"), std::string::npos);
  // A DNS failure is unknown too, but says it was temporary.
  z.fail("4.2.0.192.in-addr.arpa", RrType::PTR, DnsStatus::Timeout);
  auto n = run(z, "192.0.2.4");
  EXPECT_EQ(n.verified, "");
  EXPECT_TRUE(n.temporary);
}

}  // namespace
}  // namespace mxgate
