#include "filters/config_node.hpp"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

namespace mxgate {
namespace {
using namespace std::chrono_literals;

TEST(ConfigParse, Durations) {
  std::chrono::milliseconds d{};
  struct Row { const char* in; long long ms; } ok[] = {
      {"300", 300'000}, {"300s", 300'000}, {"1500ms", 1500}, {"5m", 300'000}, {"2h", 7'200'000},
      {"1d", 86'400'000}, {" 7s ", 7000}};
  for (auto r : ok) {
    ASSERT_TRUE(parse_duration(r.in, d)) << r.in;
    EXPECT_EQ(d.count(), r.ms) << r.in;
  }
  for (const char* bad : {"", "s", "5 minutes", "-1s", "1.5s", "10y"}) EXPECT_FALSE(parse_duration(bad, d)) << bad;
}

TEST(ConfigParse, Sizes) {
  std::size_t n = 0;
  struct Row { const char* in; std::size_t bytes; } ok[] = {
      {"1000", 1000}, {"512k", 524288}, {"25M", 26214400}, {"10MiB", 10485760}, {"1G", 1073741824ull}, {"7b", 7}};
  for (auto r : ok) {
    ASSERT_TRUE(parse_size(r.in, n)) << r.in;
    EXPECT_EQ(n, r.bytes) << r.in;
  }
  for (const char* bad : {"", "M", "12 apples", "-5", "1.5M"}) EXPECT_FALSE(parse_size(bad, n)) << bad;
}

TEST(ConfigParse, HostPort) {
  std::string h;
  std::uint16_t p = 0;
  ASSERT_TRUE(parse_host_port("127.0.0.1:2525", h, p));
  EXPECT_EQ(h, "127.0.0.1");
  EXPECT_EQ(p, 2525);
  ASSERT_TRUE(parse_host_port("[::1]:25", h, p));
  EXPECT_EQ(h, "::1");
  EXPECT_EQ(p, 25);
  ASSERT_TRUE(parse_host_port("mx.internal:10025", h, p));
  for (const char* bad : {"127.0.0.1", ":25", "host:", "host:0", "host:65536", "::1:25", "[::1]25"})
    EXPECT_FALSE(parse_host_port(bad, h, p)) << bad;
}

struct Loaded {
  std::vector<ConfigError> errors;
  std::string str() const { return format_errors(errors); }
};

TEST(ConfigMap, ReadsTypedValuesAndKeepsDefaults) {
  YAML::Node n = YAML::Load("a: true\nb: hello\nc: 42\nd: 5m\ne: 10k\nf: [x, y]\ng: required\nh: 550 5.7.1 No thanks\n");
  std::vector<ConfigError> errs;
  bool a = false;
  std::string b;
  std::uint64_t c = 0;
  std::chrono::milliseconds d{1};
  std::size_t e = 0;
  std::vector<std::string> f;
  std::string g = "off";
  SmtpReply h(451, "4.0.0", "default");
  std::uint64_t untouched = 7;
  {
    ConfigMap m(n, "t.yaml", "", &errs);
    m.get("a", a);
    m.get("b", b);
    m.get_uint("c", c, 0, 100);
    m.get_duration("d", d, 1ms, 1h);
    m.get_size("e", e, 0, 1 << 20);
    m.get("f", f);
    m.get_enum("g", g, {"off", "required"});
    m.get_reply("h", h);
    m.get_uint("missing", untouched, 0, 100);
  }
  EXPECT_TRUE(errs.empty()) << format_errors(errs);
  EXPECT_TRUE(a);
  EXPECT_EQ(b, "hello");
  EXPECT_EQ(c, 42u);
  EXPECT_EQ(d, 5min);
  EXPECT_EQ(e, 10240u);
  EXPECT_EQ(f, (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(g, "required");
  EXPECT_EQ(h.wire(), "550 5.7.1 No thanks\r\n");
  EXPECT_EQ(untouched, 7u);
}

TEST(ConfigMap, ReportsEveryErrorWithLineAndKey) {
  YAML::Node n = YAML::Load(
      "smtp:\n"
      "  max_recipent: 5\n"     // line 2: typo
      "  count: many\n"         // line 3: not a number
      "  wait: 10 years\n"      // line 4: bad duration
      "  mode: maybe\n"         // line 5: bad enum
      "  reply: 550 4.7.1 x\n"  // line 6: class mismatch
      "  big: 1000\n");         // line 7: out of range
  std::vector<ConfigError> errs;
  {
    ConfigMap top(n, "f.yaml", "", &errs);
    auto m = top.child("smtp");
    std::uint64_t count = 1, big = 1, max_recipients = 1;
    std::chrono::milliseconds wait{1};
    std::string mode = "a";
    SmtpReply reply(550, "5.0.0", "x");
    m->get_uint("max_recipients", max_recipients, 1, 10);
    m->get_uint("count", count, 0, 10);
    m->get_duration("wait", wait, 1ms, 1h);
    m->get_enum("mode", mode, {"a", "b"});
    m->get_reply("reply", reply);
    m->get_uint("big", big, 1, 100);
  }
  std::string all = format_errors(errs);
  ASSERT_EQ(errs.size(), 6u) << all;
  EXPECT_NE(all.find("f.yaml:2: smtp.max_recipent: unknown key (did you mean max_recipients?)"), std::string::npos) << all;
  EXPECT_NE(all.find("f.yaml:3: smtp.count: expected a whole number"), std::string::npos) << all;
  EXPECT_NE(all.find("f.yaml:4: smtp.wait: expected a duration"), std::string::npos) << all;
  EXPECT_NE(all.find("f.yaml:5: smtp.mode: must be one of a, b (got \"maybe\")"), std::string::npos) << all;
  EXPECT_NE(all.find("f.yaml:6: smtp.reply: enhanced status 4.7.1 does not match reply class 550"), std::string::npos) << all;
  EXPECT_NE(all.find("f.yaml:7: smtp.big: must be between 1 and 100 (got 1000)"), std::string::npos) << all;
}

TEST(ConfigMap, DuplicateKeysAndWrongShapes) {
  YAML::Node n = YAML::Load("a: 1\na: 2\nb: [1, 2]\nc: {x: 1}\n");
  std::vector<ConfigError> errs;
  {
    ConfigMap m(n, "d.yaml", "", &errs);
    std::uint64_t a = 0;
    std::string b;
    m.get_uint("a", a, 0, 10);
    m.get("b", b);
    auto c = m.child("c");
    c->get_uint("x", a, 0, 10);
  }
  std::string all = format_errors(errs);
  EXPECT_NE(all.find("d.yaml:2: a: duplicate key"), std::string::npos) << all;
  EXPECT_NE(all.find("d.yaml:3: b: expected a string"), std::string::npos) << all;
}

}  // namespace
}  // namespace mxgate
