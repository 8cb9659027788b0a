#include "filters/auth/public_suffix.hpp"

#include <libpsl.h>

#include "filters/auth/from_authors.hpp"

namespace mxgate {

struct PublicSuffixList::Ctx {
  psl_ctx_t* psl = nullptr;
};

std::shared_ptr<const PublicSuffixList> PublicSuffixList::load(const std::string& path, std::string* why) {
  // psl_load_file reads the text list and libpsl's DAFSA alike. We never fall back to
  // psl_builtin(): an operator who names a file must get that file or an error.
  psl_ctx_t* ctx = psl_load_file(path.c_str());
  if (!ctx) {
    if (why) *why = "cannot load the public suffix list " + path;
    return nullptr;
  }
  std::shared_ptr<PublicSuffixList> out(new PublicSuffixList());
  out->ctx_ = new Ctx{ctx};
  out->path_ = path;
  return out;
}

PublicSuffixList::~PublicSuffixList() {
  if (ctx_) psl_free(ctx_->psl);
  delete ctx_;
}

std::string PublicSuffixList::registrable(const std::string& domain) const {
  // psl_registrable_domain() returns a pointer into its argument, or null when the
  // name is a public suffix itself (or not registrable at all).
  const char* r = psl_registrable_domain(ctx_->psl, domain.c_str());
  return r ? std::string(r) : std::string();
}


std::string organizational_domain(const PublicSuffixList& psl, std::string_view domain) {
  std::string d = normalize_domain(domain);
  if (d.empty()) return d;
  std::string org = psl.registrable(d);
  // RFC 7489 3.2 builds the Organisational Domain from the longest matching public
  // suffix plus one label; a name that is a public suffix has no such label, and we
  // take the name itself (so "co.uk" is aligned only with "co.uk").
  return org.empty() ? d : org;
}

}  // namespace mxgate
