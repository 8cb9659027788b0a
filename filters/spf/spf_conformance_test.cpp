// The OpenSPF RFC 7208 test suite (../shared/testdata/openspf-tests/rfc7208-tests.yml):
// every case, its scenario's zonedata served through the DnsLookup seam the way the
// suite's reference driver (pyspf's testspf.py) serves it. Prints "N passed, M failed"
// and fails on any case not listed, with its reason, in kKnownMisses (which is also
// docs/conformance.md).
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <cctype>
#include <filesystem>
#include <map>
#include <functional>
#include <set>

#include "filters/dns/resolver.hpp"
#include "filters/spf/spf.hpp"
#include "tests/dns/dns_server.hpp"

#ifndef MXGATE_TESTDATA
#define MXGATE_TESTDATA "../shared/testdata"
#endif

namespace mxgate {
namespace {

// Cases we do not pass, and why. Keep in step with docs/conformance.md.
const std::map<std::string, std::string> kKnownMisses = {};

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// One scenario's zonedata, answered as testspf.py answers it: for each name an
// ordered list of (type, value) entries and bare TIMEOUTs; a query times out at a
// TIMEOUT reached before any entry of its type; SPF entries are copied to TXT unless
// the name has TXT entries of its own; "NONE" values are dropped; names absent from
// the zone do not exist; a CNAME is followed one level.
class SuiteZone : public DnsLookup {
 public:
  struct Entry {
    std::string type;   // "" for a bare TIMEOUT
    std::string value;  // "TIMEOUT" for a timed-out type
  };
  std::map<std::string, std::vector<Entry>> names;

  Task<DnsResult> query(const std::string& qname, RrType type) override {
    DnsResult r;
    std::string name = lower(qname);
    if (!name.empty() && name.back() == '.') name.pop_back();
    for (std::size_t start = 0; start <= name.size();) {
      auto dot = name.find('.', start);
      if (dot == std::string::npos) dot = name.size();
      if (dot - start > 63) {  // as the reference driver (pydns) does
        r.status = DnsStatus::Error;
        co_return r;
      }
      start = dot + 1;
    }
    auto it = names.find(name);
    if (it == names.end()) {
      r.status = name.rfind("error.", 0) == 0 ? DnsStatus::Timeout : DnsStatus::NxDomain;
      co_return r;
    }
    const std::string want = rr_type_name(type);
    bool seen = false;
    for (const auto& e : it->second) {
      if (e.type.empty()) {
        if (!seen) {
          r.status = DnsStatus::Timeout;
          co_return r;
        }
        break;
      }
      if (e.type == want) seen = true;
      if (e.value == "TIMEOUT") {
        if (e.type == want) {
          r.status = DnsStatus::Timeout;
          co_return r;
        }
        continue;
      }
      if (e.type == want) r.records.push_back(e.value);
      if (e.type == "CNAME" && type != RrType::CNAME && !following_) {
        following_ = true;
        DnsResult t = co_await query(e.value, type);
        following_ = false;
        if (t.status == DnsStatus::Timeout) co_return t;
        for (auto& rec : t.records) r.records.push_back(rec);
      }
    }
    r.status = r.records.empty() ? DnsStatus::NoData : DnsStatus::Answer;
    co_return r;
  }

 private:
  bool following_ = false;
};

std::string joined(const YAML::Node& v) {
  if (v.IsSequence()) {
    std::string s;
    for (const auto& part : v) s += part.as<std::string>();
    return s;
  }
  return v.as<std::string>();
}

SuiteZone load_zone(const YAML::Node& zonedata) {
  SuiteZone z;
  for (const auto& d : zonedata) {
    const std::string name = lower(d.first.as<std::string>());
    auto& list = z.names[name];
    std::vector<SuiteZone::Entry> generated;
    bool own_txt = false;
    for (const auto& item : d.second) {
      if (item.IsScalar()) {  // TIMEOUT
        list.push_back({"", item.Scalar()});
        continue;
      }
      for (const auto& kv : item) {
        std::string type = kv.first.as<std::string>();
        std::string value = joined(kv.second);
        if (type == "TXT") own_txt = true;
        if (type == "SPF" && value != "NONE") generated.push_back({"TXT", value});
        if (value == "NONE") continue;
        if (type == "SPF") continue;  // type 99 is not queried (RFC 7208 3.1); only its TXT copy
        if (type == "MX" && kv.second.IsSequence()) value = kv.second[0].as<std::string>() + " " + kv.second[1].as<std::string>();
        list.push_back({type, value});
      }
    }
    if (!own_txt)
      for (auto& g : generated) list.push_back(g);
  }
  return z;
}

// Runs every case; `lookup_for` gives the DNS for scenario N (nullptr: fail the case).
using LookupFactory = std::function<std::shared_ptr<DnsLookup>(std::size_t index, const YAML::Node& scenario,
                                                               const Executor& ex)>;

void run_suite(const char* label, const LookupFactory& lookup_for) {
  const std::filesystem::path file = std::filesystem::path(MXGATE_TESTDATA) / "openspf-tests/rfc7208-tests.yml";
  if (!std::filesystem::exists(file)) GTEST_SKIP() << file << " not found: the shared test data is not next to this checkout";
  auto docs = YAML::LoadAllFromFile(file.string());
  std::size_t passed = 0, failed = 0, known = 0;
  std::set<std::string> seen;
  for (std::size_t index = 0; index < docs.size(); ++index) {
    const YAML::Node doc = docs[index];
    boost::asio::io_context io;
    auto dns = lookup_for(index, doc, io.get_executor());
    ASSERT_TRUE(dns) << "no DNS for scenario " << index;
    for (const auto& t : doc["tests"]) {
      const std::string id = t.first.as<std::string>();
      const YAML::Node c = t.second;
      SpfRequest req;
      req.ip = c["host"].as<std::string>();
      req.sender = c["mailfrom"].as<std::string>();
      req.helo = c["helo"].as<std::string>();
      req.receiver = "receiver.example";
      std::set<std::string> want;
      if (c["result"].IsSequence())
        for (const auto& r : c["result"]) want.insert(r.as<std::string>());
      else
        want.insert(c["result"].as<std::string>());
      std::optional<SpfOutcome> got;
      boost::asio::co_spawn(io, [&]() -> Task<void> { got = co_await check_spf(*dns, req); }, boost::asio::detached);
      io.restart();
      io.run();
      ASSERT_TRUE(got) << id;
      const std::string result = auth_result_name(got->result);
      bool ok = want.count(result) > 0;
      std::string why;
      if (!ok) why = "result " + result + " (" + got->reason + ")";
      if (ok && c["explanation"]) {
        std::string exp = got->explanation.empty() ? "DEFAULT" : got->explanation;
        if (exp != c["explanation"].as<std::string>()) {
          ok = false;
          why = "explanation \"" + exp + "\"";
        }
      }
      seen.insert(id);
      if (ok) {
        ++passed;
        EXPECT_FALSE(kKnownMisses.count(id)) << id << " passes now: remove it from kKnownMisses and docs/conformance.md";
      } else {
        ++failed;
        std::string expected;
        for (const auto& w : want) expected += (expected.empty() ? "" : "|") + w;
        if (kKnownMisses.count(id)) ++known;
        else ADD_FAILURE() << label << ": " << id << ": expected " << expected
                           << (c["explanation"] ? " explanation \"" + c["explanation"].as<std::string>() + "\"" : "")
                           << ", got " << why;
      }
    }
  }
  std::printf("RFC 7208 suite, %s: %zu passed, %zu failed (%zu known, see docs/conformance.md)\n", label, passed,
              failed, known);
  EXPECT_EQ(passed + failed, 203u) << "the suite should hold 203 tests";
  for (const auto& [id, why] : kKnownMisses) EXPECT_TRUE(seen.count(id)) << id << " is not in the suite";
}

TEST(SpfConformance, Rfc7208SuiteHermetic) {
  run_suite("hermetic", [](std::size_t, const YAML::Node& doc, const Executor&) {
    return std::make_shared<SuiteZone>(load_zone(doc["zonedata"]));
  });
}

// The same cases through the production resolver (c-ares) and a real DNS server on
// 127.0.0.1 serving each scenario in turn (tests/dns/spf_suite_dns.py).
TEST(SpfConformance, Rfc7208SuiteThroughDnsServer) {
  const std::string suite = std::string(MXGATE_TESTDATA) + "/openspf-tests/rfc7208-tests.yml";
  const std::string script = std::string(MXGATE_SOURCE_DIR) + "/tests/dns/spf_suite_dns.py";
  testing::TestDnsServer server;
  run_suite("through a DNS server", [&](std::size_t index, const YAML::Node&, const Executor& ex) -> std::shared_ptr<DnsLookup> {
    server.stop();
    if (!server.start(script, {suite, std::to_string(index), "{port}"})) return nullptr;
    auto cfg = std::make_shared<DnsConfig>();
    cfg->nameservers = {server.address()};
    cfg->timeout = std::chrono::milliseconds(300);
    cfg->attempts = 1;
    return std::make_shared<Resolver>(ex, cfg, std::make_shared<DnsCache>(1000));
  });
}

}  // namespace
}  // namespace mxgate
