#include "features/html.hpp"

#include <gumbo.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <string>
#include <vector>

namespace tamis::features {
namespace {

// gumbo frees its tree recursively; bound the number of tags (and with it
// the possible depth) so a hostile page cannot exhaust a thread's stack.
constexpr std::size_t kMaxTags = 20000;

bool is_block(GumboTag t) {
  switch (t) {
    case GUMBO_TAG_P: case GUMBO_TAG_DIV: case GUMBO_TAG_BR: case GUMBO_TAG_TR: case GUMBO_TAG_LI:
    case GUMBO_TAG_H1: case GUMBO_TAG_H2: case GUMBO_TAG_H3: case GUMBO_TAG_H4: case GUMBO_TAG_H5:
    case GUMBO_TAG_H6: case GUMBO_TAG_TABLE: case GUMBO_TAG_BLOCKQUOTE: case GUMBO_TAG_HR:
    case GUMBO_TAG_TD: case GUMBO_TAG_UL: case GUMBO_TAG_OL: case GUMBO_TAG_PRE: case GUMBO_TAG_TITLE:
      return true;
    default:
      return false;
  }
}

std::string lower_nospace(const char* s) {
  std::string out;
  for (; *s; ++s)
    if (!std::isspace(static_cast<unsigned char>(*s))) out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(*s))));
  return out;
}

bool hides(const GumboElement& el) {
  if (gumbo_get_attribute(&el.attributes, "hidden")) return true;
  if (const GumboAttribute* st = gumbo_get_attribute(&el.attributes, "style")) {
    std::string s = lower_nospace(st->value);
    if (s.find("display:none") != std::string::npos || s.find("visibility:hidden") != std::string::npos ||
        s.find("font-size:0") != std::string::npos || s.find("font-size:1px") != std::string::npos ||
        s.find("opacity:0;") != std::string::npos || s.ends_with("opacity:0"))
      return true;
  }
  if (el.tag == GUMBO_TAG_FONT) {
    if (const GumboAttribute* sz = gumbo_get_attribute(&el.attributes, "size")) {
      std::string s = lower_nospace(sz->value);
      if (s == "0" || s == "-10") return true;
    }
  }
  return false;
}

struct Frame {
  const GumboNode* node;
  bool hidden;
  int link;  // index into links whose anchor text we are inside, or -1
  bool closing;  // emit a block break after children
};

}  // namespace

HtmlInfo html_to_text(std::string_view html, std::size_t max_bytes, std::size_t max_links) {
  HtmlInfo info;
  if (html.size() > max_bytes) {
    html = html.substr(0, max_bytes);
    info.truncated = true;
  }
  std::size_t lt = 0;
  for (std::size_t i = 0; i < html.size(); ++i) {
    if (html[i] == '<' && ++lt > kMaxTags) {
      html = html.substr(0, i);
      info.truncated = true;
      break;
    }
  }
  GumboOptions opts = kGumboDefaultOptions;
  opts.max_errors = 100;
  GumboOutput* out = gumbo_parse_with_options(&opts, html.data(), html.size());
  if (!out) return info;
  std::vector<Frame> stack;
  stack.push_back({out->root, false, -1, false});
  auto append_text = [&](const char* t, bool hidden, int link) {
    std::size_t n = std::strlen(t);
    if (hidden) {
      info.hidden_chars += n;
      return;
    }
    if (!info.text.empty() && !std::isspace(static_cast<unsigned char>(info.text.back()))) info.text.push_back(' ');
    info.text.append(t, n);
    if (link >= 0 && info.links[static_cast<std::size_t>(link)].text.size() < 512) {
      auto& lt2 = info.links[static_cast<std::size_t>(link)].text;
      if (!lt2.empty()) lt2.push_back(' ');
      lt2.append(t, std::min<std::size_t>(n, 512));
    }
  };
  while (!stack.empty()) {
    Frame f = stack.back();
    stack.pop_back();
    if (f.closing) {
      if (!info.text.empty() && info.text.back() != '\n') info.text.push_back('\n');
      continue;
    }
    const GumboNode* n = f.node;
    switch (n->type) {
      case GUMBO_NODE_TEXT:
      case GUMBO_NODE_CDATA:
        append_text(n->v.text.text, f.hidden, f.link);
        break;
      case GUMBO_NODE_WHITESPACE:
        if (!f.hidden && !info.text.empty() && info.text.back() != ' ' && info.text.back() != '\n') info.text.push_back(' ');
        break;
      case GUMBO_NODE_COMMENT:
        ++info.comments;
        break;
      case GUMBO_NODE_DOCUMENT:
      case GUMBO_NODE_ELEMENT:
      case GUMBO_NODE_TEMPLATE: {
        const GumboVector* children;
        bool hidden = f.hidden;
        int link = f.link;
        bool block = false;
        if (n->type == GUMBO_NODE_DOCUMENT) {
          children = &n->v.document.children;
        } else {
          const GumboElement& el = n->v.element;
          ++info.tags;
          children = &el.children;
          switch (el.tag) {
            case GUMBO_TAG_SCRIPT: ++info.scripts; continue;
            case GUMBO_TAG_STYLE: case GUMBO_TAG_NOSCRIPT: continue;
            case GUMBO_TAG_FORM: ++info.forms; break;
            case GUMBO_TAG_IFRAME: ++info.iframes; break;
            case GUMBO_TAG_FONT: ++info.font_tags; break;
            case GUMBO_TAG_IMG:
              ++info.images;
              if (const GumboAttribute* src = gumbo_get_attribute(&el.attributes, "src"))
                if (info.image_srcs.size() < max_links) info.image_srcs.emplace_back(src->value);
              break;
            case GUMBO_TAG_A: case GUMBO_TAG_AREA:
              if (const GumboAttribute* href = gumbo_get_attribute(&el.attributes, "href")) {
                if (info.links.size() < max_links) {
                  info.links.push_back({href->value, ""});
                  link = static_cast<int>(info.links.size() - 1);
                } else {
                  info.truncated = true;
                }
              }
              break;
            default: break;
          }
          if (hides(el)) hidden = true;
          block = is_block(el.tag);
        }
        if (block) stack.push_back({nullptr, hidden, -1, true});
        for (unsigned i = children->length; i-- > 0;)
          stack.push_back({static_cast<const GumboNode*>(children->data[i]), hidden, link, false});
        break;
      }
    }
  }
  gumbo_destroy_output(&kGumboDefaultOptions, out);
  return info;
}

}  // namespace tamis::features
