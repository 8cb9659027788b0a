// ContentFilter: SpamAssassin-style content rules over the decoded message, at end
// of data. Every rule that hits becomes a symbol with its score, its `describe`
// text and where it matched; what the total means is policy's decision.
//
// Config (filters: - content: {...}; docs/configuration.md):
//   rules: [builtin]            rule folders (*.cf, SpamAssassin syntax, docs/rules.md),
//                               read in order, later files override earlier
//                               scores; `builtin` is the set shipped in rules/default/,
//                               compiled into the binary; `spamassassin` is
//                               SpamAssassin's own rules (sa-update's, else Debian's
//                               /usr/share/spamassassin). Relative paths are read
//                               from the config file's folder.
//   cache_dir: /var/cache/mxgate   compiled Hyperscan databases kept here between
//                               runs ("" for none); see rules/rule_cache.cpp
//   inline_scan_bytes: 256k     messages up to this size are scanned on the
//                               session's own thread; larger ones on the process's
//                               work pool (work_pool.threads, work_pool.queue)
//   busy_reply: 451 4.3.2 ...   the answer when the pool's queue is full
//   max_body_part_bytes: 50000, max_rawbody_part_bytes: 500000, max_full_bytes: 32M,
//   max_urls: 1000              how much of each text the rules read (scan_texts.hpp)
//   network_tests: false        SpamAssassin's DNSEval rules (RCVD_IN_*: check_rbl,
//                               check_rbl_sub) through the resolver, and its network
//                               score set (filters/content/network_tests.hpp)
//
// The rule set is compiled when the config loads (mxgate serve, SIGHUP, check):
// any rule error fails the load with file, line and rule name, so a running server
// keeps its previous rules.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "filters/content/eval_tests.hpp"
#include "filters/content/scan_texts.hpp"
#include "filters/filter.hpp"
#include "filters/smtp_reply.hpp"
#include "rules/rule_compiler.hpp"

namespace mxgate {

class ConfigMap;
class WorkPool;

struct ContentConfig {
  rules::RuleSetPtr rules;
  std::vector<std::string> sources;    // what `rules` named, resolved ("builtin", "/etc/mxgate/rules")
  rules::CompileReport report;
  EvalSettings eval;                   // settings of the eval tests, from the rule files
  ScanLimits limits;
  std::size_t inline_scan_bytes = 256 * 1024;
  SmtpReply busy_reply{451, "4.3.2", "Content scanner busy, try again later"};
  std::shared_ptr<WorkPool> pool;      // the process's, if a config made one; null: all inline
  // SpamAssassin's DNSEval network tests (check_rbl...) asked through the resolver,
  // and the network score set (content.network_tests; off: like spamassassin -L).
  bool network_tests = false;
  // Loaded under ProvisionalRules: every source was parsed and checked, but only the
  // builtin set was compiled; the full set is being compiled in the background.
  bool provisional = false;
};

// While an object of this class lives on a thread, content filters loaded on that
// thread parse and check every rule source (errors still fail the load, with file,
// line and rule) but compile only the builtin set (rules/default/), seconds instead
// of minutes for SpamAssassin's stock set, and mark their config provisional.
// `mxgate serve` starts with such a config when the full one is not ready within a
// moment, and installs the full one when its compile finishes (proxy/main.cpp).
class ProvisionalRules {
 public:
  ProvisionalRules();
  ~ProvisionalRules();
  ProvisionalRules(const ProvisionalRules&) = delete;
  ProvisionalRules& operator=(const ProvisionalRules&) = delete;
  static bool active();
};

class ContentFilter final : public Filter {
 public:
  explicit ContentFilter(std::shared_ptr<const ContentConfig> cfg) : cfg_(std::move(cfg)) {}
  const char* name() const override { return "content"; }
  Task<Verdict> on_end_of_data(const Envelope& env, const Message& msg) override;
  // The synchronous core (mxgate check, tests): parse, scan, symbols.
  Verdict check(const Envelope& env, const Message& msg) const;
  const ContentConfig& config() const { return *cfg_; }

 private:
  std::shared_ptr<const ContentConfig> cfg_;
};

FilterPtr make_content_filter(ConfigMap& cfg);

// The rule files shipped in rules/default/, compiled in: (file name, text), sorted.
const std::vector<std::pair<std::string, std::string>>& builtin_rule_files();

}  // namespace mxgate
