#include "features/urls.hpp"

#include <libpsl.h>
#include <uriparser/Uri.h>

#include <algorithm>
#include <array>
#include <cctype>
#include "core/strings.hpp"

namespace tamis::features {

using core::lower;
using core::trim;
namespace {

const psl_ctx_t* psl() {
  // Debian's publicsuffix package keeps the list current; the built-in copy
  // is the fallback.
  static const psl_ctx_t* ctx = [] {
    const psl_ctx_t* c = psl_latest(nullptr);
    return c ? c : psl_builtin();
  }();
  return ctx;
}


bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return core::is_digit(c); });
}

bool is_ipv4_like(std::string_view h) {
  if (h.empty()) return false;
  if (all_digits(h) && h.size() >= 7) return true;  // http://3232235777/
  if (h.size() > 2 && h[0] == '0' && h[1] == 'x') return true;
  std::size_t dots = 0;
  for (char c : h) {
    if (c == '.') ++dots;
    else if (!core::is_xdigit(c) && c != 'x') return false;
  }
  if (dots != 3) return false;
  // every label numeric (decimal, octal or hex)
  std::size_t start = 0;
  for (std::size_t i = 0; i <= h.size(); ++i) {
    if (i == h.size() || h[i] == '.') {
      std::string_view l = h.substr(start, i - start);
      if (l.empty()) return false;
      if (!(all_digits(l) || (l.size() > 2 && l[0] == '0' && l[1] == 'x'))) return false;
      start = i + 1;
    }
  }
  return true;
}

constexpr std::array<std::string_view, 24> kShorteners = {
    "bit.ly", "tinyurl.com", "goo.gl", "t.co", "ow.ly", "is.gd", "buff.ly", "rebrand.ly",
    "cutt.ly", "shorturl.at", "tiny.cc", "rb.gy", "bit.do", "lnkd.in", "s.id", "v.gd",
    "t.ly", "shorte.st", "adf.ly", "x.co", "tr.im", "snipurl.com", "u.to", "qr.net"};

std::string range(const UriTextRangeA& r) {
  if (!r.first || !r.afterLast || r.afterLast < r.first) return {};
  return std::string(r.first, static_cast<std::size_t>(r.afterLast - r.first));
}

}  // namespace

std::string registrable_domain(std::string_view host) {
  if (host.empty()) return {};
  if (is_ipv4_like(host) || host.find(':') != std::string_view::npos) return std::string(host);
  std::string h(host);
  while (!h.empty() && h.back() == '.') h.pop_back();
  if (const char* rd = psl_registrable_domain(psl(), h.c_str())) return std::string(rd);
  return h;
}

std::vector<std::string> find_urls_in_text(std::string_view text, std::size_t max) {
  std::vector<std::string> out;
  auto stop = [](char c) {
    unsigned char u = static_cast<unsigned char>(c);
    return core::is_space(static_cast<char>(u)) || c == '<' || c == '>' || c == '"' || c == '\'' || c == '`' || c == '{' || c == '}' ||
           c == '|' || c == '\\' || c == '^' || u < 0x20;
  };
  std::size_t i = 0;
  while (i < text.size() && out.size() < max) {
    std::size_t best = std::string_view::npos;
    for (std::string_view key : {"http", "HTTP", "Http", "www.", "WWW.", "ftp://"}) {
      std::size_t p = text.find(key, i);
      if (p < best) best = p;
    }
    if (best == std::string_view::npos) break;
    std::size_t end = best;
    while (end < text.size() && !stop(text[end])) ++end;
    std::string_view cand = text.substr(best, end - best);
    while (!cand.empty() && std::string_view(".,;:!?)]*").find(cand.back()) != std::string_view::npos) cand.remove_suffix(1);
    bool word_start = best == 0 || !core::is_alnum(text[best - 1]);
    std::string lc = lower(cand.substr(0, 8));
    if (word_start && (lc.starts_with("http://") || lc.starts_with("https://") || lc.starts_with("ftp://"))) {
      if (cand.size() > lc.find("//") + 3) out.emplace_back(cand);
    } else if (word_start && lc.starts_with("www.") && cand.size() > 6 && cand.find('.', 4) != std::string_view::npos) {
      out.push_back("http://" + std::string(cand));
    }
    i = std::max(end, best + 4);
  }
  return out;
}

std::optional<Url> parse_url(std::string_view s) {
  while (!s.empty() && core::is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && core::is_space(s.back())) s.remove_suffix(1);
  if (s.empty() || s.size() > 4096) return std::nullopt;
  Url u;
  u.url = std::string(s);
  std::string lc = lower(s.substr(0, 16));
  if (lc.starts_with("mailto:")) {
    u.scheme = "mailto";
    std::string_view addr = s.substr(7);
    if (auto at = addr.find('@'); at != std::string_view::npos) {
      std::string_view h = addr.substr(at + 1);
      h = h.substr(0, h.find_first_of("?>&,; "));
      u.host = lower(h);
      u.domain = registrable_domain(u.host);
    }
    return u;
  }
  if (lc.starts_with("www.")) u.url = "http://" + u.url;
  // uriparser is strict: drop characters it rejects rather than lose the URL.
  std::string clean;
  clean.reserve(u.url.size());
  for (char c : u.url) {
    unsigned char uc = static_cast<unsigned char>(c);
    if (uc > 0x20 && uc < 0x7f && c != '"' && c != '<' && c != '>' && c != '\\' && c != '^' && c != '`' && c != '{' &&
        c != '|' && c != '}')
      clean.push_back(c);
    else if (uc >= 0x80)
      clean.push_back('x');  // IDN in raw UTF-8: keep a placeholder label character
  }
  UriUriA uri;
  const char* err = nullptr;
  if (uriParseSingleUriA(&uri, clean.c_str(), &err) != URI_SUCCESS) return std::nullopt;
  u.scheme = lower(range(uri.scheme));
  std::string host = lower(range(uri.hostText));
  std::string port = range(uri.portText);
  u.userinfo = uri.userInfo.first != nullptr;
  uriFreeUriMembersA(&uri);
  if (u.scheme != "http" && u.scheme != "https" && u.scheme != "ftp") return std::nullopt;
  if (host.empty()) return std::nullopt;
  u.encoded_host = host.find('%') != std::string::npos;
  u.host = host;
  u.ip_literal = host.find(':') != std::string::npos || is_ipv4_like(host);
  u.punycode = host.starts_with("xn--") || host.find(".xn--") != std::string::npos;
  if (!port.empty() && all_digits(port) && port.size() < 6) {
    u.port = std::stoi(port);
    u.odd_port = !(u.port == 80 || u.port == 443 || (u.scheme == "ftp" && u.port == 21));
  }
  u.domain = registrable_domain(host);
  u.shortener = std::find(kShorteners.begin(), kShorteners.end(), u.domain) != kShorteners.end() ||
                std::find(kShorteners.begin(), kShorteners.end(), host) != kShorteners.end();
  return u;
}

std::string domain_in_text(std::string_view text) {
  while (!text.empty() && core::is_space(text.front())) text.remove_prefix(1);
  while (!text.empty() && core::is_space(text.back())) text.remove_suffix(1);
  if (text.empty() || text.size() > 300 || text.find(' ') != std::string_view::npos) return {};
  std::string lc = lower(text);
  if (!(lc.starts_with("http://") || lc.starts_with("https://") || lc.starts_with("www."))) {
    // a bare domain such as "paypal.com": letters, digits, dots, dashes, a letter TLD
    auto dot = lc.rfind('.');
    if (dot == std::string::npos || dot + 2 >= lc.size()) return {};
    if (!std::all_of(lc.begin(), lc.end(), [](char c) { return core::is_alnum(c) || c == '.' || c == '-' || c == '/'; }))
      return {};
    if (!std::all_of(lc.begin() + static_cast<long>(dot) + 1, lc.end(), [](char c) { return core::is_alpha(c) || c == '/'; }))
      return {};
    lc = "http://" + lc;
  }
  auto u = parse_url(lc);
  return u ? u->domain : std::string();
}

}  // namespace tamis::features
