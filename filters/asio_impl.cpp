// The one translation unit that compiles Boost.Asio (BOOST_ASIO_SEPARATE_COMPILATION
// is set for the whole project). It lives in filters/, the lowest library that uses
// Asio, so every library above links it without a cycle.
#include <utility>
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
