// The classifier's arithmetic: how spammy each token is, and how the most telling
// tokens of a message combine into one spam probability.
//
// Gary Robinson's method, as SpamAssassin and bogofilter use it:
// - a token seen s times in nspam spam and n times in nham ham has the raw
//   probability p = (s/nspam) / (s/nspam + n/nham), pulled towards a neutral x
//   by how little it was seen: f = (S*x + (s+n)*p) / (S + s+n) (Robinson's f(w));
// - only tokens at least `min_dev` away from 0.5 count, the 150 strongest;
// - Fisher's method combines them: the chi-square probabilities of the product of
//   the f and of the (1 - f), under the prior nspam:nham, give an indicator
//   I = (1 + S - H) / 2 between 0 (ham) and 1 (spam).
// The arithmetic is SpamAssassin's; two constants are not. SpamAssassin trusts a
// token seen once almost fully (S = 0.030) and ignores tokens within 0.346 of
// neutral. On the public corpus (five-fold cross-validation, docs/rules.md) a
// stronger prior and a lower floor, S = 0.2 and 0.2 (SpamBayes, which also
// combines by chi-square, uses 0.45 and 0.1), left a third fewer spam below
// BAYES_95 and fewer ham above BAYES_05: fewer hapaxes decide a message alone, and
// the moderately telling words of newsletter-like spam count. Both are settings
// (robs, min_dev, as bogofilter names them) so SpamAssassin's values can be had.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace mxgate::bayes {

struct TokenCounts {
  std::uint32_t spam = 0;
  std::uint32_t ham = 0;
};

struct Totals {
  std::uint64_t nspam = 0;  // messages learned as spam
  std::uint64_t nham = 0;
};

struct Params {
  double robs = 0.2;      // Robinson's S: strength of the neutral prior
  double robx = 0.538;    // Robinson's x: the neutral probability (SpamAssassin's)
  double min_dev = 0.2;   // |f - 0.5| below this: the token is ignored
};
inline constexpr std::size_t kMaxSignificant = 150;  // SpamAssassin's N_SIGNIFICANT_TOKENS

// Robinson's f(w); nullopt for a token never seen or before both kinds are learned.
std::optional<double> token_probability(TokenCounts c, Totals t, const Params& p = {});

// Fisher's combination of the probabilities, with the learned prior.
std::optional<double> chi2_combine(std::span<const double> probs, Totals t);

struct Classification {
  std::optional<double> probability;  // nullopt: no token known or telling enough
  std::size_t tokens = 0;             // in the message
  std::size_t known = 0;              // of those, in the database
  std::size_t used = 0;               // of those, counted (strong enough, the strongest 150)
  // The indexes (into the message's tokens) of the counted tokens, strongest first.
  std::vector<std::size_t> significant;
  std::vector<double> significant_prob;
};

// counts[i]: the database's counts for the message's token i ({0,0} if unknown).
Classification classify(std::span<const TokenCounts> counts, Totals t, const Params& p = {});

// "p=0.9987 tokens=412 known=263 used=150 nspam=1500 nham=3000"
std::string describe(const Classification& c, Totals t);

}  // namespace mxgate::bayes
