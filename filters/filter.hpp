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

#include "filters/envelope.hpp"
#include "filters/message.hpp"
#include "base/task.hpp"
#include "filters/verdict.hpp"

namespace mxgate {

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
};

using FilterPtr = std::shared_ptr<Filter>;

}  // namespace mxgate
