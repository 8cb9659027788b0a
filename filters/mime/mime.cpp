// parse_mime: GMime 3 builds the MIME tree; we walk it under MimeLimits, decode
// transfer encodings ourselves (so the decoded-bytes budget is checked while
// decoding, and bad base64/QP is noticed), convert charsets with iconv, and render.
#include "filters/mime/mime.hpp"

#include <gmime/gmime.h>
#include <iconv.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <memory>
#include <mutex>
#include <unordered_set>

#include "filters/mime/mime_text.hpp"
#include "base/text.hpp"

namespace mxgate {

const char* mime_problem_symbol(MimeProblem p) {
  switch (p) {
    case MimeProblem::Unparsable: return "MIME_UNPARSABLE";
    case MimeProblem::BadHeader: return "MIME_BAD_HEADER";
    case MimeProblem::BadContentType: return "MIME_BAD_CONTENT_TYPE";
    case MimeProblem::BadRfc2047: return "MIME_BAD_RFC2047";
    case MimeProblem::NoBoundary: return "MIME_NO_BOUNDARY";
    case MimeProblem::MissingBoundary: return "MIME_MISSING_BOUNDARY";
    case MimeProblem::MissingFinalBoundary: return "MIME_MISSING_FINAL_BOUNDARY";
    case MimeProblem::BadBoundary: return "MIME_BAD_BOUNDARY";
    case MimeProblem::BadBase64: return "MIME_BAD_BASE64";
    case MimeProblem::BadQp: return "MIME_BAD_QP";
    case MimeProblem::UnknownEncoding: return "MIME_UNKNOWN_ENCODING";
    case MimeProblem::UnknownCharset: return "MIME_UNKNOWN_CHARSET";
    case MimeProblem::BadCharset: return "MIME_BAD_CHARSET";
    case MimeProblem::NulBytes: return "MIME_NUL_BYTES";
    case MimeProblem::TooDeep: return "MIME_TOO_DEEP";
    case MimeProblem::TooManyParts: return "MIME_TOO_MANY_PARTS";
    case MimeProblem::TooBig: return "MIME_TOO_BIG";
    case MimeProblem::HtmlTooBig: return "MIME_HTML_TOO_BIG";
  }
  return "MIME_UNKNOWN";
}

bool MimeView::has(MimeProblem p) const {
  return std::any_of(problems.begin(), problems.end(), [p](const auto& r) { return r.kind == p; });
}

const MimeHeader* MimeView::header(std::string_view name) const {
  for (const auto& h : headers) {
    std::string_view n = h.name;
    while (!n.empty() && (n.back() == ' ' || n.back() == '\t')) n.remove_suffix(1);
    if (iequals(n, name)) return &h;
  }
  return nullptr;
}

std::string MimeView::subject() const {
  const MimeHeader* h = header("Subject");
  return h ? h->decoded : std::string();
}

namespace {

using namespace mime_detail;

void init_gmime_once() {
  static std::once_flag once;
  std::call_once(once, [] { g_mime_init(); });
}

struct GObjectUnref {
  void operator()(gpointer p) const {
    if (p) g_object_unref(p);
  }
};
template <typename T>
using GPtr = std::unique_ptr<T, GObjectUnref>;

struct GFree {
  void operator()(gpointer p) const { g_free(p); }
};
using GChars = std::unique_ptr<char, GFree>;

struct OptionsFree {
  void operator()(GMimeParserOptions* o) const { g_mime_parser_options_free(o); }
};

std::string lower_trim(std::string_view s) { return lower(trim(s)); }

std::string without_nul(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s)
    if (c != '\0') out += c;
  return out;
}

class Problems {
 public:
  void add(MimeProblem p, std::string_view detail) {
    auto k = static_cast<std::size_t>(p);
    if (index_[k] < 0) {
      index_[k] = static_cast<int>(list_.size());
      list_.push_back({p, repair_utf8(detail.substr(0, 200)), 1});
    } else {
      ++list_[static_cast<std::size_t>(index_[k])].count;
    }
  }
  std::vector<MimeProblemRecord> take() { return std::move(list_); }

 private:
  std::array<int, kMimeProblemCount> index_ = [] {
    std::array<int, kMimeProblemCount> a{};
    a.fill(-1);
    return a;
  }();
  std::vector<MimeProblemRecord> list_;
};

// GMime's parser reports what it had to repair; keep what a rule may care about.
// (Duplicated headers and 8-bit header bytes are the headers filter's business.)
void on_parser_warning(gint64 /*offset*/, GMimeParserWarning code, const gchar* item, gpointer user) {
  auto* problems = static_cast<Problems*>(user);
  std::string_view detail = item ? item : "";
  switch (code) {
    case GMIME_WARN_INVALID_CONTENT_TYPE:
    case GMIME_WARN_INVALID_PARAMETER:
    case GMIME_CRIT_CONFLICTING_PARAMETER: problems->add(MimeProblem::BadContentType, detail); break;
    case GMIME_WARN_INVALID_RFC2047_HEADER_VALUE: problems->add(MimeProblem::BadRfc2047, detail); break;
    case GMIME_WARN_MALFORMED_MULTIPART:
    case GMIME_WARN_PART_WITHOUT_CONTENT:
    case GMIME_CRIT_PART_WITHOUT_HEADERS_OR_CONTENT: problems->add(MimeProblem::BadBoundary, detail); break;
    case GMIME_WARN_MALFORMED_MESSAGE:
    case GMIME_CRIT_INVALID_HEADER_NAME:
    case GMIME_CRIT_CONFLICTING_HEADER: problems->add(MimeProblem::BadHeader, detail); break;
    case GMIME_CRIT_MULTIPART_WITHOUT_BOUNDARY: problems->add(MimeProblem::NoBoundary, detail); break;
    case GMIME_CRIT_NESTING_OVERFLOW: problems->add(MimeProblem::TooDeep, "GMime nesting limit"); break;
    default: break;  // duplicated header/parameter, 8-bit header, truncation (seen in the walk), addresses
  }
}

// Checks encoded data as it streams past, one byte at a time, across chunk edges.
class EncodingChecker {
 public:
  explicit EncodingChecker(GMimeContentEncoding enc) : enc_(enc) {}

  void feed(const char* p, std::size_t n) {
    if (bad_) return;
    if (enc_ == GMIME_CONTENT_ENCODING_BASE64) {
      for (std::size_t i = 0; i < n && !bad_; ++i) base64(static_cast<unsigned char>(p[i]));
    } else if (enc_ == GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE) {
      for (std::size_t i = 0; i < n && !bad_; ++i) qp(p[i]);
    }
  }
  // The problem found, if any, once all data is in.
  bool finish(std::string& why) {
    if (!bad_ && enc_ == GMIME_CONTENT_ENCODING_BASE64 && (symbols_ % 4) != 0) fail("truncated base64 (length not a multiple of 4)");
    if (!bad_ && enc_ == GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE && qp_ == Qp::Hex1) fail("'=' at end of data");
    why = why_;
    return bad_;
  }

 private:
  void fail(const char* why) {
    bad_ = true;
    why_ = why;
  }
  void base64(unsigned char c) {
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') return;
    bool alpha = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
    if (c == '=') {
      ++padding_;
      ++symbols_;
      if (padding_ > 2) fail("too much base64 padding");
    } else if (!alpha) {
      fail("character outside the base64 alphabet");
    } else if (padding_ > 0 && symbols_ % 4 != 0) {
      fail("base64 data after padding");
    } else {
      padding_ = 0;
      ++symbols_;
    }
  }
  enum class Qp { Text, Eq, Hex1, EqSpace, EqCr };
  static bool hex(char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f'); }
  void qp(char c) {
    switch (qp_) {
      case Qp::Text: if (c == '=') qp_ = Qp::Eq; break;
      case Qp::Eq:
        if (hex(c)) qp_ = Qp::Hex1;
        else if (c == '\r') qp_ = Qp::EqCr;
        else if (c == '\n') qp_ = Qp::Text;
        else if (c == ' ' || c == '\t') qp_ = Qp::EqSpace;
        else fail("'=' not followed by two hex digits or a line break");
        break;
      case Qp::Hex1:
        if (hex(c)) qp_ = Qp::Text;
        else fail("'=' not followed by two hex digits");
        break;
      case Qp::EqSpace:
        if (c == '\r') qp_ = Qp::EqCr;
        else if (c == '\n') qp_ = Qp::Text;
        else if (c != ' ' && c != '\t') fail("'=' followed by white space, then text");
        break;
      case Qp::EqCr:
        if (c == '\n') qp_ = Qp::Text;
        else fail("'=' followed by a bare CR");
        break;
    }
  }

  GMimeContentEncoding enc_;
  bool bad_ = false;
  std::string why_;
  std::size_t symbols_ = 0;
  int padding_ = 0;
  Qp qp_ = Qp::Text;
};

bool is_charset(const std::string& lc, std::initializer_list<const char*> names) {
  return std::any_of(names.begin(), names.end(), [&](const char* n) { return lc == n; });
}

// Decoded bytes in `charset` to UTF-8, best effort; NUL bytes are removed.
std::string to_utf8(std::string_view in, std::string_view charset, Problems& problems) {
  std::string out;
  std::string lc = lower_trim(charset);
  bool ascii = std::all_of(in.begin(), in.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
  // 7-bit data reads the same in every charset mail uses, except these: the wide
  // ones, and the 7-bit ones that switch character sets with escape sequences
  // (ISO-2022-JP, the Japanese mail charset, "ESC $ B"...; HZ).
  bool wide = is_charset(lc, {"utf-16", "utf-16le", "utf-16be", "utf-32", "ucs-2", "utf-7", "iso-2022-jp",
                              "iso-2022-jp-1", "iso-2022-jp-2", "iso-2022-jp-3", "iso-2022-kr", "iso-2022-cn",
                              "iso-2022-cn-ext", "csiso2022jp", "hz-gb-2312", "hz"});
  if (!ascii && is_valid_utf8(in)) {
    // SpamAssassin (normalize_charset, Node.pm _normalize) tries UTF-8 first for any
    // 8-bit text, whatever the declared charset: text labelled iso-8859-1 that is
    // valid UTF-8 reads as UTF-8, as the MUAs that mislabel it meant.
    out.assign(in);
    if (!lc.empty() && !is_charset(lc, {"us-ascii", "ascii", "utf-8", "utf8"}) &&
        !is_charset(lc, {"iso-8859-1", "iso8859-1", "latin1", "latin-1", "l1", "windows-1252", "cp1252", "x-cp1252"})) {
      // Still report a charset iconv does not know, as the branches below do.
      std::string cs = without_nul(charset.substr(0, 100));
      iconv_t cd = g_mime_iconv_open("UTF-8", cs.c_str());
      if (cd == reinterpret_cast<iconv_t>(-1)) problems.add(MimeProblem::UnknownCharset, cs);
      else g_mime_iconv_close(cd);
    }
  } else if (lc.empty() || is_charset(lc, {"us-ascii", "ascii", "utf-8", "utf8"})) {
    if (ascii || is_valid_utf8(in)) {
      out.assign(in);
    } else if (lc == "utf-8" || lc == "utf8") {
      out = repair_utf8(in);
      problems.add(MimeProblem::BadCharset, "invalid UTF-8");
    } else {
      out = cp1252_to_utf8(in);  // undeclared or "us-ascii" 8-bit text: what readers show
    }
  } else if (is_charset(lc, {"iso-8859-1", "iso8859-1", "latin1", "latin-1", "l1", "windows-1252", "cp1252",
                             "x-cp1252"})) {
    out = cp1252_to_utf8(in);  // WHATWG: iso-8859-1 labels mean windows-1252
  } else {
    std::string cs = without_nul(charset.substr(0, 100));
    // Opened even for 7-bit data: an unknown charset is worth reporting by itself.
    iconv_t cd = g_mime_iconv_open("UTF-8", cs.c_str());
    if (cd == reinterpret_cast<iconv_t>(-1)) {
      problems.add(MimeProblem::UnknownCharset, cs);
      out = ascii || is_valid_utf8(in) ? std::string(in) : cp1252_to_utf8(in);
    } else if (ascii && !wide) {
      g_mime_iconv_close(cd);
      out.assign(in);
    } else {
      std::size_t bad = 0;
      char* src = const_cast<char*>(in.data());  // iconv's signature; it does not write
      std::size_t left = in.size();
      std::string buf(64 * 1024, '\0');
      bool flushed = false;
      while (!flushed) {
        char* dst = buf.data();
        std::size_t room = buf.size();
        // With no input left, one more call returns a stateful charset to its initial state.
        std::size_t r = left ? iconv(cd, &src, &left, &dst, &room) : iconv(cd, nullptr, nullptr, &dst, &room);
        int err = errno;
        out.append(buf.data(), static_cast<std::size_t>(dst - buf.data()));
        if (r != static_cast<std::size_t>(-1)) {
          flushed = left == 0 && dst == buf.data();
          continue;
        }
        if (err == E2BIG) continue;
        if (left == 0) break;   // the final reset failed: nothing left to convert
        out += "\xEF\xBF\xBD";  // EILSEQ (invalid) or EINVAL (incomplete at the end)
        ++bad;
        if (err != EILSEQ || left <= 1) {
          left = 0;
          continue;
        }
        ++src;
        --left;
      }
      g_mime_iconv_close(cd);
      if (bad) problems.add(MimeProblem::BadCharset, cs);
      out = repair_utf8(out);  // iconv's output is UTF-8 already; this is belt and braces
    }
  }
  if (out.find('\0') != std::string::npos) {
    problems.add(MimeProblem::NulBytes, "NUL in text");
    out = without_nul(out);
  }
  return out;
}

std::string crlf_to_lf(std::string s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\r' && i + 1 < s.size() && s[i + 1] == '\n') continue;
    out += s[i];
  }
  return out;
}

// The part's bytes before charset conversion (MimeTextPart::bytes), kept only
// where the conversion changed them.
void keep_bytes(MimeTextPart& tp, std::string_view raw) {
  std::string lf = crlf_to_lf(std::string(raw));
  if (lf != tp.decoded) tp.bytes = std::move(lf);
}

class Walker {
 public:
  Walker(const MimeLimits& limits, Problems& problems, MimeView& view)
      : limits_(limits), problems_(problems), view_(view), decoded_left_(limits.max_decoded_bytes),
        html_left_(limits.max_html_text_bytes) {}

  // The one place that enforces max_depth and max_parts.
  void walk(GMimeObject* obj, std::size_t depth) {
    if (!obj || stopped_) return;
    if (depth > limits_.max_depth) {
      problems_.add(MimeProblem::TooDeep, "deeper than " + std::to_string(limits_.max_depth));
      return;
    }
    if (view_.part_count >= limits_.max_parts) {
      problems_.add(MimeProblem::TooManyParts, "more than " + std::to_string(limits_.max_parts));
      stopped_ = true;
      return;
    }
    ++view_.part_count;
    view_.max_depth = std::max(view_.max_depth, depth);
    if (GMIME_IS_MESSAGE_PART(obj)) {
      GMimeMessage* inner = g_mime_message_part_get_message(GMIME_MESSAGE_PART(obj));
      if (inner) walk(g_mime_message_get_mime_part(inner), depth + 1);
    } else if (GMIME_IS_MULTIPART(obj)) {
      GMimeMultipart* mp = GMIME_MULTIPART(obj);
      int n = g_mime_multipart_get_count(mp);
      const char* boundary = g_mime_object_get_content_type_parameter(obj, "boundary");
      if (n == 0 && boundary && *boundary) problems_.add(MimeProblem::MissingBoundary, boundary);
      // GMime marks a multipart whose close-delimiter it found (gmime-multipart.h).
      if (n > 0 && !mp->write_end_boundary) problems_.add(MimeProblem::MissingFinalBoundary, boundary ? boundary : "");
      for (int i = 0; i < n && !stopped_; ++i) walk(g_mime_multipart_get_part(mp, i), depth + 1);
    } else if (GMIME_IS_PART(obj)) {
      leaf(GMIME_PART(obj), depth);
    }
  }

  // Plain text of a message GMime could not parse at all.
  void fallback_body(std::string_view body) {
    MimeTextPart tp;
    tp.content_type = "text/plain";
    tp.leaf = view_.leaf_count++;
    std::size_t n = std::min(body.size(), decoded_left_);
    if (n < body.size()) problems_.add(MimeProblem::TooBig, "message body");
    decoded_left_ -= n;
    tp.decoded = crlf_to_lf(to_utf8(body.substr(0, n), "", problems_));
    keep_bytes(tp, body.substr(0, n));
    tp.rendered = tp.decoded;
    find_urls(tp.decoded, urls_);
    view_.text_parts.push_back(std::move(tp));
  }

  std::vector<std::string>& urls() { return urls_; }
  std::vector<std::string>& links() { return links_; }

 private:
  void leaf(GMimePart* part, std::size_t depth) {
    GMimeObject* obj = GMIME_OBJECT(part);
    std::string type = "text/plain";
    if (GMimeContentType* ct = g_mime_object_get_content_type(obj)) {
      GChars mt(g_mime_content_type_get_mime_type(ct));
      if (mt) type = lower_trim(mt.get());
    }
    std::string disposition;
    if (GMimeContentDisposition* cd = g_mime_object_get_content_disposition(obj)) {
      if (const char* d = g_mime_content_disposition_get_disposition(cd)) disposition = lower_trim(d);
    }
    const char* fname = g_mime_part_get_filename(part);
    std::string filename = fname ? repair_utf8(without_nul(fname)) : std::string();
    std::string cte;
    if (const char* h = g_mime_object_get_header(obj, "Content-Transfer-Encoding")) {
      cte = lower_trim(h);
      if (g_mime_content_encoding_from_string(cte.c_str()) == GMIME_CONTENT_ENCODING_DEFAULT)
        problems_.add(MimeProblem::UnknownEncoding, cte);
    }
    bool text = type.rfind("text/", 0) == 0;
    bool attachment = disposition == "attachment" || !filename.empty() || !text;
    const std::size_t leaf_index = view_.leaf_count++;

    std::size_t size = 0;
    if (text) {
      MimeTextPart tp;
      tp.content_type = type;
      const char* cs = g_mime_object_get_content_type_parameter(obj, "charset");
      tp.charset = cs ? repair_utf8(cs) : std::string();
      tp.transfer_encoding = cte;
      tp.depth = depth;
      tp.leaf = leaf_index;
      tp.html = type == "text/html";
      std::string bytes;
      size = decode(part, &bytes);
      tp.decoded = crlf_to_lf(to_utf8(bytes, tp.charset, problems_));
      keep_bytes(tp, bytes);
      if (tp.html) {
        bool truncated = false;
        tp.rendered = render_html(tp.decoded, html_left_, &truncated, &urls_, &links_);
        html_left_ -= std::min(html_left_, tp.rendered.size());
        if (truncated) problems_.add(MimeProblem::HtmlTooBig, "more than " + std::to_string(limits_.max_html_text_bytes));
      } else {
        tp.rendered = tp.decoded;
        find_urls(tp.decoded, urls_);
      }
      view_.text_parts.push_back(std::move(tp));
    } else {
      size = decode(part, nullptr);
    }
    if (attachment) view_.attachments.push_back({filename, type, disposition, size});
  }

  // Transfer-decodes the part's content and returns its decoded size. With `out`,
  // keeps the bytes, and this is the one place that enforces max_decoded_bytes:
  // once the budget is spent, text is truncated and later text parts stay empty.
  // Without `out` (attachments) only counts, in fixed-size chunks.
  std::size_t decode(GMimePart* part, std::string* out) {
    GMimeDataWrapper* dw = g_mime_part_get_content(part);
    GMimeStream* s = dw ? g_mime_data_wrapper_get_stream(dw) : nullptr;
    if (!s) return 0;
    if (out && decoded_left_ == 0) {
      problems_.add(MimeProblem::TooBig, "decoded text over " + std::to_string(limits_.max_decoded_bytes));
      return 0;
    }
    GMimeContentEncoding enc = g_mime_data_wrapper_get_encoding(dw);
    bool transform = enc == GMIME_CONTENT_ENCODING_BASE64 || enc == GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE ||
                     enc == GMIME_CONTENT_ENCODING_UUENCODE;
    GMimeEncoding state;
    g_mime_encoding_init_decode(&state, enc);
    EncodingChecker checker(enc);
    std::vector<char> in(64 * 1024);
    std::vector<char> dec;
    std::size_t total = 0;
    bool done = false;
    auto take = [&](const char* p, std::size_t n) {
      total += n;
      if (!out) return;
      std::size_t keep = std::min(n, decoded_left_);
      out->append(p, keep);
      decoded_left_ -= keep;
      if (keep < n) {
        problems_.add(MimeProblem::TooBig, "decoded text over " + std::to_string(limits_.max_decoded_bytes));
        done = true;
      }
    };
    if (g_mime_stream_reset(s) != 0) return 0;
    while (!done) {
      ssize_t n = g_mime_stream_read(s, in.data(), in.size());
      if (n <= 0) break;
      auto len = static_cast<std::size_t>(n);
      checker.feed(in.data(), len);
      if (transform) {
        dec.resize(g_mime_encoding_outlen(&state, len));
        take(dec.data(), g_mime_encoding_step(&state, in.data(), len, dec.data()));
      } else {
        take(in.data(), len);
      }
    }
    if (transform && !done) {
      char dummy = 0;
      dec.resize(g_mime_encoding_outlen(&state, 0) + 16);
      take(dec.data(), g_mime_encoding_flush(&state, &dummy, 0, dec.data()));
    }
    std::string why;
    if (!done && checker.finish(why))
      problems_.add(enc == GMIME_CONTENT_ENCODING_BASE64 ? MimeProblem::BadBase64 : MimeProblem::BadQp, why);
    return total;
  }

  const MimeLimits& limits_;
  Problems& problems_;
  MimeView& view_;
  std::size_t decoded_left_;
  std::size_t html_left_;
  bool stopped_ = false;
  std::vector<std::string> urls_;
  std::vector<std::string> links_;  // HTML attribute URLs alone
};

// An unfolded value as valid UTF-8: encoded words decoded where the field has them
// (with the parse's options, so that a malformed one is recorded as
// MIME_BAD_RFC2047); raw 8-bit text kept if it is UTF-8, else read as Windows-1252
// (GMime's fallback charsets; SpamAssassin's _normalize guesses likewise).
std::string decode_value(GMimeParserOptions* opts, const std::string& v, bool words);

// GMime joins the bytes of adjacent encoded words of one charset before converting
// them, which a stateful charset does not survive: "=?iso-2022-jp?B?...?=
// =?iso-2022-jp?B?...?=" stops after the first word. SpamAssassin (Perl's Encode)
// decodes each word on its own; so do we for these charsets, dropping the white
// space between adjacent words as RFC 2047 6.2 says.
std::string decode_words_one_by_one(GMimeParserOptions* opts, const std::string& v) {
  std::string out;
  std::size_t i = 0;
  bool last_was_word = false;
  while (i < v.size()) {
    std::size_t start = v.find("=?", i);
    std::size_t q1 = start == std::string::npos ? start : v.find('?', start + 2);
    std::size_t q2 = q1 == std::string::npos ? q1 : v.find('?', q1 + 1);
    std::size_t end = q2 == std::string::npos ? q2 : v.find("?=", q2 + 1);
    if (end == std::string::npos) {
      out += decode_value(opts, v.substr(i), false);
      break;
    }
    std::string between = v.substr(i, start - i);
    bool blank = between.find_first_not_of(" \t\r\n") == std::string::npos;
    if (!(last_was_word && blank)) out += decode_value(opts, between, false);
    GChars d(g_mime_utils_header_decode_text(opts, v.substr(start, end + 2 - start).c_str()));
    out += repair_utf8(d ? std::string_view(d.get()) : std::string_view());
    last_was_word = true;
    i = end + 2;
  }
  return out;
}

std::string decode_value(GMimeParserOptions* opts, const std::string& v, bool words) {
  if (words) {
    if (lower(v).find("=?iso-2022-") != std::string::npos) return decode_words_one_by_one(opts, v);
    GChars d(g_mime_utils_header_decode_text(opts, v.c_str()));
    return repair_utf8(d && (*d.get() || v.empty()) ? std::string_view(d.get()) : std::string_view(v));
  }
  return is_valid_utf8(v) ? v : cp1252_to_utf8(v);
}

void decode_headers(const Message& msg, GMimeParserOptions* opts, MimeView& view) {
  for (const auto& f : msg.headers()) {
    std::string v = without_nul(unfold_header_value(f.value));
    view.headers.push_back({f.name, f.value, decode_value(opts, v, header_has_encoded_words(f.name))});
  }
}

}  // namespace

MimeView parse_mime(const Message& msg, const MimeLimits& limits) {
  init_gmime_once();
  MimeView view;
  Problems problems;
  std::unique_ptr<GMimeParserOptions, OptionsFree> opts(g_mime_parser_options_new());
  g_mime_parser_options_set_warning_callback(opts.get(), on_parser_warning, &problems);
  // Undeclared 8-bit header text: UTF-8 if it is valid, else windows-1252.
  const char* fallback[] = {"UTF-8", "windows-1252", nullptr};
  g_mime_parser_options_set_fallback_charsets(opts.get(), fallback);

  decode_headers(msg, opts.get(), view);

  GPtr<GMimeStream> stream(g_mime_stream_mem_new_with_buffer(msg.data().data(), msg.data().size()));
  GPtr<GMimeParser> parser(g_mime_parser_new_with_stream(stream.get()));
  g_mime_parser_set_format(parser.get(), GMIME_FORMAT_MESSAGE);
  GPtr<GMimeMessage> gm(g_mime_parser_construct_message(parser.get(), opts.get()));

  Walker walker(limits, problems, view);
  if (!gm) {
    problems.add(MimeProblem::Unparsable, "GMime built no message");
    walker.fallback_body(msg.body());
  } else {
    walker.walk(g_mime_message_get_mime_part(gm.get()), 0);
  }

  std::unordered_set<std::string> seen;
  for (auto& u : walker.urls())
    if (seen.insert(u).second) view.urls.push_back(std::move(u));
  seen.clear();
  for (auto& u : walker.links())
    if (seen.insert(u).second) view.html_links.push_back(std::move(u));

  std::string subject = view.subject();
  if (!subject.empty()) view.body_text = subject + "\n";
  for (std::size_t i = 0; i < view.text_parts.size(); ++i) {
    if (i) {
      view.body_text += '\n';
      view.rawbody += '\n';
    }
    view.body_text += view.text_parts[i].rendered;
    view.rawbody += view.text_parts[i].decoded;
  }
  // Warnings from header decoding after the walk would land here too; the options
  // (and their pointer to `problems`) die with this call.
  view.problems = problems.take();
  return view;
}

std::string unfold_header_value(std::string_view raw) {
  std::string v;
  v.reserve(raw.size());
  for (std::size_t i = 0; i < raw.size(); ++i) {
    char c = raw[i];
    if (c == '\r' && i + 1 < raw.size() && raw[i + 1] == '\n') continue;
    if (c == '\n') {
      if (i + 1 < raw.size() && (raw[i + 1] == ' ' || raw[i + 1] == '\t')) {
        v += ' ';
        while (i + 1 < raw.size() && (raw[i + 1] == ' ' || raw[i + 1] == '\t')) ++i;
      }
      continue;
    }
    v += c;
  }
  std::string_view t = trim(v);
  std::string out;
  out.reserve(t.size());
  for (char c : t)
    if (c != '\r') out += c;
  return out;
}

bool header_has_encoded_words(std::string_view name) {
  static constexpr std::string_view kVerbatim[] = {"received",    "message-id",   "resent-message-id", "date",
                                                   "resent-date", "mime-version", "references",        "in-reply-to"};
  std::string n = lower(trim(name));
  if (n.starts_with("list-")) return false;
  return std::find(std::begin(kVerbatim), std::end(kVerbatim), n) == std::end(kVerbatim);
}

std::string decode_header_value(std::string_view raw, std::string_view name) {
  init_gmime_once();
  std::string v = without_nul(unfold_header_value(raw));
  return decode_value(nullptr, v, header_has_encoded_words(name));
}

}  // namespace mxgate
