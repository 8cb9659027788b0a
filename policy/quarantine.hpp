// Quarantine: held messages on disk, indexed in SQLite, for review and release.
//
// Layout under quarantine.dir:
//   index.sqlite               one row per message (WAL journal: the CLI reads while
//                              the server writes; a busy timeout rides out the locks)
//   messages/YYYYMMDD/ID.eml   the message as it would have been forwarded (our
//                              Authentication-Results and X-Spam-* headers on top), CRLF
//
// Never lose mail: store() writes the file, fsyncs it and its directory, then commits
// the row with synchronous=FULL — all before it returns, and the session says 250 only
// after that. A crash before the commit leaves at most an orphan file (the client
// never heard 250 and will send again); purge() removes orphans as it goes.
//
// Config: quarantine.dir (enables it), quarantine.retention (the server purges older
// messages). CLI: `mxgate quarantine list|show|release|delete|purge` (proxy/quarantine_cli.cpp).
#pragma once
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "filters/verdict.hpp"

struct sqlite3;

namespace mxgate {

class ConfigMap;

struct QuarantineConfig {
  std::string dir;                         // quarantine.dir ("" = no quarantine)
  std::chrono::seconds retention{30 * 86400};  // quarantine.retention (0 = keep forever)
  // The classifier (the bayes filter) learns a released message as ham and a
  // deleted one as spam: the admin's review is the best label there is.
  bool learn_on_release = false;           // quarantine.learn_on_release
  bool learn_on_delete = false;            // quarantine.learn_on_delete
  bool enabled() const { return !dir.empty(); }
};
// Reads the `quarantine` mapping; a relative dir is taken from the config file's folder.
QuarantineConfig read_quarantine_config(ConfigMap& m, const std::string& config_file);

struct QuarantineRecord {
  std::string id;               // "20261123-030706-1a2b3c4d"
  std::int64_t time = 0;        // unix seconds
  std::string txn;              // the session's transaction id, to find its log line
  std::string client_ip;
  std::string helo;
  std::string mail_from;
  std::vector<std::string> rcpts;
  std::string header_from;
  std::string subject;
  std::string message_id;
  std::uint64_t size = 0;
  double score = 0;
  std::vector<Symbol> symbols;
  std::string auth_results;     // our Authentication-Results value
  std::string rule;             // the policy rule that decided
  std::string state = "held";   // "held" or "released"
  std::int64_t released_at = 0;
  std::vector<std::string> released_to;
  std::string release_reply;
  std::string path;             // the message file, relative to dir
};

struct QuarantineQuery {
  std::optional<std::int64_t> since, until;  // unix seconds, inclusive
  std::string from, rcpt, rule, subject;     // case-insensitive substrings ("" = any)
  std::size_t limit = 50;
};

class Quarantine {
 public:
  // Opens (creating dir, messages/ and the index if needed). nullptr with *error set.
  static std::unique_ptr<Quarantine> open(const std::string& dir, std::string* error);
  ~Quarantine();
  Quarantine(const Quarantine&) = delete;
  Quarantine& operator=(const Quarantine&) = delete;

  // Stores `data` with `rec` (id, path and time are filled in). True only once the
  // file and the row are durable.
  bool store(QuarantineRecord& rec, std::string_view data, std::string* error);
  std::vector<QuarantineRecord> list(const QuarantineQuery& q, std::string* error);
  std::optional<QuarantineRecord> get(const std::string& id, std::string* error);
  bool read_message(const QuarantineRecord& rec, std::string& out, std::string* error);
  bool mark_released(const std::string& id, const std::vector<std::string>& to, const std::string& reply,
                     std::string* error);
  // Removes row and file; false with error "no such message" for an unknown id.
  bool remove(const std::string& id, std::string* error);
  // Removes every message older than `before` (unix seconds); returns how many.
  std::size_t purge(std::int64_t before, std::string* error);
  const std::string& dir() const { return dir_; }

 private:
  Quarantine() = default;
  std::string dir_;
  sqlite3* db_ = nullptr;
  std::mutex mu_;  // one connection; the server stores from one thread, the CLI is one process
};

}  // namespace mxgate
