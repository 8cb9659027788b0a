// Task<T>: the coroutine type of every asynchronous function in mxgate.
//
// Boost 1.74's <boost/asio/awaitable.hpp> uses std::exchange without including
// <utility>; include it first so every user of Task<T> compiles with g++ 12.
#pragma once
#include <utility>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/any_io_executor.hpp>

namespace mxgate {
template <typename T = void>
using Task = boost::asio::awaitable<T>;
using Executor = boost::asio::any_io_executor;
}  // namespace mxgate
