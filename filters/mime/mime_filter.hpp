// MimeFilter: parses the message with parse_mime() at end of data and reports each
// MIME problem it found as a symbol (MIME_BAD_BOUNDARY, MIME_TOO_DEEP, ... see
// mime.hpp). It only adds symbols; what they cost is policy's decision.
//
// Config (filters: - mime: {...}):
//   max_depth (20)                 nesting deeper than this is not walked    MIME_TOO_DEEP
//   max_parts (500)                MIME entities walked at most              MIME_TOO_MANY_PARTS
//   max_decoded_bytes (32MiB)      decoded text kept at most                 MIME_TOO_BIG
//   max_html_text_bytes (4MiB)     rendered HTML text at most                MIME_HTML_TOO_BIG
//   inline_parse_bytes (256k)      larger messages are parsed on the content
//                                  filter's scan pool (when one exists), not on
//                                  the session's thread
//   scores: { SYMBOL: n }          override a default score below
//
// Parsing is synchronous CPU work, linear in the message size. The view is left in
// FilterState for the content filter, which then does not parse again.
#pragma once
#include <map>
#include <memory>
#include <string>

#include "filters/filter.hpp"
#include "filters/mime/mime.hpp"

namespace mxgate {

class ConfigMap;

struct MimeConfig {
  MimeLimits limits;
  std::size_t inline_parse_bytes = 256 * 1024;
  std::map<std::string, double> scores{
      {"MIME_UNPARSABLE", 2.0},      {"MIME_BAD_HEADER", 0.5},         {"MIME_BAD_CONTENT_TYPE", 0.5},
      {"MIME_BAD_RFC2047", 0.5},     {"MIME_NO_BOUNDARY", 1.0},        {"MIME_MISSING_BOUNDARY", 1.0},
      {"MIME_MISSING_FINAL_BOUNDARY", 0.5}, {"MIME_BAD_BOUNDARY", 1.0}, {"MIME_BAD_BASE64", 1.0},
      {"MIME_BAD_QP", 0.5},          {"MIME_UNKNOWN_ENCODING", 1.0},   {"MIME_UNKNOWN_CHARSET", 0.5},
      {"MIME_BAD_CHARSET", 0.5},     {"MIME_NUL_BYTES", 1.0},          {"MIME_TOO_DEEP", 3.0},
      {"MIME_TOO_MANY_PARTS", 2.0},  {"MIME_TOO_BIG", 0.5},            {"MIME_HTML_TOO_BIG", 0.5},
  };
};

class MimeFilter final : public Filter {
 public:
  explicit MimeFilter(std::shared_ptr<const MimeConfig> cfg) : cfg_(std::move(cfg)) {}
  const char* name() const override { return "mime"; }
  Task<Verdict> on_end_of_data(const Envelope& env, const Message& msg) override;
  // The synchronous core, for `mxgate check` and tests.
  Verdict check(const Message& msg) const;
  // Symbols for an already parsed view (the content scanner parses once).
  Verdict symbols_for(const MimeView& view) const;
  const MimeConfig& config() const { return *cfg_; }

 private:
  std::shared_ptr<const MimeConfig> cfg_;
};

FilterPtr make_mime_filter(ConfigMap& cfg);

}  // namespace mxgate
