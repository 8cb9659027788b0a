// `mxgate corpus --ham PATH... --spam PATH...`: the tool for tuning rules. Runs
// the configured filter chain offline (as `mxgate check` does) on every message of
// labelled folders, on all cores, and reports how well it separates them: spam and
// ham flagged at the configured thresholds, a threshold table, each rule's hits on
// ham and spam with its S/O ratio and score (as SpamAssassin's hit-frequencies),
// and the misclassified files. `--compare-spamassassin` also runs Debian's
// `spamassassin -L -t` on the same messages (in a network namespace with only
// loopback) and reports, per rule type, how far mxgate's rule hits agree with
// SpamAssassin's (precision and recall), and the rules that disagree most.
//
// With --train-fraction (or --train-ham/--train-spam) the classifier learns part
// of the corpus first, into a database of its own, and is measured on the rest:
// never on a message it learned from.
//
// Inputs: a file (one message, or an mbox of several), a maildir (cur/ and new/),
// or a folder (every file below it, recursively, hidden files skipped). A leading
// mbox "From " line of a single message is skipped, as SpamAssassin does.
// Without --dns nothing is looked up and the spf, dkim and dmarc filters do not run,
// like SpamAssassin's local tests (-L); with --dns they run against that server.
#pragma once
#include <cstddef>
#include <string>
#include <vector>

#include "proxy/config.hpp"

namespace mxgate {

struct CorpusOptions {
  std::vector<std::string> ham, spam;
  std::size_t jobs = 0;        // 0: one per core
  bool json = false;
  bool compare_spamassassin = false;
  std::string spamassassin = "spamassassin";  // the command (tests point it elsewhere)
  std::size_t list = 20;       // misclassified files listed per kind
  std::size_t rules = 40;      // rules listed in the hit table (0: all)
  std::vector<std::string> dns;
  bool progress = true;        // a progress bar on standard error if it is a terminal
  // The classifier (the config's bayes filter) learns, into a fresh database of
  // its own, this share of the messages (chosen by a hash of each file's name, so
  // the same files every run) and the train_* paths, and is measured on the rest.
  // With --compare-spamassassin, SpamAssassin's Bayes learns the same messages
  // (sa-learn into a fresh database) and runs with it.
  double train_fraction = 0;
  std::vector<std::string> train_ham, train_spam;
};

// Exit status: 0 done, 1 no messages or unreadable input, 2 spamassassin missing.
int run_corpus(const ConfigPtr& cfg, const CorpusOptions& opt);

// One message of a labelled corpus.
struct CorpusItem {
  std::string label;           // file path, or "path:N" for the Nth message of an mbox
  std::string path;
  std::size_t offset = 0, length = std::string::npos;  // inside the file (mbox)
  bool spam = false;
};
// Every message under `path` (file, mbox, maildir or folder); errors appended.
void collect_corpus(const std::string& path, bool spam, std::vector<CorpusItem>& out, std::vector<std::string>& errors);
// The item's bytes ("" if unreadable).
std::string read_corpus_item(const CorpusItem& it);

// SpamAssassin's report header: score and rule names from `X-Spam-Status:`.
struct SaStatus {
  bool ok = false;
  double score = 0;
  std::vector<std::string> tests;
};
SaStatus parse_spam_status(const std::string& spamassassin_output);

}  // namespace mxgate
