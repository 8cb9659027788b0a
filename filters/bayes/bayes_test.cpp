// The learning classifier: tokens, Robinson/Fisher arithmetic, the SQLite store
// (learn, relearn, forget, expiry, tokenizer guard), and the whole Classifier on
// generated mail.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <random>

#include "filters/bayes/bayes_classifier.hpp"
#include "filters/bayes/bayes_filter.hpp"
#include "filters/bayes/bayes_store.hpp"
#include "filters/bayes/bayes_tokens.hpp"
#include "filters/mime/mime.hpp"
#include "tests/dns/dns_server.hpp"  // free_port

namespace mxgate::bayes {
namespace {

namespace fs = std::filesystem;

bool has(const std::vector<std::string>& v, const std::string& s) { return std::find(v.begin(), v.end(), s) != v.end(); }

class TempDir {
 public:
  TempDir() {
    char t[] = "/tmp/mxgate-bayes-test-XXXXXX";
    path_ = mkdtemp(t);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return (fs::path(path_) / name).string(); }

 private:
  std::string path_;
};

// ------------------------------------------------------------------ tokens

TEST(BayesTokens, BodyWordsAsSpamAssassinSplitsThem) {
  struct Row {
    const char* line;
    std::vector<std::string> want;     // all present
    std::vector<std::string> missing;  // none present
  };
  const Row rows[] = {
      // Short words dropped; punctuation trimmed off the ends; capitals give the
      // lower-case form too; the sentence's first Title-case word is lower-cased.
      {"Hello to all of you", {"hello", "all", "you"}, {"Hello", "to", "of"}},
      {"we said \"Cheap!\" twice", {"Cheap!", "cheap!", "Cheap", "cheap", "said"}, {"\"Cheap!\""}},
      // Money and host names keep their punctuation; hosts give every parent domain.
      {"only $31,000,000 at www.clock-speed.net", {"$31,000,000", "UD:www.clock-speed.net", "UD:clock-speed.net", "UD:net"}, {}},
      // Addresses: local part and domain apart.
      {"write to bob@mail.example.org now", {"U*bob", "D*mail.example.org", "D*example.org", "D*org"}, {}},
      // "..." and "--" between words split them (the separator itself is trimmed
      // away, as SpamAssassin's end trimming does to it).
      {"wait...what", {"wait", "what"}, {"wait...what", "..."}},
      {"long--dash", {"long", "dash"}, {"long--dash"}},
      // Over 15 bytes: skipped to its first 7 characters.
      {"zzqxhtprmvwlkjsdfq", {"sk:zzqxhtp"}, {"zzqxhtprmvwlkjsdfq"}},
      // Scripts without spaces: each 3-byte character.
      {"\xe4\xbd\xa0\xe5\xa5\xbd\xe4\xb8\x96\xe7\x95\x8c\xe4\xbd\xa0\xe5\xa5\xbd", {"u8:\xe4\xbd\xa0", "u8:\xe4\xb8\x96"}, {}},
  };
  for (const auto& r : rows) {
    auto toks = body_line_tokens(r.line);
    for (const auto& w : r.want) EXPECT_TRUE(has(toks, w)) << r.line << " lacks " << w;
    for (const auto& m : r.missing) EXPECT_FALSE(has(toks, m)) << r.line << " has " << m;
  }
}

MimeView view_of(const std::string& text) { return parse_mime(Message(text)); }

TEST(BayesTokens, MessageTokensFromEveryPart) {
  const std::string msg =
      "From: \"Jane Doe\" <jane@shop.example.com>\r\n"
      "To: you@example.org\r\n"
      "Subject: Cheap watches\r\n"
      "Message-ID: <abc123.XYZ@mailer.example.com>\r\n"
      "Date: Mon, 7 Dec 2026 10:00:00 +0000\r\n"
      "Received: from relay.example.net (relay.example.net [192.0.2.77]) by mx.example.org with ESMTP id"
      " 4AbCdEf12 for <you@example.org>; Mon, 7 Dec 2026 10:00:01 +0000\r\n"
      "X-Spam-Status: Yes, score=99\r\n"
      "Authentication-Results: mx.example.org; spf=pass\r\n"
      "X-Mailer: BulkBlaster 3\r\n"
      "MIME-Version: 1.0\r\n"
      "Content-Type: multipart/mixed; boundary=\"----=_Part_1234_abcdef\"\r\n"
      "\r\n"
      "------=_Part_1234_abcdef\r\n"
      "Content-Type: text/html\r\n"
      "\r\n"
      "<p>Buy replica watches at <a href=\"https://www.deals.example.biz/promo/spring\">our store</a></p>\r\n"
      "------=_Part_1234_abcdef\r\n"
      "Content-Type: application/pdf; name=\"invoice.pdf\"\r\n"
      "Content-Disposition: attachment; filename=\"invoice.pdf\"\r\n"
      "Content-Transfer-Encoding: base64\r\n"
      "\r\n"
      "JVBERi0xLjQK\r\n"
      "------=_Part_1234_abcdef--\r\n";
  TokenOptions opt;
  opt.bigram_window = 3;
  MessageTokens t = tokenize(view_of(msg), opt, true);
  ASSERT_EQ(t.hashes.size(), t.names.size());
  EXPECT_TRUE(std::is_sorted(t.hashes.begin(), t.hashes.end()));
  EXPECT_EQ(std::adjacent_find(t.hashes.begin(), t.hashes.end()), t.hashes.end());
  for (std::size_t i = 0; i < t.names.size(); ++i) EXPECT_EQ(t.hashes[i], token_hash(t.names[i])) << t.names[i];
  const auto& n = t.names;
  // Subject in the body region; rendered HTML text; word pairs with their distance.
  for (const char* want :
       {"cheap", "watches", "replica", "store", "B1:buy replica", "B2:buy watches", "B1:cheap watches",
        // The link: host, parents, scheme, path words.
        "UH:www.deals.example.biz", "UH:example.biz", "US:https", "UP:promo", "UP:spring",
        // MIME: part types, the attachment's type and extension.
        "MIME:text/html", "MIME:application/pdf", "ATT:pdf",
        // Headers: addresses and display names, the Received's /24 and full address
        // (no date, no queue id), the mailer, the boundary's shape.
        "Hfrom:U*jane", "Hfrom:D*example.com", "Hfrom:N*Jane", "H*Ad:D*example.com", "Hto:D*example.org",
        "H*r:192.0.2", "H*r:ip*192.0.2.77", "H*r:relay.example.net", "H*r:mx.example.org", "Hx-mailer:BulkBlaster", "H*UA:BulkBlaster",
        "Hmessage-id:mailer", "H*MI:abc123"})
    EXPECT_TRUE(has(n, want)) << want;
  for (const auto& tok : n) {
    // What a filter or the delivering server adds never teaches the classifier.
    EXPECT_EQ(tok.find("Hx-spam-status"), std::string::npos) << tok;
    EXPECT_EQ(tok.find("Hauthentication-results"), std::string::npos) << tok;
    EXPECT_EQ(tok.find("Hdate"), std::string::npos) << tok;
    EXPECT_NE(tok, "H*r:4AbCdEf12") << "queue ids are dropped";
    EXPECT_NE(tok, "H*r:2026") << "dates are dropped";
  }
  // Single words only.
  opt.bigram_window = 1;
  MessageTokens single = tokenize(view_of(msg), opt, true);
  EXPECT_FALSE(std::any_of(single.names.begin(), single.names.end(), [](const std::string& s) { return s.starts_with("B1:"); }));
  EXPECT_LT(single.hashes.size(), t.hashes.size());
}

TEST(BayesTokens, BoundedPerMessage) {
  std::string body;
  std::mt19937 rng(7);
  for (int i = 0; i < 20000; ++i) body += "w" + std::to_string(rng()) + " ";
  TokenOptions opt;
  opt.max_tokens = 500;
  MessageTokens t = tokenize(view_of("Subject: x\r\n\r\n" + body + "\r\n"), opt, true);
  EXPECT_EQ(t.hashes.size(), 500u);
  EXPECT_EQ(t.names.size(), 500u);
}

TEST(BayesTokens, HashIsStableAndNeverZero) {
  // The database outlives the binary: these values may never change.
  EXPECT_EQ(token_hash("viagra"), token_hash("viagra"));
  EXPECT_NE(token_hash("viagra"), token_hash("Viagra"));
  EXPECT_NE(token_hash(""), 0u);
  EXPECT_EQ(token_hash("viagra"), 0x0cbb519e1656a17fULL) << std::hex << token_hash("viagra");
}

// ------------------------------------------------------------------ arithmetic

TEST(BayesMath, RobinsonTokenProbability) {
  Totals t{100, 100};
  EXPECT_FALSE(token_probability({0, 0}, t));
  EXPECT_FALSE(token_probability({3, 0}, {0, 100}));  // nothing learned of one kind
  // Seen once in spam only: spammy but pulled towards x = 0.538 by S = 0.2.
  double once = *token_probability({1, 0}, t);
  EXPECT_NEAR(once, (0.2 * 0.538 + 1.0) / 1.2, 1e-12);
  double often = *token_probability({50, 0}, t);
  EXPECT_GT(often, once);
  EXPECT_LT(often, 1.0);
  // Same share of each kind: neutral, whatever the corpus sizes.
  EXPECT_NEAR(*token_probability({10, 20}, {100, 200}), (0.2 * 0.538 + 30 * 0.5) / 30.2, 1e-12);
  // SpamAssassin's constants, as a configuration can set them.
  Params sa{.robs = 0.030, .robx = 0.538, .min_dev = 0.346};
  EXPECT_NEAR(*token_probability({1, 0}, t, sa), (0.030 * 0.538 + 1.0) / 1.030, 1e-12);
  EXPECT_NEAR(*token_probability({0, 1}, t, {.robs = 1.0, .robx = 0.4}), 0.4 / 2.0, 1e-12);
}

TEST(BayesMath, MinDevDecidesWhichTokensCount) {
  Totals t{300, 300};
  // f = 0.25 (dev 0.25): counted with the default floor (0.2), ignored with
  // SpamAssassin's 0.346.
  std::vector<TokenCounts> c(20, {25, 75});
  Params sa{.robs = 0.030, .robx = 0.538, .min_dev = 0.346};
  Classification d = classify(c, t), s = classify(c, t, sa);
  EXPECT_EQ(d.used, 20u) << describe(d, t);
  EXPECT_LT(*d.probability, 0.5);
  EXPECT_EQ(s.used, 0u);
  EXPECT_FALSE(s.probability);
}

TEST(BayesMath, FisherCombination) {
  Totals even{500, 500};
  std::vector<double> spammy(40, 0.99), hammy(40, 0.01), mixed;
  for (int i = 0; i < 20; ++i) {
    mixed.push_back(0.99);
    mixed.push_back(0.01);
  }
  EXPECT_GT(*chi2_combine(spammy, even), 0.999);
  EXPECT_LT(*chi2_combine(hammy, even), 0.001);
  EXPECT_NEAR(*chi2_combine(mixed, even), 0.5, 0.01);
  EXPECT_FALSE(chi2_combine({}, even));
  // Thousands of tokens do not underflow.
  std::vector<double> many(5000, 0.999);
  double p = *chi2_combine(many, even);
  EXPECT_TRUE(std::isfinite(p));
  EXPECT_GT(p, 0.999);
}

TEST(BayesMath, ClassifyKeepsTheStrongest150) {
  Totals t{300, 300};
  std::vector<TokenCounts> c;
  for (int i = 0; i < 200; ++i) c.push_back({30, 0});  // spammy
  for (int i = 0; i < 100; ++i) c.push_back({0, 0});   // unknown
  for (int i = 0; i < 50; ++i) c.push_back({10, 10});  // neutral: ignored
  Classification r = classify(c, t);
  EXPECT_EQ(r.tokens, 350u);
  EXPECT_EQ(r.known, 250u);
  EXPECT_EQ(r.used, kMaxSignificant);
  EXPECT_GT(*r.probability, 0.99);
  EXPECT_NE(describe(r, t).find("used=150"), std::string::npos) << describe(r, t);
  // Only neutral tokens: no answer.
  EXPECT_FALSE(classify(std::vector<TokenCounts>(10, {5, 5}), t).probability);
}

// ------------------------------------------------------------------ store

LearnItem item(const std::string& id, bool spam, std::vector<std::uint64_t> toks) {
  LearnItem it;
  it.msgid = id;
  it.spam = spam;
  it.tokens = std::move(toks);
  return it;
}

// The same semantics whatever the store: run on SQLite and on Redis below.
void learn_relearn_forget(BayesStore* s) {
  std::string err;
  std::vector<LearnStatus> st;
  std::vector<LearnItem> batch = {item("a", true, {1, 2, 3}), item("b", false, {3, 4})};
  ASSERT_TRUE(s->learn(batch, false, 1000, "1/w3", &st, &err)) << err;
  EXPECT_EQ(st, (std::vector<LearnStatus>{LearnStatus::Learned, LearnStatus::Learned}));
  auto t = s->load(&err);
  ASSERT_TRUE(t) << err;
  EXPECT_EQ(t->totals().nspam, 1u);
  EXPECT_EQ(t->totals().nham, 1u);
  EXPECT_EQ(t->size(), 4u);
  EXPECT_EQ(t->find(3).spam, 1u);
  EXPECT_EQ(t->find(3).ham, 1u);
  EXPECT_EQ(t->find(99).spam + t->find(99).ham, 0u);
  EXPECT_EQ(t->tokenizer(), "1/w3");
  const std::uint64_t gen = t->generation();

  // Again as spam: nothing changes, not even the generation.
  std::vector<LearnItem> again = {item("a", true, {1, 2, 3})};
  ASSERT_TRUE(s->learn(again, false, 2000, "1/w3", &st, &err));
  EXPECT_EQ(st, std::vector<LearnStatus>{LearnStatus::AlreadyLearned});
  std::uint64_t g2 = 0;
  ASSERT_TRUE(s->generation(&g2, &err));
  EXPECT_EQ(g2, gen);

  // As ham: it moves over.
  std::vector<LearnItem> moved = {item("a", false, {1, 2, 3})};
  ASSERT_TRUE(s->learn(moved, false, 3000, "1/w3", &st, &err));
  EXPECT_EQ(st, std::vector<LearnStatus>{LearnStatus::Relearned});
  t = s->load(&err);
  EXPECT_EQ(t->totals().nspam, 0u);
  EXPECT_EQ(t->totals().nham, 2u);
  EXPECT_EQ(t->find(1).spam, 0u);
  EXPECT_EQ(t->find(1).ham, 1u);
  EXPECT_EQ(t->find(3).ham, 2u);
  EXPECT_GT(t->generation(), gen);

  // Forget: counts and tokens go; forgetting again says so.
  ASSERT_TRUE(s->learn(moved, true, 4000, "1/w3", &st, &err));
  EXPECT_EQ(st, std::vector<LearnStatus>{LearnStatus::Forgotten});
  ASSERT_TRUE(s->learn(moved, true, 4000, "1/w3", &st, &err));
  EXPECT_EQ(st, std::vector<LearnStatus>{LearnStatus::NotLearned});
  t = s->load(&err);
  EXPECT_EQ(t->totals().nham, 1u);
  EXPECT_EQ(t->size(), 2u);  // 3 and 4 from "b"
  StoreStats stats;
  ASSERT_TRUE(s->stats(&stats, &err));
  EXPECT_EQ(stats.tokens, 2u);
  EXPECT_EQ(stats.messages_seen, 1u);
  EXPECT_EQ(stats.oldest_atime, 1000);
}

void expiry_keeps_the_recent_and_the_learned_ids(BayesStore* s) {
  std::string err;
  std::vector<LearnStatus> st;
  // 100 old tokens, then 100 new ones.
  std::vector<std::uint64_t> old_toks, new_toks;
  for (std::uint64_t i = 1; i <= 100; ++i) old_toks.push_back(i), new_toks.push_back(1000 + i);
  std::vector<LearnItem> a = {item("old", true, old_toks)}, b = {item("new", false, new_toks)};
  ASSERT_TRUE(s->learn(a, false, 100, "1/w3", &st, &err));
  ASSERT_TRUE(s->learn(b, false, 200, "1/w3", &st, &err));
  ExpireResult ex;
  ASSERT_TRUE(s->expire(1000, &ex, &err));  // under the limit: nothing
  EXPECT_EQ(ex.tokens_deleted, 0u);
  ASSERT_TRUE(s->expire(120, &ex, &err));   // down to 90: the 110 oldest go
  EXPECT_EQ(ex.tokens_deleted, 110u);
  auto t = s->load(&err);
  EXPECT_EQ(t->size(), 90u);
  EXPECT_EQ(t->find(1).spam, 0u);
  EXPECT_EQ(t->find(1100).ham, 1u);
  // Both are still known as learned (ids outlive their tokens): relearning is a no-op.
  ASSERT_TRUE(s->learn(b, false, 300, "1/w3", &st, &err));
  EXPECT_EQ(st, std::vector<LearnStatus>{LearnStatus::AlreadyLearned});
  ASSERT_TRUE(s->learn(a, false, 300, "1/w3", &st, &err));
  EXPECT_EQ(st, std::vector<LearnStatus>{LearnStatus::AlreadyLearned});
  EXPECT_EQ(ex.seen_deleted, 0u);
}

TEST(BayesStore, LearnRelearnForget) {
  TempDir d;
  std::string err;
  auto s = open_sqlite_store(d.file("sub/bayes.db"), &err);  // the folder is made
  ASSERT_TRUE(s) << err;
  learn_relearn_forget(s.get());
}

TEST(BayesStore, ExpiryKeepsTheRecentAndTheLearnedIds) {
  TempDir d;
  std::string err;
  auto s = open_sqlite_store(d.file("bayes.db"), &err);
  ASSERT_TRUE(s) << err;
  expiry_keeps_the_recent_and_the_learned_ids(s.get());
}

TEST(BayesStore, UnopenableStoreIsAnError) {
  std::string err;
  EXPECT_FALSE(open_sqlite_store("/proc/nonexistent/bayes.db", &err));
  EXPECT_NE(err.find("/proc/nonexistent/bayes.db"), std::string::npos) << err;
}

// ------------------------------------------------------------------ the classifier

std::string mail(std::mt19937& rng, bool spam, int n) {
  static const char* kSpam[] = {"viagra", "casino", "winner", "prize", "cheap", "pills", "offer", "loan",
                                "unsubscribe", "bonus", "credit", "free", "money", "rolex", "pharmacy"};
  static const char* kHam[] = {"meeting", "agenda", "review", "patch", "build", "release", "minutes", "budget",
                               "schedule", "deploy", "lunch", "project", "design", "notes", "thanks"};
  const char** words = spam ? kSpam : kHam;
  std::string body;
  for (int i = 0; i < 60; ++i) body += std::string(words[rng() % 15]) + (i % 12 == 11 ? "\r\n" : " ");
  return "From: " + std::string(spam ? "deals@promo" : "colleague@corp") + std::to_string(rng() % 50) +
         ".example\r\nSubject: " + words[rng() % 15] + " " + words[rng() % 15] + "\r\nMessage-ID: <" +
         std::to_string(n) + (spam ? "s" : "h") + "@x.example>\r\n\r\n" + body + "\r\n";
}

TEST(BayesClassifier, SilentUntilItHasLearnedEnoughThenSeparates) {
  TempDir d;
  BayesConfig cfg;
  cfg.path = d.file("bayes.db");
  cfg.min_spam = 30;
  cfg.min_ham = 30;
  std::string err;
  auto c = Classifier::open(cfg, &err);
  ASSERT_TRUE(c) << err;
  std::mt19937 rng(42);
  auto learn = [&](bool spam, int from, int to) {
    std::vector<LearnItem> items;
    for (int i = from; i < to; ++i) {
      Message m(mail(rng, spam, i));
      items.push_back(c->learn_item(m, parse_mime(m), spam));
    }
    std::vector<LearnStatus> st;
    ASSERT_TRUE(c->learn(items, false, &st, &err)) << err;
  };
  Message probe_spam(mail(rng, true, 100000)), probe_ham(mail(rng, false, 100001));
  Answer a = c->classify(parse_mime(probe_spam));
  EXPECT_FALSE(a.available);
  EXPECT_FALSE(a.probability);
  learn(true, 0, 40);
  learn(false, 0, 20);
  ASSERT_TRUE(c->refresh_now(&err)) << err;
  a = c->classify(parse_mime(probe_spam));
  EXPECT_FALSE(a.available) << "20 ham < min_ham 30";
  EXPECT_NE(a.detail.find("learned 40 spam and 20 ham"), std::string::npos) << a.detail;
  learn(false, 20, 40);
  // Learned elsewhere: not seen until refreshed.
  EXPECT_FALSE(c->classify(parse_mime(probe_spam)).available);
  ASSERT_TRUE(c->refresh_now(&err));
  a = c->classify(parse_mime(probe_spam), true);
  ASSERT_TRUE(a.available);
  ASSERT_TRUE(a.probability);
  EXPECT_GT(*a.probability, 0.99) << a.detail;
  EXPECT_FALSE(a.evidence.empty());
  Answer h = c->classify(parse_mime(probe_ham));
  ASSERT_TRUE(h.probability);
  EXPECT_LT(*h.probability, 0.01) << h.detail;
}

TEST(BayesClassifier, ADatabaseOfAnotherTokenizerIsRefused) {
  TempDir d;
  BayesConfig cfg;
  cfg.path = d.file("bayes.db");
  std::string err;
  auto c = Classifier::open(cfg, &err);
  ASSERT_TRUE(c) << err;
  Message m("Subject: hello there\r\n\r\nsome words here\r\n");
  std::vector<LearnItem> items = {c->learn_item(m, parse_mime(m), true)};
  std::vector<LearnStatus> st;
  ASSERT_TRUE(c->learn(items, false, &st, &err)) << err;
  BayesConfig other = cfg;
  other.tokens.bigram_window = 2;
  auto c2 = Classifier::open(other, &err);
  ASSERT_TRUE(c2) << err;
  EXPECT_FALSE(c2->learn(items, false, &st, &err));
  EXPECT_NE(err.find("tokenizer 1/w1"), std::string::npos) << err;
  EXPECT_NE(c2->classify(parse_mime(m)).detail.find("tokenizer"), std::string::npos);
}

TEST(BayesClassifier, LearnIdIgnoresAddedFieldsButNotTheBody) {
  const std::string base = "Message-ID: <1@x>\r\nSubject: hi\r\n\r\nbody text\r\n";
  const std::string tagged = "X-Spam-Flag: YES\r\nMessage-ID: <1@x>\r\nSubject: [SPAM] hi\r\n\r\nbody text\r\n";
  const std::string other = "Message-ID: <1@x>\r\nSubject: hi\r\n\r\nanother body\r\n";
  // An mbox copy: ">From " quoted (mboxrd, or ">>From " for a line already
  // quoted), the separator's blank line at the end.
  const std::string wire_from = "Message-ID: <2@x>\r\n\r\nline\r\nFrom here on\r\n>From there\r\n";
  const std::string mbox_from = "Message-ID: <2@x>\r\n\r\nline\r\n>From here on\r\n>>From there\r\n\r\n";
  EXPECT_EQ(message_learn_id(Message(wire_from)), message_learn_id(Message(mbox_from)));
  EXPECT_EQ(message_learn_id(Message(base)), message_learn_id(Message(tagged)));
  EXPECT_NE(message_learn_id(Message(base)), message_learn_id(Message(other)));
  EXPECT_EQ(message_learn_id(Message(base)).size(), 64u);
}

}  // namespace
}  // namespace mxgate::bayes

namespace mxgate::bayes {
namespace {

MessageOutcome outcome(Action a, std::vector<Symbol>* syms, std::string by = "policy.thresholds") {
  MessageOutcome o;
  o.action = a;
  o.symbols = syms;
  o.decided_by = std::move(by);
  for (const auto& s : *syms) o.score += s.score;
  return o;
}

TEST(BayesAutolearn, ClearVerdictsOnlyNeverTheClassifiersOwnVote) {
  BayesConfig cfg;
  std::vector<Symbol> spammy = {{"GTUBE", 1000, ""}}, bayes_made = {{"A", 9.0, ""}, {"BAYES_99", 3.8, ""}, {"BAYES_999", 0.2, ""}},
                      clean = {{"BAYES_00", -1.5, ""}}, grey = {{"A", 3.0, ""}};
  EXPECT_FALSE(autolearn_class(cfg, outcome(Action::Reject, &spammy))) << "off by default";
  cfg.autolearn = true;
  EXPECT_EQ(autolearn_class(cfg, outcome(Action::Reject, &spammy)), std::optional<bool>(true));
  EXPECT_EQ(autolearn_class(cfg, outcome(Action::Quarantine, &spammy)), std::optional<bool>(true));
  // 13 points, but only 9 without the classifier's: not learned.
  EXPECT_FALSE(autolearn_class(cfg, outcome(Action::Accept, &bayes_made)));
  // -1.5 from Bayes alone is 0 without it: ham (at most 0.1).
  EXPECT_EQ(autolearn_class(cfg, outcome(Action::Accept, &clean)), std::optional<bool>(false));
  EXPECT_FALSE(autolearn_class(cfg, outcome(Action::Accept, &grey)));
  // Ham only when it was delivered; lists and tempfails teach nothing.
  EXPECT_FALSE(autolearn_class(cfg, outcome(Action::Quarantine, &clean)));
  EXPECT_FALSE(autolearn_class(cfg, outcome(Action::Accept, &clean, "policy.allow.client_ip")));
  EXPECT_FALSE(autolearn_class(cfg, outcome(Action::Reject, &spammy, "policy.deny.sender")));
  EXPECT_FALSE(autolearn_class(cfg, outcome(Action::Tempfail, &spammy)));
  cfg.autolearn_spam_score = 5;
  EXPECT_EQ(autolearn_class(cfg, outcome(Action::Accept, &bayes_made)), std::optional<bool>(true));
}

TEST(BayesAutolearn, TheFilterLearnsFromTheOutcome) {
  TempDir d;
  auto cfg = std::make_shared<BayesConfig>();
  cfg->path = d.file("bayes.db");
  cfg->autolearn = true;
  std::string err;
  auto c = Classifier::open(*cfg, &err);
  ASSERT_TRUE(c) << err;
  BayesFilter f(cfg, c);
  auto msg = std::make_shared<const Message>("Message-ID: <a@b>\r\nSubject: win\r\n\r\nwin money now\r\n");
  Envelope env;
  env.txn_id = "T.1";
  env.state = std::make_shared<FilterState>();
  std::vector<Symbol> spammy = {{"GTUBE", 1000, ""}};
  f.on_outcome(env, msg, outcome(Action::Reject, &spammy));  // no work pool here: learned at once
  f.on_outcome(env, msg, outcome(Action::Reject, &spammy));  // the same message: once
  StoreStats st;
  ASSERT_TRUE(c->store().stats(&st, &err)) << err;
  EXPECT_EQ(st.totals.nspam, 1u);
  EXPECT_EQ(st.totals.nham, 0u);
  EXPECT_GT(st.tokens, 0u);
}

}  // namespace
}  // namespace mxgate::bayes

// ------------------------------------------------------------------ Redis

namespace mxgate::bayes {
namespace {

using testing::free_port;

// Debian's redis-server on 127.0.0.1, started and stopped by the test; nothing saved.
class RedisServer {
 public:
  explicit RedisServer(int port) : port_(port) {}
  ~RedisServer() { stop(); }
  static bool available() { return access("/usr/bin/redis-server", X_OK) == 0; }
  bool start() {
    pid_ = fork();
    if (pid_ == 0) {
      int null = open("/dev/null", O_WRONLY);
      dup2(null, 1);
      dup2(null, 2);
      const std::string port = std::to_string(port_);
      execl("/usr/bin/redis-server", "redis-server", "--port", port.c_str(), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning", static_cast<char*>(nullptr));
      _exit(127);
    }
    // Up when it answers (polled, for at most 10 s).
    for (int i = 0; i < 200; ++i) {
      RedisSettings rs;
      rs.port = port_;
      std::string err;
      auto s = open_redis_store(rs, &err);
      std::uint64_t g;
      if (err.empty() && s->generation(&g, &err)) return true;
      usleep(50'000);
    }
    return false;
  }
  void stop() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
  }
  int port() const { return port_; }

 private:
  int port_;
  pid_t pid_ = -1;
};

class BayesRedis : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!RedisServer::available()) GTEST_SKIP() << "redis-server is not installed (apt install redis-server)";
    server_ = std::make_unique<RedisServer>(free_port());
    ASSERT_TRUE(server_->start()) << "redis-server did not start";
  }
  RedisSettings settings(const std::string& prefix = "test:") const {
    RedisSettings rs;
    rs.port = server_->port();
    rs.prefix = prefix;
    return rs;
  }
  std::unique_ptr<RedisServer> server_;
};

TEST_F(BayesRedis, LearnRelearnForget) {
  std::string err;
  auto s = open_redis_store(settings(), &err);
  ASSERT_TRUE(err.empty()) << err;
  learn_relearn_forget(s.get());
}

TEST_F(BayesRedis, ExpiryKeepsTheRecentAndTheLearnedIds) {
  std::string err;
  auto s = open_redis_store(settings(), &err);
  ASSERT_TRUE(err.empty()) << err;
  expiry_keeps_the_recent_and_the_learned_ids(s.get());
}

TEST_F(BayesRedis, PrefixesKeepDatabasesApart) {
  std::string err;
  auto a = open_redis_store(settings("a:"), &err), b = open_redis_store(settings("b:"), &err);
  std::vector<LearnItem> items = {item("m", true, {7, 8})};
  std::vector<LearnStatus> st;
  ASSERT_TRUE(a->learn(items, false, 1, "1/w1", &st, &err)) << err;
  EXPECT_EQ(a->load(&err)->size(), 2u);
  EXPECT_EQ(b->load(&err)->size(), 0u);
}

TEST_F(BayesRedis, DownIsAnErrorNotACrashAndItReconnects) {
  std::string err;
  auto s = open_redis_store(settings(), &err);
  ASSERT_TRUE(err.empty()) << err;
  std::vector<LearnItem> items = {item("m", true, {7, 8})};
  std::vector<LearnStatus> st;
  ASSERT_TRUE(s->learn(items, false, 1, "1/w1", &st, &err)) << err;
  server_->stop();
  std::uint64_t g = 0;
  EXPECT_FALSE(s->generation(&g, &err));
  EXPECT_NE(err.find("redis 127.0.0.1:"), std::string::npos) << err;
  EXPECT_FALSE(s->load(&err));
  EXPECT_FALSE(s->learn(items, false, 1, "1/w1", &st, &err));
  // Back (empty: nothing was saved): the same store object answers again.
  server_ = std::make_unique<RedisServer>(server_->port());
  ASSERT_TRUE(server_->start());
  err.clear();
  ASSERT_TRUE(s->learn(items, false, 1, "1/w1", &st, &err)) << err;
  EXPECT_EQ(st, std::vector<LearnStatus>{LearnStatus::Learned});
}

// Two gateways of a farm: one learns, the other classifies alike once it re-reads.
TEST_F(BayesRedis, TwoClassifiersShareWhatOneLearns) {
  BayesConfig cfg;
  cfg.store = "redis";
  cfg.redis = settings("farm:");
  cfg.min_spam = cfg.min_ham = 20;
  std::string err;
  auto a = Classifier::open(cfg, &err);
  ASSERT_TRUE(a) << err;
  auto b = Classifier::open(cfg, &err);
  ASSERT_TRUE(b) << err;
  std::mt19937 rng(9);
  std::vector<LearnItem> items;
  for (int i = 0; i < 25; ++i)
    for (bool spam : {true, false}) {
      Message m(mail(rng, spam, i));
      items.push_back(a->learn_item(m, parse_mime(m), spam));
    }
  std::vector<LearnStatus> st;
  ASSERT_TRUE(a->learn(items, false, &st, &err)) << err;
  ASSERT_TRUE(a->refresh_now(&err)) << err;
  Message probe(mail(rng, true, 5000));
  EXPECT_FALSE(b->classify(parse_mime(probe)).available) << "b has not re-read yet";
  ASSERT_TRUE(b->refresh_now(&err)) << err;
  Answer pa = a->classify(parse_mime(probe)), pb = b->classify(parse_mime(probe));
  ASSERT_TRUE(pa.probability && pb.probability);
  EXPECT_EQ(*pa.probability, *pb.probability);
  EXPECT_GT(*pb.probability, 0.99);
  // Learning the same messages through b: already learned, farm-wide.
  ASSERT_TRUE(b->learn(items, false, &st, &err)) << err;
  EXPECT_EQ(std::count(st.begin(), st.end(), LearnStatus::AlreadyLearned), 50);
}

}  // namespace
}  // namespace mxgate::bayes
