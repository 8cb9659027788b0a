// The on-disk cache of compiled rule sets (content.cache_dir).
//
// Compiling SpamAssassin's stock rules takes about a minute, nearly all of it in
// Hyperscan; a restart with the same rules should not pay that again. One file per
// rule set, named by its cache key (rule_cache.hpp), holds each scope's entries
// (engine, flags, the reason it left Hyperscan) and the serialised Hyperscan
// databases (hs_serialize_database). RE2 and PCRE2 objects are rebuilt on load.
//
// A file is only trusted whole: the key inside must match, every scope and entry
// must line up with the rules being loaded, and Hyperscan must accept every
// database (hs_deserialize_database checks its own version and platform). Anything
// else and the caller compiles as if there were no file, then replaces it. Files
// are written to a temporary name, fsync'ed and renamed, so a crash leaves either
// the old file or the new one; only the newest kMaxFiles stay.
#include "rules/rule_cache.hpp"

#include <hs/hs.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cstdio>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

namespace mxgate::rules {
namespace {

// Bumped whenever the compiler may place a pattern differently (5: oversized
// repeats compiled as PCRE2 subroutine calls), so no cache keeps an old choice.
constexpr const char* kMagic = "MXGATE-RULES-CACHE 5\n";
constexpr std::size_t kMaxFiles = 4;
// Bounds on what a (corrupt) file can make us allocate.
constexpr std::uint64_t kMaxBlob = std::uint64_t{1} << 31;

class Writer {
 public:
  void u8(unsigned v) { out_.push_back(static_cast<char>(v)); }
  void u64(std::uint64_t v) {
    for (int i = 0; i < 8; ++i) out_.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
  void bytes(const char* p, std::size_t n) {
    u64(n);
    out_.append(p, n);
  }
  void str(const std::string& s) { bytes(s.data(), s.size()); }
  std::string& data() { return out_; }

 private:
  std::string out_;
};

class Reader {
 public:
  explicit Reader(const std::string& in) : in_(in) {}
  bool u8(unsigned& v) {
    if (pos_ + 1 > in_.size()) return false;
    v = static_cast<unsigned char>(in_[pos_++]);
    return true;
  }
  bool u64(std::uint64_t& v) {
    if (pos_ + 8 > in_.size()) return false;
    v = 0;
    for (int i = 0; i < 8; ++i) v |= std::uint64_t{static_cast<unsigned char>(in_[pos_++])} << (8 * i);
    return true;
  }
  bool bytes(std::string_view& out) {
    std::uint64_t n = 0;
    if (!u64(n) || n > kMaxBlob || n > in_.size() - pos_) return false;
    out = std::string_view(in_).substr(pos_, n);
    pos_ += n;
    return true;
  }
  bool at_end() const { return pos_ == in_.size(); }

 private:
  const std::string& in_;
  std::size_t pos_ = 0;
};

bool serialize(const hs_database_t* db, Writer& w) {
  char* bytes = nullptr;
  std::size_t len = 0;
  if (hs_serialize_database(db, &bytes, &len) != HS_SUCCESS) return false;
  w.bytes(bytes, len);
  std::free(bytes);  // Hyperscan's default misc allocator is malloc
  return true;
}

HsDatabasePtr deserialize(std::string_view blob) {
  hs_database_t* db = nullptr;
  if (hs_deserialize_database(blob.data(), blob.size(), &db) != HS_SUCCESS) return nullptr;
  return HsDatabasePtr(db);
}

// Keeps the newest kMaxFiles cache files (a rules folder edited again and again
// must not fill the disk).
void prune(const std::filesystem::path& dir) {
  std::vector<std::pair<std::filesystem::file_time_type, std::filesystem::path>> files;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    auto name = e.path().filename().string();
    if (name.starts_with("rules-") && name.ends_with(".hsc")) files.emplace_back(e.last_write_time(ec), e.path());
  }
  if (files.size() <= kMaxFiles) return;
  std::sort(files.begin(), files.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  for (std::size_t i = kMaxFiles; i < files.size(); ++i) std::filesystem::remove(files[i].second, ec);
}

}  // namespace

std::string cache_key(const std::vector<std::unique_ptr<CompiledScope>>& scopes, const std::vector<Rule>& rules,
                      const CompileOptions& copt) {
  Writer w;
  w.str(kMagic);
  w.str(hs_version());
  w.u64(static_cast<std::uint64_t>(copt.hs_solo_threshold.count()));
  w.u64(copt.hs_group_max_db_bytes);
  w.u64(static_cast<std::uint64_t>(copt.re2_max_mem));
  w.u64(copt.hs_max_expanded);
  w.u64(copt.hs_shared_max_patterns);
  w.u64(copt.hs_presume_slow_expanded);
  w.u64(copt.hs_slow_max_patterns);
  w.u64(copt.prefilter_loose_above);
  w.u64(copt.prefilter_relax_above);
  w.u64(scopes.size());
  for (const auto& sc : scopes) {
    w.str(sc->key);
    w.u8(static_cast<unsigned>(sc->scope));
    w.u64(sc->regexes.size());
    for (const auto& cr : sc->regexes) {
      const Rule& r = rules[cr.rule];
      w.u64(cr.rule);
      w.str(r.name);
      w.str(cr.pattern);
      w.str(cr.prefilter);
      w.u64(cr.hs_flags);
      w.u8(r.multiple ? 1 : 0);
    }
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  EVP_Digest(w.data().data(), w.data().size(), md, &len, EVP_sha256(), nullptr);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < len; ++i) {
    out += hex[md[i] >> 4];
    out += hex[md[i] & 15];
  }
  return out;
}

std::string RuleSet::save_cache(const Scopes& scopes, const std::filesystem::path& file, const std::string& key) {
  Writer w;
  w.data() = kMagic;
  w.str(key);
  w.u64(scopes.size());
  for (const auto& sc : scopes) {
    w.str(sc->key);
    w.u64(sc->regexes.size());
    for (const auto& cr : sc->regexes) {
      w.u8(static_cast<unsigned>(cr.engine));
      w.u64(cr.hs_flags);
      w.str(cr.reason);
      w.u8(cr.grouped ? 1 : 0);
      w.u8(cr.gated ? 1 : 0);
      w.u8(cr.solo ? 1 : 0);
      if (cr.solo && !serialize(cr.solo.get(), w)) return "hs_serialize_database failed";
    }
    w.u64(sc->hs.size());
    for (const auto& db : sc->hs) {
      w.u8(db ? 1 : 0);
      if (db && !serialize(db.get(), w)) return "hs_serialize_database failed";
    }
    w.u64(sc->slow.size());
    for (const auto& db : sc->slow) {
      w.u8(db ? 1 : 0);
      if (db && !serialize(db.get(), w)) return "hs_serialize_database failed";
    }
  }
  std::error_code ec;
  std::filesystem::create_directories(file.parent_path(), ec);
  if (ec) return file.parent_path().string() + ": " + ec.message();
  std::string tmp = file.string() + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return tmp + ": " + std::strerror(errno);
  const std::string& data = w.data();
  std::size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      std::string why = tmp + ": " + std::strerror(errno);
      ::close(fd);
      ::unlink(tmp.c_str());
      return why;
    }
    off += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    ::unlink(tmp.c_str());
    return tmp + ": " + std::strerror(errno);
  }
  if (::rename(tmp.c_str(), file.c_str()) != 0) {
    std::string why = file.string() + ": " + std::strerror(errno);
    ::unlink(tmp.c_str());
    return why;
  }
  prune(file.parent_path());
  return {};
}

std::string RuleSet::load_cache(Scopes& scopes, const std::filesystem::path& file, const std::string& key,
                                const std::vector<Rule>& rules, const CompileOptions& copt) {
  std::string data;
  {
    std::FILE* f = std::fopen(file.c_str(), "rb");
    if (!f) return std::strerror(errno);
    char buf[1 << 16];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) data.append(buf, n);
    bool bad = std::ferror(f);
    std::fclose(f);
    if (bad) return "read error";
  }
  std::string_view magic(kMagic);
  if (data.compare(0, magic.size(), magic) != 0) return "not a cache file of this version";
  std::string rest = data.substr(magic.size());
  Reader rd(rest);
  std::string_view k;
  std::uint64_t n_scopes = 0;
  if (!rd.bytes(k) || k != key) return "key differs";
  if (!rd.u64(n_scopes) || n_scopes != scopes.size()) return "scope count differs";
  for (auto& sc : scopes) {
    std::string_view sk;
    std::uint64_t n = 0;
    if (!rd.bytes(sk) || sk != sc->key) return "scope " + sc->key + " differs";
    if (!rd.u64(n) || n != sc->regexes.size()) return "scope " + sc->key + ": entry count differs";
    for (auto& cr : sc->regexes) {
      unsigned engine = 0, solo = 0, grouped = 0, gated = 0;
      std::uint64_t flags = 0;
      std::string_view reason, blob;
      if (!rd.u8(engine) || engine >= kEngineCount || !rd.u64(flags) || !rd.bytes(reason) || !rd.u8(grouped) || !rd.u8(gated) ||
          !rd.u8(solo))
        return "truncated in scope " + sc->key;
      cr.engine = static_cast<Engine>(engine);
      cr.hs_flags = static_cast<unsigned>(flags);
      cr.reason = std::string(reason);
      cr.grouped = grouped != 0;
      cr.gated = gated != 0;
      if (solo) {
        if (!rd.bytes(blob) || !(cr.solo = deserialize(blob))) return "bad database in scope " + sc->key;
      }
      rebuild_side_engines(cr, rules[cr.rule], copt);
      bool needs_re2 = cr.engine == Engine::Re2, needs_pcre2 = cr.engine == Engine::Prefilter || cr.engine == Engine::Pcre2;
      if ((needs_re2 && !cr.re2) || (needs_pcre2 && !cr.pcre2)) return "rule " + rules[cr.rule].name + " no longer compiles";
    }
    for (auto* dbs : {&sc->hs, &sc->slow}) {
      std::uint64_t parts = 0;
      if (!rd.u64(parts) || parts > sc->regexes.size()) return "truncated in scope " + sc->key;
      dbs->resize(static_cast<std::size_t>(parts));
      for (auto& db : *dbs) {
        unsigned present = 0;
        std::string_view blob;
        if (!rd.u8(present)) return "truncated in scope " + sc->key;
        if (present && (!rd.bytes(blob) || !(db = deserialize(blob)))) return "bad database in scope " + sc->key;
      }
    }
  }
  if (!rd.at_end()) return "trailing data";
  return {};
}

}  // namespace mxgate::rules
