// HeadersFilter: structural checks of the header section against RFC 5322 3.6
// (which fields must appear, which at most once). It only adds symbols; what they
// cost is policy's decision.
//
// Config (filters: - headers: {...}):
//   scores: { SYMBOL: n }   override a default score below
//
// Symbols: MISSING_FROM, MULTIPLE_FROM, MISSING_DATE, MISSING_MID, MISSING_SUBJECT,
//          DUPLICATE_HEADER (detail names the field), HEADER_MALFORMED,
//          HEADER_8BIT (8-bit header bytes without SMTPUTF8, RFC 6532).
#pragma once
#include <map>
#include <memory>
#include <string>

#include "filters/filter.hpp"

namespace mxgate {

class ConfigMap;

struct HeadersConfig {
  std::map<std::string, double> scores{
      {"MISSING_FROM", 2.0},    {"MULTIPLE_FROM", 2.0},     {"MISSING_DATE", 1.0},
      {"MISSING_MID", 0.5},     {"MISSING_SUBJECT", 0.5},   {"DUPLICATE_HEADER", 1.5},
      {"HEADER_MALFORMED", 1.5}, {"HEADER_8BIT", 0.5},
  };
};

class HeadersFilter final : public Filter {
 public:
  explicit HeadersFilter(std::shared_ptr<const HeadersConfig> cfg) : cfg_(std::move(cfg)) {}
  const char* name() const override { return "headers"; }
  Task<Verdict> on_end_of_data(const Envelope& env, const Message& msg) override;
  // The synchronous core, for `mxgate check` and tests.
  Verdict check(const Envelope& env, const Message& msg) const;

 private:
  std::shared_ptr<const HeadersConfig> cfg_;
};

FilterPtr make_headers_filter(ConfigMap& cfg);

}  // namespace mxgate
