// SpamAssassin 4's capture rules (Conf.pm, "CAPTURING TAGS USING REGEX NAMED
// CAPTURE GROUPS"; Plugin/Check.pm): a regex rule with a named group (?<NAME>...)
// sets the message's tag NAME to what the group matched; a rule whose pattern
// reads %{NAME} runs only when every tag it reads is set, with the tag's values
// in place of the template, each quoted as Perl's quotemeta does, as one
// alternation (?:v1|v2).
//
// Capture rules are compiled like any regex rule (the hit itself comes from the
// scope's scan); only when one hits is its PCRE2 form run again on the text it
// hit, to read the groups. Template rules cannot be compiled before the message
// is known: they stay out of the scopes and are compiled per message, with the
// values, by PCRE2 (a few per message in the stock rules).
#pragma once
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rules/rule_compiler.hpp"

namespace mxgate::rules {

// Tag name -> its values, in the order found (empty values dropped, as
// SpamAssassin drops them).
using CaptureTags = std::map<std::string, std::vector<std::string>, std::less<>>;

// A capture rule's pattern, compiled to read its named groups.
struct CaptureRule {
  std::size_t rule = 0;  // index into RuleSet::rules()
  Pcre2CodePtr code;
};

// Reads the named groups of the first `limit` matches in `text` into `tags`, one
// rule's own (SpamAssassin's %-: every name of the pattern, with the non-empty
// values of its groups, at most 1000 per name). Returns how many matches were read.
// set_captures() then puts a rule's tags into the message's, as SpamAssassin's
// set_captures does: each name the rule has replaces the earlier values (the last
// rule wins), duplicates dropped; a name with no value is set but empty, and a
// template reading it does not run.
std::size_t collect_captures(const CaptureRule& cr, pcre2_real_match_context_8* mc, std::string_view text,
                             std::size_t limit, CaptureTags& tags);

// A template rule's pattern with the message's tag values in place: nullopt when
// a tag it reads is not set (SpamAssassin does not run the rule) or the result
// does not compile (`err` says why).
void set_captures(CaptureTags& tags, CaptureTags&& from_rule);
std::optional<std::string> expand_templates(const Rule& r, const CaptureTags& tags);
Pcre2CodePtr compile_for_rule(const std::string& pattern, const Rule& r, std::string& err);

}  // namespace mxgate::rules
