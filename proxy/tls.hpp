// TLS contexts for both legs (OpenSSL through Boost.Asio), TLS 1.2 or newer only.
#pragma once
#include <memory>
#include <string>

namespace boost::asio::ssl { class context; }

namespace mxgate {
struct InboundTlsConfig;
struct DownstreamConfig;

// Server side of STARTTLS: certificate chain and key; nullptr and *err on failure,
// with *key naming the config key at fault ("cert_file" or "key_file").
std::shared_ptr<boost::asio::ssl::context> make_server_tls(const InboundTlsConfig& cfg, std::string* err,
                                                           std::string* key);
// Client side towards the downstream; verification only if cfg.tls_verify.
std::shared_ptr<boost::asio::ssl::context> make_client_tls(const DownstreamConfig& cfg, std::string* err,
                                                           std::string* key);
// The OpenSSL error queue as text (and cleared).
std::string openssl_errors();
}  // namespace mxgate
