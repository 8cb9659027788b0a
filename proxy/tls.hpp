// TLS contexts for both legs (OpenSSL through Boost.Asio), TLS 1.2 or newer only.
#pragma once
#include <memory>
#include <string>

namespace boost::asio::ssl { class context; }

namespace mxgate {
struct InboundTlsConfig;
struct DownstreamConfig;

// Server side of STARTTLS: certificate chain and key; nullptr and *err on failure.
std::shared_ptr<boost::asio::ssl::context> make_server_tls(const InboundTlsConfig& cfg, std::string* err);
// Client side towards the downstream; verification only if cfg.tls_verify.
std::shared_ptr<boost::asio::ssl::context> make_client_tls(const DownstreamConfig& cfg, std::string* err);
// The OpenSSL error queue as text (and cleared).
std::string openssl_errors();
}  // namespace mxgate
