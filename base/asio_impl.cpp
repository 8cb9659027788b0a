// The one translation unit that compiles Boost.Asio (BOOST_ASIO_SEPARATE_COMPILATION
// is set for the whole project). It lives in base/, below every library that uses
// Asio, so each of them links it without a cycle.
#include <utility>
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
