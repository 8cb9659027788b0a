#include "filters/content/content_filter.hpp"

#include <spdlog/spdlog.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include "filters/config_node.hpp"
#include "filters/content/content_scan.hpp"
#include "filters/content/network_tests.hpp"
#include "filters/content/relays.hpp"
#include "filters/dns/query_all.hpp"
#include "filters/mime/mime_view.hpp"
#include "base/work_pool.hpp"
#include "base/work_pool_await.hpp"
#include "filters/filter_state.hpp"
#include "filters/mime/mime.hpp"

namespace mxgate {

namespace {

Verdict scan(const ContentConfig& cfg, const Envelope& env, const Message& msg, const MimeView& view,
             const NetworkHits* network = nullptr, const ScanTexts* texts = nullptr) {
  ContentScan result = scan_content(*cfg.rules, view, msg, env, cfg.limits, cfg.eval, network, texts);
  Verdict v;
  v.symbols = content_symbols(*cfg.rules, result);
  return v;
}

std::string read_file(const std::filesystem::path& p, std::string& err) {
  std::ifstream in(p, std::ios::binary);
  if (!in) {
    err = "cannot read";
    return {};
  }
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

thread_local int provisional_depth = 0;

// Where `spamassassin` in content.rules looks, in order: the rules sa-update keeps
// current (SpamAssassin 4.0.1's version directory), then the Debian package's.
// SpamAssassin's site files (/etc/spamassassin/*.cf) are not read: on a gateway
// they would let forged mail earn their negative scores (Debian's D_SENT_BY_CRON);
// list that folder yourself to have them.
constexpr const char* kStockRuleDirs[] = {"/var/lib/spamassassin/4.000001/updates_spamassassin_org",
                                          "/usr/share/spamassassin"};

std::filesystem::path stock_spamassassin_rules() {
  for (const char* d : kStockRuleDirs) {
    std::error_code ec;
    if (std::filesystem::is_directory(d, ec) && !std::filesystem::is_empty(d, ec)) return d;
  }
  return {};
}

}  // namespace

ProvisionalRules::ProvisionalRules() { ++provisional_depth; }
ProvisionalRules::~ProvisionalRules() { --provisional_depth; }
bool ProvisionalRules::active() { return provisional_depth > 0; }

Verdict ContentFilter::check(const Envelope& env, const Message& msg) const {
  auto view = mime_view_now(env, msg);
  return scan(*cfg_, env, msg, *view);
}

Task<Verdict> ContentFilter::on_end_of_data(const Envelope& env, const Message& msg) {
  auto cfg = cfg_;  // the rule set this message started with, whatever reloads happen
  // Parsed once per transaction, with the configured MIME limits, whichever of the
  // mime and content filters runs first.
  const std::shared_ptr<const MimeView> view = co_await mime_view(env, msg);
  // The network tests' questions, asked before the scan reads the answers.
  std::optional<NetworkHits> net;
  std::optional<ScanTexts> texts;  // built here for the URI detail list, and reused by the scan
  if (cfg->network_tests && env.state && env.state->dns) {
    const RelayPath path = analyse_relays(cfg->eval.relay.get(), *view, msg, env);
    texts = build_scan_texts(*view, msg, cfg->limits, cfg->eval.uri.get());
    EvalContext ectx(*view, msg, env, *texts, cfg->eval);
    NetworkPlan plan = plan_network_tests(*cfg->rules, path, cfg->eval, *view, &ectx);
    std::shared_ptr<DnsLookup> dns = env.state->dns;
    // One round, or three for the URIDNSBL address rules (link domains' name
    // servers, their addresses, then the lists): each round's questions at once.
    std::vector<DnsResult> answers;
    do {
      if (answers.size() == plan.questions.size()) continue;
      std::vector<DnsQuestion> next(plan.questions.begin() + static_cast<std::ptrdiff_t>(answers.size()),
                                    plan.questions.end());
      std::vector<DnsResult> got = co_await query_all(*dns, std::move(next));
      answers.insert(answers.end(), std::make_move_iterator(got.begin()), std::make_move_iterator(got.end()));
    } while (extend_network_plan(plan, answers));
    net = network_hits(plan, answers);
  }
  const NetworkHits* network = net ? &*net : nullptr;
  const ScanTexts* built = texts ? &*texts : nullptr;
  if (!cfg->pool || msg.size() <= cfg->inline_scan_bytes) co_return scan(*cfg, env, msg, *view, network, built);
  // Large: scanning leaves the session's thread. env and msg live in the caller's
  // frame, view in this one, until it resumes.
  const Envelope* e = &env;
  const Message* m = &msg;
  const MimeView* v = view.get();
  std::function<Verdict()> job = [cfg, e, m, v, network, built]() { return scan(*cfg, *e, *m, *v, network, built); };
  spdlog::debug("content: {} scanning a {}-byte message on the work pool", env.txn_id, msg.size());
  std::optional<Verdict> out = co_await on_pool<Verdict>(*cfg->pool, job);
  if (!out) {
    spdlog::warn("content: work pool queue full ({} waiting): {} {} for a {}-byte message", cfg->pool->max_queued(),
                 cfg->busy_reply.code(), cfg->busy_reply.enhanced(), msg.size());
    co_return Verdict::tempfail(cfg->busy_reply).with({"CONTENT_SCAN_BUSY", 0.0, "scan queue full"});
  }
  co_return std::move(*out);
}

FilterPtr make_content_filter(ConfigMap& cfg) {
  auto c = std::make_shared<ContentConfig>();
  std::vector<std::string> sources{"builtin"};
  cfg.get("rules", sources);
  std::string cache_dir = "/var/cache/mxgate";
  cfg.get("cache_dir", cache_dir);
  cfg.get_size("inline_scan_bytes", c->inline_scan_bytes, 0, std::size_t{1} << 30);
  cfg.get("network_tests", c->network_tests);
  for (const char* moved : {"scan_threads", "scan_queue"})
    if (cfg.has(moved) && cfg.node(moved).IsDefined())  // node(): known, so not also "unknown key"
      cfg.error(moved, std::string("moved to the top-level work_pool section (work_pool.") +
                           (moved[5] == 't' ? "threads" : "queue") + "), shared with MIME parsing and the quarantine");
  cfg.get_reply("busy_reply", c->busy_reply);
  if (c->busy_reply.klass() != 4) cfg.error("busy_reply", "must be a 4xx reply (the sender retries)");
  cfg.get_size("max_body_part_bytes", c->limits.max_body_part_bytes, 1024, std::size_t{1} << 30);
  cfg.get_size("max_rawbody_part_bytes", c->limits.max_rawbody_part_bytes, 1024, std::size_t{1} << 30);
  cfg.get_size("max_full_bytes", c->limits.max_full_bytes, 1024, std::size_t{1} << 31);
  std::uint64_t urls = c->limits.max_urls;
  cfg.get_uint("max_urls", urls, 1, 1'000'000);
  c->limits.max_urls = static_cast<std::size_t>(urls);
  if (sources.empty()) cfg.error("rules", "needs at least one rule folder (or builtin)");

  // The files, in order: each folder's *.cf as SpamAssassin reads them.
  std::vector<std::pair<std::string, std::string>> files;
  std::filesystem::path base = std::filesystem::path(cfg.file()).parent_path();
  bool readable = true;
  for (const auto& src : sources) {
    if (src == "builtin") {
      files.insert(files.end(), builtin_rule_files().begin(), builtin_rule_files().end());
      c->sources.push_back(src);
      continue;
    }
    std::filesystem::path dir = src;
    if (src == "spamassassin") {
      // SpamAssassin's own rules: sa-update's newest, else the package's.
      dir = stock_spamassassin_rules();
      if (dir.empty()) {
        cfg.error("rules", "spamassassin: SpamAssassin's rules are not installed (" +
                               std::string(kStockRuleDirs[0]) + ", " + kStockRuleDirs[1] +
                               "); apt install spamassassin, or remove it from the list");
        readable = false;
        continue;
      }
    }
    if (dir.is_relative() && !base.empty()) dir = base / dir;
    c->sources.push_back(dir.string());
    std::error_code ec;
    std::vector<std::filesystem::path> cf = rules::rule_files_in(dir, ec);
    if (ec) {
      cfg.error("rules", dir.string() + ": cannot read rule folder: " + ec.message());
      readable = false;
      continue;
    }
    for (const auto& f : cf) {
      std::string err;
      std::string text = read_file(f, err);
      if (!err.empty()) {
        cfg.error("rules", f.string() + ": " + err);
        readable = false;
      }
      files.emplace_back(f.string(), std::move(text));
    }
  }
  if (!readable) return nullptr;

  auto parsed = rules::parse_rule_texts(files, content_parse_options());
  if (parsed.ok()) {
    // Settings and eval arguments are checked with the rules: file, line, rule.
    for (auto& e : check_eval_args(*parsed.value)) parsed.errors.push_back(std::move(e));
    auto settings = eval_settings(parsed.value->settings);
    for (auto& e : settings.errors) parsed.errors.push_back(std::move(e));
    if (settings.value) c->eval = std::move(*settings.value);
  }
  if (!parsed.ok()) {
    // Rule errors carry their own file, line and rule name.
    for (auto& e : parsed.errors) cfg.add_error(std::move(e));
    cfg.error("rules", "the rule set has " + std::to_string(parsed.errors.size()) + " error(s), listed above");
    return nullptr;
  }
  for (const auto& w : parsed.value->warnings) spdlog::debug("content rules: {}", w.str());
  if (!parsed.value->warnings.empty()) {
    std::string by;
    for (const auto& [d, n] : parsed.value->warning_counts()) by += (by.empty() ? "" : ", ") + d + " " + std::to_string(n);
    spdlog::info("content rules: {} directives not supported, skipped ({}); `mxgate rules lint` lists them",
                 parsed.value->warnings.size(), by);
  }
  // Start-up that cannot wait: everything above was parsed and checked; compile only
  // the builtin set now (the full set follows in the background).
  const bool only_builtin = ProvisionalRules::active() &&
                            std::any_of(sources.begin(), sources.end(), [](const std::string& x) { return x != "builtin"; });
  if (only_builtin) {
    auto builtin = rules::parse_rule_texts(builtin_rule_files(), content_parse_options());
    if (!builtin.ok()) {  // the shipped set is tested; belt and braces
      for (auto& e : builtin.errors) cfg.add_error(std::move(e));
      return nullptr;
    }
    auto settings = eval_settings(builtin.value->settings);
    c->eval = settings.value ? std::move(*settings.value) : EvalSettings{};
    parsed.value = std::move(builtin.value);
    c->provisional = true;
    spdlog::debug("content rules: provisional load, only the builtin rules compiled");
  }
  rules::CompileOptions copt;
  copt.cache_dir = cache_dir;
  if (!cache_dir.empty() && copt.cache_dir.is_relative() && !base.empty()) copt.cache_dir = base / copt.cache_dir;
  auto compiled = rules::RuleSet::compile(std::move(*parsed.value), copt, &c->report);
  if (!compiled.ok()) {
    for (auto& e : compiled.errors) cfg.add_error(std::move(e));
    cfg.error("rules", "the rule set did not compile, errors above");
    return nullptr;
  }
  c->rules = *compiled.value;
  if (!c->report.cache_note.empty()) spdlog::info("content rules: {}", c->report.cache_note);
  auto counts = c->rules->counts();
  spdlog::info("content rules: {} rules ({} regex: {} hyperscan, {} re2, {} prefilter+pcre2, {} pcre2, {} unsupported), "
               "{} in {:.2f}s",
               c->rules->rules().size(), counts.total(), counts.by_engine[0], counts.by_engine[1], counts.by_engine[2],
               counts.by_engine[3], counts.by_engine[4], rules::source_name(c->report.source), c->report.seconds);
  c->pool = current_work_pool();
  return std::make_shared<ContentFilter>(std::move(c));
}

}  // namespace mxgate
