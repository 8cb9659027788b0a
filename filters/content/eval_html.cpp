// SpamAssassin's HTMLEval plugin (Plugin/HTMLEval.pm) and the statistics its
// tests read, which SpamAssassin gathers while rendering each text/html part
// (Mail/SpamAssassin/HTML.pm on top of HTML::Parser).
//
// The analysis is one linear pass per text/html part (HtmlFacts, computed once per
// message): a tokenizer that reproduces HTML::Parser's event stream for the cases
// that matter (start and end tags with attributes, text with character references
// decoded, comments, <!doctype>, literal elements such as <script> and <title>),
// then HTML.pm's bookkeeping: tag counts and balance, the text-style stack that
// decides whether text is invisible or low-contrast, image areas, anchor and
// title text, comments.
//
// HTML::Parser's corner cases were checked event by event against the installed
// module (unterminated markup, "<!-->", unclosed <title>/<script>, bogus end tags,
// references without ';'); HTML.pm's results agree with ours on the public corpus
// and on a few thousand generated fragments.
//
// Where we differ from SpamAssassin (all minor, noted again where they happen):
// - HTML::Parser sometimes splits one run of text into two events (around a
//   decoded character above U+00FF); we never do. Only obfuscation_ratio could
//   see it.
// - SpamAssassin renders parts it *names* .html (effective_type) as HTML too; the
//   MIME view does not keep part file names, so only text/html parts are read.
// - Lengths are counted in characters (bytes for ASCII parts), as SpamAssassin
//   does with normalize_charset on (its default). Its lengths also see the MIME
//   decoding: SpamAssassin keeps the line end before a multipart boundary and
//   strips trailing blanks of quoted-printable lines; the MIME view does neither.
// - Perl walks a tag's attributes in hash order, random from run to run; we read
//   `size` first. Only min_size/max_size can differ (the inherited size of a tag
//   with both size and colour attributes).
// - html_charset_faraway never hits: with ok_locales at its default "all" it
//   returns at once, and HTML.pm 4.0.1 never stores the <meta> charsets among its
//   results, so it cannot hit in SpamAssassin either.
// - backhair_count is not gathered (no stock rule tests it); html_range/html_eval
//   on it never hit. HTML.pm's uri hash (tag types, anchor texts, <base href>) is
//   gathered for the URI detail list (uri_detail.hpp), not for html_* tests. html_eval reads comparisons (`< 384`, `!= 0`) only; other Perl
//   expressions are refused when the rules load.
// - Each message's HTML is read up to kMaxHtmlBytes; SpamAssassin reads it all.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <unordered_map>
#include <unordered_set>

#include "base/text.hpp"
#include "filters/content/eval_tests.hpp"
#include "filters/content/uri_detail.hpp"
#include "filters/mime/mime_text.hpp"

namespace mxgate {
namespace {

// HTML read per message; past it the rest of the HTML is not analysed. Generous:
// the analysis is linear, the bound only keeps a pathological message cheap.
constexpr std::size_t kMaxHtmlBytes = 8 * 1024 * 1024;
// Distinct tag names remembered per part (HTML.pm's `inside` hash); further new
// names are still counted in the tag totals.
constexpr std::size_t kMaxTagNames = 4096;
// Attributes kept per tag (HTML::Parser keeps the first of duplicates).
constexpr std::size_t kMaxAttrs = 64;
// Distinct URIs kept per part, their bytes, and the text kept per anchor: past
// them further links are not listed (mxgate's bounds; SpamAssassin has none).
constexpr std::size_t kMaxPartUris = 10'000;
constexpr std::size_t kMaxPartUriBytes = 4 * 1024 * 1024;
constexpr std::size_t kMaxAnchorText = 64 * 1024;

// ---------------------------------------------------------------------------
// Character references, as HTML::Entities decodes them (its 253 names; the
// Latin-1 ones may omit the ';', and a name may be a prefix: "&ltx" is "<x").

struct Entity {
  std::string_view name;
  char32_t cp;
  bool needs_semicolon;
};

constexpr Entity kEntities[] = {
    {"AElig", 0xC6, false},{"Aacute", 0xC1, false},{"Acirc", 0xC2, false},{"Agrave", 0xC0, false},
    {"Alpha", 0x391, true},{"Aring", 0xC5, false},{"Atilde", 0xC3, false},{"Auml", 0xC4, false},
    {"Beta", 0x392, true},{"Ccedil", 0xC7, false},{"Chi", 0x3A7, true},{"Dagger", 0x2021, true},
    {"Delta", 0x394, true},{"ETH", 0xD0, false},{"Eacute", 0xC9, false},{"Ecirc", 0xCA, false},
    {"Egrave", 0xC8, false},{"Epsilon", 0x395, true},{"Eta", 0x397, true},{"Euml", 0xCB, false},
    {"Gamma", 0x393, true},{"Iacute", 0xCD, false},{"Icirc", 0xCE, false},{"Igrave", 0xCC, false},
    {"Iota", 0x399, true},{"Iuml", 0xCF, false},{"Kappa", 0x39A, true},{"Lambda", 0x39B, true},
    {"Mu", 0x39C, true},{"Ntilde", 0xD1, false},{"Nu", 0x39D, true},{"OElig", 0x152, true},
    {"Oacute", 0xD3, false},{"Ocirc", 0xD4, false},{"Ograve", 0xD2, false},{"Omega", 0x3A9, true},
    {"Omicron", 0x39F, true},{"Oslash", 0xD8, false},{"Otilde", 0xD5, false},{"Ouml", 0xD6, false},
    {"Phi", 0x3A6, true},{"Pi", 0x3A0, true},{"Prime", 0x2033, true},{"Psi", 0x3A8, true},{"Rho", 0x3A1, true},
    {"Scaron", 0x160, true},{"Sigma", 0x3A3, true},{"THORN", 0xDE, false},{"Tau", 0x3A4, true},
    {"Theta", 0x398, true},{"Uacute", 0xDA, false},{"Ucirc", 0xDB, false},{"Ugrave", 0xD9, false},
    {"Upsilon", 0x3A5, true},{"Uuml", 0xDC, false},{"Xi", 0x39E, true},{"Yacute", 0xDD, false},
    {"Yuml", 0x178, true},{"Zeta", 0x396, true},{"aacute", 0xE1, false},{"acirc", 0xE2, false},
    {"acute", 0xB4, false},{"aelig", 0xE6, false},{"agrave", 0xE0, false},{"alefsym", 0x2135, true},
    {"alpha", 0x3B1, true},{"amp", 0x26, false},{"and", 0x2227, true},{"ang", 0x2220, true},{"apos", 0x27, false},
    {"aring", 0xE5, false},{"asymp", 0x2248, true},{"atilde", 0xE3, false},{"auml", 0xE4, false},
    {"bdquo", 0x201E, true},{"beta", 0x3B2, true},{"brvbar", 0xA6, false},{"bull", 0x2022, true},
    {"cap", 0x2229, true},{"ccedil", 0xE7, false},{"cedil", 0xB8, false},{"cent", 0xA2, false},
    {"chi", 0x3C7, true},{"circ", 0x2C6, true},{"clubs", 0x2663, true},{"cong", 0x2245, true},
    {"copy", 0xA9, false},{"crarr", 0x21B5, true},{"cup", 0x222A, true},{"curren", 0xA4, false},
    {"dArr", 0x21D3, true},{"dagger", 0x2020, true},{"darr", 0x2193, true},{"deg", 0xB0, false},
    {"delta", 0x3B4, true},{"diams", 0x2666, true},{"divide", 0xF7, false},{"eacute", 0xE9, false},
    {"ecirc", 0xEA, false},{"egrave", 0xE8, false},{"empty", 0x2205, true},{"emsp", 0x2003, true},
    {"ensp", 0x2002, true},{"epsilon", 0x3B5, true},{"equiv", 0x2261, true},{"eta", 0x3B7, true},
    {"eth", 0xF0, false},{"euml", 0xEB, false},{"euro", 0x20AC, true},{"exist", 0x2203, true},
    {"fnof", 0x192, true},{"forall", 0x2200, true},{"frac12", 0xBD, false},{"frac14", 0xBC, false},
    {"frac34", 0xBE, false},{"frasl", 0x2044, true},{"gamma", 0x3B3, true},{"ge", 0x2265, true},
    {"gt", 0x3E, false},{"hArr", 0x21D4, true},{"harr", 0x2194, true},{"hearts", 0x2665, true},
    {"hellip", 0x2026, true},{"iacute", 0xED, false},{"icirc", 0xEE, false},{"iexcl", 0xA1, false},
    {"igrave", 0xEC, false},{"image", 0x2111, true},{"infin", 0x221E, true},{"int", 0x222B, true},
    {"iota", 0x3B9, true},{"iquest", 0xBF, false},{"isin", 0x2208, true},{"iuml", 0xEF, false},
    {"kappa", 0x3BA, true},{"lArr", 0x21D0, true},{"lambda", 0x3BB, true},{"lang", 0x2329, true},
    {"laquo", 0xAB, false},{"larr", 0x2190, true},{"lceil", 0x2308, true},{"ldquo", 0x201C, true},
    {"le", 0x2264, true},{"lfloor", 0x230A, true},{"lowast", 0x2217, true},{"loz", 0x25CA, true},
    {"lrm", 0x200E, true},{"lsaquo", 0x2039, true},{"lsquo", 0x2018, true},{"lt", 0x3C, false},
    {"macr", 0xAF, false},{"mdash", 0x2014, true},{"micro", 0xB5, false},{"middot", 0xB7, false},
    {"minus", 0x2212, true},{"mu", 0x3BC, true},{"nabla", 0x2207, true},{"nbsp", 0xA0, false},
    {"ndash", 0x2013, true},{"ne", 0x2260, true},{"ni", 0x220B, true},{"not", 0xAC, false},
    {"notin", 0x2209, true},{"nsub", 0x2284, true},{"ntilde", 0xF1, false},{"nu", 0x3BD, true},
    {"oacute", 0xF3, false},{"ocirc", 0xF4, false},{"oelig", 0x153, true},{"ograve", 0xF2, false},
    {"oline", 0x203E, true},{"omega", 0x3C9, true},{"omicron", 0x3BF, true},{"oplus", 0x2295, true},
    {"or", 0x2228, true},{"ordf", 0xAA, false},{"ordm", 0xBA, false},{"oslash", 0xF8, false},
    {"otilde", 0xF5, false},{"otimes", 0x2297, true},{"ouml", 0xF6, false},{"para", 0xB6, false},
    {"part", 0x2202, true},{"permil", 0x2030, true},{"perp", 0x22A5, true},{"phi", 0x3C6, true},
    {"pi", 0x3C0, true},{"piv", 0x3D6, true},{"plusmn", 0xB1, false},{"pound", 0xA3, false},
    {"prime", 0x2032, true},{"prod", 0x220F, true},{"prop", 0x221D, true},{"psi", 0x3C8, true},
    {"quot", 0x22, false},{"rArr", 0x21D2, true},{"radic", 0x221A, true},{"rang", 0x232A, true},
    {"raquo", 0xBB, false},{"rarr", 0x2192, true},{"rceil", 0x2309, true},{"rdquo", 0x201D, true},
    {"real", 0x211C, true},{"reg", 0xAE, false},{"rfloor", 0x230B, true},{"rho", 0x3C1, true},
    {"rlm", 0x200F, true},{"rsaquo", 0x203A, true},{"rsquo", 0x2019, true},{"sbquo", 0x201A, true},
    {"scaron", 0x161, true},{"sdot", 0x22C5, true},{"sect", 0xA7, false},{"shy", 0xAD, false},
    {"sigma", 0x3C3, true},{"sigmaf", 0x3C2, true},{"sim", 0x223C, true},{"spades", 0x2660, true},
    {"sub", 0x2282, true},{"sube", 0x2286, true},{"sum", 0x2211, true},{"sup", 0x2283, true},
    {"sup1", 0xB9, false},{"sup2", 0xB2, false},{"sup3", 0xB3, false},{"supe", 0x2287, true},
    {"szlig", 0xDF, false},{"tau", 0x3C4, true},{"there4", 0x2234, true},{"theta", 0x3B8, true},
    {"thetasym", 0x3D1, true},{"thinsp", 0x2009, true},{"thorn", 0xFE, false},{"tilde", 0x2DC, true},
    {"times", 0xD7, false},{"trade", 0x2122, true},{"uArr", 0x21D1, true},{"uacute", 0xFA, false},
    {"uarr", 0x2191, true},{"ucirc", 0xFB, false},{"ugrave", 0xF9, false},{"uml", 0xA8, false},
    {"upsih", 0x3D2, true},{"upsilon", 0x3C5, true},{"uuml", 0xFC, false},{"weierp", 0x2118, true},
    {"xi", 0x3BE, true},{"yacute", 0xFD, false},{"yen", 0xA5, false},{"yuml", 0xFF, false},{"zeta", 0x3B6, true},
    {"zwj", 0x200D, true},{"zwnj", 0x200C, true},
};

const Entity* find_entity(std::string_view name) {
  auto it = std::lower_bound(std::begin(kEntities), std::end(kEntities), name,
                             [](const Entity& e, std::string_view n) { return e.name < n; });
  return it != std::end(kEntities) && it->name == name ? &*it : nullptr;
}

// HTML entities decode to UTF-8 as the MIME renderer does.
using mime_detail::append_utf8;

bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alnum(char c) { return is_alpha(c) || is_digit(c); }
bool is_word(char c) { return is_alnum(c) || c == '_'; }

// Decodes the references in s (HTML::Parser's dtext and attribute values).
std::string decode_entities(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  std::size_t i = 0;
  while (i < s.size()) {
    std::size_t amp = s.find('&', i);
    if (amp == std::string_view::npos) {
      out.append(s.substr(i));
      break;
    }
    out.append(s.substr(i, amp - i));
    i = amp + 1;
    if (i < s.size() && s[i] == '#') {
      bool hex = i + 1 < s.size() && (s[i + 1] == 'x' || s[i + 1] == 'X');
      std::size_t j = i + (hex ? 2 : 1), start = j;
      double v = 0;
      while (j < s.size() && (hex ? hex_value(s[j]) >= 0 : is_digit(s[j]))) {
        if (v <= 0x10FFFF) v = v * (hex ? 16 : 10) + (hex ? hex_value(s[j]) : s[j] - '0');
        ++j;
      }
      if (j == start || v == 0 || v > 0x10FFFF) {  // not a reference: kept as written
        out += '&';
        continue;
      }
      char32_t cp = static_cast<char32_t>(v);
      if (cp >= 0xD800 && cp <= 0xDFFF) cp = 0xFFFD;
      append_utf8(out, cp);
      i = j < s.size() && s[j] == ';' ? j + 1 : j;
      continue;
    }
    std::size_t j = i;
    while (j < s.size() && is_alnum(s[j])) ++j;
    std::string_view name = s.substr(i, j - i);
    const Entity* e = find_entity(name);
    if (e && (j < s.size() && s[j] == ';')) {
      append_utf8(out, e->cp);
      i = j + 1;
      continue;
    }
    if (e && !e->needs_semicolon) {
      append_utf8(out, e->cp);
      i = j;
      continue;
    }
    // The longest name that may go without ';' and starts the run.
    bool done = false;
    for (std::size_t n = std::min<std::size_t>(name.size(), 8); n >= 2 && !done; --n) {
      const Entity* p = find_entity(name.substr(0, n));
      if (p && !p->needs_semicolon) {
        append_utf8(out, p->cp);
        i += n;
        done = true;
      }
    }
    if (!done) out += '&';
  }
  return out;
}

// ---------------------------------------------------------------------------
// HTML.pm's results for one part.

struct HtmlPart {
  double length = 0;         // characters of the part's HTML source
  double text_len = 0;       // its bytes in the original charset (approximately)
  double html_length = 0;    // characters of the rendered text
  double non_space_len = 0;  // ... not counting white space
  double image_area = 0;     // sum of <img width height> areas (guessed 200 when unusable)
  double max_size = 3, min_size = 3;  // font sizes seen (3 is the default)
  std::size_t tags = 0, elements = 0, tags_seen = 0, elements_seen = 0, closed_extra = 0, obfuscation = 0;
  bool font_low_contrast = false, font_invalid_color = false, font_face_bad = false;
  bool form_action_mailto = false, embeds = false, iframe_src = false;
  std::map<std::string, long, std::less<>> inside;  // tag -> open count (never below 0)
  std::vector<std::string> title, anchor, comment, script;
  HtmlUris uris;  // HTML.pm's uri hash (uri_detail.hpp)

  // A scalar result of HTML.pm by name; nullopt when it is not set for this part.
  std::optional<double> value(std::string_view key) const {
    auto flag = [](bool b) { return b ? std::optional<double>(1) : std::nullopt; };
    if (key == "html") return 1;
    if (key == "length") return length;
    if (key == "html_length") return html_length;
    if (key == "non_space_len") return non_space_len;
    if (key == "image_area") return image_area;
    if (key == "max_size") return max_size;
    if (key == "min_size") return min_size;
    if (key == "ratio") return text_len > 0 ? std::optional<double>((text_len - html_length) / text_len) : std::nullopt;
    if (key == "closed_extra_ratio") return tags ? std::optional<double>(double(closed_extra) / tags) : std::nullopt;
    if (key == "bad_tag_ratio")
      return elements && tags ? std::optional<double>(double(tags - elements) / tags) : std::nullopt;
    if (key == "non_element_ratio")
      return elements_seen && tags_seen ? std::optional<double>(double(tags_seen - elements_seen) / tags_seen)
                                        : std::nullopt;
    if (key == "obfuscation_ratio")
      return tags && obfuscation ? std::optional<double>(double(obfuscation) / tags) : std::nullopt;
    if (key == "font_low_contrast") return flag(font_low_contrast);
    if (key == "font_invalid_color") return flag(font_invalid_color);
    if (key == "font_face_bad") return flag(font_face_bad);
    if (key == "form_action_mailto") return flag(form_action_mailto);
    if (key == "embeds") return flag(embeds);
    return std::nullopt;
  }
  // Perl truth of $html->{key}: scalars above, and the lists and hashes that exist.
  bool truth(std::string_view key) const {
    if (auto v = value(key)) return *v != 0;
    if (key == "title") return !title.empty();
    if (key == "anchor") return !anchor.empty();
    if (key == "comment") return !comment.empty();
    if (key == "script") return !script.empty();
    if (key == "inside") return !inside.empty();
    if (key == "uri") return true;  // always an array reference, possibly empty
    return false;
  }
  const std::vector<std::string>* list(std::string_view key) const {
    if (key == "title") return &title;
    if (key == "anchor") return &anchor;
    if (key == "comment") return &comment;
    if (key == "script") return &script;
    return nullptr;
  }
};

struct HtmlFacts {
  std::vector<HtmlPart> parts;  // one per non-empty text/html part, in order
};

// ---------------------------------------------------------------------------
// Colours (HTML.pm name_to_rgb): "#rrggbb", or "invalid".

const std::unordered_map<std::string_view, unsigned>& color_names() {
  static const std::unordered_map<std::string_view, unsigned> names = {
      {"aliceblue", 0xf0f8ff}, {"antiquewhite", 0xfaebd7}, {"aqua", 0x00ffff}, {"aquamarine", 0x7fffd4},
      {"azure", 0xf0ffff}, {"beige", 0xf5f5dc}, {"bisque", 0xffe4c4}, {"black", 0x000000},
      {"blanchedalmond", 0xffebcd}, {"blue", 0x0000ff}, {"blueviolet", 0x8a2be2}, {"brown", 0xa52a2a},
      {"burlywood", 0xdeb887}, {"cadetblue", 0x5f9ea0}, {"chartreuse", 0x7fff00}, {"chocolate", 0xd2691e},
      {"coral", 0xff7f50}, {"cornflowerblue", 0x6495ed}, {"cornsilk", 0xfff8dc}, {"crimson", 0xdc143c},
      {"cyan", 0x00ffff}, {"darkblue", 0x00008b}, {"darkcyan", 0x008b8b}, {"darkgoldenrod", 0xb8860b},
      {"darkgray", 0xa9a9a9}, {"darkgreen", 0x006400}, {"darkgrey", 0xa9a9a9}, {"darkkhaki", 0xbdb76b},
      {"darkmagenta", 0x8b008b}, {"darkolivegreen", 0x556b2f}, {"darkorange", 0xff8c00}, {"darkorchid", 0x9932cc},
      {"darkred", 0x8b0000}, {"darksalmon", 0xe9967a}, {"darkseagreen", 0x8fbc8f}, {"darkslateblue", 0x483d8b},
      {"darkslategray", 0x2f4f4f}, {"darkslategrey", 0x2f4f4f}, {"darkturquoise", 0x00ced1},
      {"darkviolet", 0x9400d3}, {"deeppink", 0xff1493}, {"deepskyblue", 0x00bfff}, {"dimgray", 0x696969},
      {"dimgrey", 0x696969}, {"dodgerblue", 0x1e90ff}, {"firebrick", 0xb22222}, {"floralwhite", 0xfffaf0},
      {"forestgreen", 0x228b22}, {"fuchsia", 0xff00ff}, {"gainsboro", 0xdcdcdc}, {"ghostwhite", 0xf8f8ff},
      {"gold", 0xffd700}, {"goldenrod", 0xdaa520}, {"gray", 0x808080}, {"green", 0x008000},
      {"greenyellow", 0xadff2f}, {"grey", 0x808080}, {"honeydew", 0xf0fff0}, {"hotpink", 0xff69b4},
      {"indianred", 0xcd5c5c}, {"indigo", 0x4b0082}, {"ivory", 0xfffff0}, {"khaki", 0xf0e68c},
      {"lavender", 0xe6e6fa}, {"lavenderblush", 0xfff0f5}, {"lawngreen", 0x7cfc00}, {"lemonchiffon", 0xfffacd},
      {"lightblue", 0xadd8e6}, {"lightcoral", 0xf08080}, {"lightcyan", 0xe0ffff},
      {"lightgoldenrodyellow", 0xfafad2}, {"lightgray", 0xd3d3d3}, {"lightgreen", 0x90ee90},
      {"lightgrey", 0xd3d3d3}, {"lightpink", 0xffb6c1}, {"lightsalmon", 0xffa07a}, {"lightseagreen", 0x20b2aa},
      {"lightskyblue", 0x87cefa}, {"lightslategray", 0x778899}, {"lightslategrey", 0x778899},
      {"lightsteelblue", 0xb0c4de}, {"lightyellow", 0xffffe0}, {"lime", 0x00ff00}, {"limegreen", 0x32cd32},
      {"linen", 0xfaf0e6}, {"magenta", 0xff00ff}, {"maroon", 0x800000}, {"mediumaquamarine", 0x66cdaa},
      {"mediumblue", 0x0000cd}, {"mediumorchid", 0xba55d3}, {"mediumpurple", 0x9370db},
      {"mediumseagreen", 0x3cb371}, {"mediumslateblue", 0x7b68ee}, {"mediumspringgreen", 0x00fa9a},
      {"mediumturquoise", 0x48d1cc}, {"mediumvioletred", 0xc71585}, {"midnightblue", 0x191970},
      {"mintcream", 0xf5fffa}, {"mistyrose", 0xffe4e1}, {"moccasin", 0xffe4b5}, {"navajowhite", 0xffdead},
      {"navy", 0x000080}, {"oldlace", 0xfdf5e6}, {"olive", 0x808000}, {"olivedrab", 0x6b8e23},
      {"orange", 0xffa500}, {"orangered", 0xff4500}, {"orchid", 0xda70d6}, {"palegoldenrod", 0xeee8aa},
      {"palegreen", 0x98fb98}, {"paleturquoise", 0xafeeee}, {"palevioletred", 0xdb7093}, {"papayawhip", 0xffefd5},
      {"peachpuff", 0xffdab9}, {"peru", 0xcd853f}, {"pink", 0xffc0cb}, {"plum", 0xdda0dd},
      {"powderblue", 0xb0e0e6}, {"purple", 0x800080}, {"red", 0xff0000}, {"rosybrown", 0xbc8f8f},
      {"royalblue", 0x4169e1}, {"saddlebrown", 0x8b4513}, {"salmon", 0xfa8072}, {"sandybrown", 0xf4a460},
      {"seagreen", 0x2e8b57}, {"seashell", 0xfff5ee}, {"sienna", 0xa0522d}, {"silver", 0xc0c0c0},
      {"skyblue", 0x87ceeb}, {"slateblue", 0x6a5acd}, {"slategray", 0x708090}, {"slategrey", 0x708090},
      {"snow", 0xfffafa}, {"springgreen", 0x00ff7f}, {"steelblue", 0x4682b4}, {"tan", 0xd2b48c},
      {"teal", 0x008080}, {"thistle", 0xd8bfd8}, {"tomato", 0xff6347}, {"turquoise", 0x40e0d0},
      {"violet", 0xee82ee}, {"wheat", 0xf5deb3}, {"white", 0xffffff}, {"whitesmoke", 0xf5f5f5},
      {"yellow", 0xffff00}, {"yellowgreen", 0x9acd32}};
  return names;
}

// Perl's sprintf("%lx") with dec2hex's leading zero below 16. Numbers are digit
// runs of any length; Perl reads them as doubles, so do we.
std::string dec2hex(double v) {
  char buf[64];
  if (v >= 1e18) v = 1e18;  // beyond that Perl prints a saturated value; never a colour anyway
  std::snprintf(buf, sizeof buf, v < 16 ? "0%llx" : "%llx", static_cast<unsigned long long>(v));
  return buf;
}

double digits_value(std::string_view d) {
  double v = 0;
  for (char c : d) v = v * 10 + (c - '0');
  return v;
}

// Matches `rgb\((\d+)(%?),\s*(\d+)\2,\s*(\d+)\2\s*\)` anywhere in c (the two
// conversions of name_to_rgb); returns the three numbers.
bool find_rgb(std::string_view c, bool percent, double out[3]) {
  for (std::size_t at = c.find("rgb("); at != std::string_view::npos; at = c.find("rgb(", at + 1)) {
    std::size_t i = at + 4;
    bool ok = true;
    for (int k = 0; k < 3 && ok; ++k) {
      if (k > 0) {
        if (i >= c.size() || c[i] != ',') { ok = false; break; }
        ++i;
        while (i < c.size() && is_space(c[i])) ++i;
      }
      std::size_t s = i;
      while (i < c.size() && is_digit(c[i])) ++i;
      if (i == s) { ok = false; break; }
      out[k] = digits_value(c.substr(s, i - s));
      if (percent) {
        if (i >= c.size() || c[i] != '%') { ok = false; break; }
        ++i;
      }
    }
    if (!ok) continue;
    while (i < c.size() && is_space(c[i])) ++i;
    if (i < c.size() && c[i] == ')') return true;
  }
  return false;
}

std::string name_to_rgb(std::string_view in) {
  std::string color(trim(lower(in)));
  auto named = color_names().find(color);
  if (named != color_names().end()) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "#%06x", named->second);
    return buf;
  }
  bool hexish = std::all_of(color.begin(), color.end(), [](char c) { return c == '#' || hex_value(c) >= 0; }) &&
                std::none_of(color.begin(), color.end(), [](char c) { return c >= 'A' && c <= 'F'; });
  bool rgbish = false;
  for (std::size_t at = color.find("rgb("); at != std::string::npos && !rgbish; at = color.find("rgb(", at + 1)) {
    std::size_t i = at + 4;
    while (i < color.size() && (is_digit(color[i]) || color[i] == '%' || color[i] == ',' || color[i] == ' ')) ++i;
    rgbish = i < color.size() && color[i] == ')';
  }
  if (!hexish && !rgbish) return "invalid";
  double v[3];
  if (find_rgb(color, true, v))
    color = "#" + dec2hex(std::floor(v[0] / 100 * 255)) + dec2hex(std::floor(v[1] / 100 * 255)) +
            dec2hex(std::floor(v[2] / 100 * 255));
  if (find_rgb(color, false, v)) color = "#" + dec2hex(v[0]) + dec2hex(v[1]) + dec2hex(v[2]);
  if (color.empty() || color[0] != '#') return "invalid";
  std::string hex;
  for (char c : color)
    if (hex_value(c) >= 0) hex += ascii_lower(c);
  if (hex.size() > 6) hex.resize(6);
  if (hex.size() > 3 && hex.size() < 6) hex.resize(3);
  if (hex.size() % 3) hex.append(3 - hex.size() % 3, '0');
  if (hex.size() == 3) hex = {hex[0], hex[0], hex[1], hex[1], hex[2], hex[2]};
  return "#" + hex;
}

// HTML.pm parse_css_background: the value's layers (split at top-level commas),
// each a list of space-separated tokens; parentheses and quotes group.
std::vector<std::vector<std::string>> css_background_layers(std::string_view bg) {
  std::vector<std::vector<std::string>> layers;
  std::vector<std::string> tokens;
  std::vector<int> stack;
  int state = 0;
  std::string token;
  for (char ch : bg) {
    if (state == 0) {
      if (ch == ' ') {
        if (!token.empty()) tokens.push_back(std::move(token));
        token.clear();
      } else if (ch == '(' || ch == '"' || ch == '\'') {
        token += ch;
        stack.push_back(state);
        state = ch == '(' ? 1 : ch == '"' ? 2 : 3;
      } else if (ch == ',') {
        if (!token.empty()) tokens.push_back(std::move(token));
        token.clear();
        layers.push_back(std::move(tokens));
        tokens.clear();
      } else {
        token += ch;
      }
    } else if (state == 1) {
      token += ch;
      if (ch == ')') {
        tokens.push_back(std::move(token));
        token.clear();
        state = stack.empty() ? 0 : stack.back();
        if (!stack.empty()) stack.pop_back();
      } else if (ch == '"' || ch == '\'') {
        stack.push_back(state);
        state = ch == '"' ? 2 : 3;
      }
    } else {
      token += ch;
      if ((state == 2 && ch == '"') || (state == 3 && ch == '\'')) {
        state = stack.empty() ? 0 : stack.back();
        if (!stack.empty()) stack.pop_back();
      }
    }
  }
  if (!token.empty()) tokens.push_back(std::move(token));
  if (!tokens.empty()) layers.push_back(std::move(tokens));
  return layers;
}

bool perl_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

// The value captured by `:\s*(.+?)\s*$` (no /s: the value cannot span lines; `$`
// may stand before a final newline). An all-blank value still captures one blank
// when there is one that is not a newline (the leading \s* gives it back).
std::optional<std::string> css_value(std::string_view rest, bool need_nonspace) {
  std::string_view v = rest;
  while (!v.empty() && perl_space(v.front())) v.remove_prefix(1);
  while (!v.empty() && perl_space(v.back())) v.remove_suffix(1);
  if (v.empty()) {
    if (need_nonspace) return std::nullopt;
    for (char c : rest)
      if (perl_space(c) && c != '\n') return std::string(1, c);
    return std::nullopt;
  }
  if (v.find('\n') != std::string_view::npos) return std::nullopt;
  return std::string(v);
}

// ---------------------------------------------------------------------------
// HTML.pm's element tables.

bool in_list(std::string_view tag, std::initializer_list<std::string_view> list) {
  return std::find(list.begin(), list.end(), tag) != list.end();
}

const std::unordered_set<std::string_view>& html4_elements() {
  static const std::unordered_set<std::string_view> set = {
      "a", "abbr", "acronym", "address", "area", "b", "base", "bdo", "big", "blockquote", "body", "br", "button",
      "caption", "cite", "code", "col", "colgroup", "dd", "del", "dfn", "div", "dl", "dt", "em", "fieldset",
      "form", "h1", "h2", "h3", "h4", "h5", "h6", "head", "hr", "html", "i", "img", "input", "ins", "kbd",
      "label", "legend", "li", "link", "map", "meta", "noscript", "object", "ol", "optgroup", "option", "p",
      "param", "pre", "q", "samp", "script", "select", "small", "span", "strong", "style", "sub", "sup", "table",
      "tbody", "td", "textarea", "tfoot", "th", "thead", "title", "tr", "tt", "ul", "var",
      // loose
      "applet", "basefont", "center", "dir", "font", "frame", "frameset", "iframe", "isindex", "menu",
      "noframes", "s", "strike", "u",
      // non-standard
      "nobr", "x-sigsep", "x-tab"};
  return set;
}
// Rendered but not counted as valid.
bool is_trick(std::string_view t) { return in_list(t, {"bgsound", "embed", "listing", "plaintext", "xmp"}); }

// The elements that change text style, as indexes into the style stack's counts.
enum StyleTag : std::uint8_t {
  kDefault, kBody, kFont, kTable, kTr, kTd, kBig, kSmall, kBasefont, kMarquee, kSpan, kP, kDiv, kA, kNotStyle
};
StyleTag style_tag(std::string_view t) {
  static const std::pair<std::string_view, StyleTag> kTags[] = {
      {"body", kBody}, {"font", kFont},         {"table", kTable},     {"tr", kTr},     {"th", kTd},
      {"td", kTd},     {"big", kBig},           {"small", kSmall},     {"basefont", kBasefont},
      {"marquee", kMarquee}, {"span", kSpan},   {"p", kP},             {"div", kDiv},   {"a", kA}};
  for (const auto& [name, id] : kTags)
    if (name == t) return id;
  return kNotStyle;
}
// HTML.pm %ok_attributes: the attributes read for style.
bool ok_attribute(StyleTag tag, std::string_view a) {
  switch (tag) {
    case kBasefont:
    case kFont: return a == "color" || a == "face" || a == "size";
    case kBody: return in_list(a, {"text", "bgcolor", "link", "alink", "vlink", "background"});
    case kMarquee: return a == "bgcolor" || a == "background";
    case kTable:
    case kTd:
    case kTr: return a == "bgcolor" || a == "style";
    case kSpan:
    case kP:
    case kDiv:
    case kA: return a == "style";
    default: return false;
  }
}

// Elements whose content HTML::Parser reads as text, up to their end tag.
bool is_literal(std::string_view t) {
  return in_list(t, {"script", "style", "xmp", "plaintext", "textarea", "title", "iframe"});
}

using Attrs = std::vector<std::pair<std::string, std::string>>;
const std::string* attr(const Attrs& a, std::string_view name) {
  for (const auto& [k, v] : a)
    if (k == name) return &v;
  return nullptr;
}

// Perl's \s for one code point of text read as characters.
bool unicode_space(char32_t c) {
  return c == ' ' || (c >= '\t' && c <= '\r') || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

// Decodes the UTF-8 code point at s[i] (invalid bytes read as themselves).
char32_t code_point_at(std::string_view s, std::size_t i, std::size_t* len) {
  unsigned char c = static_cast<unsigned char>(s[i]);
  std::size_t n = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
  if (i + n > s.size()) n = 1;
  char32_t cp = n == 1 ? c : n == 2 ? (c & 0x1F) : n == 3 ? (c & 0x0F) : (c & 0x07);
  for (std::size_t k = 1; k < n; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  *len = n;
  return cp;
}

bool is_continuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

// ---------------------------------------------------------------------------
// HTML.pm's handlers over one part.

class Analyzer {
 public:
  // bytes: SpamAssassin reads this part as octets (a pure ASCII part, which
  // normalize_charset leaves alone); otherwise as characters.
  // unicode: Perl's Unicode rules for \s apply (text read as characters).
  Analyzer(HtmlPart& out, bool bytes, bool unicode) : r_(out), bytes_(bytes), unicode_(unicode) {
    stack_.push_back({kDefault, "#000000", "#ffffff", 3, {}, {}});
    in_stack_[kDefault] = 1;
  }

  void tag(std::string name, const Attrs& attrs, int num) {
    bool ns = maybe_namespace(name);
    bool element = html4_elements().count(name) > 0;
    auto it = r_.inside.find(name);
    bool seen = it != r_.inside.end();
    if (element || ns) {
      ++r_.elements;
      if (!seen) ++r_.elements_seen;
    }
    ++r_.tags;
    if (!seen) ++r_.tags_seen;
    long count = 0;
    if (seen) {
      count = it->second += num;
      if (count < 0) {
        it->second = count = 0;
        ++r_.closed_extra;
      }
    } else {
      count = std::max(num, 0);
      if (num < 0) ++r_.closed_extra;
      if (r_.inside.size() < kMaxTagNames) r_.inside.emplace(name, count);
    }
    if (name == "script") script_ = count;
    else if (name == "style") style_ = count;
    else if (name == "a") a_ = count;
    else if (name == "title") title_ = count;
    if (ns) return;
    if (!element && !is_trick(name)) return;
    StyleTag st = style_tag(name);
    if (st != kNotStyle) text_style(st, attrs, num);
    whitespace(name);
    if (num == 1) {
      if (elements_uri(name)) html_uri(name, attrs);
      tests(name, attrs);
    }
  }

  void declaration(std::string_view text) {
    if (!istarts_with(text, "<!doctype")) return;
    ++r_.elements;
    ++r_.tags;
    if (r_.inside.size() < kMaxTagNames || r_.inside.count("!doctype")) r_.inside["!doctype"] = 0;
  }

  void comment(std::string_view text) { r_.comment.emplace_back(text); }

  void text(const std::string& t) {
    if (t.empty()) return;
    if (script_ > 0) {
      r_.script.push_back(t);
      return;
    }
    if (style_ > 0) return;
    if (a_ > 0 && !r_.anchor.empty()) r_.anchor.back() += t;
    if (a_ > 0) anchor_text(t);
    if (title_ > 0 && !r_.title.empty()) r_.title.back() += t;
    bool invisible = false;
    if (has_content(t)) invisible = font_invisible();
    if (have_last_ && wordish_first(t) && wordish_last(last_)) ++r_.obfuscation;
    display(t, invisible);
  }

 private:
  struct Style {
    StyleTag tag;
    std::string fg, bg;
    double size;
    std::string display, visibility;  // CSS display / visibility, as written
  };

  static bool maybe_namespace(std::string_view t) {
    // ^(?:o|st\d):[\w-]+/?$ : Office's <o:p>, <st1:place>
    std::size_t i;
    if (t.starts_with("o:")) i = 2;
    else if (t.size() > 3 && t.starts_with("st") && is_digit(t[2]) && t[3] == ':') i = 4;
    else return false;
    if (!t.empty() && t.back() == '/') t.remove_suffix(1);
    if (i >= t.size()) return false;
    for (; i < t.size(); ++i)
      if (!is_word(t[i]) && t[i] != '-') return false;
    return true;
  }

  // ---- text style (HTML.pm text_style, close_tag, close_table_tag)
  void push(Style s) {
    ++in_stack_[s.tag];
    stack_.push_back(std::move(s));
  }
  void pop() {
    --in_stack_[stack_.back().tag];
    stack_.pop_back();
  }
  void close_table(StyleTag t) {
    if (!in_stack_[t]) return;
    while (stack_.size() > 1) {
      StyleTag top = stack_.back().tag;
      if ((t == kTd && (top == kFont || top == kTd)) || (t == kTr && (top == kFont || top == kTd || top == kTr)))
        pop();
      else
        break;
    }
  }
  void close(StyleTag t) {
    if (!in_stack_[t]) return;
    while (stack_.size() > 1) {
      StyleTag top = stack_.back().tag;
      pop();
      if (top == t) break;
    }
  }
  void note_size(double size) {
    if (size > r_.max_size) r_.max_size = size;
    else if (size < r_.min_size) r_.min_size = size;
  }
  // A leading (optionally signed) integer of a size attribute.
  static bool leading_int(std::string_view v, bool want_sign, double& out) {
    std::size_t i = 0;
    while (i < v.size() && perl_space(v[i])) ++i;
    int sign = 1;
    if (want_sign) {
      if (i >= v.size() || (v[i] != '+' && v[i] != '-')) return false;
      sign = v[i] == '-' ? -1 : 1;
      ++i;
    }
    std::size_t s = i;
    while (i < v.size() && is_digit(v[i])) ++i;
    if (i == s) return false;
    out = sign * digits_value(v.substr(s, i - s));
    return true;
  }

  void text_style(StyleTag t, const Attrs& attrs, int num) {
    if (num != 1) {
      if (t != kBody) close(t);
      return;
    }
    if (t == kBasefont) {
      double v;
      if (const std::string* size = attr(attrs, "size"); size && leading_int(*size, false, v)) {
        basefont_ = v;
        return;
      }
    }
    if (t == kTd || t == kTr) close_table(t);
    Style s = stack_.back();
    s.tag = t;
    if (t == kBig || t == kSmall) {
      s.size += t == kBig ? 1 : -1;
      push(std::move(s));
      return;
    }
    // Perl walks the attributes in hash order, which varies from run to run; the
    // order only matters to min_size/max_size (whether the inherited size is noted
    // before the tag's own size attribute). We read size first: only sizes text
    // can actually have are noted.
    std::vector<const std::pair<std::string, std::string>*> order;
    for (const auto& a : attrs)
      if (ok_attribute(t, a.first)) order.push_back(&a);
    std::stable_partition(order.begin(), order.end(), [](const auto* a) { return a->first == "size"; });
    for (const auto* a : order) {
      const std::string& name = a->first;
      const std::string& value = a->second;
      if (name == "text" || name == "color") {
        s.fg = name_to_rgb(value);
      } else if (name == "size") {
        double v;
        if (leading_int(value, true, v)) s.size = basefont_ + v;
        else if (leading_int(value, false, v)) s.size = v;
      } else if (name == "style") {
        apply_css(value, s);
      }
      // bgcolor: HTML.pm converts the attribute but never copies it into the style.
      note_size(s.size);
    }
    push(std::move(s));
  }

  void apply_css(std::string_view css, Style& s) {
    std::size_t start = 0;
    while (start <= css.size()) {
      std::size_t semi = css.find(';', start);
      std::string_view part = css.substr(start, semi == std::string_view::npos ? std::string_view::npos : semi - start);
      start = semi == std::string_view::npos ? css.size() + 1 : semi + 1;
      std::size_t i = 0;
      while (i < part.size() && perl_space(part[i])) ++i;
      std::string_view p = part.substr(i);
      bool bgc = istarts_with(p, "background-color:");
      if (bgc || istarts_with(p, "color:")) {
        auto v = css_value(p.substr(bgc ? 17 : 6), false);
        if (v) {
          std::string value = lower(*v);
          strip_important(value);
          std::string& target = bgc ? s.bg : s.fg;
          if (value.find("rgb") != std::string::npos) {
            target = css_rgb(value);
          } else if (value == "inherit") {
          } else if (value == "transparent") {
            target = value;
          } else {
            target = name_to_rgb(value);
          }
          continue;
        }
      }
      if (p.starts_with("background:")) {
        if (auto v = css_value(p.substr(11), false)) {
          auto layers = css_background_layers(lower(*v));
          if (!layers.empty())
            for (const auto& tok : layers.back()) {
              std::string c = name_to_rgb(tok);
              if (c != "invalid") {
                s.bg = c;
                break;
              }
            }
          continue;
        }
      }
      // name: value (display: none, visibility: hidden, ...)
      std::size_t n = 0;
      while (n < p.size() && (is_alpha(p[n]) || p[n] == '_' || p[n] == '-')) ++n;
      if (n == 0) continue;
      std::size_t c = n;
      while (c < p.size() && perl_space(p[c])) ++c;
      if (c >= p.size() || p[c] != ':') continue;
      auto v = css_value(p.substr(c + 1), true);
      if (!v) continue;
      std::string_view prop = p.substr(0, n);
      if (prop == "display") s.display = *v;
      else if (prop == "visibility") s.visibility = *v;
    }
    if (s.bg == "transparent") s.bg = stack_.back().bg;
    if (s.fg == "transparent") s.fg = s.bg;
  }

  static void strip_important(std::string& v) {
    // s/\s*!\s*important$//
    if (!v.ends_with("important")) return;
    std::size_t i = v.size() - 9;
    while (i > 0 && perl_space(v[i - 1])) --i;
    if (i == 0 || v[i - 1] != '!') return;
    --i;
    while (i > 0 && perl_space(v[i - 1])) --i;
    v.resize(i);
  }

  // rgb()/rgba() in a CSS colour: its digits and commas, the first three numbers
  // (missing or empty ones read as 0, above 255 as 255).
  static std::string css_rgb(std::string_view v) {
    std::vector<std::string> fields(1);
    for (char c : v) {
      if (c == ',') fields.emplace_back();
      else if (is_digit(c)) fields.back() += c;
    }
    std::string out = "#";
    for (std::size_t k = 0; k < 3; ++k) {
      double n = k < fields.size() ? digits_value(fields[k]) : 0;
      if (n > 255) n = 255;
      char buf[8];
      std::snprintf(buf, sizeof buf, "%02x", static_cast<unsigned>(n));
      out += buf;
    }
    return out;
  }

  static std::optional<std::array<int, 3>> rgb_of(std::string_view c) {
    if (c.starts_with('#')) c.remove_prefix(1);
    if (c.size() != 6) return std::nullopt;
    std::array<int, 3> out{};
    for (int k = 0; k < 3; ++k) {
      int hi = hex_value(c[2 * k]), lo = hex_value(c[2 * k + 1]);
      if (hi < 0 || lo < 0 || (c[2 * k] >= 'A' && c[2 * k] <= 'F') || (c[2 * k + 1] >= 'A' && c[2 * k + 1] <= 'F'))
        return std::nullopt;
      out[k] = hi * 16 + lo;
    }
    return out;
  }

  // HTML.pm html_font_invisible: whether text in the current style is hidden;
  // records font_low_contrast and font_invalid_color.
  bool font_invisible() {
    const Style& s = stack_.back();
    auto last6 = [](std::string_view v) { return v.size() > 6 ? v.substr(v.size() - 6) : v; };
    if (last6(s.fg) == last6(s.bg)) {
      r_.font_low_contrast = true;
      return true;
    }
    auto fg = rgb_of(s.fg), bg = rgb_of(s.bg);
    if (fg && bg) {
      double dr = 0.2126 * ((*fg)[0] - (*bg)[0]), dg = 0.7152 * ((*fg)[1] - (*bg)[1]),
             db = 0.0722 * ((*fg)[2] - (*bg)[2]);
      if (std::sqrt(dr * dr + dg * dg + db * db) < 12) {
        r_.font_low_contrast = true;
        return true;
      }
    }
    if (s.fg == "invalid" || s.bg == "invalid") {
      r_.font_invalid_color = true;
      return true;
    }
    if (s.size <= 1) return true;
    if (iequals(s.display, "none")) return true;
    if (iequals(s.visibility, "hidden")) return true;
    return false;
  }

  // ---- URIs (HTML.pm html_uri, push_uri, canon_uri) --------------------------

  static bool elements_uri(std::string_view t) {
    return one_of(t, {"body", "table", "tr", "td", "a", "area", "link", "img", "frame", "iframe", "embed", "script",
                      "form", "base", "bgsound", "meta"});
  }
  static bool one_of(std::string_view t, std::initializer_list<std::string_view> names) {
    return std::find(names.begin(), names.end(), t) != names.end();
  }

  // Leading and trailing white space off ([\s\xA0]: Perl's \s, Unicode's in a
  // part read as characters), at most MAX_URI_LENGTH (8192) characters.
  std::string canon_uri(std::string_view u) const {
    auto space_len_at = [&](std::size_t i) -> std::size_t {  // 0: not white space
      if (is_space(u[i])) return 1;
      if (bytes_) return static_cast<unsigned char>(u[i]) == 0xA0 ? 1 : 0;
      std::size_t len = 0;
      char32_t cp = code_point_at(u, i, &len);
      return cp >= 0x80 && (unicode_space(cp) || cp == 0xA0) ? len : 0;
    };
    for (std::size_t k; !u.empty() && (k = space_len_at(0)) > 0;) u.remove_prefix(k);
    while (!u.empty()) {
      std::size_t start = u.size() - 1;  // the last character's first byte
      while (start > 0 && !bytes_ && is_continuation(u[start])) --start;
      if (space_len_at(start) != u.size() - start) break;
      u.remove_suffix(u.size() - start);
    }
    if (bytes_) return std::string(u.substr(0, kMaxUriLength));
    std::size_t chars = 0, end = 0;
    while (end < u.size() && chars < kMaxUriLength) {
      ++end;
      while (end < u.size() && is_continuation(u[end])) ++end;
      ++chars;
    }
    return std::string(u.substr(0, end));
  }

  // HTML.pm takes U+FEFF (a byte order mark) out of an href, in place: the anchor
  // text is filed under the cleaned href too.
  static std::string without_bom(std::string href) {
    for (std::size_t at; (at = href.find("\xEF\xBB\xBF")) != std::string::npos;) href.erase(at, 3);
    return href;
  }

  void push_uri(const std::string& type, std::string_view raw) {
    std::string uri = canon_uri(raw);
    if (uri.empty()) return;
    if (istarts_with(uri, "data:") || istarts_with(uri, "mailto:") || istarts_with(uri, "file:") ||
        istarts_with(uri, "cid:") || istarts_with(uri, "tel:")) {
      if (room_for(uri)) r_.uris[uri].types.insert(type);
      return;
    }
    std::string target = target_uri(base_href_, uri);
    if (!target.empty() && room_for(target)) r_.uris[target].types.insert(type);
  }

  // `<a x/href=...>` and the like: HTML.pm reads a key matching \w{1,8}/NAME as NAME
  // (when several do, Perl's hash order picks one; we take the last).
  static const std::string* uri_attr(const Attrs& attrs, std::string_view name) {
    const std::string* found = nullptr;
    for (const auto& [k, v] : attrs) {
      std::size_t at = k.find(std::string("/") + std::string(name));
      for (; at != std::string::npos; at = k.find(std::string("/") + std::string(name), at + 1))
        if (at > 0 && is_word(k[at - 1])) found = &v;
    }
    if (found) return found;
    return attr(attrs, name);
  }

  void html_uri(const std::string& t, const Attrs& attrs) {
    if (one_of(t, {"body", "table", "tr", "td"})) {
      if (const std::string* v = attr(attrs, "background")) push_uri(t, *v);
    } else if (one_of(t, {"a", "area", "link"})) {
      if (const std::string* v = uri_attr(attrs, "href")) push_uri(t, without_bom(*v));
      if (const std::string* v = attr(attrs, "data-saferedirecturl")) push_uri(t, *v);
    } else if (one_of(t, {"img", "frame", "iframe", "embed", "script", "bgsound"})) {
      if (const std::string* v = uri_attr(attrs, "src")) push_uri(t, *v);
    } else if (t == "form") {
      if (const std::string* v = attr(attrs, "action")) push_uri(t, *v);
    } else if (t == "base") {
      const std::string* v = attr(attrs, "href");
      if (!v || v->empty() || *v == "0") return;
      std::string uri = canon_uri(*v);
      push_uri(t, uri);  // a base is a URI of its own too
      // Browsers only take an absolute base of a standard scheme; its file name goes.
      if (!istarts_with(uri, "http:") && !istarts_with(uri, "https:") && !istarts_with(uri, "ftp:")) return;
      uri = base_without_file(uri);
      if (!uri.ends_with('/')) uri += '/';
      base_href_ = uri;
    } else if (t == "meta") {
      const std::string* equiv = attr(attrs, "http-equiv");
      const std::string* content = attr(attrs, "content");
      if (!equiv || !content || lower(*equiv).find("refresh") == std::string::npos) return;
      std::optional<std::string> uri = refresh_url(*content);
      if (!uri) return;
      push_uri(t, *uri);
    }
  }

  void anchor_text(std::string_view t) {
    auto it = r_.uris.find(anchor_last_);
    if (it == r_.uris.end() || it->second.anchor_text.empty()) return;
    std::string& text = it->second.anchor_text.back();
    if (text.size() < kMaxAnchorText) text.append(t.substr(0, kMaxAnchorText - text.size()));
  }

  // Bounds on one part's URI hash, which SpamAssassin does not have: a <base href>
  // of 8 KB in front of half a million short links would otherwise hold gigabytes.
  bool room_for(const std::string& uri) {
    if (r_.uris.count(uri)) return true;
    if (r_.uris.size() >= kMaxPartUris || uri_bytes_ + uri.size() > kMaxPartUriBytes) return false;
    uri_bytes_ += uri.size();
    return true;
  }

  // ---- tags with meaning (HTML.pm html_tests, and iframe src for check_iframe_src)
  void tests(const std::string& t, const Attrs& attrs) {
    if (t == "font") {
      if (const std::string* face = attr(attrs, "face"); face && !good_face(*face)) r_.font_face_bad = true;
    }
    if (t == "img") {
      if (a_ > 0 && !r_.anchor.empty()) r_.anchor.back() += "<img>\n";
      if (a_ > 0) anchor_text("<img>\n");
      const std::string* w = attr(attrs, "width");
      const std::string* h = attr(attrs, "height");
      if (w && h) {
        double width = dimension(*w, 8), height = dimension(*h, 6);
        if (width <= 0) width = 200;
        if (height <= 0) height = 200;
        r_.image_area += width * height;
      }
    }
    if (t == "form") {
      if (const std::string* action = attr(attrs, "action"); action && lower(*action).find("mailto:") != std::string::npos)
        r_.form_action_mailto = true;
    }
    if (t == "object" || t == "embed") r_.embeds = true;
    if (t == "a") {
      r_.anchor.emplace_back();
      // html_uri has already read an `x/href` key as href, as HTML.pm's does (it
      // rewrites the attributes), so the anchor text goes to that URI.
      const std::string* href = uri_attr(attrs, "href");
      anchor_last_ = href ? canon_uri(without_bom(*href)) : "";
      if (room_for(anchor_last_)) r_.uris[anchor_last_].anchor_text.emplace_back();
    }
    if (t == "title") r_.title.emplace_back();
    if (t == "iframe") {
      for (const auto& [k, v] : attrs) {
        bool src = k == "src";
        if (!src) {  // HTML.pm also reads src from keys like "x/src" (badly formatted HTML)
          for (std::size_t at = k.find("/src"); at != std::string::npos && !src; at = k.find("/src", at + 1))
            src = at > 0 && is_word(k[at - 1]);
        }
        if (src && !std::string_view(trim(v)).empty()) r_.iframe_src = true;
      }
    }
  }

  // `^(\d+)(%)?$`, percentages of an 800x600 screen; 0 when it does not match.
  static double dimension(std::string_view v, double percent_scale) {
    if (v.ends_with('\n')) v.remove_suffix(1);
    bool pct = v.ends_with('%');
    if (pct) v.remove_suffix(1);
    if (v.empty() || !std::all_of(v.begin(), v.end(), is_digit)) return 0;
    return digits_value(v) * (pct ? percent_scale : 1);
  }

  static bool good_face(std::string_view face);

  // ---- rendering (HTML.pm html_whitespace, display_text)
  void whitespace(std::string_view t) {
    if (t == "br" || t == "div") display_ws("\n");
    else if (in_list(t, {"li", "th", "td", "dt", "dd", "embed", "h1", "h2", "h3", "h4", "h5", "h6"}))
      display_ws(" ");
    else if (in_list(t, {"p", "hr", "blockquote", "pre", "listing", "plaintext", "xmp", "title"}))
      display_ws("\n\n");
  }

  bool ascii_ws(char c) const { return c == ' ' || (c >= '\t' && c <= '\r'); }
  // HTML.pm's `\xc2\xa0` (a UTF-8 no-break space read as bytes) is, on text read
  // as characters, the pair U+00C2 U+00A0 ("Â" then a no-break space): mojibake,
  // which it counts as a blank. Its length in our UTF-8, or 0.
  std::size_t nbsp_at(std::string_view t, std::size_t i) const {
    return !bytes_ && t.substr(i, 4) == "\xc3\x82\xc2\xa0" ? 4 : 0;
  }
  bool has_content(std::string_view t) const {
    for (std::size_t i = 0; i < t.size(); ++i) {
      if (ascii_ws(t[i])) continue;
      if (std::size_t k = nbsp_at(t, i)) {
        i += k - 1;
        continue;
      }
      return true;
    }
    return false;
  }
  // [^\s\x21-\x2f\x3a-\x40\x5b-\x60\x7b-\x7e]: not blank, not ASCII punctuation.
  bool wordish(char32_t c) const {
    if (c < 0x80) return !ascii_ws(static_cast<char>(c)) && !(c >= 0x21 && c <= 0x2f) && !(c >= 0x3a && c <= 0x40) &&
                         !(c >= 0x5b && c <= 0x60) && !(c >= 0x7b && c <= 0x7e);
    return !(unicode_ && unicode_space(c));
  }
  bool wordish_first(std::string_view t) const {
    if (t.empty()) return false;
    std::size_t n;
    return wordish(bytes_ ? static_cast<unsigned char>(t[0]) : code_point_at(t, 0, &n));
  }
  bool wordish_last(std::string_view t) const {
    if (t.empty()) return false;
    if (bytes_) return wordish(static_cast<unsigned char>(t.back()));
    std::size_t i = t.size() - 1;
    while (i > 0 && is_continuation(t[i]) && t.size() - i < 4) --i;
    std::size_t n;
    return wordish(code_point_at(t, i, &n));
  }
  // Rendered text is measured in characters, even for an ASCII part (its decoded
  // references are characters by then). Blanks: Perl's Unicode \s when the text
  // is read as characters; for an ASCII part only [ \t\n\r\v], unless a
  // reference above U+00FF made Perl upgrade the rendered string (see finish()).
  static double units(std::string_view t) {
    return static_cast<double>(std::count_if(t.begin(), t.end(), [](char c) { return !is_continuation(c); }));
  }
  void count_non_space(std::string_view t) {
    for (std::size_t i = 0; i < t.size();) {
      std::size_t len = 1;
      char32_t cp = code_point_at(t, i, &len);
      if (!unicode_space(cp)) ++non_space_unicode_;
      if (!(cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r' || cp == 0x0b)) ++non_space_octets_;
      if (cp > 0xFF) wide_ = true;
      i += len;
    }
  }

 public:
  // End of the part: the results that need the whole rendered text.
  void finish() { r_.non_space_len = unicode_ || wide_ ? non_space_unicode_ : non_space_octets_; }

 private:
  void display_ws(std::string_view ws) {
    if (have_last_ && !last_ws_ && !last_invisible_ && last_.ends_with(' ')) {
      last_.pop_back();
      r_.html_length -= 1;
    }
    last_.assign(ws);
    have_last_ = true;
    last_ws_ = true;
    last_invisible_ = false;
    r_.html_length += units(ws);
  }

  void display(std::string_view t, bool invisible) {
    std::string out;
    out.reserve(t.size());
    for (std::size_t i = 0; i < t.size(); ++i) {
      if (ascii_ws(t[i])) {
        while (i + 1 < t.size() && ascii_ws(t[i + 1])) ++i;
        out += ' ';
      } else if (std::size_t k = nbsp_at(t, i)) {
        i += k - 1;
        out += ' ';
      } else {
        out += t[i];
      }
    }
    if (have_last_ && !invisible && last_ws_ && out.starts_with(' ')) out.erase(0, 1);
    r_.html_length += units(out);
    count_non_space(out);
    last_ = std::move(out);
    have_last_ = true;
    last_ws_ = false;
    last_invisible_ = invisible;
  }

  HtmlPart& r_;
  bool bytes_, unicode_;
  std::vector<Style> stack_;
  std::array<std::size_t, kNotStyle> in_stack_{};
  double basefont_ = 3;
  std::string base_href_;    // HTML.pm base_href: the part's <base href>, for relative URIs
  std::string anchor_last_;  // the href of the last <a>, whose anchor text is being read
  std::size_t uri_bytes_ = 0;  // bytes of the keys of r_.uris (room_for)
  long script_ = 0, style_ = 0, a_ = 0, title_ = 0;  // inside{...} of the tags text handling reads
  double non_space_unicode_ = 0, non_space_octets_ = 0;
  bool wide_ = false;  // rendered text has a character above U+00FF
  std::string last_;  // the last rendered text element
  bool have_last_ = false, last_ws_ = false, last_invisible_ = false;
};

// ---------------------------------------------------------------------------
// Regexes (eval_tests.hpp EvalRegex) read the text as characters (UTF-8), as
// SpamAssassin reads decoded HTML; invalid UTF-8 still matches.

std::shared_ptr<const EvalRegex> compile_pattern(std::string_view arg, std::string* err) {
  return EvalRegex::get(arg, err, /*utf=*/true);
}

// HTML.pm's test of <font face>: a list of plain font names.
bool Analyzer::good_face(std::string_view face) {
  static const std::shared_ptr<const EvalRegex> re = compile_pattern(
      R"(/^\s*["'.]?[a-z ][a-z -]*[a-z]\d?["']?(?:,\s*["']?[a-z][a-z -]*[a-z]\d?["']?)*;?$/i)", nullptr);
  return !re || re->search(face);
}

// ---------------------------------------------------------------------------
// The tokenizer: HTML::Parser's events for one document, in one linear pass.

class Tokenizer {
 public:
  Tokenizer(std::string_view s, Analyzer& a) : s_(s), a_(a) {}

  void run() {
    const std::size_t n = s_.size();
    std::size_t text_start = 0, pos = 0;
    while (pos < n) {
      std::size_t lt = s_.find('<', pos);
      if (lt == std::string_view::npos) break;
      std::size_t end = markup(lt, text_start);
      if (end == kNotMarkup) {
        // A '<' that starts nothing is text, but HTML::Parser reports the text
        // before it as a separate event.
        if (lt > text_start) emit_text(text_start, lt);
        text_start = lt;
        pos = lt + 1;
        continue;
      }
      if (end == kUnterminated) {  // the rest became a comment
        text_start = n;
        break;
      }
      pos = text_start = end;
    }
    if (n > text_start) emit_text(text_start, n);
    close_open_title();
  }

 private:
  static constexpr std::size_t kNotMarkup = std::string_view::npos;
  static constexpr std::size_t kUnterminated = std::string_view::npos - 1;

  void emit_text(std::size_t from, std::size_t to) {
    std::string_view t = s_.substr(from, to - from);
    a_.text(raw_text_ ? std::string(t) : decode_entities(t));
  }

  // Markup that never ends: HTML::Parser reports the rest of the document as a
  // comment at end of input.
  std::size_t unterminated(std::size_t lt, std::size_t text_start) {
    if (lt > text_start) emit_text(text_start, lt);
    a_.comment(s_.substr(lt));
    return kUnterminated;
  }

  // Handles markup at s_[lt] == '<'; returns the offset after it, kNotMarkup, or
  // kUnterminated. Text before lt (from text_start) is emitted first.
  std::size_t markup(std::size_t lt, std::size_t text_start) {
    const std::size_t n = s_.size();
    char c = lt + 1 < n ? s_[lt + 1] : '\0';
    auto flush = [&] {
      if (lt > text_start) emit_text(text_start, lt);
    };
    if (is_alpha(c) || c == ':' || c == '_') return start_tag(lt, text_start);
    if (c == '/') {
      if (lt + 2 < n && !is_space(s_[lt + 2]) && s_[lt + 2] != '>') return end_tag(lt, text_start);
      if (lt + 2 >= n) return unterminated(lt, text_start);
      std::size_t gt = s_.find('>', lt + 2);
      if (gt == std::string_view::npos) return unterminated(lt, text_start);
      flush();
      a_.comment(s_.substr(lt, gt + 1 - lt));
      return gt + 1;
    }
    if (c == '!') {
      std::string_view rest = s_.substr(lt);
      if (rest.starts_with("<!--")) {
        // Up to the first "-->" after "<!--"; without one, HTML::Parser settles
        // at end of input for the first '>' ("<!-->") and reads on from there.
        // Once "-->" is missing from some point on, it is missing from every later
        // one: remembered, so many unclosed "<!--" do not each scan to the end.
        std::size_t e = no_comment_end_ ? std::string_view::npos : s_.find("-->", lt + 4);
        if (e == std::string_view::npos) no_comment_end_ = true;
        std::size_t after = e == std::string_view::npos ? std::string_view::npos : e + 3;
        if (after == std::string_view::npos) {
          std::size_t gt = s_.find('>', lt + 4);
          if (gt == std::string_view::npos) return unterminated(lt, text_start);
          after = gt + 1;
          at_eof_ = true;
        }
        flush();
        a_.comment(s_.substr(lt, after - lt));
        return after;
      }
      if (rest.starts_with("<![CDATA[")) {  // marked section: its content is text
        std::size_t e = s_.find("]]>", lt + 9);
        if (e == std::string_view::npos) return unterminated(lt, text_start);
        flush();
        if (e > lt + 9) a_.text(std::string(s_.substr(lt + 9, e - lt - 9)));
        return e + 3;
      }
      std::size_t gt = s_.find('>', lt + 2);
      if (gt == std::string_view::npos) return unterminated(lt, text_start);
      flush();
      std::string_view decl = s_.substr(lt, gt + 1 - lt);
      if (istarts_with(decl, "<!doctype")) a_.declaration(decl);
      else a_.comment(decl);
      return gt + 1;
    }
    if (c == '?') {  // processing instruction: no handler in HTML.pm
      std::size_t gt = s_.find('>', lt + 2);
      if (gt == std::string_view::npos) return unterminated(lt, text_start);
      flush();
      return gt + 1;
    }
    if (lt + 1 >= n) return unterminated(lt, text_start);
    return kNotMarkup;
  }

  void skip_space(std::size_t& j) const {
    while (j < s_.size() && is_space(s_[j])) ++j;
  }

  std::size_t start_tag(std::size_t lt, std::size_t text_start) {
    const std::size_t n = s_.size();
    std::size_t j = lt + 1;
    while (j < n && !is_space(s_[j]) && s_[j] != '>') ++j;
    std::string name = lower(s_.substr(lt + 1, j - lt - 1));
    Attrs attrs;
    for (;;) {
      skip_space(j);
      if (j >= n) return unterminated(lt, text_start);
      if (s_[j] == '>') break;
      std::size_t k = j++;  // the first character may be anything, even '='
      while (j < n && !is_space(s_[j]) && s_[j] != '=' && s_[j] != '>') ++j;
      std::string key = lower(s_.substr(k, j - k));
      std::size_t after_name = j;
      skip_space(j);
      std::string value;
      if (j < n && s_[j] == '=') {
        ++j;
        skip_space(j);
        if (j >= n) return unterminated(lt, text_start);
        if (s_[j] == '"' || s_[j] == '\'') {
          std::size_t q = s_.find(s_[j], j + 1);
          if (q == std::string_view::npos) return unterminated(lt, text_start);
          value = decode_entities(s_.substr(j + 1, q - j - 1));
          j = q + 1;
        } else if (s_[j] != '>') {
          std::size_t v = j;
          while (j < n && !is_space(s_[j]) && s_[j] != '>') ++j;
          value = decode_entities(s_.substr(v, j - v));
        }
      } else {
        value = key;  // a bare attribute's value is its name
        j = after_name;
      }
      if (attrs.size() < kMaxAttrs && !attr(attrs, key)) attrs.emplace_back(std::move(key), std::move(value));
    }
    if (lt > text_start) emit_text(text_start, lt);
    close_open_title();
    std::size_t end = j + 1;
    a_.tag(name, attrs, 1);
    if (!is_literal(name)) return end;
    raw_text_ = false;
    // The element's content is text up to its end tag.
    std::size_t close = find_close(name, end);
    bool rcdata = name == "title" || name == "textarea";
    std::size_t stop = close;
    if (close == std::string_view::npos) {
      // Never closed. HTML.pm ends <style> and <script> at the end of the part
      // (it feeds the end tag before HTML::Parser's eof); at eof, HTML::Parser ends
      // them at once and reads their content as HTML, and ends <title> at the
      // next tag; the others stay open with the rest of the part as text.
      stop = n;
      if (name == "title") {
        // Its text and comments run on to the next tag, which closes it first.
        at_eof_ = true;
        title_open_ = true;
        return end;
      } else if (at_eof_ && (name == "script" || name == "style")) {
        // HTML::Parser then reports text as written (references not decoded)
        // until the next literal element.
        a_.tag(name, {}, -1);
        raw_text_ = true;
        return end;
      }
    }
    if (stop > end) {
      std::string_view body = s_.substr(end, stop - end);
      a_.text(rcdata ? decode_entities(body) : std::string(body));
    }
    if (close != std::string_view::npos) return close;  // the end tag is read next
    if (name == "script" || name == "style") a_.tag(name, {}, -1);
    return stop;
  }

  void close_open_title() {
    if (!title_open_) return;
    title_open_ = false;
    a_.tag("title", {}, -1);
  }

  // `</name` followed by a blank, '>' or the end, case-insensitively, from `from`.
  // A name found missing stays missing for later positions (kept linear when the
  // same element is left open many times).
  std::size_t find_close(const std::string& name, std::size_t from) {
    if (std::find(no_close_.begin(), no_close_.end(), name) != no_close_.end()) return std::string_view::npos;
    for (std::size_t at = s_.find("</", from); at != std::string_view::npos; at = s_.find("</", at + 2)) {
      std::size_t e = at + 2 + name.size();
      if (e > s_.size() || !iequals(s_.substr(at + 2, name.size()), name)) continue;
      if (e == s_.size() || is_space(s_[e]) || s_[e] == '>') return at;
    }
    no_close_.push_back(name);
    return std::string_view::npos;
  }

  std::size_t end_tag(std::size_t lt, std::size_t text_start) {
    const std::size_t n = s_.size();
    std::size_t j = lt + 2;
    while (j < n && !is_space(s_[j]) && s_[j] != '>') ++j;
    std::string name = lower(s_.substr(lt + 2, j - lt - 2));
    std::size_t gt = s_.find('>', j);
    if (gt == std::string_view::npos) return unterminated(lt, text_start);
    if (lt > text_start) emit_text(text_start, lt);
    close_open_title();
    a_.tag(name, {}, -1);
    return gt + 1;
  }

  std::string_view s_;
  Analyzer& a_;
  // HTML::Parser waits at a construct it cannot end yet (a <title> or "<!--" that
  // is never closed) and reads the rest only at end of input, after HTML.pm has
  // closed <script> and <style>; from that point on it reads as it does at eof.
  bool at_eof_ = false;
  bool raw_text_ = false;
  bool title_open_ = false;  // an unclosed <title>, ended by the next tag
  bool no_comment_end_ = false;        // no "-->" after the current position
  std::vector<std::string> no_close_;  // literal elements with no end tag ahead
};

// HTML.pm parse(): its rewrites before HTML::Parser sees the text: &nbsp; becomes a
// space, "<br/>" becomes "<br>", and curly double quotes become '"'.
std::string prepare(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '&' && in.substr(i).starts_with("&nbsp;")) {
      out += ' ';
      i += 5;
    } else if (c == '<' && i + 1 < in.size() && is_word(in[i + 1])) {
      // <(\w+)\s*/>
      std::size_t j = i + 1;
      while (j < in.size() && is_word(in[j])) ++j;
      std::size_t k = j;
      while (k < in.size() && is_space(in[k])) ++k;
      if (k + 1 < in.size() && in[k] == '/' && in[k + 1] == '>') {
        out.append(in.substr(i, j - i));
        out += '>';
        i = k + 1;
      } else {
        out.append(in.substr(i, j - i));
        i = j - 1;
      }
    } else if (c == '\xe2' && i + 2 < in.size() && in[i + 1] == '\x80' && (in[i + 2] == '\x9c' || in[i + 2] == '\x9d')) {
      out += '"';
      i += 2;
    } else {
      out += c;
    }
  }
  return out;
}

bool ascii_only(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

HtmlPart analyse_part(std::string_view html, std::string_view charset) {
  HtmlPart r;
  const bool ascii = ascii_only(html);
  // With normalize_charset (on by default) SpamAssassin decodes every non-ASCII
  // part to characters, as the MIME view has decoded it to UTF-8; an ASCII part
  // stays octets.
  std::string cs = lower(trim(charset));
  const bool unicode = !ascii;
  auto chars = static_cast<double>(
      std::count_if(html.begin(), html.end(), [](char c) { return !is_continuation(c); }));
  r.length = ascii ? static_cast<double>(html.size()) : chars;
  // text_len is the part's size in its own charset: UTF-8 bytes, or one byte a
  // character for the single-byte charsets (multi-byte legacy charsets: approximate).
  r.text_len = ascii || cs.empty() || cs == "utf-8" || cs == "us-ascii" ? static_cast<double>(html.size()) : chars;
  Analyzer a(r, ascii, unicode);
  std::string text = prepare(html);
  Tokenizer(text, a).run();
  a.finish();
  return r;
}

HtmlFacts analyse(const EvalContext& ctx) {
  HtmlFacts f;
  std::size_t budget = kMaxHtmlBytes;
  for (const auto& p : ctx.view.text_parts) {
    if (!p.html || p.decoded.empty() || budget == 0) continue;
    std::string_view html = p.decoded;
    if (html.size() > budget) html = html.substr(0, budget);
    budget -= html.size();
    f.parts.push_back(analyse_part(html, p.charset));
  }
  return f;
}

const HtmlFacts& facts(EvalContext& ctx) {
  return ctx.fact<HtmlFacts>([&] { return analyse(ctx); });
}

// ---------------------------------------------------------------------------
// The eval functions (Plugin/HTMLEval.pm). Each looks at every text/html part and
// hits when one part passes.

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

// `< 384`, `!= 0`: HTMLEval evaluates "$value $expr" in Perl for any text of
// [<>=!+- 0-9]; we read the comparisons (all the stock rules use) and refuse the rest.
struct Comparison {
  std::string op;
  double rhs = 0;
  bool test(double v) const {
    if (op == "<") return v < rhs;
    if (op == "<=") return v <= rhs;
    if (op == ">") return v > rhs;
    if (op == ">=") return v >= rhs;
    if (op == "==") return v == rhs;
    return v != rhs;
  }
};
std::optional<Comparison> parse_comparison(std::string_view expr) {
  std::string_view e = trim(expr);
  Comparison c;
  for (std::string_view op : {"<=", ">=", "==", "!=", "<", ">"}) {
    if (e.starts_with(op)) {
      c.op = std::string(op);
      e.remove_prefix(op.size());
      break;
    }
  }
  if (c.op.empty()) return std::nullopt;
  std::string rhs;
  for (char ch : e)
    if (ch != ' ') rhs += ch;
  if (rhs.empty() || rhs.find_first_not_of("+-0123456789") != std::string::npos) return std::nullopt;
  auto v = eval_number(rhs);
  if (!v) return std::nullopt;
  c.rhs = *v;
  return c;
}

bool plain_tag(std::string_view t) { return !t.empty() && std::all_of(t.begin(), t.end(), is_alnum); }

std::string need_args(const std::vector<std::string>& a, std::size_t lo, std::size_t hi) {
  if (a.size() < lo || a.size() > hi)
    return "expects " + (lo == hi ? std::to_string(lo) : std::to_string(lo) + " to " + std::to_string(hi)) +
           " argument(s)";
  return "";
}

std::string check_numbers(const std::vector<std::string>& a, std::size_t from) {
  for (std::size_t i = from; i < a.size(); ++i)
    if (!eval_number(a[i]) && !(i > from && a[i] == "inf")) return "'" + a[i] + "' is not a number";
  return "";
}

EvalResult html_range(EvalContext& ctx, EvalArgs args) {
  if (args.size() < 2) return std::nullopt;
  double min = eval_number(args[1]).value_or(0);
  bool open = args.size() < 3 || args[2] == "inf";
  double max = open ? 0 : eval_number(args[2]).value_or(0);
  for (const auto& p : facts(ctx).parts) {
    auto v = p.value(args[0]);
    if (!v) continue;
    if (open ? *v > min : (*v > min && *v <= max)) return args[0] + "=" + num(*v);
  }
  return std::nullopt;
}

EvalResult text_match(EvalContext& ctx, EvalArgs args, bool negate) {
  if (args.size() != 2) return std::nullopt;
  auto re = compile_pattern(args[1], nullptr);
  if (!re) return std::nullopt;
  for (const auto& p : facts(ctx).parts) {
    const auto* list = p.list(args[0]);
    if (!list) continue;
    for (const auto& s : *list) {
      if (re->search(s) != negate) {
        std::string shown = s.substr(0, 60);
        for (char& c : shown)
          if (c == '\n' || c == '\r') c = ' ';
        return args[0] + ": " + shown;
      }
    }
  }
  return std::nullopt;
}

}  // namespace

std::vector<const HtmlUris*> html_uris(EvalContext& ctx) {
  std::vector<const HtmlUris*> out;
  for (const auto& p : facts(ctx).parts) out.push_back(&p.uris);
  return out;
}

// The HTML statistics of a message, one line per text/html part, in the key order
// of SpamAssassin's own dump script; for tests and for comparing with SpamAssassin.
std::string describe_html_facts(EvalContext& ctx) {
  std::string out;
  std::size_t i = 0;
  for (const auto& p : facts(ctx).parts) {
    out += "#" + std::to_string(i++);
    for (const char* k : {"html", "length", "image_area", "non_space_len", "max_size", "min_size",
                          "closed_extra_ratio", "bad_tag_ratio", "non_element_ratio", "obfuscation_ratio",
                          "font_low_contrast", "font_invalid_color", "font_face_bad", "form_action_mailto",
                          "embeds"}) {
      auto v = p.value(k);
      if (!v) continue;
      char buf[64];
      if (*v == std::floor(*v)) std::snprintf(buf, sizeof buf, "%.0f", *v);
      else std::snprintf(buf, sizeof buf, "%.4f", *v);
      out += std::string(" ") + k + "=" + buf;
    }
    out += " inside=";
    bool first = true;
    for (const auto& [tag, n] : p.inside) {
      if (!first) out += ',';
      first = false;
      out += tag + ":" + std::to_string(n);
    }
    for (const auto& [name, list] : {std::pair<const char*, const std::vector<std::string>*>{"title", &p.title},
                                     {"anchor", &p.anchor}, {"comment", &p.comment}}) {
      out += std::string(" ") + name + "=[" + std::to_string(list->size()) + "]";
      for (std::size_t k = 0; k < list->size(); ++k) {
        if (k) out += '|';
        for (char c : (*list)[k]) {
          if (c == '\r' || c == '\n') out += "\\n";
          else if (c == '|') out += "%7c";
          else out += c;
        }
      }
    }
    out += '\n';
  }
  return out;
}

void add_html_evals(EvalTable& t) {
  const std::vector<rules::Scope> body = {rules::Scope::Body};

  // html_test(key): an HTML.pm flag (html, font_low_contrast, embeds, ...) is set.
  t["html_test"] = {[](EvalContext& ctx, EvalArgs args) -> EvalResult {
                      if (args.size() != 1) return std::nullopt;
                      for (const auto& p : facts(ctx).parts)
                        if (p.truth(args[0])) return args[0];
                      return std::nullopt;
                    },
                    body, [](const std::vector<std::string>& a) { return need_args(a, 1, 1); }};

  // html_range(key, min[, max]): min < value <= max; no max or "inf": min < value.
  t["html_range"] = {html_range, body, [](const std::vector<std::string>& a) {
                       std::string e = need_args(a, 2, 3);
                       return e.empty() ? check_numbers(a, 1) : e;
                     }};

  // html_eval(key, expr): "value expr" holds, e.g. html_eval('length', '< 384').
  t["html_eval"] = {[](EvalContext& ctx, EvalArgs args) -> EvalResult {
                      if (args.size() != 2) return std::nullopt;
                      auto cmp = parse_comparison(args[1]);
                      if (!cmp) return std::nullopt;
                      for (const auto& p : facts(ctx).parts)
                        if (auto v = p.value(args[0]); v && cmp->test(*v)) return args[0] + "=" + num(*v);
                      return std::nullopt;
                    },
                    body, [](const std::vector<std::string>& a) {
                      std::string e = need_args(a, 2, 2);
                      if (e.empty() && !parse_comparison(a[1])) e = "unsupported expression '" + a[1] + "'";
                      return e;
                    }};

  // html_tag_exists(tag): the tag appeared, opened or closed.
  t["html_tag_exists"] = {[](EvalContext& ctx, EvalArgs args) -> EvalResult {
                            if (args.size() != 1) return std::nullopt;
                            for (const auto& p : facts(ctx).parts)
                              if (p.inside.count(args[0])) return "<" + args[0] + ">";
                            return std::nullopt;
                          },
                          body, [](const std::vector<std::string>& a) { return need_args(a, 1, 1); }};

  // html_tag_balance(tag, expr): opened minus closed (never below 0) satisfies expr.
  t["html_tag_balance"] = {
      [](EvalContext& ctx, EvalArgs args) -> EvalResult {
        if (args.size() != 2 || !plain_tag(args[0])) return std::nullopt;
        auto cmp = parse_comparison(args[1]);
        if (!cmp) return std::nullopt;
        for (const auto& p : facts(ctx).parts) {
          auto it = p.inside.find(args[0]);
          if (it != p.inside.end() && cmp->test(static_cast<double>(it->second)))
            return "<" + args[0] + "> open " + std::to_string(it->second);
        }
        return std::nullopt;
      },
      body, [](const std::vector<std::string>& a) {
        std::string e = need_args(a, 2, 2);
        if (e.empty() && !plain_tag(a[0])) e = "tag '" + a[0] + "' is not alphanumeric";
        if (e.empty() && !parse_comparison(a[1])) e = "unsupported expression '" + a[1] + "'";
        return e;
      }};

  // html_image_only(min, max): an <img> and min < HTML length <= max.
  t["html_image_only"] = {[](EvalContext& ctx, EvalArgs args) -> EvalResult {
                            if (args.size() != 2) return std::nullopt;
                            double min = eval_number(args[0]).value_or(0), max = eval_number(args[1]).value_or(0);
                            for (const auto& p : facts(ctx).parts)
                              if (p.inside.count("img") && p.length > min && p.length <= max)
                                return "images, " + num(p.length) + " characters of HTML";
                            return std::nullopt;
                          },
                          body, [](const std::vector<std::string>& a) {
                            std::string e = need_args(a, 2, 2);
                            return e.empty() ? check_numbers(a, 0) : e;
                          }};

  // html_image_ratio(min, max): min < visible characters / image area <= max.
  t["html_image_ratio"] = {[](EvalContext& ctx, EvalArgs args) -> EvalResult {
                             if (args.size() != 2) return std::nullopt;
                             double min = eval_number(args[0]).value_or(0), max = eval_number(args[1]).value_or(0);
                             for (const auto& p : facts(ctx).parts) {
                               if (p.image_area <= 0) continue;
                               double ratio = p.non_space_len / p.image_area;
                               if (ratio > min && ratio <= max) return "text/image area " + num(ratio);
                             }
                             return std::nullopt;
                           },
                           body, [](const std::vector<std::string>& a) {
                             std::string e = need_args(a, 2, 2);
                             return e.empty() ? check_numbers(a, 0) : e;
                           }};

  // html_charset_faraway(): <meta> charsets outside ok_locales. Never true in 4.0.1:
  // ok_locales "all" (the default) returns at once, and HTML.pm gathers the charsets
  // but never stores them among the results the function reads.
  t["html_charset_faraway"] = {[](EvalContext&, EvalArgs) -> EvalResult { return std::nullopt; }, body, nullptr};

  // html_text_match(list, regex): a title/anchor/comment/script text matches.
  auto regex_args = [](const std::vector<std::string>& a) {
    std::string e = need_args(a, 2, 2);
    if (!e.empty()) return e;
    std::string err;
    if (!compile_pattern(a[1], &err)) return err;
    return std::string();
  };
  t["html_text_match"] = {[](EvalContext& ctx, EvalArgs args) { return text_match(ctx, args, false); }, body,
                          regex_args};
  t["html_text_not_match"] = {[](EvalContext& ctx, EvalArgs args) { return text_match(ctx, args, true); }, body,
                              regex_args};

  // html_title_subject_ratio(ratio): a <title> more than ratio times the Subject's length.
  t["html_title_subject_ratio"] = {
      [](EvalContext& ctx, EvalArgs args) -> EvalResult {
        if (args.size() != 1) return std::nullopt;
        double want = eval_number(args[0]).value_or(0);
        auto subject = ctx.get("Subject");
        if (!subject || subject->empty()) return std::nullopt;
        double slen = static_cast<double>(subject->size());
        for (const auto& p : facts(ctx).parts) {
          double max = 0;
          for (const auto& title : p.title) {
            if (title.empty() || title == "0") continue;
            bool ascii = ascii_only(title);
            double len = ascii ? static_cast<double>(title.size())
                               : static_cast<double>(std::count_if(title.begin(), title.end(),
                                                                   [](char c) { return !is_continuation(c); }));
            max = std::max(max, len / slen);
          }
          if (max > want) return "title/subject length " + num(max);
        }
        return std::nullopt;
      },
      body, [](const std::vector<std::string>& a) {
        std::string e = need_args(a, 1, 1);
        return e.empty() ? check_numbers(a, 0) : e;
      }};

  // check_iframe_src(): an <iframe> with a src.
  t["check_iframe_src"] = {[](EvalContext& ctx, EvalArgs) -> EvalResult {
                             for (const auto& p : facts(ctx).parts)
                               if (p.iframe_src) return std::string("<iframe src>");
                             return std::nullopt;
                           },
                           body, nullptr};
}

}  // namespace mxgate
