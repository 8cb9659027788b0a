// ScanTexts: the texts the content rules read, built the way SpamAssassin builds
// them, so that its rule files mean here what they mean there.
//
//   body     SpamAssassin's rendered body text array (Message.pm
//            get_body_text_array_common): the last Subject as written (unfolded,
//            decoded), then every leaf in order joined by "\n" (text/plain and other
//            text/* as decoded, text/html rendered as HTML.pm renders it; text/calendar
//            and text/x-vcard add only their "\n"), each part cut at
//            max_body_part_bytes (body_part_scan_size, 50,000) at a line end or
//            space; a white space run (Perl's Unicode \s) holding two line breaks is
//            a paragraph break, any other run one space; paragraphs over 2048 bytes
//            are cut into lines at their last space. One line per array element, so
//            `^` and `$` anchor where they do in SpamAssassin.
//   rawbody  each text part but text/calendar decoded but not rendered, line by
//            line (rawbody rules see HTML tags), at most max_rawbody_part_bytes each
//            (500,000). (SpamAssassin's rawbody is not charset-converted; ours is UTF-8.)
//   full     the whole message as received, CRLF read as LF as SpamAssassin sees a
//            message handed to it, at most max_full_bytes.
//   uri      SpamAssassin's get_uri_list() (uri_list.hpp): the URIs of the body
//            lines, Subject included (schemeless hosts when the rule files give the
//            TLDs), MimeView::urls, and the forms uri_list_canonicalize adds.
//   header   per header key (rule_parser.hpp HeaderTarget::key): see header_text().
//
// Each body/rawbody text keeps where every part starts, so a hit's offset turns
// into "part 2 text/html" in `mxgate check` and the log.
#pragma once
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "filters/envelope.hpp"
#include "filters/message.hpp"
#include "filters/mime/mime.hpp"

namespace mxgate {

struct RelayPath;  // relays.hpp

struct ScanLimits {                                    // key (content filter)
  std::size_t max_body_part_bytes = 50'000;            // content.max_body_part_bytes
  std::size_t max_rawbody_part_bytes = 500'000;        // content.max_rawbody_part_bytes
  std::size_t max_full_bytes = 32 * 1024 * 1024;       // content.max_full_bytes
  std::size_t max_urls = 1000;                         // content.max_urls
};

// A scope text and where each of its pieces came from.
struct PartText {
  std::string text;
  struct Piece {
    std::size_t offset;  // where the piece starts in text
    std::string label;   // "Subject", "part 1 text/plain", ...
  };
  std::vector<Piece> pieces;
  // The label of the piece holding `offset`, and the offset inside that piece.
  std::pair<std::string, std::size_t> locate(std::size_t offset) const;
};

struct ScanTexts {
  PartText body;
  PartText rawbody;
  std::string full;
  std::vector<std::string> urls;
};

struct UriSettings;  // uri_list.hpp
// `uri` (the TLDs and redirector patterns of the rule files) shapes the URI list;
// null: mxgate's own URL finder, no schemeless hosts, no redirector patterns.
ScanTexts build_scan_texts(const MimeView& view, const Message& msg, const ScanLimits& limits,
                           const UriSettings* uri = nullptr);

// SpamAssassin's paragraphs: blank lines split, white space runs become one space,
// empty paragraphs dropped; appended to out, each followed by '\n'.
void append_paragraphs(std::string_view text, std::string& out);

// The pieces of the body text, shared with the body eval tests (eval_body.cpp),
// which assemble the same text from SpamAssassin's own MIME tree.
//
// Perl's \s on a character string (SpamAssassin decodes text parts to characters
// before its white space handling): ASCII white space and vertical tab, NEL, no-break
// space, and the Unicode space separators. The bytes of the one at s[i] (valid
// UTF-8 only), or 0.
std::size_t perl_space_len(std::string_view s, std::size_t i);
// Message.pm's white space collapse of the joined parts: a run of perl_space_len holding
// two line breaks becomes one "\n" (with one space kept for blanks before the first
// and after the last break), every other run one space; appended to out. Each entry
// of `offsets` (positions in s, ascending) becomes the position in out where that
// input position's text went.
void append_collapsed(std::string_view s, std::string& out, std::vector<std::size_t>* offsets = nullptr);
// The last Subject as Node.pm header() holds it: each fold with the white space after
// it one space, ends trimmed. Encoded words and 8-bit text: the MIME decoder's text.
std::string sa_subject(const MimeView& view);

// The text of a header key as SpamAssassin's get() returns it, or nullopt when
// the message has no such header (the rule then reads [if-unset: X], or "").
//   Field         every field of that name, decoded (RFC 2047), unfolded, each + "\n"
//   Field:raw     as written, folding kept
//   Field:addr    the first address of the first field; :name its display name
//   Field:first / Field:last   only the first / last field of that name
//   ALL           every field "Name: value\n" (decoded; ALL:raw as written)
//   ToCc          To and Cc;  EnvelopeFrom  the MAIL FROM address (then Return-Path)
//   MESSAGEID     X-Message-Id, Resent-Message-Id, X-Original-Message-ID, Message-Id,
//                 in that order; matched case-sensitively, as SpamAssassin's
//                 pseudo-headers ALL and MESSAGEID are: "MessageID" is a real header
// As in SpamAssassin (Check.pm), a field's value ends in "\n" and several are
// concatenated; :addr and :name values have no line end and several are joined with
// "\n"; :addr gives every address of every selected field (none: absent).
// Modifiers we do not implement (:host, :domain, :ip, :revip) read as absent.
//   X-Spam-Relays-Trusted / -Untrusted / -Internal / -External (any case) and
//   ALL-TRUSTED / ALL-UNTRUSTED / ALL-INTERNAL / ALL-EXTERNAL: SpamAssassin's
//   trust-path texts (relays.hpp), from `relays`; absent when it is null.
std::optional<std::string> header_text(std::string_view key, const MimeView& view, const Message& msg,
                                       const Envelope& env, const RelayPath* relays = nullptr);
// The field part of a header key ("X-Spam-Relays-External" of "x-spam-relays-external:raw")
// names one of the trust-path texts above: the caller needs a RelayPath for it.
bool header_key_needs_relays(std::string_view key);

// "Name <a@b>" -> a@b / "Name"; "a@b (Name)" -> a@b / "Name".
std::string first_address(std::string_view value);
// Every address of an address-list field value, as SpamAssassin's
// parse_header_addresses finds them: a leading group name dropped, items split on ','
// and ';' outside quotes, <> and comments, the address inside <> (or the item without
// its comments), kept only if it is local@domain; "<>" and phrases give none.
std::vector<std::string> addresses_in(std::string_view value);
std::string first_display_name(std::string_view value);

}  // namespace mxgate
