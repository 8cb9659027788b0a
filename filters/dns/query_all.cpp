#include "filters/dns/query_all.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <exception>
#include <memory>

namespace mxgate {
namespace asio = boost::asio;

namespace {
// Boost 1.74 has no parallel_group: each lookup is its own coroutine, and the last
// one to finish wakes the waiting caller through a timer.
struct Join {
  Join(const Executor& ex, std::size_t n) : timer(ex, asio::steady_timer::time_point::max()), pending(n), results(n) {}
  asio::steady_timer timer;
  std::size_t pending;
  std::vector<DnsResult> results;
};

Task<DnsResult> ask(DnsLookup* dns, DnsQuestion q) { co_return co_await dns->query(q.name, q.type); }
}  // namespace

Task<std::vector<DnsResult>> query_all(DnsLookup& dns, std::vector<DnsQuestion> questions) {
  if (questions.empty()) co_return std::vector<DnsResult>{};
  auto ex = co_await asio::this_coro::executor;
  auto join = std::make_shared<Join>(ex, questions.size());
  for (std::size_t i = 0; i < questions.size(); ++i) {
    asio::co_spawn(ex, ask(&dns, questions[i]), [join, i](std::exception_ptr e, DnsResult r) {
      if (e) {
        r = DnsResult{};
        r.status = DnsStatus::Error;
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& x) {
          r.error = x.what();
        } catch (...) {
          r.error = "lookup failed";
        }
      }
      join->results[i] = std::move(r);
      // expires_at(min) rather than cancel(): it also releases a wait not started yet.
      if (--join->pending == 0) join->timer.expires_at(asio::steady_timer::time_point::min());
    });
  }
  if (join->pending > 0) {
    boost::system::error_code ec;
    co_await join->timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  co_return std::move(join->results);
}

}  // namespace mxgate
