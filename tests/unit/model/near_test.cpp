#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "core/error.hpp"
#include "model/model.hpp"
#include "model/near.hpp"
#include "support.hpp"

using namespace tamis;
using model::NearIndex;

namespace {
// `n` distinct token hashes from `seed`, sorted (as Extracted::tokens is).
std::vector<std::uint64_t> tokens(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::uint64_t> t(n);
  for (auto& v : t) v = rng();
  std::sort(t.begin(), t.end());
  return t;
}
// `a` with its first `replace` tokens swapped for new ones.
std::vector<std::uint64_t> reworded(std::vector<std::uint64_t> a, std::size_t replace, std::uint64_t seed) {
  auto fresh = tokens(replace, seed);
  std::copy(fresh.begin(), fresh.end(), a.begin());
  std::sort(a.begin(), a.end());
  return a;
}
NearIndex index_of(const std::vector<std::vector<std::uint64_t>>& docs, const std::vector<int>& labels) {
  std::vector<const std::vector<std::uint64_t>*> ptrs;
  for (const auto& d : docs) ptrs.push_back(&d);
  return NearIndex::build(ptrs, labels);
}
}  // namespace

TEST_CASE("near: signature agreement follows the Jaccard similarity of the token sets", "[model][near]") {
  auto a = tokens(1000, 1);
  CHECK(NearIndex::similarity(NearIndex::signature(a), NearIndex::signature(a)) == 1.0);
  CHECK(NearIndex::similarity(NearIndex::signature(a), NearIndex::signature(tokens(1000, 2))) < 0.1);
  // 1000 tokens, 200 replaced: 800 shared of 1200, Jaccard 0.67
  double s = NearIndex::similarity(NearIndex::signature(a), NearIndex::signature(reworded(a, 200, 3)));
  CHECK(s > 0.5);
  CHECK(s < 0.85);
  // a short message: 20 tokens, 2 replaced (Jaccard 0.82); empty bins borrow
  auto b = tokens(20, 4);
  double short_s = NearIndex::similarity(NearIndex::signature(b), NearIndex::signature(reworded(b, 2, 5)));
  CHECK(short_s > 0.55);
  CHECK(short_s < 1.0);
}

TEST_CASE("near: an empty token set matches nothing, not even another empty one", "[model][near]") {
  auto empty = NearIndex::signature({});
  CHECK(std::all_of(empty.begin(), empty.end(), [](auto v) { return v == 0; }));
  auto ix = index_of({{}, tokens(50, 1)}, {1, 1});
  CHECK(ix.size() == 1);
  auto n = ix.nearest(empty);
  CHECK(n.similarity == 0);
  CHECK(n.compared == 0);
}

TEST_CASE("near: the index finds a reworded copy of a known spam, and only spam is indexed", "[model][near]") {
  auto spam = tokens(400, 10), ham = tokens(400, 11);
  std::vector<std::vector<std::uint64_t>> docs{spam, ham};
  std::vector<int> labels{1, 0};
  for (std::uint64_t s = 100; s < 300; ++s) {  // other spam, unrelated
    docs.push_back(tokens(300, s));
    labels.push_back(1);
  }
  auto ix = index_of(docs, labels);
  CHECK(ix.size() == 201);
  auto copy = ix.nearest(NearIndex::signature(reworded(spam, 20, 12)));  // Jaccard 0.9
  CHECK(copy.similarity > 0.75);
  CHECK(copy.compared >= 1);
  CHECK(ix.nearest(NearIndex::signature(ham)).similarity < 0.2);  // the ham itself: not indexed
  CHECK(ix.nearest(NearIndex::signature(tokens(400, 13))).similarity < 0.2);
}

TEST_CASE("near: the copies of one campaign are indexed once", "[model][near]") {
  auto spam = tokens(300, 20);
  auto ix = index_of({spam, spam, spam, tokens(300, 21)}, {1, 1, 1, 1});
  CHECK(ix.size() == 2);
}

TEST_CASE("near: at most kMaxCandidates indexed signatures are compared per message", "[model][near]") {
  // 3,000 signatures that all agree with the query in their first band.
  auto query = NearIndex::signature(tokens(500, 30));
  NearIndex ix;
  std::mt19937 rng(31);
  for (int i = 0; i < 3000; ++i) {
    NearIndex::Signature s = query;
    for (std::size_t j = NearIndex::kSlots / NearIndex::kBands; j < NearIndex::kSlots; ++j)
      s[j] = static_cast<std::uint16_t>(rng() | 1);
    ix.add(s);
  }
  ix.finish();
  REQUIRE(ix.size() == 3000);
  auto n = ix.nearest(query);
  CHECK(n.compared == NearIndex::kMaxCandidates);
  CHECK(n.similarity >= 4.0 / 64);
}

TEST_CASE("near: signatures survive the model file's hex form; bad hex is refused", "[model][near]") {
  std::vector<std::vector<std::uint64_t>> docs;
  for (std::uint64_t s = 40; s < 60; ++s) docs.push_back(tokens(200, s));
  auto ix = index_of(docs, std::vector<int>(docs.size(), 1));
  NearIndex back;
  back.add_hex(ix.hex());
  back.finish();
  CHECK(back.hex() == ix.hex());
  auto q = NearIndex::signature(reworded(docs[7], 10, 61));
  CHECK(back.nearest(q).similarity == ix.nearest(q).similarity);
  NearIndex bad;
  CHECK_THROWS_AS(bad.add_hex(ix.hex().substr(1)), std::invalid_argument);
  std::string not_hex = ix.hex();
  not_hex[5] = 'g';
  CHECK_THROWS_AS(bad.add_hex(not_hex), std::invalid_argument);
}

TEST_CASE("near: the model reads near_spam from its index, only at campaign likeness, through save and load", "[model][near]") {
  auto spam = tokens(400, 70);
  std::vector<std::vector<std::uint64_t>> docs{spam, tokens(400, 71)};
  std::vector<const std::vector<std::uint64_t>*> ptrs{&docs[0], &docs[1]};
  auto tt = model::TokenTable::train(ptrs, {1, 0});
  tt.near = NearIndex::build(ptrs, {1, 0});
  const auto& names = model::token_feature_names();
  const std::size_t col = static_cast<std::size_t>(std::find(names.begin(), names.end(), "near_spam") - names.begin());
  REQUIRE(names.at(col) == "near_spam");
  auto near_spam = [&](const model::TokenTable& t, const std::vector<std::uint64_t>& toks) {
    std::vector<float> out;
    t.features(toks, out);
    REQUIRE(out.size() == names.size());
    return out[col];
  };
  CHECK(near_spam(tt, reworded(spam, 20, 72)) > NearIndex::kSameCampaign);  // Jaccard 0.9
  auto same_template = reworded(spam, 100, 73);  // Jaccard 0.6: found, but below kSameCampaign
  REQUIRE(tt.near.nearest(NearIndex::signature(same_template)).similarity > 0.4f);
  CHECK(near_spam(tt, same_template) == 0.0f);
  CHECK(near_spam(tt, docs[1]) == 0.0f);                                   // the ham

  auto path = (std::filesystem::temp_directory_path() / ("tamis-near-" + std::to_string(::getpid()) + ".json")).string();
  test::tiny_model({}, std::move(tt))->save(path);
  auto back = model::Model::load(path);
  CHECK(near_spam(back->token_table(), spam) == 1.0f);
  nlohmann::json j;
  std::ifstream(path) >> j;
  j["near_spam"] = "xyz";
  std::ofstream(path) << j.dump();
  CHECK_THROWS_WITH(model::Model::load(path), Catch::Contains(path) && Catch::Contains("near-duplicate"));
  std::filesystem::remove(path);
}

TEST_CASE("near: a model file from before near_spam still loads and reads five token statistics", "[model][near]") {
  // A booster over the structural features and the first five token
  // statistics, in a file with the structural schema hash only, as tamis
  // wrote them before near_spam.
  const std::size_t ncols = features::kFeatureCount + model::kLegacyTokenFeatures;
  std::mt19937 rng(80);
  std::uniform_real_distribution<float> u(0, 10);
  std::vector<float> X, y;
  for (int i = 0; i < 200; ++i) {
    for (std::size_t c = 0; c < ncols; ++c) X.push_back(u(rng));
    y.push_back(X[X.size() - 1] > 5 ? 1.0f : 0.0f);  // tok_known, the fifth
  }
  model::TrainParams p;
  p.rounds = 10;
  p.colsample = 1.0;
  p.early_stopping = 0;
  p.threads = 1;
  nlohmann::json j = {{"format", "tamis-model-1"},
                      {"schema_hash", features::schema().hash},
                      {"rule_features", nlohmann::json::array()},
                      {"tokens", nlohmann::json::array({nlohmann::json::array({42, 1.5})})},
                      {"booster", nlohmann::json::parse(model::train_booster(X, ncols, y, {}, {}, p))}};
  auto path = (std::filesystem::temp_directory_path() / ("tamis-legacy-" + std::to_string(::getpid()) + ".json")).string();
  std::ofstream(path) << j.dump();
  auto m = model::Model::load(path);
  REQUIRE(m->feature_names().size() == ncols);
  CHECK(m->feature_names().back() == "tok_known");
  features::Extracted ex;
  ex.vector.assign(features::kFeatureCount, 1.0f);
  ex.tokens = tokens(100, 81);
  auto row = m->row(ex, rules::RuleHits{}, {});
  CHECK(row.size() == ncols);
  model::Prediction pr;
  CHECK(m->predict(row, false, pr));
  // saved again, it is still a legacy file
  m->save(path);
  nlohmann::json back;
  std::ifstream(path) >> back;
  CHECK(back.at("schema_hash") == features::schema().hash);
  CHECK_FALSE(back.contains("near_spam"));
  CHECK(model::Model::load(path)->feature_names().size() == ncols);
  // a current file must carry its signatures
  j["schema_hash"] = model::schema_hash();
  std::ofstream(path) << j.dump();
  CHECK_THROWS_WITH(model::Model::load(path), Catch::Contains("near_spam"));
  std::filesystem::remove(path);
}
