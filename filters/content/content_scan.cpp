#include "filters/content/content_scan.hpp"

#include <map>
#include <optional>

#include "filters/content/relays.hpp"
#include "filters/filter_state.hpp"
#include "rules/rule_capture.hpp"

namespace mxgate {
namespace {

using rules::Rule;
using rules::Scope;

// Up to `width` bytes of text ending at `end`, on UTF-8 boundaries, controls as spaces.
std::string excerpt(std::string_view text, std::size_t end, std::size_t width = 48) {
  end = std::min(end, text.size());
  std::size_t begin = end > width ? end - width : 0;
  while (begin < end && (static_cast<unsigned char>(text[begin]) & 0xC0) == 0x80) ++begin;
  std::string out = begin > 0 ? "..." : "";
  for (std::size_t i = begin; i < end; ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    out += c < 0x20 || c == 0x7f ? ' ' : static_cast<char>(c);
  }
  return out;
}

std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

class Collector {
 public:
  explicit Collector(const rules::RuleSet& rs) : rs_(rs), counts_(rs.rules().size(), 0), where_(rs.rules().size()) {}

  void add(std::size_t rule, std::size_t count, std::string where) {
    const Rule& r = rs_.rules()[rule];
    if (counts_[rule] == 0) where_[rule] = std::move(where);
    counts_[rule] = r.multiple ? counts_[rule] + count : 1;
    if (r.multiple && r.maxhits > 0) counts_[rule] = std::min<std::size_t>(counts_[rule], static_cast<std::size_t>(r.maxhits));
  }
  std::size_t count(std::size_t rule) const { return counts_[rule]; }

  // Metas may use metas: evaluate depth-first, each once; a cycle reads as 0.
  void eval_metas() {
    std::vector<char> state(rs_.rules().size(), 0);  // 0 new, 1 running, 2 done
    for (std::size_t i = 0; i < rs_.rules().size(); ++i) eval(i, state);
  }

  ContentScan result(std::size_t scanned) {
    ContentScan out;
    out.scanned_bytes = scanned;
    for (std::size_t i = 0; i < counts_.size(); ++i)
      if (counts_[i] > 0) out.hits.push_back({i, counts_[i], std::move(where_[i])});
    return out;
  }

 private:
  // A meta's value is its expression's (as in SpamAssassin, where a meta that sums
  // sub-rules can be compared by another: `meta X __COUNT >= 2`).
  double eval(std::size_t i, std::vector<char>& state) {
    const Rule& r = rs_.rules()[i];
    if (r.scope != Scope::Meta) return static_cast<double>(counts_[i]);
    if (state[i] == 2) return meta_values_[i];
    if (state[i] == 1) return 0;  // a cycle (the parser refuses them; belt and braces)
    state[i] = 1;
    double v = 0;
    if (!rs_.parsed().unsupported_rules.count(r.name))
      v = rules::eval_meta(r.meta, [&](int k) { return eval(static_cast<std::size_t>(k), state); });
    if (v != 0) {
      counts_[i] = 1;
      std::string why;
      collect_true(r.meta, why);
      where_[i] = why.empty() ? "meta" : "meta: " + why;
    }
    meta_values_[i] = v;
    state[i] = 2;
    return v;
  }

  // The rules a meta names that were true (its evidence), in expression order.
  void collect_true(const rules::MetaNode& n, std::string& out) const {
    if (n.kind == rules::MetaNode::Kind::Rule) {
      if (n.rule_index >= 0 && counts_[static_cast<std::size_t>(n.rule_index)] > 0 &&
          out.find(n.rule) == std::string::npos)
        out += (out.empty() ? "" : " ") + n.rule;
      return;
    }
    for (const auto& k : n.kids) collect_true(k, out);
  }

  const rules::RuleSet& rs_;
  std::vector<std::size_t> counts_;
  std::vector<std::string> where_;
  std::vector<double> meta_values_ = std::vector<double>(rs_.rules().size(), 0.0);
};

// One scan of the whole text; for body, CompiledScope::scan matches each paragraph
// (line) on its own, as SpamAssassin runs body rules.
void scan_part_text(const rules::CompiledScope& sc, const rules::RuleSet& rs, const PartText& pt,
                    const char* scope, Collector& c, std::vector<rules::ScanHit>& hits) {
  hits.clear();
  // SpamAssassin's body text starts with the Subject line ("\n" without one), which
  // `tflags nosubject` rules skip.
  std::size_t nosubject_from = 0;
  if (sc.scope == rules::Scope::Body) nosubject_from = std::min(pt.text.find('\n'), pt.text.size()) + 1;
  sc.scan(pt.text, rs.rules(), hits, nosubject_from);
  for (const auto& h : hits) {
    auto [label, off] = pt.locate(h.end);
    // The excerpt stays inside the line (paragraph) that matched.
    std::size_t line = h.end == 0 ? 0 : pt.text.rfind('\n', h.end - 1);
    line = line == std::string::npos ? 0 : line + 1;
    std::string_view unit = std::string_view(pt.text).substr(line);
    c.add(h.rule, h.count,
          std::string(scope) + " " + label + " at " + std::to_string(off) + ": " + quoted(excerpt(unit, h.end - line)));
  }
}

// The texts a regex rule reads, one at a time, as its scope's scan reads them:
// each paragraph (line) of the body, after the Subject line for `tflags
// nosubject`; the rawbody and full texts whole; each URI; the header key's text,
// or its [if-unset] text when absent. `each(text, where)` returns false to stop.
template <class Each>
void for_each_text(const Rule& r, const ScanTexts& texts, const std::optional<std::string>& header, Each each) {
  switch (r.scope) {
    case Scope::Body: {
      std::string_view t = texts.body.text;
      std::size_t start = r.nosubject ? std::min(t.find('\n'), t.size()) + 1 : 0;
      while (start < t.size()) {
        std::size_t nl = std::min(t.find('\n', start), t.size());
        auto [label, off] = texts.body.locate(start);
        // With its line end, but for the last (CompiledScope::count_per_line).
        std::size_t len = nl + 1 < t.size() ? nl + 1 - start : nl - start;
        if (!each(t.substr(start, len), "body " + label + " at " + std::to_string(off))) return;
        start = nl + 1;
      }
      return;
    }
    case Scope::RawBody:
      each(texts.rawbody.text, std::string("rawbody"));
      return;
    case Scope::Full:
      each(texts.full, std::string("full"));
      return;
    case Scope::Uri:
      for (const auto& url : texts.urls)
        if (!each(url, "uri " + quoted(excerpt(url, url.size(), 200)))) return;
      return;
    case Scope::Header:
      if (header) each(*header, "header " + r.header.field);
      else each(r.header.if_unset, "header " + r.header.field + " (absent)");
      return;
    case Scope::Meta:
    case Scope::Eval:
      return;
  }
}

// The tags a capture rule that hit sets, from its first match or from every match
// for `tflags multiple` (Check.pm), replacing what earlier rules set.
void read_captures(const rules::RuleSet& rs, const rules::CaptureRule& cap, const ScanTexts& texts,
                   const std::optional<std::string>& header, rules::CaptureTags& tags) {
  const Rule& r = rs.rules()[cap.rule];
  std::size_t left = r.multiple ? (r.maxhits > 0 ? static_cast<std::size_t>(r.maxhits) : SIZE_MAX) : 1;
  rules::CaptureTags own;
  for_each_text(r, texts, header, [&](std::string_view text, const std::string&) {
    left -= std::min(left, rules::collect_captures(cap, rs.capture_match_context(), text, left, own));
    return left > 0;
  });
  rules::set_captures(tags, std::move(own));
}

// SpamAssassin 4 capture rules (rules/rule_capture.hpp), in the order they run: a
// capture rule that hit sets its tags; a rule reading tags is compiled with the
// values set so far and run (and sets tags in turn if it has named groups).
// `header_of(rule)` gives a header rule's text (nullopt when absent).
template <class HeaderOf>
void run_capture_rules(const rules::RuleSet& rs, const ScanTexts& texts, Collector& c, HeaderOf header_of) {
  const auto& rules = rs.rules();
  rules::CaptureTags tags;
  for (const auto& step : rs.capture_steps()) {
    const std::size_t i = step.rule;
    const Rule& r = rules[i];
    const bool captures_here = !(r.scope == Scope::Header && r.header.negate);  // a `!~` rule captures nothing
    if (step.capture >= 0) {
      if (c.count(i) > 0 && captures_here)
        read_captures(rs, rs.capture_rules()[static_cast<std::size_t>(step.capture)], texts, header_of(r), tags);
      continue;
    }
    std::optional<std::string> pattern = rules::expand_templates(r, tags);
    if (!pattern) continue;  // a tag it reads is not set: not run
    std::string err;
    rules::Pcre2CodePtr code = rules::compile_for_rule(*pattern, r, err);
    if (!code) continue;
    std::size_t limit = r.multiple ? (r.maxhits > 0 ? static_cast<std::size_t>(r.maxhits) : SIZE_MAX) : 1;
    std::size_t n = 0;
    std::string where;
    for_each_text(r, texts, header_of(r), [&](std::string_view text, const std::string& label) {
      std::size_t end = 0;
      std::size_t got = rules::pcre2_count(code.get(), rs.capture_match_context(), text, limit - n, &end);
      if (got > 0 && n == 0) where = r.scope == Scope::Uri ? label : label + ": " + quoted(excerpt(text, end));
      n += got;
      return n < limit;
    });
    if (!captures_here) {
      if (n == 0) c.add(i, 1, "header " + r.header.field + " (no match)");
    } else if (n > 0) {
      c.add(i, n, std::move(where));
      if (r.captures) read_captures(rs, {i, std::move(code)}, texts, header_of(r), tags);
    }
  }
}

// PerMsgStatus::check: the Bayes set once the classifier can answer (learned
// enough of both kinds) for the transaction being scanned; the network bit is the
// caller's (network tests on).
int score_set_for(const Envelope& env) {
  const FilterState* st = env.state.get();
  if (st && st->bayes.available && st->bayes.txn == env.txn_id) return rules::kSetBayes;
  return rules::kSetLocal;
}

}  // namespace

ContentScan scan_content(const rules::RuleSet& rs, const MimeView& view, const Message& msg, const Envelope& env,
                         const ScanLimits& limits, const EvalSettings& settings, const NetworkHits* network,
                         const ScanTexts* prebuilt) {
  std::optional<ScanTexts> own;
  if (!prebuilt) own = build_scan_texts(view, msg, limits, settings.uri.get());
  const ScanTexts& texts = prebuilt ? *prebuilt : *own;
  // The trust path (relays.hpp), once per message, when a header rule or an eval
  // test reads it; the eval tests get this same analysis (EvalContext fact).
  std::optional<RelayPath> relay_path_once;
  auto relays_for = [&](std::string_view key) -> const RelayPath* {
    if (!header_key_needs_relays(key)) return nullptr;
    if (!relay_path_once) relay_path_once = analyse_relays(settings.relay.get(), view, msg, env);
    return &*relay_path_once;
  };
  Collector c(rs);
  std::size_t scanned = 0;
  std::vector<rules::ScanHit> hits;
  const auto& rules = rs.rules();
  for (const auto& sc : rs.scopes()) {
    switch (sc->scope) {
      case Scope::Body:
        scan_part_text(*sc, rs, texts.body, "body", c, hits);
        scanned += texts.body.text.size();
        break;
      case Scope::RawBody:
        scan_part_text(*sc, rs, texts.rawbody, "rawbody", c, hits);
        scanned += texts.rawbody.text.size();
        break;
      case Scope::Full:
        hits.clear();
        sc->scan(texts.full, rules, hits);
        scanned += texts.full.size();
        for (const auto& h : hits)
          c.add(h.rule, h.count, "full at " + std::to_string(h.end) + ": " + quoted(excerpt(texts.full, h.end)));
        break;
      case Scope::Uri:
        for (const auto& url : texts.urls) {
          hits.clear();
          sc->scan(url, rules, hits);
          scanned += url.size();
          for (const auto& h : hits) c.add(h.rule, h.count, "uri " + quoted(excerpt(url, url.size(), 200)));
        }
        break;
      case Scope::Header: {
        std::string_view key = std::string_view(sc->key).substr(7);  // after "header:"
        std::optional<std::string> text = header_text(key, view, msg, env, relays_for(key));
        // Say the field as the rule file spells it.
        std::string field = sc->regexes.empty() ? std::string(key) : rules[sc->regexes[0].rule].header.field;
        // Present: one scan. Absent: rules read their [if-unset: X] text (or "").
        if (text) {
          hits.clear();
          sc->scan(*text, rules, hits);
          scanned += text->size();
          std::vector<char> matched(rules.size(), 0);
          for (const auto& h : hits) matched[h.rule] = 1;
          for (const auto& cr : sc->regexes) {
            const Rule& r = rules[cr.rule];
            if (r.header.negate) {
              if (!matched[cr.rule]) c.add(cr.rule, 1, "header " + field + " (no match)");
            }
          }
          for (const auto& h : hits)
            if (!rules[h.rule].header.negate)
              c.add(h.rule, h.count, "header " + field + ": " + quoted(excerpt(*text, h.end)));
          break;
        }
        std::map<std::string, std::vector<std::size_t>> groups;
        for (const auto& cr : sc->regexes) groups[rules[cr.rule].header.if_unset].push_back(cr.rule);
        for (const auto& [unset, members] : groups) {
          hits.clear();
          sc->scan(unset, rules, hits);
          std::vector<char> matched(rules.size(), 0);
          for (const auto& h : hits) matched[h.rule] = 1;
          for (std::size_t ri : members) {
            bool hit = matched[ri] != rules[ri].header.negate;
            if (hit) c.add(ri, 1, "header " + field + " (absent)");
          }
        }
        break;
      }
      case Scope::Meta:
      case Scope::Eval:
        break;
    }
  }
  run_capture_rules(rs, texts, c, [&](const Rule& r) -> std::optional<std::string> {
    if (r.scope != Scope::Header) return std::nullopt;
    return header_text(r.header.key(), view, msg, env, relays_for(r.header.key()));
  });
  // exists:Field
  for (std::size_t i = 0; i < rules.size(); ++i) {
    const Rule& r = rules[i];
    if (r.scope != Scope::Header || !r.header.exists_test) continue;
    if (header_text(r.header.field, view, msg, env, relays_for(r.header.field)))
      c.add(i, 1, "header " + r.header.field + " exists");
  }
  // eval: tests, each once; disabled ones (score 0, no meta reads them) skipped.
  std::vector<char> off;
  EvalContext ctx(view, msg, env, texts, settings);
  ctx.network = network;
  if (relay_path_once) ctx.fact<RelayPath>([&] { return std::move(*relay_path_once); });
  const EvalTable& table = eval_table();
  for (std::size_t i = 0; i < rules.size(); ++i) {
    const Rule& r = rules[i];
    if (r.scope != Scope::Eval) continue;
    if (off.empty()) off = rules::disabled_rules(rules);
    if (off[i]) continue;
    auto fn = table.find(r.eval.function);
    if (fn == table.end()) continue;
    ctx.rule = &r;
    if (EvalResult hit = fn->second.run(ctx, r.eval.args))
      c.add(i, 1, "eval " + r.eval.function + (hit->empty() ? "" : ": " + *hit));
  }
  c.eval_metas();
  ContentScan out = c.result(scanned);
  out.score_set = score_set_for(env) | (network && network->asked ? rules::kSetNet : 0);
  return out;
}

std::vector<Symbol> content_symbols(const rules::RuleSet& rs, const ContentScan& scan) {
  std::vector<Symbol> out;
  for (const auto& h : scan.hits) {
    const Rule& r = rs.rules()[h.rule];
    const double score = r.scores[scan.score_set];
    if (r.name.starts_with("__") || score == 0) continue;
    Symbol s{r.name, score, r.describe};
    s.where = h.where;
    if (h.count > 1) s.where += " (x" + std::to_string(h.count) + ")";
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace mxgate
