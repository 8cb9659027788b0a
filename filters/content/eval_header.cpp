// SpamAssassin's HeaderEval plugin (Plugin/HeaderEval.pm of 4.0.1): tests on the
// header section that a regex rule cannot express (dates compared with each other,
// recipient lists, counts, ratios of 8-bit bytes, Outlook's Message-ID clock).
//
// SpamAssassin's functions read headers through PerMsgStatus::get(), whose quirks
// decide what hits, so they are reproduced here (SaHeaders below):
//   - get('X') joins every X field's value, each followed by "\n";
//   - values are unfolded and MIME-decoded, except Received, Date, Message-ID,
//     MIME-Version, References, In-Reply-To and List-* (kept as written);
//   - get('X:addr') in scalar context is the first address of the X fields;
//   - get('X:raw') is the fields as written (folding kept), each ending in "\n".
// Their regexes run on those strings through PCRE2 (Perl's syntax and semantics)
// rather than hand-written matchers, so that backtracking and anchors behave as in
// Perl; every match is bounded (match and depth limits).
//
// Where we differ from SpamAssassin:
// - The receiving MTA's Received field: while a live SMTP transaction is scanned
//   (the envelope has a MAIL FROM), the message does not yet carry the field the MTA
//   behind us will add, which SpamAssassin, running behind that MTA, always sees on
//   top. Its functions depend on it (the Date is compared with its time, now; a
//   message without Received fields counts as gated through a Received remover;
//   the client's HELO is checked for hotmail.com), so a field in Postfix's form,
//   "from HELO (NAME [IP]) by mxgate with ESMTP; <now>", is read as the topmost
//   Received field (mta_received). check_illegal_chars('ALL') reads the header
//   section as received, without it. A stored message (mxgate check, the corpus)
//   is read as SpamAssassin reads a file: only its own Received fields, and no
//   date difference when none has a date.
// - EnvelopeFrom: the MAIL FROM of the transaction when there is one; otherwise the
//   headers SpamAssassin falls back on (X-Envelope-From, Envelope-Sender,
//   Return-Path). SpamAssassin first tries the envelope sender its relay analysis
//   finds in the Received fields; that step is not reproduced.
// - Header values are MIME-decoded by GMime (mime.cpp), not by SpamAssassin's own
//   decoder; they differ only on malformed encoded-words and undeclared 8-bit text.
// - check_for_faraway_charset_in_headers follows the default ok_locales ("all"),
//   with which SpamAssassin never fires it; an ok_locales setting is not read.
// - The IPv6 part of SpamAssassin's IP_ADDRESS pattern (the webmail tests) is a
//   simpler "hex groups with colons" pattern; IPv4 is matched exactly as there.
// - check_for_forged_yahoo_received_headers: SpamAssassin's exemption for relays
//   with a yahoo.com reverse name comes from its relay analysis; see yahoo_relay().
//
// Not here: check_ratware_envelope_from (needs SpamAssassin's registry
// boundaries, its list of two- and three-level public suffixes),
// received_within_months and check_for_forged_gw05_received_headers (no stock rule
// with a score uses them), check_for_unique_subject_id (always 0 in 4.0).
// check_msg_parse_flags is MIMEEval's; check_fromname_equals_* belong to the
// FromNameSpoof plugin, which SpamAssassin does not load by default.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "base/text.hpp"
#include "filters/content/eval_tests.hpp"
#include "filters/content/relays.hpp"
#include "filters/mime/mime_text.hpp"

namespace mxgate {
namespace {

// ---------------------------------------------------------------------------
// Perl-compatible regexes (EvalRegex, byte mode as SpamAssassin's octet strings),
// with PCRE2 options from pcre2.h.
class Re {
 public:
  explicit Re(std::string_view pattern, uint32_t opts = 0) : re_(EvalRegex::compile(pattern, opts)) {}
  bool ok() const { return re_ != nullptr; }
  // Searches `s` from `start`; on a match fills `groups` (0 = whole match, unset
  // groups empty) when given.
  bool search(std::string_view s, std::vector<std::string_view>* groups = nullptr, std::size_t start = 0) const {
    return re_ && re_->search(s, groups, start);
  }

 private:
  std::shared_ptr<const EvalRegex> re_;
};

// Perl's \Q...\E: text to match literally inside a pattern.
std::string quote_meta(std::string_view s) {
  std::string out;
  out.reserve(s.size() * 2);
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x{%02x}", u);
      out += buf;
    } else if (u < 0x80 && !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_')) {
      out += '\\';
      out += c;
    } else {
      out += c;
    }
  }
  return out;
}

constexpr uint32_t kI = PCRE2_CASELESS;

// Perl's \s (space, \t, \n, \v, \f, \r).
bool perl_space(char c) { return is_space(c); }

// ---------------------------------------------------------------------------
// The header fields as SpamAssassin's get() reads them.

struct SaField {
  std::string name;      // as written, white space before the colon dropped
  std::string_view raw;  // after the colon, as written (CRLF folds kept)
  std::string value;     // SpamAssassin's decoded value: unfolded, trimmed
};

// Fields SpamAssassin never MIME-decodes (Message/Node.pm, bugs 6945 and 7249).
bool kept_as_written(std::string_view name) {
  static const char* const kNames[] = {"received",   "message-id",  "resent-message-id", "date",
                                       "resent-date", "mime-version", "references",        "in-reply-to"};
  for (const char* n : kNames)
    if (iequals(name, n)) return true;
  return istarts_with(name, "list-");
}

// SpamAssassin's unfolding: a line break and the blanks after it become one
// space, outer white space is trimmed, any other line break is dropped.
std::string unfold(std::string_view raw) {
  std::string out;
  out.reserve(raw.size());
  for (std::size_t i = 0; i < raw.size(); ++i) {
    const char c = raw[i];
    std::size_t nl = std::string_view::npos;
    if (c == '\n') nl = i;
    else if (c == '\r' && i + 1 < raw.size() && raw[i + 1] == '\n') nl = i + 1;
    if (nl == std::string_view::npos) {
      out += c;
      continue;
    }
    std::size_t j = nl + 1;
    if (j < raw.size() && is_wsp(raw[j])) {
      while (j < raw.size() && is_wsp(raw[j])) ++j;
      out += ' ';
    }
    i = j - 1;
  }
  std::string_view t = out;
  while (!t.empty() && perl_space(t.front())) t.remove_prefix(1);
  while (!t.empty() && perl_space(t.back())) t.remove_suffix(1);
  return std::string(t);
}

// CRLF line ends read as LF, as SpamAssassin reads a message.
using mime_detail::crlf_to_lf;

struct SaHeaders {
  std::vector<SaField> fields;
  std::unique_ptr<std::string> synthetic;  // the receiving MTA's Received field (live only)

  // get('Name'): every value + "\n", joined; nullopt when there is no such field.
  std::optional<std::string> get(std::string_view name) const {
    std::optional<std::string> out;
    for (const auto& f : fields) {
      if (!iequals(f.name, name)) continue;
      if (!out) out.emplace();
      *out += f.value;
      *out += '\n';
    }
    return out;
  }
  // get('Name') with SpamAssassin's default: "" when absent.
  std::string str(std::string_view name) const { return get(name).value_or(std::string()); }
  // get('Name:raw'): as written with LF line ends, each ending in "\n".
  std::optional<std::string> raw(std::string_view name) const {
    std::optional<std::string> out;
    for (const auto& f : fields) {
      if (!iequals(f.name, name)) continue;
      if (!out) out.emplace();
      *out += crlf_to_lf(f.raw);
      *out += '\n';
    }
    return out;
  }
  std::vector<const SaField*> all(std::string_view name) const {
    std::vector<const SaField*> out;
    for (const auto& f : fields)
      if (iequals(f.name, name)) out.push_back(&f);
    return out;
  }
  // get('Name:addr'): every address of every such field, in order.
  std::vector<std::string> addrs(std::string_view name) const {
    std::vector<std::string> out;
    for (const auto& f : fields)
      if (iequals(f.name, name))
        for (auto& a : addresses_in(f.raw)) out.push_back(std::move(a));
    return out;
  }
  // get('Name:addr') in scalar context: the first of them, or "".
  std::string addr(std::string_view name) const {
    for (const auto& f : fields)
      if (iequals(f.name, name))
        if (auto a = addresses_in(f.raw); !a.empty()) return a.front();
    return {};
  }
  // get('MESSAGEID'): the four Message-ID fields SpamAssassin reads, in its order.
  std::string message_ids() const {
    std::string out;
    for (const char* n : {"X-Message-Id", "Resent-Message-Id", "X-Original-Message-ID", "Message-Id"})
      out += str(n);
    return out;
  }
  // Position of the first field with this name, or npos.
  std::size_t first_index(std::string_view name) const {
    for (std::size_t i = 0; i < fields.size(); ++i)
      if (iequals(fields[i].name, name)) return i;
    return std::string_view::npos;
  }
};

std::string rfc5322_now() {
  using namespace std::chrono;
  const int64_t t = duration_cast<seconds>(system_clock::now().time_since_epoch()).count();
  const year_month_day ymd{sys_days{days{t / 86400}}};
  const weekday wd{sys_days{days{t / 86400}}};
  static const char* const kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static const char* const kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const int64_t sec = t % 86400;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s, %u %s %d %02d:%02d:%02d +0000", kDays[wd.c_encoding()],
                static_cast<unsigned>(ymd.day()), kMonths[static_cast<unsigned>(ymd.month()) - 1],
                static_cast<int>(ymd.year()), static_cast<int>(sec / 3600), static_cast<int>(sec / 60 % 60),
                static_cast<int>(sec % 60));
  return buf;
}

// The Received field the MTA behind us will add, which SpamAssassin running behind
// that MTA always sees on top (Postfix's form): its date is now, and it names the
// client as the first untrusted hop.
std::string mta_received(const Envelope& env) {
  const std::string helo = env.client.helo.empty() ? env.client.name : env.client.helo;
  return " from " + helo + " (" + env.client.name + " [" + env.client.ip + "])\r\n\tby mxgate with " +
         (env.client.esmtp ? "ESMTP" : "SMTP") + "; " + rfc5322_now();
}

const SaHeaders& sa_headers(EvalContext& ctx) {
  return ctx.fact<SaHeaders>([&] {
    SaHeaders h;
    auto add = [&](std::string_view name, std::string_view raw, const std::string* decoded) {
      while (!name.empty() && is_wsp(name.back())) name.remove_suffix(1);
      SaField f{std::string(name), raw, {}};
      f.value = decoded && !kept_as_written(name) ? *decoded : unfold(raw);
      h.fields.push_back(std::move(f));
    };
    // In a live transaction (a connected client) the receiving MTA's own Received
    // field is what SpamAssassin would see on top; a stored message has none.
    if (ctx.env.mail_from && !ctx.env.client.ip.empty()) {
      h.synthetic = std::make_unique<std::string>(mta_received(ctx.env));
      add("Received", *h.synthetic, nullptr);
    }
    for (const auto& m : ctx.view.headers) add(m.name, m.raw, &m.decoded);
    if (ctx.view.headers.empty())  // GMime built nothing: Message's own split
      for (const auto& m : ctx.msg.headers()) add(m.name, m.value, nullptr);
    return h;
  });
}

// SpamAssassin's get('EnvelopeFrom') (relays.hpp: envelope_sender).
std::optional<std::string> envelope_from(EvalContext& ctx) {
  return envelope_sender(&relay_path(ctx), ctx.view, ctx.msg, ctx.env);
}

// get('EnvelopeFrom:addr') in scalar context.
std::string envelope_from_addr(EvalContext& ctx) {
  auto e = envelope_from(ctx);
  if (!e) return {};
  auto a = addresses_in(*e);
  return a.empty() ? std::string() : a.front();
}

// ---------------------------------------------------------------------------
// Dates, as Util::parse_rfc822_date reads them: tolerant of most forms seen in
// mail, always UTC arithmetic, never the process's time zone or locale.

int64_t days_from_civil(int64_t y, int m, int d) {  // proleptic Gregorian, 1970-01-01 = 0
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Digits to a number, saturating (Perl reads "0099" as 99 and huge ones as huge).
int64_t digits_value(std::string_view s) {
  int64_t v = 0;
  for (char c : s) {
    if (v > 1'000'000'000) return std::numeric_limits<int32_t>::max();
    v = v * 10 + (c - '0');
  }
  return v;
}

int month_number(std::string_view s) {
  static const char* const kMonths[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                        "jul", "aug", "sep", "oct", "nov", "dec"};
  if (s.size() != 3) return 0;
  for (int i = 0; i < 12; ++i)
    if (iequals(s, kMonths[i])) return i + 1;
  return 0;
}

// SpamAssassin's named zones (Util.pm %TZ), as minutes east of UTC.
std::optional<int> zone_minutes(std::string_view z) {
  static const std::pair<const char*, int> kZones[] = {
      {"UT", 0},       {"UTC", 0},      {"NDT", -150},   {"AST", -240},   {"ADT", -180},   {"NST", -210},
      {"EST", -300},   {"EDT", -240},   {"CST", -360},   {"CDT", -300},   {"MST", -420},   {"MDT", -360},
      {"PST", -480},   {"PDT", -420},   {"HST", -600},   {"AKST", -540},  {"AKDT", -480},  {"HADT", -540},
      {"HAST", -600},  {"GMT", 0},      {"BST", 60},     {"IST", 60},     {"WET", 0},      {"WEST", 60},
      {"CET", 60},     {"CEST", 120},   {"EET", 120},    {"EEST", 180},   {"MSK", 180},    {"MSD", 240},
      {"MET", 60},     {"MEZ", 60},     {"MEST", 120},   {"MESZ", 120},   {"BRST", -120},  {"BRT", -180},
      {"AEST", 600},   {"AEDT", 660},   {"ACST", 570},   {"ACDT", 630},   {"AWST", 480},   {"NZST", 720},
      {"NZDT", 780},   {"JST", 540},    {"KST", 540},    {"HKT", 480},    {"SGT", 480},    {"PHT", 480},
      {"IDT", 180}};
  for (const auto& [name, minutes] : kZones)
    if (z == name) return minutes;
  return std::nullopt;
}

bool word_char(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

// The first `\b[A-Z]{2,4}(?:-DST)?\b` of s, or "".
std::string_view first_zone_word(std::string_view s) {
  for (std::size_t p = 0; p < s.size(); ++p) {
    if (!(s[p] >= 'A' && s[p] <= 'Z') || (p > 0 && word_char(s[p - 1]))) continue;
    std::size_t e = p;
    while (e < s.size() && s[e] >= 'A' && s[e] <= 'Z') ++e;
    const std::size_t len = e - p;
    if (len < 2 || len > 4) continue;
    if (s.substr(e, 4) == "-DST" && (e + 4 == s.size() || !word_char(s[e + 4]))) return s.substr(p, len + 4);
    if (e == s.size() || !word_char(s[e])) return s.substr(p, len);
  }
  return {};
}

// Util::parse_rfc822_date: seconds since the epoch, or nullopt.
std::optional<int64_t> parse_rfc822_date(std::string_view date) {
  // Linear in the text; check_outlook_message_id hands it all the Received text,
  // so the bound is generous (a header section is far smaller).
  constexpr std::size_t kMaxDateText = 1 << 20;
  if (date.size() > kMaxDateText) date = date.substr(0, kMaxDateText);
  // Commas count as blanks, runs of white space as one: then every piece the
  // parser looks for is a run of blank-separated tokens.
  std::vector<std::string_view> tok;
  for (std::size_t i = 0; i < date.size();) {
    while (i < date.size() && (perl_space(date[i]) || date[i] == ',')) ++i;
    std::size_t j = i;
    while (j < date.size() && !perl_space(date[j]) && date[j] != ',') ++j;
    if (j > i) tok.push_back(date.substr(i, j - i));
    i = j;
  }
  auto erase = [&](std::size_t i, std::size_t n) { tok.erase(tok.begin() + i, tok.begin() + i + n); };

  int64_t dd = 0, yyyy = 0, hh = 0, mi = 0, ss = 0;
  int mon = 0;
  std::size_t ylen = 4;
  bool found = false;
  // "5 Jan 2004" first, then asctime's "Jan 5 10:00:00 2004" (its time is taken
  // with the date and so not read again: SpamAssassin dates those at midnight),
  // then two- and three-digit years.
  for (std::size_t i = 0; !found && i + 3 <= tok.size(); ++i)
    if (all_digits(tok[i]) && month_number(tok[i + 1]) && tok[i + 2].size() == 4 && all_digits(tok[i + 2])) {
      dd = digits_value(tok[i]), mon = month_number(tok[i + 1]), yyyy = digits_value(tok[i + 2]);
      erase(i, 3), found = true;
    }
  for (std::size_t i = 0; !found && i + 4 <= tok.size(); ++i) {
    if (!month_number(tok[i]) || !all_digits(tok[i + 1]) || tok[i + 3].size() != 4 || !all_digits(tok[i + 3]))
      continue;
    std::string_view t = tok[i + 2];
    std::size_t c1 = t.find(':'), c2 = c1 == std::string_view::npos ? c1 : t.find(':', c1 + 1);
    if (c2 == std::string_view::npos || !all_digits(t.substr(0, c1)) || !all_digits(t.substr(c1 + 1, c2 - c1 - 1)) ||
        !all_digits(t.substr(c2 + 1)))
      continue;
    dd = digits_value(tok[i + 1]), mon = month_number(tok[i]), yyyy = digits_value(tok[i + 3]);
    erase(i, 4), found = true;
  }
  for (std::size_t i = 0; !found && i + 3 <= tok.size(); ++i)
    if (all_digits(tok[i]) && month_number(tok[i + 1]) && (tok[i + 2].size() == 2 || tok[i + 2].size() == 3) &&
        all_digits(tok[i + 2])) {
      dd = digits_value(tok[i]), mon = month_number(tok[i + 1]), yyyy = digits_value(tok[i + 2]);
      ylen = tok[i + 2].size();
      erase(i, 3), found = true;
    }
  if (!found) return std::nullopt;
  if (ylen == 2 && yyyy < 50) yyyy += 2000;
  else if (ylen != 4) yyyy += 1900;

  // hh:mm or hh:mm:ss, the hour one or two digits.
  for (std::size_t i = 0; i < tok.size(); ++i) {
    std::string_view t = tok[i];
    std::size_t c = t.find(':');
    if (c == std::string_view::npos || c < 1 || c > 2 || !all_digits(t.substr(0, c))) continue;
    std::string_view rest = t.substr(c + 1);
    if (rest.size() != 2 && !(rest.size() == 5 && rest[2] == ':')) continue;
    if (!all_digits(rest.substr(0, 2)) || (rest.size() == 5 && !all_digits(rest.substr(3)))) continue;
    hh = digits_value(t.substr(0, c)), mi = digits_value(rest.substr(0, 2));
    ss = rest.size() == 5 ? digits_value(rest.substr(3)) : 0;
    erase(i, 1);
    break;
  }

  // Zone: "+hhmm" / "-hhmm", else the first capitalised word if it is a known
  // abbreviation; anything else is UTC.
  int64_t zone_sign = -1, zone_secs = 0;
  bool numeric = false;
  for (std::size_t i = 0; i < tok.size(); ++i) {
    std::string_view t = tok[i];
    if (t.size() == 5 && (t[0] == '+' || t[0] == '-') && all_digits(t.substr(1))) {
      zone_sign = t[0] == '+' ? 1 : -1;
      zone_secs = (digits_value(t.substr(1, 2)) * 60 + digits_value(t.substr(3, 2))) * 60;
      erase(i, 1);
      numeric = true;
      break;
    }
  }
  if (!numeric) {
    std::string rest;
    for (auto t : tok) {
      rest += ' ';
      rest += t;
    }
    rest += ' ';
    if (auto z = zone_minutes(first_zone_word(rest))) {
      zone_sign = *z >= 0 ? 1 : -1;
      zone_secs = static_cast<int64_t>(std::abs(*z)) * 60;
      // SpamAssassin keeps "+0000" for UT/GMT; both signs of zero are the same.
    }
  }

  // Out-of-range fields are pulled back into range rather than rejected.
  ss = std::min<int64_t>(ss, 59);
  mi = std::min<int64_t>(mi, 59);
  hh = std::min<int64_t>(hh, 23);
  auto days_in = [](int m, int64_t y) {
    if (m == 4 || m == 6 || m == 9 || m == 11) return 30;
    if (m == 2) return (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)) ? 29 : 28;
    return 31;
  };
  if (dd > days_in(mon, yyyy)) {
    dd = 1;
    if (++mon > 12) mon = 1, ++yyyy;
  }
  yyyy = std::clamp<int64_t>(yyyy, 1970, 2037);  // SpamAssassin's 32-bit time_t range
  // Time::Local refuses day 0, and 29 February of a year the clamp made common.
  if (dd < 1 || dd > days_in(mon, yyyy)) return std::nullopt;
  int64_t t = days_from_civil(yyyy, mon, static_cast<int>(dd)) * 86400 + hh * 3600 + mi * 60 + ss;
  if (zone_sign < 0) t += zone_secs;
  else t = t < zone_secs ? 0 : t - zone_secs;
  return t;
}

// ---------------------------------------------------------------------------
// check_for_shifted_date: the Date field against the Received times.

struct DateFacts {
  std::optional<int64_t> date;    // Resent-Date, else Date
  std::vector<int64_t> received;  // Received times, topmost first
  int64_t diff = 0;               // SpamAssassin's date_diff: Date minus the closest Received time
};

// The date a Received field ends with ("...; Sat, 15 Jun 2002 23:37:16 -0000"):
// SpamAssassin's pattern picks "15 Jun 2002 23:37:16 -0000" out of the text.
const Re& received_date_re() {
  static const Re re(R"((\s.?\d+ \S\S\S \d+ \d+:\d+:\d+ \S+))");
  return re;
}

std::optional<int64_t> received_time(std::string_view line) {
  std::vector<std::string_view> g;
  if (!received_date_re().search(line, &g)) return std::nullopt;
  return parse_rfc822_date(g[1]);
}

DateFacts date_facts(EvalContext& ctx) {
  const SaHeaders& h = sa_headers(ctx);
  DateFacts f;
  for (const char* name : {"Resent-Date", "Date"}) {
    for (const auto* field : h.all(name))
      if ((f.date = parse_rfc822_date(field->value))) break;
    if (f.date) break;
  }

  std::vector<std::string_view> rcvd;
  for (const auto* field : h.all("Received"))
    if (std::any_of(field->value.begin(), field->value.end(), [](char c) { return !perl_space(c); }))
      rcvd.push_back(field->value);
  // Fetchmail's pair on top (a hop from localhost, then "by localhost ... fetchmail")
  // records the download, not the delivery: SpamAssassin leaves both out.
  static const Re local_re(R"(\bfrom (?:localhost\s|(?:\S+ ){1,2}\S*\b127\.0\.0\.1\b))");
  static const Re qmail_re(R"(qmail \d+ invoked by uid \d+)");
  static const Re fetchmail_re(R"(\bby localhost with \w+ \(fetchmail-[\d.]+)");
  std::size_t skip = 0;
  if (!rcvd.empty()) {
    const bool local = local_re.search(rcvd[0]) || qmail_re.search(rcvd[0]);
    if (local) skip = rcvd.size() > 1 && fetchmail_re.search(rcvd[1]) ? 2 : 0;
    else skip = fetchmail_re.search(rcvd[0]) ? 1 : 0;
  }
  for (std::size_t i = skip; i < rcvd.size(); ++i)
    if (auto t = received_time(rcvd[i])) f.received.push_back(*t);

  if (!f.date || f.received.empty()) return f;  // no Date (other rules), or archived mail
  std::vector<int64_t> diffs;
  for (int64_t r : f.received) diffs.push_back(*f.date - r);
  // The bottom Received agreeing exactly with Date is the sender's own clock.
  if (diffs.size() > 1 && diffs.back() == 0) diffs.pop_back();
  // The smallest difference wins; on a tie the topmost (Perl's sort is stable).
  f.diff = *std::min_element(diffs.begin(), diffs.end(),
                             [](int64_t a, int64_t b) { return std::llabs(a) < std::llabs(b); });
  return f;
}

// 'undef' or a number of hours; the bound passes when unset.
std::string check_range_args(const std::vector<std::string>& a) {
  if (a.size() != 2) return "expects two arguments (min, max), each a number or 'undef'";
  for (const auto& s : a)
    if (s != "undef" && !eval_number(s)) return "'" + s + "' is not a number or 'undef'";
  return {};
}

bool in_range(double v, const std::string& min, const std::string& max, double scale) {
  if (min != "undef" && !(v >= *eval_number(min) * scale)) return false;
  if (max != "undef" && !(v < *eval_number(max) * scale)) return false;
  return true;
}

EvalResult check_for_shifted_date(EvalContext& ctx, EvalArgs args) {
  if (!check_range_args({args.begin(), args.end()}).empty()) return std::nullopt;
  const DateFacts& f = ctx.fact<DateFacts>([&] { return date_facts(ctx); });
  if (!in_range(static_cast<double>(f.diff), args[0], args[1], 3600.0)) return std::nullopt;
  char buf[96];
  std::snprintf(buf, sizeof buf, "Date is %.1f hours %s the Received time", std::abs(f.diff) / 3600.0,
                f.diff < 0 ? "before" : "after");
  return std::string(buf);
}

// ---------------------------------------------------------------------------
// Recipients: sorted lists and look-alike addresses (ratware working through a
// sorted address file).

struct RecipientFacts {
  std::size_t count = 0;
  bool sorted = false;
  double similar = 0;
};

RecipientFacts recipient_facts(EvalContext& ctx) {
  const SaHeaders& h = sa_headers(ctx);
  constexpr std::size_t kSortedCount = 7, kSimilarCount = 5, kPrefix = 2, kMaxAddresses = 256;
  std::vector<std::string> inputs = h.addrs("To");
  for (auto& a : h.addrs("Cc")) inputs.push_back(std::move(a));
  if (inputs.size() < kSimilarCount)  // Bcc helps when To/Cc hold few
    for (auto& a : h.addrs("Bcc")) inputs.push_back(std::move(a));
  // Neighbouring duplicates (case-insensitive) count once.
  std::vector<std::string> addr;
  for (auto& a : inputs) {
    if (!addr.empty() && iequals(addr.back(), a)) continue;
    addr.push_back(std::move(a));
    if (addr.size() == kMaxAddresses) break;
  }
  RecipientFacts f;
  f.count = addr.size();
  f.sorted = addr.size() >= kSortedCount && std::is_sorted(addr.begin(), addr.end());
  if (addr.size() >= kSimilarCount) {
    std::vector<std::string_view> user, host, fqhn;
    for (const auto& a : addr) {
      std::string_view v = a;
      std::size_t at = v.find('@');
      std::string_view d = at == std::string_view::npos ? std::string_view() : v.substr(at + 1);
      user.push_back(v.substr(0, kPrefix));
      fqhn.push_back(d);
      host.push_back(d.substr(0, kPrefix));
    }
    std::size_t hits = 0, pairs = 0;
    for (std::size_t i = 0; i < addr.size(); ++i)
      for (std::size_t j = i + 1; j < addr.size(); ++j) {
        if (user[i] == user[j]) ++hits;
        if (host[i] == host[j] && fqhn[i] != fqhn[j]) ++hits;
        ++pairs;
      }
    f.similar = static_cast<double>(hits) / static_cast<double>(pairs);
  }
  return f;
}

const RecipientFacts& recipients(EvalContext& ctx) {
  return ctx.fact<RecipientFacts>([&] { return recipient_facts(ctx); });
}

// ---------------------------------------------------------------------------
// ezmlm and MSN Groups drop Received fields; messages through them have no
// usable trail (and their Message-IDs are rewritten).

bool gated_through_received_hdr_remover(EvalContext& ctx) {
  const SaHeaders& h = sa_headers(ctx);
  static const Re ezmlm_re(R"(^contact \S+\@\S+\; run by ezmlm$)", PCRE2_MULTILINE);
  static const Re list_re(R"(^mailing list \S+\@\S+)", PCRE2_MULTILINE);
  static const Re qmail_re(R"(qmail \d+ invoked (?:from network|by .{3,20})\); \d+ ... \d+)");
  static const Re msn_re(R"(from groups\.msn\.com \(\S+\.msn\.com )");
  auto rcvd = h.get("Received");
  if (auto ml = h.get("Mailing-List"); ml && ezmlm_re.search(*ml))
    if (list_re.search(h.str("Delivered-To")) && qmail_re.search(rcvd.value_or(std::string())))
      return true;
  if (!rcvd) return true;  // no Received fields at all
  return msn_re.search(*rcvd);
}

// ---------------------------------------------------------------------------
// Forged webmail trails: a From address at a webmail domain without the
// Received fields that webmail service writes.

// SpamAssassin's IP_ADDRESS: exact for IPv4; IPv6 simplified (see the top).
constexpr const char* kIpAddress =
    R"((?:\b(?<!:)(?:1\d\d|2[0-4]\d|25[0-5]|[1-9]\d|\d)\.(?:1\d\d|2[0-4]\d|25[0-5]|[1-9]\d|\d)\.)"
    R"((?:1\d\d|2[0-4]\d|25[0-5]|[1-9]\d|\d)\.(?:1\d\d|2[0-4]\d|25[0-5]|[1-9]\d|\d)\b)"
    R"(|(?:IPv6:|(?<![a-f0-9:]))(?:[a-f0-9]{1,4}:(?:[a-f0-9]{0,4}:){1,6}[a-f0-9]{1,4})(?![a-f0-9:])))";

// A pattern around IP_ADDRESS, which is caseless on its own as in SpamAssassin.
std::string with_ip(std::string_view before, std::string_view after) {
  return std::string(before) + "(?i:" + kIpAddress + ")" + std::string(after);
}

std::string collapse_spaces(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (perl_space(c)) {
      if (out.empty() || out.back() != ' ') out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

bool check_for_msn_groups_headers(EvalContext& ctx) {
  const SaHeaders& h = sa_headers(ctx);
  static const Re to_re(R"(<(\S+)\@groups\.msn\.com>)", kI);
  static const Re pickup_re(R"(from mail pickup service by ((?:p\d\d\.)groups\.msn\.com)\b)");
  std::vector<std::string_view> g;
  std::string to = h.str("To");
  if (!to_re.search(to, &g)) return false;
  std::string list(g[1]);
  std::string rcvd = h.str("Received");
  if (!pickup_re.search(rcvd, &g)) return false;
  std::string server(g[1]);
  std::string mid = h.str("Message-Id");
  if (list == "notifications") {
    // SpamAssassin puts the server name into the pattern unquoted: dots match anything.
    return Re("^<\\S+\\@" + server + ">").search(mid);
  }
  if (list.size() > 512) return false;
  return Re("^<" + quote_meta(list) + "-\\S+\\@groups\\.msn\\.com>").search(mid) &&
         Re(quote_meta(list) + "-bounce\\@groups\\.msn\\.com").search(envelope_from_addr(ctx));
}

struct HotmailFacts {
  bool forged = false;     // Received fields claim hotmail.com, but not Hotmail's own
  bool no_hotmail = false;  // a hotmail.com From without any Hotmail Received field
};

HotmailFacts hotmail_facts(EvalContext& ctx) {
  const SaHeaders& h = sa_headers(ctx);
  HotmailFacts f;
  std::string rcvd = collapse_spaces(h.str("Received"));
  static const Re pickup_re(R"(from mail pickup service by hotmail\.com with Microsoft SMTPSVC;)");
  if (pickup_re.search(rcvd)) return f;
  if (check_for_msn_groups_headers(ctx)) return f;  // Hotmail hands these to MSN Groups directly
  static const Re ip_re(kIpAddress, kI);
  static const Re orig_re("hotmail\\.com|msonline\\-outlook");
  auto xip = h.get("X-Originating-Ip");
  auto xorg = h.get("X-OriginatorOrg");
  const bool ip = xip && ip_re.search(*xip);
  const bool org = xorg && orig_re.search(*xorg);
  if (gated_through_received_hdr_remover(ctx)) return f;
  static const Re r1(R"(from (?:\S*\.)?hotmail.com \(\S+\.hotmail(?:\.msn)?\.com[ \)])");
  static const Re r2(R"(from \S*\.outbound\.protection\.outlook\.com \(\S+\.outbound\.protection\.outlook\.com[ \)])");
  static const Re r3(with_ip(R"(from \S*\.(?:eur|nam)prd\d+\.prod\.outlook\.com \()", "\\)"));
  static const Re r4(with_ip(R"(from \S*\.hotmail.com \(\[)", "\\][ \\):]"));
  static const Re r5(R"(from \S+ by \S+\.hotmail(?:\.msn)?\.com with HTTP\;)");
  static const Re r6(R"(from \[66\.218.\S+\] by \S+\.yahoo\.com)");
  if ((r1.search(rcvd) && ip) || (r2.search(rcvd) && org) || (r3.search(rcvd) && org) || (r4.search(rcvd) && ip) ||
      (r5.search(rcvd) && ip) || (r6.search(rcvd) && ip))
    return f;
  static const Re helo_re(R"((?:from |HELO |helo=)\S*hotmail\.com\b)");
  static const Re from_re(R"(\bhotmail\.com$)", kI);
  if (helo_re.search(rcvd)) f.forged = true;
  else if (from_re.search(h.addr("From"))) f.no_hotmail = true;
  return f;
}

const HotmailFacts& hotmail(EvalContext& ctx) {
  return ctx.fact<HotmailFacts>([&] { return hotmail_facts(ctx); });
}

// ---------------------------------------------------------------------------
// check_illegal_chars: 8-bit and control bytes that should have been MIME-encoded.

bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  auto tail = [&](std::size_t k) { return i + k < s.size() && (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80; };
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
    } else if (c >= 0xC2 && c <= 0xDF && tail(1)) {
      i += 2;
    } else if (c >= 0xE0 && c <= 0xEF && tail(1) && tail(2)) {
      const auto c1 = static_cast<unsigned char>(s[i + 1]);
      if ((c == 0xE0 && c1 < 0xA0) || (c == 0xED && c1 > 0x9F)) return false;
      i += 3;
    } else if (c >= 0xF0 && c <= 0xF4 && tail(1) && tail(2) && tail(3)) {
      const auto c1 = static_cast<unsigned char>(s[i + 1]);
      if ((c == 0xF0 && c1 < 0x90) || (c == 0xF4 && c1 > 0x8F)) return false;
      i += 4;
    } else {
      return false;
    }
  }
  return true;
}

EvalResult check_illegal_chars(EvalContext& ctx, EvalArgs args) {
  if (args.size() < 3) return std::nullopt;
  auto ratio = eval_number(args[1]), count = eval_number(args[2]);
  if (!ratio || !count) return std::nullopt;
  std::string_view name = args[0];
  if (name.ends_with(":raw")) name.remove_suffix(4);
  std::string str;
  if (name == "ALL") {
    // The header section as written, LF line ends, without the blank line.
    str = crlf_to_lf(ctx.msg.header_block());
    if (str.ends_with("\n\n")) str.pop_back();
    else if (str == "\n") str.clear();
  } else {
    str = sa_headers(ctx).raw(name).value_or(std::string());
  }
  if (std::all_of(str.begin(), str.end(), perl_space)) return std::nullopt;
  auto control = [](unsigned char c) { return c <= 0x08 || c == 0x0B || c == 0x0C || (c >= 0x0E && c <= 0x1F); };
  const bool high = std::any_of(str.begin(), str.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x80; });
  // Valid UTF-8 is allowed (RFC 6532) unless it carries control characters.
  if (high && valid_utf8(str) &&
      std::none_of(str.begin(), str.end(), [&](char c) { return control(static_cast<unsigned char>(c)); }))
    return std::nullopt;
  std::size_t illegal = 0, exempt = 0;
  for (char ch : str) {
    const auto c = static_cast<unsigned char>(ch);
    if (control(c) || c >= 0x7F) ++illegal;
    if (c == 0xA2 || c == 0xA3 || c == 0xAE) ++exempt;
  }
  // One cent, pound or registered sign in a Subject is forgiven.
  if (illegal > 0 && iequals(name, "Subject") && exempt == 1) --illegal;
  const double r = static_cast<double>(illegal) / static_cast<double>(str.size());
  if (!(r >= *ratio && static_cast<double>(illegal) >= *count)) return std::nullopt;
  return std::to_string(illegal) + " of " + std::to_string(str.size()) + " bytes of " + std::string(name) +
         " unencoded 8-bit or control";
}

std::string check_illegal_chars_args(const std::vector<std::string>& a) {
  if (a.size() != 3) return "expects three arguments (header, ratio, count)";
  if (a[0].empty()) return "empty header name";
  if (!eval_number(a[1]) || !eval_number(a[2])) return "ratio and count must be numbers";
  return {};
}

// ---------------------------------------------------------------------------
// The rest, one function each.

EvalResult check_for_missing_to_header(EvalContext& ctx, EvalArgs) {
  const SaHeaders& h = sa_headers(ctx);
  if (h.get("To") || h.get("Apparently-To")) return std::nullopt;
  return std::string("no To or Apparently-To field");
}

EvalResult check_for_to_in_subject(EvalContext& ctx, EvalArgs args) {
  if (args.size() != 1) return std::nullopt;
  const SaHeaders& h = sa_headers(ctx);
  std::string to = h.addr("To");
  if (to.empty() || to.size() > 512) return std::nullopt;
  std::string subject = h.str("Subject");
  if (args[0] == "address") {
    if (!Re("\\b" + quote_meta(to) + "\\b", kI).search(subject)) return std::nullopt;
    return "Subject contains the To address " + to;
  }
  if (args[0] != "user") return std::nullopt;
  std::string q = quote_meta(to.substr(0, to.find('@')));
  // Subjects built around the recipient's name: "Re: bob", "bob, ...", "... bob", ", bob!"
  const Re re("^(?:(?:re|fw):\\s*(?:\\w+\\s+)?" + q + "$|(?-i:" + q + ")\\s*[,:;!?-](?:$|\\s)|" + q + "$|,\\s*" + q +
                  "[,:;!?-]$)",
              kI);
  if (!re.search(subject)) return std::nullopt;
  return "Subject built on the To local part " + to.substr(0, to.find('@'));
}

std::string check_to_in_subject_args(const std::vector<std::string>& a) {
  if (a.size() != 1 || (a[0] != "address" && a[0] != "user")) return "expects 'address' or 'user'";
  return {};
}

// The last two labels of a domain ("a.b.example.com" -> "example.com").
std::string second_level(std::string_view addr) {
  std::size_t at = addr.rfind('@');
  if (at == std::string_view::npos) return {};
  std::string_view d = addr.substr(at + 1);
  // Only when there are more than two labels, each of the last two non-empty.
  std::size_t last = d.rfind('.');
  if (last != std::string_view::npos && last > 0 && last + 1 < d.size()) {
    std::size_t prev = d.rfind('.', last - 1);
    if (prev != std::string_view::npos && prev > 0 && prev + 1 < last) d = d.substr(prev + 1);
  }
  return lower(d);
}

EvalResult check_equal_from_domains(EvalContext& ctx, EvalArgs) {
  std::string from = second_level(sa_headers(ctx).addr("From"));
  if (from.empty()) return std::nullopt;
  std::string env = second_level(envelope_from_addr(ctx));
  if (env.empty() || env == from) return std::nullopt;
  return "From domain " + from + ", envelope sender domain " + env;
}

EvalResult check_outlook_message_id(EvalContext& ctx, EvalArgs) {
  const SaHeaders& h = sa_headers(ctx);
  static const Re id_re(R"(^<[0-9a-f]{4}([0-9a-f]{8})\$[0-9a-f]{8}\$[0-9a-f]{8}\@)");
  std::vector<std::string_view> g;
  std::string ids = h.message_ids();
  if (!id_re.search(ids, &g)) return std::nullopt;
  // Outlook Express writes its clock into the Message-ID, in units of 2^32/1e7 s
  // since 1601: the token must agree with Date or with the Received time.
  const double token = static_cast<double>(std::stoull(std::string(g[1]), nullptr, 16));
  constexpr double kScale = 0.0023283064365387, kOffset = 27111902.8329849, kFudge = 250;
  auto off_by = [&](int64_t t) {
    const double expected = std::trunc(static_cast<double>(t) * kScale + kOffset);
    return std::abs(token - expected);
  };
  if (off_by(parse_rfc822_date(h.str("Date")).value_or(0)) < kFudge) return std::nullopt;
  // SpamAssassin reads the first date anywhere in all the Received text here.
  if (off_by(parse_rfc822_date(h.str("Received")).value_or(0)) < kFudge) return std::nullopt;
  return std::string("Outlook-style Message-ID whose time matches neither Date nor Received");
}

EvalResult check_messageid_not_usable(EvalContext& ctx, EvalArgs) {
  const SaHeaders& h = sa_headers(ctx);
  static const Re lyris_re(R"(<mailto:(?:leave-\S+|\S+-unsubscribe)\@\S+>$)", kI);
  if (lyris_re.search(h.str("List-Unsubscribe"))) return std::string("list software (List-Unsubscribe)");
  if (gated_through_received_hdr_remover(ctx)) return std::string("gated through a Received remover");
  std::string rcvd = h.str("Received");
  if (rcvd.find("/CWT/DCE)") != std::string::npos) return std::string("CWT/DCE sendmail");
  if (rcvd.find("iPlanet Messaging Server") != std::string::npos) return std::string("iPlanet Messaging Server");
  return std::nullopt;
}

EvalResult check_header_count_range(EvalContext& ctx, EvalArgs args) {
  if (args.size() < 3) return std::nullopt;
  auto min = eval_number(args[1]), max = eval_number(args[2]);
  if (!min || !max) return std::nullopt;
  // Identical copies count once.
  std::unordered_set<std::string_view> values;
  for (const auto* f : sa_headers(ctx).all(args[0])) values.insert(f->value);
  const double n = static_cast<double>(values.size());
  if (!(n >= *min && n <= *max)) return std::nullopt;
  return std::to_string(values.size()) + " distinct " + args[0] + " fields";
}

std::string check_count_args(const std::vector<std::string>& a) {
  if (a.size() != 3) return "expects three arguments (header, min, max)";
  if (!eval_number(a[1]) || !eval_number(a[2])) return "min and max must be numbers";
  return {};
}

EvalResult check_unresolved_template(EvalContext& ctx, EvalArgs) {
  static const Re macro_re(R"(%[A-Z][A-Z_-])");
  static const Re exempt_re(
      R"(^(?:X-VMS-To|X-UIDL|X-Face|To|Cc|From|Subject|References|In-Reply-To|(?:X-|Resent-|X-Original-)?Message-Id):)",
      kI);
  for (const auto& f : sa_headers(ctx).fields) {
    // get('ALL') is "Name: value" per field; a value holding line breaks
    // continues on lines of its own, which no field name exempts.
    std::string text = f.name + ": " + f.value;
    std::string_view rest = text;
    for (bool first = true; !rest.empty() || first; first = false) {
      std::size_t nl = rest.find('\n');
      std::string_view line = rest.substr(0, nl);
      rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
      if (macro_re.search(line) && !exempt_re.search(line)) return "unresolved template in " + f.name;
    }
  }
  return std::nullopt;
}

EvalResult check_ratware_name_id(EvalContext& ctx, EvalArgs) {
  const SaHeaders& h = sa_headers(ctx);
  static const Re id_re(R"(<[A-Z]{28}\.([^>]+?)>)");
  std::vector<std::string_view> g;
  std::string ids = h.message_ids();
  if (!id_re.search(ids, &g) || g[1].size() > 512) return std::nullopt;
  if (!Re("\"[^\"]+\"\\s*<" + quote_meta(g[1]) + ">").search(h.str("From"))) return std::nullopt;
  return "Message-ID built on the From address " + std::string(g[1]);
}

EvalResult subject_is_all_caps(EvalContext& ctx, EvalArgs) {
  const SaHeaders& h = sa_headers(ctx);
  std::string subject = h.str("Subject");
  std::string_view s = subject;
  while (!s.empty() && perl_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && perl_space(s.back())) s.remove_suffix(1);
  // Reply and forward prefixes (English, German, Nordic) do not count.
  static const Re prefix_re(R"(^(?:(?:Re|Fwd|Fw|Aw|Antwort|WG|SV|VB|VS|VL):\s*)+)", kI);
  std::vector<std::string_view> g;
  if (prefix_re.search(s, &g)) s.remove_prefix(g[0].size());
  if (std::none_of(s.begin(), s.end(), perl_space)) return std::nullopt;  // one word
  if (s.size() < 10) return std::nullopt;
  std::string letters;
  for (char c : s)
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) letters += c;
  // Charsets whose text often reads as capitals once reduced to ASCII letters.
  static const Re cjk_re(R"(=\?[-_a-z0-9]*(?:koi|jp|jis|euc|gb|big5|isoir|cp1251|windows-1251|georgianps|pt154|tis)[-_a-z0-9]*\?)",
                         kI);
  if (cjk_re.search(h.raw("Subject").value_or(std::string()))) return std::nullopt;
  if (letters.empty() || letters != upper(letters)) return std::nullopt;
  return std::string("Subject is all capitals");
}

EvalResult check_for_matching_env_and_hdr_from(EvalContext& ctx, EvalArgs) {
  // Two missing addresses compare equal, as in SpamAssassin.
  std::string env = lower(envelope_from_addr(ctx)), from = lower(sa_headers(ctx).addr("From"));
  if (env != from) return std::nullopt;
  return "envelope sender is the From address " + from;
}

EvalResult check_for_fake_aol_relay_in_rcvd(EvalContext& ctx, EvalArgs) {
  std::string rcvd = collapse_spaces(sa_headers(ctx).str("Received"));
  static const Re rly_re(R"( rly-[a-z][a-z]\d\d\.)", kI);
  static const Re aol_re(R"(\/AOL-\d+\.\d+\.\d+\))");
  static const Re id_re(R"(ESMTP id (?:RELAY|MAILRELAY|MAILIN))");
  if (!rly_re.search(rcvd) || aol_re.search(rcvd) || id_re.search(rcvd)) return std::nullopt;
  return std::string("AOL relay name outside AOL's own Received fields");
}

EvalResult check_for_forged_eudoramail_received_headers(EvalContext& ctx, EvalArgs) {
  const SaHeaders& h = sa_headers(ctx);
  static const Re from_re(R"(\beudoramail\.com$)", kI);
  if (!from_re.search(h.addr("From"))) return std::nullopt;
  std::string rcvd = collapse_spaces(h.str("Received"));
  static const Re ip_re(kIpAddress, kI);
  auto xip = h.get("X-Sender-Ip");
  const bool ip = xip && ip_re.search(*xip);
  if (gated_through_received_hdr_remover(ctx)) return std::nullopt;
  static const Re by_re(R"(by \S*whowhere.com\;)");
  if (by_re.search(rcvd) && ip) return std::nullopt;
  return std::string("eudoramail.com From without Eudoramail's Received fields");
}

EvalResult check_for_forged_juno_received_headers(EvalContext& ctx, EvalArgs) {
  const SaHeaders& h = sa_headers(ctx);
  static const Re from_re(R"(\bjuno\.com$)", kI);
  if (!from_re.search(h.addr("From"))) return std::nullopt;
  if (gated_through_received_hdr_remover(ctx)) return std::nullopt;
  std::string xorig = h.str("X-Originating-IP"), xmailer = h.str("X-Mailer"), rcvd = h.str("Received");
  static const Re juno_re(with_ip(R"(from.*\b(?:juno|untd)\.com.*[\[\(])", R"([\]\)].*by)"));
  static const Re cookie_re(R"( cookie\.(?:juno|untd)\.com )");
  static const Re mailcom_re(with_ip(R"(from.*\bmail\.com.*\[)", R"(\].*by)"));
  static const Re mailcom_mailer_re(R"(\bmail\.com)");
  static const Re webmail_re(with_ip(R"(from (webmail\S+\.untd\.com) \(\1 \[)", R"(\]\) by)"));
  static const Re webmail_mailer_re(R"(^Webmail Version \d)");
  static const Re ip_re(kIpAddress, kI);
  const EvalResult forged = std::string("juno.com From without Juno's Received fields");
  if (!xorig.empty()) {
    if (!juno_re.search(rcvd) && !cookie_re.search(rcvd)) return forged;
    if (xmailer.find("Juno ") == std::string::npos) return forged;
  } else {
    if (mailcom_re.search(rcvd)) {
      if (!mailcom_mailer_re.search(xmailer)) return forged;
    } else if (webmail_re.search(rcvd)) {
      if (!webmail_mailer_re.search(xmailer)) return forged;
    } else {
      return forged;
    }
    // Reached only without X-Originating-IP, which then holds no address.
    if (!ip_re.search(xorig)) return forged;
  }
  return std::nullopt;
}

// SpamAssassin exempts mail whose relay (a trusted one, or the first untrusted
// one) has a yahoo.com reverse name, from its relay analysis. Without that here:
// in a transaction the first untrusted relay is the client, whose verified name we
// have; a stored message is exempt when any Received field records a yahoo.com
// reverse name, "(name.yahoo.com [ip])" (wider than SpamAssassin: misses, never
// extra hits).
bool yahoo_relay(EvalContext& ctx) {
  if (ctx.env.mail_from && !ctx.env.client.ip.empty()) {
    std::string_view name = ctx.env.client.name;
    return name.size() > 10 && iequals(name.substr(name.size() - 10), ".yahoo.com");
  }
  static const Re rdns_re(R"(\(\S+\.yahoo\.com \[)", kI);
  for (const auto* f : sa_headers(ctx).all("Received"))
    if (rdns_re.search(f->value)) return true;
  return false;
}

EvalResult check_for_forged_yahoo_received_headers(EvalContext& ctx, EvalArgs) {
  const SaHeaders& h = sa_headers(ctx);
  static const Re from_re(R"(\byahoo\.com$)", kI);
  std::string from = h.addr("From");
  if (!from_re.search(from)) return std::nullopt;
  std::string rcvd = h.str("Received");
  // Resent mail: Yahoo's trail is in X-Received.
  if (!h.str("Resent-From").empty() && !h.str("Resent-To").empty())
    if (std::string x = h.str("X-Received"); !x.empty()) rcvd = std::move(x);
  rcvd = collapse_spaces(rcvd);
  if (gated_through_received_hdr_remover(ctx)) return std::nullopt;
  if (yahoo_relay(ctx)) return std::nullopt;
  static const Re web_re(R"(by web\S+\.mail\S*\.yahoo\.com via HTTP)");
  static const Re sonic_re(R"(by sonic\S+\.consmr\.mail\S*\.yahoo\.com with HTTP)");
  static const Re smtp_re(R"(by smtp\S+\.yahoo\.com with SMTP)");
  static const Re groups_re(with_ip(R"(from \[)", R"(\] by \S+\.(?:groups|scd|dcn)\.yahoo\.com with NNFMP)"));
  static const Re bulk_re(R"(\bmailer\d+\.bulk\.scd\.yahoo\.com\b)");
  static const Re reply_re(R"(\@reply\.yahoo\.com$)", kI);
  static const Re story_re(R"(by \w+\.\w+\.yahoo\.com \(\d+\.\d+\.\d+\/\d+\.\d+\.\d+\)(?: with ESMTP)? id \w+)");
  if (web_re.search(rcvd) || sonic_re.search(rcvd) || smtp_re.search(rcvd) || groups_re.search(rcvd) ||
      (bulk_re.search(rcvd) && reply_re.search(from)) || story_re.search(rcvd))
    return std::nullopt;
  return std::string("yahoo.com From without Yahoo's Received fields");
}

EvalResult check_for_forged_gmail_received_headers(EvalContext& ctx, EvalArgs) {
  const SaHeaders& h = sa_headers(ctx);
  static const Re from_re(R"(\bgmail\.com$)", kI);
  if (!from_re.search(h.addr("From"))) return std::nullopt;
  static const Re x1(R"(by 10\.\S+ with SMTP id \S+)");
  static const Re x2(R"(by 2002\:a\d\d\:\w+\:\S+ with SMTP id \S+)");
  static const Re r1(R"(by smtp\.googlemail\.com with ESMTPSA id \S+)");
  std::string xreceived = h.str("X-Received");
  if (x1.search(xreceived) || x2.search(xreceived) || r1.search(h.str("Received"))) return std::nullopt;
  // Google's own submission stamps, long opaque tokens.
  constexpr std::size_t kStateMin = 60, kSourceMin = 60;
  if (h.str("X-Gm-Message-State").size() >= kStateMin && h.str("X-Google-Smtp-Source").size() >= kSourceMin)
    return std::nullopt;
  return std::string("gmail.com From without Gmail's submission headers");
}

EvalFunction header_fn(EvalFn fn, std::function<std::string(const std::vector<std::string>&)> check = nullptr) {
  return {std::move(fn), {rules::Scope::Header}, std::move(check)};
}

}  // namespace

void add_header_evals(EvalTable& t) {
  t["check_for_shifted_date"] = header_fn(check_for_shifted_date, check_range_args);
  t["check_outlook_message_id"] = header_fn(check_outlook_message_id);
  t["check_for_missing_to_header"] = header_fn(check_for_missing_to_header);
  t["check_for_to_in_subject"] = header_fn(check_for_to_in_subject, check_to_in_subject_args);
  t["check_equal_from_domains"] = header_fn(check_equal_from_domains);
  t["similar_recipients"] = header_fn(
      [](EvalContext& ctx, EvalArgs args) -> EvalResult {
        if (!check_range_args({args.begin(), args.end()}).empty()) return std::nullopt;
        const RecipientFacts& f = recipients(ctx);
        if (!in_range(f.similar, args[0], args[1], 1.0)) return std::nullopt;
        char buf[96];
        std::snprintf(buf, sizeof buf, "%zu recipients, similarity %.2f", f.count, f.similar);
        return std::string(buf);
      },
      check_range_args);
  t["sorted_recipients"] = header_fn([](EvalContext& ctx, EvalArgs) -> EvalResult {
    const RecipientFacts& f = recipients(ctx);
    if (!f.sorted) return std::nullopt;
    return std::to_string(f.count) + " recipients in sorted order";
  });
  t["check_illegal_chars"] = header_fn(check_illegal_chars, check_illegal_chars_args);
  t["check_header_count_range"] = header_fn(check_header_count_range, check_count_args);
  t["check_ratware_name_id"] = header_fn(check_ratware_name_id);
  t["check_unresolved_template"] = header_fn(check_unresolved_template);
  t["gated_through_received_hdr_remover"] = header_fn([](EvalContext& ctx, EvalArgs) -> EvalResult {
    if (!gated_through_received_hdr_remover(ctx)) return std::nullopt;
    return std::string("no usable Received trail (none, ezmlm or MSN Groups)");
  });
  t["subject_is_all_caps"] = header_fn(subject_is_all_caps);
  // Never hits with SpamAssassin's default ok_locales ("all"), which is what we follow.
  t["check_for_faraway_charset_in_headers"] = header_fn([](EvalContext&, EvalArgs) -> EvalResult {
    return std::nullopt;
  });
  t["check_messageid_not_usable"] = header_fn(check_messageid_not_usable);
  t["check_for_matching_env_and_hdr_from"] = header_fn(check_for_matching_env_and_hdr_from);
  t["check_for_forged_hotmail_received_headers"] = header_fn([](EvalContext& ctx, EvalArgs) -> EvalResult {
    if (!hotmail(ctx).forged) return std::nullopt;
    return std::string("Received claims hotmail.com outside Hotmail's own fields");
  });
  t["check_for_no_hotmail_received_headers"] = header_fn([](EvalContext& ctx, EvalArgs) -> EvalResult {
    if (!hotmail(ctx).no_hotmail) return std::nullopt;
    return std::string("hotmail.com From without Hotmail's Received fields");
  });
  t["check_for_msn_groups_headers"] = header_fn([](EvalContext& ctx, EvalArgs) -> EvalResult {
    if (!check_for_msn_groups_headers(ctx)) return std::nullopt;
    return std::string("MSN Groups message");
  });
  t["check_for_fake_aol_relay_in_rcvd"] = header_fn(check_for_fake_aol_relay_in_rcvd);
  t["check_for_forged_eudoramail_received_headers"] = header_fn(check_for_forged_eudoramail_received_headers);
  t["check_for_forged_juno_received_headers"] = header_fn(check_for_forged_juno_received_headers);
  t["check_for_forged_gmail_received_headers"] = header_fn(check_for_forged_gmail_received_headers);
  t["check_for_forged_yahoo_received_headers"] = header_fn(check_for_forged_yahoo_received_headers);
}

}  // namespace mxgate
