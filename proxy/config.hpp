// Config: everything `mxgate serve --config FILE` reads, loaded and checked at once.
//
// Loading returns every error with file, line and key (base/config_error.hpp).
// A Config is immutable after load and shared by all sessions; SIGHUP builds a new one
// that only new sessions see. docs/configuration.md documents every key.
#pragma once
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/work_pool.hpp"
#include "filters/chain.hpp"
#include "filters/cidr.hpp"
#include "base/config_error.hpp"
#include "filters/dns/resolver.hpp"
#include "policy/policy_config.hpp"
#include "policy/quarantine.hpp"
#include "proxy/limits.hpp"

namespace boost::asio::ssl { class context; }

namespace mxgate {

struct Endpoint {
  std::string host;
  std::uint16_t port = 0;
  std::string str() const;
};

enum class DownstreamTls { Off, Opportunistic, Required };
enum class ForwardClient { Auto, Xforward, Xclient, Off };
enum class TlsVersion { V1_2, V1_3 };
enum class BareLineEndings { Reject, Normalize };

struct DownstreamConfig {
  Endpoint address{"127.0.0.1", 2526};                 // downstream.address
  std::chrono::milliseconds connect_timeout{30s};      // downstream.connect_timeout
  std::chrono::milliseconds command_timeout{300s};     // downstream.command_timeout
  std::chrono::milliseconds data_timeout{180s};        // downstream.data_timeout (DATA to final reply)
  DownstreamTls tls = DownstreamTls::Opportunistic;    // downstream.tls: off|opportunistic|required
  bool tls_verify = false;                             // downstream.tls_verify
  std::string tls_ca_file;                             // downstream.tls_ca_file
  std::string tls_server_name;                         // downstream.tls_server_name
  std::string helo_name;                               // downstream.helo_name (default: hostname)
  ForwardClient forward_client = ForwardClient::Auto;  // downstream.forward_client: auto|xforward|xclient|off
};

struct InboundTlsConfig {
  std::string cert_file;                               // tls.cert_file
  std::string key_file;                                // tls.key_file
  TlsVersion min_version = TlsVersion::V1_2;           // tls.min_version: 1.2|1.3
  bool enabled() const { return !cert_file.empty(); }
};

struct LogConfig {
  std::string level = "info";                          // log.level
  std::string transactions = "stderr";                 // log.transactions: stderr|stdout|off|FILE
  std::size_t max_size = 100 * 1024 * 1024;            // log.max_size: rotate FILE at this size (0: never)
  std::size_t max_files = 10;                          // log.max_files: rotated files kept (name.1.ext ... name.n.ext)
};

struct Config {
  std::string file;                                    // where it was loaded from
  std::vector<Endpoint> listen{{"127.0.0.1", 2525}};   // listen
  std::string hostname;                                // hostname (default: gethostname())
  std::string authserv_id;                             // authserv_id (default: hostname), RFC 8601
  std::string banner = "ESMTP mxgate";                 // smtp.banner
  std::size_t workers = 0;                             // workers (0: one per core)
  Limits limits;                                       // smtp.*
  BareLineEndings bare_line_endings = BareLineEndings::Reject;  // smtp.bare_line_endings: reject|normalize
  bool reject_long_lines = false;                      // smtp.long_lines: accept|reject
  std::vector<Cidr> xclient_trusted;                   // smtp.xclient_trusted
  bool peername_lookup = true;                         // smtp.peername_lookup: verified client name
  std::chrono::milliseconds shutdown_timeout{30s};     // shutdown_timeout
  std::size_t work_pool_threads = 0;                   // work_pool.threads (0: one per core)
  std::size_t work_pool_queue = 256;                   // work_pool.queue: jobs waiting at most
  // The process's pool (base/work_pool.hpp), made by the first load: large scans and
  // MIME parses, quarantine stores. Its size changes only on restart.
  std::shared_ptr<WorkPool> work_pool;
  DownstreamConfig downstream;                         // downstream.*
  InboundTlsConfig tls;                                // tls.*
  LogConfig log;                                       // log.*
  std::shared_ptr<const DnsConfig> dns;                // dns.* (the resolver every filter shares)
  FilterChainPtr chain;                                // filters
  PolicyConfigPtr policy;                              // policy.* (always set: defaults if absent)
  QuarantineConfig quarantine;                         // quarantine.*
  // Opened at load time, so an unusable quarantine.dir fails the load; null if off.
  std::shared_ptr<Quarantine> quarantine_store;
  // Built at load time so that bad certificates fail the load, not a session.
  std::shared_ptr<boost::asio::ssl::context> server_tls;  // null if tls is not configured
  std::shared_ptr<boost::asio::ssl::context> client_tls;  // null if downstream.tls is off
};

using ConfigPtr = std::shared_ptr<const Config>;

// `with_filters` false: the `filters` list is not built (an empty chain), for tools
// that need only the other sections (`mxgate quarantine`).
Result<ConfigPtr> load_config_file(const std::string& path, bool with_filters = true);
// `name` stands in for the file name in errors.
Result<ConfigPtr> load_config_text(const std::string& text, const std::string& name, bool with_filters = true);

// The sample config compiled into the binary (samples/mxgate.yaml).
extern const char* const kEmbeddedConfig;

}  // namespace mxgate
