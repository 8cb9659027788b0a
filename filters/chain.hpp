// FilterChain: runs one stage's hook of every configured filter, in config order,
// each bounded by a timeout, and combines their verdicts (see filter.hpp).
#pragma once
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "filters/filter.hpp"

namespace mxgate {

struct ChainResult {
  Action action = Action::Continue;
  std::optional<SmtpReply> reply;        // for Reject/Tempfail
  std::vector<Symbol> symbols;           // from every filter that ran, in order
  std::vector<HeaderField> add_headers;  // likewise
  std::string decided_by;                // the filter whose verdict ended the stage
  std::vector<std::string> timed_out;    // filters that hit the timeout
};

class FilterChain {
 public:
  FilterChain() = default;
  FilterChain(std::vector<FilterPtr> filters, std::chrono::milliseconds timeout)
      : filters_(std::move(filters)), timeout_(timeout) {}

  bool empty() const { return filters_.empty(); }
  const std::vector<FilterPtr>& filters() const { return filters_; }

  // `rcpt` is used by Stage::RcptTo only, `msg` by Stage::EndOfData only.
  Task<ChainResult> run(Stage stage, std::shared_ptr<const Envelope> env,
                        std::shared_ptr<const Mailbox> rcpt = {},
                        std::shared_ptr<const Message> msg = {}) const;

 private:
  std::vector<FilterPtr> filters_;
  std::chrono::milliseconds timeout_{20'000};
};

using FilterChainPtr = std::shared_ptr<const FilterChain>;

// The reply for a filter that did not answer in time.
extern const SmtpReply kFilterTimeoutReply;  // 451 4.3.0

}  // namespace mxgate
