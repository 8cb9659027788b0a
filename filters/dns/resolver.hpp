// Resolver: the one DNS resolver every filter uses (SPF, DKIM keys, DMARC, rDNS).
//
// c-ares does the protocol (UDP, TCP on truncation, retries across servers); its
// sockets and timeouts are driven by the Asio loop of the thread the Resolver lives
// on, so a query never blocks a serving thread. One Resolver per worker thread
// (c-ares channels are not thread-safe); all of them share one DnsCache, which keeps
// answers for their TTL and NXDOMAIN/NODATA for the SOA's negative TTL (RFC 2308).
//
// Results keep apart what SPF/DKIM/DMARC must keep apart: an answer, NXDOMAIN, NODATA
// (the name exists, the type does not), SERVFAIL/REFUSED, and timeout. A timeout or a
// server failure is never an empty answer.
//
// Config (dns.*): nameservers (host:port list; default /etc/resolv.conf), timeout,
// attempts, cache_size.
#pragma once
#include <chrono>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "filters/dns/dns_message.hpp"
#include "filters/dns/lookup.hpp"
#include "base/task.hpp"

namespace mxgate {

class ConfigMap;

struct DnsConfig {
  std::vector<std::string> nameservers;             // dns.nameservers ("127.0.0.1:5353"); empty: resolv.conf
  std::chrono::milliseconds timeout{1500};          // dns.timeout, per try
  unsigned attempts = 2;                            // dns.attempts
  std::size_t cache_size = 10000;                   // dns.cache_size, entries
  std::chrono::seconds max_ttl{86400};              // answers are not kept longer than this
};
void read_dns_config(ConfigMap& m, DnsConfig& out);

enum class DnsStatus { Answer, NxDomain, NoData, ServFail, Timeout, Error };
const char* dns_status_name(DnsStatus s);

struct DnsResult {
  DnsStatus status = DnsStatus::Error;
  std::vector<std::string> records;  // see ParsedAnswer::records
  std::uint32_t ttl = 0;
  bool from_cache = false;
  std::string error;  // for logs, when status is ServFail/Timeout/Error
  bool temporary() const { return status == DnsStatus::ServFail || status == DnsStatus::Timeout || status == DnsStatus::Error; }
};

// Thread-safe, size-bounded (least recently stored goes first), TTL-honouring cache.
class DnsCache {
 public:
  explicit DnsCache(std::size_t max_entries) : max_(max_entries) {}
  bool get(const std::string& key, DnsResult& out);
  void put(const std::string& key, const DnsResult& r, std::chrono::seconds ttl);
  std::size_t size() const;

 private:
  using Clock = std::chrono::steady_clock;
  struct Entry {
    DnsResult result;
    Clock::time_point expires;
    std::list<std::string>::iterator order;
  };
  mutable std::mutex mu_;
  std::size_t max_;
  std::unordered_map<std::string, Entry> map_;
  std::list<std::string> order_;  // oldest first
};

class Resolver final : public DnsLookup {
 public:
  Resolver(Executor ex, std::shared_ptr<const DnsConfig> cfg, std::shared_ptr<DnsCache> cache);
  ~Resolver();
  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;

  // `name` without the trailing dot. Must be awaited on this Resolver's executor.
  Task<DnsResult> query(const std::string& name, RrType type) override;
  // Why the resolver could not be set up (bad nameserver list...), or "".
  const std::string& init_error() const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace mxgate
