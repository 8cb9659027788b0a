// SmtpReply: one SMTP reply (RFC 5321 4.2), with an enhanced status code
// (RFC 3463 / RFC 2034) whose class must match the reply code's class.
//
// Replies we make ourselves are built from (code, enhanced, text) and checked when
// built, so a bad reply constant or config value fails at start, not in production.
// Replies we relay from the downstream keep their lines byte for byte.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mxgate {

class SmtpReply {
 public:
  // Throws std::invalid_argument if the code is not 2xx-5xx or the enhanced code
  // does not match its class (e.g. 550 with 4.7.1). 3xx replies carry no enhanced
  // code; an empty one is allowed only for the greeting and the HELO/EHLO reply.
  SmtpReply(int code, std::string_view enhanced, std::string_view text);

  // A reply received from a peer: code plus the text of each line, unchanged.
  static SmtpReply relayed(int code, std::vector<std::string> lines);
  // Validating constructor for values from config files: nullopt + why on error.
  static std::optional<SmtpReply> make(int code, std::string_view enhanced,
                                       std::string_view text, std::string* why);

  int code() const { return code_; }
  int klass() const { return code_ / 100; }
  bool positive() const { return code_ >= 200 && code_ < 400; }
  bool is_2xx() const { return klass() == 2; }
  bool is_3xx() const { return klass() == 3; }
  bool transient() const { return klass() == 4; }
  bool permanent() const { return klass() == 5; }
  const std::vector<std::string>& lines() const { return lines_; }
  // The enhanced status code of the first line ("5.1.1"), or "" if it has none.
  std::string enhanced() const;
  // All lines joined with "\n", without the reply code (each keeps its enhanced code).
  std::string text() const;
  // All lines joined with "\n", without the reply code or the enhanced code: what a
  // reply template says, to build another reply from.
  std::string plain_text() const;
  // For logs: "550 5.1.1 text", lines joined with "\n", each with its code.
  std::string str() const;
  // The wire form: "550-5.1.1 first\r\n550 5.1.1 last\r\n".
  std::string wire() const;
  void append_wire(std::string& out) const;
  // A copy with another code of the same meaning, keeping the text (e.g. a downstream
  // 421 becomes 451 so the client does not think *we* are closing).
  SmtpReply with_code(int code) const;

 private:
  SmtpReply() = default;
  int code_ = 0;
  std::vector<std::string> lines_;
};

// True if s looks like an RFC 3463 enhanced status code "c.sss.ddd".
bool is_enhanced_code(std::string_view s);

}  // namespace mxgate
