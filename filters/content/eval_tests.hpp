// SpamAssassin's eval: tests, rewritten in C++: the rule files say
// `header DATE_IN_PAST_03_06 eval:check_for_shifted_date('-6', '-3')`, the parser
// (rules/rule_parser.hpp) records the call, and scan_content runs it here, once per
// message, before the metas that read it.
//
// Each function follows the Perl plugin of SpamAssassin 4.0.1 that defines it
// (Plugin/HeaderEval.pm, MIMEEval.pm, BodyEval.pm, the SPF/DKIM/DMARC plugins, ...):
// same arguments, same edge cases, documented where we differ. A function we lack
// is not registered, so its rules are listed by `mxgate rules lint` as unsupported
// and read as 0 by metas, exactly as before this file existed.
//
// One file per SpamAssassin plugin family (eval_header.cpp, eval_mime.cpp,
// eval_body.cpp, eval_auth.cpp), each adding its functions to the table here.
// Everything is pure CPU work on the immutable message: safe on any thread.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <set>
#include <string_view>
#include <typeindex>
#include <typeinfo>
#include <unordered_map>
#include <vector>

#include "base/config_error.hpp"
#include "filters/content/scan_texts.hpp"
#include "filters/envelope.hpp"
#include "filters/message.hpp"
#include "filters/mime/mime.hpp"
#include "rules/rule_parser.hpp"

namespace mxgate {

// Settings of one family, each parsed by that family's file from the rule files.
struct RelaySettings;     // relays.hpp: trusted_networks, internal_networks, ...
struct FreemailSettings;  // eval_freemail.cpp: freemail_domains, ...
struct WlblSettings;      // eval_wlbl.cpp: welcomelist_from, blocklist_from, ...
struct UriSettings;       // uri_list.hpp: util_rb_tld, redirector_pattern
struct UriDnsblSettings;  // network_tests.hpp: urirhssub, uridnsbl_skip_domain, ...

// What the eval tests read besides the message: SpamAssassin's global settings
// that its eval plugins use, from the rule files (local.cf and friends). A family
// whose pointer is null reads its defaults.
struct EvalSettings {
  std::shared_ptr<const RelaySettings> relay;
  std::shared_ptr<const FreemailSettings> freemail;
  std::shared_ptr<const WlblSettings> wlbl;
  std::shared_ptr<const UriSettings> uri;
  std::shared_ptr<const UriDnsblSettings> uridnsbl;
};
// Per family: the setting keys it reads, and their parser (errors: file, line, key).
std::set<std::string, std::less<>> relay_setting_keys();
Result<std::shared_ptr<const RelaySettings>> parse_relay_settings(const std::vector<rules::Setting>& settings);
std::set<std::string, std::less<>> freemail_setting_keys();
Result<std::shared_ptr<const FreemailSettings>> parse_freemail_settings(const std::vector<rules::Setting>& settings);
std::set<std::string, std::less<>> wlbl_setting_keys();
Result<std::shared_ptr<const WlblSettings>> parse_wlbl_settings(const std::vector<rules::Setting>& settings);
class EvalContext;
// SpamAssassin's all_from_addrs() (FreeMail, the welcome lists, DNSEval's
// check_rbl_from_host): the first Resent-From field's addresses if there is one,
// else those of From, Envelope-Sender, Resent-Sender, X-Envelope-From and the
// envelope sender, runs of dots squeezed; lower case, each once, in that order.
const std::vector<std::string>& all_from_addrs(EvalContext& ctx);
// RegistryBoundaries trim_domain: the registrable domain of a host name, with the
// rule files' util_rb_2tld / util_rb_3tld (defaults when null).
std::string registrable_domain(const WlblSettings* s, std::string_view host);

// The network tests' hits for this message (network_tests.hpp): rule -> detail.
// Asked before the scan; `asked` false when network tests are off.
struct NetworkHits {
  bool asked = false;
  std::map<std::string, std::string, std::less<>> hits;
};

// One message, as every eval test sees it; facts computed on first use.
class EvalContext {
 public:
  EvalContext(const MimeView& view, const Message& msg, const Envelope& env, const ScanTexts& texts,
              const EvalSettings& settings);
  const MimeView& view;
  const Message& msg;
  const Envelope& env;
  const ScanTexts& texts;
  const EvalSettings& settings;
  // The rule being run (its tflags, for tests that read them such as MIMEHeader's
  // range=); set by the caller before each test, may be null.
  const rules::Rule* rule = nullptr;
  // The network tests' answers (null: network tests off).
  const NetworkHits* network = nullptr;

  // Facts a family of tests computes once per message and shares between its
  // functions (the raw MIME walk of eval_mime.cpp, the HTML analysis of
  // eval_html.cpp, ...): `const HtmlFacts& f = ctx.fact<HtmlFacts>([&] { return analyse(ctx); });`
  // T is keyed by type, so each family uses a type of its own.
  template <typename T, typename Make>
  const T& fact(Make&& make) {
    auto& slot = facts_[std::type_index(typeid(T))];
    if (!slot) slot = std::make_shared<T>(make());
    return *static_cast<const T*>(slot.get());
  }
  // Every top-level field with this name (case-insensitive), decoded / raw.
  std::vector<std::string_view> decoded(std::string_view name) const;
  std::vector<std::string_view> raw(std::string_view name) const;
  // SpamAssassin's get(): the fields' decoded values joined ("\n" after each), or
  // nullopt when the message has none.
  std::optional<std::string> get(std::string_view name) const;

 private:
  std::unordered_map<std::type_index, std::shared_ptr<void>> facts_;
};

// A hit: the detail shown in `mxgate check` and the log (may be empty); no hit: nullopt.
using EvalResult = std::optional<std::string>;
using EvalArgs = std::span<const std::string>;
using EvalFn = std::function<EvalResult(EvalContext&, EvalArgs)>;

struct EvalFunction {
  EvalFn run;
  // The directives the function may be called from (SpamAssassin registers eval
  // rules per type; a body function called from `header` gets other arguments).
  std::vector<rules::Scope> targets;
  // Checks the arguments at load time: an error text, or empty. Unset: any.
  std::function<std::string(const std::vector<std::string>&)> check_args;
};

using EvalTable = std::map<std::string, EvalFunction, std::less<>>;

// The functions mxgate implements, by name.
const EvalTable& eval_table();
// For rules::ParseOptions::eval_supported.
bool eval_supported(std::string_view function, rules::Scope target);
// The SpamAssassin plugins whose `ifplugin` blocks we read (their eval functions
// are at least partly here; the rest are listed by `rules lint`).
std::vector<std::string> eval_plugins();
// The rule-file settings the eval tests read (rules::ParseOptions::keep_settings).
std::set<std::string, std::less<>> eval_setting_keys();
// Builds the settings from the parsed rule files; errors name file, line, key.
Result<EvalSettings> eval_settings(const std::vector<rules::Setting>& settings);
// Argument errors of every Scope::Eval rule (file, line, rule).
std::vector<ConfigError> check_eval_args(const rules::ParsedRules& parsed);

// The parse options the content filter and `mxgate rules lint` use: every eval
// plugin above, eval_supported, eval_setting_keys.
rules::ParseOptions content_parse_options();

// Registration, one per family file.
void add_header_evals(EvalTable& t);
void add_mime_evals(EvalTable& t);
void add_body_evals(EvalTable& t);
void add_auth_evals(EvalTable& t);
void add_html_evals(EvalTable& t);
void add_relay_evals(EvalTable& t);
void add_freemail_evals(EvalTable& t);
void add_wlbl_evals(EvalTable& t);
void add_mimeheader_evals(EvalTable& t);
void add_imageinfo_evals(EvalTable& t);
void add_uridetail_evals(EvalTable& t);
void add_bayes_evals(EvalTable& t);       // eval_bayes.cpp
void add_network_evals(EvalTable& t);     // network_tests.cpp

// Helpers for the family files.
std::optional<double> eval_number(std::string_view s);

// A regex argument as SpamAssassin's compile_regexp($re, 0) reads it: `/re/i`,
// `m{re}`, or a bare pattern. Bytes by default (as its rules); with `utf`, UTF-8
// characters, as SpamAssassin reads decoded text such as HTML (invalid UTF-8 still
// matches). `.` and `$` know only "\n" as a line end, as in Perl. Compiled once per
// process and shared by every thread (PCRE2 with JIT where available).
class EvalRegex {
 public:
  // nullptr and *err set if the pattern does not compile.
  static std::shared_ptr<const EvalRegex> get(std::string_view arg, std::string* err = nullptr, bool utf = false);
  // A pattern of our own, without delimiters, with PCRE2 compile options (pcre2.h
  // PCRE2_CASELESS...): compiled on every call, not cached, so that patterns built
  // from message text do not fill the cache. nullptr if it does not compile.
  static std::shared_ptr<const EvalRegex> compile(std::string_view pattern, std::uint32_t pcre2_options,
                                                  std::string* err = nullptr);
  // Searches `text` from byte `start`; on a match fills `groups` when given (0 is
  // the whole match, unset groups are empty).
  bool search(std::string_view text, std::vector<std::string_view>* groups = nullptr, std::size_t start = 0) const;
  ~EvalRegex();
  struct Code;

 private:
  std::unique_ptr<Code> code_;
};

}  // namespace mxgate
