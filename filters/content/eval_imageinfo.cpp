// SpamAssassin's ImageInfo plugin (Plugin/ImageInfo.pm): counts and sizes of the
// GIF, PNG and JPEG images a message carries, for the image-spam rules
// (DC_GIF_UNO_LARGO, DC_IMAGE_SPAM_*, __HTML_IMG_ONLY and the metas over them).
//
// As the plugin does: the images are the leaf parts whose type is image/gif,
// image/png, image/jpeg or image/jpg in SpamAssassin's own parse (sa_message.hpp)
// and that are base64-encoded; each counts for its type whether or not its data
// parses; width and height come from the GIF logical screen, the PNG IHDR chunk or
// the first JPEG SOF segment, and only an image with both adds its area, its
// "HxW" and its file name. The format readers keep the plugin's quirks: a GIF is
// read from its first 13 bytes; the PNG reader steps 8 bytes at a time until it
// meets an IHDR of length 13 or IEND; the JPEG reader walks the segments from the
// start and stops at SOS.
// Differences: image_name_regex matches the name against the regex argument read
// as SpamAssassin's rules write it (/re/flags); the plugin interpolates the whole
// argument, slashes included, into its pattern, so there it only matches names
// that contain the slashes. No stock rule calls it.
#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "base/text.hpp"
#include "filters/content/eval_tests.hpp"
#include "filters/content/sa_message.hpp"

namespace mxgate {
namespace {

struct ImageFacts {
  std::map<std::string, double, std::less<>> pixels;  // pc_TYPE ("all", "gif", "png", "jpeg")
  std::map<std::string, double, std::less<>> count;   // count_TYPE
  std::map<std::string, std::set<std::string>, std::less<>> dims;  // dems_TYPE: "HxW"
  std::set<std::string> names;
};

std::uint32_t be16(std::string_view d, std::size_t at) {
  return (static_cast<std::uint8_t>(d[at]) << 8) | static_cast<std::uint8_t>(d[at + 1]);
}
std::uint32_t be32(std::string_view d, std::size_t at) { return (be16(d, at) << 16) | be16(d, at + 2); }

// Width and height (0 when unknown) of one image, by type.
std::pair<std::uint64_t, std::uint64_t> dimensions(std::string_view type, std::string_view d) {
  if (type == "gif") {
    d = d.substr(0, 13);
    if (!(d.starts_with("GIF87a") || d.starts_with("GIF89a")) || d.size() < 10) return {0, 0};
    auto le16 = [&](std::size_t at) {
      return static_cast<std::uint64_t>(static_cast<std::uint8_t>(d[at]) | (static_cast<std::uint8_t>(d[at + 1]) << 8));
    };
    return {le16(6), le16(8)};
  }
  if (type == "png") {
    if (!d.starts_with(std::string_view("\x89PNG\r\n\x1a\n", 8))) return {0, 0};
    for (std::size_t pos = 8; pos < d.size(); pos += 8) {
      std::string_view chunk = d.substr(pos, 8);
      if (chunk.substr(std::min<std::size_t>(4, chunk.size())) == "IEND") break;
      if (chunk.size() < 8 || chunk.substr(4) != "IHDR" || be32(chunk, 0) != 13) continue;
      std::string_view ihdr = d.substr(pos + 8);
      std::uint64_t w = ihdr.size() >= 4 ? be32(ihdr, 0) : 0, h = ihdr.size() >= 8 ? be32(ihdr, 4) : 0;
      return {w, h};
    }
    return {0, 0};
  }
  // jpeg
  if (!d.starts_with("\xFF\xD8")) return {0, 0};
  std::size_t pos = 2;
  while (pos + 4 <= d.size()) {
    auto mark = static_cast<std::uint8_t>(d[pos + 1]);
    std::uint32_t len = be16(d, pos + 2);
    if (static_cast<std::uint8_t>(d[pos]) != 0xFF || mark == 0xDA || mark == 0xD9 || len < 2) break;
    pos += 4;
    std::string_view block = d.substr(std::min(pos, d.size()), len - 2);
    bool sof = (mark >= 0xC0 && mark <= 0xC3) || (mark >= 0xC5 && mark <= 0xC7) || (mark >= 0xC9 && mark <= 0xCB) ||
               (mark >= 0xCD && mark <= 0xCF);
    if (sof) {
      std::uint64_t h = block.size() >= 3 ? be16(block, 1) : 0, w = block.size() >= 5 ? be16(block, 3) : 0;
      return {w, h};
    }
    pos += block.size();
  }
  return {0, 0};
}

ImageFacts analyse(EvalContext& ctx) {
  ImageFacts f;
  for (const char* t : {"all", "gif", "png", "jpeg"}) f.pixels[t] = f.count[t] = 0;
  const sa::Message& m = sa::message(ctx);
  for (std::size_t at : m.find_parts()) {
    const sa::Part& p = m.parts[at];
    if (!p.leaf) continue;
    if (p.type != "image/gif" && p.type != "image/png" && p.type != "image/jpeg" && p.type != "image/jpg") continue;
    auto cte = p.get_header("content-transfer-encoding");
    if (!cte || lower(*cte) != "base64\n") continue;  // lc(get_header(...)) !~ /^base64$/
    std::string type = p.type.substr(6);
    if (type == "jpg") type = "jpeg";
    auto [w, h] = dimensions(type, p.decode());
    f.count[type] += 1;
    f.count["all"] += 1;
    if (!w || !h) continue;
    f.pixels[type] += static_cast<double>(w * h);
    f.pixels["all"] += static_cast<double>(w * h);
    std::string dem = std::to_string(h) + "x" + std::to_string(w);
    f.dims[type].insert(dem);
    f.dims["all"].insert(dem);
    if (std::string n = p.name(); !n.empty() && n != "0") f.names.insert(n);
  }
  return f;
}

const ImageFacts& facts(EvalContext& ctx) {
  return ctx.fact<ImageFacts>([&] { return analyse(ctx); });
}

double num(std::string_view s) { return eval_number(s).value_or(0); }

// result_check($min, $max, $value, $nomaxequal).
bool result_check(EvalArgs a, std::size_t min_at, std::optional<double> value, bool nomaxequal = false) {
  if (!value) return false;
  if (*value < num(a[min_at])) return false;
  bool has_max = a.size() > min_at + 1;
  if (has_max && *value > num(a[min_at + 1])) return false;
  if (nomaxequal && *value == (has_max ? num(a[min_at + 1]) : 0)) return false;
  return true;
}

std::optional<double> lookup(const std::map<std::string, double, std::less<>>& m, std::string_view type) {
  auto it = m.find(type);
  if (it == m.end()) return std::nullopt;
  return it->second;
}

std::string fmt(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.6g", v);
  return b;
}

EvalResult image_count(EvalContext& ctx, EvalArgs a) {
  if (a.size() < 2) return std::nullopt;
  auto v = lookup(facts(ctx).count, a[0]);
  if (!result_check(a, 1, v)) return std::nullopt;
  return fmt(*v) + " " + a[0] + " image(s)";
}

EvalResult pixel_coverage(EvalContext& ctx, EvalArgs a) {
  if (a.size() < 2) return std::nullopt;
  auto v = lookup(facts(ctx).pixels, a[0]);
  if (!result_check(a, 1, v)) return std::nullopt;
  return fmt(*v) + " pixels of " + a[0];
}

EvalResult image_to_text_ratio(EvalContext& ctx, EvalArgs a) {
  if (a.size() < 3) return std::nullopt;
  bool raw = ctx.rule && ctx.rule->eval.target == rules::Scope::RawBody;
  double text = static_cast<double>((raw ? ctx.texts.rawbody : ctx.texts.body).text.size());
  auto px = lookup(facts(ctx).pixels, a[0]);
  if (text <= 0 || !px || *px <= 0) return std::nullopt;
  double ratio = text / *px;
  if (!result_check(a, 1, ratio, true)) return std::nullopt;
  return "text/pixels " + fmt(ratio);
}

EvalResult image_size_exact(EvalContext& ctx, EvalArgs a) {
  if (a.size() < 3) return std::nullopt;
  const auto& dims = facts(ctx).dims;
  auto it = dims.find(a[0]);
  std::string dem = a[1] + "x" + a[2];
  if (it == dims.end() || !it->second.count(dem)) return std::nullopt;
  return a[0] + " " + dem;
}

EvalResult image_size_range(EvalContext& ctx, EvalArgs a) {
  if (a.size() < 3) return std::nullopt;
  const auto& dims = facts(ctx).dims;
  auto it = dims.find(a[0]);
  if (it == dims.end()) return std::nullopt;
  for (const std::string& dem : it->second) {
    std::size_t x = dem.find('x');
    double h = num(dem.substr(0, x)), w = num(dem.substr(x + 1));
    if (h < num(a[1]) || w < num(a[2])) continue;
    if (a.size() > 3 && h > num(a[3])) continue;
    if (a.size() > 4 && w > num(a[4])) continue;
    return a[0] + " " + dem;
  }
  return std::nullopt;
}

EvalResult image_named(EvalContext& ctx, EvalArgs a) {
  if (a.empty() || !facts(ctx).names.count(a[0])) return std::nullopt;
  return a[0];
}

EvalResult image_name_regex(EvalContext& ctx, EvalArgs a) {
  if (a.empty()) return std::nullopt;
  auto re = EvalRegex::get(a[0]);
  if (!re) return std::nullopt;
  for (const std::string& n : facts(ctx).names)
    if (re->search(n)) return n;
  return std::nullopt;
}

std::string numbers_from(const std::vector<std::string>& a, std::size_t from, std::size_t min, std::size_t max) {
  if (a.size() < min || a.size() > max)
    return "takes " + std::to_string(min) + (max > min ? " to " + std::to_string(max) : "") + " arguments";
  for (std::size_t i = from; i < a.size(); ++i)
    if (!eval_number(a[i])) return "argument '" + a[i] + "' is not a number";
  return {};
}

}  // namespace

void add_imageinfo_evals(EvalTable& t) {
  const std::vector<rules::Scope> body = {rules::Scope::Body, rules::Scope::RawBody};
  t.emplace("image_count", EvalFunction{image_count, body, [](const auto& a) { return numbers_from(a, 1, 2, 3); }});
  t.emplace("pixel_coverage", EvalFunction{pixel_coverage, body, [](const auto& a) { return numbers_from(a, 1, 2, 3); }});
  t.emplace("image_to_text_ratio",
            EvalFunction{image_to_text_ratio, body, [](const auto& a) { return numbers_from(a, 1, 3, 3); }});
  t.emplace("image_size_exact", EvalFunction{image_size_exact, body, [](const auto& a) { return numbers_from(a, 1, 3, 3); }});
  t.emplace("image_size_range", EvalFunction{image_size_range, body, [](const auto& a) { return numbers_from(a, 1, 3, 5); }});
  t.emplace("image_named", EvalFunction{image_named, body, [](const auto& a) { return numbers_from(a, 1, 1, 1); }});
  t.emplace("image_name_regex", EvalFunction{image_name_regex, body, [](const auto& a) {
                                               std::string err = numbers_from(a, 1, 1, 1);
                                               if (err.empty() && !EvalRegex::get(a[0], &err)) err = "invalid regexp: " + err;
                                               return err;
                                             }});
}

}  // namespace mxgate
