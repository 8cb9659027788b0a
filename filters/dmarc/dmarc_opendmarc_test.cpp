// OpenDMARC's own unit cases (libopendmarc/tests/*.c at bf37d53, transcribed to JSON in
// ../shared/testdata/opendmarc-testdata) run against our DMARC functions.
//
// Each category maps OpenDMARC's expectation onto our API. Where we deliberately
// disagree (the RFC or safety says so), the case is listed in kExpectedDifferences with
// the reason; a listed case that starts to agree fails too, so the list stays true.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <utility>

#include "filters/dmarc/dmarc.hpp"
#include "filters/message.hpp"

#ifndef MXGATE_TESTDATA
#define MXGATE_TESTDATA "../shared/testdata"
#endif

namespace mxgate {
namespace {

// (category, 1-based case number as in OpenDMARC's test tables) -> why we differ.
const std::map<std::pair<std::string, int>, const char*> kExpectedDifferences = {
    {{"dmarc_record_parse", 5},
     "\"p=n\": RFC 7489 6.3/6.4 allow only none, quarantine, reject; an invalid p without a valid "
     "rua is \"no policy\" (6.6.3). OpenDMARC accepts abbreviations."},
    {{"alignment", 5},
     "\".mac.com.\" has an empty first label: not a domain name, so it never aligns. OpenDMARC strips "
     "leading dots; we only remove one trailing dot (the absolute form)."},
    {{"alignment", 6},
     "\"....mac.com....\" is not a domain name (empty labels) and never aligns; garbage must not "
     "align with anything."},
    {{"from_header_domain_extraction", 2},
     "'\"Johnson, Joe <joe@joe.com>\" joe@joe.com': a display name before an addr-spec without <> "
     "is not RFC 5322 syntax; guessing one domain is how From spoofing gets past DMARC. We report a "
     "bad From (DMARC_BAD_FROM, refused by default) and still evaluate every domain after an '@'."},
    {{"from_header_domain_extraction", 6},
     "\"<<<><joe@joe.com>>>\" is not an address (nested angle brackets): a bad From, as case 2."},
    {{"from_header_domain_extraction", 7},
     "Two mailboxes in From: OpenDMARC extracts one; we evaluate every author domain and the "
     "strictest result decides (RFC 7489 6.6.1), so a spoofer cannot hide behind an aligned "
     "co-author. from_domain_of() is the one-author accessor and says so."},
    {{"from_header_domain_extraction", 8}, "Two mailboxes in From: every author domain evaluated (see case 7)."},
    {{"from_header_domain_extraction", 9},
     "\"Mail From:<joe@joe.com>\" is group syntax (display name \"Mail From\", ':') without the "
     "closing ';': a bad From, as case 2."},
    {{"from_header_domain_extraction", 12},
     "'\"( bob@bob.com)\" joe@joe.com': display name without <> around the address, as case 2."},
    {{"org_domain_psl", 4},
     "Transcription artefact: in OpenDMARC's C source \"\\0xd8...\" is a NUL followed by \"xd8\", so "
     "that test compared only \"c.\". Decoded, the name is a.b.c.<iran>.ar; \"ar\" is the public "
     "suffix in the snapshot, so the Organisational Domain is <iran>.ar, not c.<iran>.ar."},
};

std::string testdata() { return std::string(MXGATE_TESTDATA) + "/opendmarc-testdata"; }

// "\\0xd8" in the JSON stands for the byte 0xd8.
std::string decode_bytes(const std::string& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s.compare(i, 3, "\\0x") == 0 && i + 5 <= s.size()) {
      out.push_back(static_cast<char>(std::stoi(s.substr(i + 3, 2), nullptr, 16)));
      i += 4;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

std::string classify(const DmarcRecord& r) {
  if (r.status == DmarcRecordStatus::Empty) return "DMARC_PARSE_ERROR_EMPTY";
  if (r.status == DmarcRecordStatus::NotDmarc) return "DMARC_PARSE_ERROR_BAD_VERSION";
  if (!r.warnings.empty()) return "DMARC_PARSE_ERROR_BAD_VALUE";
  if (r.status == DmarcRecordStatus::NoPolicy && !r.has_p) return "DMARC_PARSE_ERROR_NO_REQUIRED_P";
  return r.status == DmarcRecordStatus::Ok ? "DMARC_PARSE_OKAY" : "DMARC_PARSE_ERROR_BAD_VALUE";
}

struct Tally {
  int passed = 0, failed = 0, expected_diff = 0;
  std::vector<std::string> unexpected;
  void check(const std::string& cat, int n, bool agrees, const std::string& what) {
    auto diff = kExpectedDifferences.find({cat, n});
    if (agrees) {
      ++passed;
      if (diff != kExpectedDifferences.end())
        unexpected.push_back(cat + " #" + std::to_string(n) + " now agrees with OpenDMARC; drop it from the list: " + what);
      return;
    }
    ++failed;
    if (diff != kExpectedDifferences.end()) {
      ++expected_diff;
      std::printf("  expected difference %s #%d: %s\n    why: %s\n", cat.c_str(), n, what.c_str(), diff->second);
    } else {
      unexpected.push_back(cat + " #" + std::to_string(n) + ": " + what);
    }
  }
};

TEST(OpenDmarcCases, AllCategories) {
  std::string dir = testdata();
  std::string cases = dir + "/opendmarc-unit-cases.json";
  if (!std::filesystem::exists(cases)) GTEST_SKIP() << "no OpenDMARC test data at " << cases;
  YAML::Node root = YAML::LoadFile(cases);
  std::string snapshot = dir + "/effective_tld_names.dat";
  std::string why;
  PublicSuffixListPtr psl = PublicSuffixList::load(snapshot, &why);
  ASSERT_TRUE(psl) << why;
  Tally t;

  // 1. Record parsing: our status and warnings mapped onto OpenDMARC's status codes.
  int n = 0;
  std::size_t categories = 0;
  for (const auto& c : root["dmarc_record_parse"]) {
    ++n;
    std::string rec = c["record"].as<std::string>();
    std::string want = c["expect"].as<std::string>();
    std::string got = classify(parse_dmarc_record(rec));
    t.check("dmarc_record_parse", n, got == want, "\"" + rec + "\": want " + want + ", got " + got);
  }
  categories += n > 0;

  // 2. Alignment, with the PSL snapshot OpenDMARC's test loads.
  n = 0;
  for (const auto& c : root["alignment"]) {
    ++n;
    std::string from = c["from_domain"].as<std::string>();
    std::string auth = c["auth_domain"].as<std::string>();
    std::string mode = c["mode"].as<std::string>();
    bool want = c["expect"].as<int>() == 0;
    DmarcAlign m = mode == "DMARC_RECORD_A_STRICT" ? DmarcAlign::Strict : DmarcAlign::Relaxed;
    ASSERT_TRUE(mode == "DMARC_RECORD_A_STRICT" || mode == "DMARC_RECORD_A_RELAXED") << mode;
    bool got = domains_aligned(*psl, from, auth, m);
    t.check("alignment", n, got == want,
            from + " vs " + auth + " " + mode + ": want " + (want ? "aligned" : "not aligned") + ", got " +
                (got ? "aligned" : "not aligned"));
  }
  categories += n > 0;

  // 3. From-domain extraction. A case that begins with "From:" is a whole header line
  // (OpenDMARC's case 13); the others are field values.
  n = 0;
  for (const auto& c : root["from_header_domain_extraction"]) {
    ++n;
    std::string from = c["from"].as<std::string>();
    std::string want = c["expect_domain"].as<std::string>();
    bool whole_line = from.size() >= 5 && iequals(from.substr(0, 5), "From:");
    Message msg((whole_line ? from : "From: " + from) + "\r\n\r\n");
    FromDomain got = from_domain_of(msg);
    t.check("from_header_domain_extraction", n, got.ok && got.domain == want,
            "'" + from + "': want " + want + ", got " + (got.ok ? got.domain : "error: " + got.error));
  }
  categories += n > 0;

  // 4. Organisational Domain from the snapshot list.
  n = 0;
  for (const auto& c : root["org_domain_psl"]) {
    ++n;
    std::string file = dir + "/" + c["psl"].as<std::string>();
    ASSERT_EQ(file, snapshot) << "case names another list";
    std::string domain = decode_bytes(c["domain"].as<std::string>());
    std::string want = decode_bytes(c["expect_org"].as<std::string>());
    std::string got = organizational_domain(*psl, domain);
    t.check("org_domain_psl", n, got == want, domain + ": want " + want + ", got " + got);
  }
  categories += n > 0;

  std::printf("OpenDMARC unit cases: %d passed, %d failed (%d of them expected differences), %zu categories\n",
              t.passed, t.failed, t.expected_diff, categories);
  EXPECT_EQ(categories, 4u) << "a category is missing from the JSON";
  EXPECT_EQ(t.passed + t.failed, 46) << "the case file changed: review the expected differences";
  for (const auto& u : t.unexpected) ADD_FAILURE() << u;
}

}  // namespace
}  // namespace mxgate
