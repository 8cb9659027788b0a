#include "filters/mime/mime_view.hpp"

#include <functional>

#include "base/work_pool_await.hpp"
#include "filters/filter_state.hpp"

namespace mxgate {

namespace {
const MimeSettings kDefaults;

const MimeSettings& settings_of(const Envelope& env) {
  return env.state && env.state->mime_settings ? *env.state->mime_settings : kDefaults;
}

// The view kept for this transaction, if any.
std::shared_ptr<const MimeView> kept(const Envelope& env) {
  if (env.state && env.state->mime && !env.txn_id.empty() && env.state->mime_txn == env.txn_id)
    return env.state->mime;
  return nullptr;
}

void keep(const Envelope& env, const std::shared_ptr<const MimeView>& view) {
  if (!env.state || env.txn_id.empty()) return;
  env.state->mime_txn = env.txn_id;
  env.state->mime = view;
}
}  // namespace

std::shared_ptr<const MimeView> mime_view_now(const Envelope& env, const Message& msg) {
  if (auto v = kept(env)) return v;
  auto view = std::make_shared<const MimeView>(parse_mime(msg, settings_of(env).limits));
  keep(env, view);
  return view;
}

Task<std::shared_ptr<const MimeView>> mime_view(const Envelope& env, const Message& msg) {
  if (auto v = kept(env)) co_return v;
  // The settings stay alive with the session's state (or are the static defaults).
  std::shared_ptr<const MimeSettings> held = env.state ? env.state->mime_settings : nullptr;
  const MimeSettings& s = held ? *held : kDefaults;
  std::shared_ptr<const MimeView> view;
  std::shared_ptr<WorkPool> pool = msg.size() > s.inline_parse_bytes ? current_work_pool() : nullptr;
  if (pool) {
    // A large message is parsed off the session's thread; msg lives in the caller's frame.
    const Message* m = &msg;
    const MimeLimits* limits = &s.limits;
    std::function<std::shared_ptr<const MimeView>()> job = [m, limits]() {
      return std::make_shared<const MimeView>(parse_mime(*m, *limits));
    };
    std::optional<std::shared_ptr<const MimeView>> parsed = co_await on_pool<std::shared_ptr<const MimeView>>(*pool, job);
    if (parsed) view = std::move(*parsed);
  }
  if (!view) view = std::make_shared<const MimeView>(parse_mime(msg, s.limits));  // small, or the pool is full
  keep(env, view);
  co_return view;
}

}  // namespace mxgate
