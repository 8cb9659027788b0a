#include "proxy/learn_cli.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <thread>

#include "proxy/check.hpp"
#include "proxy/json.hpp"

namespace mxgate {
namespace {

// Messages tokenized, then written in one transaction: large enough that the
// commit's cost vanishes, small enough that the progress bar moves.
constexpr std::size_t kBatch = 250;

std::string utc(std::int64_t t) { return t > 0 ? iso_time(t) : "-"; }

int print_stats(bayes::Classifier& c, bool json) {
  bayes::StoreStats st;
  std::string err;
  if (!c.store().stats(&st, &err)) {
    std::cerr << "mxgate learn: " << err << "\n";
    return 1;
  }
  const auto& cfg = c.config();
  const bool enough = st.totals.nspam >= cfg.min_spam && st.totals.nham >= cfg.min_ham;
  const bool same_tokenizer = st.tokenizer.empty() || st.tokenizer == c.tokenizer_id();
  if (json) {
    JsonWriter j;
    j.begin_object().field("store", c.store().describe());
    j.field("spam", static_cast<unsigned long long>(st.totals.nspam));
    j.field("ham", static_cast<unsigned long long>(st.totals.nham));
    j.field("tokens", static_cast<unsigned long long>(st.tokens));
    j.field("messages_seen", static_cast<unsigned long long>(st.messages_seen));
    j.field("oldest_token", utc(st.oldest_atime)).field("newest_token", utc(st.newest_atime));
    j.field("tokenizer", st.tokenizer).field("available", enough && same_tokenizer);
    j.field("min_spam", static_cast<unsigned long long>(cfg.min_spam));
    j.field("min_ham", static_cast<unsigned long long>(cfg.min_ham));
    j.end_object();
    std::cout << j.str() << "\n";
    return 0;
  }
  std::printf("store:          %s\n", c.store().describe().c_str());
  std::printf("learned:        %llu spam, %llu ham\n", static_cast<unsigned long long>(st.totals.nspam),
              static_cast<unsigned long long>(st.totals.nham));
  std::printf("tokens:         %llu (oldest %s, newest %s)\n", static_cast<unsigned long long>(st.tokens),
              utc(st.oldest_atime).c_str(), utc(st.newest_atime).c_str());
  std::printf("messages seen:  %llu\n", static_cast<unsigned long long>(st.messages_seen));
  std::printf("tokenizer:      %s\n", st.tokenizer.empty() ? "(nothing learned yet)" : st.tokenizer.c_str());
  if (!same_tokenizer)
    std::printf("classifying:    no: learned with tokenizer %s, this configuration uses %s\n", st.tokenizer.c_str(),
                c.tokenizer_id().c_str());
  else if (!enough)
    std::printf("classifying:    not yet: needs %llu spam and %llu ham (bayes.min_spam, bayes.min_ham)\n",
                static_cast<unsigned long long>(cfg.min_spam), static_cast<unsigned long long>(cfg.min_ham));
  else
    std::printf("classifying:    yes\n");
  return 0;
}

}  // namespace

bayes::ClassifierPtr config_classifier(const Config& cfg, std::string* why) {
  if (cfg.chain)
    for (const auto& f : cfg.chain->filters())
      if (auto* b = dynamic_cast<const BayesFilter*>(f.get())) {
        if (!b->classifier()) *why = "the bayes filter's database could not be opened (" + b->config().path + ")";
        return b->classifier();
      }
  *why = "the configuration has no bayes filter (filters: - bayes: {path: ...})";
  return nullptr;
}

bool learn_items(bayes::Classifier& c, const MimeSettings& mime, const std::vector<CorpusItem>& items, bool forget,
                 std::size_t jobs, LearnCounts* counts, std::string* error,
                 const std::function<void(std::size_t, std::size_t)>& progress) {
  if (jobs == 0) jobs = std::max(1u, std::thread::hardware_concurrency());
  for (std::size_t start = 0; start < items.size(); start += kBatch) {
    const std::size_t n = std::min(kBatch, items.size() - start);
    std::vector<bayes::LearnItem> batch(n);
    std::vector<char> readable(n, 0);
    std::atomic<std::size_t> next{0};
    auto work = [&] {
      for (std::size_t i; (i = next++) < n;) {
        const CorpusItem& it = items[start + i];
        std::string raw = read_corpus_item(it);
        if (raw.empty()) continue;
        auto msg = message_from_file(raw);
        MimeView view = parse_mime(*msg, mime.limits);
        batch[i] = c.learn_item(*msg, view, it.spam);
        readable[i] = 1;
      }
    };
    std::vector<std::thread> threads;
    for (std::size_t t = 1; t < std::min(jobs, n); ++t) threads.emplace_back(work);
    work();
    for (auto& t : threads) t.join();
    std::vector<bayes::LearnItem> ok;
    for (std::size_t i = 0; i < n; ++i) {
      if (readable[i]) ok.push_back(std::move(batch[i]));
      else ++counts->unreadable;
    }
    std::vector<bayes::LearnStatus> status;
    if (!c.learn(ok, forget, &status, error)) return false;
    for (auto s : status) {
      switch (s) {
        case bayes::LearnStatus::Learned: ++counts->learned; break;
        case bayes::LearnStatus::Relearned: ++counts->relearned; break;
        case bayes::LearnStatus::AlreadyLearned: ++counts->already; break;
        case bayes::LearnStatus::Forgotten: ++counts->forgotten; break;
        case bayes::LearnStatus::NotLearned: ++counts->not_learned; break;
      }
    }
    if (progress) progress(start + n, items.size());
  }
  return true;
}

int run_learn(const ConfigPtr& cfg, const LearnOptions& opt) {
  std::string why;
  bayes::ClassifierPtr c = config_classifier(*cfg, &why);
  if (!c) {
    std::cerr << "mxgate learn: " << why << "\n";
    return 2;
  }
  if (opt.stats) return print_stats(*c, opt.json);
  if (opt.spam + opt.ham + opt.forget != 1) {
    std::cerr << "mxgate learn: give exactly one of --spam, --ham, --forget (or --stats)\n";
    return 2;
  }
  if (opt.paths.empty()) {
    std::cerr << "mxgate learn: no messages given (files, mbox files, maildirs or folders)\n";
    return 2;
  }
  std::vector<CorpusItem> items;
  std::vector<std::string> errors;
  for (const auto& p : opt.paths) collect_corpus(p, opt.spam, items, errors);
  for (const auto& e : errors) std::cerr << "mxgate learn: " << e << "\n";
  if (!errors.empty()) return 1;
  const bool bar = opt.progress && !opt.json && isatty(STDERR_FILENO);
  LearnCounts counts;
  std::string err;
  const auto mime = cfg->chain ? cfg->chain->mime_settings() : std::make_shared<const MimeSettings>();
  bool ok = learn_items(*c, *mime, items, opt.forget, opt.jobs, &counts, &err, [&](std::size_t done, std::size_t total) {
    if (bar) std::fprintf(stderr, "\rlearning: %zu/%zu (%zu%%)", done, total, total ? done * 100 / total : 100);
  });
  if (bar) std::fprintf(stderr, "\n");
  if (!ok) {
    std::cerr << "mxgate learn: " << err << " (the batch in progress was not kept)\n";
    return 1;
  }
  if (opt.json) {
    JsonWriter j;
    j.begin_object().field("messages", static_cast<unsigned long long>(items.size()));
    j.field("learned", static_cast<unsigned long long>(counts.learned));
    j.field("relearned", static_cast<unsigned long long>(counts.relearned));
    j.field("already_learned", static_cast<unsigned long long>(counts.already));
    j.field("forgotten", static_cast<unsigned long long>(counts.forgotten));
    j.field("not_learned", static_cast<unsigned long long>(counts.not_learned));
    j.field("unreadable", static_cast<unsigned long long>(counts.unreadable));
    j.end_object();
    std::cout << j.str() << "\n";
  } else if (opt.forget) {
    std::printf("forgot %zu of %zu messages (%zu had not been learned, %zu unreadable)\n", counts.forgotten,
                items.size(), counts.not_learned, counts.unreadable);
  } else {
    std::printf("learned %zu of %zu messages as %s (%zu moved from %s, %zu already learned, %zu unreadable)\n",
                counts.learned + counts.relearned, items.size(), opt.spam ? "spam" : "ham", counts.relearned,
                opt.spam ? "ham" : "spam", counts.already, counts.unreadable);
  }
  return counts.unreadable ? 1 : 0;
}

}  // namespace mxgate
