// The message's MIME view, parsed once per transaction, whichever filter asks first
// (the mime filter for its symbols, the content filter for its rules), always with
// the configured limits: the mime filter's (filters: - mime: {max_depth, ...}) when
// it is configured, wherever it stands in the list, else the defaults.
//
// The session lends the settings (FilterState::mime_settings, from
// FilterChain::mime_settings()) and keeps the view for the transaction
// (FilterState::mime). A message over inline_parse_bytes is parsed on the work pool.
#pragma once
#include <cstddef>
#include <memory>

#include "base/task.hpp"
#include "filters/envelope.hpp"
#include "filters/message.hpp"
#include "filters/mime/mime.hpp"

namespace mxgate {

struct MimeSettings {
  MimeLimits limits;                          // mime.max_depth, max_parts, ...
  std::size_t inline_parse_bytes = 256 * 1024;  // mime.inline_parse_bytes: larger ones on the work pool
};

// The view for this transaction's message: the one already parsed, or parsed now.
// `env` and `msg` are the caller's and outlive the call.
Task<std::shared_ptr<const MimeView>> mime_view(const Envelope& env, const Message& msg);
// The same without leaving the thread (mxgate check's synchronous paths, tests).
std::shared_ptr<const MimeView> mime_view_now(const Envelope& env, const Message& msg);

}  // namespace mxgate
