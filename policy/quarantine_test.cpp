#include "policy/quarantine.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <utime.h>

#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <regex>
#include <thread>

namespace mxgate {
namespace {

namespace fs = std::filesystem;

struct TempDir {
  fs::path path;
  TempDir() {
    char tmpl[] = "/tmp/mxgate-quarantine-test.XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

QuarantineRecord record(std::string from, std::vector<std::string> rcpts, std::string subject, std::string rule,
                        double score) {
  QuarantineRecord r;
  r.txn = "S1.1";
  r.client_ip = "192.0.2.7";
  r.helo = "mail.example.net";
  r.mail_from = std::move(from);
  r.rcpts = std::move(rcpts);
  r.header_from = "Sender <" + r.mail_from + ">";
  r.subject = std::move(subject);
  r.message_id = "<1@example.net>";
  r.score = score;
  r.symbols = {Symbol("GTUBE", 1000, "GTUBE test string"), Symbol("SPF_PASS", -0.5, "ip=192.0.2.7")};
  r.auth_results = "mx.test; spf=pass smtp.mailfrom=example.net";
  r.rule = std::move(rule);
  return r;
}

TEST(Quarantine, StoreListGetReadDurablyOnDisk) {
  TempDir d;
  std::string err;
  auto q = Quarantine::open((d.path / "q").string(), &err);
  ASSERT_TRUE(q) << err;
  QuarantineRecord r = record("a@example.net", {"x@example.org", "y@example.org"}, "Buy now", "policy.thresholds.quarantine", 12.5);
  const std::string data = "X-Spam-Flag: YES\r\nSubject: Buy now\r\n\r\nbody\r\n";
  ASSERT_TRUE(q->store(r, data, &err)) << err;
  EXPECT_TRUE(std::regex_match(r.id, std::regex("[0-9]{8}-[0-9]{6}-[0-9a-f]{8}"))) << r.id;
  EXPECT_EQ(r.path, "messages/" + r.id.substr(0, 8) + "/" + r.id + ".eml");
  EXPECT_TRUE(fs::exists(d.path / "q" / r.path));
  EXPECT_TRUE(fs::exists(d.path / "q" / "index.sqlite"));

  // A second handle (the CLI while the server runs) sees it.
  auto q2 = Quarantine::open((d.path / "q").string(), &err);
  ASSERT_TRUE(q2) << err;
  auto got = q2->get(r.id, &err);
  ASSERT_TRUE(got) << err;
  EXPECT_EQ(got->mail_from, "a@example.net");
  EXPECT_EQ(got->rcpts, (std::vector<std::string>{"x@example.org", "y@example.org"}));
  EXPECT_EQ(got->subject, "Buy now");
  EXPECT_EQ(got->rule, "policy.thresholds.quarantine");
  EXPECT_DOUBLE_EQ(got->score, 12.5);
  EXPECT_EQ(got->size, data.size());
  EXPECT_EQ(got->state, "held");
  ASSERT_EQ(got->symbols.size(), 2u);
  EXPECT_EQ(got->symbols[0].name, "GTUBE");
  EXPECT_EQ(got->symbols[1].detail, "ip=192.0.2.7");
  EXPECT_EQ(got->auth_results, r.auth_results);
  std::string back;
  ASSERT_TRUE(q2->read_message(*got, back, &err)) << err;
  EXPECT_EQ(back, data);
  EXPECT_FALSE(q2->get("20990101-000000-deadbeef", &err));
  EXPECT_NE(err.find("no such message"), std::string::npos);
}

TEST(Quarantine, ListFiltersNewestFirst) {
  TempDir d;
  std::string err;
  auto q = Quarantine::open(d.path.string(), &err);
  ASSERT_TRUE(q) << err;
  QuarantineRecord a = record("alice@one.example", {"bob@example.org"}, "Invoice 100%_off", "policy.thresholds.quarantine", 11);
  QuarantineRecord b = record("carol@two.example", {"dave@example.com"}, "Hello", "policy.dmarc.quarantine two.example", 3);
  b.symbols = {Symbol("DMARC_FAIL", 1, "")};
  ASSERT_TRUE(q->store(a, "A\r\n\r\na\r\n", &err)) << err;
  ASSERT_TRUE(q->store(b, "B\r\n\r\nb\r\n", &err)) << err;
  auto ids = [&](QuarantineQuery qq) {
    std::vector<std::string> out;
    for (const auto& r : q->list(qq, &err)) out.push_back(r.mail_from);
    return out;
  };
  QuarantineQuery all;
  EXPECT_EQ(ids(all).size(), 2u);
  QuarantineQuery f;
  f.from = "ALICE";
  EXPECT_EQ(ids(f), std::vector<std::string>{"alice@one.example"});
  f = {};
  f.rcpt = "example.com";
  EXPECT_EQ(ids(f), std::vector<std::string>{"carol@two.example"});
  f = {};
  f.rule = "dmarc";  // the rule...
  EXPECT_EQ(ids(f), std::vector<std::string>{"carol@two.example"});
  f = {};
  f.rule = "GTUBE";  // ...or a symbol
  EXPECT_EQ(ids(f), std::vector<std::string>{"alice@one.example"});
  f = {};
  f.subject = "100%_";  // LIKE wildcards are literal
  EXPECT_EQ(ids(f), std::vector<std::string>{"alice@one.example"});
  f = {};
  f.subject = "0%";
  EXPECT_EQ(ids(f), std::vector<std::string>{"alice@one.example"});
  f = {};
  f.subject = "x_x";
  EXPECT_TRUE(ids(f).empty());
  f = {};
  f.limit = 1;
  EXPECT_EQ(ids(f).size(), 1u);
  f = {};
  f.since = static_cast<std::int64_t>(std::time(nullptr)) + 3600;
  EXPECT_TRUE(ids(f).empty());
  f = {};
  f.until = static_cast<std::int64_t>(std::time(nullptr)) - 3600;
  EXPECT_TRUE(ids(f).empty());
  EXPECT_TRUE(err.empty()) << err;
}

TEST(Quarantine, ReleaseDeleteAndPurge) {
  TempDir d;
  std::string err;
  auto q = Quarantine::open(d.path.string(), &err);
  ASSERT_TRUE(q) << err;
  QuarantineRecord a = record("a@example.net", {"x@example.org"}, "one", "r", 10);
  QuarantineRecord b = record("b@example.net", {"y@example.org"}, "two", "r", 10);
  ASSERT_TRUE(q->store(a, "one\r\n", &err));
  ASSERT_TRUE(q->store(b, "two\r\n", &err));
  ASSERT_TRUE(q->mark_released(a.id, {"other@example.org"}, "250 2.0.0 Ok: queued", &err)) << err;
  auto got = q->get(a.id, &err);
  EXPECT_EQ(got->state, "released");
  EXPECT_EQ(got->released_to, std::vector<std::string>{"other@example.org"});
  EXPECT_EQ(got->release_reply, "250 2.0.0 Ok: queued");
  EXPECT_GT(got->released_at, 0);

  ASSERT_TRUE(q->remove(a.id, &err)) << err;
  EXPECT_FALSE(fs::exists(d.path / a.path));
  EXPECT_FALSE(q->get(a.id, &err));
  EXPECT_FALSE(q->remove(a.id, &err));
  EXPECT_NE(err.find("no such message"), std::string::npos);

  // An orphan (a store that crashed before its commit) in an old day folder.
  fs::create_directories(d.path / "messages" / "20000101");
  std::ofstream(d.path / "messages" / "20000101" / "20000101-000000-00000000.eml") << "orphan";
  struct utimbuf old_time {946684800, 946684800};
  utime((d.path / "messages" / "20000101" / "20000101-000000-00000000.eml").c_str(), &old_time);
  // Purge before now: b is kept (stored this second), the orphan and its folder go.
  err.clear();
  std::size_t n = q->purge(static_cast<std::int64_t>(std::time(nullptr)) - 60, &err);
  EXPECT_EQ(n, 0u) << err;
  EXPECT_TRUE(q->get(b.id, &err));
  EXPECT_FALSE(fs::exists(d.path / "messages" / "20000101"));
  // A fresh file without a row (a store() between its fsync and its commit) is not
  // an orphan yet, whatever the purge's cut-off: it gets an hour.
  const fs::path fresh = d.path / b.path.substr(0, b.path.rfind('/')) / "99999999-999999-ffffffff.eml";
  std::ofstream(fresh) << "in flight";
  n = q->purge(static_cast<std::int64_t>(std::time(nullptr)) + 1, &err);
  EXPECT_EQ(n, 1u);
  EXPECT_TRUE(fs::exists(fresh));
  EXPECT_FALSE(q->get(b.id, &err));
  EXPECT_FALSE(fs::exists(d.path / b.path));
}

TEST(Quarantine, ConcurrentWriterAndReader) {
  TempDir d;
  std::string err;
  auto w = Quarantine::open(d.path.string(), &err);
  auto r = Quarantine::open(d.path.string(), &err);
  ASSERT_TRUE(w && r) << err;
  constexpr int kN = 40;
  std::thread writer([&] {
    for (int i = 0; i < kN; ++i) {
      std::string e;
      QuarantineRecord rec = record("w@example.net", {"x@example.org"}, "n" + std::to_string(i), "r", i);
      ASSERT_TRUE(w->store(rec, "m\r\n", &e)) << e;
    }
  });
  std::size_t seen = 0;
  while (seen < kN) {
    std::string e;
    QuarantineQuery all;
    all.limit = 1000;
    auto rows = r->list(all, &e);
    ASSERT_TRUE(e.empty()) << e;
    ASSERT_GE(rows.size(), seen);  // never goes back
    seen = rows.size();
  }
  writer.join();
  EXPECT_EQ(seen, static_cast<std::size_t>(kN));
}

TEST(Quarantine, UnusableDirectoryIsAnError) {
  TempDir d;
  std::ofstream(d.path / "file") << "x";
  std::string err;
  EXPECT_FALSE(Quarantine::open((d.path / "file").string(), &err));
  EXPECT_NE(err.find("file"), std::string::npos) << err;
  // messages/ replaced by a file after opening: store fails and says why, no row.
  auto q = Quarantine::open((d.path / "q").string(), &err);
  ASSERT_TRUE(q) << err;
  fs::remove_all(d.path / "q" / "messages");
  std::ofstream(d.path / "q" / "messages") << "x";
  QuarantineRecord rec = record("a@b.c", {"d@e.f"}, "s", "r", 1);
  err.clear();
  EXPECT_FALSE(q->store(rec, "data\r\n", &err));
  EXPECT_FALSE(err.empty());
  QuarantineQuery all;
  EXPECT_TRUE(q->list(all, &err).empty());
}

}  // namespace
}  // namespace mxgate
