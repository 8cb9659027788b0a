#include "proxy/data_reader.hpp"

#include <algorithm>
#include <cstring>

#include "proxy/stream.hpp"

namespace mxgate {

const char* problem_name(DataReader::Problem p) {
  switch (p) {
    case DataReader::Problem::None: return "none";
    case DataReader::Problem::NoMemory: return "no_memory";
    case DataReader::Problem::TooBig: return "message_too_big";
    case DataReader::Problem::HeaderTooBig: return "header_too_big";
    case DataReader::Problem::LineTooLong: return "line_too_long";
    case DataReader::Problem::BareLineEnding: return "bare_line_ending";
  }
  return "?";
}

void DataReader::abandon() {
  abandoned_ = true;
  std::string().swap(out_);
}

DataReader::Problem DataReader::problem() const {
  if (abandoned_) return Problem::NoMemory;
  if (too_big_) return Problem::TooBig;
  if (header_too_big_) return Problem::HeaderTooBig;
  if (long_lines_ && limits_.reject_long_lines) return Problem::LineTooLong;
  if (bare_count_ && !limits_.normalize_bare) return Problem::BareLineEnding;
  return Problem::None;
}

void DataReader::emit_run(const char* p, std::size_t n) {
  line_len_ += n;
  content_bytes_ += n;
  if (line_len_ + 2 > limits_.max_line_length && !line_counted_) {
    ++long_lines_;
    line_counted_ = true;
  }
  if (in_header_) {
    header_bytes_ += n;
    if (header_bytes_ > limits_.max_header_bytes) header_too_big_ = true;
  }
  if (content_bytes_ > limits_.max_message_bytes) {
    if (!too_big_) {
      too_big_ = true;
      std::string().swap(out_);  // free it now: nothing of it will be used
    }
    return;
  }
  if (!abandoned_) out_.append(p, n);
}

void DataReader::emit(char c) { emit_run(&c, 1); }

void DataReader::newline() {
  content_bytes_ += 2;
  if (in_header_) {
    header_bytes_ += 2;
    if (line_len_ == 0) in_header_ = false;  // the blank line ends the header section
    else if (header_bytes_ > limits_.max_header_bytes) header_too_big_ = true;
  }
  line_len_ = 0;
  line_counted_ = false;
  if (content_bytes_ > limits_.max_message_bytes) {
    if (!too_big_) {
      too_big_ = true;
      std::string().swap(out_);
    }
    return;
  }
  if (!too_big_ && !abandoned_) out_.append("\r\n", 2);
}

void DataReader::bare() {
  ++bare_count_;
  // Normalize: a bare CR or LF becomes a line end. Reject: the content is kept the
  // same way (it is refused at the end anyway), so memory use does not differ.
  newline();
}

std::size_t DataReader::feed(std::string_view in) {
  const char* p = in.data();
  const char* end = p + in.size();
  while (p < end && state_ != State::Done) {
    char c = *p;
    switch (state_) {
      case State::Start:
        ++p;
        if (c == '.') state_ = State::Dot;
        else if (c == '\r') state_ = State::Cr;
        else if (c == '\n') { bare(); state_ = State::Text; }  // not a line start: only CRLF makes one
        else { emit(c); state_ = State::Text; }
        break;
      case State::Dot:
        // A dot at the start of a line with more after it: remove it (RFC 5321 4.5.2).
        if (c == '\r') { ++p; state_ = State::DotCr; }
        else state_ = State::Text;  // c is handled as text without consuming it here
        break;
      case State::DotCr:
        if (c == '\n') { ++p; state_ = State::Done; }
        else state_ = State::Cr;  // ".\r" + more: the dot goes, the CR is bare (handled in Cr)
        break;
      case State::Text: {
        // Fast path: copy the run up to the next CR or LF in one go.
        const char* q = p;
        while (q < end && *q != '\r' && *q != '\n') ++q;
        if (q > p) {
          emit_run(p, static_cast<std::size_t>(q - p));
          p = q;
          break;
        }
        ++p;
        if (c == '\r') state_ = State::Cr;
        else bare();  // bare LF mid-line; state stays Text
        break;
      }
      case State::Cr:
        if (c == '\n') { ++p; newline(); state_ = State::Start; }
        else if (c == '\r') { ++p; bare(); }  // the earlier CR was bare; this one is pending
        else { bare(); state_ = State::Text; }
        break;
      case State::Done:
        break;
    }
  }
  std::size_t used = static_cast<std::size_t>(p - in.data());
  raw_bytes_ += used;
  return used;
}

void BufferCharge::update(DataReader& r) {
  using P = DataReader::Problem;
  // A size limit or the budget itself: nothing more is being kept.
  if (r.problem() == P::NoMemory || r.problem() == P::TooBig) return;
  const std::size_t held = std::min(r.content_bytes(), max_message_);
  if (held <= held_) return;
  const std::size_t delta = held - held_;
  held_ = held;
  if (total_.fetch_add(delta) + delta > max_total_) {
    r.abandon();
    total_ -= held_;
    held_ = 0;
  }
}

Task<DataEnd> read_data(Stream& stream, std::string& pending, DataReader& reader, std::chrono::milliseconds timeout,
                        std::size_t min_rate, const std::function<void(DataReader&)>& progress) {
  using Clock = std::chrono::steady_clock;
  std::size_t used = reader.feed(pending);
  pending.erase(0, used);
  progress(reader);
  constexpr std::size_t kChunk = 64 * 1024;
  std::string chunk;
  // The time the client may still take (Postfix's per-request deadline with
  // smtpd_min_data_rate): each read spends what it took and earns n / min_rate
  // seconds, never more than `timeout` in hand.
  Clock::duration budget = timeout;
  while (!reader.done()) {
    chunk.resize(kChunk);
    boost::system::error_code ec;
    const auto t0 = Clock::now();
    stream.arm(std::chrono::duration_cast<std::chrono::milliseconds>(budget));
    std::size_t n = co_await stream.read_some(chunk.data(), kChunk, ec);
    stream.disarm();
    if (ec) co_return stream.timed_out() ? DataEnd::TimedOut : DataEnd::Failed;
    if (min_rate) {
      budget -= Clock::now() - t0;
      budget += std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(
          static_cast<double>(n) / static_cast<double>(min_rate)));
      budget = std::min<Clock::duration>(budget, timeout);
      if (budget <= Clock::duration::zero()) co_return DataEnd::TimedOut;
    }
    std::string_view got(chunk.data(), n);
    used = reader.feed(got);
    progress(reader);
    if (used < n) pending.append(got.substr(used));  // pipelined commands after the end
  }
  co_return DataEnd::Done;
}

std::size_t count_long_lines(std::string_view content, std::size_t max_line_length) {
  std::size_t count = 0, start = 0;
  while (start < content.size()) {
    std::size_t eol = content.find("\r\n", start);
    std::size_t len = (eol == std::string_view::npos ? content.size() : eol) - start;
    if (len + 2 > max_line_length) ++count;
    if (eol == std::string_view::npos) break;
    start = eol + 2;
  }
  return count;
}

std::optional<Symbol> long_lines_symbol(std::size_t count, std::size_t max_line_length) {
  if (!count) return std::nullopt;
  return Symbol{"LONG_LINES", 0.0, std::to_string(count) + " over " + std::to_string(max_line_length)};
}

bool DotStuffer::next(std::string& out, std::size_t max) {
  out.clear();
  if (done_) return false;
  if (!prefix_done_) {
    out.append(prefix_);
    prefix_done_ = true;
  }
  while (pos_ < content_.size() && out.size() < max) {
    if (content_[pos_] == '.') out += '.';  // pos_ is always at the start of a line
    auto eol = content_.find("\r\n", pos_);
    if (eol == std::string_view::npos) {  // cannot happen for DataReader output; be safe
      out.append(content_.substr(pos_));
      out.append("\r\n");
      pos_ = content_.size();
      break;
    }
    out.append(content_.substr(pos_, eol + 2 - pos_));
    pos_ = eol + 2;
  }
  if (pos_ >= content_.size()) {
    out.append(".\r\n");
    done_ = true;
  }
  return true;
}

std::string dot_stuff(std::string_view prefix, std::string_view content) {
  DotStuffer st(prefix, content);
  std::string all, piece;
  while (st.next(piece, std::string::npos)) all += piece;
  return all;
}

}  // namespace mxgate
