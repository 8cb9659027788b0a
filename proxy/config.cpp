#include "proxy/config.hpp"

#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl/context.hpp>
#include <fstream>
#include <sstream>

#include "filters/config_node.hpp"
#include "filters/registry.hpp"
#include "proxy/tls.hpp"

namespace mxgate {

std::string Endpoint::str() const {
  return host.find(':') != std::string::npos ? "[" + host + "]:" + std::to_string(port)
                                             : host + ":" + std::to_string(port);
}

namespace {
std::string default_hostname() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0 || !buf[0]) return "localhost";
  return buf;
}

bool valid_hostname(const std::string& h) {
  if (h.empty() || h.size() > 253) return false;
  for (char c : h)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.')) return false;
  return true;
}

void read_endpoint(ConfigMap& m, const std::string& key, const std::string& text, Endpoint& out,
                   const YAML::Node& at) {
  Endpoint e;
  if (!parse_host_port(text, e.host, e.port)) {
    m.error_at(at, key, "expected host:port, e.g. 127.0.0.1:2525 (got \"" + text + "\")");
    return;
  }
  out = e;
}

using std::chrono::milliseconds;
constexpr milliseconds kMinTimeout{100};
constexpr milliseconds kMaxTimeout{3'600'000};

void read_smtp(ConfigMap& m, Config& c) {
  Limits& l = c.limits;
  m.get("banner", c.banner);
  for (unsigned char ch : c.banner)
    if (ch < 0x20 || ch == 0x7f) {
      m.error("banner", "must be one line of printable text");
      break;
    }
  m.get_duration("command_timeout", l.command_timeout, kMinTimeout, kMaxTimeout);
  m.get_duration("data_timeout", l.data_timeout, kMinTimeout, kMaxTimeout);
  m.get_duration("filter_timeout", l.filter_timeout, kMinTimeout, kMaxTimeout);
  // 512 is RFC 5321's command line; below that ordinary MAIL FROM lines would fail.
  m.get_size("max_command_line", l.max_command_line, 512, 64 * 1024);
  m.get_size("max_line_length", l.max_line_length, 1000, 1024 * 1024);
  m.get_size("max_message_bytes", l.max_message_bytes, 1024, std::size_t{2} * 1024 * 1024 * 1024);
  m.get_size("max_header_bytes", l.max_header_bytes, 1024, 64 * 1024 * 1024);
  std::uint64_t v;
  v = l.max_recipients; m.get_uint("max_recipients", v, 1, 100'000); l.max_recipients = v;
  v = l.max_commands; m.get_uint("max_commands", v, 10, 10'000'000); l.max_commands = v;
  v = l.max_errors; m.get_uint("max_errors", v, 1, 10'000); l.max_errors = v;
  v = l.max_connections; m.get_uint("max_connections", v, 1, 1'000'000); l.max_connections = v;
  v = l.max_connections_per_ip; m.get_uint("max_connections_per_ip", v, 1, 1'000'000);
  l.max_connections_per_ip = v;
  m.get_size("max_buffered_bytes", l.max_buffered_bytes, 1024 * 1024, std::size_t{1} << 40);
  v = l.min_data_rate; m.get_uint("min_data_rate", v, 0, 1'000'000'000); l.min_data_rate = v;
  v = l.stress_threshold; m.get_uint("stress_threshold", v, 1, 100); l.stress_threshold = v;
  m.get_duration("stress_command_timeout", l.stress_command_timeout, kMinTimeout, kMaxTimeout);
  v = l.stress_max_errors; m.get_uint("stress_max_errors", v, 1, 10'000); l.stress_max_errors = v;
  m.get_mode("bare_line_endings", c.bare_line_endings,
             {{"reject", BareLineEndings::Reject}, {"normalize", BareLineEndings::Normalize}});
  m.get_mode("long_lines", c.reject_long_lines, {{"accept", false}, {"reject", true}});
  m.get("peername_lookup", c.peername_lookup);
  std::vector<std::string> nets;
  m.get("xclient_trusted", nets);
  for (const auto& n : nets) {
    Cidr cidr;
    if (Cidr::parse(n, cidr)) c.xclient_trusted.push_back(cidr);
    else m.error("xclient_trusted", "\"" + n + "\" is not an address or network (e.g. 192.0.2.0/24)");
  }
  if (l.max_header_bytes > l.max_message_bytes) {
    // Only a value the user wrote is an error; the default follows a smaller message limit.
    if (m.has("max_header_bytes")) m.error("max_header_bytes", "must not exceed smtp.max_message_bytes");
    else l.max_header_bytes = l.max_message_bytes;
  }
}

void read_downstream(ConfigMap& m, Config& c) {
  DownstreamConfig& d = c.downstream;
  std::string addr;
  m.get("address", addr);
  if (!addr.empty()) read_endpoint(m, "address", addr, d.address, m.node("address"));
  m.get_duration("connect_timeout", d.connect_timeout, kMinTimeout, kMaxTimeout);
  m.get_duration("command_timeout", d.command_timeout, kMinTimeout, kMaxTimeout);
  // The client waits 10 minutes for our final reply (RFC 5321 4.5.3.2.6); the whole
  // end of data downstream must fit well inside that, or the sender retries while
  // the MX delivers, and the message arrives twice.
  m.get_duration("data_timeout", d.data_timeout, kMinTimeout, std::chrono::milliseconds(540'000));
  m.get_mode("tls", d.tls,
             {{"off", DownstreamTls::Off}, {"opportunistic", DownstreamTls::Opportunistic},
              {"required", DownstreamTls::Required}});
  m.get("tls_verify", d.tls_verify);
  m.get("tls_ca_file", d.tls_ca_file);
  m.get("tls_server_name", d.tls_server_name);
  m.get("helo_name", d.helo_name);
  m.get_mode("forward_client", d.forward_client,
             {{"auto", ForwardClient::Auto}, {"xforward", ForwardClient::Xforward},
              {"xclient", ForwardClient::Xclient}, {"off", ForwardClient::Off}});
  std::uint64_t maxc = c.limits.max_downstream_connections;
  m.get_uint("max_connections", maxc, 0, 1'000'000);
  c.limits.max_downstream_connections = maxc;
  if (!d.helo_name.empty() && !valid_hostname(d.helo_name))
    m.error("helo_name", "\"" + d.helo_name + "\" is not a valid host name");
  if (d.tls_verify && d.tls == DownstreamTls::Off) m.error("tls_verify", "needs downstream.tls other than off");
  if (!d.tls_ca_file.empty() && access(d.tls_ca_file.c_str(), R_OK) != 0)
    m.error("tls_ca_file", "cannot read " + d.tls_ca_file);
}

void read_tls(ConfigMap& m, Config& c) {
  m.get("cert_file", c.tls.cert_file);
  m.get("key_file", c.tls.key_file);
  m.get_mode("min_version", c.tls.min_version, {{"1.2", TlsVersion::V1_2}, {"1.3", TlsVersion::V1_3}});
  if (c.tls.cert_file.empty() != c.tls.key_file.empty())
    m.error(c.tls.cert_file.empty() ? "cert_file" : "key_file", "cert_file and key_file go together");
}

void read_log(ConfigMap& m, Config& c) {
  m.get_enum("level", c.log.level, {"trace", "debug", "info", "warn", "error", "critical", "off"});
  m.get("transactions", c.log.transactions);
  m.get_size("max_size", c.log.max_size, 0, std::size_t(1) << 40);
  if (c.log.max_size != 0 && c.log.max_size < 4096) m.error("max_size", "must be 0 (never rotate) or at least 4k");
  std::uint64_t files = c.log.max_files;
  m.get_uint("max_files", files, 1, 1000);
  c.log.max_files = files;
}

Result<ConfigPtr> build(const YAML::Node& root, const std::string& file, bool with_filters) {
  Result<ConfigPtr> out;
  auto c = std::make_shared<Config>();
  c->file = file;
  std::vector<ConfigError>& errs = out.errors;
  {
    ConfigMap top(root, file, "", &errs);
    std::vector<std::string> listen;
    std::size_t before = errs.size();
    top.get("listen", listen);
    if (top.has("listen") && errs.size() == before) {
      c->listen.clear();
      for (const auto& l : listen) {
        Endpoint e;
        if (parse_host_port(l, e.host, e.port, /*allow_zero_port=*/true)) c->listen.push_back(e);
        else top.error("listen", "expected host:port, e.g. 127.0.0.1:2525 (got \"" + l + "\")");
      }
      if (listen.empty()) top.error("listen", "needs at least one host:port");
    }
    top.get("hostname", c->hostname);
    if (c->hostname.empty()) c->hostname = default_hostname();
    else if (!valid_hostname(c->hostname)) top.error("hostname", "\"" + c->hostname + "\" is not a valid host name");
    top.get("authserv_id", c->authserv_id);
    if (c->authserv_id.empty()) c->authserv_id = c->hostname;
    else if (!valid_hostname(c->authserv_id))
      top.error("authserv_id", "\"" + c->authserv_id + "\" is not a host name (RFC 8601 2.5: use this MTA's name)");
    std::uint64_t workers = 0;
    top.get_uint("workers", workers, 0, 256);
    c->workers = workers;
    top.get_duration("shutdown_timeout", c->shutdown_timeout, std::chrono::milliseconds(0), kMaxTimeout);
    {
      // Before the filters: they find the pool when they are built.
      auto m = top.child("work_pool");
      std::uint64_t threads = c->work_pool_threads, queue = c->work_pool_queue;
      m->get_uint("threads", threads, 0, 256);
      m->get_uint("queue", queue, 1, 100'000);
      c->work_pool_threads = threads;
      c->work_pool_queue = queue;
      c->work_pool = process_work_pool(c->work_pool_threads, c->work_pool_queue);
    }
    { auto m = top.child("smtp"); read_smtp(*m, *c); }
    { auto m = top.child("downstream"); read_downstream(*m, *c); }
    { auto m = top.child("tls"); read_tls(*m, *c); }
    { auto m = top.child("log"); read_log(*m, *c); }
    {
      auto dns = std::make_shared<DnsConfig>();
      auto m = top.child("dns");
      read_dns_config(*m, *dns);
      c->dns = std::move(dns);
    }
    {
      auto m = top.child("quarantine");
      c->quarantine = read_quarantine_config(*m, file);
      if (c->quarantine.enabled()) {
        std::string why;
        c->quarantine_store = Quarantine::open(c->quarantine.dir, &why);
        if (!c->quarantine_store) m->error("dir", why);
      }
    }
    {
      auto m = top.child("policy");
      c->policy = read_policy_config(*m, /*quarantine_available=*/c->quarantine.enabled());
    }
    // Tools that only need the quarantine and the downstream skip the filters (and
    // with them the rule compile).
    std::vector<FilterPtr> filters;
    if (with_filters) filters = build_filters(top.node("filters"), file, &errs);
    else top.node("filters");
    c->chain = std::make_shared<FilterChain>(std::move(filters), c->limits.filter_timeout);
  }
  if (c->downstream.helo_name.empty()) c->downstream.helo_name = c->hostname;
  // Certificates are loaded now, whatever else is wrong, so that one run reports
  // every problem; an error points at the key (and line) of the file that failed.
  auto line_of = [&](const char* section, const std::string& key) {
    YAML::Node n = root.IsMap() && root[section].IsMap() ? root[section][key] : YAML::Node();
    return n.IsDefined() && n.Mark().line >= 0 ? n.Mark().line + 1 : 0;
  };
  if (c->tls.enabled() && !c->tls.key_file.empty()) {
    std::string why, key;
    c->server_tls = make_server_tls(c->tls, &why, &key);
    if (!c->server_tls) errs.push_back({file, line_of("tls", key), "tls." + key, why});
  }
  if (c->downstream.tls != DownstreamTls::Off) {
    std::string why, key;
    c->client_tls = make_client_tls(c->downstream, &why, &key);
    if (!c->client_tls) errs.push_back({file, line_of("downstream", key), "downstream." + key, why});
  }
  if (errs.empty()) out.value = std::move(c);
  return out;
}
}  // namespace

Result<ConfigPtr> load_config_text(const std::string& text, const std::string& name, bool with_filters) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    Result<ConfigPtr> r;
    r.errors.push_back({name, e.mark.line >= 0 ? e.mark.line + 1 : 0, "", "YAML syntax error: " + e.msg});
    return r;
  }
  if (root.IsNull()) root = YAML::Node(YAML::NodeType::Map);
  return build(root, name, with_filters);
}

Result<ConfigPtr> load_config_file(const std::string& path, bool with_filters) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    Result<ConfigPtr> r;
    r.errors.push_back({path, 0, "", std::string("cannot read: ") + std::strerror(errno)});
    return r;
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  return load_config_text(ss.str(), path, with_filters);
}

}  // namespace mxgate
