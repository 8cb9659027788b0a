// SpamAssassin's URI detail list (PerMsgStatus.pm get_uri_detail_list) and the
// URIDetail plugin that tests it (`uri_detail NAME key =~ /re/ ...`).
//
// Every URI of the message, as written, with what SpamAssassin knows about it:
//   - types: where it was found: the HTML tag it came from ("a", "img", "form",
//     "base", "meta", ...; HTML.pm html_uri, relative links resolved against the
//     part's <base href> as HTML.pm's target_uri does), or "parsed" for the body
//     text parser, with "schemeless" (no scheme written) and "unlinked" (a bare
//     host name MUAs do not link);
//   - cleaned: the forms uri_list_canonicalize gives (uri_list.hpp), what `uri`
//     rules read;
//   - anchor_text: the text of each <a href="this"> element (keyed by the href as
//     written, not resolved, as HTML.pm does), an image inside reading "<img>\n";
//   - domains and hosts: RegistryBoundaries uri_to_domain of each cleaned form
//     (IP addresses kept, host names only with a known TLD, the domain being the
//     registrable one of util_rb_2tld / util_rb_3tld).
#pragma once
#include <cstddef>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace mxgate {

class EvalContext;
struct UriSettings;
struct WlblSettings;

// HTML.pm's MAX_URI_LENGTH: longer URIs are cut there.
inline constexpr std::size_t kMaxUriLength = 8192;

// One URI of one text/html part (HTML.pm's $self->{uri}->{$uri}).
struct HtmlUri {
  std::set<std::string> types;           // tag names; empty for an href only seen as an anchor
  std::vector<std::string> anchor_text;  // one entry per <a> element with this href
};
using HtmlUris = std::map<std::string, HtmlUri>;

// HTML.pm's target_uri: `uri` resolved against `base` (RFC 3986 section 5.2, with
// its liberties: the same scheme in both is read as relative, and a scheme-less
// "//www.x" or "//ftp.x" gets http: or ftp:).
std::string target_uri(std::string_view base, std::string_view uri);
// A <base href>'s trailing file name dropped ("http://x/a/index.html" ->
// "http://x/a/"), as HTML.pm does before it uses it as a base.
std::string base_without_file(std::string_view uri);
// The URL of <meta http-equiv=refresh content="5; url=...">; nullopt without one.
std::optional<std::string> refresh_url(std::string_view content);

// The URI hash of each text/html part of the message (eval_html.cpp).
std::vector<const HtmlUris*> html_uris(EvalContext& ctx);

struct UriDetail {
  std::set<std::string> types;
  std::vector<std::string> cleaned;
  std::vector<std::string> anchor_text;
  std::set<std::string> domains, hosts;
};
using UriDetailList = std::map<std::string, UriDetail>;  // raw URI -> details

// RegistryBoundaries uri_to_domain: the registrable domain and the host of a
// cleaned URI; nullopt for javascript:/cid:/file:, undecoded %xx, invalid hosts
// and unknown TLDs.
struct UriDomain {
  std::string domain, host;
};
std::optional<UriDomain> uri_to_domain(std::string_view uri, const UriSettings* uri_settings,
                                       const WlblSettings* wlbl);

// The message's list, computed once per message.
const UriDetailList& uri_detail_list(EvalContext& ctx);

}  // namespace mxgate
