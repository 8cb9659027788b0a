#include "filters/bayes/bayes_classifier.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>

namespace mxgate::bayes {
namespace {

// The chi-square survival function for 2*halfv degrees of freedom (even): the
// series of e^-m * m^i / i!, capped at 1.
double chi2q(double x2, std::size_t halfv) {
  const double m = x2 / 2.0;
  double term = std::exp(-m);
  double sum = term;
  for (std::size_t i = 1; i < halfv; ++i) {
    term *= m / static_cast<double>(i);
    sum += term;
  }
  return std::min(sum, 1.0);
}

}  // namespace

std::optional<double> token_probability(TokenCounts c, Totals t, const Params& prm) {
  if (t.nspam == 0 || t.nham == 0) return std::nullopt;
  const double s = c.spam, n = c.ham;
  if (s + n < 1) return std::nullopt;
  const double ns = static_cast<double>(t.nspam), nn = static_cast<double>(t.nham);
  const double p = (s * nn) / (n * ns + s * nn);
  const double seen = s + n;
  return (prm.robs * prm.robx + seen * p) / (prm.robs + seen);
}

std::optional<double> chi2_combine(std::span<const double> probs, Totals t) {
  if (probs.empty()) return std::nullopt;
  const double total = static_cast<double>(t.nspam + t.nham);
  if (total == 0) return std::nullopt;
  // Products of many small numbers: kept as mantissa and binary exponent so they
  // never underflow.
  double s = static_cast<double>(t.nspam) / total, h = static_cast<double>(t.nham) / total;
  int s_exp = 0, h_exp = 0;
  for (double p : probs) {
    s *= 1.0 - p;
    h *= p;
    if (s < 1e-200) {
      int e = 0;
      s = std::frexp(s, &e);
      s_exp += e;
    }
    if (h < 1e-200) {
      int e = 0;
      h = std::frexp(h, &e);
      h_exp += e;
    }
  }
  if (s <= 0 || h <= 0) return s <= 0 && h <= 0 ? std::optional<double>(0.5) : std::optional<double>(s <= 0 ? 1.0 : 0.0);
  const double ln2 = std::log(2.0);
  const double ls = std::log(s) + s_exp * ln2;
  const double lh = std::log(h) + h_exp * ln2;
  const double S = 1.0 - chi2q(-2.0 * ls, probs.size());
  const double H = 1.0 - chi2q(-2.0 * lh, probs.size());
  return ((S - H) + 1.0) / 2.0;
}

Classification classify(std::span<const TokenCounts> counts, Totals t, const Params& prm) {
  Classification out;
  out.tokens = counts.size();
  struct Cand {
    std::size_t index;
    double prob;
    double strength;
  };
  std::vector<Cand> cands;
  for (std::size_t i = 0; i < counts.size(); ++i) {
    auto p = token_probability(counts[i], t, prm);
    if (!p) continue;
    ++out.known;
    double st = std::fabs(*p - 0.5);
    if (st >= prm.min_dev) cands.push_back({i, *p, st});
  }
  // The strongest first; ties by index so the answer never depends on sort order.
  std::sort(cands.begin(), cands.end(), [](const Cand& a, const Cand& b) {
    return a.strength != b.strength ? a.strength > b.strength : a.index < b.index;
  });
  if (cands.size() > kMaxSignificant) cands.resize(kMaxSignificant);
  std::vector<double> probs;
  for (const auto& c : cands) {
    probs.push_back(c.prob);
    out.significant.push_back(c.index);
    out.significant_prob.push_back(c.prob);
  }
  out.used = probs.size();
  out.probability = chi2_combine(probs, t);
  return out;
}

std::string describe(const Classification& c, Totals t) {
  char buf[160];
  if (c.probability) {
    std::snprintf(buf, sizeof buf, "p=%.4f tokens=%zu known=%zu used=%zu nspam=%llu nham=%llu", *c.probability,
                  c.tokens, c.known, c.used, static_cast<unsigned long long>(t.nspam),
                  static_cast<unsigned long long>(t.nham));
  } else {
    std::snprintf(buf, sizeof buf, "no probability: tokens=%zu known=%zu used=0 nspam=%llu nham=%llu", c.tokens,
                  c.known, static_cast<unsigned long long>(t.nspam), static_cast<unsigned long long>(t.nham));
  }
  return buf;
}

}  // namespace mxgate::bayes
