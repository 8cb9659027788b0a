// The Public Suffix List (libpsl; Debian's publicsuffix package): registrable
// domains for DMARC's Organisational Domain (RFC 7489 3.2) and for the DNS lists
// that are asked about a domain, not a host (URIBL, SURBL, Spamhaus DBL).
#pragma once
#include <memory>
#include <string>
#include <string_view>

namespace mxgate {

// A loaded Public Suffix List (libpsl context). Immutable once loaded; shared by all
// sessions and threads (libpsl only reads it).
class PublicSuffixList {
 public:
  // Loads a list file (.dat text or libpsl's .dafsa). Null and *why on failure.
  static std::shared_ptr<const PublicSuffixList> load(const std::string& path, std::string* why);
  ~PublicSuffixList();
  PublicSuffixList(const PublicSuffixList&) = delete;
  PublicSuffixList& operator=(const PublicSuffixList&) = delete;
  const std::string& path() const { return path_; }
  // The registrable domain (public suffix plus one label), or "" if `domain` is itself
  // a public suffix. `domain` must be lowercase, without trailing dot.
  std::string registrable(const std::string& domain) const;

 private:
  PublicSuffixList() = default;
  struct Ctx;
  Ctx* ctx_ = nullptr;
  std::string path_;
};
using PublicSuffixListPtr = std::shared_ptr<const PublicSuffixList>;

constexpr const char* kDefaultPublicSuffixList = "/usr/share/publicsuffix/public_suffix_list.dat";

// RFC 7489 3.2: the Organisational Domain of `domain` (normalised). A domain that is
// itself a public suffix is its own Organisational Domain. "" if `domain` is invalid.
std::string organizational_domain(const PublicSuffixList& psl, std::string_view domain);

}  // namespace mxgate
