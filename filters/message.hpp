// Message: one message as received in DATA, after dot-unstuffing and line-ending
// checks (proxy/data_reader.cpp), with its header fields split out (RFC 5322 2.2).
// Every line of data ends in CRLF. Parsing here is deliberately shallow and never
// fails: MIME structure belongs to filters/mime.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "base/text.hpp"  // iequals, used with header names everywhere

namespace mxgate {

struct HeaderField {
  std::string name;   // as written, e.g. "Subject"; may end in white space (obs-optional)
  // True if this is the field `want`, case-insensitively, white space before the colon ignored.
  bool is(std::string_view want) const;
  std::string value;  // everything after the colon, folding CRLFs kept, final CRLF removed
  std::string unfolded() const;  // value with CRLF before WSP removed and outer spaces trimmed
  // True if this field can be added to a message as is: a printable name without a
  // colon, and a value whose only line breaks are CRLF followed by a space or tab
  // (folding), so an added header can never end the header section or the message.
  bool valid_to_add() const;
  std::string wire() const;      // "Name: value\r\n" (adds one space after the colon if value lacks it)
};

class Message {
 public:
  Message() = default;
  explicit Message(std::string data);

  const std::string& data() const { return data_; }
  std::size_t size() const { return data_.size(); }
  const std::vector<HeaderField>& headers() const { return headers_; }
  // Header fields with this name, case-insensitively, in order.
  std::vector<const HeaderField*> fields(std::string_view name) const;
  const HeaderField* first(std::string_view name) const;
  std::size_t count(std::string_view name) const;
  std::string_view header_block() const { return std::string_view(data_).substr(0, body_offset_); }
  std::string_view body() const { return std::string_view(data_).substr(body_offset_); }
  // False if the header section had a line that is neither a field nor a continuation
  // (e.g. an mbox "From " line); parsing stopped there and the rest is the body.
  bool headers_well_formed() const { return well_formed_; }

 private:
  std::string data_;
  std::vector<HeaderField> headers_;
  std::size_t body_offset_ = 0;
  bool well_formed_ = true;
};

// A message file may start with an mbox separator line ("From sender date", every
// file of the SpamAssassin public corpus, every mbox export). It is not a header
// field (no colon after "From"): SpamAssassin skips it, and so do the tools that read
// message files. Returns the file without that first line, or as it is.
std::string_view without_mbox_separator(std::string_view file);

}  // namespace mxgate
