// FakeLookup: a DnsLookup answered from a table, for hermetic unit tests and the
// SPF conformance suite. Names are matched case-insensitively, without the final dot.
// A name absent from the table is NXDOMAIN; a name present without the asked type is
// NODATA; a (name, type) set to a status (Timeout, ServFail) returns that status.
#pragma once
#include <algorithm>
#include <cctype>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "filters/dns/resolver.hpp"

namespace mxgate {

class FakeLookup : public DnsLookup {
 public:
  void add(const std::string& name, RrType type, std::string record) {
    auto& e = table_[key(name)][type];
    e.status = DnsStatus::Answer;
    e.records.push_back(std::move(record));
    e.ttl = 300;
  }
  void fail(const std::string& name, RrType type, DnsStatus status) {
    auto& e = table_[key(name)][type];
    e.status = status;
    e.records.clear();
  }
  // The name exists (for NODATA) without records of any type.
  void exists(const std::string& name) { table_[key(name)]; }
  std::size_t queries() const { return queries_; }
  const std::vector<std::pair<std::string, RrType>>& log() const { return log_; }

  Task<DnsResult> query(const std::string& name, RrType type) override {
    ++queries_;
    log_.emplace_back(name, type);
    DnsResult r;
    auto it = table_.find(key(name));
    if (it == table_.end()) {
      r.status = DnsStatus::NxDomain;
      co_return r;
    }
    auto t = it->second.find(type);
    if (t == it->second.end()) {
      r.status = DnsStatus::NoData;
      co_return r;
    }
    r = t->second;
    if (r.status == DnsStatus::Timeout) r.error = "timeout (fake)";
    co_return r;
  }

 private:
  static std::string key(std::string n) {
    if (!n.empty() && n.back() == '.') n.pop_back();
    std::transform(n.begin(), n.end(), n.begin(), [](unsigned char c) { return std::tolower(c); });
    return n;
  }
  std::map<std::string, std::map<RrType, DnsResult>> table_;
  std::size_t queries_ = 0;
  std::vector<std::pair<std::string, RrType>> log_;
};

}  // namespace mxgate
