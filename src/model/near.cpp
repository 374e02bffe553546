#include "model/near.hpp"

#include <algorithm>
#include <stdexcept>

namespace tamis::model {
namespace {

// splitmix64's finalizer: token hashes are FNV-1a, whose low and high bits
// are not independent enough to pick a bin and a rank from one value.
std::uint64_t mix(std::uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return x;
}

constexpr std::size_t kRows = NearIndex::kSlots / NearIndex::kBands;
static_assert(kRows * 16 <= 64, "a band must fit in 64 bits");

std::uint64_t band_value(const NearIndex::Signature& s, std::size_t band) {
  std::uint64_t v = 0;
  for (std::size_t r = 0; r < kRows; ++r) v = (v << 16) | s[band * kRows + r];
  return v;
}

bool is_empty(const NearIndex::Signature& s) {
  return std::all_of(s.begin(), s.end(), [](std::uint16_t v) { return v == 0; });
}

}  // namespace

NearIndex::Signature NearIndex::signature(const std::vector<std::uint64_t>& tokens) {
  Signature sig{};
  if (tokens.empty()) return sig;
  constexpr std::uint64_t kNone = ~0ull;
  constexpr int kBinBits = 6;
  static_assert((std::size_t{1} << kBinBits) == kSlots);
  std::array<std::uint64_t, kSlots> low;
  low.fill(kNone);
  for (std::uint64_t t : tokens) {
    std::uint64_t h = mix(t);
    std::size_t bin = static_cast<std::size_t>(h >> (64 - kBinBits));
    std::uint64_t rank = h & ((1ull << (64 - kBinBits)) - 1);
    low[bin] = std::min(low[bin], rank);
  }
  for (std::size_t j = 0; j < kSlots; ++j) {
    std::size_t d = 0;
    while (low[(j + d) % kSlots] == kNone) ++d;  // some bin is filled: tokens is not empty
    std::uint64_t v = mix(low[(j + d) % kSlots] + d * 0x9E3779B97F4A7C15ull);
    sig[j] = static_cast<std::uint16_t>(v >> 48);
  }
  if (is_empty(sig)) sig[0] = 1;  // all zero means "no tokens"
  return sig;
}

double NearIndex::similarity(const Signature& a, const Signature& b) {
  std::size_t same = 0;
  for (std::size_t i = 0; i < kSlots; ++i) same += a[i] == b[i];
  return static_cast<double>(same) / static_cast<double>(kSlots);
}

NearIndex NearIndex::build(const std::vector<const std::vector<std::uint64_t>*>& docs, const std::vector<int>& labels) {
  NearIndex ix;
  for (std::size_t i = 0; i < docs.size(); ++i)
    if (labels[i] != 0) ix.add(signature(*docs[i]));
  ix.finish();
  return ix;
}

void NearIndex::add(const Signature& sig) {
  if (!is_empty(sig)) sigs_.push_back(sig);
}

void NearIndex::finish() {
  // One entry per distinct signature: a campaign's copies add nothing.
  std::sort(sigs_.begin(), sigs_.end());
  sigs_.erase(std::unique(sigs_.begin(), sigs_.end()), sigs_.end());
  for (std::size_t b = 0; b < kBands; ++b) {
    auto& band = bands_[b];
    band.clear();
    band.reserve(sigs_.size());
    for (std::uint32_t i = 0; i < sigs_.size(); ++i) band.emplace_back(band_value(sigs_[i], b), i);
    std::sort(band.begin(), band.end());
  }
}

NearIndex::Near NearIndex::nearest(const Signature& sig) const {
  Near out;
  if (sigs_.empty() || is_empty(sig)) return out;
  std::vector<std::uint32_t> cand;
  for (std::size_t b = 0; b < kBands && cand.size() < 4 * kMaxCandidates; ++b) {
    const auto& band = bands_[b];
    std::uint64_t v = band_value(sig, b);
    auto it = std::lower_bound(band.begin(), band.end(), std::make_pair(v, std::uint32_t{0}));
    for (; it != band.end() && it->first == v && cand.size() < 4 * kMaxCandidates; ++it) cand.push_back(it->second);
  }
  std::sort(cand.begin(), cand.end());
  cand.erase(std::unique(cand.begin(), cand.end()), cand.end());
  if (cand.size() > kMaxCandidates) cand.resize(kMaxCandidates);
  for (auto i : cand) out.similarity = std::max(out.similarity, static_cast<float>(similarity(sig, sigs_[i])));
  out.compared = cand.size();
  return out;
}

std::string NearIndex::hex() const {
  static const char* digits = "0123456789abcdef";
  std::string out;
  out.reserve(sigs_.size() * kSlots * 4);
  for (const auto& sig : sigs_)
    for (std::uint16_t v : sig)
      for (int shift = 12; shift >= 0; shift -= 4) out.push_back(digits[(v >> shift) & 0xf]);
  return out;
}

void NearIndex::add_hex(const std::string& hex) {
  constexpr std::size_t kDigits = kSlots * 4;
  if (hex.size() % kDigits != 0) throw std::invalid_argument("near-duplicate signatures: length is not a multiple of " + std::to_string(kDigits));
  auto nibble = [](char c) -> unsigned {
    if (c >= '0' && c <= '9') return static_cast<unsigned>(c - '0');
    if (c >= 'a' && c <= 'f') return static_cast<unsigned>(c - 'a' + 10);
    throw std::invalid_argument("near-duplicate signatures: not a hex digit");
  };
  for (std::size_t at = 0; at < hex.size(); at += kDigits) {
    Signature s{};
    for (std::size_t j = 0; j < kSlots; ++j) {
      unsigned v = 0;
      for (std::size_t k = 0; k < 4; ++k) v = (v << 4) | nibble(hex[at + j * 4 + k]);
      s[j] = static_cast<std::uint16_t>(v);
    }
    add(s);
  }
}

}  // namespace tamis::model
