// The resolver against a real DNS server on 127.0.0.1 (tests/dns/fake_dns.py, on
// dnslib), never the system resolver.
#include "filters/dns/resolver.hpp"
#include "tests/dns/dns_server.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <filesystem>
#include <fstream>
#include <thread>

namespace mxgate {
namespace {
namespace asio = boost::asio;
using namespace std::chrono_literals;

// The test DNS server, started for the whole suite and stopped after it.
class DnsServer : public ::testing::Environment {
 public:
  static inline int port = 0;
  void SetUp() override {
    std::string dir = std::string(MXGATE_SOURCE_DIR) + "/tests/dns/";
    ASSERT_TRUE(server_.start(dir + "fake_dns.py", {dir + "test.zone", "{port}", "--tcp", "--udplen", "200"}))
        << "fake_dns.py did not start";
    port = server_.port();
  }
  void TearDown() override { server_.stop(); }

 private:
  testing::TestDnsServer server_;
};
const auto* const kEnv = ::testing::AddGlobalTestEnvironment(new DnsServer);

struct Fixture {
  std::shared_ptr<DnsConfig> cfg = std::make_shared<DnsConfig>();
  std::shared_ptr<DnsCache> cache = std::make_shared<DnsCache>(100);
  Fixture() {
    cfg->nameservers = {"127.0.0.1:" + std::to_string(DnsServer::port)};
    cfg->timeout = 500ms;
    cfg->attempts = 1;
  }
  DnsResult run(const std::string& name, RrType type) {
    asio::io_context ioc;
    DnsResult out;
    {
      Resolver r(ioc.get_executor(), cfg, cache);
      EXPECT_EQ(r.init_error(), "");
      asio::co_spawn(ioc, [&]() -> Task<void> { out = co_await r.query(name, type); }, asio::detached);
      ioc.run();
    }
    return out;
  }
};

TEST(Resolver, AnswersWithRecordsAndTtl) {
  Fixture f;
  auto a = f.run("example.test", RrType::A);
  EXPECT_EQ(a.status, DnsStatus::Answer) << a.error;
  EXPECT_EQ(a.records, std::vector<std::string>{"192.0.2.1"});
  EXPECT_EQ(a.ttl, 300u);
  auto aaaa = f.run("example.test", RrType::AAAA);
  EXPECT_EQ(aaaa.records, std::vector<std::string>{"2001:db8::1"});
  auto mx = f.run("example.test", RrType::MX);
  EXPECT_EQ(mx.records, std::vector<std::string>{"10 mx.example.test"});
  auto txt = f.run("example.test", RrType::TXT);
  // RFC 7208 3.3: the strings of one TXT record are joined with nothing between.
  EXPECT_EQ(txt.records, std::vector<std::string>{"v=spf1 ip4:192.0.2.0/24 -all"});
  EXPECT_EQ(txt.ttl, 120u);
}

TEST(Resolver, NxDomainNoDataAndNegativeTtl) {
  Fixture f;
  auto nx = f.run("nope.example.test", RrType::A);
  EXPECT_EQ(nx.status, DnsStatus::NxDomain);
  EXPECT_TRUE(nx.records.empty());
  EXPECT_EQ(nx.ttl, 60u);  // min(SOA TTL 300, SOA MINIMUM 60), RFC 2308 5
  auto nodata = f.run("mx.example.test", RrType::TXT);
  EXPECT_EQ(nodata.status, DnsStatus::NoData);
  EXPECT_EQ(nodata.ttl, 60u);
}

TEST(Resolver, ServfailIsTemporaryNotEmpty) {
  Fixture f;
  auto r = f.run("servfail.example.test", RrType::TXT);
  EXPECT_EQ(r.status, DnsStatus::ServFail);
  EXPECT_TRUE(r.temporary());
  EXPECT_EQ(f.cache->size(), 0u);  // failures are not cached
}

TEST(Resolver, TimeoutWhenNobodyAnswers) {
  // A UDP socket that is bound but never read: queries to it go unanswered.
  int s = socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  socklen_t l = sizeof a;
  getsockname(s, reinterpret_cast<sockaddr*>(&a), &l);
  Fixture f;
  f.cfg->nameservers = {"127.0.0.1:" + std::to_string(ntohs(a.sin_port))};
  f.cfg->timeout = 200ms;
  f.cfg->attempts = 2;
  auto start = std::chrono::steady_clock::now();
  auto r = f.run("example.test", RrType::A);
  auto took = std::chrono::steady_clock::now() - start;
  close(s);
  EXPECT_EQ(r.status, DnsStatus::Timeout) << dns_status_name(r.status) << " " << r.error;
  EXPECT_TRUE(r.temporary());
  EXPECT_GE(took, 300ms);
  EXPECT_LT(took, 5s);
}

TEST(Resolver, TruncatedAnswerIsRetriedOverTcp) {
  Fixture f;
  auto r = f.run("big.example.test", RrType::TXT);  // ~600 bytes; the server truncates UDP at 200
  ASSERT_EQ(r.status, DnsStatus::Answer) << r.error;
  ASSERT_EQ(r.records.size(), 1u);
  EXPECT_EQ(r.records[0].size(), 594u);  // the six strings of the zone's record, joined
  EXPECT_EQ(r.records[0].substr(0, 3), "aaa");
  EXPECT_EQ(r.records[0].substr(r.records[0].size() - 3), "fff");
}

TEST(Resolver, CacheServesRepeatsUntilTheTtl) {
  Fixture f;
  auto first = f.run("Example.Test.", RrType::A);
  EXPECT_FALSE(first.from_cache);
  auto second = f.run("example.test", RrType::A);
  EXPECT_TRUE(second.from_cache);
  EXPECT_EQ(second.records, first.records);
  EXPECT_LE(second.ttl, 300u);
  auto nx1 = f.run("nope.example.test", RrType::A);
  auto nx2 = f.run("nope.example.test", RrType::A);
  EXPECT_TRUE(nx2.from_cache);
  EXPECT_EQ(nx2.status, DnsStatus::NxDomain);
}

// Two askers for the same name and type while the first query is on the wire: one
// query reaches the server, both get the answer (a DKIM key prefetched at the end of
// the header section and asked again at end of data costs one round trip).
TEST(Resolver, ConcurrentAskersShareOneQuery) {
  char dir[] = "/tmp/mxgate-dns-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string log = std::string(dir) + "/queries";
  const std::string src = std::string(MXGATE_SOURCE_DIR) + "/tests/dns/";
  testing::TestDnsServer server;
  ASSERT_TRUE(server.start(src + "fake_dns.py", {src + "test.zone", "{port}", "--tcp", "--log-queries", log}));
  auto cfg = std::make_shared<DnsConfig>();
  cfg->nameservers = {server.address()};
  cfg->timeout = 1000ms;
  cfg->attempts = 1;
  asio::io_context ioc;
  std::vector<DnsResult> got(3);
  {
    Resolver r(ioc.get_executor(), cfg, std::make_shared<DnsCache>(0));  // no cache: only coalescing
    for (auto& g : got)
      asio::co_spawn(ioc, [&r, &g]() -> Task<void> { g = co_await r.query("example.test", RrType::TXT); }, asio::detached);
    ioc.run();
  }
  for (const auto& g : got) {
    EXPECT_EQ(g.status, DnsStatus::Answer) << g.error;
    EXPECT_EQ(g.records, std::vector<std::string>{"v=spf1 ip4:192.0.2.0/24 -all"});
  }
  server.stop();
  std::ifstream in(log);
  std::string line;
  int txt = 0;
  while (std::getline(in, line)) txt += line.find("example.test") != std::string::npos;
  EXPECT_EQ(txt, 1);
  std::filesystem::remove_all(dir);
}

TEST(DnsCache, BoundedAndExpiring) {
  DnsCache c(2);
  DnsResult r;
  r.status = DnsStatus::Answer;
  c.put("a/A", r, 10s);
  c.put("b/A", r, 10s);
  c.put("c/A", r, 10s);  // evicts the oldest
  DnsResult out;
  EXPECT_FALSE(c.get("a/A", out));
  EXPECT_TRUE(c.get("c/A", out));
  EXPECT_EQ(c.size(), 2u);
  c.put("d/A", r, 0s);  // TTL 0: not kept
  EXPECT_FALSE(c.get("d/A", out));
}

TEST(DnsMessage, MalformedAndLoopingNamesAreRejected) {
  // Header: 1 question, 1 answer; the question name points at itself.
  const unsigned char loop[] = {0, 1, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0, 0xC0, 12, 0, 1, 0, 1};
  auto r = parse_dns_answer(loop, sizeof loop, RrType::A);
  EXPECT_FALSE(r.ok);
  const unsigned char shortmsg[] = {0, 1, 0x81};
  EXPECT_FALSE(parse_dns_answer(shortmsg, sizeof shortmsg, RrType::A).ok);
}

}  // namespace
}  // namespace mxgate
