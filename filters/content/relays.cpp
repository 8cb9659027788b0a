// The Received-header parser follows Message/Metadata/Received.pm of SpamAssassin
// 4.0.1 pattern for pattern and in the same order: the order is the meaning (an
// earlier, looser pattern wins), so do not reorder or "simplify" them. The patterns
// run on PCRE2, which reads Perl's syntax, compiled once on first use.
#include "filters/content/relays.hpp"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <stdexcept>

#include "base/text.hpp"
#include "filters/content/scan_texts.hpp"

namespace mxgate {
namespace {

// ---------------------------------------------------------------------------
// A compiled pattern and its captures.

struct Caps {
  std::string_view g[12];
  bool set[12] = {};
  std::string s(int i) const { return set[i] ? std::string(g[i]) : std::string(); }
  bool has(int i) const { return set[i]; }
};

class Re {
 public:
  explicit Re(const std::string& pattern) {
    int err = 0;
    PCRE2_SIZE off = 0;
    code_ = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), 0, &err, &off, nullptr);
    // The patterns are ours and fixed: a bad one is a programming error.
    if (!code_) throw std::logic_error("relays.cpp: bad pattern at " + std::to_string(off) + ": " + pattern);
    pcre2_jit_compile(code_, PCRE2_JIT_COMPLETE);  // optional: falls back to the interpreter
  }
  ~Re() { pcre2_code_free(code_); }
  Re(const Re&) = delete;
  Re& operator=(const Re&) = delete;

  bool match(std::string_view s, Caps* caps = nullptr, std::size_t* start = nullptr, std::size_t* end = nullptr) const {
    // One match data and one limit context per thread: no allocation per match.
    struct Tls {
      pcre2_match_data* md = pcre2_match_data_create(12, nullptr);
      pcre2_match_context* mc = [] {
        pcre2_match_context* c = pcre2_match_context_create(nullptr);
        // The inputs are at most kMaxReceivedBytes: these bound a pathological
        // backtrack, they never cut a real header's parse.
        pcre2_set_match_limit(c, 200'000);
        pcre2_set_depth_limit(c, 5'000);
        return c;
      }();
      ~Tls() {
        pcre2_match_data_free(md);
        pcre2_match_context_free(mc);
      }
    };
    thread_local Tls tls;
    int rc = pcre2_match(code_, reinterpret_cast<PCRE2_SPTR>(s.data()), s.size(), 0, 0, tls.md, tls.mc);
    if (rc <= 0) return false;  // no match, or a limit hit: read as no match
    PCRE2_SIZE* ov = pcre2_get_ovector_pointer(tls.md);
    if (start) *start = ov[0];
    if (end) *end = ov[1];
    if (caps) {
      for (int i = 0; i < 12; ++i) {
        caps->set[i] = i < rc && ov[2 * i] != PCRE2_UNSET;
        caps->g[i] = caps->set[i] ? s.substr(ov[2 * i], ov[2 * i + 1] - ov[2 * i]) : std::string_view();
      }
    }
    return true;
  }

 private:
  pcre2_code* code_ = nullptr;
};

// SpamAssassin's IP_ADDRESS, LOCALHOST and IP_PRIVATE (Constants.pm), without
// their /x layout; "{IP}" and "{LH}" in a pattern stand for the first two.
const char* const kV4 = R"((?:1\d\d|2[0-4]\d|25[0-5]|[1-9]\d|\d))";
std::string ip_address_re() {
  const std::string v4 = std::string(kV4) + "\\." + kV4 + "\\." + kV4 + "\\." + kV4;
  const std::string h = "[a-f0-9]{1,4}";
  return "(?i:\\b(?<!:)" + v4 + "\\b|(?:IPv6:|(?<![a-f0-9:]))(?:(?:(?:" + h + ":){6}|::(?:" + h + ":){0,5}|(?:" + h +
         ":){1,5}:|" + h + "::(?:" + h + ":){1,4}|(?:" + h + ":){2}:(?:" + h + ":){1,3}|(?:" + h + ":){3}:(?:" + h +
         ":){1,2}|(?:" + h + ":){4}:" + h + ":)" + v4 + "|(?:" + h + ":){7}" + h + "|:(?::" + h + "){1,7}|(?:" + h +
         ":){1,7}:|" + h + ":(?::" + h + "){1,6}|(?:" + h + ":){2}(?::" + h + "){1,5}|(?:" + h + ":){3}(?::" + h +
         "){1,4}|(?:" + h + ":){4}(?::" + h + "){1,3}|(?:" + h + ":){5}(?::" + h + "){1,2}|(?:" + h + ":){6}:" + h +
         "|::)(?![a-f0-9:]))";
}
const char* const kMapped =
    "(?:(?:0{1,4}:){5}ffff:|::(?:0{1,4}:){0,4}ffff:|(?:0{1,4}:){1,4}:ffff:|0{1,4}::(?:0{1,4}:){1,3}ffff:|"
    "(?:0{1,4}:){2}:0{1,2}:ffff:|(?:0{1,4}:){3}:0:ffff:|(?:0{1,4}:){4}:ffff:)";
const char* const kLoop6 =
    "(?:0{1,4}:){7}0{0,3}1|:(?::0{1,4}){0,6}:0{0,3}1|0{1,4}:(?::0{1,4}){0,5}:0{0,3}1|"
    "(?:0{1,4}:){2}(?::0{1,4}){0,4}:0{0,3}1|(?:0{1,4}:){3}(?::0{1,4}){0,3}:0{0,3}1|"
    "(?:0{1,4}:){4}(?::0{1,4}){0,2}:0{0,3}1|(?:0{1,4}:){5}(?::0{1,4}){0,1}:0{0,3}1|(?:0{1,4}:){6}:0{0,3}1";
std::string localhost_re() {
  return std::string("(?i:localhost(?:\\.localdomain)?|\\b(?<!:)127\\.0\\.0\\.1\\b|(?:IPv6:|(?<![a-f0-9:]))(?:") +
         kMapped + "127\\.0\\.0\\.1|" + kLoop6 + ")(?![a-f0-9:]))";
}
std::string private_v4() {
  return "(?:10|127|169\\.254|172\\.(?:1[6-9]|2[0-9]|3[01])|192\\.168|100\\.(?:6[4-9]|[7-9][0-9]|1[01][0-9]|12[0-7]))"
         "\\..*";
}
std::string ip_private_re() {
  return "^(?i:" + private_v4() + "|(?:IPv6:|(?<![a-f0-9:]))(?:" + kMapped + private_v4() + "|fe[89ab][0-9a-f]:.*|" +
         kLoop6 + ")(?![a-f0-9:]))";
}

std::string expand(std::string p) {
  static const std::string ip = ip_address_re(), lh = localhost_re();
  for (std::size_t k; (k = p.find("{IP}")) != std::string::npos;) p.replace(k, 4, ip);
  for (std::size_t k; (k = p.find("{LH}")) != std::string::npos;) p.replace(k, 4, lh);
  return p;
}

// A pattern compiled once, where it is used (a function-local static per call
// site: thread-safe initialisation, no table to keep in step with the code).
#define RX(pat) ([]() -> const Re& { static const Re re_(expand(pat)); return re_; }())

bool m(const Re& re, std::string_view s, Caps& c) { return re.match(s, &c); }
bool m(const Re& re, std::string_view s) { return re.match(s); }

const Re& ip_private_prefix() {
  static const Re re(ip_private_re());
  return re;
}
// Perl's `s/re// and $x = $1`: removes the first match; its group 1, if any.
std::optional<std::string> erase_first(const Re& re, std::string& s) {
  Caps c;
  std::size_t b = 0, e = 0;
  if (!re.match(s, &c, &b, &e)) return std::nullopt;
  std::string g1 = c.s(1);
  s.erase(b, e - b);
  return g1;
}

// SpamAssassin replaces these in every field with '!' so the as_string stays one token.
std::string strip_chars(std::string s) {
  for (char& ch : s)
    if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\f' || ch == '\v' || ch == '\0' || ch == '#' ||
        ch == '[' || ch == ']' || ch == '(' || ch == ')' || ch == '<' || ch == '>' || ch == '|')
      ch = '!';
  return s;
}

enum class Outcome { Enough, Skip, Unparseable, Fetcher };

struct Fields {
  std::string ip, helo, rdns, by, id, ident, auth;
  std::optional<std::string> envfrom;
  bool looked_up_dns = false;
  std::string qms_envfrom;
};

// The body of parse_received_line; `s` is the normalised line. Returns where
// SpamAssassin's code goes: `enough`, `return 0`, `return undef`.
Outcome parse_line(std::string& s, Fields& f) {
  Caps c;
  if (!m(RX(R"((?i)^\(?from )"), s)) return Outcome::Skip;
  if (m(RX(R"(\bwith local for\b)"), s)) return Outcome::Skip;
  if (m(RX(R"((?i)^from (\S+) by [^\s;]+ ?;)"), s, c) && !m(RX(R"(^\[[\d.]+\]$)"), c.g[1])) return Outcome::Skip;

  {  // the date at the end
    std::size_t b = 0, e = 0;
    if (RX(R"([\s;]+(?:(?:Mon|T(?:ue|hu)|Wed|Fri|S(?:at|un)), )?\d+ (?:J(?:an|u[nl])|Feb|Ma[ry]|A(?:pr|ug)|Sep|Oct|Nov|Dec) \d+ \d+:\d+(?::\d+)? \S+$)")
            .match(s, nullptr, &b, &e))
      s.erase(b, e - b);
  }
  if (auto k = s.find(")by "); k != std::string::npos) s.replace(k, 4, ") by ");

  if (m(RX(R"( id <?([^\s<>;]{3,}))"), s, c)) f.id = c.s(1);
  if (m(RX(R"(\bhelo=([-A-Za-z0-9\.\^+_&:=?!@%*\$\\\/]+)(?:[^-A-Za-z0-9\.\^+_&:=?!@%*\$\\\/]|$))"), s, c)) f.helo = c.s(1);
  else if (m(RX(R"(\b(?:HELO|EHLO) ([-A-Za-z0-9\.\^+_&:=?!@%*\$\\\/]+)(?:[^-A-Za-z0-9\.\^+_&:=?!@%*\$\\\/]|$))"), s, c))
    f.helo = c.s(1);
  if (m(RX(R"( by (\S+)(?:[^-A-Za-z0-9\;\.]|$))"), s, c)) f.by = c.s(1);

  // Authentication tokens.
  if (m(RX(" by "), s) && m(RX(R"((?i) with ((?:ES|L|UTF8S|UTF8L)MTPS?A|ASMTP|HTTP[SU]?)(?: |;|$))"), s, c)) {
    f.auth = c.s(1);
  } else if (m(RX(R"( by mx\.google\.com with ESMTPS id [a-z0-9]{1,4}sm[0-9]{2,9}[a-z]{3}\.[0-9]{1,3}\.[0-9]{4}\.(?:[0-6][0-9]\.){4}[0-6][0-9])"), s) &&
             m(RX(R"(\(version=([^ ]+) cipher=([^\)]+)\))"), s, c)) {
    f.auth = "GMail - transport=" + c.s(1) + " cipher=" + c.s(2);
  } else if (m(RX(R"(^from .*?(?:\]\)|\)\]) \(AUTH: (LOGIN|PLAIN|DIGEST-MD5|CRAM-MD5) \S+(?:, .*?)?\) by )"), s, c)) {
    f.auth = c.s(1);
  } else if (s.find("authenticated") != std::string::npos &&
             m(RX(R"(^from .*?(?:\](?: \([^)]*\))?\)|\)\]) .*?\(.*?authenticated.*?\).*? by)"), s)) {
    f.auth = "Sendmail";
  } else if (m(RX(R"(from \S* \((?:HELO|EHLO) (\S*)\) \[({IP})\] by (mail\.gmx\.(?:net|com)) \([^\)]+\) with ((?:ESMTP|SMTP)))"), s, c)) {
    f.auth = "GMX (" + c.s(4) + " / " + c.s(3) + ")";
  } else if (s.find(" (authenticated as ") != std::string::npos &&
             m(RX(R"(\) by .+ \(\d{1,2}\.\d\.\d{3}(?:\.\d{1,3})?\) \(authenticated as .+\) id )"), s)) {
    f.auth = "CriticalPath";
  } else if (m(RX(R"(\) \(Authenticated sender: \S+\) by \S+ \(([^\)]+)\) with )"), s, c)) {
    f.auth = c.s(1) == "Postfix" ? "Postfix" : "Postfix (" + c.s(1) + ")";
  } else if (m(RX(R"(CommuniGate Pro (HTTP|SMTP|XIMSS|IMAP))"), s) && s.find(" (account ") != std::string::npos) {
    f.auth = "Communigate";
  } else if (m(RX(R"( with Microsoft Exchange Server HTTP-DAV\b)"), s)) {
    f.auth = "HTTP-DAV";
  } else if (m(RX(" by "), s) && m(RX(R"((?i) \(via (HTTP.?)\)(?: |;|$))"), s, c)) {
    f.auth = c.s(1);
  }

  if (s.starts_with("from ")) {
    s.erase(0, 5);
    if (m(RX(R"((?i)(?:return-path:? |envelope-(?:sender|from)[ =])(\S+)\b)"), s, c)) f.envfrom = c.s(1);

    if (m(RX(R"( \((?:SquirrelMail|NaSMail) authenticated user )"), s) &&
        m(RX(R"(({IP})\b(?![.-]).{10,80}by (\S+) with HTTP)"), s, c)) {
      f.ip = c.s(1); f.by = c.s(2); return Outcome::Enough;
    }
    if (s.find("aol.com") != std::string::npos && s.find("with HTTP (WebMailUI)") != std::string::npos &&
        m(RX(R"(({IP}) by (\S+) \({IP}\) with HTTP \(WebMailUI\))"), s, c)) {
      f.ip = c.s(1); f.by = c.s(2); return Outcome::Enough;
    }

    if (s.find(" SMTPSVC") != std::string::npos) {
      if (m(RX(R"(^(\S*) \(\[({IP})\][^\)]{0,40}\) by (\S+) with Microsoft SMTPSVC)"), s, c)) {
        f.helo = c.s(1); f.ip = c.s(2); f.by = c.s(3); return Outcome::Enough;
      }
      if (m(RX(R"(^mail pickup service by (\S+) with Microsoft SMTPSVC$)"), s)) return Outcome::Skip;
    } else if (m(RX(R"( with (?:Microsoft SMTP Server|mapi id) (?:\([^\)]+\) )?\d+\.\d+\.\d+\.\d+(?:$| ))"), s)) {
      if (m(RX(R"(^(\S+) \(\[?({IP})(?:%[A-Z0-9._~-]*)?\]?\) by (\S+) )"), s, c)) {
        f.helo = c.s(1); f.ip = c.s(2); f.by = c.s(3); f.id.clear(); return Outcome::Enough;
      }
    } else if (s.find("[XMail ") != std::string::npos) {
      if (m(RX(R"(^(\S+) \((\[?{IP}\]?)(?::\d+)\) by (\S+)(?: \(\S+\))? with \[XMail)"), s, c)) {
        f.helo = c.s(1); f.ip = c.s(2); f.by = c.s(3);
        if (m(RX(R"( id <(\S+)>)"), s, c)) f.id = c.s(1);
        if (m(RX(R"( from <(\S+)>)"), s, c)) f.envfrom = c.s(1);
        return Outcome::Enough;
      }
    } else if (m(RX(R"(\(ecelerity\b)"), s)) {
      if (m(RX(R"(^\(\[({IP}):\d+\] helo=(\S+)\) by (\S+) )"), s, c)) {
        f.ip = c.s(1); f.helo = c.s(2); f.by = c.s(3); return Outcome::Enough;
      }
      if (m(RX(R"(^\S+ \(\[({IP}):\d+\]\) by (\S+) )"), s, c)) {
        f.ip = c.s(1); f.by = c.s(2); return Outcome::Enough;
      }
    } else if (s.find("Exim") != std::string::npos) {
      if (m(RX(R"(\bwith local(?:-\S+)? )"), s)) return Outcome::Skip;
      auto helo_ident = [&](std::string sub) {
        if (auto v = erase_first(RX(R"(helo=(\S+))"), sub)) f.helo = *v;
        if (auto v = erase_first(RX(R"(ident=(\S*))"), sub)) f.ident = *v;
      };
      if (m(RX(R"(^\[({IP})\] \((.*?)\) by (\S+) )"), s, c)) {
        f.ip = c.s(1); f.by = c.s(3); helo_ident(c.s(2)); return Outcome::Enough;
      }
      if (m(RX(R"(^(\S+) \(\[({IP})\](.*?)\) by (\S+) )"), s, c)) {
        f.rdns = c.s(1); f.ip = c.s(2); f.by = c.s(4); f.helo = f.rdns;
        helo_ident(c.s(3));
        return Outcome::Enough;
      }
      if (m(RX(R"(^(\S+) \[({IP})\](:\d+)? by (\S+) )"), s, c)) {
        f.rdns = c.s(1); f.ip = c.s(2); f.helo = c.s(1); f.by = c.s(4); return Outcome::Enough;
      }
      if (m(RX(R"(^(\S+) )"), s, c)) f.rdns = c.s(1);
      if (m(RX(R"( \((\S+)\) )"), s, c)) f.helo = c.s(1);
      if (m(RX(R"( \[({IP})(?:\.\d+)?\] )"), s, c)) f.ip = c.s(1);
      if (m(RX(R"(by (\S+) )"), s, c)) {
        f.by = c.s(1);
        if (!f.ip.empty()) return Outcome::Enough;
      }
    } else if (s.find(" (Postfix) with") != std::string::npos) {
      if (m(RX(R"(^(\S+) \((\S+) \[({IP})\]\) by (\S+) )"), s, c) ||
          m(RX(R"(^(\S+) \((\S+)\[({IP})\]\) by (\S+) )"), s, c)) {
        f.looked_up_dns = true;
        f.helo = c.s(1); f.rdns = c.s(2); f.ip = c.s(3); f.by = c.s(4);
        if (f.rdns == "unknown") f.rdns.clear();
        return Outcome::Enough;
      }
    } else if (s.find("(Scalix SMTP Relay") != std::string::npos) {
      if (m(RX(R"(^(\S+) \( ?({IP})\) by (\S+))"), s, c)) {
        f.helo = c.s(1); f.ip = c.s(2); f.by = c.s(3); return Outcome::Enough;
      }
    } else if (s.find(" (Lotus Domino ") != std::string::npos) {
      if (m(RX(R"(^(\S+) \(\[({IP})\]\) by (\S+) \(Lotus)"), s, c)) {
        f.looked_up_dns = false;
        f.helo = c.s(1); f.ip = c.s(2); f.by = c.s(3); return Outcome::Enough;
      }
    }

    if (m(RX(R"(\bwith HTTP\b)"), s) && m(RX(R"(^({IP}) \(\[{IP}\]\) by (\S+))"), s, c)) {
      f.ip = c.s(1); f.by = c.s(2); return Outcome::Enough;
    }
    if (!m(RX(R"( by \S+ \(qmail-\S+\) with )"), s)) {
      if (m(RX(R"(^(\S+) \((\S+) \[({IP})\].*\) by (\S+) \()"), s, c)) {
        f.looked_up_dns = true;
        f.helo = c.s(1); f.rdns = c.s(2); f.ip = c.s(3); f.by = c.s(4);
        if (auto v = erase_first(RX(R"(^IDENT:([^\@]*)\@)"), f.rdns)) f.ident = *v;
        if (auto v = erase_first(RX(R"(^([^\@]*)\@)"), f.rdns)) f.ident = *v;
        return Outcome::Enough;
      }
    }

    // Less standard formats.
    if (m(RX(R"(^(\S+) \((\S+) \[({IP})\]\) by (\S+) with \S+ \()"), s, c)) {
      f.looked_up_dns = true;
      f.rdns = c.s(2); f.ip = c.s(3); f.helo = c.s(1); f.by = c.s(4); return Outcome::Enough;
    }
    if (m(RX(R"(^(\S+) \(\[({IP})\] helo=(\S+)\) by (\S+) with )"), s, c)) {
      f.rdns = c.s(1); f.ip = c.s(2); f.helo = c.s(3); f.by = c.s(4); return Outcome::Enough;
    }
    if (m(RX(R"(^(\S+) \(<unknown\S*>\[({IP})\]\) by (\S+) )"), s, c)) {
      f.helo = c.s(1); f.ip = c.s(2); f.by = c.s(3); return Outcome::Enough;
    }
    if (m(RX(R"(^(\S+) \((\S+\.\S+)\[({IP})\]\) by (\S+) )"), s, c)) {
      f.looked_up_dns = true;
      f.helo = c.s(1); f.rdns = c.s(2); f.ip = c.s(3); f.by = c.s(4); return Outcome::Enough;
    }
    if (m(RX(R"(^(\S+) \((\S*)\@\[({IP})\].*\) by (\S+) \()"), s, c)) {
      f.looked_up_dns = true;
      f.helo = c.s(1); f.ip = c.s(3); f.by = c.s(4); f.ident = c.s(2); return Outcome::Enough;
    }
    if (m(RX(R"(by (\S+\.hotmail\.msn\.com) )"), s, c)) {
      f.by = c.s(1);
      if (m(RX(R"(^({IP}) )"), s, c)) f.ip = c.s(1);
      return Outcome::Enough;
    }
    if (m(RX(R"(^(\S+) \((?:HELO|EHLO) (\S*)\) \(({IP})\) by (\S+) \(qpsmtpd\/\S+\) with (?:ESMTP|SMTP))"), s, c) ||
        m(RX(R"(^(\S+) \(LHLO (\S*)\) \(({IP})\) by (\S+) with LMTP)"), s, c) ||
        m(RX(R"(^(\S+) \((?:HELO|EHLO) (\S*)\) \[({IP})\] by (\S+) \([^\)]+\) with (?:ESMTP|SMTP))"), s, c)) {
      f.rdns = c.s(1); f.helo = c.s(2); f.ip = c.s(3); f.by = c.s(4); return Outcome::Enough;
    }
    if (m(RX(R"(^(\S+) \(\[({IP})\]\) by (\S+) via smtpd \(for \S+\) with SMTP\()"), s, c)) {
      f.helo = c.s(1); f.ip = c.s(2); f.by = c.s(3); return Outcome::Enough;
    }
    // qmail and its many patches.
    if (m(RX(R"(^\S+( \((?:HELO|EHLO) \S*\))? \((\S+\@)?\[?{IP}\]?\)( \(envelope-sender <\S+>\))? by \S+( \(.+\))* with (.* )?(SMTP|QMQP)(?! id ))"), s)) {
      if (m(RX(R"(^(\S+) \((?:HELO|EHLO) ([^ \(\)]*)\) \((\S*)\@\[?({IP})\]?\)( \(envelope-sender <\S+>\))? by (\S+))"), s, c)) {
        f.rdns = c.s(1); f.helo = c.s(2); f.ident = c.s(3); f.ip = c.s(4); f.by = c.s(6);
      } else if (m(RX(R"(^(\S+) \((?:HELO|EHLO) ([^ \(\)]*)\) \(\[?({IP})\]?\)( \(envelope-sender <\S+>\))? by (\S+))"), s, c)) {
        f.rdns = c.s(1); f.helo = c.s(2); f.ip = c.s(3); f.by = c.s(5);
      } else if (m(RX(R"(^(\S+) \((\S*)\@\[?({IP})\]?\)( \(envelope-sender <\S+>\))? by (\S+))"), s, c)) {
        f.helo = f.rdns = c.s(1); f.ident = c.s(2); f.ip = c.s(3); f.by = c.s(5);
      } else if (m(RX(R"(^(\S+) \(\[?({IP})\]?\)( \(envelope-sender <\S+>\))? by (\S+))"), s, c)) {
        f.helo = f.rdns = c.s(1); f.ip = c.s(2); f.by = c.s(4);
      }
      if (f.rdns != "unknown") f.looked_up_dns = true;
      else f.rdns.clear();
      return Outcome::Enough;
    }
    if (m(RX(R"( via HTTP$)"), s) && m(RX(R"(^\[({IP})\] by (\S+) via HTTP$)"), s, c)) {
      f.ip = c.s(1); f.by = c.s(2); return Outcome::Enough;
    }
    if (m(RX(R"(^(\S+) \( \[({IP})\]\).*? by (\S+) )"), s, c)) {
      f.ip = c.s(2); f.by = c.s(3); return Outcome::Enough;
    }
    if (m(RX(R"(^\((\S+) \[({IP})\]\) by (\S+) )"), s, c)) {
      f.helo = c.s(1); f.ip = c.s(2); f.by = c.s(3); return Outcome::Enough;
    }
    if (m(RX(R"(^\[({IP})\] by (\S+) )"), s, c) || m(RX(R"(^\(\[?({IP})\]?\) by (\S+) )"), s, c)) {
      f.ip = c.s(1); f.by = c.s(2); return Outcome::Enough;
    }
    if (m(RX(R"(^(\S+) \[({IP})\] by (\S+) \[{IP}\] with )"), s, c)) {
      f.looked_up_dns = true;
      f.helo = c.s(1); f.ip = c.s(2); f.by = c.s(3); return Outcome::Enough;
    }
    if (m(RX(R"(^(\S+) \[\(({IP})\)\] by (\S+) \({IP}\) )"), s, c)) {
      f.helo = c.s(1); f.ip = c.s(2); f.by = c.s(3); return Outcome::Enough;
    }
    if (m(RX(R"(^(\S+) \(\[({IP})\]\) by (\S+) \()"), s, c)) {
      f.looked_up_dns = true;
      f.helo = c.s(1); f.ip = c.s(2); f.by = c.s(3); return Outcome::Enough;
    }
    if (m(RX(R"(^(\S+) \((\S+) \[({IP})\]\).*? by (\S+)\b)"), s, c)) {
      if (c.g[2] == "softdnserr") {
        f.looked_up_dns = false;  // couriertcpd did not resolve
      } else {
        f.looked_up_dns = true;
        f.rdns = c.s(2);
      }
      f.helo = c.s(1); f.ip = c.s(3); f.by = c.s(4); return Outcome::Enough;
    }
    if (m(RX(R"(^(\S+) \(\[({IP})(?:[.:]\d+)?\]\).*? by (\S+) )"), s, c)) {
      f.looked_up_dns = true;
      f.helo = c.s(1); f.ip = c.s(2); f.by = c.s(3); return Outcome::Enough;
    }
    if (m(RX(R"(^(\S+) \((\S+) \[({IP})\]\)(?: \(authenticated bits=\d+\))? by (\S+) \()"), s, c)) {
      f.looked_up_dns = true;
      f.helo = c.s(1); f.rdns = c.s(2); f.ip = c.s(3); f.by = c.s(4); return Outcome::Enough;
    }
    if (m(RX(R"(with (?:POP3|IMAP))"), s)) return Outcome::Fetcher;  // a mail fetcher's handover
    if (m(RX(R"(^(\S+) \((?:HELO|EHLO) ([^\)]*)\) \((\S*@)?\[?({IP})\]?\).* by (\S+) )"), s, c)) {
      f.looked_up_dns = true;
      f.rdns = c.s(1); f.helo = c.s(2); f.ident = c.s(3); f.ip = c.s(4); f.by = c.s(5);
      if (!f.ident.empty() && f.ident.back() == '@') f.ident.pop_back();
      return Outcome::Enough;
    }
    if (m(RX(R"(^(\S+) \((\S*@)?\[?({IP})\]?\).* by (\S+) )"), s, c)) {
      f.looked_up_dns = true;
      f.rdns = c.s(1); f.helo = f.rdns; f.ident = c.s(2); f.ip = c.s(3); f.by = c.s(4);
      if (!f.ident.empty() && f.ident.back() == '@') f.ident.pop_back();
      return Outcome::Enough;
    }
    if (s.find(" with http for ") != std::string::npos && m(RX(R"(^\[({IP})\] by (\S+) with http for )"), s, c)) {
      f.ip = c.s(1); f.by = c.s(2); return Outcome::Enough;
    }
    if (s.find(" via smap ") != std::string::npos && m(RX(R"(^(\S+)\(({IP})\) by (\S+) via smap )"), s, c)) {
      f.looked_up_dns = true;
      f.rdns = c.s(1); f.ip = c.s(2); f.by = c.s(3); return Outcome::Enough;
    }
    if (m(RX(R"(^(\S+)\(({IP}), (?:HELO|EHLO) (\S*)\) by (\S+) via smap )"), s, c)) {
      f.looked_up_dns = true;
      f.rdns = c.s(1); f.ip = c.s(2); f.helo = c.s(3); f.by = c.s(4); return Outcome::Enough;
    }
    if ((s.find(" (Post") != std::string::npos && m(RX(R"(^\[({IP})\] by (\S+) \(Post)"), s, c)) ||
        (s.find(" (ArGoSoft") != std::string::npos && m(RX(R"(^\[({IP})\] by (\S+) \(ArGoSoft)"), s, c)) ||
        m(RX(R"(^({IP}) by (\S+) \((?:SMTPL|InterScan)\b)"), s, c)) {
      f.ip = c.s(1); f.by = c.s(2); return Outcome::Enough;
    }
    if (s.find(" with BSMTP") != std::string::npos && m(RX(R"(^\S+ by \S+ with BSMTP)"), s)) return Outcome::Skip;
    if (m(RX(R"(^(\S+) \((\S+) \[({IP})\]\) by (\S+) with )"), s, c)) {
      f.looked_up_dns = true;
      f.helo = c.s(1); f.rdns = c.s(2); f.ip = c.s(3); f.by = c.s(4); return Outcome::Enough;
    }
    if (m(RX(R"(^(\S+) \((?:HELO|EHLO) (\S*)\) \((?:(\S+)\@)?({IP}).*?\) by (\S+) with )"), s, c)) {
      f.looked_up_dns = true;
      f.rdns = c.s(1); f.helo = c.s(2); f.ip = c.s(4); f.by = c.s(5);
      if (c.has(3)) f.ident = c.s(3);
      return Outcome::Enough;
    }
    if (m(RX(R"(^\[({IP})\] \((?:account \S+ )?(?:HELO|EHLO) (\S*)\) by (\S+) \()"), s, c)) {
      f.ip = c.s(1); f.helo = c.s(2); f.by = c.s(3); return Outcome::Enough;
    }
    if (s.find(" (CommuniGate Pro") != std::string::npos &&
        m(RX(R"(^(\S+) \(\[({IP})\] verified\) by (\S+) \()"), s, c)) {
      f.looked_up_dns = true;
      f.rdns = c.s(1); f.helo = c.s(1); f.ip = c.s(2); f.by = c.s(3); return Outcome::Enough;
    }
    if (m(RX(R"(^\(\[({IP})\]\) by (\S+) with )"), s, c)) {
      f.ip = c.s(1); f.by = c.s(2); return Outcome::Enough;
    }
    if (m(RX(R"(^([^\d]\S+) \(({IP})\) by (\S+) )"), s, c)) {
      f.helo = c.s(1); f.ip = c.s(2); f.by = c.s(3); return Outcome::Enough;
    }
    if (m(RX(R"(^\S+ \(\S+\) by \S+ \(Content Technologies )"), s)) return Outcome::Skip;
    if (m(RX(R"(^(\S+) \(\[({IP})\] \[(\S+)\]\) by (\S+) with )"), s, c)) {
      f.helo = c.s(1); f.ip = c.s(2); f.by = c.s(4); return Outcome::Enough;
    }
    if (m(RX(R"(^({IP}) by (\S+) with )"), s, c)) {
      f.ip = c.s(1); f.by = c.s(2); return Outcome::Enough;
    }
    if (m(RX(R"(^(\S+) \((\S+)\[({IP})\]\) by (\S+) )"), s, c)) {
      f.looked_up_dns = true;
      f.helo = c.s(1); f.rdns = c.s(2); f.ip = c.s(3); f.by = c.s(4); return Outcome::Enough;
    }
    if (m(RX(R"(^\[({IP})\]\S+ \((?:HELO|EHLO) (\S*)\) by (\S+) )"), s, c) ||
        m(RX(R"(^({IP}) \((?:HELO|EHLO) (\S*)\) by (\S+) )"), s, c)) {
      f.ip = c.s(1); f.helo = c.s(2); f.by = c.s(3); return Outcome::Enough;
    }
    if (m(RX(R"(^(\S+) \[({IP})\] by (\S+) )"), s, c)) {
      f.helo = c.s(1); f.ip = c.s(2); f.by = c.s(3); return Outcome::Enough;
    }
    if (m(RX(R"(^(\S+)\(({IP})\) by (\S+) )"), s, c)) {
      f.rdns = c.s(1); f.ip = c.s(2); f.by = c.s(3); return Outcome::Enough;
    }
    if (m(RX(R"(^\[({IP})\] by (\S+) \(MailGate )"), s, c)) {
      f.ip = c.s(1); f.by = c.s(2); return Outcome::Enough;
    }
    if (m(RX(R"(^(\S+) \(unverified \[({IP})\]\) by (\S+) )"), s, c)) {
      f.helo = c.s(1); f.ip = c.s(2); f.by = c.s(3); return Outcome::Enough;
    }
    if (m(RX(R"(^({IP}) \([A-Za-z][^\)]+\) by (\S+) with )"), s, c)) {
      f.ip = c.s(1); f.by = c.s(2); return Outcome::Enough;
    }
    if (m(RX(R"(^\[({IP})\] \(([^\)]+)\) by (\S+) )"), s, c)) {
      f.ip = c.s(1); f.by = c.s(3);
      std::string sub = c.s(2);
      if (auto v = erase_first(RX(R"(helo=(\S+))"), sub)) f.helo = *v;
      if (auto v = erase_first(RX(R"(ident=(\S*))"), sub)) f.ident = *v;
      return Outcome::Enough;
    }
    if (m(RX(R"(^(\S+) \((?:\S+\@)?({IP})\) by (\S+) with )"), s, c)) {
      f.rdns = c.s(1); f.ip = c.s(2); f.by = c.s(3); return Outcome::Enough;
    }
    if (m(RX(R"re(^(\S+)\(({IP})\)(?:, claiming to be "(\S+)")? via \S+ by (\S+),)re"), s, c)) {
      f.rdns = c.s(1); f.ip = c.s(2); f.helo = c.s(3); f.by = c.s(4);
      if (c.g[1] != "UNKNOWN") f.looked_up_dns = true;
      return Outcome::Enough;
    }
    if (m(RX(R"(^(\S+) \((\S+)@({IP}) with login\) by (\S+\.yahoo\.com) with SMTP)"), s, c)) {
      f.helo = c.s(1); f.ip = c.s(3); f.by = c.s(4); return Outcome::Enough;
    }
    if (m(RX(R"(^X-Originating-IP: ({IP})$)"), s, c)) {  // our synthetic line
      f.ip = c.s(1); f.by.clear(); return Outcome::Enough;
    }

    // Handovers to ignore.
    if (m(RX(R"(^\S+ \([^\s\@]+\@{LH}\) by \S+ \()"), s) || m(RX(R"(^\S+ \S+ by \S+ with local-e?smtp )"), s) ||
        m(RX(R"(^127\.0\.0\.1 \(AVG SMTP \S+ \[\S+\]\))"), s) || m(RX(R"(^\S+\@\S+ by \S+ by uid \S+ )"), s) ||
        m(RX(R"(^\S+\@\S+ by \S+ )"), s) || m(RX(R"(^Unknown\/Local \()"), s) ||
        m(RX(R"(^{LH} \((?:\S+\@)?{LH}[\)\[])"), s) || m(RX(R"(^\S+ \((?:\S+\@)?{LH}\) )"), s) ||
        m(RX(R"(^\S+ \(\S+\@\S+ \[{LH}\]\) )"), s) || m(RX(R"(^\(AUTH: \S+\) by \S+ with )"), s) ||
        m(RX(R"(^localhost \(localhost \[\[UNIX: localhost\]\]\) by )"), s) ||
        m(RX(R"(^\S+\.amazon\.com by \S+\.amazon\.com with ESMTP \(peer crosscheck: )"), s) ||
        m(RX(R"(^[^\.]+ by \S+ with Novell_GroupWise)"), s) ||
        m(RX(R"(^no\.name\.available by \S+ via smtpd \(for )"), s))
      return Outcome::Skip;
    if (m(RX(R"(^\S+ by \S+ \(.{0,100}\) with qmail-scanner)"), s)) {
      // The next (older) header describes this handover: it gets this envelope sender.
      if (f.envfrom) {
        std::string e = *f.envfrom;
        std::size_t b = e.find_first_not_of(" \t\r\n<");
        e = b == std::string::npos ? std::string() : e.substr(b);
        while (!e.empty() && (e.back() == '>' || std::isspace(static_cast<unsigned char>(e.back())))) e.pop_back();
        f.qms_envfrom = strip_chars(e);
      }
      return Outcome::Skip;
    }
    if (m(RX(R"(^\S+ by \S+ with local)"), s) ||
        m(RX(R"(^\S+ \(\[unix socket\]\) by \S+ \(Cyrus v[0-9]*?\.[0-9]*?\.[0-9]*?\) with LMTPA)"), s) ||
        m(RX(R"(^\S+ by \S+ (?:with|via|for|\())"), s) ||
        m(RX(R"(^\S+ (?:(?:with|via|for) \S+|\(unverified\)) by\b)"), s) ||
        m(RX(R"(^\S+ \(unknown\) by \S+ \(SG\) with \b)"), s) ||
        m(RX(R"(^\S+ \(\S+ \[local\]\) by \S+ \(OpenSMTPD\) with \b)"), s) || s.find("(LSMTP for") != std::string::npos ||
        m(RX(R"(^\(\[{LH}\]\) with MailEnable )"), s) ||
        m(RX(R"(^facebook\.com \([^\)]+\) by facebook\.com with Thrift id \S+$)"), s) ||
        m(RX(R"(^\S+ named \S+ by gmailapi\.google\.com with HTTPREST$)"), s) || m(RX(R"(^\S+ id \S+$)"), s) ||
        m(RX(R"(^\[<.*? \(Jetsend)"), s))
      return Outcome::Skip;
    if (f.helo.empty() && m(RX(R"(^(\S+)[^-A-Za-z0-9\.])"), s, c)) f.helo = c.s(1);
  } else if (s.starts_with("FROM ")) {
    s.erase(0, 5);
    if (m(RX(R"(^(\S+) \((\S+) \[({IP})\]\) BY (\S+) (?:\([^\)]+\) WITH SMTP )?ID <?(\S+?)>?(?: FOR <[^>]+>)?$)"), s, c)) {
      f.looked_up_dns = true;
      f.helo = c.s(1); f.rdns = c.s(2); f.ip = c.s(3); f.by = c.s(4); f.id = c.s(5);
      if (f.rdns == "unverified") f.rdns.clear();
      return Outcome::Enough;
    }
  } else if (s.starts_with("(from ")) {
    s.erase(0, 6);
    if (m(RX(R"(^(\S*) \[({IP})\]\) by (\S+) \(NAVGW .*?\) with )"), s, c)) {
      f.helo = c.s(1); f.ip = c.s(2); f.by = c.s(3); return Outcome::Enough;
    }
    if (m(RX(R"(^\S+\@localhost\) by \S+ )"), s)) return Outcome::Skip;
    if (m(RX(R"(^[^\s\@]+\@[^)]+\) by \S+\(jqueuemail\) id [^\s;]+)"), s)) return Outcome::Skip;
  }

  if (f.ip.empty() && m(RX(R"(\[({IP})\])"), s, c)) f.ip = c.s(1);
  if (!f.ip.empty() && !f.by.empty()) return Outcome::Enough;
  return Outcome::Unparseable;
}

// SpamAssassin's `enough:` block: clean the fields, build the relay.
Relay finish(Fields& f) {
  Relay r;
  std::string rdns = f.rdns;
  while (!rdns.empty() && rdns.back() == '.') rdns.pop_back();
  if (iequals(rdns, "unknown") || rdns.starts_with("[")) rdns.clear();
  std::string ip = f.ip;
  if (istarts_with(ip, "ipv6:")) ip.erase(0, 5);
  if (ip.starts_with("[")) ip.erase(0, 1);
  if (ip.ends_with("]")) ip.pop_back();
  {
    Caps c;
    std::size_t b = 0, e = 0;
    if (RX(R"((?i)%[A-Z0-9._~-]*\z)").match(ip, nullptr, &b, &e)) ip.erase(b);
    if (m(RX(R"((?i)^0*:0*:(?:0*:)*ffff:(\d+\.\d+\.\d+\.\d+)$)"), ip, c)) ip = c.s(1);
  }
  std::string by = f.by;
  if (by.ends_with(";")) by.pop_back();
  r.ip = strip_chars(ip);
  r.rdns = strip_chars(rdns);
  r.helo = strip_chars(f.helo);
  r.by = strip_chars(by);
  r.ident = strip_chars(f.ident);
  r.id = f.id;
  r.auth = f.auth;
  if (f.envfrom) {
    std::string e = *f.envfrom;
    std::size_t b = e.find_first_not_of(" \t\r\n<");
    e = b == std::string::npos ? std::string() : e.substr(b);
    while (!e.empty() && (e.back() == '>' || std::isspace(static_cast<unsigned char>(e.back())))) e.pop_back();
    r.envfrom = strip_chars(e);
  }
  r.no_reverse_dns = r.rdns.empty() && f.looked_up_dns;
  r.ip_private = ip_private_prefix().match(r.ip);
  return r;
}

// ---------------------------------------------------------------------------

bool in_list(const NetList& l, const std::string& ip) { return l.contains(ip); }

void add_relay(RelayPath& p, Relay r, bool in_trusted, bool in_internal) {
  r.internal = in_internal;
  if (in_trusted) p.trusted.push_back(r);
  else p.untrusted.push_back(r);
  if (in_internal) p.internal.push_back(std::move(r));
  else p.external.push_back(std::move(r));
}

std::string join(const std::vector<Relay>& v) {
  std::string out;
  for (const auto& r : v) {
    if (!out.empty()) out += ' ';
    out += r.as_string();
  }
  return out;
}

const RelaySettings& default_settings() {
  static const RelaySettings s = [] {
    RelaySettings d;
    for (NetList* l : {&d.trusted, &d.internal, &d.msa}) {
      for (const char* net : {"127.0.0.0/8", "::1"}) {
        NetList::Entry e;
        Cidr::parse(net, e.net);
        l->entries.push_back(e);
      }
    }
    return d;
  }();
  return s;
}

}  // namespace

bool NetList::contains(const std::string& ip) const {
  const Entry* best = nullptr;
  for (const auto& e : entries)
    if ((!best || e.net.prefix > best->net.prefix) && e.net.contains(ip)) best = &e;
  return best && !best->exclude;
}

std::string Relay::as_string() const {
  return "[ ip=" + ip + " rdns=" + rdns + " helo=" + helo + " by=" + by + " ident=" + ident + " envfrom=" + envfrom +
         " intl=" + (internal ? "1" : "0") + " id=" + id + " auth=" + auth + " msa=" + (msa ? "1" : "0") + " ]";
}

ReceivedParse parse_received(std::string_view value) {
  ReceivedParse out;
  value = value.substr(0, kMaxReceivedBytes);
  // White space runs to one space, trimmed; trailing ';' dropped.
  std::string s;
  s.reserve(value.size());
  for (char ch : value) {
    bool ws = ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n' || ch == '\f' || ch == '\v';
    if (ws) {
      if (!s.empty() && s.back() != ' ') s += ' ';
    } else {
      s += ch;
    }
  }
  if (!s.empty() && s.back() == ' ') s.pop_back();
  while (!s.empty() && s.back() == ';') {
    s.pop_back();
    if (!s.empty() && s.back() == ' ') s.pop_back();
  }
  Fields f;
  switch (parse_line(s, f)) {
    case Outcome::Enough:
      out.kind = ReceivedParse::Kind::Relay;
      out.relay = finish(f);
      break;
    case Outcome::Skip:
      out.kind = ReceivedParse::Kind::Skipped;
      out.qmail_scanner_envfrom = f.qms_envfrom;
      break;
    case Outcome::Fetcher:
      out.kind = ReceivedParse::Kind::FetcherMarker;
      break;
    case Outcome::Unparseable:
      out.kind = ReceivedParse::Kind::Unparseable;
      break;
  }
  return out;
}

bool ip_is_private(std::string_view ip) { return ip_private_prefix().match(ip); }

RelayPath analyse_relays(const RelaySettings* settings, const MimeView& view, const Message& msg,
                         const Envelope& env) {
  (void)view;
  const RelaySettings& cfg = settings ? *settings : default_settings();
  RelayPath p;
  // Without both lists SpamAssassin uses the one given for the other.
  const NetList* trusted = &cfg.trusted;
  const NetList* internal = &cfg.internal;
  const bool configured = cfg.trusted_configured || cfg.internal_configured;
  if (cfg.trusted_configured && !cfg.internal_configured) internal = &cfg.trusted;
  if (!cfg.trusted_configured && cfg.internal_configured) trusted = &cfg.internal;

  bool in_trusted = true, in_internal = true, found_msa = false;
  bool allow_fetch_markers = true;

  // One step of SpamAssassin's loop: the relay's trust, then where it goes.
  auto place = [&](Relay r) {
    if (in_trusted && !found_msa) {
      if (!configured) {
        if (!r.ip_private && r.auth.empty()) in_trusted = in_internal = false;
      } else if (r.auth.empty() && !in_list(*trusted, r.ip)) {
        in_trusted = in_internal = false;
      } else {
        if (in_internal && r.auth.empty() && !in_list(*internal, r.ip)) in_internal = false;
        if (in_list(cfg.msa, r.ip)) {
          found_msa = true;
          r.msa = true;
        }
      }
    }
    if (in_trusted) {
      allow_fetch_markers = true;
      ++p.last_trusted_index;
    } else {
      allow_fetch_markers = false;
    }
    if (in_internal) ++p.last_internal_index;
    add_relay(p, std::move(r), in_trusted, in_internal);
  };

  // Live: the client that handed us the message, known from the connection. Always
  // first, whatever its name: without it, forged "internal" Received headers would
  // be the whole path (ALL_TRUSTED). A client whose name is "unknown" has no rdns,
  // as behind Postfix: with smtp.peername_lookup off, RDNS_NONE hits every message.
  if (!env.client.ip.empty()) {
    Relay r;
    Fields f;
    f.ip = env.client.ip;
    f.rdns = env.client.name == "unknown" ? "" : env.client.name;
    f.helo = env.client.helo;
    f.by = "";  // our own name: no rule reads it for the first hop
    f.looked_up_dns = true;
    if (!env.client.login.empty()) f.auth = env.client.tls ? "ESMTPSA" : "ESMTPA";
    if (env.mail_from) f.envfrom = env.mail_from->address;
    f.id = env.txn_id;
    p.client_relay = true;
    place(finish(f));
  }

  std::vector<std::string> lines;
  for (const auto& h : msg.headers()) {
    if (lines.size() >= kMaxReceived) break;
    if (h.is("Received")) lines.emplace_back(std::string_view(h.value).substr(0, kMaxReceivedBytes));
  }
  for (const auto& name : cfg.originating_ip_headers) {
    if (lines.size() > kMaxReceived) break;
    const HeaderField* h = msg.first(name);
    if (!h) continue;
    static const Re ip_re(expand("({IP})"));
    Caps c;
    std::string v = h->unfolded();
    if (ip_re.match(std::string_view(v).substr(0, kMaxReceivedBytes), &c)) lines.push_back("from X-Originating-IP: " + c.s(1));
  }

  std::string qms_envfrom;
  for (const auto& line : lines) {
    std::string carried = std::move(qms_envfrom);
    qms_envfrom.clear();
    ReceivedParse rp = parse_received(line);
    if (rp.kind == ReceivedParse::Kind::FetcherMarker) {
      // A fetchmail-style handover restarts the path, while still in the trusted part.
      if (allow_fetch_markers) {
        p.trusted.clear();
        p.internal.clear();
        p.external.clear();
      }
    }
    if (rp.kind != ReceivedParse::Kind::Relay) {
      if (rp.kind == ReceivedParse::Kind::Unparseable) ++p.unparseable;
      if (!rp.qmail_scanner_envfrom.empty()) qms_envfrom = rp.qmail_scanner_envfrom;
      if (in_trusted) ++p.last_trusted_index;
      if (in_internal) ++p.last_internal_index;
      continue;
    }
    if (!carried.empty()) rp.relay.envfrom = carried;
    place(std::move(rp.relay));
  }
  p.trusted_str = join(p.trusted);
  p.untrusted_str = join(p.untrusted);
  p.internal_str = join(p.internal);
  p.external_str = join(p.external);
  return p;
}

bool is_relay_pseudo_header(std::string_view field) {
  // X-Spam-Relays-* in any case (SpamAssassin compares them lower-cased); ALL-* exactly.
  return iequals(field, "X-Spam-Relays-Trusted") || iequals(field, "X-Spam-Relays-Untrusted") ||
         iequals(field, "X-Spam-Relays-Internal") || iequals(field, "X-Spam-Relays-External") ||
         field == "ALL-TRUSTED" || field == "ALL-UNTRUSTED" || field == "ALL-INTERNAL" || field == "ALL-EXTERNAL";
}

std::optional<std::string> relay_header_text(std::string_view field, bool raw, const RelayPath& p,
                                             const MimeView& view, const Message& msg) {
  if (iequals(field, "X-Spam-Relays-Trusted")) return p.trusted_str;
  if (iequals(field, "X-Spam-Relays-Untrusted")) return p.untrusted_str;
  if (iequals(field, "X-Spam-Relays-Internal")) return p.internal_str;
  if (iequals(field, "X-Spam-Relays-External")) return p.external_str;
  // ALL-*: the header fields from the top down to (and with) the Received header
  // at the boundary, or from it down. SpamAssassin's index counts its own MX's
  // Received header as 0; live, that header is the client relay we put first, so
  // the message's own headers start at index 0 with the first Received being 1.
  std::optional<int> start, end;
  if (field == "ALL-TRUSTED") end = p.last_trusted_index + 1;
  else if (field == "ALL-INTERNAL") end = p.last_internal_index + 1;
  else if (field == "ALL-UNTRUSTED") start = p.last_trusted_index + 1;
  else if (field == "ALL-EXTERNAL") start = p.last_internal_index + 1;
  else return std::nullopt;
  if (end && *end < 0) return std::nullopt;
  int cur = p.client_relay ? 0 : -1;
  std::string out;
  auto visit = [&](std::string_view name, std::string_view value) {
    bool rcvd = iequals(trim(name), "Received");
    if (rcvd) ++cur;
    if ((!start || *start <= cur) && (!end || cur < *end)) {
      out.append(name).append(": ").append(value).append("\n");
      return true;
    }
    if (end && cur == *end) {
      out.append(name).append(": ").append(value).append("\n");
      return false;
    }
    return true;
  };
  if (!raw && !view.headers.empty()) {
    for (const auto& h : view.headers)
      if (!visit(h.name, h.decoded)) break;
  } else {
    for (const auto& h : msg.headers()) {
      const std::string value = raw ? h.value : h.unfolded();
      if (!visit(h.name, value)) break;
    }
  }
  if (out.empty()) return std::nullopt;
  return out;
}

std::optional<std::string> envelope_sender(const RelayPath* path, const MimeView& view, const Message& msg,
                                           const Envelope& env) {
  if (env.mail_from && !env.client.ip.empty()) return env.mail_from->address;
  if (path) {
    const Relay* last = !path->untrusted.empty() ? &path->untrusted.front()
                        : !path->trusted.empty()  ? &path->trusted.back()
                                                  : nullptr;
    if (last) {
      std::size_t at = last->envfrom.find('@');
      if (at != std::string::npos && at > 0) return last->envfrom;
    }
  }
  // The header fields in order, name and value as written.
  std::vector<std::pair<std::string_view, std::string_view>> fields;
  if (!view.headers.empty())
    for (const auto& h : view.headers) fields.emplace_back(trim(h.name), h.raw);
  else
    for (const auto& h : msg.headers()) fields.emplace_back(trim(h.name), h.value);
  auto first_addr = [&](std::string_view name) -> std::optional<std::string> {
    for (const auto& [n, v] : fields)
      if (iequals(n, name)) {
        auto a = addresses_in(v);
        if (a.empty()) return std::nullopt;
        return a.front();
      }
    return std::nullopt;
  };
  // SpamAssassin's get('ALL') =~ /^Received:.*?^Return-Path:/smi: any field of
  // that name below any Received field, not only the first one read above (a list
  // archive's top Return-Path is distrusted for a second one further down).
  auto below_received = [&](std::string_view name) {
    bool seen_received = false;
    for (const auto& [n, v] : fields) {
      if (iequals(n, "Received")) seen_received = true;
      else if (seen_received && iequals(n, name)) return true;
    }
    return false;
  };
  for (const auto& [n, v] : fields)
    if (iequals(n, "X-Sender") && v.find('@') != std::string_view::npos) {
      for (const auto& [n2, v2] : fields)
        if (iequals(n2, "Received") && v2.find("(fetchmail") != std::string_view::npos) return std::nullopt;
      break;
    }
  for (std::string_view name : {"X-Envelope-From", "Envelope-Sender", "Return-Path"}) {
    auto a = first_addr(name);
    if (!a) continue;
    if (below_received(name)) {
      if (name == "X-Envelope-From") return std::nullopt;  // SpamAssassin gives up here
      continue;
    }
    return a;
  }
  return std::nullopt;
}

}  // namespace mxgate
