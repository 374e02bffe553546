#include <cctype>

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

// What a non-ASCII character is to the tokenizer. Text reaches it as UTF-8
// (mime::to_utf8), and HTML's &nbsp; as U+00A0. Before, every byte >= 0x80
// counted as a letter, so "Click&nbsp;here" was one word, a run of &nbsp;
// a word of its own, and a zero-width space inside "Vi\u200Bagra" a letter.
enum class CharKind { kLetter, kSeparator, kInvisible, kApostrophe };

CharKind classify(char32_t c) {
  if (c == 0x00AD || (c >= 0x200B && c <= 0x200F) || (c >= 0x202A && c <= 0x202E) || (c >= 0x2060 && c <= 0x2064) ||
      c == 0xFEFF || c == 0x034F || c == 0x180E)
    return CharKind::kInvisible;  // soft hyphen, zero-width and direction marks: read through, as a reader does
  if (c == 0x2019) return CharKind::kApostrophe;  // typographic apostrophe: "don’t" is "don't"
  if (c == 0x00A3 || c == 0x00A5 || c == 0x20AC) return CharKind::kLetter;  // £ ¥ €, as $ is
  if ((c >= 0x0080 && c <= 0x00BF) || c == 0x00D7 || c == 0x00F7) return CharKind::kSeparator;  // C1, Latin-1 signs
  if (c >= 0x2000 && c <= 0x206F) return CharKind::kSeparator;  // spaces, dashes, quotes, bullets, ellipsis
  if ((c >= 0x2190 && c <= 0x2BFF) || (c >= 0x3000 && c <= 0x3003)) return CharKind::kSeparator;  // arrows, shapes, CJK spaces
  if (c >= 0x1F000 && c <= 0x1FAFF) return CharKind::kSeparator;  // emoji
  return CharKind::kLetter;
}

constexpr char32_t kInvalid = 0x110000;

// Decodes the UTF-8 sequence at s[i] and moves i past it; `len` is its
// length. A stray or cut sequence gives kInvalid for its first byte alone.
char32_t next_char(std::string_view s, std::size_t& i, std::size_t& len) {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char u = b(i);
  const std::size_t n = u >= 0xF0 ? 4 : u >= 0xE0 ? 3 : u >= 0xC0 ? 2 : 1;
  len = 1;
  if (n == 1 || i + n > s.size()) return ++i, kInvalid;
  char32_t c = u & (0x3F >> (n - 1));
  for (std::size_t k = 1; k < n; ++k) {
    if ((b(i + k) & 0xC0) != 0x80) return ++i, kInvalid;
    c = (c << 6) | (b(i + k) & 0x3F);
  }
  len = n;
  i += n;
  return c;
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
  std::size_t part = 0;   // start of the current part in `word`
  bool cut = false;       // the word was cut at least once
  char last = 0;
  auto end_word = [&] {
    if (cut && word.size() - part >= 3) emit(word.substr(part));
    emit(std::move(word));
    word.clear();
    part = 0;
    cut = false;
    last = 0;
  };
  for (std::size_t i = 0; i < text.size();) {
    char c = text[i];
    unsigned char u = static_cast<unsigned char>(c);
    if (u >= 0x80 && unicode) {
      const std::size_t at = i;
      std::size_t len = 0;
      const char32_t cp = next_char(text, i, len);
      switch (cp == kInvalid ? CharKind::kLetter : classify(cp)) {  // a stray byte stays a letter, as before
        case CharKind::kInvisible: continue;
        case CharKind::kSeparator:
          end_word();
          if (out.size() >= max) return;
          continue;
        case CharKind::kApostrophe:
          if (!word.empty() && word.size() < 64) word.push_back('\'');
          last = '\'';
          continue;
        case CharKind::kLetter:
          if (word.size() + len <= 64) {
            if (cp >= 0xC0 && cp <= 0xDE && cp != 0xD7) {  // Latin-1 capitals: lower-case as ASCII is
              word.push_back(text[at]);
              word.push_back(static_cast<char>(text[at + 1] + 0x20));
            } else {
              word.append(text.substr(at, len));
            }
          }
          last = 'a';
          continue;
      }
    }
    ++i;
    if (core::is_alnum(c) || u >= 0x80 || c == '$' || ((c == '\'' || c == '-') && !word.empty())) {
      if (core::is_upper(c) && core::is_lower(last) && word.size() - part >= 3 && word.size() < 64) {
        emit(word.substr(part));
        part = word.size();
        cut = true;
      }
      last = c;
      if (word.size() < 64) word.push_back(core::to_lower(c));
    } else {
      end_word();
      if (out.size() >= max) return;
    }
  }
  end_word();
}

}  // namespace tamis::features
