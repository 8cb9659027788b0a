// run_task: a test's way to run one coroutine to its end on an event loop of its
// own and take its result (filters' hooks are Task<T>).
#pragma once
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <optional>

#include "base/task.hpp"

namespace mxgate::testing {

template <typename T>
T run_task(Task<T> task) {
  boost::asio::io_context io;
  std::optional<T> out;
  boost::asio::co_spawn(io, [&]() -> Task<void> { out = co_await std::move(task); }, boost::asio::detached);
  io.run();
  return *out;
}

}  // namespace mxgate::testing
