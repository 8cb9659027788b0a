#include "proxy/tls.hpp"

#include <utility>
#include <boost/asio/ssl/context.hpp>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "proxy/config.hpp"

namespace mxgate {
namespace ssl = boost::asio::ssl;

std::string openssl_errors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "unknown OpenSSL error" : out;
}

std::shared_ptr<ssl::context> make_server_tls(const InboundTlsConfig& cfg, std::string* err,
                                              std::string* key) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  SSL_CTX* c = ctx->native_handle();
  int min = cfg.min_version == TlsVersion::V1_3 ? TLS1_3_VERSION : TLS1_2_VERSION;
  // No SSLv3/TLS 1.0/1.1; no renegotiation, which a client could use to burn our CPU.
  SSL_CTX_set_min_proto_version(c, min);
  SSL_CTX_set_options(c, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  ERR_clear_error();
  if (SSL_CTX_use_certificate_chain_file(c, cfg.cert_file.c_str()) != 1) {
    *err = "cannot load certificate chain " + cfg.cert_file + ": " + openssl_errors();
    *key = "cert_file";
    return nullptr;
  }
  if (SSL_CTX_use_PrivateKey_file(c, cfg.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    *err = "cannot load private key " + cfg.key_file + ": " + openssl_errors();
    *key = "key_file";
    return nullptr;
  }
  if (SSL_CTX_check_private_key(c) != 1) {
    *err = "private key " + cfg.key_file + " does not match certificate " + cfg.cert_file;
    *key = "key_file";
    return nullptr;
  }
  return ctx;
}

std::shared_ptr<ssl::context> make_client_tls(const DownstreamConfig& cfg, std::string* err,
                                              std::string* key) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  SSL_CTX* c = ctx->native_handle();
  SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
  SSL_CTX_set_options(c, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  ERR_clear_error();
  if (cfg.tls_verify) {
    if (!cfg.tls_ca_file.empty()) {
      if (SSL_CTX_load_verify_locations(c, cfg.tls_ca_file.c_str(), nullptr) != 1) {
        *err = "cannot load CA file " + cfg.tls_ca_file + ": " + openssl_errors();
        *key = "tls_ca_file";
        return nullptr;
      }
    } else if (SSL_CTX_set_default_verify_paths(c) != 1) {
      *err = "cannot load the system CA store: " + openssl_errors();
      *key = "tls_verify";
      return nullptr;
    }
    SSL_CTX_set_verify(c, SSL_VERIFY_PEER, nullptr);
  } else {
    SSL_CTX_set_verify(c, SSL_VERIFY_NONE, nullptr);
  }
  return ctx;
}

}  // namespace mxgate
