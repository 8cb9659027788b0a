// SpamAssassin's URI list (PerMsgStatus.pm get_uri_list, Util.pm
// uri_list_canonicalize): what `uri` rules read, and what the URI host tests
// (check_uri_host_listed) and later the URI blocklists look up.
//
//   1. The body text parser (_process_text_uri_list): SpamAssassin's Thunderbird-style
//      regex over every line of the rendered body, Subject included: URLs with a
//      scheme or a www./ftp. prefix, addresses (as mailto:), and schemeless host
//      names that end in a known TLD ("Benefits.Click", as http://Benefits.Click),
//      with its clean-ups (a ")" without "(", trailing punctuation, cid:/mid:,
//      invalid hosts and domains dropped).
//   2. The links of the HTML parts (MimeView::html_links; with mxgate's own finder
//      instead of this parser, MimeView::urls, the text parts' URLs too). A URI of
//      the text parser is kept only if one of its forms has a valid host name
//      (add_uri_detail_list's valid_domain; uri_detail.hpp uri_to_domain).
//   3. Every URI with the rewritten forms uri_list_canonicalize adds: "\" as "/",
//      http:/ fixed, %xx of printable characters decoded, &#nn; entities decoded, a
//      scheme for a bare host, the port 80/443 and the user info dropped, a host
//      given as a decimal, hex or octal number as a dotted quad, the target of a
//      redirect (redirector_pattern from the rule files, and any http(s):// inside
//      the path), and for mailto: the address without its ?query and &rest.
//
// The TLDs (util_rb_tld) and the redirector patterns come from the rule files, as
// in SpamAssassin; without any util_rb_tld line (the builtin rules alone) the body
// parser keeps mxgate's own (MimeView's) URL finder, which takes no schemeless
// hosts. Not modelled: IDN hosts are not converted to ASCII (SpamAssassin does, with
// libidn, when the module is installed; Debian's spamassassin has none).
#pragma once
#include <cstddef>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "base/config_error.hpp"
#include "rules/rule_parser.hpp"

namespace mxgate {

class EvalRegex;
struct MimeView;

struct UriSettings {
  std::set<std::string, std::less<>> tlds;                       // util_rb_tld, lower case
  std::vector<std::shared_ptr<const EvalRegex>> redirectors;     // redirector_pattern, in order
  std::shared_ptr<const EvalRegex> text_uri_re;                  // the body parser, with the TLDs
  // RegistryBoundaries is_domain_valid: a dot, and a known TLD after the last one.
  bool domain_valid(std::string_view host) const;
};

std::set<std::string, std::less<>> uri_setting_keys();
Result<std::shared_ptr<const UriSettings>> parse_uri_settings(const std::vector<rules::Setting>& settings);

// Util.pm is_fqdn_valid($host, 1): at least two labels of 1-63 [a-z0-9_-] (no "-"
// at either end, no "_" in the last two), at most 253 bytes.
bool fqdn_valid(std::string_view host);

// The URIs of one body line (SpamAssassin's text parser), appended to `out`.
void text_uris(std::string_view line, const UriSettings& s, std::vector<std::string>& out);
// The same with what the parser knew of each: written without a scheme, and a bare
// host name that MUAs do not link (the URI detail list's types).
struct TextUri {
  std::string uri;
  bool schemeless = false, unlinked = false;
};
void text_uri_details(std::string_view line, const UriSettings& s, std::vector<TextUri>& out);

// uri_list_canonicalize for one URI: the URI cleaned, then its rewritten forms (and
// those of the redirect targets it holds), each once, appended to `out`.
void canonicalize_uri(std::string_view uri, const UriSettings* s, std::vector<std::string>& out);

}  // namespace mxgate
