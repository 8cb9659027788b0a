// FilterChain: runs one stage's hook of every configured filter, in config order,
// each bounded by a timeout, and combines their verdicts (see filter.hpp).
#pragma once
#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "filters/filter.hpp"
#include "filters/mime/mime_view.hpp"

namespace mxgate {

struct ChainResult {
  Action action = Action::Continue;
  std::optional<SmtpReply> reply;        // for Reject/Tempfail
  std::vector<Symbol> symbols;           // from every filter that ran, in order
  std::vector<HeaderField> add_headers;  // likewise
  std::string decided_by;                // the filter whose verdict ended the stage
  std::vector<std::string> timed_out;    // filters that hit the timeout
  std::vector<std::string> failed;       // filters whose hook threw (a bug in the filter)
};

class FilterChain {
 public:
  // A hook that overran its timeout keeps running (a coroutine cannot be killed) and
  // keeps its copy of the message. Past this many still running per chain, hooks are
  // not started at all and the stage tempfails at once, so a hung filter costs a
  // bounded amount of memory instead of a message per transaction.
  static constexpr std::size_t kMaxOverdueHooks = 64;

  FilterChain();
  FilterChain(std::vector<FilterPtr> filters, std::chrono::milliseconds timeout);
  std::size_t overdue() const { return overdue_->load(); }
  // How this chain's messages are parsed: the mime filter's limits if it has one,
  // wherever it stands, else the defaults. Sessions lend it to every filter
  // (FilterState::mime_settings), so the MIME view is the same whoever parses it.
  const std::shared_ptr<const MimeSettings>& mime_settings() const { return mime_settings_; }

  bool empty() const { return filters_.empty(); }
  const std::vector<FilterPtr>& filters() const { return filters_; }

  // `rcpt` is used by Stage::RcptTo only, `msg` by Stage::EndOfData only.
  // Starts every filter's on_headers on `ex` and returns at once; errors are logged.
  void headers_arrived(const Executor& ex, std::shared_ptr<const Envelope> env,
                       std::shared_ptr<const Message> headers) const;

  // Tells every filter the message's final outcome (Filter::on_outcome), in order;
  // a filter that throws is logged and the others still hear it.
  void outcome(const Envelope& env, const std::shared_ptr<const Message>& msg, const MessageOutcome& out) const;

  Task<ChainResult> run(Stage stage, std::shared_ptr<const Envelope> env,
                        std::shared_ptr<const Mailbox> rcpt = {},
                        std::shared_ptr<const Message> msg = {}) const;

 private:
  std::vector<FilterPtr> filters_;
  std::chrono::milliseconds timeout_{20'000};
  std::shared_ptr<std::atomic<std::size_t>> overdue_;  // hooks past their timeout, still running
  std::shared_ptr<const MimeSettings> mime_settings_;
};

using FilterChainPtr = std::shared_ptr<const FilterChain>;

// The reply for a filter that did not answer in time.
extern const SmtpReply kFilterTimeoutReply;  // 451 4.3.0

}  // namespace mxgate
