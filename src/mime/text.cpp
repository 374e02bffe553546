// Charset conversion (iconv from glibc), RFC 2047 words and UTF-8 hygiene.
#include <iconv.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <string>
#include <unordered_map>

#include "mime/message.hpp"
#include "core/strings.hpp"

namespace tamis::mime {

using core::lower;
using core::trim;
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";


// Length of the valid UTF-8 sequence at s[i], or 0 if invalid.
std::size_t utf8_seq_len(std::string_view s, std::size_t i) {
  auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = b(i);
  if (c < 0x80) return 1;
  std::size_t n;
  std::uint32_t cp;
  if ((c & 0xE0) == 0xC0) { n = 2; cp = c & 0x1F; }
  else if ((c & 0xF0) == 0xE0) { n = 3; cp = c & 0x0F; }
  else if ((c & 0xF8) == 0xF0) { n = 4; cp = c & 0x07; }
  else return 0;
  if (i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    if ((b(i + k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b(i + k) & 0x3F);
  }
  if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
      cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
    return 0;
  return n;
}

}  // namespace

// Maps mail's charset names (and their common misspellings) onto iconv names.
std::string canonical_charset(std::string_view cs) {
  std::string c = lower(cs);
  c.erase(std::remove_if(c.begin(), c.end(), [](char ch) { return ch == '"' || ch == '\'' || core::is_space(ch); }),
          c.end());
  if (c.empty() || c == "us-ascii" || c == "ascii" || c == "ansi_x3.4-1968") return "us-ascii";
  if (c == "utf8" || c == "utf-8") return "utf-8";
  if (c == "ks_c_5601-1987" || c == "ks_c_5601") return "cp949";
  if (c == "x-sjis" || c == "shift-jis") return "shift_jis";
  if (c == "chinesebig5" || c == "x-x-big5") return "big5";  // Outlook Express names
  if (c == "x-gbk" || c == "gb2312" || c == "x-gb2312") return "gbk";  // gbk is a superset
  if (c == "iso-8859-8-i") return "iso-8859-8";
  if (c == "x-mac-roman" || c == "macintosh") return "macintosh";
  if (c == "unicode-1-1-utf-7" || c == "x-unicode-2-0-utf-7") return "utf-7";
  return c;
}

namespace {

// iconv descriptors are costly to open; keep one per charset per thread.
// The map is bounded: a hostile message cannot make us open thousands.
struct IconvCache {
  std::unordered_map<std::string, iconv_t> map;
  ~IconvCache() {
    for (auto& [k, cd] : map)
      if (cd != reinterpret_cast<iconv_t>(-1)) iconv_close(cd);
  }
  iconv_t get(const std::string& cs) {
    auto it = map.find(cs);
    if (it != map.end()) return it->second;
    if (map.size() >= 64) return reinterpret_cast<iconv_t>(-1);
    iconv_t cd = iconv_open("UTF-8", cs.c_str());
    map.emplace(cs, cd);
    return cd;
  }
};

}  // namespace

bool valid_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    if (static_cast<unsigned char>(s[i]) < 0x80) { ++i; continue; }
    std::size_t n = utf8_seq_len(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

std::string sanitize_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) { out.push_back(static_cast<char>(c)); ++i; continue; }
    std::size_t n = utf8_seq_len(s, i);
    if (n == 0) { out.append(kReplacement); ++i; continue; }
    out.append(s.substr(i, n));
    i += n;
  }
  return out;
}

namespace {
// Text that is not valid UTF-8 although its label says ASCII or UTF-8, or
// names a charset iconv does not know. Mostly UTF-8 with a few stray bytes:
// keep the UTF-8, replace the strays. More invalid bytes than valid
// multi-byte characters: a legacy 8-bit charset the sender did not declare;
// read it as windows-1252, where every byte is a character (Latin-1 text
// comes out right), rather than keep the byte pairs that happen to be valid
// UTF-8 (Big5 or GB2312 text would turn into scattered Cyrillic letters).
std::string rescue_non_utf8(std::string_view in) {
  std::size_t valid = 0, invalid = 0;
  for (std::size_t i = 0; i < in.size();) {
    if (static_cast<unsigned char>(in[i]) < 0x80) { ++i; continue; }
    std::size_t n = utf8_seq_len(in, i);
    if (n == 0) { ++invalid; ++i; } else { ++valid; i += n; }
  }
  if (invalid > valid) return to_utf8(in, "windows-1252", nullptr, nullptr);
  return sanitize_utf8(in);
}
}  // namespace

std::string to_utf8(std::string_view in, std::string_view charset, bool* unknown_charset,
                    bool* bad_data) {
  std::string cs = canonical_charset(charset);
  if (cs == "us-ascii" || cs == "utf-8") {
    // Mail labelled ASCII is very often really UTF-8 or Latin-1.
    if (valid_utf8(in)) return std::string(in);
    if (bad_data) *bad_data = true;
    return rescue_non_utf8(in);
  }
  thread_local IconvCache cache;
  iconv_t cd = cache.get(cs);
  if (cd == reinterpret_cast<iconv_t>(-1)) {
    if (unknown_charset) *unknown_charset = true;
    return valid_utf8(in) ? std::string(in) : rescue_non_utf8(in);
  }
  iconv(cd, nullptr, nullptr, nullptr, nullptr);  // reset shift state
  std::string out;
  out.resize(in.size() * 2 + 16);
  char* src = const_cast<char*>(in.data());
  std::size_t src_left = in.size();
  std::size_t used = 0;
  while (src_left > 0) {
    char* dst = out.data() + used;
    std::size_t dst_left = out.size() - used;
    std::size_t r = iconv(cd, &src, &src_left, &dst, &dst_left);
    used = out.size() - dst_left;
    if (r != static_cast<std::size_t>(-1)) break;
    if (errno == E2BIG) {
      out.resize(out.size() * 2);
    } else {  // EILSEQ or EINVAL: skip one byte, mark it
      if (bad_data) *bad_data = true;
      if (out.size() - used < 4) out.resize(out.size() * 2);
      std::copy(kReplacement.begin(), kReplacement.end(), out.begin() + used);
      used += kReplacement.size();
      ++src;
      --src_left;
      iconv(cd, nullptr, nullptr, nullptr, nullptr);
    }
  }
  out.resize(used);
  return out;
}

namespace {

int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool decode_b64_word(std::string_view in, std::string& out) {
  static constexpr auto table = [] {
    std::array<signed char, 256> t{};
    for (auto& v : t) v = -1;
    const char* a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (int i = 0; i < 64; ++i) t[static_cast<unsigned char>(a[i])] = static_cast<signed char>(i);
    return t;
  }();
  std::uint32_t acc = 0;
  int bits = 0;
  bool ok = true;
  for (char c : in) {
    if (c == '=') break;
    int v = table[static_cast<unsigned char>(c)];
    if (v < 0) { ok = false; continue; }
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  return ok;
}

bool decode_q_word(std::string_view in, std::string& out) {
  bool ok = true;
  for (std::size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '_') out.push_back(' ');
    else if (c == '=' && i + 2 < in.size() && hexval(in[i + 1]) >= 0 && hexval(in[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hexval(in[i + 1]) * 16 + hexval(in[i + 2])));
      i += 2;
    } else {
      if (c == '=') ok = false;
      out.push_back(c);
    }
  }
  return ok;
}

}  // namespace

std::string decode_rfc2047(std::string_view in, std::size_t* words, bool* malformed) {
  std::string out;
  out.reserve(in.size());
  std::size_t i = 0;
  bool last_was_word = false;
  while (i < in.size()) {
    std::size_t start = in.find("=?", i);
    if (start == std::string_view::npos) {
      out.append(in.substr(i));
      break;
    }
    // Parse =?charset?X?text?=
    std::size_t q1 = in.find('?', start + 2);
    std::size_t q2 = q1 == std::string_view::npos ? q1 : in.find('?', q1 + 1);
    std::size_t end = q2 == std::string_view::npos ? q2 : in.find("?=", q2 + 1);
    if (end == std::string_view::npos || q2 != q1 + 2 || end - start > 2000) {
      if (malformed && end == std::string_view::npos && q1 != std::string_view::npos) *malformed = true;
      out.append(in.substr(i, start + 2 - i));
      i = start + 2;
      last_was_word = false;
      continue;
    }
    std::string_view between = in.substr(i, start - i);
    bool only_ws = std::all_of(between.begin(), between.end(),
                               [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; });
    if (!(last_was_word && only_ws)) out.append(between);  // drop whitespace between words
    std::string_view charset = in.substr(start + 2, q1 - start - 2);
    if (auto star = charset.find('*'); star != std::string_view::npos) charset = charset.substr(0, star);  // RFC 2231 language
    char enc = static_cast<char>((core::is_lower(in[q1 + 1]) ? in[q1 + 1] - 32 : in[q1 + 1]));
    std::string_view text = in.substr(q2 + 1, end - q2 - 1);
    std::string bytes;
    bool ok = enc == 'B' ? decode_b64_word(text, bytes) : enc == 'Q' ? decode_q_word(text, bytes) : false;
    if (!ok && malformed) *malformed = true;
    bool unk = false, bad = false;
    out.append(to_utf8(bytes, charset, &unk, &bad));
    if ((unk || bad) && malformed) *malformed = true;
    if (words) ++*words;
    last_was_word = true;
    i = end + 2;
  }
  return out;
}

}  // namespace tamis::mime
