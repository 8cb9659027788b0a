// The learning classifier's view of a message: the set of tokens it is learned
// and classified by, each a 64-bit hash of a short string.
//
// What makes a token (after SpamAssassin's Bayes tokenizer, its measured choices
// kept, and rspamd's orthogonal sparse bigrams):
// - Body: the Subject and the text of every text part (HTML as rendered, what a
//   reader sees), split into words; punctuation trimmed off the ends; words
//   shorter than 3 bytes dropped; a Title-case word at the start of a sentence
//   lower-cased; a word with capitals or punctuation also gives its lower-case and
//   bare forms; e-mail addresses give U*local and D*domain (and each parent
//   domain); words that look like host names give UD: and each parent domain; a
//   word over 15 bytes gives "sk:" and its first 7 characters (or, in scripts
//   without spaces, each 3- and 4-byte character), so random strings do not each
//   become a token.
// - Word pairs, with bigram_window > 1: each word with the next
//   `bigram_window - 1` words, the distance in the token (orthogonal sparse
//   bigrams, as rspamd), so "click here" and "here click" differ.
// - URLs: host and each parent domain (UH:), and the path's words (UP:).
// - Header fields, prefixed by their name: addresses as above (and the display
//   names' words), Message-ID and references split at punctuation, the shape of a
//   MIME boundary, the IP addresses (as /24 and in full) and host names of the two
//   Received fields nearest the origin (dates, queue ids and the fixed words
//   dropped), and the other
//   fields' words. Fields a filter, a mailing list or the delivering server add
//   (Authentication-Results, X-Spam-*, List-*, Delivered-To, Return-Path, Date...)
//   are skipped: they would differ between a message learned from a mailbox and
//   the same message arriving here, or teach the list instead of the mail.
// - MIME: each part's content type, and each attachment's type and file
//   extension.
//
// Bounded: at most `max_text_bytes` of each text read, `max_tokens` distinct
// tokens per message. Pure CPU work on the immutable view: safe on any thread.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "filters/mime/mime.hpp"

namespace mxgate::bayes {

struct TokenOptions {
  // bayes.bigram_window: 1 = single words only (the default: word pairs made the
  // classifier less sure of ham on the public corpus, docs/rules.md); 2..5 = also
  // pairs up to window-1 words apart.
  std::size_t bigram_window = 1;
  std::size_t max_tokens = 10000;              // bayes.max_tokens_per_message
  std::size_t max_text_bytes = 512 * 1024;     // per text part and for the header section
};

// A token's stored key: a stable 64-bit hash (the same on every build and machine:
// the database outlives the binary), never 0.
std::uint64_t token_hash(std::string_view token);

struct MessageTokens {
  std::vector<std::uint64_t> hashes;  // distinct, sorted
  // The tokens as text, parallel to `hashes`, when asked for (mxgate check, tests).
  std::vector<std::string> names;
};

MessageTokens tokenize(const MimeView& view, const TokenOptions& opt, bool keep_names = false);

// For tests: the tokens of one line of body text, in order, with duplicates.
std::vector<std::string> body_line_tokens(std::string_view line);

}  // namespace mxgate::bayes
