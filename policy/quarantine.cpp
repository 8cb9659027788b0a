#include "policy/quarantine.hpp"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <sstream>

#include "base/sqlite.hpp"
#include "filters/config_node.hpp"

namespace mxgate {

namespace fs = std::filesystem;

QuarantineConfig read_quarantine_config(ConfigMap& m, const std::string& config_file) {
  QuarantineConfig c;
  m.get("dir", c.dir);
  if (!c.dir.empty() && c.dir[0] != '/') {
    fs::path base = fs::path(config_file).parent_path();
    c.dir = (base.empty() ? fs::path(".") : base) / c.dir;
  }
  std::chrono::milliseconds keep = c.retention;
  m.get_duration("retention", keep, std::chrono::milliseconds(0), std::chrono::hours(24 * 3650));
  c.retention = std::chrono::duration_cast<std::chrono::seconds>(keep);
  m.get("learn_on_release", c.learn_on_release);
  m.get("learn_on_delete", c.learn_on_delete);
  return c;
}

namespace {

const char* const kSchema = R"(
CREATE TABLE IF NOT EXISTS messages (
  id TEXT PRIMARY KEY,
  time INTEGER NOT NULL,
  txn TEXT NOT NULL DEFAULT '',
  client_ip TEXT NOT NULL DEFAULT '',
  helo TEXT NOT NULL DEFAULT '',
  mail_from TEXT NOT NULL DEFAULT '',
  rcpts TEXT NOT NULL DEFAULT '',
  header_from TEXT NOT NULL DEFAULT '',
  subject TEXT NOT NULL DEFAULT '',
  message_id TEXT NOT NULL DEFAULT '',
  size INTEGER NOT NULL DEFAULT 0,
  score REAL NOT NULL DEFAULT 0,
  auth_results TEXT NOT NULL DEFAULT '',
  rule TEXT NOT NULL DEFAULT '',
  state TEXT NOT NULL DEFAULT 'held',
  released_at INTEGER NOT NULL DEFAULT 0,
  released_to TEXT NOT NULL DEFAULT '',
  release_reply TEXT NOT NULL DEFAULT '',
  path TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_time ON messages(time);
CREATE TABLE IF NOT EXISTS symbols (
  msg TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
  seq INTEGER NOT NULL,
  name TEXT NOT NULL,
  score REAL NOT NULL,
  detail TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (msg, seq)
);
)";

// Addresses cannot contain line breaks (RFC 5321), so a list is one per line.
std::string join_lines(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : "\n") + s;
  return out;
}
std::vector<std::string> split_lines(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(line);
  return out;
}

std::string errno_text(const std::string& what, const std::string& path) {
  return what + " " + path + ": " + std::strerror(errno);
}

// fsync a file or directory by path.
bool sync_path(const std::string& path, int flags, std::string* error) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) {
    *error = errno_text("cannot open", path);
    return false;
  }
  bool ok = ::fsync(fd) == 0;
  if (!ok) *error = errno_text("cannot fsync", path);
  ::close(fd);
  return ok;
}

std::string new_id(std::int64_t now) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  std::time_t t = static_cast<std::time_t>(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d%02d%02d-%02d%02d%02d-%08x", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<unsigned>(rng() & 0xffffffffu));
  return buf;
}

using sql::Stmt;
using sql::exec;
using sql::db_error;

const char* const kColumns =
    "id, time, txn, client_ip, helo, mail_from, rcpts, header_from, subject, message_id, size, score, "
    "auth_results, rule, state, released_at, released_to, release_reply, path";

QuarantineRecord row_of(Stmt& s) {
  QuarantineRecord r;
  r.id = s.text(0);
  r.time = s.int64(1);
  r.txn = s.text(2);
  r.client_ip = s.text(3);
  r.helo = s.text(4);
  r.mail_from = s.text(5);
  r.rcpts = split_lines(s.text(6));
  r.header_from = s.text(7);
  r.subject = s.text(8);
  r.message_id = s.text(9);
  r.size = static_cast<std::uint64_t>(s.int64(10));
  r.score = s.real(11);
  r.auth_results = s.text(12);
  r.rule = s.text(13);
  r.state = s.text(14);
  r.released_at = s.int64(15);
  r.released_to = split_lines(s.text(16));
  r.release_reply = s.text(17);
  r.path = s.text(18);
  return r;
}

bool load_symbols(sqlite3* db, QuarantineRecord& r) {
  Stmt s(db, "SELECT name, score, detail FROM symbols WHERE msg = ?1 ORDER BY seq");
  if (!s.ok()) return false;
  s.bind(1, r.id);
  while (s.step() == SQLITE_ROW) r.symbols.emplace_back(s.text(0), s.real(1), s.text(2));
  return true;
}

// LIKE with our own escape character, so % and _ in a search are literal.
std::string like_pattern(const std::string& needle) {
  std::string p = "%";
  for (char c : needle) {
    if (c == '%' || c == '_' || c == '\\') p += '\\';
    p += c;
  }
  return p + "%";
}

}  // namespace

std::unique_ptr<Quarantine> Quarantine::open(const std::string& dir, std::string* error) {
  std::error_code ec;
  fs::create_directories(fs::path(dir) / "messages", ec);
  if (ec) {
    *error = "cannot create " + (fs::path(dir) / "messages").string() + ": " + ec.message();
    return nullptr;
  }
  std::unique_ptr<Quarantine> q(new Quarantine());
  q->dir_ = dir;
  std::string db_path = (fs::path(dir) / "index.sqlite").string();
  if (sqlite3_open_v2(db_path.c_str(), &q->db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                      nullptr) != SQLITE_OK) {
    *error = "cannot open " + db_path + ": " + (q->db_ ? sqlite3_errmsg(q->db_) : "out of memory");
    return nullptr;
  }
  // The server writes while an admin's CLI reads or releases: wait for a lock for up
  // to 10 s rather than fail at once.
  sqlite3_busy_timeout(q->db_, 10000);
  // WAL lets readers run beside the writer; synchronous=FULL makes each commit
  // durable when it returns (NORMAL would lose the last commits on power loss in WAL).
  if (!exec(q->db_, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;", error) ||
      !exec(q->db_, kSchema, error)) {
    *error = db_path + ": " + *error;
    return nullptr;
  }
  return q;
}

Quarantine::~Quarantine() {
  if (db_) sqlite3_close_v2(db_);
}

bool Quarantine::store(QuarantineRecord& rec, std::string_view data, std::string* error) {
  std::lock_guard<std::mutex> lock(mu_);
  rec.time = static_cast<std::int64_t>(std::time(nullptr));
  rec.id = new_id(rec.time);
  rec.size = rec.size ? rec.size : data.size();
  const std::string day = rec.id.substr(0, 8);
  const fs::path day_dir = fs::path(dir_) / "messages" / day;
  rec.path = "messages/" + day + "/" + rec.id + ".eml";
  std::error_code ec;
  fs::create_directories(day_dir, ec);
  if (ec) {
    *error = "cannot create " + day_dir.string() + ": " + ec.message();
    return false;
  }
  const std::string file = (fs::path(dir_) / rec.path).string();
  int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
  if (fd < 0) {
    *error = errno_text("cannot create", file);
    return false;
  }
  std::size_t done = 0;
  bool ok = true;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      *error = errno_text("cannot write", file);
      ok = false;
      break;
    }
    done += static_cast<std::size_t>(n);
  }
  if (ok && ::fsync(fd) != 0) {
    *error = errno_text("cannot fsync", file);
    ok = false;
  }
  if (::close(fd) != 0 && ok) {
    *error = errno_text("cannot close", file);
    ok = false;
  }
  // The file's directory entry must be durable too, and so must the day folder's
  // entry in messages/: synced every time, not only by whoever created the folder —
  // that store may have failed before its sync, or be another process's.
  if (ok) ok = sync_path(day_dir.string(), O_RDONLY | O_DIRECTORY, error);
  if (ok) ok = sync_path((fs::path(dir_) / "messages").string(), O_RDONLY | O_DIRECTORY, error);
  if (!ok) {
    ::unlink(file.c_str());
    return false;
  }
  auto fail = [&](const std::string& why) {
    *error = why;
    exec(db_, "ROLLBACK", error);
    *error = why;
    ::unlink(file.c_str());
    return false;
  };
  if (!exec(db_, "BEGIN IMMEDIATE", error)) {
    ::unlink(file.c_str());
    return false;
  }
  {
    Stmt s(db_,
           "INSERT INTO messages (id, time, txn, client_ip, helo, mail_from, rcpts, header_from, subject, message_id, "
           "size, score, auth_results, rule, state, path) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, "
           "?13, ?14, 'held', ?15)");
    if (!s.ok()) return fail(db_error(db_));
    s.bind(1, rec.id);
    s.bind(2, rec.time);
    s.bind(3, rec.txn);
    s.bind(4, rec.client_ip);
    s.bind(5, rec.helo);
    s.bind(6, rec.mail_from);
    s.bind(7, join_lines(rec.rcpts));
    s.bind(8, rec.header_from);
    s.bind(9, rec.subject);
    s.bind(10, rec.message_id);
    s.bind(11, static_cast<std::int64_t>(rec.size));
    s.bind(12, rec.score);
    s.bind(13, rec.auth_results);
    s.bind(14, rec.rule);
    s.bind(15, rec.path);
    if (s.step() != SQLITE_DONE) return fail(db_error(db_));
  }
  for (std::size_t i = 0; i < rec.symbols.size(); ++i) {
    Stmt s(db_, "INSERT INTO symbols (msg, seq, name, score, detail) VALUES (?1, ?2, ?3, ?4, ?5)");
    if (!s.ok()) return fail(db_error(db_));
    s.bind(1, rec.id);
    s.bind(2, static_cast<std::int64_t>(i));
    s.bind(3, rec.symbols[i].name);
    s.bind(4, rec.symbols[i].score);
    s.bind(5, rec.symbols[i].detail);
    if (s.step() != SQLITE_DONE) return fail(db_error(db_));
  }
  if (!exec(db_, "COMMIT", error)) return fail(*error);
  return true;
}

std::vector<QuarantineRecord> Quarantine::list(const QuarantineQuery& q, std::string* error) {
  std::lock_guard<std::mutex> lock(mu_);
  std::string sql = std::string("SELECT ") + kColumns + " FROM messages WHERE time >= ?1 AND time <= ?2";
  if (!q.from.empty()) sql += " AND (mail_from LIKE ?3 ESCAPE '\\' OR header_from LIKE ?3 ESCAPE '\\')";
  if (!q.rcpt.empty()) sql += " AND rcpts LIKE ?4 ESCAPE '\\'";
  if (!q.rule.empty())
    sql += " AND (rule LIKE ?5 ESCAPE '\\' OR EXISTS (SELECT 1 FROM symbols WHERE msg = id AND name LIKE ?5 ESCAPE '\\'))";
  if (!q.subject.empty()) sql += " AND subject LIKE ?6 ESCAPE '\\'";
  sql += " ORDER BY time DESC, rowid DESC LIMIT ?7";  // rowid: arrival order within a second
  std::vector<QuarantineRecord> out;
  Stmt s(db_, sql.c_str());
  if (!s.ok()) {
    *error = db_error(db_);
    return out;
  }
  s.bind(1, q.since.value_or(0));
  s.bind(2, q.until.value_or(INT64_MAX));
  if (!q.from.empty()) s.bind(3, like_pattern(q.from));
  if (!q.rcpt.empty()) s.bind(4, like_pattern(q.rcpt));
  if (!q.rule.empty()) s.bind(5, like_pattern(q.rule));
  if (!q.subject.empty()) s.bind(6, like_pattern(q.subject));
  s.bind(7, static_cast<std::int64_t>(q.limit));
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) out.push_back(row_of(s));
  if (rc != SQLITE_DONE) *error = db_error(db_);
  for (auto& r : out) load_symbols(db_, r);
  return out;
}

std::optional<QuarantineRecord> Quarantine::get(const std::string& id, std::string* error) {
  std::lock_guard<std::mutex> lock(mu_);
  Stmt s(db_, (std::string("SELECT ") + kColumns + " FROM messages WHERE id = ?1").c_str());
  if (!s.ok()) {
    *error = db_error(db_);
    return std::nullopt;
  }
  s.bind(1, id);
  int rc = s.step();
  if (rc != SQLITE_ROW) {
    *error = rc == SQLITE_DONE ? "no such message: " + id : db_error(db_);
    return std::nullopt;
  }
  QuarantineRecord r = row_of(s);
  load_symbols(db_, r);
  return r;
}

bool Quarantine::read_message(const QuarantineRecord& rec, std::string& out, std::string* error) {
  const std::string file = (fs::path(dir_) / rec.path).string();
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    *error = errno_text("cannot read", file);
    return false;
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  out = ss.str();
  return true;
}

bool Quarantine::mark_released(const std::string& id, const std::vector<std::string>& to, const std::string& reply,
                               std::string* error) {
  std::lock_guard<std::mutex> lock(mu_);
  Stmt s(db_, "UPDATE messages SET state = 'released', released_at = ?2, released_to = ?3, release_reply = ?4 WHERE id = ?1");
  if (!s.ok()) {
    *error = db_error(db_);
    return false;
  }
  s.bind(1, id);
  s.bind(2, static_cast<std::int64_t>(std::time(nullptr)));
  s.bind(3, join_lines(to));
  s.bind(4, reply);
  if (s.step() != SQLITE_DONE) {
    *error = db_error(db_);
    return false;
  }
  return true;
}

bool Quarantine::remove(const std::string& id, std::string* error) {
  std::string path;
  {
    std::lock_guard<std::mutex> lock(mu_);
    Stmt s(db_, "SELECT path FROM messages WHERE id = ?1");
    if (!s.ok()) {
      *error = db_error(db_);
      return false;
    }
    s.bind(1, id);
    int rc = s.step();
    if (rc != SQLITE_ROW) {
      *error = rc == SQLITE_DONE ? "no such message: " + id : db_error(db_);
      return false;
    }
    path = s.text(0);
    Stmt d(db_, "DELETE FROM messages WHERE id = ?1");
    if (!d.ok()) {
      *error = db_error(db_);
      return false;
    }
    d.bind(1, id);
    if (d.step() != SQLITE_DONE) {
      *error = db_error(db_);
      return false;
    }
  }
  // Row first, then file: a crash in between leaves an orphan file, never a row
  // without its message.
  std::error_code ec;
  fs::remove(fs::path(dir_) / path, ec);
  return true;
}

std::size_t Quarantine::purge(std::int64_t before, std::string* error) {
  // Files are listed before the rows are read: a file whose row is committed after
  // the listing is then either not listed or known. And a file counts as an orphan
  // only once it is an hour old, whatever `before` says: a store() may have written
  // its file and still be waiting for the index lock.
  constexpr std::int64_t kOrphanGrace = 3600;
  const std::int64_t orphan_before = std::min<std::int64_t>(before, static_cast<std::int64_t>(std::time(nullptr)) - kOrphanGrace);
  const fs::path messages = fs::path(dir_) / "messages";
  std::error_code ec;
  std::vector<fs::path> days;
  std::vector<std::pair<std::string, fs::path>> files;  // relative path, full path
  for (auto day = fs::directory_iterator(messages, ec); !ec && day != fs::directory_iterator(); day.increment(ec))
    if (day->is_directory()) days.push_back(day->path());
  for (const auto& day : days) {
    ec.clear();
    for (auto f = fs::directory_iterator(day, ec); !ec && f != fs::directory_iterator(); f.increment(ec)) {
      struct stat st {};
      if (::stat(f->path().c_str(), &st) != 0 || st.st_mtime >= orphan_before) continue;
      files.emplace_back("messages/" + day.filename().string() + "/" + f->path().filename().string(), f->path());
    }
  }
  std::vector<std::pair<std::string, std::string>> old;
  std::set<std::string> known;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!exec(db_, "BEGIN IMMEDIATE", error)) return 0;
    Stmt s(db_, "SELECT id, path, time FROM messages");
    Stmt d(db_, "DELETE FROM messages WHERE time < ?1");
    if (!s.ok() || !d.ok()) {
      *error = db_error(db_);
      exec(db_, "ROLLBACK", error);
      return 0;
    }
    int rc;
    while ((rc = s.step()) == SQLITE_ROW) {
      if (s.int64(2) < before) old.emplace_back(s.text(0), s.text(1));
      else known.insert(s.text(1));
    }
    d.bind(1, before);
    if (rc != SQLITE_DONE || d.step() != SQLITE_DONE) {
      *error = db_error(db_);
      std::string ignored;
      exec(db_, "ROLLBACK", &ignored);
      return 0;
    }
    if (!exec(db_, "COMMIT", error)) return 0;
  }
  // Rows first (committed above), then files: a crash in between leaves orphans,
  // never a row without its message.
  for (const auto& [id, path] : old) fs::remove(fs::path(dir_) / path, ec);
  for (const auto& [rel, full] : files)
    if (!known.count(rel)) fs::remove(full, ec);
  // Today's folder stays even when empty: store() may be about to write into it.
  const std::string today = new_id(static_cast<std::int64_t>(std::time(nullptr))).substr(0, 8);
  for (const auto& day : days) {
    ec.clear();
    if (day.filename().string() < today && fs::is_empty(day, ec) && !ec) fs::remove(day, ec);
  }
  return old.size();
}

}  // namespace mxgate
