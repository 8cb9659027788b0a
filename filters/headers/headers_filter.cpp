#include "filters/headers/headers_filter.hpp"

#include <yaml-cpp/yaml.h>

#include "filters/config_node.hpp"

namespace mxgate {

Verdict HeadersFilter::check(const Envelope& env, const Message& msg) const {
  Verdict v;
  auto add = [&](const char* sym, std::string detail) {
    v.symbols.push_back({sym, cfg_->scores.at(sym), std::move(detail)});
  };
  std::size_t from = msg.count("From");
  if (from == 0) add("MISSING_FROM", "");
  if (from > 1) add("MULTIPLE_FROM", std::to_string(from) + " From fields");
  if (msg.count("Date") == 0) add("MISSING_DATE", "");
  if (msg.count("Message-ID") == 0) add("MISSING_MID", "");
  if (msg.count("Subject") == 0) add("MISSING_SUBJECT", "");
  // RFC 5322 3.6: fields that may appear at most once (From is reported above).
  static const char* const kOnce[] = {"Date", "Sender", "Reply-To", "To", "Cc", "Bcc",
                                      "Message-ID", "In-Reply-To", "References", "Subject"};
  std::string dups;
  for (const char* f : kOnce)
    if (msg.count(f) > 1) dups += std::string(dups.empty() ? "" : ",") + f;
  if (!dups.empty()) add("DUPLICATE_HEADER", dups);
  if (!msg.headers_well_formed()) add("HEADER_MALFORMED", "line without a field name in the header section");
  if (!env.smtputf8) {
    for (unsigned char c : msg.header_block()) {
      if (c >= 0x80) {
        add("HEADER_8BIT", "8-bit bytes in the header without SMTPUTF8");
        break;
      }
    }
  }
  return v;
}

Task<Verdict> HeadersFilter::on_end_of_data(const Envelope& env, const Message& msg) {
  co_return check(env, msg);
}

FilterPtr make_headers_filter(ConfigMap& cfg) {
  auto c = std::make_shared<HeadersConfig>();
  cfg.get_scores("scores", c->scores);
  return std::make_shared<HeadersFilter>(std::move(c));
}

}  // namespace mxgate
