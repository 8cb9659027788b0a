#include "proxy/xclient.hpp"

#include <boost/asio/ip/address.hpp>
#include <cstdlib>

#include "base/text.hpp"
#include "proxy/smtp_command.hpp"

namespace mxgate {

namespace {
const SmtpReply kXclientSyntax{501, "5.5.4", "Syntax: XCLIENT attribute=value ..."};

XclientParse failed(SmtpReply r) {
  XclientParse out;
  out.error = std::move(r);
  return out;
}
}  // namespace

XclientParse parse_xclient(std::string_view arg, const ClientInfo& current, const std::string& local_ip,
                           std::uint16_t local_port) {
  XclientAttributes a;
  a.client = current;
  a.local_ip = local_ip;
  a.local_port = local_port;
  std::size_t count = 0;
  std::size_t i = 0;
  while (i < arg.size()) {
    while (i < arg.size() && arg[i] == ' ') ++i;
    if (i >= arg.size()) break;
    std::size_t j = arg.find(' ', i);
    if (j == std::string_view::npos) j = arg.size();
    std::string_view attr = arg.substr(i, j - i);
    i = j;
    auto eq = attr.find('=');
    if (eq == std::string_view::npos) return failed(kXclientSyntax);
    const std::string name = upper(attr.substr(0, eq));
    const std::optional<std::string> value = xtext_decode(attr.substr(eq + 1));
    const SmtpReply bad{501, "5.5.4", "Bad " + printable(name, 32) + " syntax in XCLIENT"};
    if (!value) return failed(bad);
    const bool unavailable = *value == "[UNAVAILABLE]" || *value == "[TEMPUNAVAIL]";
    ++count;
    if (name == "ADDR") {
      if (unavailable) continue;
      std::string_view text = *value;
      if (istarts_with(text, "IPV6:")) text.remove_prefix(5);
      boost::system::error_code ec;
      auto addr = boost::asio::ip::make_address(std::string(text), ec);
      if (ec) return failed(bad);
      a.client.ip = addr.to_string();
    } else if (name == "PORT" || name == "DESTPORT") {
      if (unavailable) continue;
      char* end = nullptr;
      unsigned long p = std::strtoul(value->c_str(), &end, 10);
      if (value->empty() || *end || p > 65535) return failed(bad);
      if (name == "PORT") a.client.port = static_cast<std::uint16_t>(p);
      else a.local_port = static_cast<std::uint16_t>(p);
    } else if (name == "NAME") {
      a.client.name = unavailable ? "unknown" : *value;
    } else if (name == "HELO") {
      a.client.helo = unavailable ? "" : *value;
      a.helo_given = !unavailable;
    } else if (name == "PROTO") {
      const std::string p = upper(*value);
      if (p != "SMTP" && p != "ESMTP") return failed(bad);
      a.client.esmtp = p == "ESMTP";
    } else if (name == "LOGIN") {
      a.client.login = unavailable ? "" : *value;
    } else if (name == "DESTADDR") {
      if (!unavailable) a.local_ip = *value;
    } else {
      return failed(SmtpReply{501, "5.5.4", "Bad XCLIENT attribute name: " + printable(name, 32)});
    }
  }
  if (count == 0) return failed(kXclientSyntax);
  a.client.xclient = true;
  XclientParse out;
  out.attributes = std::move(a);
  return out;
}

}  // namespace mxgate
