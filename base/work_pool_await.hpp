// on_pool: run a function on the WorkPool from a coroutine, without holding the
// coroutine's thread. Included only where work is offloaded (content, mime, the
// quarantine store): it pulls in Asio's async machinery.
#pragma once
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/execution.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <exception>
#include <functional>
#include <memory>
#include <optional>

#include "base/task.hpp"
#include "base/work_pool.hpp"

namespace mxgate {

// Runs fn on the pool and resumes the awaiting coroutine on its own executor with
// the result; nullopt if the pool's queue is full. An exception from fn is rethrown
// in the coroutine. `fn` by reference: the caller's frame holds it until we resume
// it (g++ 12 destroys some by-value coroutine parameters twice).
template <typename T>
Task<std::optional<T>> on_pool(WorkPool& pool, const std::function<T()>& fn) {
  namespace asio = boost::asio;
  using Sig = void(std::exception_ptr, std::optional<T>);
  co_return co_await asio::async_initiate<const asio::use_awaitable_t<>&, Sig>(
      [&pool, &fn](auto handler) {
        using Handler = decltype(handler);
        auto h = std::make_shared<Handler>(std::move(handler));
        // A tracked executor counts as outstanding work: the session's io_context
        // keeps running until the result is back.
        auto ex = asio::prefer(asio::get_associated_executor(*h), asio::execution::outstanding_work.tracked);
        bool queued = pool.try_submit([h, ex, fn]() {
          std::exception_ptr err;
          std::optional<T> out;
          try {
            out = fn();
          } catch (...) {
            err = std::current_exception();
          }
          asio::post(ex, [h, err, out = std::move(out)]() mutable { (*h)(err, std::move(out)); });
        });
        if (!queued) asio::post(ex, [h]() { (*h)(nullptr, std::nullopt); });
      },
      asio::use_awaitable);
}

}  // namespace mxgate
