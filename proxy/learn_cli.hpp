// `mxgate learn`: teaches the classifier (the `bayes` filter of the config) what
// spam and ham look like, as sa-learn does.
//
//   mxgate learn --spam PATH...      learn messages as spam
//   mxgate learn --ham PATH...       learn messages as ham
//   mxgate learn --forget PATH...    forget what was learned from these messages
//   mxgate learn --stats             what the database holds
//
// PATH: a message file, an mbox, a maildir (cur/ and new/) or a folder (every
// file below it). A message learned twice counts once; learned as the other kind,
// it moves over (bayes::message_learn_id). Learning runs beside a running server
// (SQLite WAL); the server picks the new counts up within bayes.refresh.
#pragma once
#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "filters/bayes/bayes_filter.hpp"
#include "proxy/config.hpp"
#include "proxy/corpus.hpp"

namespace mxgate {

struct LearnOptions {
  bool spam = false, ham = false, forget = false, stats = false;
  bool json = false;
  std::vector<std::string> paths;
  std::size_t jobs = 0;  // tokenizing threads (0: one per core)
  bool progress = true;  // a progress bar on standard error if it is a terminal
};

// Exit status: 0 done, 1 unreadable input or a store error, 2 usage or no bayes filter.
int run_learn(const ConfigPtr& cfg, const LearnOptions& opt);

// The config's classifier; null and *why if it has no bayes filter or its store
// could not be opened.
bayes::ClassifierPtr config_classifier(const Config& cfg, std::string* why);

struct LearnCounts {
  std::size_t learned = 0, relearned = 0, already = 0, forgotten = 0, not_learned = 0, unreadable = 0;
};

// Learns (or forgets) the items, tokenized on `jobs` threads, written in batches.
// `progress(done, total)` after each batch. False and *error on a store error.
bool learn_items(bayes::Classifier& c, const MimeSettings& mime, const std::vector<CorpusItem>& items, bool forget,
                 std::size_t jobs, LearnCounts* counts, std::string* error,
                 const std::function<void(std::size_t, std::size_t)>& progress = {});

}  // namespace mxgate
