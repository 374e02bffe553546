// features: ParsedMessage + Envelope -> named text Fields (what rules match)
// and a dense FeatureVector (what the model reads), plus hashed text tokens.
//
//   auto ex = tamis::features::extract(msg, envelope, limits, deadline);
//   ex.fields.get("subject");          // rule targets
//   ex.vector[idx(F::url_count)];      // model features, schema() order
//
// extract() is a pure function of its inputs: `tamis scan`, `tamis train` and
// tamisd all call it, so training sees exactly what serving sees.
//
// Never trusted as a signal: X-Spam-* and Authentication-Results headers
// (anyone can write them); they stay visible to rules under header:<name>
// but no feature reads them.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/types.hpp"
#include "features/urls.hpp"
#include "mime/message.hpp"

namespace tamis::features {

// The structural feature schema. Append only; renaming, removing or
// reordering changes schema().hash and makes old models refuse to load.
#define TAMIS_FEATURES(X)                                                        \
  /* header */                                                                   \
  X(hdr_count) X(received_count) X(received_unknown_rdns) X(received_ip_only)    \
  X(date_missing) X(date_unparsable) X(date_odd_tz) X(date_received_skew_h)      \
  X(msgid_missing) X(msgid_malformed) X(msgid_domain_differs)                    \
  X(from_missing) X(from_addr_invalid) X(from_name_has_addr)                     \
  X(from_name_addr_mismatch) X(from_name_len) X(from_local_digits)               \
  X(replyto_present) X(replyto_domain_differs) X(returnpath_domain_differs)      \
  X(envfrom_domain_differs) X(envfrom_null) X(to_missing) X(to_count)            \
  X(to_undisclosed) X(subject_missing) X(subject_len) X(subject_caps_ratio)      \
  X(subject_excl) X(subject_encoded) X(subject_non_ascii_ratio)                  \
  X(subject_has_re) X(mailer_present) X(mime_version_missing) X(ct_top)          \
  X(priority_high) X(references_present) X(encoded_words) X(header_8bit)         \
  /* body */                                                                     \
  X(text_len_log) X(html_present) X(plain_present) X(html_only)                  \
  X(html_text_ratio) X(body_caps_ratio) X(body_punct_ratio) X(body_excl)         \
  X(body_dollar) X(body_digit_ratio) X(body_non_ascii_ratio) X(hidden_text_ratio)\
  X(html_images) X(html_img_no_text) X(html_forms) X(html_scripts)               \
  X(html_iframes) X(html_font_tags) X(html_comments) X(text_words)               \
  X(alt_mismatch) X(body_long_word_ratio)                                        \
  /* urls */                                                                     \
  X(url_count) X(url_domains) X(url_ip_literal) X(url_text_mismatch)             \
  X(url_shortener) X(url_odd_port) X(url_punycode) X(url_userinfo)               \
  X(url_https_ratio) X(url_max_len) X(url_mailto) X(url_from_domain)             \
  X(url_odd_tld) X(url_max_labels) X(url_encoded_host) X(url_per_word)           \
  /* attachments */                                                              \
  X(att_count) X(att_exec) X(att_double_ext) X(att_archive) X(att_macro)         \
  X(att_type_mismatch) X(att_size_log) X(att_images) X(att_pdf) X(att_archive_exec) \
  /* mime */                                                                     \
  X(mime_parts) X(mime_depth) X(anomaly_count) X(raw_size_log)                   \
  X(an_truncated) X(an_header_flood) X(an_bad_header) X(an_invalid_utf8_header)  \
  X(an_nul) X(an_missing_boundary) X(an_unterminated) X(an_limit)                \
  X(an_bad_base64) X(an_bad_qp) X(an_8bit) X(an_charset) X(an_encoded_word)      \
  X(an_duplicate_header)                                                         \
  /* envelope (missing when scanning a file) */                                  \
  X(env_rcpt_count) X(env_helo_ip) X(env_helo_nodot) X(env_no_rdns)              \
  X(env_helo_mismatch)

enum class F : std::uint16_t {
#define TAMIS_X(name) name,
  TAMIS_FEATURES(TAMIS_X)
#undef TAMIS_X
  kCount
};
constexpr std::size_t kFeatureCount = static_cast<std::size_t>(F::kCount);
constexpr std::size_t idx(F f) { return static_cast<std::size_t>(f); }

struct Schema {
  std::vector<std::string> names;
  std::string hash;  // hex digest of the version, the names and the tokenizer
};
// The structural schema (immutable, built once).
const Schema& schema();

// Named text fields for rules. Targets: see known_target().
class Fields {
 public:
  void add(const std::string& target, std::string value);
  // nullptr if the field is absent.
  const std::vector<std::string>* get(const std::string& target) const;
  const std::unordered_map<std::string, std::vector<std::string>>& all() const { return values_; }

 private:
  std::unordered_map<std::string, std::vector<std::string>> values_;
};

// True for the fixed target names and for any "header:<name>".
bool known_target(const std::string& target);
const std::vector<std::string>& fixed_targets();

struct Extracted {
  Fields fields;
  std::vector<float> vector;            // kFeatureCount values, NaN = missing
  std::vector<std::uint64_t> tokens;    // distinct hashed tokens, sorted
  // With keep_token_words: each token as text, "prefix:word" (token_hash of
  // the prefix and the word is its entry in `tokens`), repeats included.
  std::vector<std::string> token_words;
  std::vector<Url> urls;
  bool url_limit_hit = false;
};

// `tokenizer` is the version whose tokens, text statistics and hop counts
// the model will read (a model file records it; older ones still load, see
// kOldestTokenizer).
Extracted extract(const mime::ParsedMessage& msg, const core::Envelope& env, const core::Limits& limits,
                  const core::Deadline& deadline, bool keep_token_words = false, int tokenizer = 0);

// Tokenizer (tokens.cpp): lower-cased words of 2..30 bytes (and the parts of
// camel-case words), hashed with a prefix ("s:" subject, "b:" body, "u:" URL domain, "a:" attachment type).
// With `words`, each token is also appended there as prefix + word (for `tamis explain`).
// `version`: the tokenizer to be (0: the current one, kTokenizerVersion).
void tokenize(std::string_view text, std::string_view prefix, std::vector<std::uint64_t>& out, std::size_t max,
              std::vector<std::string>* words = nullptr, int version = 0);
std::uint64_t token_hash(std::string_view prefix, std::string_view word);
// 2: + mailer, Message-ID/Date/boundary shapes, charsets, From
// 3: + the parts of camel-case words ("ViagraOnline" -> viagraonline, viagra, online)
// 4: non-ASCII spaces and punctuation end words (HTML's &nbsp;, dashes,
//    typographic quotes, emoji), default-ignorable characters (zero-width,
//    soft hyphens) are read through, letters whose compatibility form is
//    ASCII (fullwidth, mathematical) are read as it, others case-folded (ICU)
// 5: the same tokens; the text statistics (shares of capitals, punctuation
//    and digits, words and long words) count characters, not bytes, and
//    the letters of every script; Han, kana and pictographs are words of
//    one character each
// 6: the same tokens and text statistics; Received hops and the header count
//    start at the relay's own hop (the envelope's, when scanning during the
//    SMTP session), without the recipient's delivery hops and headers
//    (hops.hpp)
// 7: the same tokens and text statistics; a Received hop Sendmail wrote for a
//    client without a reverse name, "from HELO ([addr]) by HOST (8.x/8.x)",
//    counts in received_unknown_rdns as Postfix's "unknown" does
// 8: the same tokens and text statistics; the client's HELO and reverse name
//    (env_helo_ip, env_helo_nodot, env_no_rdns, env_helo_mismatch) are read
//    from the relay's hop: the envelope during the session, the relay's
//    Received header in a stored copy (hops.hpp)
constexpr int kTokenizerVersion = 8;
// Model files trained with tokenizers from this one on still load, and are
// fed the tokens, text statistics and hop counts their tokenizer made: a site's own model keeps its scores
// across an upgrade until it is retrained.
constexpr int kOldestTokenizer = 3;
// The structural schema's hash as a build with that tokenizer computed it
// (schema().hash is the current one's).
std::string schema_hash_with_tokenizer(int version);

}  // namespace tamis::features
