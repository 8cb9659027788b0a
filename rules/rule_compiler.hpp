// Rule compiler: turns parsed rules into per-scope matchers, once, at load time.
//
// Each regex rule climbs a ladder and stops at the first engine that takes it:
//   1. Hyperscan      (the pattern as is; one block-mode database per scope)
//   2. RE2            (patterns Hyperscan refuses but RE2 accepts, e.g. too large;
//                      where Hyperscan's prefilter mode takes the pattern, RE2 runs
//                      only on the texts the prefilter flags)
//   3. Prefilter      (Hyperscan with HS_FLAG_PREFILTER finds candidates, PCRE2
//                      with JIT confirms: lookaround, backreferences, atomic groups)
//   4. Pcre2          (PCRE2 alone on every text of the scope, when even the
//                      prefilter compile fails)
//   5. Unsupported    (no engine compiles it; the reason is kept for `rules lint`)
// Patterns are bytes, as in SpamAssassin ("Body is processed as a raw byte
// string"): Hyperscan without HS_FLAG_UTF8, RE2 with Latin-1, PCRE2 without
// PCRE2_UTF, so `\xE4` is one byte and invalid UTF-8 in a message is harmless.
// Flags: i, m, s map to each engine's caseless/multiline/dotall; x is applied by
// strip_extended() before any engine sees the pattern (Hyperscan and RE2 have no
// extended mode), so all engines read the same pattern text.
//
// Scopes: one CompiledScope per text the rules read: "body", "rawbody", "full",
// "uri", and one per distinct header key ("header:subject", "header:from:addr",
// "header:ALL"). A header rule is matched against exactly the text SpamAssassin
// gives it (the field's values, decoded or :raw, :addr, ...), so `^`/`$` anchor
// as they do there, and `!~` is a normal database entry whose result is negated.
// A message then costs one hs_scan per header key it actually has, not one per rule.
//
// Compile time (a cold compile of SpamAssassin's stock rules: 190 s of CPU before,
// about 27 s now; docs/performance.md). Hyperscan's cost is in a few large
// patterns and in databases of many patterns, so:
//   - a pattern whose counted repeats unroll to more than hs_max_expanded positions
//     (pattern_shape) is not tried on Hyperscan as it is: it would be refused as too
//     large, after seconds;
//   - a large pattern's prefilter (rungs 2 and 3) is built from its loose form, its
//     costly counted repeats made unbounded: a superset of its matches, which RE2 or
//     PCRE2 then decide exactly as before;
//   - a pattern of hs_presume_slow_expanded positions or more is only parsed alone
//     and built once, in the scope's slow database; smaller ones are built alone and
//     timed, and go there if that took hs_solo_threshold (thread CPU time);
//   - the shared and slow databases are built in parts (hs_shared_max_patterns,
//     hs_slow_max_patterns), because Hyperscan's build time grows faster than the
//     pattern count; one job queue on every core places the patterns, largest scopes
//     first, and queues a scope's database parts as soon as its last pattern is
//     placed.
// None of this changes what matches: each rule's engine decides as before
// (tests/bench/scan_bench --compare-legacy compares every hit with all of it off).
#pragma once
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "rules/rule_parser.hpp"

struct hs_database;
struct hs_scratch;
struct pcre2_real_code_8;
struct pcre2_real_match_context_8;
namespace re2 { class RE2; }

namespace mxgate::rules {

enum class Engine { Hyperscan, Re2, Prefilter, Pcre2, Unsupported };
inline constexpr std::size_t kEngineCount = 5;
std::string_view engine_name(Engine e);

// Perl's /x: drops whitespace and #-comments outside character classes, and
// (?#...) comments; `\ ` and whitespace inside [...] stay.
std::string strip_extended(std::string_view pattern);

// How large a pattern is once its counted repeats are unrolled, as Hyperscan builds
// it (X{1,3} counts X three times; alternatives add up), and a looser form of it
// for Hyperscan's prefilter mode: each counted repeat X{m,n} (n >= 2) whose
// unrolled size is over `relax_above` written X* or X+, atomic groups and
// possessive quantifiers made plain, nothing inside a negative lookaround touched.
// The loose form matches wherever the pattern does (and more), so it may only
// select candidates for an exact engine. parsed: false for constructs the walk
// does not read (conditionals, recursion, \Q...\E, (?x)...): expanded is then 0
// and relaxed the pattern itself.
struct PatternShape {
  bool parsed = false;
  std::size_t expanded = 0;
  std::string relaxed;
};
PatternShape pattern_shape(std::string_view pattern, std::size_t relax_above);

struct CompileOptions {
  // PCRE2 limits per match (pcre2_set_match_limit / pcre2_set_depth_limit): a
  // pathological pattern fails the match (no hit) instead of spinning.
  std::uint32_t pcre2_match_limit = 1'000'000;
  std::uint32_t pcre2_depth_limit = 10'000;
  // A pattern whose own Hyperscan build takes this long (thread CPU time, so that
  // the layout does not depend on the machine's load) keeps that database and
  // stays out of the scope's shared one: a few such patterns (SpamAssassin's
  // __FILL_THIS_FORM_* family) otherwise make the shared build take minutes.
  std::chrono::milliseconds hs_solo_threshold{50};
  // Hyperscan unrolls counted repeats; a pattern over this many positions once
  // unrolled (PatternShape::expanded) is not tried on Hyperscan as it is and goes
  // straight to RE2 or PCRE2: on the stock rules every such pattern failed there
  // ("Pattern is too large") after 2-12 s of compiling (tests/bench/scan_bench
  // --compile-profile; the largest that builds has 5,411 positions).
  std::size_t hs_max_expanded = 10'000;
  // Prefilter builds (Hyperscan finds candidates, RE2 or PCRE2 decides) of a
  // pattern over this many positions use its loose form (PatternShape::relaxed,
  // counted repeats over prefilter_relax_above positions made unbounded): on the
  // stock rules that took __SPOOFED_URL's prefilter from 20 s to 0.01 s and
  // __FILL_THIS_FORM_PARTIAL's from 14 s to 0.8 s. Smaller patterns keep their own
  // form, which Hyperscan builds as fast or faster (an unbounded repeat of a large
  // alternation can cost more than the bounded one).
  std::size_t prefilter_loose_above = 2'500;
  std::size_t prefilter_relax_above = 64;
  // A scope's shared database is built in parts of at most this many patterns, on
  // as many threads: Hyperscan's build time grows faster than the pattern count
  // (the stock body rules, 485 patterns: 12.5 s CPU in one database, 4.0 + 3.5 s
  // in two), while one more pass over the text cost no measurable scan time there
  // (0.454 s in one, 0.434 s in two over 2,000 messages; tests/bench/scan_bench
  // --split-experiment).
  std::size_t hs_shared_max_patterns = 256;
  // A pattern this large (PatternShape::expanded) is presumed slow to build: it is
  // not built alone to find out (Hyperscan only parses it) but straight into the
  // scope's slow database. On the stock rules 62 of the 102 patterns this large
  // take 50 ms or more alone, 12.6 s of CPU in all that the compile no longer
  // spends twice; the 40 others add 0.8 s to the slow database.
  std::size_t hs_presume_slow_expanded = 300;
  // The slow database is built in parts of at most this many patterns, again
  // because the build time grows faster than the count: the stock body rules' 63
  // slow patterns took 16.7 s CPU in one database, 9.6 s in four (at most 3.0 s
  // each, so they build side by side), and scanned as fast (0.313 s and 0.319 s
  // over 2,000 messages; tests/bench/scan_bench --split-experiment).
  std::size_t hs_slow_max_patterns = 16;
  // Such slow-to-build patterns are then built together into one more database per
  // scope (a single extra pass over the text, instead of one pass each), except
  // those whose own database is at least this large: those stay alone.
  std::size_t hs_group_max_db_bytes = 2'000'000;
  // RE2 memory budget per pattern.
  std::int64_t re2_max_mem = 8 << 20;
  // Where compiled Hyperscan databases are kept between runs (content.cache_dir);
  // empty: no disk cache. See rule_cache.cpp.
  std::filesystem::path cache_dir;
};

// How a compile went: rules are compiled once and then reused, from this process's
// memory (a reload with unchanged patterns) or from the disk cache (a restart).
struct CompileReport {
  enum class Source { Compiled, Memory, DiskCache };
  Source source = Source::Compiled;
  double seconds = 0;       // wall time of compile()
  std::string cache_file;   // the cache file read or written ("" without cache_dir)
  std::string cache_note;   // why the cache was not used or not written ("" if fine)
  std::string key;          // hex SHA-256 of everything the compiled form depends on
  // Where a compile's time went (Source::Compiled only), for tests/bench: the
  // ladder's CPU time summed over threads, and each database built, with its
  // start and end (wall seconds since compile() began) and its own CPU time.
  struct Build {
    std::string scope, kind;  // kind: "shared" or "slow"
    std::size_t patterns = 0;
    double start = 0, end = 0, cpu = 0;
  };
  double ladder_cpu = 0;
  std::vector<Build> builds;
};
std::string_view source_name(CompileReport::Source s);

struct HsDatabaseDeleter { void operator()(hs_database* db) const; };
struct Pcre2CodeDeleter { void operator()(pcre2_real_code_8* c) const; };
struct Pcre2MatchContextDeleter { void operator()(pcre2_real_match_context_8* c) const; };
struct Re2Deleter { void operator()(re2::RE2* r) const; };
using HsDatabasePtr = std::unique_ptr<hs_database, HsDatabaseDeleter>;
using Pcre2CodePtr = std::unique_ptr<pcre2_real_code_8, Pcre2CodeDeleter>;
using Pcre2MatchContextPtr = std::unique_ptr<pcre2_real_match_context_8, Pcre2MatchContextDeleter>;
using Re2Ptr = std::unique_ptr<re2::RE2, Re2Deleter>;

// Non-overlapping matches counted as Perl's while (m//g) does (an empty match
// retries one byte further), up to `limit`; *first_end (if given) gets the end
// offset of the first. A PCRE2 match or depth limit ends the count. Used by scan()
// for `tflags multiple` and confirmations, and by tests/bench.
std::size_t pcre2_count(const pcre2_real_code_8* code, pcre2_real_match_context_8* mc, std::string_view text,
                        std::size_t limit, std::size_t* first_end = nullptr);
// The same walk, calling on_match with PCRE2's ovector (pairs of offsets; `pairs`
// of them set) for each match.
std::size_t pcre2_each(const pcre2_real_code_8* code, pcre2_real_match_context_8* mc, std::string_view text,
                       std::size_t limit, const std::function<void(const std::size_t* ovector, int pairs)>& on_match);
std::size_t re2_count(const re2::RE2& re, std::string_view text, std::size_t limit,
                      std::size_t* first_end = nullptr);

// One regex rule as compiled.
struct CompiledRegex {
  std::size_t rule = 0;        // index into RuleSet::rules()
  Engine engine = Engine::Unsupported;
  std::string pattern;         // what the engines were given (after ReplaceTags and /x)
  std::string prefilter;       // the loose form Hyperscan's prefilter mode builds, if not `pattern`
  std::size_t expanded = 0;    // PatternShape::expanded of `pattern` (0: not read)
  unsigned hs_flags = 0;       // Hyperscan flags, for Hyperscan and Prefilter
  std::string reason;          // why the earlier rungs refused it (or why unsupported)
  Re2Ptr re2;                  // Engine::Re2
  Pcre2CodePtr pcre2;          // Prefilter, Pcre2, and `tflags multiple` rules (counting)
  HsDatabasePtr solo;          // Hyperscan/Prefilter patterns too slow to build into the shared database
  bool grouped = false;        // built into the scope's `slow` database instead
  bool presumed_slow = false;  // during the compile: large, so only parsed alone, built in the slow database
  bool gated = false;          // Engine::Re2 run only where its Hyperscan prefilter matched
  // Body scope (one paragraph per line, matched per paragraph): may a match run
  // across a line break (\s, \W, [^...], /s...)? Then a whole-text hit is only a
  // candidate, confirmed paragraph by paragraph. line_only: \A, \z, \Z or \G,
  // which anchor at each paragraph, so only a per-paragraph scan sees them.
  bool crosses = false;
  bool line_only = false;
};

// The expression a Hyperscan database holds for this entry: the loose prefilter
// form where the entry is built in prefilter mode and has one, else the pattern.
const std::string& hs_expression(const CompiledRegex& cr);

// One rule's match in one text: how often (1 unless `tflags multiple`), and where
// the first match ends (a byte offset into the text).
struct ScanHit {
  std::size_t rule = 0;   // index into RuleSet::rules()
  std::size_t count = 0;
  std::size_t end = 0;
};

// Everything matched against one kind of text.
class CompiledScope {
 public:
  std::string key;                     // "body", "header:subject", "header:ALL", ...
  Scope scope = Scope::Body;
  std::vector<CompiledRegex> regexes;  // Hyperscan id == index here
  // Hyperscan and Prefilter entries built normally: the scope's shared database, in
  // parts of at most hs_shared_max_patterns (an entry may be null: every pattern
  // of that part moved down the ladder).
  std::vector<HsDatabasePtr> hs;
  std::vector<HsDatabasePtr> slow;     // the `grouped` entries (slow to build), in parts
  std::size_t count(Engine e) const;

  // Appends one ScanHit per rule that matches `text` (count > 1 only for `tflags
  // multiple`, capped by maxhits). Header negation (!~) is not applied here.
  // Thread-safe: Hyperscan scratch space is per thread, everything else read-only.
  // Body and rawbody patterns were compiled multi-line: `^`/`$` anchor at each line.
  // The body scope matches each line (paragraph) on its own, as SpamAssassin does,
  // yet scans the whole text once: a hit of a pattern that cannot match a line
  // break is exact as it is; others are confirmed line by line (PCRE2 or RE2).
  // `nosubject_from`: where the lines a `tflags nosubject` body rule reads begin
  // (after the Subject line, which SpamAssassin puts first); 0 = everywhere.
  void scan(std::string_view text, const std::vector<Rule>& rules, std::vector<ScanHit>& out,
            std::size_t nosubject_from = 0) const;
  // The same as rule indices, each repeated `count` times.
  std::vector<std::size_t> scan(std::string_view text, const std::vector<Rule>& rules) const;

  Pcre2MatchContextPtr match_context;  // shared limits for every PCRE2 match

  // After the entries are final (compile or cache load): which entries have their
  // own database, and which run on every text (RE2, PCRE2 alone).
  void index_engines();

 private:
  std::vector<std::size_t> solos_, always_;
  bool per_line() const { return scope == Scope::Body; }
  // Matches counted line by line from the line holding offset not_before - 1.
  std::size_t count_per_line(const CompiledRegex& cr, std::string_view text, std::size_t limit,
                             std::size_t* first_end, std::size_t not_before = 0) const;
};

// For the body scope's per-paragraph matching (CompiledRegex::crosses, line_only).
bool may_match_newline(std::string_view pattern, bool dotall);
bool has_buffer_anchor(std::string_view pattern);
// An unescaped `$` outside a character class.
bool has_end_anchor(std::string_view pattern);

struct EngineCounts {
  std::size_t by_engine[kEngineCount] = {};
  std::size_t total() const;
};

struct CaptureRule;  // rule_capture.hpp
class RuleSet;
using RuleSetPtr = std::shared_ptr<const RuleSet>;

// Immutable after load; shared by every session through RuleSetPtr.
class RuleSet {
 public:
  // Parses and compiles a rule folder. Errors (parse or Hyperscan database) list
  // everything found; nothing is half-loaded.
  static Result<RuleSetPtr> load_dir(const std::filesystem::path& dir, const ParseOptions& popt = {},
                                     const CompileOptions& copt = {}, CompileReport* report = nullptr);
  // The compiled scopes depend only on the regex rules (scope, pattern, flags,
  // position); a second compile of the same patterns in this process shares the
  // first one's scopes (scores, descriptions and metas may differ), and with
  // copt.cache_dir a restart loads them from disk instead of compiling.
  static Result<RuleSetPtr> compile(ParsedRules parsed, const CompileOptions& copt = {},
                                    CompileReport* report = nullptr);

  const std::vector<Rule>& rules() const { return parsed_.rules; }
  const ParsedRules& parsed() const { return parsed_; }
  const std::vector<std::unique_ptr<CompiledScope>>& scopes() const { return *scopes_; }
  const CompiledScope* scope(std::string_view key) const;
  const Rule* find(std::string_view name) const;
  // The engine a rule went to (Unsupported for metas, exists: and unknown names).
  const CompiledRegex* regex_of(std::string_view name) const;
  // SpamAssassin 4 capture rules (rule_capture.hpp): the rules whose named groups
  // set tags, compiled to read them, and the rules that read tags (%{NAME}), which
  // are in no scope: they are compiled per message. Disabled rules are in neither.
  const std::vector<CaptureRule>& capture_rules() const { return *captures_; }
  const std::vector<std::size_t>& template_rules() const { return templates_; }
  // Both, in the order they run (priority, then file order): `capture` indexes
  // capture_rules(), -1 for a template rule.
  struct CaptureStep {
    std::size_t rule = 0;
    long capture = -1;
  };
  const std::vector<CaptureStep>& capture_steps() const { return steps_; }
  pcre2_real_match_context_8* capture_match_context() const { return capture_mc_.get(); }

  // Counts per scope kind (header scopes summed) and per engine.
  EngineCounts counts(Scope s) const;
  EngineCounts counts() const;
  std::size_t meta_count() const;
  std::size_t exists_count() const;

 private:
  using Scopes = std::vector<std::unique_ptr<CompiledScope>>;
  RuleSet() = default;
  void index_captures(const CompileOptions& copt);
  ParsedRules parsed_;
  std::shared_ptr<const Scopes> scopes_;
  std::shared_ptr<std::vector<CaptureRule>> captures_;
  std::vector<std::size_t> templates_;
  std::vector<CaptureStep> steps_;
  Pcre2MatchContextPtr capture_mc_;

  // rule_cache.cpp: the disk cache. Both return an error text, empty on success.
  static std::string save_cache(const Scopes& scopes, const std::filesystem::path& file, const std::string& key);
  static std::string load_cache(Scopes& scopes, const std::filesystem::path& file, const std::string& key,
                                const std::vector<Rule>& rules, const CompileOptions& copt);
  friend struct RuleSetBuilder;
};

// Rules SpamAssassin would not run: a score of 0 (in every score set) disables a
// rule, unless it is a `__` sub-rule or a meta uses it. Not compiled, never scanned (index -> 1).
std::vector<char> disabled_rules(const std::vector<Rule>& rules);

// `mxgate rules lint DIR`: counts per scope and engine, the warnings per
// directive, and every rule that did not reach Hyperscan with the reason.
std::string lint_report(const RuleSet& rs);

}  // namespace mxgate::rules
