// DataReader: turns the raw bytes a client sends after 354 into message content.
//
// RFC 5321 4.1.1.4 / 4.5.2: only <CRLF>.<CRLF> ends the data, and a leading dot is
// removed from every line that has more after it. "SMTP smuggling" works by sending an
// end-of-data that *another* server accepts (<LF>.<LF>, <CR>.<CR>, <LF>.<CRLF>,
// <CRLF>.<LF>, <LF>.<CR> ...) followed by a second transaction. Here:
//   - the end is recognised on the raw stream only as CR LF "." CR LF, so anything
//     after a lookalike stays inside this message;
//   - a bare CR or bare LF is either counted (mode Reject: the message is refused
//     with 550 5.5.2 once it ends) or rewritten as CRLF (mode Normalize), so the
//     content handed on always has CRLF line ends only. Lines are dot-stuffed again
//     when sent downstream (dot_stuff), so a "." line in the content cannot end the
//     downstream's DATA either.
// Limits are checked as bytes arrive; past a limit the rest is read and dropped, so
// memory stays bounded and the reply comes at the real end. A text line longer than
// RFC 5321's 1,000 octets (smtp.max_line_length) is counted and kept as it is, as
// Postfix keeps it (web applications send such HTML); it is a problem only when
// refusing is configured (smtp.long_lines: reject). Header and message size limits
// bound it either way.
#pragma once
#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "base/task.hpp"
#include "filters/verdict.hpp"

namespace mxgate {

struct DataLimits {
  std::size_t max_message_bytes = 25 * 1024 * 1024;
  std::size_t max_header_bytes = 256 * 1024;
  std::size_t max_line_length = 1000;  // including CRLF (RFC 5321 4.5.3.1.6)
  bool normalize_bare = false;         // smtp.bare_line_endings: normalize
  bool reject_long_lines = false;      // smtp.long_lines: reject
};

class DataReader {
 public:
  enum class Problem { None, NoMemory, TooBig, HeaderTooBig, LineTooLong, BareLineEnding };

  explicit DataReader(DataLimits limits) : limits_(limits) {}

  // Consumes bytes up to and including the end-of-data mark; returns how many it
  // consumed. Bytes after the end (pipelined commands) are left to the caller.
  std::size_t feed(std::string_view in);
  bool done() const { return state_ == State::Done; }
  // Stops keeping the content (the server's memory budget is spent); reading goes on.
  void abandon();
  // The first limit hit, in order of severity (memory, then size, line length, bare EOL).
  Problem problem() const;
  std::size_t raw_bytes() const { return raw_bytes_; }
  std::size_t content_bytes() const { return content_bytes_; }
  std::size_t bare_count() const { return bare_count_; }
  // Lines longer than max_line_length (CRLF included), each counted once.
  std::size_t long_line_count() const { return long_lines_; }
  // True once the blank line ending the header section has been read.
  bool header_complete() const { return !in_header_; }
  // The content read so far (empty once a size limit was hit).
  std::string_view content() const { return out_; }
  // The content, CRLF line ends, dot-unstuffed. Empty once a size limit was hit.
  std::string take() { return std::move(out_); }

 private:
  enum class State { Start, Dot, DotCr, Text, Cr, Done };
  void emit(char c);
  void emit_run(const char* p, std::size_t n);
  void newline();
  void bare();

  DataLimits limits_;
  State state_ = State::Start;
  std::string out_;
  std::size_t raw_bytes_ = 0;
  std::size_t content_bytes_ = 0;
  std::size_t line_len_ = 0;  // content octets of the current line, without CRLF
  std::size_t header_bytes_ = 0;
  bool in_header_ = true;
  std::size_t bare_count_ = 0;
  std::size_t long_lines_ = 0;
  bool line_counted_ = false;  // the current line is already in long_lines_
  bool too_big_ = false, header_too_big_ = false, abandoned_ = false;
};

const char* problem_name(DataReader::Problem p);

// smtp.max_buffered_bytes: what all sessions together hold of messages that have not
// reached the MX yet. One charge per message, given back when it is destroyed.
class BufferCharge {
 public:
  BufferCharge(std::atomic<std::size_t>& total, std::size_t max_message_bytes, std::size_t max_total_bytes)
      : total_(total), max_message_(max_message_bytes), max_total_(max_total_bytes) {}
  ~BufferCharge() { total_ -= held_; }
  BufferCharge(const BufferCharge&) = delete;
  BufferCharge& operator=(const BufferCharge&) = delete;
  // After each piece read: charges what `r` now keeps; once the budget is spent the
  // reader is told to keep nothing more (it reads on, and the message tempfails).
  void update(DataReader& r);

 private:
  std::atomic<std::size_t>& total_;
  std::size_t max_message_, max_total_;
  std::size_t held_ = 0;
};

class Stream;

enum class DataEnd { Done, TimedOut, Failed };  // Failed: connection lost, or cancelled (shutdown)

// The DATA read loop: feeds `pending` (what the client sent right after DATA), then
// the stream, into `reader` until the end-of-data mark; bytes after it (pipelined
// commands) are left in `pending`. The client has `timeout` (smtp.data_timeout) in
// hand: each read spends the time it took and, with `min_rate` (smtp.min_data_rate,
// bytes a second; 0: off), earns bytes / min_rate seconds, up to `timeout` again, so
// a client that trickles below the rate runs out however often it sends a byte.
// `progress` runs after every piece: memory accounting, and telling the filters
// once the header section is in.
Task<DataEnd> read_data(Stream& stream, std::string& pending, DataReader& reader, std::chrono::milliseconds timeout,
                        std::size_t min_rate, const std::function<void(DataReader&)>& progress);

// Text lines of `content` (CRLF ends) longer than `max_line_length`, CRLF included:
// what DataReader::long_line_count() says of a message read from the wire, for a
// message read from a file (mxgate check).
std::size_t count_long_lines(std::string_view content, std::size_t max_line_length);
// The LONG_LINES symbol (score 0: counted, never refused by itself), or nullopt.
std::optional<Symbol> long_lines_symbol(std::size_t count, std::size_t max_line_length);

// Content -> wire form for DATA, a piece at a time so a large message is never held
// twice: every line starting with "." gets another ".", every line ends in CRLF, and
// ".\r\n" closes it. `prefix` (added header fields) goes first.
class DotStuffer {
 public:
  DotStuffer(std::string_view prefix, std::string_view content) : prefix_(prefix), content_(content) {}
  // Replaces `out` with the next piece of about `max` bytes (at least one line);
  // false once everything, the final ".\r\n" included, has been given out.
  bool next(std::string& out, std::size_t max);
  // True once the piece with the final ".\r\n" has been given out.
  bool done() const { return done_; }

 private:
  std::string_view prefix_, content_;
  std::size_t pos_ = 0;
  bool prefix_done_ = false, done_ = false;
};

// The whole wire form at once (tests, small messages).
std::string dot_stuff(std::string_view prefix, std::string_view content);

}  // namespace mxgate
