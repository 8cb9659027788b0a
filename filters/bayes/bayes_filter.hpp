// BayesFilter: the learning classifier at end of data. It tokenizes the message
// (bayes_tokens.hpp), looks its tokens up in the learned counts and leaves the
// spam probability in FilterState::bayes; the content filter's check_bayes rules
// (BAYES_00 ... BAYES_999, in the builtin set and SpamAssassin's 23_bayes.cf)
// turn it into a symbol and its score, and switch the message to the score set
// SpamAssassin tuned for Bayes. List `bayes` before `content`.
//
// Silent until it has learned min_spam spam and min_ham ham (SpamAssassin: 200
// each): a classifier that has seen ten messages is guessing. Learning is
// `mxgate learn` (proxy/learn_cli.cpp), through the same Classifier.
//
// Config (filters: - bayes: {...}; docs/configuration.md):
//   store: sqlite                    sqlite (one machine) or redis (a farm)
//   path: /var/lib/mxgate/bayes.db   the SQLite database (relative: to the config file)
//   redis: {address: 127.0.0.1:6379, db: 0, password: "", prefix: "mxgate:bayes:", timeout: 2s}
//   min_spam: 200, min_ham: 200      learned messages before it answers
//   bigram_window: 1                 single words; 2..5: also word pairs up to window-1 apart
//   max_tokens_per_message: 10000
//   robs: 0.2, robx: 0.538, min_dev: 0.2   Robinson's S and x, the ignored band (bayes_classifier.hpp)
//   max_db_tokens: 1000000           expiry keeps the database below this
//   refresh: 10s                     how often the server looks for newly learned data
//   autolearn: false                 learn from clear verdicts (below); off by default
//   autolearn_spam_score: 12, autolearn_ham_score: 0.1
//
// Autolearn (SpamAssassin's bayes_auto_learn, its thresholds): once the client has
// its answer, a message whose score without the BAYES_* symbols (never the
// classifier's own vote) is at least autolearn_spam_score is learned as spam, one
// delivered below autolearn_ham_score as ham; not against the classifier's own
// firm verdict (BAYES_00/05 for spam, BAYES_95/99 for ham), not when a list or a
// filter's accept decided (no evidence about the content), not a tempfail.
// SpamAssassin also wants 3 header and 3 body points for spam; mxgate does not
// split them. On the work pool, one message at a time, never delaying a reply;
// a busy slot or a full queue skips the message, a store failure pauses autolearn
// for a minute.
#pragma once
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "filters/bayes/bayes_classifier.hpp"
#include "filters/bayes/bayes_store.hpp"
#include "filters/bayes/bayes_tokens.hpp"
#include "filters/filter.hpp"
#include "filters/filter_state.hpp"
#include "filters/message.hpp"
#include "filters/mime/mime.hpp"

namespace mxgate {

class ConfigMap;

struct BayesConfig {
  std::string store = "sqlite";                 // sqlite | redis
  std::string path = "/var/lib/mxgate/bayes.db";  // sqlite
  bayes::RedisSettings redis;                   // redis
  std::uint64_t min_spam = 200;
  std::uint64_t min_ham = 200;
  bayes::TokenOptions tokens;
  bayes::Params params;
  std::uint64_t max_db_tokens = 1'000'000;
  std::chrono::milliseconds refresh{10'000};
  bool autolearn = false;
  double autolearn_spam_score = 12.0;  // SpamAssassin's bayes_auto_learn_threshold_spam
  double autolearn_ham_score = 0.1;    // bayes_auto_learn_threshold_nonspam
};

namespace bayes {

// Autolearn's choice for an outcome: spam, ham, or nothing (nullopt).
std::optional<bool> autolearn_class(const BayesConfig& cfg, const MessageOutcome& out);

// What identifies a message for "learned twice counts once": its Message-ID and a
// digest of its body, so the copy in a mailbox, in the quarantine and in an mbox
// export (different headers added, Subject tagged) are one message, and two
// messages that share a Message-ID but not a body are two.
std::string message_learn_id(const Message& msg);

struct Answer {
  bool available = false;             // learned enough of both kinds
  std::optional<double> probability;
  std::string detail;
  // With details: the tokens that counted, strongest first, with their probability.
  std::vector<std::pair<std::string, double>> evidence;
};

// The store and the in-memory counts for one configuration.
class Classifier : public std::enable_shared_from_this<Classifier> {
 public:
  // Opens the store and reads its counts. Null and *error if the store cannot be
  // opened (the server then runs without Bayes and says so); a classifier and
  // *error if it opened but could not be read yet (Redis down: read again later).
  static std::shared_ptr<Classifier> open(const BayesConfig& cfg, std::string* error);

  const BayesConfig& config() const { return cfg_; }
  BayesStore& store() { return *store_; }
  // "1/w3": the tokenizer's version and the options that change its tokens; a
  // database learned by another cannot be used (its tokens would not match).
  std::string tokenizer_id() const;

  // Classifies with the counts as last read. With details, the counted tokens as
  // text (mxgate check).
  Answer classify(const MimeView& view, bool details = false) const;

  // Learns (or forgets) a batch in one transaction, then expires old tokens if the
  // database is over its size.
  bool learn(std::span<const LearnItem> items, bool forget, std::vector<LearnStatus>* status, std::string* error);
  LearnItem learn_item(const Message& msg, const MimeView& view, bool spam) const;

  // Re-reads the counts if the database changed since (a learn elsewhere): now, or
  // in the background at most every `refresh` (the server's path; never waits).
  bool refresh_now(std::string* error);
  void refresh_in_background();
  // Autolearn runs one message at a time: a slot, or false (one is running, or the
  // store failed within the last minute); autolearn_done frees it.
  bool autolearn_slot();
  void autolearn_done(bool ok);

 private:
  Classifier(BayesConfig cfg, std::unique_ptr<BayesStore> store);
  TokenTablePtr table() const;

  BayesConfig cfg_;
  std::unique_ptr<BayesStore> store_;
  mutable std::mutex mu_;
  TokenTablePtr table_;
  std::chrono::steady_clock::time_point last_check_{};
  bool refreshing_ = false;
  std::optional<bool> said_;  // whether it answers, as last logged
  std::chrono::steady_clock::time_point last_expire_{};
  bool autolearning_ = false;
  std::chrono::steady_clock::time_point autolearn_paused_until_{};
  std::string last_error_;  // logged once until it changes
};
using ClassifierPtr = std::shared_ptr<Classifier>;

}  // namespace bayes

class BayesFilter final : public Filter {
 public:
  BayesFilter(std::shared_ptr<const BayesConfig> cfg, bayes::ClassifierPtr classifier)
      : cfg_(std::move(cfg)), classifier_(std::move(classifier)) {}
  const char* name() const override { return "bayes"; }
  Task<Verdict> on_end_of_data(const Envelope& env, const Message& msg) override;
  void on_outcome(const Envelope& env, const std::shared_ptr<const Message>& msg, const MessageOutcome& out) override;
  const BayesConfig& config() const { return *cfg_; }
  // Null when the store could not be opened.
  const bayes::ClassifierPtr& classifier() const { return classifier_; }

 private:
  std::shared_ptr<const BayesConfig> cfg_;
  bayes::ClassifierPtr classifier_;
};

FilterPtr make_bayes_filter(ConfigMap& cfg);

}  // namespace mxgate
