// model: the XGBoost booster (C API, used only here) plus a token-statistics
// table, stored together in one JSON file with the feature-schema hash.
//
//   auto m = tamis::model::Model::load("models/default.json");  // throws ConfigError
//   auto row = m->row(extracted, hits, rule_binding);
//   auto p = m->predict(row, /*contributions=*/true);
//
// A Model is immutable after load() and safe to use from many threads at once
// (tree-model prediction is thread-safe while nobody trains the booster, and
// every result is copied out of XGBoost's per-thread buffer at once).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "features/features.hpp"
#include "model/near.hpp"
#include "rules/rules.hpp"

namespace tamis::model {

// Features the token table adds after the structural ones.
const std::vector<std::string>& token_feature_names();
// The hash a model file records and load() checks: the structural schema
// (features::schema(), which names the tokenizer) and the token features.
const std::string& schema_hash();
// Models trained before near_spam read the first five token features and
// recorded the structural hash alone; load() still takes them.
constexpr std::size_t kLegacyTokenFeatures = 5;
// The hash of a model file trained with that tokenizer
// (features::kOldestTokenizer..kTokenizerVersion) on that many token features
// (kLegacyTokenFeatures or all of them). schema_hash() is the current one.
std::string schema_hash_for(int tokenizer, std::size_t token_features);

// An open-addressing hash table from token hash to weight: one probe in a
// flat array instead of a node per entry (the table is looked up ~500 times
// per message).
class TokenWeights {
 public:
  void insert(std::uint64_t key, float w);
  const float* find(std::uint64_t key) const {
    if (keys_.empty()) return nullptr;
    key = key ? key : 1;  // 0 marks an empty slot
    for (std::size_t i = mix(key) & mask_;; i = (i + 1) & mask_) {
      if (keys_[i] == key) return &vals_[i];
      if (keys_[i] == 0) return nullptr;
    }
  }
  float at(std::uint64_t key) const;  // throws std::out_of_range
  std::size_t size() const { return size_; }
  std::vector<std::pair<std::uint64_t, float>> items() const;

 private:
  static std::size_t mix(std::uint64_t k) { return static_cast<std::size_t>((k ^ (k >> 31)) * 0x9E3779B97F4A7C15ull >> 7); }
  void grow();
  std::vector<std::uint64_t> keys_;
  std::vector<float> vals_;
  std::size_t size_ = 0, mask_ = 0;
};

// Hashed-token log-odds weights (a smoothed naive-Bayes table), and the
// training spam's MinHash signatures (near.hpp).
struct TokenTable {
  TokenWeights weight;
  NearIndex near;
  // Appends token_feature_names().size() values for these tokens.
  void features(const std::vector<std::uint64_t>& tokens, std::vector<float>& out) const;
  // Builds the table from tokenized documents (label 1 = spam). Every token
  // seen in at least `min_count` documents is kept, up to `max_tokens` (the
  // strongest). The default keeps tokens seen once, as Bayesian filters do:
  // most of a mail corpus's vocabulary is rare, and a word seen once in
  // spam is evidence. With 3, cross-validated FNR at FPR 0.1 % was 9.31 %
  // instead of 7.88 % (10 splits) and csdmc2010 AUC 0.99958 instead of
  // 0.99968 (models/MODEL_CARD.md). `near` stays empty: the caller
  // decides which spam it indexes (NearIndex::build).
  static TokenTable train(const std::vector<const std::vector<std::uint64_t>*>& docs, const std::vector<int>& labels,
                          std::size_t min_count = 1, std::size_t max_tokens = 300000);
};

struct Prediction {
  double margin = 0;   // log-odds (sum of tree outputs)
  double p_spam = 0;   // sigmoid(margin)
  // Approximate per-feature contributions to the margin (Saabas), largest |c| first; bias excluded.
  std::vector<std::pair<std::string, double>> contributions;
};

class Model {
 public:
  // Loads a tamis model file. Throws core::ConfigError if the file is missing,
  // malformed, or was built for another feature schema.
  static std::shared_ptr<const Model> load(const std::string& path);
  // Wraps an in-memory booster (saved as XGBoost JSON) and its metadata.
  static std::shared_ptr<const Model> from_parts(const std::string& booster_json, TokenTable tokens,
                                                 std::vector<std::string> rule_features, std::string meta_json);
  ~Model();
  Model(const Model&) = delete;  // owns a booster handle; share the pointer
  Model& operator=(const Model&) = delete;

  // Full feature names: structural, token, then "rule:<id>".
  const std::vector<std::string>& feature_names() const { return names_; }
  const std::vector<std::string>& rule_features() const { return rule_features_; }
  // For each rule feature, the index of that rule id in `rules`, or -1.
  std::vector<int> bind(const rules::CompiledRules& rules) const;
  // The model's input row for one message.
  std::vector<float> row(const features::Extracted& ex, const rules::RuleHits& hits, const std::vector<int>& binding) const;
  // Never throws; returns false (and sets `error`) on a row of the wrong size.
  // The margin is the booster's forest evaluated here, from the trees XGBoost
  // trained and saved (tested equal to XGBoost's own prediction). Contributions
  // are XGBoost's "approximate" (Saabas) ones from the same trees, with node
  // means precomputed at load: XGBoost's API would build a DMatrix and
  // recompute every node mean per call (~150 µs a message here).
  bool predict(const std::vector<float>& row, bool contributions, Prediction& out, std::string* error = nullptr) const;
  // XGBoost's own margin for the row, through a DMatrix: the reference the
  // forest walk is tested against.
  bool reference_margin(const std::vector<float>& row, float& margin, std::string* error = nullptr) const;
  // XGBoost's own approximate contributions (type 3) through a DMatrix; the
  // reference the fast path is tested against. Last value is the bias.
  bool reference_contributions(const std::vector<float>& row, std::vector<float>& out, std::string* error = nullptr) const;
  const std::string& meta_json() const { return meta_json_; }
  // The tokenizer whose tokens the model reads (features::extract's `tokenizer`).
  int tokenizer() const { return tokenizer_; }
  // The schema hash its file records (schema_hash() unless an older file).
  std::string file_schema_hash() const { return schema_hash_for(tokenizer_, token_features_); }
  const TokenTable& token_table() const { return tokens_; }
  bool reference_predict(const std::vector<float>& row, int type, std::vector<float>& out, std::string* error) const;
  std::size_t trees() const { return trees_; }
  // What the model was loaded from: a digest of the file's bytes (empty for
  // a model built in memory). A reload compares it to keep an unchanged model.
  const std::string& source_digest() const { return source_digest_; }
  // The digest load() would record for this file; empty if it cannot be read.
  static std::string file_digest(const std::string& path);
  // Writes the model file (booster + tokens + schema + metadata).
  void save(const std::string& path) const;

 private:
  Model() = default;
  static std::shared_ptr<Model> make(const std::string& booster_json, TokenTable tokens,
                                     std::vector<std::string> rule_features, std::string meta_json,
                                     std::size_t token_features, int tokenizer);
  void init_names();
  std::string source_digest_;
  void init_trees(const std::string& booster_json);
  // The forest in one array, each tree depth-first from its root, the two
  // children of a split side by side (right = left + 1): 12 bytes a node, so
  // the nodes a message visits share cache lines. Node means (for
  // contributions only) are kept apart.
  struct Node {
    float cond = 0;             // split condition; leaf value for leaves
    std::int32_t left = -1;     // -1: leaf
    std::uint32_t feature = 0;  // the top bit: missing values go left
  };
  static constexpr std::uint32_t kDefaultLeft = 0x80000000u;
  std::vector<Node> nodes_;
  std::vector<float> means_;     // cover-weighted mean of the leaves below, per node
  std::vector<std::uint32_t> roots_;
  float base_margin_ = 0;     // logit(base_score)
  void* booster_ = nullptr;
  TokenTable tokens_;
  std::size_t token_features_ = 0;  // how many of token_feature_names() the booster reads
  int tokenizer_ = features::kTokenizerVersion;
  std::vector<std::string> rule_features_;
  std::vector<std::string> names_;
  std::string booster_json_;
  std::string meta_json_ = "{}";
  std::size_t trees_ = 0;
};

// Training through the C API (used by `tamis train` and by tests).
struct TrainParams {
  int rounds = 300;
  int max_depth = 5;
  double eta = 0.1;
  double subsample = 0.8;
  // Few features per tree: trees must use the structural ones, not only the
  // token statistics. With 5 bags, 0.1 and 0.15 tie on the SpamAssassin
  // folds and 0.1 ranks unseen 2010 mail better (MODEL_CARD.md).
  double colsample = 0.1;
  double min_child_weight = 1;
  int early_stopping = 30;   // rounds without improvement on the validation part; 0 = off
  int threads = 2;
  int seed = 42;
  // Boosters trained with seeds seed, seed+1, ... and averaged into one
  // (see average_boosters).
  int bags = 1;
  // `tamis train`: inner splits for the training rows' token statistics; each
  // training message gives this many rows (not an XGBoost parameter).
  int token_splits = 1;
  // Per column: +1 = the margin may only rise with this feature, 0 = free.
  // Empty = no constraints. tamis train sets monotone_constraints() (below).
  std::vector<int> monotone;
  // Further XGBoost parameters (`tamis train --xgb-param KEY=VALUE`), set
  // after the ones above, so they override subsample, colsample_bytree and
  // min_child_weight. Keys are those of tunable_xgb_params().
  std::vector<std::pair<std::string, std::string>> xgb;
};
// The XGBoost parameters `tamis train --xgb-param` may set: those that tune
// how the trees grow. The objective, metric, seed, threads and monotone
// constraints are tamis's own; eta, max_depth and the rounds have options.
const std::vector<std::string>& tunable_xgb_params();
// One --xgb-param "KEY=VALUE": the key must be tunable and XGBoost must
// accept the value (checked by one round on two rows, so that a typo is
// refused before the corpus is read). Throws core::ConfigError naming it.
std::pair<std::string, std::string> parse_xgb_param(std::string_view key_value);
// Structural features that can only be signs of spam (a MIME anomaly, an
// IP-literal link, an executable attachment, hidden text, ...).
const std::vector<features::F>& spam_sign_features();
// Structural features the trainer gives no value (NaN in every training
// row), so no tree reads them: they are computed for logs and explain only.
// The share of non-ASCII characters in the body and the Subject: in the
// 2002 training mail almost every ham is pure ASCII, so any non-ASCII
// character leaned spam (trees split at 0.0001); today's mail is UTF-8 and
// one typographic apostrophe (didn’t) raised a sign-up confirmation by
// half a point. Language and script are left to the tokens, which a site's
// own training mail teaches.
const std::vector<features::F>& unread_features();
// The constraints tamis trains with, for a row of `ncols` columns: the token
// statistics that measure spam evidence (tok_sum, tok_mean, tok_top_spam,
// tok_top_ham), the likeness to a known spam (near_spam) and the
// spam_sign_features() may only raise the score as they rise. Without them, trees fitted on few examples learn dips ("this much
// spam vocabulary is ham", "a broken quoted-printable part is ham") that do
// not carry over to other mail, and that a sender could use: with them, no
// anomaly a spammer adds can lower a score.
std::vector<int> monotone_constraints(std::size_t ncols);
// Trains a binary:logistic booster on dense rows (NaN = missing); returns the
// booster as XGBoost JSON. `valid_*` may be empty (no early stopping).
// `base` / `valid_base` (may be empty): a per-row starting margin — tamis
// passes the rule points (in logits), so the trees learn what to add to the
// rules rather than re-learning them, and rule points + tree margin is the
// model's calibrated log-odds.
std::string train_booster(const std::vector<float>& X, std::size_t ncols, const std::vector<float>& y,
                          const std::vector<float>& valid_X, const std::vector<float>& valid_y, const TrainParams& p,
                          int* best_rounds = nullptr, const std::vector<float>& base = {},
                          const std::vector<float>& valid_base = {});

// One booster whose margin is the mean of the given boosters' margins
// (XGBoost JSON, same base_score and features): their trees one after the
// other, each leaf divided by their number. Boosters that differ only in
// their random seed (row and column samples) vary most on mail unlike the
// training mail; their mean varies less.
std::string average_boosters(const std::vector<std::string>& boosters);

}  // namespace tamis::model
