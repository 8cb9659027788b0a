// Where the classifier's knowledge lives: per token, in how many learned spam and
// ham messages it appeared; the number of messages learned of each kind; and
// which messages were learned as what (so one learned twice counts once, and one
// learned as the other kind moves over, as SpamAssassin's "seen" database does).
//
// BayesStore is the seam; SQLite is the embedded store (one file, WAL journal, so
// the server classifies while `mxgate learn` writes). The server does not ask the
// database per token: it classifies against a TokenTable, an immutable in-memory
// copy of every token's counts, re-read when the database's generation (bumped by
// every learn) has changed (bayes_filter.cpp). Tokens expire oldest first once
// the database holds more than its maximum.
#pragma once
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "filters/bayes/bayes_classifier.hpp"

namespace mxgate::bayes {

// Every token's counts, for lookups without the database: open addressing,
// built once, read by any number of threads.
class TokenTable {
 public:
  struct Entry {
    std::uint64_t token = 0;  // 0 = empty slot (token_hash never returns 0)
    TokenCounts counts;
  };
  TokenTable(std::vector<Entry> entries, Totals totals, std::uint64_t generation, std::string tokenizer);
  TokenCounts find(std::uint64_t token) const;
  std::size_t size() const { return size_; }
  const Totals& totals() const { return totals_; }
  std::uint64_t generation() const { return generation_; }
  const std::string& tokenizer() const { return tokenizer_; }

 private:
  std::vector<Entry> slots_;
  std::size_t mask_ = 0;
  std::size_t size_ = 0;
  Totals totals_;
  std::uint64_t generation_ = 0;
  std::string tokenizer_;
};
using TokenTablePtr = std::shared_ptr<const TokenTable>;

struct LearnItem {
  std::string msgid;                  // message_learn_id(): the same for copies of one message
  bool spam = false;
  std::vector<std::uint64_t> tokens;  // distinct
};

enum class LearnStatus {
  Learned,         // new
  Relearned,       // was learned as the other kind: moved over
  AlreadyLearned,  // as this kind: nothing changed
  Forgotten,       // --forget of a learned message
  NotLearned,      // --forget of a message never learned
};
const char* learn_status_name(LearnStatus s);

struct StoreStats {
  Totals totals;
  std::uint64_t tokens = 0;
  std::uint64_t messages_seen = 0;
  std::int64_t oldest_atime = 0;  // unix seconds; 0 if empty
  std::int64_t newest_atime = 0;
  std::uint64_t generation = 0;
  std::string tokenizer;          // what learned it ("" before the first learn)
};

struct ExpireResult {
  std::uint64_t tokens_deleted = 0;
  std::uint64_t seen_deleted = 0;
};

class BayesStore {
 public:
  virtual ~BayesStore() = default;
  virtual std::string describe() const = 0;  // "sqlite /var/lib/mxgate/bayes.db"
  // The whole batch in one transaction: on failure nothing of it is kept. Each
  // item's status in *status. `tokenizer` is recorded on the first learn.
  virtual bool learn(std::span<const LearnItem> items, bool forget, std::int64_t now, const std::string& tokenizer,
                     std::vector<LearnStatus>* status, std::string* error) = 0;
  virtual bool stats(StoreStats* out, std::string* error) = 0;
  // Bumped by every learn that changed something: cheap to ask.
  virtual bool generation(std::uint64_t* out, std::string* error) = 0;
  // What learned the database ("" before the first learn): cheap to ask.
  virtual bool tokenizer(std::string* out, std::string* error) = 0;
  // Every token's counts.
  virtual TokenTablePtr load(std::string* error) = 0;
  // Over max_tokens: the least recently learned tokens go until 3/4 of it remain
  // (the rarest first among equally old). The learned-message ids are capped
  // apart, at max(max_tokens, 100000), oldest first.
  virtual bool expire(std::uint64_t max_tokens, ExpireResult* out, std::string* error) = 0;
};

// Opens (creating the file and its folder if needed) the SQLite store at path.
std::unique_ptr<BayesStore> open_sqlite_store(const std::string& path, std::string* error);

// Redis (bayes_redis.cpp): a farm of gateways sharing one database.
struct RedisSettings {
  std::string host = "127.0.0.1";
  int port = 6379;
  int db = 0;
  std::string password;
  std::string prefix = "mxgate:bayes:";
  std::chrono::milliseconds timeout{2000};  // connect and each command
};
// Always a store; *error says if Redis did not answer yet (every call reconnects).
std::unique_ptr<BayesStore> open_redis_store(const RedisSettings& settings, std::string* error);

}  // namespace mxgate::bayes
