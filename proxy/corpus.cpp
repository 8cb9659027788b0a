#include "proxy/corpus.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "filters/bayes/bayes_filter.hpp"
#include "filters/content/content_filter.hpp"
#include "proxy/check.hpp"
#include "proxy/json.hpp"
#include "proxy/learn_cli.hpp"

extern char** environ;

namespace mxgate {
namespace fs = std::filesystem;

namespace {

std::string read_all(const std::string& path, std::size_t offset, std::size_t length) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  if (offset) in.seekg(static_cast<std::streamoff>(offset));
  if (length == std::string::npos) {
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  std::string out(length, '\0');
  in.read(out.data(), static_cast<std::streamsize>(length));
  out.resize(static_cast<std::size_t>(in.gcount()));
  return out;
}

// The messages of an mbox: each starts at a "From " line at the start of the file
// or after a blank line (mboxrd/mboxo; ">From " quoting inside is left as it is).
void split_mbox(const std::string& path, const std::string& text, bool spam, std::vector<CorpusItem>& out) {
  std::vector<std::size_t> starts;
  for (std::size_t p = 0; p < text.size();) {
    if (text.compare(p, 5, "From ") == 0 && (p == 0 || (p >= 2 && text[p - 1] == '\n' && text[p - 2] == '\n')))
      starts.push_back(p);
    std::size_t nl = text.find('\n', p);
    if (nl == std::string::npos) break;
    p = nl + 1;
  }
  for (std::size_t i = 0; i < starts.size(); ++i) {
    std::size_t end = i + 1 < starts.size() ? starts[i + 1] : text.size();
    out.push_back({path + ":" + std::to_string(i + 1), path, starts[i], end - starts[i], spam});
  }
}

bool is_mbox(const std::string& head) {
  // A "From " first line and at least a second message separator.
  return head.starts_with("From ") && head.find("\n\nFrom ") != std::string::npos;
}

}  // namespace

std::string read_corpus_item(const CorpusItem& it) { return read_all(it.path, it.offset, it.length); }

void collect_corpus(const std::string& path, bool spam, std::vector<CorpusItem>& out, std::vector<std::string>& errors) {
  std::error_code ec;
  fs::file_status st = fs::status(path, ec);
  if (!fs::exists(st)) {  // fs::status reports a missing path as an error code too
    errors.push_back(path + ": no such file or folder");
    return;
  }
  if (ec) {
    errors.push_back(path + ": " + ec.message());
    return;
  }
  auto add_file = [&](const std::string& file) {
    std::string text = read_all(file, 0, std::string::npos);
    if (is_mbox(text)) split_mbox(file, text, spam, out);
    else out.push_back({file, file, 0, std::string::npos, spam});
  };
  if (!fs::is_directory(st)) {
    add_file(path);
    return;
  }
  std::vector<std::string> files;
  const bool maildir = fs::is_directory(fs::path(path) / "cur", ec) || fs::is_directory(fs::path(path) / "new", ec);
  if (maildir) {
    for (const char* sub : {"cur", "new"}) {
      fs::path d = fs::path(path) / sub;
      if (!fs::is_directory(d, ec)) continue;
      for (const auto& e : fs::directory_iterator(d, ec))
        if (e.is_regular_file() && !e.path().filename().string().starts_with(".")) files.push_back(e.path().string());
    }
  } else {
    for (auto it = fs::recursive_directory_iterator(path, fs::directory_options::skip_permission_denied, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      const std::string name = it->path().filename().string();
      if (name.starts_with(".")) {
        if (it->is_directory()) it.disable_recursion_pending();
        continue;
      }
      if (it->is_regular_file()) files.push_back(it->path().string());
    }
  }
  if (ec) errors.push_back(path + ": " + ec.message());
  std::sort(files.begin(), files.end());
  for (const auto& f : files) add_file(f);
}

SaStatus parse_spam_status(const std::string& text) {
  SaStatus s;
  std::size_t p = text.find("X-Spam-Status:");
  if (p == std::string::npos) return s;
  // The field with its folded continuation lines, unfolded.
  std::string field;
  std::size_t e = p;
  while (e < text.size()) {
    std::size_t nl = text.find('\n', e);
    if (nl == std::string::npos) nl = text.size();
    field.append(text, e, nl - e);
    e = nl + 1;
    if (e >= text.size() || (text[e] != ' ' && text[e] != '\t')) break;
  }
  std::size_t sc = field.find("score=");
  if (sc == std::string::npos) return s;
  s.score = std::strtod(field.c_str() + sc + 6, nullptr);
  s.ok = true;
  std::size_t t = field.find("tests=");
  if (t == std::string::npos) return s;
  // The list ends at the next "key=" (autolearn=, version=), wherever the field was
  // folded.
  std::string cur;
  for (std::size_t i = t + 6; i <= field.size(); ++i) {
    char c = i < field.size() ? field[i] : ' ';
    if (c == ',' || c == ' ' || c == '\t' || c == '\r') {
      if (cur.find('=') != std::string::npos) break;
      if (!cur.empty() && cur != "none") s.tests.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  return s;
}

namespace {

struct ItemResult {
  bool done = false;
  bool read_error = false;
  double score = 0;
  std::string verdict;
  bool flagged = false;  // tag, quarantine or reject
  std::vector<std::string> rules;  // symbols that counted
  std::vector<double> scores;      // their scores (the score set the message got)
  SaStatus sa;
};

// Runs `argv` with `input` on standard input inside a new network namespace with
// only loopback (unshare -n), and returns standard output. Empty on failure.
std::string run_isolated(const std::vector<std::string>& argv, const std::string& input, bool* failed) {
  int in_pipe[2], out_pipe[2];
  if (pipe2(in_pipe, O_CLOEXEC) != 0) { *failed = true; return {}; }
  if (pipe2(out_pipe, O_CLOEXEC) != 0) { close(in_pipe[0]); close(in_pipe[1]); *failed = true; return {}; }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in_pipe[0], 0);
  posix_spawn_file_actions_adddup2(&fa, out_pipe[1], 1);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, args[0], &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  close(in_pipe[0]);
  close(out_pipe[1]);
  if (rc != 0) {
    close(in_pipe[1]);
    close(out_pipe[0]);
    *failed = true;
    return {};
  }
  // Feed and drain together: the child may write before it has read everything.
  std::string out;
  std::size_t sent = 0;
  bool in_open = true;
  char buf[65536];
  while (true) {
    pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {in_open ? in_pipe[1] : -1, POLLOUT, 0}};
    if (poll(fds, 2, 120'000) <= 0) break;  // two minutes without progress: give up
    if (in_open && (fds[1].revents & (POLLOUT | POLLERR | POLLHUP))) {
      ssize_t n = write(in_pipe[1], input.data() + sent, std::min<std::size_t>(input.size() - sent, 65536));
      if (n > 0) sent += static_cast<std::size_t>(n);
      if (n < 0 || sent >= input.size()) {
        close(in_pipe[1]);
        in_open = false;
      }
    }
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = read(out_pipe[0], buf, sizeof buf);
      if (n <= 0) break;
      out.append(buf, static_cast<std::size_t>(n));
    }
  }
  if (in_open) close(in_pipe[1]);
  close(out_pipe[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status)) *failed = true;
  return out;
}

// The classifier's training part of a corpus run, in a folder of its own that
// goes when the run ends.
struct Training {
  bool on = false;
  std::size_t ham = 0, spam = 0;       // learned
  std::string dir;
  std::vector<std::string> sa_args;    // spamassassin options for its own Bayes
  ~Training() {
    std::error_code ec;
    if (!dir.empty()) fs::remove_all(dir, ec);
  }
};

// Moves the training messages out of `items` into `train`: the train_* paths, and
// the share `fraction` of the rest by a hash of the file name (its last path
// part, and the message's number in an mbox), the same wherever the corpus lies.
void split_training(const CorpusOptions& opt, std::vector<CorpusItem>& items, std::vector<CorpusItem>& train,
                    std::vector<std::string>& errors) {
  for (const auto& p : opt.train_ham) collect_corpus(p, false, train, errors);
  for (const auto& p : opt.train_spam) collect_corpus(p, true, train, errors);
  if (opt.train_fraction <= 0) return;
  std::vector<CorpusItem> kept;
  const auto cut = static_cast<std::uint64_t>(opt.train_fraction * 1'000'000.0);
  for (auto& it : items) {
    const std::string name = fs::path(it.label).filename().string();
    (bayes::token_hash(name) % 1'000'000 < cut ? train : kept).push_back(std::move(it));
  }
  items = std::move(kept);
}

// The training messages as files of a folder per kind (sa-learn reads folders).
bool write_training_files(const std::vector<CorpusItem>& train, const std::string& dir, std::string* error) {
  std::error_code ec;
  fs::create_directories(fs::path(dir) / "ham", ec);
  fs::create_directories(fs::path(dir) / "spam", ec);
  if (ec) {
    *error = dir + ": " + ec.message();
    return false;
  }
  std::size_t n = 0;
  for (const auto& it : train) {
    std::string raw = read_corpus_item(it);
    if (raw.empty()) continue;
    std::ofstream out(fs::path(dir) / (it.spam ? "spam" : "ham") / std::to_string(n++), std::ios::binary);
    out << without_mbox_separator(raw);
    if (!out) {
      *error = dir + ": cannot write the training messages";
      return false;
    }
  }
  return true;
}

double pct(std::size_t n, std::size_t of) { return of ? 100.0 * static_cast<double>(n) / static_cast<double>(of) : 0.0; }

struct RuleCounts {
  std::size_t ham = 0, spam = 0;
};

struct Agreement {
  std::size_t both = 0, mx_only = 0, sa_only = 0;
  double precision() const { return both + mx_only ? static_cast<double>(both) / static_cast<double>(both + mx_only) : 1.0; }
  double recall() const { return both + sa_only ? static_cast<double>(both) / static_cast<double>(both + sa_only) : 1.0; }
};

}  // namespace

int run_corpus(const ConfigPtr& configured, const CorpusOptions& opt) {
  // Without DNS the authentication filters could only say "temperror" for every
  // message (SPF_TEMPERROR, DMARC_TEMPERROR...), which no sender would ever see:
  // like SpamAssassin's -L, they do not run at all.
  ConfigPtr cfg = configured;
  std::vector<std::string> skipped;
  if (opt.dns.empty() && configured->chain) {
    std::vector<FilterPtr> kept;
    for (const auto& f : configured->chain->filters()) {
      const std::string name = f->name();
      if (name == "spf" || name == "dkim" || name == "arc" || name == "dmarc") skipped.push_back(name);
      else kept.push_back(f);
    }
    if (!skipped.empty()) {
      auto c = std::make_shared<Config>(*configured);
      c->chain = std::make_shared<FilterChain>(std::move(kept), configured->limits.filter_timeout);
      cfg = std::move(c);
    }
  }
  std::vector<CorpusItem> items;
  std::vector<std::string> errors;
  for (const auto& p : opt.ham) collect_corpus(p, false, items, errors);
  for (const auto& p : opt.spam) collect_corpus(p, true, items, errors);
  std::vector<CorpusItem> train;
  const bool training = opt.train_fraction > 0 || !opt.train_ham.empty() || !opt.train_spam.empty();
  if (training) split_training(opt, items, train, errors);
  for (const auto& e : errors) std::cerr << "mxgate corpus: " << e << "\n";
  if (!errors.empty()) return 1;
  if (items.empty()) {
    std::cerr << "mxgate corpus: no messages (give --ham and/or --spam folders, maildirs or mbox files)\n";
    return 1;
  }
  // The rule set, to tell rule types apart (and our own symbols from rules).
  const rules::RuleSet* rs = nullptr;
  for (const auto& f : cfg->chain->filters())
    if (auto* c = dynamic_cast<const ContentFilter*>(f.get())) rs = c->config().rules.get();

  if (opt.compare_spamassassin) {
    bool failed = false;
    run_isolated({"unshare", "-n", opt.spamassassin, "--version"}, "", &failed);
    if (failed) {
      std::cerr << "mxgate corpus: cannot run '" << opt.spamassassin
                << "' in a network namespace (unshare -n needs root; apt install spamassassin)\n";
      return 2;
    }
  }

  Training tr;
  if (training) {
    // The config's classifier settings, a database of the run's own.
    const BayesFilter* bf = nullptr;
    for (const auto& f : cfg->chain->filters())
      if (auto* b = dynamic_cast<const BayesFilter*>(f.get())) bf = b;
    if (!bf) {
      std::cerr << "mxgate corpus: --train-fraction/--train-ham/--train-spam need a bayes filter in the config\n";
      return 2;
    }
    char tmpl[] = "/tmp/mxgate-corpus-XXXXXX";
    if (!mkdtemp(tmpl)) {
      std::cerr << "mxgate corpus: cannot make a temporary folder: " << std::strerror(errno) << "\n";
      return 1;
    }
    tr.on = true;
    tr.dir = tmpl;
    auto bc = std::make_shared<BayesConfig>(bf->config());
    bc->store = "sqlite";  // never the configured database (a farm's Redis included)
    bc->path = tr.dir + "/bayes.db";
    std::string err;
    bayes::ClassifierPtr classifier = bayes::Classifier::open(*bc, &err);
    LearnCounts counts;
    const bool bar = opt.progress && isatty(2);
    if (!classifier ||
        !learn_items(*classifier, *cfg->chain->mime_settings(), train, false, opt.jobs, &counts, &err,
                     [&](std::size_t done, std::size_t total) {
                       if (bar) std::fprintf(stderr, "\rlearning: %zu/%zu", done, total);
                     }) ||
        !classifier->refresh_now(&err)) {
      std::cerr << "mxgate corpus: the classifier: " << err << "\n";
      return 1;
    }
    if (bar) std::fprintf(stderr, "\r%*s\r", 40, "");
    for (const auto& it : train) (it.spam ? tr.spam : tr.ham)++;
    std::vector<FilterPtr> filters;
    for (const auto& f : cfg->chain->filters())
      filters.push_back(f.get() == bf ? std::make_shared<BayesFilter>(bc, classifier) : f);
    auto c = std::make_shared<Config>(*cfg);
    c->chain = std::make_shared<FilterChain>(std::move(filters), cfg->limits.filter_timeout);
    cfg = std::move(c);
    if (opt.compare_spamassassin) {
      // SpamAssassin's own Bayes learns the same messages, in its own database.
      if (!write_training_files(train, tr.dir + "/train", &err)) {
        std::cerr << "mxgate corpus: " << err << "\n";
        return 1;
      }
      const std::string path_opt = "--cf=bayes_path " + tr.dir + "/sa/bayes";
      for (const char* kind : {"--spam", "--ham"}) {
        bool failed = false;
        const std::string sub = tr.dir + "/train/" + (kind[2] == 's' ? "spam" : "ham");
        run_isolated({"unshare", "-n", "sa-learn", path_opt, "--cf=use_auto_welcomelist 0", "--no-sync", kind, sub}, "",
                     &failed);
        if (failed) {
          std::cerr << "mxgate corpus: sa-learn " << kind << " failed\n";
          return 2;
        }
      }
      bool failed = false;
      run_isolated({"unshare", "-n", "sa-learn", path_opt, "--sync"}, "", &failed);
      tr.sa_args = {path_opt, "--cf=use_bayes 1"};
    }
  }

  CheckOptions copt;
  copt.dns = opt.dns;
  copt.no_dns = opt.dns.empty();
  copt.ip = "";  // offline: no connecting client, only the message's own Received trail
  copt.helo = "";

  std::vector<ItemResult> results(items.size());
  std::atomic<std::size_t> next{0}, done{0};
  const std::size_t jobs =
      opt.jobs ? opt.jobs : std::clamp<std::size_t>(std::thread::hardware_concurrency(), 1, 64);
  const auto started = std::chrono::steady_clock::now();
  auto work = [&] {
    for (std::size_t i; (i = next.fetch_add(1)) < items.size();) {
      const CorpusItem& it = items[i];
      ItemResult& r = results[i];
      std::string raw = read_corpus_item(it);
      if (raw.empty()) {
        r.read_error = true;
      } else {
        CheckRun run = check_run(cfg, raw, copt);
        const Decision& d = run.out.decision;
        r.score = d.score;
        r.verdict = d.verdict();
        r.flagged = r.verdict == "tag" || r.verdict == "quarantine" || r.verdict == "reject";
        for (const auto& s : run.symbols) {
          r.rules.push_back(s.name);
          r.scores.push_back(s.score);
        }
        if (opt.compare_spamassassin) {
          bool failed = false;
          // Local tests only, as mxgate runs them: no network (-L and no interface
          // but loopback), and no auto-learning, which would otherwise learn from the
          // corpus itself as it goes and switch SpamAssassin to its Bayes score set
          // part-way through the run. Bayes only when it learned the training part.
          std::vector<std::string> argv = {"unshare", "-n", opt.spamassassin, "-L", "-t", "--cf=bayes_auto_learn 0",
                                           "--cf=use_auto_welcomelist 0"};
          if (tr.sa_args.empty()) argv.push_back("--cf=use_bayes 0");
          argv.insert(argv.end(), tr.sa_args.begin(), tr.sa_args.end());
          std::string sa = run_isolated(argv, std::string(without_mbox_separator(raw)), &failed);
          r.sa = parse_spam_status(sa);
        }
      }
      r.done = true;
      done.fetch_add(1);
    }
  };
  std::vector<std::thread> pool;
  for (std::size_t t = 1; t < std::min(jobs, items.size()); ++t) pool.emplace_back(work);
  std::thread progress;
  std::atomic<bool> finished{false};
  if (opt.progress && isatty(2)) {
    progress = std::thread([&] {
      while (!finished.load()) {
        std::size_t n = done.load();
        double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        int width = 40, filled = static_cast<int>(width * n / items.size());
        std::fprintf(stderr, "\r[%s%s] %zu/%zu messages, %.1f/s ", std::string(static_cast<std::size_t>(filled), '=').c_str(),
                     std::string(static_cast<std::size_t>(width - filled), ' ').c_str(), n, items.size(),
                     secs > 0 ? static_cast<double>(n) / secs : 0.0);
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
      }
      std::fprintf(stderr, "\r%*s\r", 80, "");
    });
  }
  work();
  for (auto& t : pool) t.join();
  finished = true;
  if (progress.joinable()) progress.join();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

  // ---- tallies
  std::size_t n_ham = 0, n_spam = 0, fl_ham = 0, fl_spam = 0, unreadable = 0, sa_ok = 0, sa_fl_ham = 0, sa_fl_spam = 0;
  std::map<std::string, RuleCounts> hits;
  std::map<std::string, Agreement> agree;
  std::map<std::string, Agreement> by_type;
  std::map<std::string, std::size_t> sa_unknown;  // SpamAssassin rules mxgate does not have
  auto type_of = [&](const std::string& name) -> std::string {
    const rules::Rule* r = rs ? rs->find(name) : nullptr;
    if (!r) return "";
    if (rs->parsed().unsupported_rules.count(name)) return "unsupported";
    if (r->scope == rules::Scope::Eval) return "eval";
    return std::string(rules::scope_name(r->scope));
  };
  for (std::size_t i = 0; i < items.size(); ++i) {
    const ItemResult& r = results[i];
    if (r.read_error) {
      ++unreadable;
      continue;
    }
    const bool spam = items[i].spam;
    (spam ? n_spam : n_ham)++;
    if (r.flagged) (spam ? fl_spam : fl_ham)++;
    for (const auto& name : r.rules) (spam ? hits[name].spam : hits[name].ham)++;
    if (opt.compare_spamassassin && r.sa.ok) {
      ++sa_ok;
      if (r.sa.score >= 5.0) (spam ? sa_fl_spam : sa_fl_ham)++;
      std::set<std::string> mx(r.rules.begin(), r.rules.end()), sa(r.sa.tests.begin(), r.sa.tests.end());
      std::set<std::string> all = mx;
      all.insert(sa.begin(), sa.end());
      for (const auto& name : all) {
        std::string type = type_of(name);
        if (type.empty() || type == "unsupported") {
          if (sa.count(name) && !mx.count(name)) ++sa_unknown[name];
          continue;  // mxgate's own symbols, or rules it cannot run
        }
        Agreement& a = agree[name];
        Agreement& t = by_type[type];
        if (mx.count(name) && sa.count(name)) ++a.both, ++t.both;
        else if (mx.count(name)) ++a.mx_only, ++t.mx_only;
        else ++a.sa_only, ++t.sa_only;
      }
    }
  }
  // Threshold table: from the scores.
  const double thresholds[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 15, 20};
  auto at_threshold = [&](double th, bool spam) {
    std::size_t n = 0;
    for (std::size_t i = 0; i < items.size(); ++i)
      if (!results[i].read_error && items[i].spam == spam && results[i].score >= th) ++n;
    return n;
  };
  // Rules by hits, as hit-frequencies: S/O = spam% / (spam% + ham%).
  std::vector<std::pair<std::string, RuleCounts>> rule_rows(hits.begin(), hits.end());
  std::sort(rule_rows.begin(), rule_rows.end(), [](const auto& a, const auto& b) {
    return a.second.ham + a.second.spam != b.second.ham + b.second.spam ? a.second.ham + a.second.spam > b.second.ham + b.second.spam
                                                                        : a.first < b.first;
  });
  // A rule's score as the messages got it (with Bayes available, SpamAssassin's
  // Bayes score set), else as the rule file gives it without Bayes.
  std::map<std::string, double> scored;
  for (const auto& r : results)
    for (std::size_t k = 0; k < r.rules.size() && k < r.scores.size(); ++k) scored.emplace(r.rules[k], r.scores[k]);
  auto score_of = [&](const std::string& name) -> double {
    if (auto it = scored.find(name); it != scored.end()) return it->second;
    const rules::Rule* r = rs ? rs->find(name) : nullptr;
    return r ? r->score : 0.0;
  };
  auto so = [&](const RuleCounts& c) {
    double s = pct(c.spam, n_spam), h = pct(c.ham, n_ham);
    return s + h > 0 ? s / (s + h) : 0.0;
  };
  std::vector<std::size_t> fps, fns;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (results[i].read_error) continue;
    if (!items[i].spam && results[i].flagged) fps.push_back(i);
    if (items[i].spam && !results[i].flagged) fns.push_back(i);
  }
  auto by_score_desc = [&](std::size_t a, std::size_t b) { return results[a].score > results[b].score; };
  std::sort(fps.begin(), fps.end(), by_score_desc);
  std::sort(fns.begin(), fns.end(), [&](std::size_t a, std::size_t b) { return results[a].score < results[b].score; });
  // Messages spamassassin puts on the other side of its threshold (5): where to
  // look first when the two flag different shares.
  std::vector<std::size_t> differ;
  for (std::size_t i = 0; i < items.size(); ++i)
    if (!results[i].read_error && results[i].sa.ok && results[i].flagged != (results[i].sa.score >= 5.0))
      differ.push_back(i);
  // The rules only one side hit on a message, "+NAME" (mxgate) and "-NAME" (spamassassin).
  auto one_sided = [&](const ItemResult& r) {
    std::set<std::string> mx(r.rules.begin(), r.rules.end()), sa(r.sa.tests.begin(), r.sa.tests.end());
    std::string out;
    for (const auto& n : mx)  // mxgate's own filters' symbols (MIME_BAD_QP, ...) too
      if (!sa.count(n)) out += (out.empty() ? "+" : " +") + n;
    for (const auto& n : sa)
      if (!mx.count(n)) out += (out.empty() ? "-" : " -") + n;
    return out;
  };
  std::vector<std::pair<std::string, Agreement>> disagree(agree.begin(), agree.end());
  std::sort(disagree.begin(), disagree.end(), [](const auto& a, const auto& b) {
    return a.second.mx_only + a.second.sa_only > b.second.mx_only + b.second.sa_only;
  });
  std::vector<std::pair<std::string, std::size_t>> unknown(sa_unknown.begin(), sa_unknown.end());
  std::sort(unknown.begin(), unknown.end(), [](const auto& a, const auto& b) { return a.second > b.second; });

  if (opt.json) {
    JsonWriter j;
    j.begin_object();
    j.field("messages", static_cast<unsigned long long>(n_ham + n_spam)).field("seconds", seconds);
    j.field("ham", static_cast<unsigned long long>(n_ham)).field("spam", static_cast<unsigned long long>(n_spam));
    j.field("unreadable", static_cast<unsigned long long>(unreadable));
    if (tr.on) {
      j.key("trained").begin_object().field("ham", static_cast<unsigned long long>(tr.ham));
      j.field("spam", static_cast<unsigned long long>(tr.spam)).field("fraction", opt.train_fraction);
      j.field("spamassassin_bayes", !tr.sa_args.empty()).end_object();
    }
    j.key("filters_not_run").begin_array();
    for (const auto& n : skipped) j.value(n);
    j.end_array();
    j.field("ham_flagged", static_cast<unsigned long long>(fl_ham)).field("spam_flagged", static_cast<unsigned long long>(fl_spam));
    j.field("ham_flagged_pct", pct(fl_ham, n_ham)).field("spam_flagged_pct", pct(fl_spam, n_spam));
    j.key("thresholds").begin_array();
    for (double th : thresholds)
      j.begin_object().field("score", th).field("spam_pct", pct(at_threshold(th, true), n_spam))
          .field("ham_pct", pct(at_threshold(th, false), n_ham)).end_object();
    j.end_array();
    j.key("rules").begin_array();
    for (const auto& [name, c] : rule_rows)
      j.begin_object().field("name", name).field("spam", static_cast<unsigned long long>(c.spam))
          .field("ham", static_cast<unsigned long long>(c.ham)).field("so", so(c)).field("score", score_of(name))
          .field("type", type_of(name)).end_object();
    j.end_array();
    auto list = [&](const char* key, const std::vector<std::size_t>& v) {
      j.key(key).begin_array();
      for (std::size_t i : v) {
        j.begin_object().field("file", items[i].label).field("score", results[i].score);
        j.field("verdict", results[i].verdict);
        j.key("rules").begin_array();
        for (const auto& r : results[i].rules) j.value(r);
        j.end_array().end_object();
      }
      j.end_array();
    };
    list("false_positives", fps);
    list("false_negatives", fns);
    // Every message, for scripts that compare runs.
    j.key("messages").begin_array();
    for (std::size_t i = 0; i < items.size(); ++i) {
      const ItemResult& r = results[i];
      j.begin_object().field("file", items[i].label).field("spam", items[i].spam);
      if (r.read_error) {
        j.field("unreadable", true).end_object();
        continue;
      }
      j.field("score", r.score).field("verdict", r.verdict);
      j.key("rules").begin_array();
      for (const auto& n : r.rules) j.value(n);
      j.end_array();
      if (opt.compare_spamassassin && r.sa.ok) {
        j.field("spamassassin_score", r.sa.score);
        j.key("spamassassin_rules").begin_array();
        for (const auto& n : r.sa.tests) j.value(n);
        j.end_array();
      }
      j.end_object();
    }
    j.end_array();
    if (opt.compare_spamassassin) {
      j.key("spamassassin").begin_object();
      j.field("checked", static_cast<unsigned long long>(sa_ok));
      j.field("ham_flagged_pct", pct(sa_fl_ham, n_ham)).field("spam_flagged_pct", pct(sa_fl_spam, n_spam));
      j.key("by_type").begin_object();
      for (const auto& [t, a] : by_type)
        j.key(t).begin_object().field("precision", a.precision()).field("recall", a.recall())
            .field("both", static_cast<unsigned long long>(a.both)).field("mxgate_only", static_cast<unsigned long long>(a.mx_only))
            .field("spamassassin_only", static_cast<unsigned long long>(a.sa_only)).end_object();
      j.end_object();
      j.key("rules").begin_array();
      for (const auto& [name, a] : disagree)
        j.begin_object().field("name", name).field("type", type_of(name)).field("both", static_cast<unsigned long long>(a.both))
            .field("mxgate_only", static_cast<unsigned long long>(a.mx_only))
            .field("spamassassin_only", static_cast<unsigned long long>(a.sa_only)).end_object();
      j.end_array();
      j.key("not_in_mxgate").begin_array();
      for (const auto& [name, n] : unknown)
        j.begin_object().field("name", name).field("hits", static_cast<unsigned long long>(n)).end_object();
      j.end_array();
      j.key("verdicts_differ").begin_array();
      for (std::size_t i : differ)
        j.begin_object().field("file", items[i].label).field("spam", items[i].spam).field("score", results[i].score)
            .field("spamassassin_score", results[i].sa.score).field("rules_differ", one_sided(results[i])).end_object();
      j.end_array();
      j.end_object();
    }
    j.end_object();
    std::cout << j.str() << "\n";
    return 0;
  }

  std::printf("messages:  %zu ham, %zu spam (%zu unreadable) in %.1f s, %zu jobs\n", n_ham, n_spam, unreadable, seconds,
              jobs);
  if (!skipped.empty()) {
    std::string names;
    for (const auto& n : skipped) names += (names.empty() ? "" : ", ") + n;
    std::printf("not run:   %s (no --dns: nothing is looked up)\n", names.c_str());
  }
  if (tr.on)
    std::printf("learned:   %zu ham, %zu spam first (not measured), by the classifier%s\n", tr.ham, tr.spam,
                tr.sa_args.empty() ? "" : " and by spamassassin's Bayes");
  std::printf("flagged:   spam %zu/%zu (%.1f%%), ham %zu/%zu (%.1f%%)   [verdict tag, quarantine or reject]\n", fl_spam,
              n_spam, pct(fl_spam, n_spam), fl_ham, n_ham, pct(fl_ham, n_ham));
  if (opt.compare_spamassassin)
    std::printf("spamassassin -L -t%s (score >= 5): spam %.1f%%, ham %.1f%% (%zu checked)\n",
                tr.sa_args.empty() ? "" : " with Bayes", pct(sa_fl_spam, n_spam), pct(sa_fl_ham, n_ham), sa_ok);
  std::printf("\nscore >=   spam%%    ham%%\n");
  for (double th : thresholds)
    std::printf("  %5.1f  %6.1f  %6.1f\n", th, pct(at_threshold(th, true), n_spam), pct(at_threshold(th, false), n_ham));
  std::printf("\n  SPAM%%    HAM%%    S/O   SCORE  NAME\n");
  std::size_t shown = 0;
  for (const auto& [name, c] : rule_rows) {
    if (opt.rules && shown++ >= opt.rules) break;
    std::printf("%6.1f  %6.1f  %5.3f  %6.2f  %s\n", pct(c.spam, n_spam), pct(c.ham, n_ham), so(c), score_of(name),
                name.c_str());
  }
  if (opt.rules && rule_rows.size() > opt.rules)
    std::printf("  (%zu more rules; --rules 0 lists all)\n", rule_rows.size() - opt.rules);
  auto list = [&](const char* title, const std::vector<std::size_t>& v) {
    std::printf("\n%s: %zu\n", title, v.size());
    for (std::size_t k = 0; k < v.size() && k < opt.list; ++k) {
      const ItemResult& r = results[v[k]];
      std::string names;
      for (const auto& n : r.rules) names += (names.empty() ? "" : ",") + n;
      std::printf("  %7.2f  %s  %s\n", r.score, items[v[k]].label.c_str(), names.c_str());
    }
    if (v.size() > opt.list) std::printf("  (%zu more; --list N shows more)\n", v.size() - opt.list);
  };
  list("false positives (ham flagged)", fps);
  list("false negatives (spam not flagged)", fns);
  if (opt.compare_spamassassin) {
    std::printf("\nagreement with spamassassin per rule type (rules mxgate runs):\n");
    std::printf("  %-8s  precision  recall    both  mxgate-only  sa-only\n", "type");
    for (const auto& [t, a] : by_type)
      std::printf("  %-8s  %9.3f  %6.3f  %6zu  %11zu  %7zu\n", t.c_str(), a.precision(), a.recall(), a.both, a.mx_only,
                  a.sa_only);
    std::printf("\nrules that disagree most (both / mxgate only / spamassassin only):\n");
    for (std::size_t k = 0; k < disagree.size() && k < 25; ++k) {
      const auto& [name, a] = disagree[k];
      if (a.mx_only + a.sa_only == 0) break;
      std::printf("  %-32s %-8s %5zu %5zu %5zu\n", name.c_str(), type_of(name).c_str(), a.both, a.mx_only, a.sa_only);
    }
    std::printf("\nverdicts that differ from spamassassin's (mxgate score, spamassassin score; rules hit by only\n"
                "mxgate +, only spamassassin -): %zu\n", differ.size());
    for (std::size_t k = 0; k < differ.size() && k < opt.list; ++k) {
      const std::size_t i = differ[k];
      std::printf("  %s %7.2f %7.2f  %s  %s\n", items[i].spam ? "spam" : "ham ", results[i].score, results[i].sa.score,
                  items[i].label.c_str(), one_sided(results[i]).c_str());
    }
    if (differ.size() > opt.list) std::printf("  (%zu more; --list N shows more)\n", differ.size() - opt.list);
    std::printf("\nspamassassin rules mxgate does not run (hits):\n ");
    for (std::size_t k = 0; k < unknown.size() && k < 30; ++k) std::printf(" %s(%zu)", unknown[k].first.c_str(), unknown[k].second);
    std::printf("\n");
  }
  return 0;
}

}  // namespace mxgate
