// `mxgate quarantine`: review and act on held messages (policy/quarantine.hpp).
//
//   list [--since T] [--until T] [--from S] [--rcpt S] [--rule S] [--subject S] [--limit N] [--json]
//   show ID [--body] [--json]
//   release ID [--to ADDR ...] [--force]
//   delete ID
//   purge --older-than DAYS
//
// T: 2026-11-23, 2026-11-23T10:00:00 (UTC), or an age such as 30m, 2h, 7d. The
// config file gives quarantine.dir and, for release, downstream.*. Safe to run while
// the server writes (SQLite WAL). Exit: 0 ok, 1 not found / failed, 2 usage or config.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "filters/bayes/bayes_filter.hpp"
#include "proxy/config.hpp"

namespace mxgate {

struct QuarantineCli {
  std::string command;  // list, show, release, delete, purge
  std::string id;
  std::string since, until, from, rcpt, rule, subject;
  std::size_t limit = 50;
  bool json = false;
  bool body = false;
  bool force = false;
  std::vector<std::string> to;
  double older_than_days = -1;
};

// `classifier` gives the bayes filter's classifier (loading the filters only when
// called: quarantine.learn_on_release/learn_on_delete); null with *why if none.
using ClassifierSource = std::function<bayes::ClassifierPtr(std::string* why)>;
int run_quarantine_cli(const Config& cfg, const QuarantineCli& opt, const ClassifierSource& classifier = {});

// What the review teaches the classifier: a released message as ham, a deleted one
// as spam (the stored copy; our own added fields are not tokens and the learned id
// is the original's). Empty when learned (or already learned), else why not.
std::string learn_reviewed(const ClassifierSource& classifier, const Config& cfg, const std::string& data, bool spam);

// "2026-11-23", "2026-11-23T10:00:00[Z]" (UTC) or an age ("90s", "30m", "2h", "7d")
// before `now`; false if it is none of these.
bool parse_cli_time(const std::string& s, std::int64_t now, std::int64_t& out);

}  // namespace mxgate
