// Everything that runs per message: CompiledScope::scan over one text, the
// per-thread Hyperscan scratch and match state, confirmation by RE2 or PCRE2 (counts
// for `tflags multiple`, per-line matching in the body scope), and the index of which
// entries run on every text (index_engines, built once when a scope is final).
#include "rules/rule_compiler.hpp"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <hs/hs.h>
#include <pcre2.h>
#include <re2/re2.h>

#include <cstdint>
#include <functional>

namespace mxgate::rules {

// ---------------------------------------------------------------------------
// Scanning.

namespace {

// One scratch per thread, grown for every database it meets (hs_alloc_scratch
// only reallocates when a database needs more).
struct ThreadScratch {
  hs_scratch_t* s = nullptr;
  ~ThreadScratch() { if (s) hs_free_scratch(s); }
};


constexpr std::size_t kNoMatch = static_cast<std::size_t>(-1);

// Per-thread match state, reused by every scan on the thread: sized for the largest
// scope met so far, and only the entries a scan touched are reset afterwards, so a
// scan of a short text costs what it matches, not what the scope holds.
struct MatchState {
  std::vector<std::size_t> ends;      // per entry: end of the first match, or kNoMatch
  std::vector<std::size_t> touched;   // entries whose `ends` this scan set
  void mark(std::size_t k, std::size_t end) {
    if (ends[k] != kNoMatch) return;
    ends[k] = end;
    touched.push_back(k);
  }
};

int on_hs_match(unsigned id, unsigned long long, unsigned long long to, unsigned, void* ctx) {
  static_cast<MatchState*>(ctx)->mark(id, static_cast<std::size_t>(to));
  return 0;
}

int on_solo_match(unsigned, unsigned long long, unsigned long long to, unsigned, void* ctx) {
  *static_cast<std::size_t*>(ctx) = static_cast<std::size_t>(to);
  return 1;  // one match is all we need: stop
}

}  // namespace

std::size_t pcre2_each(const pcre2_code* code, pcre2_match_context* mc, std::string_view text, std::size_t limit,
                       const std::function<void(const std::size_t* ovector, int pairs)>& on_match) {
  pcre2_match_data* md = pcre2_match_data_create_from_pattern(code, nullptr);
  std::size_t n = 0;
  PCRE2_SIZE start = 0;
  std::uint32_t opts = 0;
  while (n < limit && start <= text.size()) {
    int rc = pcre2_match(code, reinterpret_cast<PCRE2_SPTR>(text.data()), text.size(), start, opts, md, mc);
    if (rc < 0) {
      if (rc == PCRE2_ERROR_NOMATCH && opts != 0) {
        // Empty match at `start`: retry one byte further, as Perl does.
        opts = 0;
        ++start;
        continue;
      }
      break;  // no match, or a match/depth limit: no further hits
    }
    PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
    ++n;
    if (on_match) on_match(ov, rc);
    opts = ov[0] == ov[1] ? PCRE2_NOTEMPTY_ATSTART | PCRE2_ANCHORED : 0;
    start = ov[1];
  }
  pcre2_match_data_free(md);
  return n;
}

std::size_t pcre2_count(const pcre2_code* code, pcre2_match_context* mc, std::string_view text, std::size_t limit,
                        std::size_t* first_end) {
  if (!first_end) return pcre2_each(code, mc, text, limit, nullptr);
  bool first = true;
  return pcre2_each(code, mc, text, limit, [&](const std::size_t* ov, int) {
    if (first) *first_end = ov[1];
    first = false;
  });
}

std::size_t re2_count(const re2::RE2& re, std::string_view text, std::size_t limit, std::size_t* first_end) {
  std::size_t n = 0;
  re2::StringPiece in(text.data(), text.size());
  re2::StringPiece m;
  std::size_t pos = 0;
  while (n < limit && pos <= text.size() &&
         re.Match(in, pos, text.size(), re2::RE2::UNANCHORED, &m, 1)) {
    std::size_t end = static_cast<std::size_t>(m.data() - text.data()) + m.size();
    if (n++ == 0 && first_end) *first_end = end;
    pos = m.empty() ? end + 1 : end;
  }
  return n;
}

// One scratch per thread, shared by every database the thread scans. hs_scan itself
// refuses (HS_INVALID) a scratch too small for the database; only then do we grow it
// with hs_alloc_scratch, which is expensive: it validates the whole database
// (a checksum over its bytecode, ~0.8 ms for the stock body database) before it looks
// at the scratch. Calling it before every scan cost 95% of scanning time
// (tests/bench/scan_bench, docs/performance.md).
static void hs_scan_grow(const hs_database_t* db, std::string_view text, match_event_handler on_match, void* ctx) {
  thread_local ThreadScratch scratch;
  auto len = static_cast<unsigned>(text.size());
  hs_error_t rc = scratch.s ? hs_scan(db, text.data(), len, 0, scratch.s, on_match, ctx) : HS_INVALID;
  if (rc != HS_INVALID) return;
  if (hs_alloc_scratch(db, &scratch.s) != HS_SUCCESS) return;
  hs_scan(db, text.data(), len, 0, scratch.s, on_match, ctx);
}

void CompiledScope::index_engines() {
  solos_.clear();
  always_.clear();
  for (std::size_t k = 0; k < regexes.size(); ++k) {
    if (regexes[k].solo) solos_.push_back(k);
    const CompiledRegex& cr = regexes[k];
    bool anchored_lines = per_line() && cr.line_only && (cr.pcre2 || cr.re2);
    if ((cr.engine == Engine::Re2 && !cr.gated) || cr.engine == Engine::Pcre2 || anchored_lines) always_.push_back(k);
  }
}

void CompiledScope::scan(std::string_view text, const std::vector<Rule>& rules, std::vector<ScanHit>& out,
                         std::size_t nosubject_from) const {
  // Hyperscan takes an unsigned length; texts are bounded far below 4 GiB by the
  // message size limit, but never let a wrap skip the tail silently.
  if (text.size() > UINT32_MAX) text = text.substr(0, UINT32_MAX);
  thread_local MatchState st;
  if (st.ends.size() < regexes.size()) st.ends.resize(regexes.size(), kNoMatch);
  st.touched.clear();
  for (const auto& db : hs)
    if (db) hs_scan_grow(db.get(), text, on_hs_match, &st);
  for (const auto& db : slow)
    if (db) hs_scan_grow(db.get(), text, on_hs_match, &st);
  for (std::size_t k : solos_) {
    std::size_t end = kNoMatch;
    hs_scan_grow(regexes[k].solo.get(), text, on_solo_match, &end);
    if (end != kNoMatch) st.mark(k, end);
  }
  auto confirm = [&](std::size_t k, bool from_hyperscan) {
    const CompiledRegex& cr = regexes[k];
    const Rule& r = rules[cr.rule];
    std::size_t limit = r.multiple ? (r.maxhits > 0 ? static_cast<std::size_t>(r.maxhits) : SIZE_MAX) : 1;
    std::size_t n = 0, end = st.ends[k];
    if (per_line() && r.nosubject && nosubject_from > 0) {
      // Only the paragraphs after the Subject line: per line from there, once (a
      // rule both in the databases and in always_ is confirmed by the latter).
      bool always = (cr.engine == Engine::Re2 && !cr.gated) || cr.engine == Engine::Pcre2 ||
                    (cr.line_only && (cr.pcre2 || cr.re2));
      if ((from_hyperscan && always) || cr.engine == Engine::Unsupported || (!cr.pcre2 && !cr.re2)) return;
      std::size_t not_before = nosubject_from + 1;
      if (from_hyperscan && !cr.line_only) not_before = std::max(not_before, end);
      n = count_per_line(cr, text, limit, &end, not_before);
      if (n > 0) out.push_back({cr.rule, n, end});
      return;
    }
    if (per_line()) {
      if (from_hyperscan && cr.line_only && (cr.pcre2 || cr.re2)) return;  // scanned per line below
      bool lines = cr.crosses || cr.line_only || r.multiple || cr.engine == Engine::Prefilter;
      if (cr.engine == Engine::Hyperscan && (!lines || !cr.pcre2)) {
        n = 1;  // exact: the match cannot reach past its paragraph (or PCRE2 refused the pattern)
      } else if (cr.engine == Engine::Unsupported) {
        return;
      } else if (!cr.line_only && (!from_hyperscan || cr.gated)) {
        // RE2 / PCRE2 alone, or RE2 behind a loose prefilter: one look at the whole
        // text first (a superset of the per-line matches); most texts end here.
        std::size_t e = 0;
        n = cr.re2 ? re2_count(*cr.re2, text, 1, &e) : pcre2_count(cr.pcre2.get(), match_context.get(), text, 1, &e);
        // RE2 reports the leftmost match, not the earliest ending: only Hyperscan's
        // (prefilter) end, the earliest of a superset of matches, bounds the lines.
        if (n > 0 && lines) n = count_per_line(cr, text, limit, &end, from_hyperscan ? st.ends[k] : 0);
        else end = e;
      } else {
        // A per-line match is also a whole-text one, so none ends before the first
        // whole-text (or prefilter) match did: start at that line.
        n = count_per_line(cr, text, limit, &end, from_hyperscan && !cr.line_only ? end : 0);
      }
      if (n > 0) out.push_back({cr.rule, n, end});
      return;
    }
    switch (cr.engine) {
      case Engine::Hyperscan:
        n = (r.multiple && cr.pcre2) ? pcre2_count(cr.pcre2.get(), match_context.get(), text, limit, &end) : 1;
        break;
      case Engine::Prefilter:
        // A prefilter hit is only a candidate: PCRE2 decides, from the start.
        n = pcre2_count(cr.pcre2.get(), match_context.get(), text, limit, &end);
        break;
      case Engine::Pcre2:
        n = pcre2_count(cr.pcre2.get(), match_context.get(), text, limit, &end);
        break;
      case Engine::Re2:
        n = re2_count(*cr.re2, text, limit, &end);
        break;
      case Engine::Unsupported:
        break;
    }
    if (n > 0) out.push_back({cr.rule, n, end});
  };
  for (std::size_t k : st.touched) {
    confirm(k, true);
    st.ends[k] = kNoMatch;
  }
  for (std::size_t k : always_) confirm(k, false);
}

std::size_t CompiledScope::count_per_line(const CompiledRegex& cr, std::string_view text, std::size_t limit,
                                          std::size_t* first_end, std::size_t not_before) const {
  // The line holding the byte before `not_before` (earlier lines end before it).
  std::size_t start = 0;
  if (not_before > 1 && not_before <= text.size()) {
    std::size_t nl = text.rfind('\n', not_before - 2);
    start = nl == std::string_view::npos ? 0 : nl + 1;
  }
  std::size_t n = 0;
  while (start < text.size() && n < limit) {
    std::size_t nl = text.find('\n', start);
    if (nl == std::string_view::npos) nl = text.size();
    // SpamAssassin's paragraphs keep their line end (split_into_array_of_short_lines
    // splits at /^/m), so `\s$` can match it; the text's last one has none there.
    std::string_view line = text.substr(start, nl + 1 < text.size() ? nl + 1 - start : nl - start);
    std::size_t e = 0;
    std::size_t got = cr.re2 ? re2_count(*cr.re2, line, limit - n, &e)
                             : pcre2_count(cr.pcre2.get(), match_context.get(), line, limit - n, &e);
    if (got > 0 && n == 0) *first_end = start + e;
    n += got;
    start = nl + 1;
  }
  return n;
}

std::vector<std::size_t> CompiledScope::scan(std::string_view text, const std::vector<Rule>& rules) const {
  std::vector<ScanHit> hits;
  scan(text, rules, hits);
  std::vector<std::size_t> out;
  for (const auto& h : hits) out.insert(out.end(), h.count, h.rule);
  return out;
}

}  // namespace mxgate::rules
