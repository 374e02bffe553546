#include "model/model.hpp"

#include <xgboost/c_api.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

#include "core/error.hpp"
#include "core/strings.hpp"

namespace tamis::model {
namespace {

using json = nlohmann::json;

const char* last_error() { return XGBGetLastError(); }

void check(int rc, const std::string& what) {
  if (rc != 0) throw core::ConfigError("", 0, what + ": " + last_error());
}

}  // namespace

void TokenWeights::grow() {
  std::vector<std::uint64_t> old_keys = std::move(keys_);
  std::vector<float> old_vals = std::move(vals_);
  std::size_t cap = old_keys.empty() ? 1024 : old_keys.size() * 2;
  keys_.assign(cap, 0);
  vals_.assign(cap, 0.0f);
  mask_ = cap - 1;
  size_ = 0;
  for (std::size_t i = 0; i < old_keys.size(); ++i)
    if (old_keys[i]) insert(old_keys[i], old_vals[i]);
}

void TokenWeights::insert(std::uint64_t key, float w) {
  if ((size_ + 1) * 2 > keys_.size()) grow();
  key = key ? key : 1;
  std::size_t i = mix(key) & mask_;
  while (keys_[i] != 0 && keys_[i] != key) i = (i + 1) & mask_;
  if (keys_[i] == 0) ++size_;
  keys_[i] = key;
  vals_[i] = w;
}

float TokenWeights::at(std::uint64_t key) const {
  const float* v = find(key);
  if (!v) throw std::out_of_range("token not in table");
  return *v;
}

std::vector<std::pair<std::uint64_t, float>> TokenWeights::items() const {
  std::vector<std::pair<std::uint64_t, float>> out;
  out.reserve(size_);
  for (std::size_t i = 0; i < keys_.size(); ++i)
    if (keys_[i]) out.emplace_back(keys_[i], vals_[i]);
  return out;
}

const std::vector<std::string>& token_feature_names() {
  static const std::vector<std::string> names = {"tok_sum",   "tok_mean",  "tok_top_spam", "tok_top_ham",
                                                  "tok_known", "near_spam"};
  return names;
}

std::string schema_hash_for(int tokenizer, std::size_t token_features) {
  const std::string structural = features::schema_hash_with_tokenizer(tokenizer);
  if (token_features == kLegacyTokenFeatures) return structural;
  std::uint64_t v = features::token_hash("schema:model", structural);
  for (std::size_t i = 0; i < token_features; ++i) v = features::token_hash(std::to_string(v), token_feature_names()[i]);
  return core::hex64(v);
}

const std::string& schema_hash() {
  static const std::string h = schema_hash_for(features::kTokenizerVersion, token_feature_names().size());
  return h;
}

void TokenTable::features(const std::vector<std::uint64_t>& tokens, std::vector<float>& out) const {
  double sum = 0;
  std::size_t known = 0;
  // Keep the 10 strongest each way without sorting everything.
  std::vector<float> pos, neg;
  pos.reserve(64);
  neg.reserve(64);
  for (auto t : tokens) {
    const float* wp = weight.find(t);
    if (!wp) continue;
    ++known;
    float w = *wp;
    sum += w;
    (w > 0 ? pos : neg).push_back(w);
  }
  auto top_mean = [](std::vector<float>& v, bool largest) {
    if (v.empty()) return 0.0;
    std::size_t k = std::min<std::size_t>(10, v.size());
    if (largest) std::partial_sort(v.begin(), v.begin() + static_cast<long>(k), v.end(), std::greater<float>());
    else std::partial_sort(v.begin(), v.begin() + static_cast<long>(k), v.end());
    double s = 0;
    for (std::size_t i = 0; i < k; ++i) s += v[i];
    return s / 10.0;  // divided by 10, not k: few strong tokens count for less
  };
  out.push_back(static_cast<float>(sum));
  out.push_back(static_cast<float>(known ? sum / static_cast<double>(known) : 0.0));
  out.push_back(static_cast<float>(top_mean(pos, true)));
  out.push_back(static_cast<float>(top_mean(neg, false)));
  out.push_back(static_cast<float>(tokens.empty() ? 0.0 : static_cast<double>(known) / static_cast<double>(tokens.size())));
  // No index (a model from before near_spam, or a training row whose
  // campaign counts as unknown): 0, without computing a signature.
  float near_spam = near.size() ? near.nearest(NearIndex::signature(tokens)).similarity : 0.0f;
  out.push_back(near_spam >= NearIndex::kSameCampaign ? near_spam : 0.0f);
}

TokenTable TokenTable::train(const std::vector<const std::vector<std::uint64_t>*>& docs, const std::vector<int>& labels,
                             std::size_t min_count, std::size_t max_tokens) {
  std::unordered_map<std::uint64_t, std::pair<std::uint32_t, std::uint32_t>> counts;  // ham, spam
  double n_ham = 0, n_spam = 0;
  for (std::size_t i = 0; i < docs.size(); ++i) {
    bool spam = labels[i] != 0;
    (spam ? n_spam : n_ham) += 1;
    for (auto t : *docs[i]) {
      auto& c = counts[t];
      (spam ? c.second : c.first) += 1;
    }
  }
  struct Cand { std::uint64_t t; float w; double strength; };
  std::vector<Cand> cands;
  const double a = 1.0;
  for (const auto& [t, c] : counts) {
    if (c.first + c.second < min_count) continue;
    double ps = (c.second + a) / (n_spam + 2 * a), ph = (c.first + a) / (n_ham + 2 * a);
    double w = std::log(ps) - std::log(ph);
    w = std::clamp(w, -6.0, 6.0);
    cands.push_back({t, static_cast<float>(w), std::abs(w) * std::log1p(c.first + c.second)});
  }
  if (cands.size() > max_tokens) {
    std::nth_element(cands.begin(), cands.begin() + static_cast<long>(max_tokens), cands.end(),
                     [](const Cand& x, const Cand& y) { return x.strength > y.strength; });
    cands.resize(max_tokens);
  }
  TokenTable tt;
  for (const auto& c : cands) tt.weight.insert(c.t, c.w);
  return tt;
}

Model::~Model() {
  if (booster_) XGBoosterFree(booster_);
}

void Model::init_names() {
  names_ = features::schema().names;
  for (std::size_t i = 0; i < token_features_; ++i) names_.push_back(token_feature_names()[i]);
  for (const auto& r : rule_features_) names_.push_back("rule:" + r);
}

std::shared_ptr<const Model> Model::from_parts(const std::string& booster_json, TokenTable tokens,
                                               std::vector<std::string> rule_features, std::string meta_json) {
  return make(booster_json, std::move(tokens), std::move(rule_features), std::move(meta_json), token_feature_names().size(),
              features::kTokenizerVersion);
}

std::shared_ptr<Model> Model::make(const std::string& booster_json, TokenTable tokens,
                                   std::vector<std::string> rule_features, std::string meta_json,
                                   std::size_t token_features, int tokenizer) {
  std::shared_ptr<Model> m(new Model());
  m->token_features_ = token_features;
  m->tokenizer_ = tokenizer;
  m->tokens_ = std::move(tokens);
  m->rule_features_ = std::move(rule_features);
  m->meta_json_ = std::move(meta_json);
  m->booster_json_ = booster_json;
  m->init_names();
  BoosterHandle h = nullptr;
  check(XGBoosterCreate(nullptr, 0, &h), "XGBoosterCreate");
  m->booster_ = h;
  check(XGBoosterLoadModelFromBuffer(h, booster_json.data(), booster_json.size()), "loading the booster");
  check(XGBoosterSetParam(h, "nthread", "1"), "nthread");  // one message, one thread
  bst_ulong nf = 0;
  check(XGBoosterGetNumFeature(h, &nf), "XGBoosterGetNumFeature");
  if (nf != m->names_.size())
    throw core::ConfigError("", 0, "booster has " + std::to_string(nf) + " features, the schema " + std::to_string(m->names_.size()));
  m->init_trees(booster_json);
  return m;
}

namespace {

bool read_file(const std::string& path, std::string& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return false;
  out = std::move(ss).str();
  return true;
}

// Size and 64-bit FNV-1a of the bytes: tells an unchanged model file from a
// changed one (not a defence against anyone: the file is the admin's own).
std::string digest_of(std::string_view bytes) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return std::to_string(bytes.size()) + ":" + core::hex64(h);
}

}  // namespace

std::string Model::file_digest(const std::string& path) {
  std::string bytes;
  return read_file(path, bytes) ? digest_of(bytes) : std::string();
}

std::shared_ptr<const Model> Model::load(const std::string& path) {
  std::string bytes;
  if (!read_file(path, bytes)) throw core::ConfigError(path, 0, "cannot open model file");
  json j;
  try {
    j = json::parse(bytes);
  } catch (const json::parse_error& e) {
    throw core::ConfigError(path, 0, std::string("model is not valid JSON: ") + e.what());
  }
  try {
    if (j.value("format", "") != "tamis-model-1") throw core::ConfigError(path, 0, "not a tamis model (format != tamis-model-1)");
    std::string hash = j.at("schema_hash").get<std::string>();
    // Older files still load: from before near_spam (five token statistics,
    // the structural hash alone), and from older tokenizers (fed their tokens).
    int tokenizer = 0;
    std::size_t token_features = 0;
    for (int t = features::kTokenizerVersion; t >= features::kOldestTokenizer && !tokenizer; --t)
      for (std::size_t n : {token_feature_names().size(), kLegacyTokenFeatures})
        if (!tokenizer && hash == schema_hash_for(t, n)) tokenizer = t, token_features = n;
    if (!tokenizer)
      throw core::ConfigError(path, 0, "model was trained for feature schema " + hash + ", this build extracts " +
                                           schema_hash() + ": retrain it with `tamis train`");
    const bool legacy = token_features == kLegacyTokenFeatures;
    TokenTable tt;
    for (const auto& p : j.at("tokens")) tt.weight.insert(p.at(0).get<std::uint64_t>(), p.at(1).get<float>());
    if (!legacy) {
      tt.near.add_hex(j.at("near_spam").get<std::string>());
      tt.near.finish();
    }
    auto rf = j.at("rule_features").get<std::vector<std::string>>();
    std::string meta = j.value("meta", json::object()).dump();
    auto m = make(j.at("booster").dump(), std::move(tt), std::move(rf), std::move(meta), token_features, tokenizer);
    m->source_digest_ = digest_of(bytes);
    return m;
  } catch (const core::ConfigError& e) {
    if (!e.file().empty()) throw;
    throw core::ConfigError(path, 0, e.what());
  } catch (const std::exception& e) {
    throw core::ConfigError(path, 0, std::string("malformed model: ") + e.what());
  }
}

void Model::save(const std::string& path) const {
  json j;
  j["format"] = "tamis-model-1";
  const bool legacy = token_features_ == kLegacyTokenFeatures;
  j["schema_hash"] = file_schema_hash();
  j["feature_names"] = names_;
  j["rule_features"] = rule_features_;
  j["meta"] = json::parse(meta_json_);
  json toks = json::array();
  std::vector<std::pair<std::uint64_t, float>> sorted = tokens_.weight.items();
  std::sort(sorted.begin(), sorted.end());
  for (const auto& [t, w] : sorted) toks.push_back({t, std::round(w * 1e4) / 1e4});
  j["tokens"] = std::move(toks);
  if (!legacy) j["near_spam"] = tokens_.near.hex();
  j["booster"] = json::parse(booster_json_);
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << j.dump();
    if (!out) throw core::ConfigError(path, 0, "cannot write model");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) throw core::ConfigError(path, 0, "cannot rename model into place");
}

void Model::init_trees(const std::string& booster_json) {
  auto j = json::parse(booster_json);
  const auto& learner = j.at("learner");
  std::string objective = learner.at("objective").at("name").get<std::string>();
  if (objective != "binary:logistic" && objective != "reg:logistic")
    throw core::ConfigError("", 0, "booster objective '" + objective + "': tamis needs binary:logistic");
  // XGBoost starts every margin at logit(base_score).
  double bs = std::stod(learner.at("learner_model_param").at("base_score").get<std::string>());
  if (!(bs > 0 && bs < 1)) throw core::ConfigError("", 0, "booster base_score out of (0, 1)");
  base_margin_ = static_cast<float>(std::log(bs / (1 - bs)));
  const auto& trees = learner.at("gradient_booster").at("model").at("trees");
  trees_ = trees.size();
  for (const auto& t : trees) {
    if (t.contains("split_type"))
      for (int st : t.at("split_type").get<std::vector<int>>())
        if (st != 0) throw core::ConfigError("", 0, "booster has categorical splits; tamis models are numeric only");
    auto lc = t.at("left_children").get<std::vector<int>>();
    auto rc = t.at("right_children").get<std::vector<int>>();
    auto si = t.at("split_indices").get<std::vector<int>>();
    auto sc = t.at("split_conditions").get<std::vector<float>>();
    auto dl = t.at("default_left").get<std::vector<int>>();
    auto hess = t.at("sum_hessian").get<std::vector<float>>();
    const std::size_t n = lc.size();
    if (n == 0 || rc.size() != n || si.size() != n || sc.size() != n || dl.size() != n || hess.size() != n)
      throw core::ConfigError("", 0, "malformed tree in booster");
    // XGBoost numbers children after their parent; requiring it rules out
    // cycles, so every walk ends.
    for (std::size_t i = 0; i < n; ++i)
      if (lc[i] >= 0 && (static_cast<std::size_t>(lc[i]) <= i || static_cast<std::size_t>(lc[i]) >= n || rc[i] < 0 ||
                         static_cast<std::size_t>(rc[i]) <= i || static_cast<std::size_t>(rc[i]) >= n || si[i] < 0 ||
                         static_cast<std::size_t>(si[i]) >= names_.size()))
        throw core::ConfigError("", 0, "malformed tree in booster");
    // Node means as XGBoost computes them (FillNodeMeanValues): children
    // weighted by their hessian sums.
    std::vector<float> mean(n);
    for (std::size_t i = n; i-- > 0;) {
      if (lc[i] < 0) { mean[i] = sc[i]; continue; }
      auto l = static_cast<std::size_t>(lc[i]), r = static_cast<std::size_t>(rc[i]);
      mean[i] = (mean[l] * hess[l] + mean[r] * hess[r]) / hess[i];
    }
    // Lay the tree out depth-first, children in pairs.
    auto root = static_cast<std::uint32_t>(nodes_.size());
    roots_.push_back(root);
    nodes_.emplace_back();
    means_.push_back(0);
    std::vector<std::pair<std::size_t, std::uint32_t>> todo{{0, root}};  // XGBoost id, slot here
    while (!todo.empty()) {
      auto [id, slot] = todo.back();
      todo.pop_back();
      means_[slot] = mean[id];
      if (lc[id] < 0) {
        nodes_[slot] = {sc[id], -1, 0};
        continue;
      }
      auto kids = static_cast<std::uint32_t>(nodes_.size());
      nodes_.resize(nodes_.size() + 2);
      means_.resize(means_.size() + 2);
      nodes_[slot] = {sc[id], static_cast<std::int32_t>(kids), static_cast<std::uint32_t>(si[id]) | (dl[id] ? kDefaultLeft : 0u)};
      todo.push_back({static_cast<std::size_t>(rc[id]), kids + 1});
      todo.push_back({static_cast<std::size_t>(lc[id]), kids});  // left subtree next, right after its parent
    }
  }
}

// XGBoost's own prediction of one row through a DMatrix (`type` 1: margin,
// 3: approximate contributions): the reference the forest walk is tested against.
bool Model::reference_predict(const std::vector<float>& row, int type, std::vector<float>& out, std::string* error) const {
  DMatrixHandle dm = nullptr;
  if (XGDMatrixCreateFromMat(row.data(), 1, row.size(), NAN, &dm) != 0) {
    if (error) *error = last_error();
    return false;
  }
  const bst_ulong* shape = nullptr;
  bst_ulong dim = 0;
  const float* result = nullptr;
  std::string cfg = "{\"type\": " + std::to_string(type) +
                    ", \"training\": false, \"iteration_begin\": 0, \"iteration_end\": 0, \"strict_shape\": false}";
  int rc = XGBoosterPredictFromDMatrix(booster_, dm, cfg.c_str(), &shape, &dim, &result);
  if (rc == 0) {
    std::size_t n = 1;
    for (bst_ulong i = 0; i < dim; ++i) n *= shape[i];
    out.assign(result, result + n);
  } else if (error) {
    *error = last_error();
  }
  XGDMatrixFree(dm);
  return rc == 0;
}

bool Model::reference_contributions(const std::vector<float>& row, std::vector<float>& out, std::string* error) const {
  return reference_predict(row, 3, out, error);
}

bool Model::reference_margin(const std::vector<float>& row, float& margin, std::string* error) const {
  std::vector<float> out;
  if (!reference_predict(row, 1, out, error) || out.empty()) return false;
  margin = out[0];
  return true;
}

std::vector<int> Model::bind(const rules::CompiledRules& rules) const {
  std::vector<int> b;
  b.reserve(rule_features_.size());
  for (const auto& id : rule_features_) b.push_back(rules.find(id));
  return b;
}

std::vector<float> Model::row(const features::Extracted& ex, const rules::RuleHits& hits, const std::vector<int>& binding) const {
  std::vector<float> r;
  r.reserve(names_.size());
  r = ex.vector;
  const std::size_t token_begin = r.size();
  tokens_.features(ex.tokens, r);
  r.resize(token_begin + token_features_);  // a legacy model reads no near_spam
  std::size_t base = r.size();
  r.resize(base + rule_features_.size(), 0.0f);
  for (std::size_t k = 0; k < binding.size(); ++k)
    if (binding[k] < 0) r[base + k] = NAN;  // rule gone or renamed locally: missing, not "no hit"
  for (std::size_t h : hits.hits)
    for (std::size_t k = 0; k < binding.size(); ++k)
      if (binding[k] == static_cast<int>(h)) r[base + k] = 1.0f;
  return r;
}


bool Model::predict(const std::vector<float>& row, bool contributions, Prediction& out, std::string* error) const {
  if (row.size() != names_.size()) {
    if (error) *error = "row has " + std::to_string(row.size()) + " values, model wants " + std::to_string(names_.size());
    return false;
  }
  // The booster's own trees, walked here: leaf values summed in tree order in
  // float, from logit(base_score), as XGBoost's CPU predictor does (a test
  // checks equality with XGBoost on real messages). No per-thread state: XGBoost's
  // C API keeps per-thread prediction buffers that are only freed at process
  // exit, and tamisd starts a thread per MTA connection (measured with
  // libmilter's threads: tamisd's RSS grew from 31 to 74 MB over 9,000 messages).
  auto next = [&](const Node& n) {
    float v = row[n.feature & ~kDefaultLeft];
    bool left = std::isnan(v) ? (n.feature & kDefaultLeft) != 0 : v < n.cond;
    return static_cast<std::size_t>(n.left) + (left ? 0 : 1);
  };
  float margin = base_margin_;
  for (std::uint32_t root : roots_) {
    std::size_t nid = root;
    while (nodes_[nid].left >= 0) nid = next(nodes_[nid]);
    margin += nodes_[nid].cond;
  }
  out.margin = margin;
  out.p_spam = 1.0 / (1.0 + std::exp(-out.margin));
  out.contributions.clear();
  if (contributions) {
    std::vector<float> res;
    // Saabas: walk each tree's decision path; each split's feature is
    // credited with the change in the node mean it causes.
    res.assign(names_.size() + 1, 0.0f);
    for (std::uint32_t root : roots_) {
      std::size_t nid = root;
      res[names_.size()] += means_[nid];
      while (nodes_[nid].left >= 0) {
        std::size_t to = next(nodes_[nid]);
        res[nodes_[nid].feature & ~kDefaultLeft] += means_[to] - means_[nid];
        nid = to;
      }
    }
    for (std::size_t i = 0; i + 1 < res.size() && i < names_.size(); ++i)
      if (res[i] != 0.0f) out.contributions.emplace_back(names_[i], res[i]);
    std::sort(out.contributions.begin(), out.contributions.end(),
              [](const auto& a, const auto& b) { return std::abs(a.second) > std::abs(b.second); });
  }
  return true;
}

const std::vector<features::F>& spam_sign_features() {
  using features::F;
  static const std::vector<F> f = {
      F::date_missing, F::date_unparsable, F::msgid_missing, F::msgid_malformed, F::from_missing, F::from_addr_invalid,
      F::from_name_has_addr, F::to_missing, F::to_undisclosed, F::url_ip_literal, F::url_text_mismatch, F::url_userinfo,
      F::url_punycode, F::url_encoded_host, F::url_odd_port, F::att_exec, F::att_double_ext, F::att_archive_exec,
      F::att_macro, F::att_type_mismatch, F::an_missing_boundary, F::an_unterminated, F::an_bad_base64, F::an_bad_qp,
      F::an_8bit, F::an_charset, F::an_encoded_word, F::an_bad_header, F::an_invalid_utf8_header, F::an_nul,
      F::anomaly_count, F::hidden_text_ratio, F::html_img_no_text, F::html_forms, F::html_iframes, F::env_helo_ip,
      F::env_helo_nodot, F::env_no_rdns, F::env_helo_mismatch};
  return f;
}

const std::vector<features::F>& unread_features() {
  using features::F;
  static const std::vector<F> f = {F::body_non_ascii_ratio, F::subject_non_ascii_ratio};
  return f;
}

std::vector<int> monotone_constraints(std::size_t ncols) {
  std::vector<int> m(ncols, 0);
  for (features::F f : spam_sign_features())
    if (features::idx(f) < ncols) m[features::idx(f)] = 1;
  const auto& names = token_feature_names();
  for (std::size_t i = 0; i < names.size() && features::kFeatureCount + i < ncols; ++i)
    if (names[i] != "tok_known") m[features::kFeatureCount + i] = 1;  // tok_known: share of known tokens, no direction
  return m;
}

std::string train_booster(const std::vector<float>& X, std::size_t ncols, const std::vector<float>& y,
                          const std::vector<float>& vX, const std::vector<float>& vy, const TrainParams& p,
                          int* best_rounds, const std::vector<float>& base, const std::vector<float>& vbase) {
  DMatrixHandle dtrain = nullptr, dvalid = nullptr;
  BoosterHandle b = nullptr;
  auto cleanup = [&] {
    if (b) XGBoosterFree(b);
    if (dtrain) XGDMatrixFree(dtrain);
    if (dvalid) XGDMatrixFree(dvalid);
  };
  try {
    check(XGDMatrixCreateFromMat(X.data(), y.size(), ncols, NAN, &dtrain), "XGDMatrixCreateFromMat");
    check(XGDMatrixSetFloatInfo(dtrain, "label", y.data(), y.size()), "labels");
    if (!base.empty()) check(XGDMatrixSetFloatInfo(dtrain, "base_margin", base.data(), base.size()), "base margin");
    bool have_valid = !vy.empty();
    if (have_valid) {
      check(XGDMatrixCreateFromMat(vX.data(), vy.size(), ncols, NAN, &dvalid), "validation matrix");
      check(XGDMatrixSetFloatInfo(dvalid, "label", vy.data(), vy.size()), "validation labels");
      if (!vbase.empty()) check(XGDMatrixSetFloatInfo(dvalid, "base_margin", vbase.data(), vbase.size()), "validation base margin");
    }
    DMatrixHandle cache[2] = {dtrain, dvalid};
    check(XGBoosterCreate(cache, have_valid ? 2 : 1, &b), "XGBoosterCreate");
    auto set = [&](const char* k, const std::string& v) { check(XGBoosterSetParam(b, k, v.c_str()), k); };
    set("objective", "binary:logistic");
    set("eval_metric", "logloss");
    set("tree_method", "hist");
    set("max_depth", std::to_string(p.max_depth));
    set("eta", std::to_string(p.eta));
    set("subsample", std::to_string(p.subsample));
    set("colsample_bytree", std::to_string(p.colsample));
    set("min_child_weight", std::to_string(p.min_child_weight));
    set("nthread", std::to_string(p.threads));
    set("seed", std::to_string(p.seed));
    set("verbosity", "0");
    for (const auto& [key, value] : p.xgb) set(key.c_str(), value);
    if (!p.monotone.empty()) {
      if (p.monotone.size() != ncols) throw std::invalid_argument("monotone constraints: one per column");
      std::string mc = "(";
      for (std::size_t c = 0; c < ncols; ++c) {
        if (c) mc.push_back(',');
        mc.append(std::to_string(p.monotone[c]));
      }
      mc.push_back(')');
      set("monotone_constraints", mc);
    }
    double best = 1e300;
    int best_iter = p.rounds;
    for (int it = 0; it < p.rounds; ++it) {
      check(XGBoosterUpdateOneIter(b, it, dtrain), "training");
      if (!have_valid || p.early_stopping <= 0) continue;
      const char* names[] = {"valid"};
      const char* res = nullptr;
      check(XGBoosterEvalOneIter(b, it, &dvalid, names, 1, &res), "evaluation");
      const char* colon = std::strrchr(res, ':');
      double loss = colon ? std::atof(colon + 1) : 0.0;
      if (loss < best - 1e-7) { best = loss; best_iter = it + 1; }
      else if (it + 1 - best_iter >= p.early_stopping) break;
    }
    if (have_valid && p.early_stopping > 0) {
      BoosterHandle sliced = nullptr;
      check(XGBoosterSlice(b, 0, best_iter, 1, &sliced), "slicing to the best round");
      XGBoosterFree(b);
      b = sliced;
    }
    if (best_rounds) *best_rounds = best_iter;
    bst_ulong len = 0;
    const char* buf = nullptr;
    check(XGBoosterSaveModelToBuffer(b, "{\"format\": \"json\"}", &len, &buf), "saving the booster");
    std::string out(buf, len);
    cleanup();
    return out;
  } catch (...) {
    cleanup();
    throw;
  }
}

const std::vector<std::string>& tunable_xgb_params() {
  static const std::vector<std::string> keys = {
      "subsample", "colsample_bytree", "colsample_bylevel", "colsample_bynode", "min_child_weight",
      "max_bin",   "alpha",            "lambda",            "gamma",            "max_delta_step",
      "grow_policy", "max_leaves",     "scale_pos_weight"};
  return keys;
}

std::pair<std::string, std::string> parse_xgb_param(std::string_view key_value) {
  const std::size_t eq = key_value.find('=');
  if (eq == std::string_view::npos || eq == 0 || eq + 1 == key_value.size())
    throw core::ConfigError("", 0, "--xgb-param \"" + std::string(key_value) + "\": expected KEY=VALUE, e.g. max_bin=64");
  std::pair<std::string, std::string> kv{std::string(key_value.substr(0, eq)), std::string(key_value.substr(eq + 1))};
  const auto& keys = tunable_xgb_params();
  if (std::find(keys.begin(), keys.end(), kv.first) == keys.end()) {
    throw core::ConfigError("", 0, "--xgb-param " + kv.first + ": not a parameter tamis train lets you set (" +
                                       core::join(keys, ", ") +
                                       "; --eta, --max-depth, --rounds, --seed and --threads are options)");
  }
  TrainParams probe;  // one round on two rows: XGBoost reads the value
  probe.rounds = 1;
  probe.threads = 1;
  probe.xgb = {kv};
  try {
    train_booster({0.0f, 1.0f}, 1, {0.0f, 1.0f}, {}, {}, probe);
  } catch (const core::ConfigError& e) {
    throw core::ConfigError("", 0, "--xgb-param " + std::string(key_value) + ": XGBoost refuses it: " + e.what());
  }
  return kv;
}

std::string average_boosters(const std::vector<std::string>& boosters) {
  if (boosters.empty()) throw std::invalid_argument("average_boosters: no booster");
  if (boosters.size() == 1) return boosters[0];
  json out = json::parse(boosters[0]);
  auto& model = out.at("learner").at("gradient_booster").at("model");
  const auto base_score = out.at("learner").at("learner_model_param").at("base_score");
  json trees = json::array(), info = json::array();
  const double k = static_cast<double>(boosters.size());
  for (const auto& b : boosters) {
    json j = json::parse(b);
    auto& learner = j.at("learner");
    if (learner.at("learner_model_param").at("base_score") != base_score)
      throw std::invalid_argument("average_boosters: boosters with different base_score");
    for (auto& t : learner.at("gradient_booster").at("model").at("trees")) {
      auto left = t.at("left_children").get<std::vector<int>>();
      auto& cond = t.at("split_conditions");
      auto& weights = t.at("base_weights");
      for (std::size_t i = 0; i < left.size(); ++i) {
        if (left[i] < 0) cond[i] = cond[i].get<double>() / k;  // a leaf: its value
        weights[i] = weights[i].get<double>() / k;
      }
      t["id"] = trees.size();
      trees.push_back(std::move(t));
      info.push_back(0);
    }
  }
  model["gbtree_model_param"]["num_trees"] = std::to_string(trees.size());
  model["trees"] = std::move(trees);
  model["tree_info"] = std::move(info);
  return out.dump();
}

}  // namespace tamis::model
