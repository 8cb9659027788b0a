// Finding DMARC records: at one name (RFC 7489 6.6.3), and by RFC 9989's DNS Tree
// Walk with the Organisational Domain it determines (4.10, 4.10.2).
#include <string>
#include <vector>

#include "filters/dmarc/dmarc.hpp"
#include "filters/dns/resolver.hpp"

namespace mxgate {

Task<RecordLookup> find_dmarc_record(DnsLookup& dns, std::string domain) {
  RecordLookup out;
  std::string name = "_dmarc." + domain;
  if (name.size() > 253) co_return out;  // cannot exist in the DNS; never worth a query
  DnsResult r = co_await dns.query(name, RrType::TXT);
  if (r.temporary()) {
    out.kind = RecordLookup::Temporary;
    out.detail = std::string(dns_status_name(r.status)) + (r.error.empty() ? "" : " (" + r.error + ")");
    co_return out;
  }
  if (r.status != DnsStatus::Answer) co_return out;  // NXDOMAIN, NODATA
  std::size_t found = 0;
  for (const auto& txt : r.records) {
    DmarcRecordStatus s = parse_dmarc_record(txt).status;
    if (s == DmarcRecordStatus::Empty || s == DmarcRecordStatus::NotDmarc) continue;
    if (found++ == 0) out.record = txt;
  }
  if (found == 1) out.kind = RecordLookup::Found;
  if (found > 1) {
    out.kind = RecordLookup::Multiple;
    out.detail = std::to_string(found);
  }
  co_return out;
}

namespace {

std::size_t label_count(std::string_view d) {
  if (d.empty()) return 0;
  std::size_t n = 1;
  for (char c : d) n += c == '.';
  return n;
}

// The right-most `n` labels of `d`.
std::string_view right_labels(std::string_view d, std::size_t n) {
  std::size_t have = label_count(d);
  while (have > n) {
    d.remove_prefix(d.find('.') + 1);
    --have;
  }
  return d;
}

}  // namespace

std::vector<std::string> dmarc_walk_names(std::string_view domain) {
  std::vector<std::string> out;
  if (domain.empty()) return out;
  out.emplace_back(domain);
  std::string_view cur = domain;
  // 4.10 step 4: with 8 or more labels, straight to the 7 right-most ones (so a long
  // name costs no more than 8 queries); below that, one label at a time.
  if (label_count(cur) >= 8) {
    cur = right_labels(cur, 7);
    out.emplace_back(cur);
  }
  while (label_count(cur) > 1) {
    cur.remove_prefix(cur.find('.') + 1);
    out.emplace_back(cur);
  }
  return out;
}

Task<DmarcWalk> dmarc_tree_walk(DnsLookup& dns, std::string domain) {
  DmarcWalk w;
  w.start = domain;
  for (const std::string& name : dmarc_walk_names(domain)) {
    w.asked.push_back(name);
    RecordLookup r = co_await find_dmarc_record(dns, name);
    if (r.kind == RecordLookup::Temporary) {
      w.temporary = true;
      w.temp_detail = "_dmarc." + name + ": " + r.detail;
      co_return w;
    }
    if (r.kind != RecordLookup::Found) continue;  // none, or several (all discarded)
    DmarcWalk::Found f{name, r.record, parse_dmarc_record(r.record)};
    const char psd = f.parsed.psd;
    w.found.push_back(std::move(f));
    if (psd == 'y' || psd == 'n') break;  // step 2: a record that says where the boundary is
  }
  co_return w;
}

std::string dmarc_walk_org_domain(const DmarcWalk& w) {
  // The walk stops at the first psd=y/n record, so only the last one can carry it.
  if (!w.found.empty()) {
    const DmarcWalk::Found& last = w.found.back();
    if (last.parsed.psd == 'n') return last.domain;
    if (last.parsed.psd == 'y' && last.domain != w.start)
      return std::string(right_labels(w.start, label_count(last.domain) + 1));
    // No boundary stated: the found name with the fewest labels (a psd=y record at
    // the start itself says nothing about names below it).
    for (auto it = w.found.rbegin(); it != w.found.rend(); ++it)
      if (!(it->parsed.psd == 'y' && it->domain == w.start)) return it->domain;
  }
  return w.start;
}

}  // namespace mxgate
