// HTML -> visible text, links and structure counts, with libxml2's HTML
// parser (SAX, no tree), never regex stripping.
//
//   HtmlInfo h = html_to_text(html_utf8, limits.max_html_bytes);
//   for (auto& l : h.links) ... l.href, l.text ...
//
// Pure function; safe from any thread.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace tamis::features {

struct HtmlLink {
  std::string href;
  std::string text;  // visible anchor text (for "link text names another domain")
};

struct HtmlInfo {
  std::string text;            // visible text, block elements on their own lines
  std::vector<HtmlLink> links; // <a href>, <area href>
  std::vector<std::string> image_srcs;
  std::size_t images = 0;
  std::size_t forms = 0;
  std::size_t scripts = 0;
  std::size_t iframes = 0;
  std::size_t comments = 0;
  std::size_t font_tags = 0;
  std::size_t tags = 0;
  std::size_t hidden_chars = 0;  // text under display:none, visibility:hidden, font-size:0/1px, hidden
  std::string hidden_text;       // that text, one line per hidden element (at most kMaxHiddenText bytes)
  bool truncated = false;        // input was cut at max_bytes or at the tag cap
};

constexpr std::size_t kMaxHiddenText = 16384;

HtmlInfo html_to_text(std::string_view html, std::size_t max_bytes, std::size_t max_links);

}  // namespace tamis::features
