// near: how like a known spam this message is. A MinHash signature of a
// message's token set, and an index of the training spam's signatures,
// searched by locality-sensitive hashing.
//
//   auto sig = NearIndex::signature(extracted.tokens);
//   auto near = index.nearest(sig);   // near.similarity in [0, 1]
//
// Spam comes in campaigns: the same text, reworded a little, sent for days
// (what Razor, Pyzor, DCC and rspamd's fuzzy_check look for). A Bayesian
// token sum sees such a message as many words each seen once; the index sees
// that 90 % of its words are those of one known spam. Only spam is indexed:
// "like no known ham" is what every new correspondent's first message is,
// and a model that learns it raises that mail (MODEL_CARD.md).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace tamis::model {

class NearIndex {
 public:
  // One-permutation MinHash (Li, Owen and Zhang 2012) with densification by
  // rotation (Shrivastava and Li 2014): each token's hash goes to one of
  // kSlots bins and each bin keeps its smallest hash; an empty bin takes the
  // next filled bin's value, marked with the distance. Two signatures agree
  // in a slot with probability about the Jaccard similarity of the two token
  // sets. 16 bits a slot: a chance agreement is 1 in 65,536.
  static constexpr std::size_t kSlots = 64;
  using Signature = std::array<std::uint16_t, kSlots>;
  // An empty token set gives an all-zero signature, which matches nothing.
  static Signature signature(const std::vector<std::uint64_t>& tokens);
  static double similarity(const Signature& a, const Signature& b);  // share of equal slots

  // Candidates come from kBands bands of kSlots / kBands slots each: a
  // message is compared with every indexed one that equals it in a whole
  // band. With 16 bands of 4, a message of similarity 0.7 is found with
  // probability 0.99, one of 0.3 with 0.12. At most kMaxCandidates are
  // compared (a bound on the work per message).
  static constexpr std::size_t kBands = 16;
  static constexpr std::size_t kMaxCandidates = 256;

  // Below this similarity two messages share a template (a mailing-list
  // footer, a web-mail wrapper), not a text: the feature the model reads is
  // 0 there. Chosen on the seed-42 folds: 0.999758 / FNR 5.65 % against
  // 0.999722 / 6.01 % without it, where an MSN Groups ham scored 0.55 against
  // a spam sent through the same service (MODEL_CARD.md).
  static constexpr float kSameCampaign = 0.7f;

  // The index of the spam among these token sets (label 1 = spam).
  static NearIndex build(const std::vector<const std::vector<std::uint64_t>*>& docs, const std::vector<int>& labels);
  // Adds a spam's signature. Call finish() before nearest().
  void add(const Signature& sig);
  void finish();
  struct Near {
    float similarity = 0;      // the highest similarity to an indexed spam; 0 if none found
    std::size_t compared = 0;  // candidates compared
  };
  Near nearest(const Signature& sig) const;
  std::size_t size() const { return sigs_.size(); }

  // Storage in the model file: 4 hex digits a slot, signatures one after another.
  std::string hex() const;
  // Adds the signatures hex() wrote; throws std::invalid_argument.
  void add_hex(const std::string& hex);

 private:
  std::vector<Signature> sigs_;
  // Per band: (band value, signature index), sorted.
  std::array<std::vector<std::pair<std::uint64_t, std::uint32_t>>, kBands> bands_;
};

}  // namespace tamis::model
