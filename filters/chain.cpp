#include "filters/chain.hpp"
#include "filters/mime/mime_filter.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

namespace mxgate {

const SmtpReply kFilterTimeoutReply{451, "4.3.0", "Temporary filter failure, try again later"};

const char* stage_name(Stage s) {
  switch (s) {
    case Stage::Connect: return "connect";
    case Stage::Helo: return "helo";
    case Stage::MailFrom: return "mail";
    case Stage::RcptTo: return "rcpt";
    case Stage::EndOfData: return "data";
  }
  return "?";
}

namespace {
// One hook call racing its timeout. Shared with the spawned hook, so a hook that
// overruns can finish later without touching freed memory; its late result is dropped.
struct Race {
  explicit Race(const Executor& ex) : timer(ex) {}
  boost::asio::steady_timer timer;
  bool done = false;
  bool overdue = false;  // counted in the chain's overdue total until the hook ends
  std::shared_ptr<std::atomic<std::size_t>> overdue_total;
  std::optional<Verdict> verdict;
  std::exception_ptr error;
};

// The arguments are owned here (shared_ptr by value) so they outlive a timed-out caller.
Task<Verdict> call_hook(FilterPtr f, Stage stage, std::shared_ptr<const Envelope> env,
                        std::shared_ptr<const Mailbox> rcpt, std::shared_ptr<const Message> msg) {
  switch (stage) {
    case Stage::Connect: co_return co_await f->on_connect(*env);
    case Stage::Helo: co_return co_await f->on_helo(*env);
    case Stage::MailFrom: co_return co_await f->on_mail_from(*env);
    case Stage::RcptTo: co_return co_await f->on_rcpt_to(*env, *rcpt);
    case Stage::EndOfData: co_return co_await f->on_end_of_data(*env, *msg);
  }
  co_return Verdict::next();
}
}  // namespace

namespace {
std::shared_ptr<const MimeSettings> mime_settings_of(const std::vector<FilterPtr>& filters) {
  auto s = std::make_shared<MimeSettings>();
  for (const auto& f : filters)
    if (const auto* m = dynamic_cast<const MimeFilter*>(f.get())) {
      s->limits = m->config().limits;
      s->inline_parse_bytes = m->config().inline_parse_bytes;
    }
  return s;
}
}  // namespace

FilterChain::FilterChain()
    : overdue_(std::make_shared<std::atomic<std::size_t>>(0)), mime_settings_(std::make_shared<MimeSettings>()) {}

FilterChain::FilterChain(std::vector<FilterPtr> filters, std::chrono::milliseconds timeout)
    : filters_(std::move(filters)), timeout_(timeout), overdue_(std::make_shared<std::atomic<std::size_t>>(0)),
      mime_settings_(mime_settings_of(filters_)) {}

Task<ChainResult> FilterChain::run(Stage stage, std::shared_ptr<const Envelope> env,
                                   std::shared_ptr<const Mailbox> rcpt,
                                   std::shared_ptr<const Message> msg) const {
  ChainResult out;
  if (filters_.empty()) co_return out;
  auto ex = co_await boost::asio::this_coro::executor;
  for (const auto& f : filters_) {
    if (overdue_->load() >= kMaxOverdueHooks) {
      spdlog::error("filter chain: {} hooks still running past their timeout; not starting {} at {}",
                    overdue_->load(), f->name(), stage_name(stage));
      out.timed_out.emplace_back(f->name());
      out.action = Action::Tempfail;
      out.reply = kFilterTimeoutReply;
      out.decided_by = f->name();
      co_return out;
    }
    auto race = std::make_shared<Race>(ex);
    race->overdue_total = overdue_;
    boost::asio::co_spawn(ex, call_hook(f, stage, env, rcpt, msg),
                          [race](std::exception_ptr e, Verdict v) {
                            race->done = true;
                            if (race->overdue) --*race->overdue_total;
                            if (e) race->error = e;
                            else race->verdict = std::move(v);
                            race->timer.cancel();
                          });
    if (!race->done) {
      race->timer.expires_after(timeout_);
      boost::system::error_code ec;
      co_await race->timer.async_wait(boost::asio::redirect_error(boost::asio::use_awaitable, ec));
    }
    if (!race->done || race->error) {
      // Never guess: a filter that cannot answer makes the stage fail temporarily.
      // A timeout and a throw are counted apart: the first is load or a slow DNS, the
      // second a bug to fix.
      if (!race->done) {
        race->overdue = true;
        ++*overdue_;
        spdlog::warn("filter {} timed out at {} after {}ms", f->name(), stage_name(stage),
                     timeout_.count());
        out.timed_out.emplace_back(f->name());
      } else {
        try {
          std::rethrow_exception(race->error);
        } catch (const std::exception& e) {
          spdlog::error("filter {} failed at {}: {}", f->name(), stage_name(stage), e.what());
        } catch (...) {
          spdlog::error("filter {} failed at {}: a non-standard exception", f->name(), stage_name(stage));
        }
        out.failed.emplace_back(f->name());
      }
      out.action = Action::Tempfail;
      out.reply = kFilterTimeoutReply;
      out.decided_by = f->name();
      co_return out;
    }
    Verdict& v = *race->verdict;
    for (auto& s : v.symbols) out.symbols.push_back(std::move(s));
    for (auto& h : v.add_headers) {
      // A header with a stray CR/LF could end the header section, or the message.
      if (!h.valid_to_add()) {
        spdlog::error("filter {} added a malformed header field \"{}\"; dropped", f->name(),
                      h.name.substr(0, 64));
        continue;
      }
      out.add_headers.push_back(std::move(h));
    }
    if (v.action != Action::Continue) {
      out.action = v.action;
      out.reply = std::move(v.reply);
      out.decided_by = f->name();
      break;
    }
  }
  co_return out;
}

namespace {
Task<void> call_on_headers(FilterPtr f, std::shared_ptr<const Envelope> env, std::shared_ptr<const Message> headers) {
  co_await f->on_headers(*env, *headers);
}
}  // namespace

void FilterChain::headers_arrived(const Executor& ex, std::shared_ptr<const Envelope> env,
                                  std::shared_ptr<const Message> headers) const {
  for (const auto& f : filters_) {
    boost::asio::co_spawn(ex, call_on_headers(f, env, headers), [name = f->name()](std::exception_ptr e) {
      if (!e) return;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& x) {
        spdlog::error("filter {} failed on the header section: {}", name, x.what());
      } catch (...) {
        spdlog::error("filter {} failed on the header section", name);
      }
    });
  }
}

void FilterChain::outcome(const Envelope& env, const std::shared_ptr<const Message>& msg,
                          const MessageOutcome& out) const {
  for (const auto& f : filters_) {
    try {
      f->on_outcome(env, msg, out);
    } catch (const std::exception& x) {
      spdlog::error("filter {} failed on the outcome: {}", f->name(), x.what());
    }
  }
}

const char* action_name(Action a) {
  switch (a) {
    case Action::Continue: return "continue";
    case Action::Accept: return "accept";
    case Action::Reject: return "reject";
    case Action::Tempfail: return "tempfail";
    case Action::Quarantine: return "quarantine";
  }
  return "?";
}

Verdict Verdict::accept() {
  Verdict v;
  v.action = Action::Accept;
  return v;
}

Verdict Verdict::reject(SmtpReply r) {
  if (!r.permanent() || r.enhanced().empty())
    throw std::invalid_argument("Verdict::reject needs a 5xx reply with a 5.x.x enhanced code");
  Verdict v;
  v.action = Action::Reject;
  v.reply = std::move(r);
  return v;
}

Verdict Verdict::tempfail(SmtpReply r) {
  if (!r.transient() || r.enhanced().empty())
    throw std::invalid_argument("Verdict::tempfail needs a 4xx reply with a 4.x.x enhanced code");
  Verdict v;
  v.action = Action::Tempfail;
  v.reply = std::move(r);
  return v;
}

Verdict Verdict::quarantine(std::string why) {
  Verdict v;
  v.action = Action::Quarantine;
  v.symbols.push_back({"QUARANTINE_REQUESTED", 0.0, std::move(why)});
  return v;
}

}  // namespace mxgate
