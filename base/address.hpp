// Client addresses as every layer compares them: an IPv4-mapped IPv6 address
// (::ffff:192.0.2.1, what a dual-stack socket reports for an IPv4 client) is the
// IPv4 address, so lists, SPF and logs see one form of it.
#pragma once
#include <boost/asio/ip/address.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace mxgate {

// The address with an IPv4-mapped IPv6 form turned into IPv4; others unchanged.
boost::asio::ip::address unmapped(const boost::asio::ip::address& a);
// Parses an address (IPv4 or IPv6 text) into its unmapped form; nullopt if invalid.
std::optional<boost::asio::ip::address> parse_address(std::string_view text);

}  // namespace mxgate
