#include "proxy/config.hpp"

#include "filters/content/content_filter.hpp"

#include <gtest/gtest.h>

#include <filesystem>

namespace mxgate {
namespace {

TEST(Config, SampleAndEmbeddedConfigsLoad) {
  // SpamAssassin's rules are parsed and checked in full, but only the builtin set is
  // compiled (as serve --check-config does): the stock set takes minutes at -O0.
  ProvisionalRules only_builtin;
  auto file = load_config_file(std::string(MXGATE_SOURCE_DIR) + "/samples/mxgate.yaml");
  ASSERT_TRUE(file.ok()) << format_errors(file.errors);
  auto embedded = load_config_text(kEmbeddedConfig, "embedded");
  ASSERT_TRUE(embedded.ok()) << format_errors(embedded.errors);
  const Config& c = **file.value;
  EXPECT_EQ(c.listen.at(0).str(), "127.0.0.1:2525");
  EXPECT_EQ(c.downstream.address.str(), "127.0.0.1:2526");
  std::vector<std::string> names;
  for (const auto& f : c.chain->filters()) names.emplace_back(f->name());
  EXPECT_EQ(names, (std::vector<std::string>{"headers", "spf", "dkim", "arc", "dmarc", "mime", "bayes", "content"}));
  EXPECT_EQ(c.authserv_id, c.hostname);
  EXPECT_EQ((*embedded.value)->listen.at(0).str(), c.listen.at(0).str());
  EXPECT_EQ((*embedded.value)->chain->filters().size(), names.size());
}

TEST(Config, EmptyFileGivesDefaults) {
  auto r = load_config_text("", "empty.yaml");
  ASSERT_TRUE(r.ok()) << format_errors(r.errors);
  const Config& c = **r.value;
  EXPECT_EQ(c.limits.max_message_bytes, 25u * 1024 * 1024);
  EXPECT_EQ(c.limits.max_recipients, 1000u);
  EXPECT_EQ(c.bare_line_endings, BareLineEndings::Reject);
  EXPECT_EQ(c.downstream.tls, DownstreamTls::Opportunistic);
  EXPECT_TRUE(c.chain->empty());
  EXPECT_EQ(c.downstream.helo_name, c.hostname);
}

// Golden test: the exact messages an operator sees, all errors at once.
TEST(Config, ErrorsNameFileLineAndKey) {
  const char* text =
      "listen: [127.0.0.1]\n"                    // 1
      "smtp:\n"                                  // 2
      "  max_recipients: 0\n"                    // 3
      "  max_recipent: 5\n"                      // 4
      "  command_timeout: soon\n"                // 5
      "  bare_line_endings: maybe\n"             // 6
      "  xclient_trusted: [10.0.0.0/33]\n"       // 7
      "downstream:\n"                            // 8
      "  tls: sometimes\n"                       // 9
      "  address: nowhere\n"                     // 10
      "filters:\n"                               // 11
      "  - nosuchfilter\n"                       // 12
      "unknown_top: 1\n";                        // 13
  auto r = load_config_text(text, "bad.yaml");
  ASSERT_FALSE(r.ok());
  std::string all = format_errors(r.errors);
  const char* expected[] = {
      "bad.yaml:1: listen: expected host:port, e.g. 127.0.0.1:2525 (got \"127.0.0.1\")",
      "bad.yaml:3: smtp.max_recipients: must be between 1 and 100000 (got 0)",
      "bad.yaml:4: smtp.max_recipent: unknown key (did you mean max_recipients?)",
      "bad.yaml:5: smtp.command_timeout: expected a duration such as 1500ms, 30s, 5m or 1h (got \"soon\")",
      "bad.yaml:6: smtp.bare_line_endings: must be one of reject, normalize (got \"maybe\")",
      "bad.yaml:7: smtp.xclient_trusted: \"10.0.0.0/33\" is not an address or network (e.g. 192.0.2.0/24)",
      "bad.yaml:9: downstream.tls: must be one of off, opportunistic, required (got \"sometimes\")",
      "bad.yaml:10: downstream.address: expected host:port, e.g. 127.0.0.1:2525 (got \"nowhere\")",
      "bad.yaml:12: filters[0]: unknown filter \"nosuchfilter\" (known: headers, spf, dkim, arc, dmarc, dnsbl, mime, bayes, content)",
      "bad.yaml:13: unknown_top: unknown key",
  };
  for (const char* e : expected) EXPECT_NE(all.find(e), std::string::npos) << "missing: " << e << "\nall:\n" << all;
  EXPECT_EQ(r.errors.size(), std::size(expected)) << all;
}

TEST(Config, DnsSection) {
  auto r = load_config_text("dns:\n  nameservers: [127.0.0.1:5353]\n  timeout: 800ms\n  attempts: 3\n", "d.yaml");
  ASSERT_TRUE(r.ok()) << format_errors(r.errors);
  EXPECT_EQ((*r.value)->dns->nameservers, std::vector<std::string>{"127.0.0.1:5353"});
  EXPECT_EQ((*r.value)->dns->timeout, std::chrono::milliseconds(800));
  EXPECT_EQ((*r.value)->dns->attempts, 3u);
  auto bad = load_config_text("dns:\n  nameservers: [localhost]\n  attempts: 0\n", "b.yaml");
  ASSERT_EQ(bad.errors.size(), 2u) << format_errors(bad.errors);
  EXPECT_EQ(bad.errors[0].str(), "b.yaml:2: dns.nameservers: expected host:port, e.g. 127.0.0.1:53 (got \"localhost\")");
  EXPECT_EQ(bad.errors[1].str(), "b.yaml:3: dns.attempts: must be between 1 and 10 (got 0)");
}

TEST(Config, WorkPoolSection) {
  const bool first_load = !current_work_pool();  // ctest runs each test in a process of its own
  auto r = load_config_text("work_pool: {threads: 2, queue: 64}\nsmtp: {long_lines: reject}\n", "w.yaml");
  ASSERT_TRUE(r.ok()) << format_errors(r.errors);
  const Config& c = **r.value;
  EXPECT_EQ(c.work_pool_threads, 2u);
  EXPECT_EQ(c.work_pool_queue, 64u);
  ASSERT_TRUE(c.work_pool);
  // The first load in a process makes the pool, at the configured size.
  if (first_load) {
    EXPECT_EQ(c.work_pool->threads(), 2u);
    EXPECT_EQ(c.work_pool->max_queued(), 64u);
  }
  EXPECT_TRUE(c.reject_long_lines);
  EXPECT_FALSE((*load_config_text("", "e.yaml").value)->reject_long_lines);  // accept by default
  auto bad = load_config_text("work_pool:\n  threads: 300\n  queue: 0\n", "b.yaml");
  std::string text = format_errors(bad.errors);
  EXPECT_NE(text.find("b.yaml:2: work_pool.threads: "), std::string::npos) << text;
  EXPECT_NE(text.find("b.yaml:3: work_pool.queue: "), std::string::npos) << text;
  // The content filter's old keys say where they went.
  auto moved = load_config_text("filters:\n  - content:\n      rules: []\n      scan_threads: 4\n", "m.yaml");
  text = format_errors(moved.errors);
  EXPECT_NE(text.find("m.yaml:4: content.scan_threads: moved to the top-level work_pool section (work_pool.threads)"),
            std::string::npos) << text;
  EXPECT_EQ(text.find("unknown key"), std::string::npos) << text;
}

TEST(Config, BayesNeedsContentAfterIt) {
  // The classifier's probability becomes a symbol only in content's BAYES_* rules.
  char dir[] = "/tmp/mxgate-config-bayes-XXXXXX";
  ASSERT_TRUE(mkdtemp(dir));
  const std::string db = std::string(dir) + "/bayes.db";
  auto alone = load_config_text("filters:\n  - mime\n  - bayes: {path: " + db + "}\n", "a.yaml");
  std::string text = format_errors(alone.errors);
  EXPECT_NE(text.find("a.yaml:3: filters: bayes needs content after it in the list"), std::string::npos) << text;
  auto before = load_config_text("filters:\n  - content: {rules: [builtin], cache_dir: ''}\n  - bayes: {path: " + db + "}\n",
                                 "b.yaml");
  text = format_errors(before.errors);
  EXPECT_NE(text.find("b.yaml:3: filters: bayes needs content after it"), std::string::npos) << text;
  auto good = load_config_text("filters:\n  - bayes: {path: " + db + ", min_spam: 5, bigram_window: 2, robs: 0.03, min_dev: 0.346}\n"
                               "  - content: {rules: [builtin], cache_dir: ''}\n", "g.yaml");
  EXPECT_TRUE(good.ok()) << format_errors(good.errors);
  auto bad = load_config_text("filters:\n  - bayes: {path: " + db + ", bigram_window: 9, min_ham: 0, robs: 0, min_dev: 0.5}\n"
                              "  - content: {rules: [builtin], cache_dir: ''}\n", "c.yaml");
  text = format_errors(bad.errors);
  EXPECT_NE(text.find("c.yaml:2: bayes.bigram_window"), std::string::npos) << text;
  EXPECT_NE(text.find("c.yaml:2: bayes.min_ham"), std::string::npos) << text;
  EXPECT_NE(text.find("c.yaml:2: bayes.robs"), std::string::npos) << text;
  EXPECT_NE(text.find("c.yaml:2: bayes.min_dev"), std::string::npos) << text;
  std::filesystem::remove_all(dir);
}

TEST(Config, SlowClientLimits) {
  auto d = load_config_text("smtp: {}\n", "d.yaml");
  ASSERT_TRUE(d.ok()) << format_errors(d.errors);
  EXPECT_EQ((*d.value)->limits.max_connections, 10000u);
  EXPECT_EQ((*d.value)->limits.min_data_rate, 500u);
  EXPECT_EQ((*d.value)->limits.stress_threshold, 80u);
  EXPECT_EQ((*d.value)->limits.stress_command_timeout, std::chrono::seconds(10));
  EXPECT_EQ((*d.value)->limits.stress_max_errors, 1u);
  auto good = load_config_text("smtp: {min_data_rate: 0, stress_threshold: 100, stress_command_timeout: 30s}\n", "g.yaml");
  ASSERT_TRUE(good.ok()) << format_errors(good.errors);
  EXPECT_EQ((*good.value)->limits.stress_command_timeout, std::chrono::seconds(30));
  auto bad = load_config_text("smtp:\n  stress_threshold: 0\n  stress_max_errors: 0\n", "b.yaml");
  std::string text = format_errors(bad.errors);
  EXPECT_NE(text.find("b.yaml:2: smtp.stress_threshold"), std::string::npos) << text;
  EXPECT_NE(text.find("b.yaml:3: smtp.stress_max_errors"), std::string::npos) << text;
}

TEST(Config, YamlSyntaxErrorHasALine) {
  auto r = load_config_text("smtp:\n  max_errors: [1,\n", "syntax.yaml");
  ASSERT_FALSE(r.ok());
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].file, "syntax.yaml");
  EXPECT_GT(r.errors[0].line, 0);
  EXPECT_NE(r.errors[0].what.find("YAML syntax error"), std::string::npos);
}

TEST(Config, TlsFilesAreCheckedAtLoad) {
  auto r = load_config_text("tls:\n  cert_file: /nonexistent/cert.pem\n  key_file: /nonexistent/key.pem\n", "t.yaml");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(format_errors(r.errors).find("t.yaml:2: tls.cert_file: cannot load certificate chain /nonexistent/cert.pem"),
            std::string::npos)
      << format_errors(r.errors);
  // Reported together with unrelated errors, not hidden behind them.
  auto both = load_config_text("smtp: {max_errors: 0}\ntls:\n  cert_file: /nonexistent/c.pem\n  key_file: /nonexistent/k.pem\n",
                               "b.yaml");
  ASSERT_EQ(both.errors.size(), 2u) << format_errors(both.errors);
  EXPECT_EQ(both.errors[1].key, "tls.cert_file");
  EXPECT_EQ(both.errors[1].line, 3);
  auto half = load_config_text("tls:\n  cert_file: /x.pem\n", "h.yaml");
  ASSERT_FALSE(half.ok());
  EXPECT_EQ(half.errors[0].str(), "h.yaml:2: tls.key_file: cert_file and key_file go together");
}

TEST(Cidr, ContainsIpv4Ipv6AndMapped) {
  Cidr net;
  ASSERT_TRUE(Cidr::parse("192.0.2.0/24", net));
  EXPECT_TRUE(net.contains("192.0.2.77"));
  EXPECT_TRUE(net.contains("::ffff:192.0.2.77"));
  EXPECT_FALSE(net.contains("192.0.3.1"));
  EXPECT_FALSE(net.contains("2001:db8::1"));
  ASSERT_TRUE(Cidr::parse("2001:db8::/32", net));
  EXPECT_TRUE(net.contains("2001:db8:ffff::1"));
  EXPECT_FALSE(net.contains("2001:db9::1"));
  ASSERT_TRUE(Cidr::parse("127.0.0.1", net));
  EXPECT_TRUE(net.contains("127.0.0.1"));
  EXPECT_FALSE(net.contains("127.0.0.2"));
  ASSERT_TRUE(Cidr::parse("10.1.2.3/9", net));
  EXPECT_TRUE(net.contains("10.127.0.1"));
  EXPECT_FALSE(net.contains("10.128.0.1"));
  for (const char* bad : {"10.0.0.0/33", "x", "10.0.0.0/", "::/129", "1.2.3.4/-1"})
    EXPECT_FALSE(Cidr::parse(bad, net)) << bad;
}

}  // namespace
}  // namespace mxgate
