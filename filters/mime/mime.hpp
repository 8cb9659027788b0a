// MIME decoding: turns a Message into what a human reader would see, for the rule
// scopes of the content scanner (header, body, rawbody, uri) and for the mime filter.
//
// Follows RFC 2045-2049 (structure, transfer encodings), RFC 2047 (encoded-words in
// header values), RFC 2231 (parameter continuations and charsets, e.g. filename*=),
// RFC 2046 5.2.1 (message/rfc822 parts are walked like the top-level message).
// Parsing is GMime 3's (tolerant: it never rejects a message); decoding, charset
// conversion, HTML rendering and URL extraction are ours, so every limit below is
// enforced in one place in mime.cpp. glib/GMime headers stay inside mime.cpp.
//
// Hostile input never throws, crashes or hangs: parse_mime() scans as far as it can
// and records each problem once (with a count); MimeProblem maps one-to-one onto a
// symbol name (mime_problem_symbol) that the mime filter emits.
//
// Thread safety: parse_mime() may run on any number of threads at once. GMime is
// initialised once per process (std::call_once); every GMime object is created and
// released inside one call, never shared (GMime's own advice: GObjects are not
// thread-safe, its charset-alias table is locked internally).
#pragma once
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "filters/message.hpp"

namespace mxgate {

struct MimeLimits {                                    // key (mime filter)     problem when hit
  std::size_t max_depth = 20;                          // mime.max_depth        MIME_TOO_DEEP
  std::size_t max_parts = 500;                         // mime.max_parts        MIME_TOO_MANY_PARTS
  std::size_t max_decoded_bytes = 32 * 1024 * 1024;    // mime.max_decoded_bytes MIME_TOO_BIG
  std::size_t max_html_text_bytes = 4 * 1024 * 1024;   // mime.max_html_text_bytes MIME_HTML_TOO_BIG
};

// Each enumerator's symbol is "MIME_" + its UPPER_SNAKE name (mime_problem_symbol).
enum class MimeProblem {
  Unparsable,            // MIME_UNPARSABLE: GMime built no message; the body is read as plain text
  BadHeader,             // MIME_BAD_HEADER: invalid header name or conflicting headers in a part
  BadContentType,        // MIME_BAD_CONTENT_TYPE: unparsable Content-Type or parameters
  BadRfc2047,            // MIME_BAD_RFC2047: malformed encoded-word in a header value
  NoBoundary,            // MIME_NO_BOUNDARY: multipart/* without a boundary parameter
  MissingBoundary,       // MIME_MISSING_BOUNDARY: the boundary never appears (no parts)
  MissingFinalBoundary,  // MIME_MISSING_FINAL_BOUNDARY: data ended before the close-delimiter
  BadBoundary,           // MIME_BAD_BOUNDARY: a part ended by a parent's boundary, or empty parts
  BadBase64,             // MIME_BAD_BASE64: characters outside the alphabet, data after padding, truncated
  BadQp,                 // MIME_BAD_QP: '=' not followed by two hex digits or a line break
  UnknownEncoding,       // MIME_UNKNOWN_ENCODING: Content-Transfer-Encoding we do not know (read as 8bit)
  UnknownCharset,        // MIME_UNKNOWN_CHARSET: charset iconv does not know (read as UTF-8 or windows-1252)
  BadCharset,            // MIME_BAD_CHARSET: bytes invalid in the declared charset (replaced by U+FFFD)
  NulBytes,              // MIME_NUL_BYTES: NUL bytes in decoded text (removed)
  TooDeep,               // MIME_TOO_DEEP: nesting deeper than max_depth; not descended
  TooManyParts,          // MIME_TOO_MANY_PARTS: more than max_parts entities; the rest not walked
  TooBig,                // MIME_TOO_BIG: decoded text over max_decoded_bytes; truncated, rest skipped
  HtmlTooBig,            // MIME_HTML_TOO_BIG: rendered HTML over max_html_text_bytes; truncated
};
inline constexpr std::size_t kMimeProblemCount = static_cast<std::size_t>(MimeProblem::HtmlTooBig) + 1;
const char* mime_problem_symbol(MimeProblem p);  // "MIME_BAD_BASE64"

struct MimeProblemRecord {
  MimeProblem kind;
  std::string detail;     // the first occurrence, short, for logs
  std::size_t count = 1;  // occurrences in this message
};

struct MimeHeader {
  std::string name;     // as written, e.g. "Subject"
  std::string raw;      // as written after the colon: folding kept, not decoded
  std::string decoded;  // decode_header_value(raw, name): as SpamAssassin's header()
};

struct MimeTextPart {
  std::string content_type;       // lower case "text/html"
  std::string charset;            // as declared ("" if none)
  std::string transfer_encoding;  // lower case "base64", "quoted-printable", "7bit", ... ("" if none)
  std::string decoded;            // transfer-decoded, converted to UTF-8, CRLF -> LF
  // Transfer-decoded, CRLF -> LF, in the part's own charset (SpamAssassin's
  // `rawbody` reads these bytes); empty when they are `decoded` (raw_text()).
  std::optional<std::string> bytes;
  const std::string& raw_text() const { return bytes ? *bytes : decoded; }
  std::string rendered;           // text/html: rendered to plain text; other text/*: = decoded
  bool html = false;
  std::size_t depth = 0;          // 0 = the top-level entity
  std::size_t leaf = 0;           // its index among all leaf entities, text or not, in walk order
};

struct MimeAttachment {
  std::string filename;           // RFC 2231/2047 decoded, UTF-8 ("" if none)
  std::string content_type;       // lower case "application/pdf"
  std::string disposition;        // lower case "attachment", "inline" or ""
  std::size_t decoded_size = 0;   // bytes after transfer decoding
};

// The message as a reader sees it.
struct MimeView {
  std::vector<MimeHeader> headers;        // every top-level header field, in order
  std::vector<MimeTextPart> text_parts;   // leaf text/* parts, in document order
  std::vector<MimeAttachment> attachments;  // leaves with a filename, disposition attachment, or non-text
  // SpamAssassin's `body` scope: the decoded Subject, "\n", then each text part's
  // rendered text, joined by "\n".
  std::string body_text;
  // SpamAssassin's `rawbody` scope: each text part's decoded (not rendered) text, joined by "\n".
  std::string rawbody;
  // http/https/ftp/mailto URLs and bare www. hosts (as "http://www..."), from the text
  // of text parts and from HTML href/src/action/background attributes; deduplicated,
  // in order of first appearance.
  std::vector<std::string> urls;
  // Of those, the href/src/action/background URLs of HTML parts alone (in order,
  // deduplicated): with SpamAssassin's own text parser, what the text gives is
  // read from the rendered text instead (filters/content/uri_list.hpp).
  std::vector<std::string> html_links;
  std::size_t part_count = 0;   // MIME entities walked (multiparts, leaves, message parts)
  std::size_t leaf_count = 0;   // leaf entities walked (text parts and the others)
  std::size_t max_depth = 0;    // deepest entity walked
  std::vector<MimeProblemRecord> problems;  // each kind at most once, in order found

  bool has(MimeProblem p) const;
  const MimeHeader* header(std::string_view name) const;  // first with that name, case-insensitively
  std::string subject() const;                            // decoded Subject or ""
};

// Synchronous CPU work, bounded by the message size and `limits`; never throws for
// any input (std::bad_alloc aside).
MimeView parse_mime(const Message& msg, const MimeLimits& limits = {});

// HTML to plain text as parse_mime renders text/html parts, after SpamAssassin's
// HTML.pm: tags dropped, <script>, <style> and comments removed, entities (named and
// numeric) decoded, each run of white space in a text one space; br and div stand for
// "\n", p, hr, blockquote, pre, title for "\n\n", li, td, th, dd, dt, h1-h6 for " "
// (start and end tags alike; such white space takes one space off the text on either
// side). Not modelled: HTML.pm's invisible-text marks, which keep those spaces. Stops at max_bytes
// of output (setting *truncated). If urls is given, href/src/action/background URLs
// and URLs in the text are appended in document order; `links` gets the attribute
// URLs alone.
std::string render_html(std::string_view html, std::size_t max_bytes, bool* truncated = nullptr,
                        std::vector<std::string>* urls = nullptr, std::vector<std::string>* links = nullptr);

// A field value as SpamAssassin's header() gives it (Message/Node.pm), which the
// content rules were written for: every line break and the white space after it one
// space (RFC 5322 unfolding would keep the white space: /by \S+ \(CommuniGate/ on a
// folded Received must match), CR and LF dropped, trimmed.
std::string unfold_header_value(std::string_view raw);
// Whether SpamAssassin decodes RFC 2047 encoded words in this field: not in
// Received, Date, Message-ID, MIME-Version, References, In-Reply-To, List-* and
// their Resent- forms (bug 6945), where "=?" is data.
bool header_has_encoded_words(std::string_view name);
// unfold_header_value, then encoded words decoded where header_has_encoded_words,
// as valid UTF-8: MimeHeader::decoded.
std::string decode_header_value(std::string_view raw, std::string_view name);

// URLs in plain text (see MimeView::urls), appended to out in order (not deduplicated).
// With `addresses`, also the bare addresses SpamAssassin's text URI parser turns into
// mailto: URIs ("write to sales@example.com"): not in MimeView::urls, whose mailto:
// entries are links written as such; the content filter's uri scope adds them.
void find_urls(std::string_view text, std::vector<std::string>& out, bool addresses = false);

// The host of a URL of MimeView::urls ("http://user@Www.Example.COM.:8080/x" ->
// "www.example.com"; an address keeps its brackets off: "[192.0.2.7]" -> "192.0.2.7"),
// or of a mailto: URL's address; "" if it has none.
std::string url_host(std::string_view url);

}  // namespace mxgate
