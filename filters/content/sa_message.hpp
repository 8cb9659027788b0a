// SpamAssassin's own parse of a message (Message.pm, Message/Node.pm), for the eval
// tests whose results hang on what that parser saw: MIMEEval's facts, MIMEHeader's
// per-part header rules, ImageInfo's images.
//
// MimeView (GMime) is the message as a reader sees it; this is the message as
// SpamAssassin 4.0.1 splits it, quirks included, because the stock rules were tuned
// on those quirks:
//   - the header section ends at a blank line, at a line starting with "--", or at
//     the fourth line that is not a header field;
//   - runs of more than 20 blank lines are cut to 20 (before any MIME parsing);
//   - inside a multipart, lines longer than 2048 bytes are cut into 2048-byte lines;
//   - the line break before a boundary belongs to the boundary;
//   - a part without a boundary of its own inherits its parent's; a part whose
//     Content-Type repeats the parent's boundary hides one level of it (bug 7358);
//   - the parse queue is breadth first (it orders the boundary bookkeeping), the
//     tree the tests walk is depth first;
//   - a part missing Content-Type reads as "text/plain; charset=us-ascii";
//   - the top-level fields keep the white space after the colon in their raw value,
//     part fields do not (Message.pm splits them with /:/ and /:\s*/).
// Bounds: 20 levels (SpamAssassin's subparse default, multiparts and message/rfc822
// both count), 1000 parts per multipart (Message.pm's limit), and ours on top: at
// most kMaxParts parts in all. Every step is linear in the lines of its level, so a
// message costs at most ~20 passes over its lines.
//
// Differences from SpamAssassin 4.0.1, all on unusual input:
//   - field values with non-ASCII bytes are not re-guessed into UTF-8 (_normalize);
//   - a base64-encoded message/rfc822 part is decoded leniently (characters outside
//     the base64 alphabet skipped, "=" inside the data read as "A").
#pragma once
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mxgate {
class EvalContext;

namespace sa {

// One line as SpamAssassin holds it: CRLF already read as LF; `nl` says whether
// the "\n" is there (the last line of a part loses it to the boundary).
struct Line {
  const char* p = "";
  std::uint32_t len = 0;
  bool nl = true;
  std::string_view text() const { return {p, len}; }
  std::size_t perl_len() const { return len + (nl ? 1 : 0); }  // Perl's length($_)
};

// One header field of a part.
struct Field {
  std::string name;   // as written ($self->{header_order})
  std::string key;    // lower case, the lookup key
  std::string raw;    // raw_header(): as stored, folding and the final "\n" kept
  std::string value;  // header() before RFC 2047 decoding: unfold_header_value(raw)
};

// One node of the MIME tree ($part).
struct Part {
  std::vector<Field> fields;
  std::string type;  // $part->{type}, lower case ("" for a part find_parts skips)
  std::vector<std::size_t> children;
  bool leaf = true;
  std::vector<Line> raw;  // a leaf's body lines, transfer-encoded as written

  // The last field's value / raw value by lower-case name (header() in scalar context).
  std::optional<std::string> last(std::string_view key) const;
  std::optional<std::string> last_raw(std::string_view key) const;
  // get_header($name): the last field decoded as SpamAssassin decodes it (RFC 2047
  // except on Received, Date, Message-ID, ...) plus "\n"; nullopt when absent.
  std::optional<std::string> get_header(std::string_view key) const;
  // get_all_headers($raw): every field as "Name: value\n", in order.
  std::string all_headers(bool raw) const;
  // $part->decode(): the body, transfer-decoded (base64, quoted-printable).
  std::string decode() const;
  // $part->{name}: the file name from Content-Disposition or Content-Type.
  std::string name() const;
};

// The flags Message.pm records while parsing (check_msg_parse_flags, MIMEEval).
struct ParseFlags {
  bool missing_head_body_separator = false;
  bool truncated_header = false;
  bool missing_mime_head_body_separator = false;
  bool missing_mime_headers = false;
  bool mime_epilogue_exists = false;
  bool mimepart_limit_exceeded = false;
  bool missing_boundary = false;  // a multipart boundary opened and never closed
};

struct Message {
  std::deque<Part> parts;  // [0] is the message itself
  ParseFlags flags;
  // find_parts(qr/./): every part in depth-first order, parts with an empty type
  // skipped (not their children).
  std::vector<std::size_t> find_parts() const;
  // Decoded message/rfc822 bodies the lines of their parts point into.
  std::vector<std::unique_ptr<std::string>> buffers;
};

// Parses `data` (the whole message as received); Line pointers refer into `data`
// and into the result's buffers, so `data` must outlive the result.
Message parse(std::string_view data);

// The message's parse, computed once per message and shared by the eval families.
const Message& message(EvalContext& ctx);

// Util::parse_content_type, regex for regex.
struct ContentType {
  std::string type;
  std::optional<std::string> boundary;
  std::optional<std::string> charset;
  std::optional<std::string> name;
  bool missing = false;
};
ContentType parse_content_type(const std::optional<std::string>& value);

// Perl's truth of an optional string: undef, "" and "0" are false.
bool perl_false(const std::optional<std::string>& s);

// Util.pm's decoders.
std::string qp_decode(std::string_view in);
std::string base64_decode(std::string_view in);

}  // namespace sa
}  // namespace mxgate
