#include "filters/mime/mime_filter.hpp"

#include "filters/config_node.hpp"
#include "filters/mime/mime_view.hpp"
#include "filters/filter_state.hpp"

namespace mxgate {

Verdict MimeFilter::symbols_for(const MimeView& view) const {
  Verdict v;
  for (const auto& p : view.problems) {
    const char* sym = mime_problem_symbol(p.kind);
    auto it = cfg_->scores.find(sym);
    std::string detail = p.detail;
    if (p.count > 1) detail += " (x" + std::to_string(p.count) + ")";
    v.symbols.push_back({sym, it == cfg_->scores.end() ? 0.0 : it->second, std::move(detail)});
  }
  return v;
}

Verdict MimeFilter::check(const Message& msg) const { return symbols_for(parse_mime(msg, cfg_->limits)); }

Task<Verdict> MimeFilter::on_end_of_data(const Envelope& env, const Message& msg) {
  // Parsed once per transaction with this filter's limits (the chain lends them),
  // shared with the content filter whichever runs first.
  std::shared_ptr<const MimeView> view = co_await mime_view(env, msg);
  co_return symbols_for(*view);
}

FilterPtr make_mime_filter(ConfigMap& cfg) {
  auto c = std::make_shared<MimeConfig>();
  std::uint64_t depth = c->limits.max_depth, parts = c->limits.max_parts;
  // Bounds: the walk recurses once per level, so depth stays far below any stack
  // limit (GMime itself stops at 1024).
  cfg.get_uint("max_depth", depth, 1, 100);
  cfg.get_uint("max_parts", parts, 1, 100000);
  c->limits.max_depth = static_cast<std::size_t>(depth);
  c->limits.max_parts = static_cast<std::size_t>(parts);
  cfg.get_size("max_decoded_bytes", c->limits.max_decoded_bytes, 64 * 1024, std::size_t{1} << 30);
  cfg.get_size("max_html_text_bytes", c->limits.max_html_text_bytes, 4 * 1024, std::size_t{1} << 30);
  cfg.get_size("inline_parse_bytes", c->inline_parse_bytes, 0, std::size_t{1} << 30);
  cfg.get_scores("scores", c->scores);
  return std::make_shared<MimeFilter>(std::move(c));
}

}  // namespace mxgate
