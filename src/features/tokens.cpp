#include <unicode/uchar.h>
#include <unicode/unorm2.h>
#include <unicode/utf8.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <climits>
#include <cstdint>

#include "features/features.hpp"
#include "core/strings.hpp"

namespace tamis::features {

std::uint64_t token_hash(std::string_view prefix, std::string_view word) {
  std::uint64_t h = 1469598103934665603ull;  // FNV-1a 64
  for (char c : prefix) { h ^= static_cast<unsigned char>(c); h *= 1099511628211ull; }
  for (char c : word) { h ^= static_cast<unsigned char>(c); h *= 1099511628211ull; }
  return h;
}

namespace {

// What a non-ASCII character is to tokenizer 4. Text reaches the tokenizer
// as UTF-8 (mime::to_utf8), HTML's &nbsp; as U+00A0.
enum class Kind { kLetter, kSeparator, kInvisible, kApostrophe };

Kind classify(UChar32 c) {
  // Soft hyphens, zero-width spaces and joiners, direction marks, variation
  // selectors: read through, as a reader does ("Vi\u200Bagra" is viagra).
  if (u_hasBinaryProperty(c, UCHAR_DEFAULT_IGNORABLE_CODE_POINT)) return Kind::kInvisible;
  if (c == 0x2019) return Kind::kApostrophe;                                // "don’t" is "don't"
  if (c == 0x00A3 || c == 0x00A5 || c == 0x20AC) return Kind::kLetter;      // £ ¥ €, as $ is
  if ((c >= 0x0080 && c <= 0x00BF) || c == 0x00D7 || c == 0x00F7) return Kind::kSeparator;  // C1, Latin-1 signs
  if (c >= 0x2000 && c <= 0x206F) return Kind::kSeparator;  // spaces, dashes, quotes, bullets, ellipsis
  if ((c >= 0x2190 && c <= 0x2BFF) || (c >= 0x3000 && c <= 0x3003)) return Kind::kSeparator;  // arrows, shapes, CJK spaces
  if (c >= 0x1F000 && c <= 0x1FAFF) return Kind::kSeparator;  // emoji
  return Kind::kLetter;
}

// What the tokenizer does with one non-ASCII character, worked out once
// per code point (ICU's lookups cost ~40 ns a character; a page of
// Cyrillic or CJK text repeats a few hundred characters).
struct Resolved {
  UChar32 c = -1;
  Kind kind = Kind::kLetter;
  bool ascii = false;  // a letter in another form: `text` is the ASCII it stands for
  bool upper = false, lower = false;
  std::uint8_t len = 0;
  char text[16];       // the ASCII form, or the case-folded letter as UTF-8
};

// A letter whose compatibility form (NFKC: fullwidth "Ａ", mathematical bold
// "𝐕", ligature "ﬁ") is all ASCII is read as that ASCII: spam writes words
// in such forms so that filters which compare bytes do not know them.
// Accented letters keep their accents ("é" decomposes to e and a combining
// accent, not all ASCII): folding them away merges words of other
// languages and was no better on the corpora (models/MODEL_CARD.md).
// Other letters are case-folded.
void resolve_letter(Resolved& r) {
  static const UNormalizer2* nfkc = [] {
    UErrorCode e = U_ZERO_ERROR;
    const UNormalizer2* n = unorm2_getNFKCInstance(&e);
    return U_SUCCESS(e) ? n : nullptr;
  }();
  UChar buf[sizeof r.text];
  UErrorCode e = U_ZERO_ERROR;
  const int32_t n = nfkc ? unorm2_getDecomposition(nfkc, r.c, buf, static_cast<int32_t>(sizeof r.text), &e) : -1;
  r.ascii = n > 0 && U_SUCCESS(e) && std::all_of(buf, buf + n, [](UChar u) { return u < 0x80; });
  if (r.ascii) {
    std::copy(buf, buf + n, r.text);
    r.len = static_cast<std::uint8_t>(n);
    return;
  }
  int32_t len = 0;
  U8_APPEND_UNSAFE(r.text, len, u_foldCase(r.c, U_FOLD_CASE_DEFAULT));
  r.len = static_cast<std::uint8_t>(len);
  r.upper = u_isUUppercase(r.c);
  r.lower = u_isULowercase(r.c);
}

const Resolved& resolve(UChar32 c) {
  thread_local std::array<Resolved, 1024> cache;  // direct-mapped by the low bits
  Resolved& r = cache[static_cast<std::size_t>(c) % cache.size()];
  if (r.c != c) {
    r = Resolved{};
    r.c = c;
    r.kind = classify(c);
    if (r.kind == Kind::kLetter) resolve_letter(r);
  }
  return r;
}

}  // namespace

void tokenize(std::string_view text, std::string_view prefix, std::vector<std::uint64_t>& out, std::size_t max,
              std::vector<std::string>* words, int version) {
  // Tokenizer 3 took every byte >= 0x80 for a letter; models trained with it
  // are fed its tokens.
  const bool unicode = version == 0 || version >= 4;
  std::string word;
  auto emit = [&](std::string w) {
    if (w.size() < 2 || w.size() > 30 || out.size() >= max) return;
    bool digits = true;
    for (char c : w) digits = digits && core::is_digit(c);
    if (digits && w.size() > 4) w = "#d" + std::to_string(w.size());  // long numbers by length
    out.push_back(token_hash(prefix, w));
    if (words) words->push_back(std::string(prefix) + w);
  };
  // Words glued in camel case ("ViagraOnline", "TopPfizer") also count as
  // their parts, so a known word still counts when a sender glues it to
  // another. A part ends where a lower-case letter meets a capital; parts
  // shorter than 3 letters are not counted alone ("McDonald" and "iPhone"
  // stay whole words).
  std::size_t part = 0;    // start of the current part in `word`
  bool cut = false;        // the word was cut at least once
  bool last_lower = false; // the last letter was lower-case
  auto end_word = [&] {
    if (cut && word.size() - part >= 3) emit(word.substr(part));
    emit(std::move(word));
    word.clear();
    part = 0;
    cut = false;
    last_lower = false;
  };
  // One character of a word, already lower-cased (words are cut at 64 bytes).
  auto add = [&](std::string_view lowered, bool upper, bool lower) {
    if (upper && last_lower && word.size() - part >= 3 && word.size() < 64) {
      emit(word.substr(part));
      part = word.size();
      cut = true;
    }
    last_lower = lower;
    if (word.size() + lowered.size() <= 64) word.append(lowered);
  };
  // One ASCII character; false once the token budget is spent.
  auto ascii = [&](char c) {
    if (core::is_alnum(c) || c == '$' || ((c == '\'' || c == '-') && !word.empty())) {
      const char l = core::to_lower(c);
      add(std::string_view(&l, 1), core::is_upper(c), core::is_lower(c));
      return true;
    }
    end_word();
    return out.size() < max;
  };
  const auto n = static_cast<std::int32_t>(std::min<std::size_t>(text.size(), INT32_MAX));
  for (std::int32_t i = 0; i < n;) {
    const unsigned char u = static_cast<unsigned char>(text[static_cast<std::size_t>(i)]);
    if (u < 0x80) {
      if (!ascii(static_cast<char>(u))) return;
      ++i;
      continue;
    }
    if (!unicode) {
      add(text.substr(static_cast<std::size_t>(i), 1), false, false);
      ++i;
      continue;
    }
    const std::int32_t at = i;
    UChar32 c;
    U8_NEXT(text.data(), i, n, c);
    if (c < 0) {  // not UTF-8: the bytes stay part of the word, as before
      add(text.substr(static_cast<std::size_t>(at), static_cast<std::size_t>(i - at)), false, false);
      continue;
    }
    const Resolved& r = resolve(c);
    switch (r.kind) {
      case Kind::kInvisible: break;
      case Kind::kSeparator:
        end_word();
        if (out.size() >= max) return;
        break;
      case Kind::kApostrophe:
        if (!ascii('\'')) return;
        break;
      case Kind::kLetter:
        if (!r.ascii) {
          add(std::string_view(r.text, r.len), r.upper, r.lower);
          break;
        }
        for (std::uint8_t k = 0; k < r.len; ++k)
          if (!ascii(r.text[k])) return;
        break;
    }
  }
  end_word();
}

}  // namespace tamis::features
