// bayes_bench: what the learning classifier costs (a benchmark, not a test; run
// it through tests/bench/bayes_bench.sh, results in docs/performance.md).
//
//   bayes_bench HAM_DIR SPAM_DIR [--rounds N] [--window W] [--redis HOST:PORT]
//
// Single-threaded (per-core figures), on real mail (the SpamAssassin public corpus):
//   1. reads every .txt or .eml file under the two folders, LF -> CRLF, mbox
//      "From " line skipped;
//   2. learns 90% of each (every 10th message is held out) into a fresh SQLite
//      database through Classifier::learn in batches of 250, timed: messages/s of
//      parse + tokenize + write;
//   3. re-reads the counts (TokenTable) and times, over the held-out messages, per
//      message: the MIME parse (the baseline every filter shares, for scale), the
//      tokenizer alone, and Classifier::classify (tokenize + look up + combine) —
//      what the bayes filter adds to a message whose MIME view the chain already
//      has. Median of --rounds rounds.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "filters/bayes/bayes_filter.hpp"
#include "filters/mime/mime.hpp"

using namespace mxgate;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string wire(std::string_view raw) {
  std::string_view v = without_mbox_separator(raw);
  std::string out;
  out.reserve(v.size() + v.size() / 32);
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (v[i] == '\n' && (i == 0 || v[i - 1] != '\r')) out += '\r';
    out += v[i];
  }
  return out;
}

std::vector<std::string> files_under(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir, fs::directory_options::follow_directory_symlink))
    // The npm package keeps each message as NAME.txt beside a NAME.json of metadata.
    if (e.is_regular_file() && (e.path().extension() == ".txt" || e.path().extension() == ".eml"))
      out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: bayes_bench HAM_DIR SPAM_DIR [--rounds N] [--window W] [--redis HOST:PORT]\n");
    return 2;
  }
  int rounds = 5;
  BayesConfig cfg;
  for (int i = 3; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--rounds") rounds = std::atoi(argv[i + 1]);
    else if (a == "--window") cfg.tokens.bigram_window = static_cast<std::size_t>(std::atoi(argv[i + 1]));
    else if (a == "--redis") {  // learn into, and read from, a Redis of the caller's (a fresh key prefix)
      std::string addr = argv[i + 1];
      cfg.store = "redis";
      cfg.redis.host = addr.substr(0, addr.rfind(':'));
      cfg.redis.port = std::atoi(addr.c_str() + addr.rfind(':') + 1);
      cfg.redis.prefix = "mxgate-bench-" + std::to_string(::getpid()) + ":";
    }
  }
  struct Msg {
    std::shared_ptr<Message> msg;
    bool spam;
  };
  std::vector<Msg> learn, held;
  std::size_t n = 0;
  for (int k = 1; k <= 2; ++k)
    for (const auto& f : files_under(argv[k])) {
      Msg m{std::make_shared<Message>(wire(read_file(f))), k == 2};
      (n++ % 10 == 0 ? held : learn).push_back(std::move(m));
    }
  char tmpl[] = "/tmp/mxgate-bayes-bench-XXXXXX";
  if (!mkdtemp(tmpl)) return 1;
  cfg.path = std::string(tmpl) + "/bayes.db";
  cfg.min_spam = cfg.min_ham = 1;
  std::string err;
  auto c = bayes::Classifier::open(cfg, &err);
  if (!c) {
    std::fprintf(stderr, "%s\n", err.c_str());
    return 1;
  }

  auto t0 = Clock::now();
  for (std::size_t s = 0; s < learn.size(); s += 250) {
    std::vector<bayes::LearnItem> batch;
    for (std::size_t i = s; i < std::min(learn.size(), s + 250); ++i)
      batch.push_back(c->learn_item(*learn[i].msg, parse_mime(*learn[i].msg), learn[i].spam));
    std::vector<bayes::LearnStatus> st;
    if (!c->learn(batch, false, &st, &err)) {
      std::fprintf(stderr, "%s\n", err.c_str());
      return 1;
    }
  }
  const double learn_s = std::chrono::duration<double>(Clock::now() - t0).count();
  t0 = Clock::now();
  if (!c->refresh_now(&err)) {
    std::fprintf(stderr, "%s\n", err.c_str());
    return 1;
  }
  const double load_s = std::chrono::duration<double>(Clock::now() - t0).count();
  bayes::StoreStats stats;
  c->store().stats(&stats, &err);

  std::vector<MimeView> views;
  for (const auto& m : held) views.push_back(parse_mime(*m.msg));
  std::vector<double> parse_us, tok_us, cls_us;
  std::size_t tokens = 0, right = 0, answered = 0;
  for (int r = 0; r < rounds; ++r) {
    auto a = Clock::now();
    for (const auto& m : held) {
      MimeView v = parse_mime(*m.msg);
      asm volatile("" : : "g"(&v) : "memory");
    }
    auto b = Clock::now();
    tokens = 0;
    for (const auto& v : views) tokens += bayes::tokenize(v, cfg.tokens).hashes.size();
    auto d = Clock::now();
    right = answered = 0;
    for (std::size_t i = 0; i < views.size(); ++i) {
      bayes::Answer ans = c->classify(views[i]);
      if (ans.probability) {
        ++answered;
        if ((*ans.probability > 0.5) == held[i].spam) ++right;
      }
    }
    auto e = Clock::now();
    const double per = 1e6 / static_cast<double>(held.size());
    parse_us.push_back(std::chrono::duration<double>(b - a).count() * per);
    tok_us.push_back(std::chrono::duration<double>(d - b).count() * per);
    cls_us.push_back(std::chrono::duration<double>(e - d).count() * per);
  }
  std::printf("learned      %zu messages (%zu spam) in %.1f s: %.0f messages/s (parse + tokenize + write)\n",
              learn.size(), static_cast<std::size_t>(stats.totals.nspam), learn_s,
              static_cast<double>(learn.size()) / learn_s);
  std::printf("database     %s: %llu tokens, counts read in %.2f s, bigram_window %zu\n", c->store().describe().c_str(),
              static_cast<unsigned long long>(stats.tokens), load_s, cfg.tokens.bigram_window);
  std::printf("held out     %zu messages, %.0f tokens each on average; %zu answered, %zu on the right side of 0.5\n",
              held.size(), static_cast<double>(tokens) / static_cast<double>(held.size()), answered, right);
  std::printf("per message  (median of %d rounds, one core)\n", rounds);
  std::printf("  MIME parse (shared by every filter, for scale)  %8.1f us\n", median(parse_us));
  std::printf("  tokenize                                          %8.1f us\n", median(tok_us));
  std::printf("  classify (tokenize + look up + combine)          %8.1f us\n", median(cls_us));
  fs::remove_all(tmpl);
  return 0;
}
