// DMARC: our own RFC 7489 evaluator, with RFC 9091's np= (non-existent subdomains),
// and RFC 9989's policy discovery as an option (dmarc.discovery: rfc9989): the DNS
// Tree Walk for the policy record and the Organisational Domain instead of the Public
// Suffix List, psd= and t= (see "RFC 9989" below).
//
// libopendmarc was measured here and is not used: it evaluates the last mailbox of a
// multi-mailbox From, has an off-by-one on an 8 KB From and accepts malformed records.
// filters/dmarc/dmarc_opendmarc_test.cpp runs OpenDMARC's own unit cases against the
// functions below and lists every deliberate difference with its reason.
//
// What it does, by section:
//   RFC 7489 6.6.1  the Author Domains: every mailbox of every From field (RFC 5322
//        3.4 with the obsolete forms of 4.4, nested comments, quoted strings, no fixed
//        buffers). Each distinct domain is evaluated and the strictest result decides
//        ("apply the most strict policy selected among the checks that fail"), so a
//        second author, or a second From field, cannot take a domain out from under its
//        own p=reject. A From that is not a clean list of mailboxes with domain names
//        (no From, a syntax error, a group, an address literal, more than
//        kMaxAuthorDomains domains) is reported in DmarcOutcome::bad_from: a permerror
//        when nothing else is stricter, and something policy/ can refuse on. A field
//        that does not parse still has the domains after its '@'s evaluated.
//   6.6.3  policy discovery: TXT _dmarc.<From domain>, else _dmarc.<Organisational
//        Domain>; only records that begin with v=DMARC1 count; two or more -> none;
//        a DNS timeout or SERVFAIL -> temperror (never "no record").
//   6.3 / 6.4  strict tag parsing; each lenient choice is commented in dmarc_record.cpp.
//   3.2  the Organisational Domain from the Public Suffix List (libpsl, loaded from the
//        system's publicsuffix package file, key dmarc.public_suffix_list).
//   3.1  identifier alignment, strict or relaxed, for SPF (the MAIL FROM identity only)
//        and DKIM (any passing signature).
//   6.6.4  pct sampling: a message that is not sampled gets the next lower policy.
//   RFC 9091 np=: when the record came from the Organisational Domain and the From
//        domain does not exist (NXDOMAIN, or NODATA for A, AAAA and MX alike).
//
// RFC 9989 (dmarc.discovery: rfc9989), section by section:
//   4.10   the DNS Tree Walk: _dmarc at the author domain, then (8 or more labels)
//        at its 7 right-most labels, then one label fewer each time down to the TLD;
//        at most 8 queries; a name with several DMARC records counts as none; the
//        walk stops at a record with psd=y or psd=n.
//   4.10.1 the policy record: the author domain's own (p applies), else the
//        Organisational Domain's, else the public suffix domain's (psd=y); from
//        those, sp applies to an existing subdomain and np (then sp, then p) to one
//        that does not exist. Records between the author domain and the
//        Organisational Domain are not used.
//   4.10.2 the Organisational Domain (dmarc_walk_org_domain), for the policy and for
//        relaxed alignment, where each authenticated domain is walked too.
//   4.7    t=y: the policy applies one level down; pct, rf and ri are gone (ignored).
//   DNS failures during a walk: temperror, as for the RFC 7489 lookups.
//
// Internationalised domains: a From domain with 8-bit bytes is accepted only if the
// transaction used SMTPUTF8 and the bytes are valid UTF-8; it is lowercased in ASCII
// only and looked up as is (no A-label conversion: such a lookup normally finds no
// record, so the result is none).
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "filters/auth/auth_results.hpp"
#include "filters/auth/from_authors.hpp"
#include "filters/auth/public_suffix.hpp"
#include "filters/message.hpp"
#include "filters/smtp_reply.hpp"
#include "base/task.hpp"

namespace mxgate {

class DnsLookup;

// More author domains than this are not all evaluated (each costs DNS lookups): the
// first ones are, and the From is reported as bad (DmarcOutcome::bad_from).
constexpr std::size_t kMaxAuthorDomains = 10;

// ---- The DMARC record -----------------------------------------------------------

enum class DmarcPolicy { None, Quarantine, Reject };
enum class DmarcAlign { Relaxed, Strict };
const char* dmarc_policy_name(DmarcPolicy p);

enum class DmarcRecordStatus {
  Ok,        // a usable policy record
  Empty,     // "" (or only blanks)
  NotDmarc,  // does not begin with the tag v=DMARC1: not a DMARC record, ignored
  NoPolicy,  // v=DMARC1 but no valid p= (or an invalid sp=) and no valid rua=: 6.6.3 says no policy
};

struct DmarcRecord {
  DmarcRecordStatus status = DmarcRecordStatus::Empty;
  bool has_p = false;                 // a p= tag was present (valid or not)
  bool p_from_rua = false;            // p/sp invalid but rua= valid: acting as p=none (6.6.3)
  DmarcPolicy p = DmarcPolicy::None;
  std::optional<DmarcPolicy> sp;      // absent: p applies to subdomains
  std::optional<DmarcPolicy> np;      // RFC 9091; absent: sp (or p) applies
  DmarcAlign adkim = DmarcAlign::Relaxed;
  DmarcAlign aspf = DmarcAlign::Relaxed;
  unsigned pct = 100;
  std::vector<std::string> rua;       // syntactically valid URIs only (kept, not used)
  std::vector<std::string> ruf;
  std::uint64_t ri = 86400;
  std::string fo = "0";
  std::string rf = "afrf";
  // RFC 9989: psd= ('y' a public suffix domain, 'n' an organisational domain, 'u'
  // unknown, the default) and t= (test mode: the policy applies one level down).
  char psd = 'u';
  bool test_mode = false;
  // One line per tag value we could not use and replaced by its default, and per
  // syntax error; unknown tags are ignored silently (6.3: "MUST be ignored").
  std::vector<std::string> warnings;
  bool usable() const { return status == DmarcRecordStatus::Ok; }
};

// Parses one TXT record (its strings already joined).
DmarcRecord parse_dmarc_record(std::string_view txt);

// RFC 7489 3.1: true if the authenticated domain is aligned with the From domain.
// Both are normalised first; an invalid name never aligns.
bool domains_aligned(const PublicSuffixList& psl, std::string_view from_domain,
                     std::string_view auth_domain, DmarcAlign mode);

// ---- Finding records ----------------------------------------------------------------

// The DMARC record at one name (RFC 7489 6.6.3 steps 1-4, RFC 9989 4.10 step 2):
// only TXT records that begin with v=DMARC1 count; two or more count as none.
struct RecordLookup {
  enum Kind { Found, NoRecord, Multiple, Temporary } kind = NoRecord;
  std::string record;
  std::string detail;  // for the reason: DNS status or record count
};
Task<RecordLookup> find_dmarc_record(DnsLookup& dns, std::string domain);

// ---- RFC 9989's DNS Tree Walk ------------------------------------------------------

// What a walk from `start` found: each name that had exactly one DMARC record, in walk
// order (longest first), and whether a lookup failed (temperror) before the walk
// could finish.
struct DmarcWalk {
  struct Found {
    std::string domain;
    std::string record;  // the TXT text
    DmarcRecord parsed;
  };
  std::string start;
  std::vector<Found> found;
  std::vector<std::string> asked;  // the names asked, for the reason and tests
  bool temporary = false;
  std::string temp_detail;
};
// The names a walk from `domain` asks about, in order (4.10: the name, then, for a
// name of 8 or more labels, its 7 right-most ones, then one label fewer each time,
// down to the top-level domain): at most 8.
std::vector<std::string> dmarc_walk_names(std::string_view domain);
// Walks, stopping at a record with psd=y or psd=n.
Task<DmarcWalk> dmarc_tree_walk(DnsLookup& dns, std::string domain);
// 4.10.2: the Organisational Domain from a walk: the psd=n record's domain, the name
// one label below a psd=y record (not the start), else the found name with the
// fewest labels, else the start itself.
std::string dmarc_walk_org_domain(const DmarcWalk& w);

// ---- Evaluation -----------------------------------------------------------------

// How policy records and Organisational Domains are found (dmarc.discovery):
// RFC 7489 (the Public Suffix List) or RFC 9989 (the DNS Tree Walk and psd=).
enum class DmarcDiscovery { Rfc7489, Rfc9989 };

struct DmarcConfig {
  DmarcDiscovery discovery = DmarcDiscovery::Rfc7489;        // dmarc.discovery
  std::string public_suffix_list = kDefaultPublicSuffixList;  // dmarc.public_suffix_list
  PublicSuffixListPtr psl;                                     // loaded from it
  bool reject_on_policy = false;  // dmarc.reject_on_policy: reject when the disposition is reject
  // dmarc.reject_reply; {domain} is replaced by the policy domain, {from} by the From domain.
  SmtpReply reject_reply{550, "5.7.1", "Message rejected: DMARC policy of {domain} says reject"};
  std::map<std::string, double> scores{  // dmarc.scores
      {"DMARC_PASS", -0.5},           {"DMARC_FAIL", 1.0},
      {"DMARC_NONE", 0.0},            {"DMARC_TEMPERROR", 0.0},
      {"DMARC_PERMERROR", 0.0},       {"DMARC_BAD_FROM", 1.5},
      {"DMARC_POLICY_REJECT", 4.0},   {"DMARC_POLICY_QUARANTINE", 2.0},
      {"DMARC_POLICY_NONE", 0.1},     {"DMARC_MULTI_FROM", 0.0},
  };
  // The pct draw (6.6.4): the policy applies when random() % 100 < pct. Empty: a
  // per-thread std::mt19937 seeded from std::random_device. Tests inject their own.
  std::function<unsigned()> random;
};

// RFC 7489 6.6.1-6.6.4 for one message: every author domain, the strictest result
// (dmarc_strictness) deciding. `auth` holds the SPF and DKIM outcomes; `dns` null
// gives temperror ("no resolver") once the From field has been checked.
// Never throws for bad input: every problem is a result. Callers pass named objects.
Task<DmarcOutcome> evaluate_dmarc(const Message& msg, const AuthResults& auth, DnsLookup* dns,
                                  const DmarcConfig& cfg, bool smtputf8 = false);
// The same on authors already parsed (the session's, shared with policy and the log).
Task<DmarcOutcome> evaluate_dmarc(const FromAuthors& authors, const AuthResults& auth, DnsLookup* dns,
                                  const DmarcConfig& cfg);

// How strict an outcome is, to choose among several author domains (higher wins): a
// failure whose disposition asks for reject, then quarantine; a temperror (a retry
// may find a stricter policy); a failure under p=none; a permerror (a From that is
// not clean); none; pass, which decides only when every author domain passed.
int dmarc_strictness(AuthResult result, const std::string& disposition);

}  // namespace mxgate
