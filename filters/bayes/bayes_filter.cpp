#include "filters/bayes/bayes_filter.hpp"

#include <openssl/evp.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <ctime>
#include <filesystem>
#include <functional>

#include "base/text.hpp"
#include "base/work_pool.hpp"
#include "base/work_pool_await.hpp"
#include "filters/config_node.hpp"
#include "filters/mime/mime_view.hpp"

namespace mxgate {
namespace {
// Messages up to this size are classified on the session's thread (content's
// inline_scan_bytes default): a few hundred microseconds at most.
constexpr std::size_t kInlineClassifyBytes = 256 * 1024;
}  // namespace

namespace bayes {
namespace {

// Bumped whenever a change to bayes_tokens.cpp changes which tokens a message
// gives: a database learned by another version must be learned again.
constexpr int kTokenizerVersion = 1;

std::string sha256_hex(std::string_view a, std::string_view b) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) == 1 && EVP_DigestUpdate(ctx, a.data(), a.size()) == 1 &&
            EVP_DigestUpdate(ctx, "\n", 1) == 1 && EVP_DigestUpdate(ctx, b.data(), b.size()) == 1 &&
            EVP_DigestFinal_ex(ctx, md, &n) == 1;
  EVP_MD_CTX_free(ctx);
  if (!ok) n = 0;
  std::string out;
  char hex[3];
  for (unsigned int i = 0; i < n; ++i) {
    std::snprintf(hex, sizeof hex, "%02x", md[i]);
    out += hex;
  }
  return out;
}

}  // namespace

std::string message_learn_id(const Message& msg) {
  std::string mid;
  if (const HeaderField* f = msg.first("Message-ID")) mid = std::string(trim(f->unfolded()));
  // The body as sent, read the same from the wire, a maildir file and an mbox:
  // line ends as LF, the '>' an mbox puts before a "From " line dropped (mboxo and
  // mboxrd alike), and the blank lines an mbox leaves at the end not counted.
  std::string body;
  std::string_view b = msg.body();
  body.reserve(b.size());
  bool line_start = true;
  for (std::size_t i = 0; i < b.size(); ++i) {
    if (b[i] == '\r' && i + 1 < b.size() && b[i + 1] == '\n') continue;
    if (line_start && b[i] == '>') {
      std::size_t j = i;
      while (j < b.size() && b[j] == '>') ++j;
      if (b.substr(j, 5) == "From ") i = j;
    }
    body.push_back(b[i]);
    line_start = b[i] == '\n';
  }
  while (!body.empty() && (body.back() == '\n' || body.back() == ' ' || body.back() == '\t')) body.pop_back();
  return sha256_hex(mid, body);
}

Classifier::Classifier(BayesConfig cfg, std::unique_ptr<BayesStore> store)
    : cfg_(std::move(cfg)), store_(std::move(store)) {}

std::shared_ptr<Classifier> Classifier::open(const BayesConfig& cfg, std::string* error) {
  std::unique_ptr<BayesStore> store =
      cfg.store == "redis" ? open_redis_store(cfg.redis, error) : open_sqlite_store(cfg.path, error);
  if (!store) return nullptr;
  std::shared_ptr<Classifier> c(new Classifier(cfg, std::move(store)));
  error->clear();
  c->refresh_now(error);  // not readable yet: the first refresh that works fills it
  return c;
}

std::string Classifier::tokenizer_id() const {
  return std::to_string(kTokenizerVersion) + "/w" + std::to_string(cfg_.tokens.bigram_window);
}

TokenTablePtr Classifier::table() const {
  std::lock_guard lock(mu_);
  return table_;
}

bool Classifier::refresh_now(std::string* error) {
  std::uint64_t gen = 0;
  if (!store_->generation(&gen, error)) return false;
  {
    std::lock_guard lock(mu_);
    last_check_ = std::chrono::steady_clock::now();
    if (table_ && table_->generation() == gen) return true;
  }
  TokenTablePtr t = store_->load(error);
  if (!t) return false;
  // Say when the classifier starts (or stops) answering: an admin waiting for it
  // sees why BAYES_* never shows.
  const Totals& tot = t->totals();
  const bool answers = tot.nspam >= cfg_.min_spam && tot.nham >= cfg_.min_ham;
  std::lock_guard lock(mu_);
  if (!said_ || *said_ != answers) {
    if (answers)
      spdlog::info("bayes: classifying with {} ({} spam, {} ham learned, {} tokens)", store_->describe(), tot.nspam,
                   tot.nham, t->size());
    else
      spdlog::info("bayes: not classifying yet: {} has learned {} spam and {} ham, needs {} and {} (mxgate learn)",
                   store_->describe(), tot.nspam, tot.nham, cfg_.min_spam, cfg_.min_ham);
    said_ = answers;
  }
  table_ = std::move(t);
  return true;
}

bool Classifier::autolearn_slot() {
  std::lock_guard lock(mu_);
  if (autolearning_ || std::chrono::steady_clock::now() < autolearn_paused_until_) return false;
  autolearning_ = true;
  return true;
}

void Classifier::autolearn_done(bool ok) {
  std::lock_guard lock(mu_);
  autolearning_ = false;
  if (!ok) autolearn_paused_until_ = std::chrono::steady_clock::now() + std::chrono::minutes(1);
}

void Classifier::refresh_in_background() {
  {
    std::lock_guard lock(mu_);
    if (refreshing_ || std::chrono::steady_clock::now() - last_check_ < cfg_.refresh) return;
    refreshing_ = true;
    last_check_ = std::chrono::steady_clock::now();
  }
  // The job holds the classifier: a reload may drop the config meanwhile.
  auto job = [self = shared_from_this(), this]() {
    std::string err;
    bool ok = refresh_now(&err);
    std::lock_guard lock(mu_);
    refreshing_ = false;
    if (!ok && err != last_error_) spdlog::error("bayes: cannot read {}: {} (classifying with the counts read before)", store_->describe(), err);
    last_error_ = ok ? std::string() : err;
  };
  std::shared_ptr<WorkPool> pool = current_work_pool();
  if (!pool || !pool->try_submit(job)) {
    std::lock_guard lock(mu_);
    refreshing_ = false;  // try again at the next message
  }
}

Answer Classifier::classify(const MimeView& view, bool details) const {
  Answer a;
  TokenTablePtr t = table();
  if (!t) {
    a.detail = "not available: the database could not be read";
    return a;
  }
  const Totals& tot = t->totals();
  if (!t->tokenizer().empty() && t->tokenizer() != tokenizer_id()) {
    a.detail = "not available: the database was learned with tokenizer " + t->tokenizer() + ", this configuration uses " +
               tokenizer_id() + " (learn again into a new database, or set bigram_window back)";
    return a;
  }
  if (tot.nspam < cfg_.min_spam || tot.nham < cfg_.min_ham) {
    a.detail = "not available: learned " + std::to_string(tot.nspam) + " spam and " + std::to_string(tot.nham) +
               " ham, needs " + std::to_string(cfg_.min_spam) + " and " + std::to_string(cfg_.min_ham);
    return a;
  }
  a.available = true;
  MessageTokens toks = tokenize(view, cfg_.tokens, details);
  std::vector<TokenCounts> counts(toks.hashes.size());
  for (std::size_t i = 0; i < toks.hashes.size(); ++i) counts[i] = t->find(toks.hashes[i]);
  Classification c = bayes::classify(counts, tot, cfg_.params);
  a.probability = c.probability;
  a.detail = describe(c, tot);
  if (details)
    for (std::size_t k = 0; k < c.significant.size(); ++k)
      a.evidence.emplace_back(toks.names[c.significant[k]], c.significant_prob[k]);
  return a;
}

LearnItem Classifier::learn_item(const Message& msg, const MimeView& view, bool spam) const {
  LearnItem it;
  it.msgid = message_learn_id(msg);
  it.spam = spam;
  it.tokens = tokenize(view, cfg_.tokens).hashes;
  return it;
}

bool Classifier::learn(std::span<const LearnItem> items, bool forget, std::vector<LearnStatus>* status,
                       std::string* error) {
  std::string stored;
  if (!store_->tokenizer(&stored, error)) return false;
  if (!stored.empty() && stored != tokenizer_id()) {
    *error = store_->describe() + " was learned with tokenizer " + stored + ", this configuration uses " +
             tokenizer_id() + ": learn into a new database, or set bigram_window back";
    return false;
  }
  if (!store_->learn(items, forget, static_cast<std::int64_t>(std::time(nullptr)), tokenizer_id(), status, error))
    return false;
  // Expiry counts the tokens: at most once a minute (the database overshoots its
  // size by a minute's learning at most).
  {
    std::lock_guard lock(mu_);
    const auto now = std::chrono::steady_clock::now();
    if (last_expire_ != std::chrono::steady_clock::time_point{} && now - last_expire_ < std::chrono::minutes(1))
      return true;
    last_expire_ = now;
  }
  ExpireResult ex;
  std::string why;
  if (!store_->expire(cfg_.max_db_tokens, &ex, &why))
    spdlog::warn("bayes: learned, but expiring old tokens failed: {}", why);  // the learn stands
  else if (ex.tokens_deleted)
    spdlog::info("bayes: expired {} tokens, {} learned-message ids", ex.tokens_deleted, ex.seen_deleted);
  return true;
}

std::optional<bool> autolearn_class(const BayesConfig& cfg, const MessageOutcome& out) {
  if (!cfg.autolearn || !out.symbols) return std::nullopt;
  if (out.action != Action::Accept && out.action != Action::Quarantine && out.action != Action::Reject)
    return std::nullopt;
  // A list decided (policy.allow.*, policy.deny.*, policy.domains.D.allow.*, ...),
  // or a filter accepted it outright: the content was never judged.
  const std::string& by = out.decided_by;
  auto has = [&](std::string_view part) { return by.find(part) != std::string::npos; };
  if (by.starts_with("policy.allow") || by.starts_with("policy.deny") || has(".allow.") || has(".deny.") ||
      (out.action == Action::Accept && !by.empty() && !by.starts_with("policy.")))
    return std::nullopt;
  double score = 0;
  bool bayes_says_ham = false, bayes_says_spam = false;
  for (const auto& s : *out.symbols) {
    if (!s.name.starts_with("BAYES_")) score += s.score;
    bayes_says_ham |= s.name == "BAYES_00" || s.name == "BAYES_05";
    bayes_says_spam |= s.name == "BAYES_95" || s.name == "BAYES_99";
  }
  // As SpamAssassin's AutoLearnThreshold: never against the classifier's own firm
  // verdict (that is for an admin to correct), and ham strictly below the threshold.
  if (score >= cfg.autolearn_spam_score) return bayes_says_ham ? std::nullopt : std::optional<bool>(true);
  if (score < cfg.autolearn_ham_score && out.action == Action::Accept)
    return bayes_says_spam ? std::nullopt : std::optional<bool>(false);
  return std::nullopt;
}

}  // namespace bayes

void BayesFilter::on_outcome(const Envelope& env, const std::shared_ptr<const Message>& msg,
                             const MessageOutcome& out) {
  if (!classifier_) return;
  std::optional<bool> spam = bayes::autolearn_class(*cfg_, out);
  if (!spam) return;
  // The view parsed for this message, if a filter kept it; else the job parses.
  std::shared_ptr<const MimeView> view;
  if (env.state && env.state->mime && env.state->mime_txn == env.txn_id) view = env.state->mime;
  std::shared_ptr<const MimeSettings> settings = env.state ? env.state->mime_settings : nullptr;
  // One autolearn at a time, and none for a while after the store failed: the
  // work pool is shared with scans and quarantine stores, which must not wait
  // behind a slow or unreachable database.
  if (!classifier_->autolearn_slot()) {
    spdlog::debug("bayes: {} not autolearned (another autolearn running, or the store failed lately)", env.txn_id);
    return;
  }
  auto job = [c = classifier_, msg, view, settings, is_spam = *spam, txn = env.txn_id]() {
    std::shared_ptr<const MimeView> v = view;
    if (!v) v = std::make_shared<const MimeView>(parse_mime(*msg, settings ? settings->limits : MimeLimits{}));
    std::vector<bayes::LearnItem> items{c->learn_item(*msg, *v, is_spam)};
    std::vector<bayes::LearnStatus> st;
    std::string err;
    const bool ok = c->learn(items, false, &st, &err);
    c->autolearn_done(ok);
    if (!ok)
      spdlog::warn("bayes: autolearn of {} failed: {} (autolearn pauses for a minute)", txn, err);
    else if (!st.empty())
      spdlog::info("bayes: autolearn {} as {}: {}", txn, is_spam ? "spam" : "ham", bayes::learn_status_name(st[0]));
  };
  std::shared_ptr<WorkPool> pool = current_work_pool();
  if (!pool) {
    job();  // no pool (tools, tests): here
    return;
  }
  if (!pool->try_submit(job)) {
    classifier_->autolearn_done(true);
    spdlog::info("bayes: work pool full, {} not autolearned", env.txn_id);
  }
}

Task<Verdict> BayesFilter::on_end_of_data(const Envelope& env, const Message& msg) {
  if (!env.state) co_return Verdict::next();
  env.state->bayes = {};
  env.state->bayes.txn = env.txn_id;
  if (!classifier_) {
    env.state->bayes.detail = "not available: the database could not be opened";
    co_return Verdict::next();
  }
  classifier_->refresh_in_background();
  const std::shared_ptr<const MimeView> view = co_await mime_view(env, msg);
  const bool explain = env.state->explain;
  bayes::Answer a;
  std::shared_ptr<WorkPool> pool = msg.size() > kInlineClassifyBytes ? current_work_pool() : nullptr;
  std::optional<bayes::Answer> pooled;
  if (pool) {
    // A large message is tokenized off the session's thread, as content scans are.
    bayes::ClassifierPtr c = classifier_;
    const MimeView* v = view.get();
    std::function<bayes::Answer()> job = [c, v, explain]() { return c->classify(*v, explain); };
    pooled = co_await on_pool<bayes::Answer>(*pool, job);
  }
  a = pooled ? std::move(*pooled) : classifier_->classify(*view, explain);
  // A hook that overran smtp.filter_timeout finishes after its transaction: its
  // answer is not the next message's.
  BayesAnswer& out = env.state->bayes;
  if (out.txn != env.txn_id) co_return Verdict::next();
  out.available = a.available;
  out.probability = a.probability;
  out.detail = std::move(a.detail);
  out.evidence = std::move(a.evidence);
  co_return Verdict::next();
}

FilterPtr make_bayes_filter(ConfigMap& cfg) {
  auto c = std::make_shared<BayesConfig>();
  cfg.get_enum("store", c->store, {"sqlite", "redis"});
  cfg.get("path", c->path);
  if (c->path.empty()) cfg.error("path", "needs the database's file name");
  std::filesystem::path p = c->path;
  std::filesystem::path base = std::filesystem::path(cfg.file()).parent_path();
  if (p.is_relative() && !base.empty()) c->path = (base / p).string();
  if (auto r = cfg.child("redis")) {
    std::string address = c->redis.host + ":" + std::to_string(c->redis.port);
    r->get("address", address);
    std::size_t colon = address.rfind(':');
    char* end = nullptr;
    long port = colon == std::string::npos ? 0 : std::strtol(address.c_str() + colon + 1, &end, 10);
    if (colon == std::string::npos || colon == 0 || !end || *end || port < 1 || port > 65535) {
      r->error("address", "expected host:port (got \"" + address + "\")");
    } else {
      c->redis.host = address.substr(0, colon);
      c->redis.port = static_cast<int>(port);
    }
    std::uint64_t db = 0;
    r->get_uint("db", db, 0, 1000);
    c->redis.db = static_cast<int>(db);
    r->get("password", c->redis.password);
    r->get("prefix", c->redis.prefix);
    r->get_duration("timeout", c->redis.timeout, std::chrono::milliseconds(50), std::chrono::seconds(60));
  }
  cfg.get_uint("min_spam", c->min_spam, 1, 1'000'000'000);
  cfg.get_uint("min_ham", c->min_ham, 1, 1'000'000'000);
  std::uint64_t window = c->tokens.bigram_window;
  cfg.get_uint("bigram_window", window, 1, 5);
  c->tokens.bigram_window = static_cast<std::size_t>(window);
  cfg.get_size("max_tokens_per_message", c->tokens.max_tokens, 100, 1'000'000);
  cfg.get_number("robs", c->params.robs, 0.001, 10);
  cfg.get_number("robx", c->params.robx, 0.01, 0.99);
  cfg.get_number("min_dev", c->params.min_dev, 0, 0.49);
  cfg.get_uint("max_db_tokens", c->max_db_tokens, 10'000, 1'000'000'000);
  cfg.get_duration("refresh", c->refresh, std::chrono::seconds(1), std::chrono::hours(24));
  cfg.get("autolearn", c->autolearn);
  cfg.get_number("autolearn_spam_score", c->autolearn_spam_score, -1000, 1000);
  cfg.get_number("autolearn_ham_score", c->autolearn_ham_score, -1000, 1000);
  if (c->autolearn_ham_score >= c->autolearn_spam_score)
    cfg.error("autolearn_ham_score", "must be below autolearn_spam_score");
  std::string error;
  bayes::ClassifierPtr classifier = bayes::Classifier::open(*c, &error);
  // A store that cannot be opened is not a reason to refuse mail: the server runs
  // without Bayes (no BAYES_* symbol, the score set without Bayes) and says why.
  if (!classifier)
    spdlog::error("bayes: {} (key {}); classifying without Bayes", error, cfg.path_of(c->store == "redis" ? "redis" : "path"));
  else if (!error.empty())
    spdlog::error("bayes: {}; classifying without Bayes until it can be read", error);
  return std::make_shared<BayesFilter>(std::move(c), std::move(classifier));
}

}  // namespace mxgate
