// Filter: the one interface every filter implements, with one hook per SMTP stage
// (Haraka-style). The default of every hook lets the next filter run.
//
// Hooks run in the order the config lists the filters (key `filters`). The first
// verdict that is not Continue ends the stage; symbols and headers are kept from every
// filter that ran. Each hook is bounded by smtp.filter_timeout (451 4.3.0 when hit).
// A hook receives copies it may keep until it returns; a filter holds its config as
// std::shared_ptr<const XConfig>, fixed after load and shared by all sessions.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "filters/envelope.hpp"
#include "filters/message.hpp"
#include "base/task.hpp"
#include "filters/verdict.hpp"

namespace mxgate {

// What policy made of a message after every filter ran (policy/outcome.hpp), for
// filters that learn from outcomes (the classifier's autolearn). The server tells
// every filter once the client has its answer; `mxgate check` and `corpus` never do.
struct MessageOutcome {
  Action action = Action::Accept;    // Accept (delivered, maybe tagged), Quarantine, Reject
  double score = 0;                  // the policy's total
  const std::vector<Symbol>* symbols = nullptr;  // every symbol that counted
  std::string decided_by;            // the deciding policy rule ("policy.thresholds", "policy.allow.client_ip", ...)
};

enum class Stage { Connect, Helo, MailFrom, RcptTo, EndOfData };
const char* stage_name(Stage s);

class Filter {
 public:
  virtual ~Filter() = default;
  virtual const char* name() const = 0;
  virtual Task<Verdict> on_connect(const Envelope&) { co_return Verdict::next(); }
  virtual Task<Verdict> on_helo(const Envelope&) { co_return Verdict::next(); }
  virtual Task<Verdict> on_mail_from(const Envelope&) { co_return Verdict::next(); }
  virtual Task<Verdict> on_rcpt_to(const Envelope&, const Mailbox&) { co_return Verdict::next(); }
  virtual Task<Verdict> on_end_of_data(const Envelope&, const Message&) { co_return Verdict::next(); }
  // The header section has arrived; the body has not. No verdict: a chance to start
  // work end of data will need (DKIM starts its key lookups, whose answers wait in
  // the resolver's cache). Runs detached; `headers` holds the header section only.
  virtual Task<void> on_headers(const Envelope&, const Message& /*headers*/) { co_return; }
  // The message's outcome is final and the client has its answer: no verdict, and
  // nothing may wait here (hand slow work to the work pool). `msg` may be kept.
  virtual void on_outcome(const Envelope&, const std::shared_ptr<const Message>& /*msg*/, const MessageOutcome&) {}
};

using FilterPtr = std::shared_ptr<Filter>;

}  // namespace mxgate
