// Parsing of SMTP command lines (RFC 5321 4.1), envelope paths (4.1.2) with their
// length limits (4.5.3.1), the ESMTP parameters we advertise (SIZE RFC 1870,
// BODY RFC 6152, SMTPUTF8 RFC 6531) and xtext (RFC 3461 4).
#pragma once
#include <optional>
#include <string>
#include <string_view>

#include "filters/envelope.hpp"
#include "filters/smtp_reply.hpp"

namespace mxgate {

enum class Verb {
  Helo, Ehlo, Mail, Rcpt, Data, Rset, Noop, Quit, Vrfy, Expn, Help, Starttls, Xclient,
  Bdat, Auth, Turn, Unknown, Empty
};

struct Command {
  Verb verb = Verb::Unknown;
  std::string verb_text;  // as sent, for logs
  std::string arg;        // everything after the verb and one space, trailing spaces removed
};

// `line` is without its line ending. Verbs are case-insensitive.
Command parse_command(std::string_view line);
const char* verb_name(Verb v);

// Why a MAIL/RCPT argument was refused, as the reply to send.
struct PathError {
  int code;
  const char* enhanced;
  std::string text;
  SmtpReply reply() const { return SmtpReply(code, enhanced, text); }
};

struct MailArgs {
  Mailbox mailbox;
  std::uint64_t size = 0;  // SIZE=, 0 if absent
  bool smtputf8 = false;
  std::string body;        // "7BIT" / "8BITMIME" / ""
};

// "FROM:<a@b> SIZE=10 BODY=8BITMIME SMTPUTF8". Null path allowed.
std::optional<MailArgs> parse_mail(std::string_view arg, PathError& err);
// Splits what a client sends into command lines, with smtp.max_command_line applied:
// a longer line is dropped whole, however many reads it spans, and reported once; a
// line with a control byte (NUL, bare CR, ...) is reported and never parsed or echoed
// (RFC 5321 commands are text). The line end is LF with an optional CR before it.
class CommandLineReader {
 public:
  explicit CommandLineReader(std::size_t max_line) : max_(max_line) {}
  enum class Kind { Line, TooLong, Control, NeedMore };
  struct Next {
    Kind kind = Kind::NeedMore;
    std::string line;  // for Line: without its line end
  };
  // Takes the next line out of `buf` (which the caller only ever appends to), or
  // NeedMore; past max_line without a line end, `buf` is emptied and the rest of the
  // line will be dropped as it arrives.
  Next next(std::string& buf);

 private:
  std::size_t max_;
  bool discarding_ = false;
  std::size_t scanned_ = 0;  // bytes of buf already known to hold no LF
};

// An option of MAIL the downstream cannot take, so our EHLO did not offer it (RFC 5321
// 4.1.1.11): "BODY=8BITMIME", "SMTPUTF8", or nullptr.
const char* unsupported_mail_option(const MailArgs& args, bool downstream_8bitmime, bool downstream_smtputf8);
// The MAIL command for the downstream: the path and its parameters, SIZE= only to a
// server that announced SIZE (RFC 1870 6).
std::string downstream_mail_line(const Mailbox& from, bool downstream_size);

// "TO:<a@b>"; `smtputf8` says whether the transaction allows UTF-8 addresses.
std::optional<Mailbox> parse_rcpt(std::string_view arg, bool smtputf8, PathError& err);

// A HELO/EHLO argument: a domain or an address literal. Lenient like real servers:
// only refuses empty or control characters.
bool valid_helo(std::string_view helo);

// Client bytes made safe to echo in a reply or a log line: control characters and
// DEL become '?', and the result is cut to `max` bytes.
std::string printable(std::string_view s, std::size_t max = 64);

// RFC 3461 xtext. decode returns nullopt on a bad "+XX" escape.
std::string xtext_encode(std::string_view s);
std::optional<std::string> xtext_decode(std::string_view s);

}  // namespace mxgate
