// URLs: find them in text, parse them (uriparser), and name their
// registrable domain with the Public Suffix List (libpsl).
//
//   for (auto& s : find_urls_in_text(body, 100)) if (auto u = parse_url(s)) ...
//
// All functions are pure and thread-safe (the PSL context is loaded once).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tamis::features {

struct Url {
  std::string url;     // as found (trimmed)
  std::string scheme;  // lower-case: http, https, ftp, mailto...
  std::string host;    // lower-case, no brackets; "" for mailto
  std::string domain;  // registrable domain, or the host itself for IP literals
  int port = -1;
  bool ip_literal = false;   // dotted quad, IPv6, or an integer/hex IPv4 host
  bool punycode = false;     // a label starts with xn--
  bool userinfo = false;     // user@ before the host (http://paypal.com@evil.example/)
  bool shortener = false;    // a known URL shortener
  bool odd_port = false;     // a port other than 80/443/default
  bool encoded_host = false; // %-escapes in the host
  bool from_html = false;
  std::string text_domain;   // for HTML links: the domain the anchor text names, if any
};

// URLs written in plain text (http://, https://, ftp://, www.), at most `max`.
std::vector<std::string> find_urls_in_text(std::string_view text, std::size_t max);
// Parses one URL; nullopt when it has no usable host (and is not mailto:).
std::optional<Url> parse_url(std::string_view s);
// "mail.example.co.uk" -> "example.co.uk"; the host itself when the PSL has no answer.
std::string registrable_domain(std::string_view host);
// The domain named by a piece of link text ("www.paypal.com", "https://x.example/"), or "".
std::string domain_in_text(std::string_view text);

}  // namespace tamis::features
