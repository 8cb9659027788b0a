#include "filters/bayes/bayes_store.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <filesystem>
#include <mutex>

#include "base/sqlite.hpp"

namespace mxgate::bayes {

using sql::db_error;
using sql::exec;
using sql::Stmt;

// ------------------------------------------------------------------ TokenTable

TokenTable::TokenTable(std::vector<Entry> entries, Totals totals, std::uint64_t generation, std::string tokenizer)
    : totals_(totals), generation_(generation), tokenizer_(std::move(tokenizer)) {
  // At most half full: linear probes stay short.
  std::size_t cap = 16;
  while (cap < entries.size() * 2) cap <<= 1;
  slots_.assign(cap, Entry{});
  mask_ = cap - 1;
  for (const auto& e : entries) {
    if (e.token == 0) continue;
    std::size_t i = static_cast<std::size_t>(e.token) & mask_;
    while (slots_[i].token != 0 && slots_[i].token != e.token) i = (i + 1) & mask_;
    if (slots_[i].token == 0) ++size_;
    slots_[i] = e;
  }
}

TokenCounts TokenTable::find(std::uint64_t token) const {
  std::size_t i = static_cast<std::size_t>(token) & mask_;
  while (slots_[i].token != 0) {
    if (slots_[i].token == token) return slots_[i].counts;
    i = (i + 1) & mask_;
  }
  return {};
}

const char* learn_status_name(LearnStatus s) {
  switch (s) {
    case LearnStatus::Learned: return "learned";
    case LearnStatus::Relearned: return "relearned";
    case LearnStatus::AlreadyLearned: return "already learned";
    case LearnStatus::Forgotten: return "forgotten";
    case LearnStatus::NotLearned: return "not learned";
  }
  return "?";
}

namespace {

// Tokens are 64-bit hashes; SQLite's integers are signed 64-bit.
std::int64_t key(std::uint64_t t) { return static_cast<std::int64_t>(t); }

constexpr const char* kSchema =
    "CREATE TABLE IF NOT EXISTS bayes_vars(name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS bayes_token(token INTEGER PRIMARY KEY, spam INTEGER NOT NULL,"
    " ham INTEGER NOT NULL, atime INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS bayes_token_atime ON bayes_token(atime);"
    "CREATE TABLE IF NOT EXISTS bayes_seen(msgid TEXT PRIMARY KEY, class TEXT NOT NULL,"
    " atime INTEGER NOT NULL) WITHOUT ROWID;"
    "INSERT OR IGNORE INTO bayes_vars VALUES('schema', '1'), ('nspam', '0'), ('nham', '0'),"
    " ('generation', '0'), ('tokenizer', '');";

class SqliteStore final : public BayesStore {
 public:
  ~SqliteStore() override {
    if (db_) sqlite3_close_v2(db_);
  }

  static std::unique_ptr<BayesStore> open(const std::string& path, std::string* error) {
    std::error_code ec;
    std::filesystem::path dir = std::filesystem::path(path).parent_path();
    if (!dir.empty()) std::filesystem::create_directories(dir, ec);
    std::unique_ptr<SqliteStore> s(new SqliteStore());
    s->path_ = path;
    if (sqlite3_open_v2(path.c_str(), &s->db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                        nullptr) != SQLITE_OK) {
      *error = "cannot open " + path + ": " + (s->db_ ? sqlite3_errmsg(s->db_) : "out of memory");
      return nullptr;
    }
    // The server reads while `mxgate learn` writes: WAL, and wait for the other's
    // transaction rather than fail. Learned counts are rebuilt by learning again
    // if the last transactions before a crash are lost: NORMAL is enough.
    sqlite3_busy_timeout(s->db_, 10000);
    if (!exec(s->db_, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", error) ||
        !exec(s->db_, kSchema, error)) {
      *error = path + ": " + *error;
      return nullptr;
    }
    return s;
  }

  std::string describe() const override { return "sqlite " + path_; }

  bool learn(std::span<const LearnItem> items, bool forget, std::int64_t now, const std::string& tokenizer,
             std::vector<LearnStatus>* status, std::string* error) override {
    std::lock_guard lock(mu_);
    status->clear();
    if (!exec(db_, "BEGIN IMMEDIATE", error)) return false;
    bool ok = learn_locked(items, forget, now, tokenizer, status, error);
    if (ok && exec(db_, "COMMIT", error)) return true;
    std::string ignored;
    exec(db_, "ROLLBACK", &ignored);
    status->clear();
    return false;
  }

  bool stats(StoreStats* out, std::string* error) override {
    std::lock_guard lock(mu_);
    *out = {};
    if (!read_vars(&out->totals, &out->generation, &out->tokenizer, error)) return false;
    Stmt q(db_, "SELECT count(*), coalesce(min(atime), 0), coalesce(max(atime), 0) FROM bayes_token");
    if (!q.ok() || q.step() != SQLITE_ROW) return fail(error);
    out->tokens = static_cast<std::uint64_t>(q.int64(0));
    out->oldest_atime = q.int64(1);
    out->newest_atime = q.int64(2);
    Stmt n(db_, "SELECT count(*) FROM bayes_seen");
    if (!n.ok() || n.step() != SQLITE_ROW) return fail(error);
    out->messages_seen = static_cast<std::uint64_t>(n.int64(0));
    return true;
  }

  bool generation(std::uint64_t* out, std::string* error) override {
    std::lock_guard lock(mu_);
    Stmt q(db_, "SELECT value FROM bayes_vars WHERE name = 'generation'");
    if (!q.ok() || q.step() != SQLITE_ROW) return fail(error);
    *out = std::strtoull(q.text(0).c_str(), nullptr, 10);
    return true;
  }

  bool tokenizer(std::string* out, std::string* error) override {
    std::lock_guard lock(mu_);
    Stmt q(db_, "SELECT value FROM bayes_vars WHERE name = 'tokenizer'");
    if (!q.ok()) return fail(error);
    int rc = q.step();
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return fail(error);
    *out = rc == SQLITE_ROW ? q.text(0) : std::string();
    return true;
  }

  TokenTablePtr load(std::string* error) override {
    std::lock_guard lock(mu_);
    // One read transaction: the counts and the totals agree.
    if (!exec(db_, "BEGIN", error)) return nullptr;
    Totals totals;
    std::uint64_t gen = 0;
    std::string tokenizer;
    std::vector<TokenTable::Entry> entries;
    bool ok = read_vars(&totals, &gen, &tokenizer, error);
    if (ok) {
      Stmt q(db_, "SELECT token, spam, ham FROM bayes_token");
      if (!q.ok()) ok = fail(error);
      int rc = SQLITE_ROW;
      while (ok && (rc = q.step()) == SQLITE_ROW) {
        TokenTable::Entry e;
        e.token = static_cast<std::uint64_t>(q.int64(0));
        e.counts.spam = static_cast<std::uint32_t>(std::clamp<std::int64_t>(q.int64(1), 0, UINT32_MAX));
        e.counts.ham = static_cast<std::uint32_t>(std::clamp<std::int64_t>(q.int64(2), 0, UINT32_MAX));
        entries.push_back(e);
      }
      if (ok && rc != SQLITE_DONE) ok = fail(error);
    }
    std::string ignored;
    exec(db_, "COMMIT", &ignored);
    if (!ok) return nullptr;
    return std::make_shared<TokenTable>(std::move(entries), totals, gen, std::move(tokenizer));
  }

  bool expire(std::uint64_t max_tokens, ExpireResult* out, std::string* error) override {
    std::lock_guard lock(mu_);
    *out = {};
    Stmt c(db_, "SELECT count(*) FROM bayes_token");
    if (!c.ok() || c.step() != SQLITE_ROW) return fail(error);
    const auto count = static_cast<std::uint64_t>(c.int64(0));
    if (count <= max_tokens) return true;
    const std::uint64_t keep = max_tokens - max_tokens / 4;
    if (!exec(db_, "BEGIN IMMEDIATE", error)) return false;
    bool ok = true;
    {
      // Oldest first; among equally old, the rarest (a token seen once is the
      // cheapest to lose).
      Stmt d(db_, "DELETE FROM bayes_token WHERE token IN (SELECT token FROM bayes_token ORDER BY atime, spam + ham"
                  " LIMIT ?1)");
      d.bind(1, static_cast<std::int64_t>(count - keep));
      if (!d.ok() || d.step() != SQLITE_DONE) ok = fail(error);
      else out->tokens_deleted = static_cast<std::uint64_t>(sqlite3_changes(db_));
    }
    if (ok) {
      // The learned-message ids are bounded on their own: forgetting one that is
      // still counted would let it count twice if learned again, so only the
      // oldest go, and only past a cap far above the tokens' turnover.
      const std::int64_t max_seen = static_cast<std::int64_t>(std::max<std::uint64_t>(max_tokens, 100'000));
      Stmt d(db_, "DELETE FROM bayes_seen WHERE msgid IN (SELECT msgid FROM bayes_seen ORDER BY atime"
                  " LIMIT max(0, (SELECT count(*) FROM bayes_seen) - ?1))");
      d.bind(1, max_seen);
      if (!d.ok() || d.step() != SQLITE_DONE) ok = fail(error);
      else out->seen_deleted = static_cast<std::uint64_t>(sqlite3_changes(db_));
    }
    if (ok) ok = bump_generation(error);
    if (ok && exec(db_, "COMMIT", error)) return true;
    std::string ignored;
    exec(db_, "ROLLBACK", &ignored);
    return false;
  }

 private:
  SqliteStore() = default;

  bool fail(std::string* error) {
    *error = path_ + ": " + db_error(db_);
    return false;
  }

  bool read_vars(Totals* t, std::uint64_t* gen, std::string* tokenizer, std::string* error) {
    Stmt q(db_, "SELECT name, value FROM bayes_vars");
    if (!q.ok()) return fail(error);
    int rc;
    while ((rc = q.step()) == SQLITE_ROW) {
      std::string n = q.text(0), v = q.text(1);
      if (n == "nspam") t->nspam = std::strtoull(v.c_str(), nullptr, 10);
      else if (n == "nham") t->nham = std::strtoull(v.c_str(), nullptr, 10);
      else if (n == "generation") *gen = std::strtoull(v.c_str(), nullptr, 10);
      else if (n == "tokenizer") *tokenizer = v;
    }
    return rc == SQLITE_DONE || fail(error);
  }

  bool set_var(const char* name, const std::string& value, std::string* error) {
    Stmt u(db_, "INSERT INTO bayes_vars VALUES(?1, ?2) ON CONFLICT(name) DO UPDATE SET value = excluded.value");
    u.bind(1, std::string(name));
    u.bind(2, value);
    return (u.ok() && u.step() == SQLITE_DONE) || fail(error);
  }

  bool bump_generation(std::string* error) {
    Stmt u(db_, "UPDATE bayes_vars SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) WHERE name = 'generation'");
    return (u.ok() && u.step() == SQLITE_DONE) || fail(error);
  }

  bool learn_locked(std::span<const LearnItem> items, bool forget, std::int64_t now, const std::string& tokenizer,
                    std::vector<LearnStatus>* status, std::string* error) {
    Totals t;
    std::uint64_t gen = 0;
    std::string stored_tokenizer;
    if (!read_vars(&t, &gen, &stored_tokenizer, error)) return false;
    Stmt seen(db_, "SELECT class FROM bayes_seen WHERE msgid = ?1");
    Stmt mark(db_, "INSERT INTO bayes_seen VALUES(?1, ?2, ?3) ON CONFLICT(msgid) DO UPDATE SET class = excluded.class,"
                   " atime = excluded.atime");
    Stmt unmark(db_, "DELETE FROM bayes_seen WHERE msgid = ?1");
    Stmt add(db_, "INSERT INTO bayes_token VALUES(?1, ?2, ?3, ?4) ON CONFLICT(token) DO UPDATE SET"
                  " spam = spam + excluded.spam, ham = ham + excluded.ham, atime = max(atime, excluded.atime)");
    Stmt sub(db_, "UPDATE bayes_token SET spam = max(spam - ?2, 0), ham = max(ham - ?3, 0) WHERE token = ?1");
    Stmt drop(db_, "DELETE FROM bayes_token WHERE token = ?1 AND spam = 0 AND ham = 0");
    if (!seen.ok() || !mark.ok() || !unmark.ok() || !add.ok() || !sub.ok() || !drop.ok()) return fail(error);

    auto apply = [&](const LearnItem& it, bool spam, int sign) {
      for (std::uint64_t tok : it.tokens) {
        if (sign > 0) {
          add.reset();
          add.bind(1, key(tok));
          add.bind(2, std::int64_t{spam ? 1 : 0});
          add.bind(3, std::int64_t{spam ? 0 : 1});
          add.bind(4, now);
          if (add.step() != SQLITE_DONE) return fail(error);
        } else {
          sub.reset();
          sub.bind(1, key(tok));
          sub.bind(2, std::int64_t{spam ? 1 : 0});
          sub.bind(3, std::int64_t{spam ? 0 : 1});
          if (sub.step() != SQLITE_DONE) return fail(error);
          drop.reset();
          drop.bind(1, key(tok));
          if (drop.step() != SQLITE_DONE) return fail(error);
        }
      }
      std::uint64_t& n = spam ? t.nspam : t.nham;
      if (sign > 0) ++n;
      else if (n > 0) --n;
      return true;
    };

    bool changed = false;
    for (const auto& it : items) {
      seen.reset();
      seen.bind(1, it.msgid);
      int rc = seen.step();
      if (rc != SQLITE_ROW && rc != SQLITE_DONE) return fail(error);
      const bool known = rc == SQLITE_ROW;
      const bool was_spam = known && seen.text(0) == "s";
      if (forget) {
        if (!known) {
          status->push_back(LearnStatus::NotLearned);
          continue;
        }
        if (!apply(it, was_spam, -1)) return false;
        unmark.reset();
        unmark.bind(1, it.msgid);
        if (unmark.step() != SQLITE_DONE) return fail(error);
        status->push_back(LearnStatus::Forgotten);
        changed = true;
        continue;
      }
      if (known && was_spam == it.spam) {
        status->push_back(LearnStatus::AlreadyLearned);
        continue;
      }
      if (known && !apply(it, was_spam, -1)) return false;
      if (!apply(it, it.spam, +1)) return false;
      mark.reset();
      mark.bind(1, it.msgid);
      mark.bind(2, std::string(it.spam ? "s" : "h"));
      mark.bind(3, now);
      if (mark.step() != SQLITE_DONE) return fail(error);
      status->push_back(known ? LearnStatus::Relearned : LearnStatus::Learned);
      changed = true;
    }
    if (!changed) return true;
    if (!set_var("nspam", std::to_string(t.nspam), error) || !set_var("nham", std::to_string(t.nham), error))
      return false;
    if (stored_tokenizer.empty() && !set_var("tokenizer", tokenizer, error)) return false;
    return bump_generation(error);
  }

  std::mutex mu_;
  sqlite3* db_ = nullptr;
  std::string path_;
};

}  // namespace

std::unique_ptr<BayesStore> open_sqlite_store(const std::string& path, std::string* error) {
  return SqliteStore::open(path, error);
}

}  // namespace mxgate::bayes
