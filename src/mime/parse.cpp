// The bounded MIME walker.
//
// mimetic's own MimeEntity parser recurses once per nesting level with no
// limit and allocates heavily per part (see LIBRARY-FACTS.md), so the tree is
// walked here, level by level, with the depth and part caps applied before
// any bytes of a child are looked at. mimetic parses the structured fields
// (Content-Type, Content-Disposition and their parameters) and decodes
// base64 and quoted-printable bodies.
#include <mimetic/codec/base64.h>
#include <mimetic/codec/qp.h>
#include <mimetic/codec/code.h>
#include <mimetic/contentdisposition.h>
#include <mimetic/contenttype.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstring>
#include <iterator>

#include "mime/message.hpp"
#include "core/strings.hpp"

namespace tamis::mime {

using core::lower;
using core::trim;

const char* anomaly_name(Anomaly a) {
  switch (a) {
    case Anomaly::Truncated: return "truncated";
    case Anomaly::HeaderFlood: return "header_flood";
    case Anomaly::HeaderLineTooLong: return "header_line_too_long";
    case Anomaly::BadHeaderSyntax: return "bad_header_syntax";
    case Anomaly::NoHeaderSeparator: return "no_header_separator";
    case Anomaly::InvalidUtf8Header: return "invalid_utf8_header";
    case Anomaly::NulBytes: return "nul_bytes";
    case Anomaly::MissingBoundary: return "missing_boundary";
    case Anomaly::UnterminatedMultipart: return "unterminated_multipart";
    case Anomaly::DepthLimit: return "depth_limit";
    case Anomaly::PartLimit: return "part_limit";
    case Anomaly::BadBase64: return "bad_base64";
    case Anomaly::BadQuotedPrintable: return "bad_quoted_printable";
    case Anomaly::Undeclared8bit: return "undeclared_8bit";
    case Anomaly::UnknownCharset: return "unknown_charset";
    case Anomaly::BadCharsetData: return "bad_charset_data";
    case Anomaly::BadEncodedWord: return "bad_encoded_word";
    case Anomaly::TextTruncated: return "text_truncated";
    case Anomaly::UnknownTransferEncoding: return "unknown_transfer_encoding";
    case Anomaly::DuplicateHeader: return "duplicate_header";
    case Anomaly::ScanTimeout: return "scan_timeout";
    case Anomaly::UrlLimit: return "url_limit";
    case Anomaly::RegexBudget: return "regex_budget";
    case Anomaly::kCount: break;
  }
  return "unknown";
}

const HeaderField* ParsedMessage::header(std::string_view lname) const {
  for (const auto& h : headers)
    if (h.lname == lname) return &h;
  return nullptr;
}

std::size_t ParsedMessage::header_count(std::string_view lname) const {
  return static_cast<std::size_t>(
      std::count_if(headers.begin(), headers.end(), [&](const HeaderField& h) { return h.lname == lname; }));
}

namespace {



// One line of `s` starting at `pos`: [line without CR/LF, position after EOL].
struct Line {
  std::string_view text;
  std::size_t next;
};
Line next_line(std::string_view s, std::size_t pos) {
  std::size_t nl = s.find('\n', pos);
  std::size_t end = nl == std::string_view::npos ? s.size() : nl;
  std::size_t next = nl == std::string_view::npos ? s.size() : nl + 1;
  std::string_view line = s.substr(pos, end - pos);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return {line, next};
}

struct RawField {
  std::string name;
  std::string value;
  std::size_t bytes = 0;  // HeaderField::bytes
};

// Bytes of a line through its end, a CRLF counted as one.
std::size_t line_bytes(const Line& ln, std::size_t pos, std::string_view s) {
  std::size_t n = ln.next - pos;
  return n >= 2 && s[ln.next - 1] == '\n' && s[ln.next - 2] == '\r' ? n - 1 : n;
}

// "\r\n" -> "\n", in place.
void crlf_to_lf(std::string& s) {
  std::size_t w = 0;
  for (std::size_t r = 0; r < s.size(); ++r)
    if (!(s[r] == '\r' && r + 1 < s.size() && s[r + 1] == '\n')) s[w++] = s[r];
  s.resize(w);
}

std::size_t count_crlf(std::string_view s) {
  std::size_t n = 0;
  for (std::size_t i = s.find("\r\n"); i != std::string_view::npos; i = s.find("\r\n", i + 2)) ++n;
  return n;
}

struct Header {
  std::vector<RawField> fields;
  std::string_view body;
};

struct Walker {
  const core::Limits& lim;
  const core::Deadline& dl;
  ParsedMessage& out;
  std::size_t text_bytes = 0;
  std::vector<std::size_t> raw_8bit_headers;  // into out.headers: 8-bit, not UTF-8, decoded at the end

  // Splits the header block from the body, unfolding and bounding fields.
  Header split_header(std::string_view ent) {
    Header h;
    std::size_t pos = 0;
    bool found_blank = false;
    std::size_t count = 0;
    while (pos < ent.size()) {
      Line ln = next_line(ent, pos);
      if (ln.text.empty()) {
        pos = ln.next;
        found_blank = true;
        break;
      }
      if (ln.text.front() == ' ' || ln.text.front() == '\t') {  // continuation
        if (!h.fields.empty() && count <= lim.max_headers) {
          h.fields.back().bytes += line_bytes(ln, pos, ent);
          auto& v = h.fields.back().value;
          if (v.size() + ln.text.size() + 1 > lim.max_header_line) {
            out.flag(Anomaly::HeaderLineTooLong);
          } else {
            v.push_back(' ');
            v.append(trim(ln.text));
          }
        }
        pos = ln.next;
        continue;
      }
      std::size_t colon = ln.text.find(':');
      bool bad_name = colon == std::string_view::npos || colon == 0 ||
                      std::any_of(ln.text.begin(), ln.text.begin() + static_cast<long>(colon),
                                  [](char c) { return c == ' ' || c == '\t' || static_cast<unsigned char>(c) < 33 || static_cast<unsigned char>(c) > 126; });
      if (bad_name) {
        // Not a header line: the header ended without a blank line.
        out.flag(Anomaly::BadHeaderSyntax);
        break;
      }
      ++count;
      if (count > lim.max_headers) {
        out.flag(Anomaly::HeaderFlood);  // keep scanning for the body, drop the field
      } else {
        std::string_view value = trim(ln.text.substr(colon + 1));
        if (value.size() > lim.max_header_line) {
          out.flag(Anomaly::HeaderLineTooLong);
          value = value.substr(0, lim.max_header_line);
        }
        h.fields.push_back({std::string(ln.text.substr(0, colon)), std::string(value), line_bytes(ln, pos, ent)});
      }
      pos = ln.next;
    }
    if (!found_blank && pos >= ent.size() && !h.fields.empty() && out.parts == 1)
      out.flag(Anomaly::NoHeaderSeparator);
    h.body = ent.substr(std::min(pos, ent.size()));
    return h;
  }

  static const std::string* find_field(const Header& h, std::string_view lname) {
    for (const auto& f : h.fields)
      if (f.name.size() == lname.size() &&
          std::equal(f.name.begin(), f.name.end(), lname.begin(),
                     [](char a, char b) { return core::to_lower(a) == b; }))
        return &f.value;
    return nullptr;
  }

  void record_top_header(const Header& h) {
    static constexpr std::array<std::string_view, 6> kOnce = {"from", "subject", "date", "to", "message-id", "sender"};
    out.headers.reserve(h.fields.size());
    for (const auto& f : h.fields) {
      HeaderField hf;
      hf.name = f.name;
      hf.lname = lower(f.name);
      hf.raw = f.value;
      hf.bytes = f.bytes;
      bool has8 = std::any_of(f.value.begin(), f.value.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x80; });
      if (f.value.find('\0') != std::string::npos) out.flag(Anomaly::NulBytes);
      if (has8) {
        out.header_8bit = true;
        if (!valid_utf8(f.value)) {
          out.flag(Anomaly::InvalidUtf8Header);
          raw_8bit_headers.push_back(out.headers.size());  // its charset is known once the body is
          out.headers.push_back(std::move(hf));
          continue;
        }
      }
      hf.value = decode_header_value(f.value);
      out.headers.push_back(std::move(hf));
    }
    for (auto name : kOnce)
      if (out.header_count(name) > 1) out.flag(Anomaly::DuplicateHeader);
  }

  std::string decode_header_value(std::string_view utf8) {
    if (utf8.find("=?") == std::string_view::npos) return std::string(utf8);
    bool malformed = false;
    std::string v = decode_rfc2047(utf8, &out.encoded_words, &malformed);
    if (malformed) out.flag(Anomaly::BadEncodedWord);
    return v;
  }

  // Raw 8-bit header text that is not UTF-8 (RFC 6532 allows only UTF-8
  // there) is in the legacy charset of the sender's mailer, which is the one
  // it declares for the body: Big5, GB2312, KOI8-R, Latin-1. Reading the
  // bytes as UTF-8 instead keeps the pairs that happen to be valid, and
  // Chinese turns into scattered Cyrillic letters. Without a declared
  // legacy charset, to_utf8's rule for mislabelled text applies (mostly
  // UTF-8: strays replaced; else windows-1252).
  void decode_raw_8bit_headers() {
    if (raw_8bit_headers.empty()) return;
    std::string charset = "us-ascii";
    for (const auto& t : out.texts) {
      std::string c = canonical_charset(t.charset);
      if (c == "us-ascii" || c.starts_with("utf") || c.starts_with("ucs")) continue;  // not a header's bytes
      charset = t.charset;
      break;
    }
    for (std::size_t i : raw_8bit_headers) {
      HeaderField& hf = out.headers[i];
      hf.value = decode_header_value(to_utf8(hf.raw, charset, nullptr, nullptr));
    }
  }

  // RFC 2231 (filename*=utf-8''%E2...) or plain / RFC 2047 parameter value.
  static std::string param_value(const mimetic::FieldParamList& params, std::string_view name, bool* malformed) {
    std::string plain, extended;
    for (const auto& p : params) {
      std::string pn = lower(p.name());
      if (pn == name) plain = p.value();
      else if (pn == std::string(name) + "*" || pn == std::string(name) + "*0*" || pn == std::string(name) + "*0")
        extended = p.value();
    }
    if (!extended.empty()) {
      std::size_t q1 = extended.find('\'');
      std::size_t q2 = q1 == std::string::npos ? q1 : extended.find('\'', q1 + 1);
      if (q2 != std::string::npos) {
        std::string cs = extended.substr(0, q1), bytes;
        for (std::size_t i = q2 + 1; i < extended.size(); ++i) {
          if (extended[i] == '%' && i + 2 < extended.size() && core::is_xdigit(extended[i + 1]) &&
              core::is_xdigit(extended[i + 2])) {
            bytes.push_back(static_cast<char>(std::stoi(extended.substr(i + 1, 2), nullptr, 16)));
            i += 2;
          } else {
            bytes.push_back(extended[i]);
          }
        }
        return to_utf8(bytes, cs.empty() ? "us-ascii" : cs, nullptr, nullptr);
      }
      plain = extended;
    }
    if (plain.find("=?") != std::string::npos) return decode_rfc2047(plain, nullptr, malformed);
    return sanitize_utf8(plain);
  }

  std::string decode_body(std::string_view body, const std::string& cte) {
    std::string decoded;
    if (cte == "base64") {
      std::size_t sig = 0;
      bool bad = false, after_pad = false;
      for (char c : body) {
        unsigned char u = static_cast<unsigned char>(c);
        if (core::is_alnum(static_cast<char>(u)) || c == '+' || c == '/') { ++sig; if (after_pad) bad = true; }
        else if (c == '=') after_pad = true;
        else if (c != '\r' && c != '\n' && c != ' ' && c != '\t') bad = true;
      }
      if (bad || (sig % 4) == 1) out.flag(Anomaly::BadBase64);
      decoded.reserve(body.size() * 3 / 4);
      mimetic::Base64::Decoder dec;
      mimetic::decode(body.begin(), body.end(), dec, std::back_inserter(decoded));
    } else if (cte == "quoted-printable") {
      for (std::size_t i = 0; i < body.size(); ++i) {
        if (body[i] != '=') continue;
        char a = i + 1 < body.size() ? body[i + 1] : '\n';
        char b = i + 2 < body.size() ? body[i + 2] : '\n';
        bool ok = (core::is_xdigit(a) && core::is_xdigit(b)) ||
                  a == '\r' || a == '\n' || a == ' ' || a == '\t';
        if (!ok) { out.flag(Anomaly::BadQuotedPrintable); break; }
      }
      decoded.reserve(body.size());
      mimetic::QP::Decoder dec;
      mimetic::decode(body.begin(), body.end(), dec, std::back_inserter(decoded));
    } else {
      if (!cte.empty() && cte != "7bit" && cte != "8bit" && cte != "binary")
        out.flag(Anomaly::UnknownTransferEncoding);
      if ((cte.empty() || cte == "7bit") &&
          std::any_of(body.begin(), body.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x80; }))
        out.flag(Anomaly::Undeclared8bit);
      decoded.assign(body);
    }
    return decoded;
  }

  // An attached web page or SVG image (a page a browser opens and runs).
  static bool is_markup(const std::string& declared_type, const std::string& filename) {
    if (declared_type == "text/html" || declared_type == "image/svg+xml" || declared_type == "application/xhtml+xml")
      return true;
    std::string f = lower(filename);
    while (!f.empty() && core::is_space(f.back())) f.pop_back();
    for (const char* ext : {".htm", ".html", ".shtml", ".xhtml", ".svg"})
      if (f.ends_with(ext)) return true;
    return false;
  }

  static std::string sniff(std::string_view d) {
    auto starts = [&](std::string_view m) { return d.substr(0, m.size()) == m; };
    if (starts("MZ")) return "exe";
    if (starts("\x7f" "ELF")) return "elf";
    if (starts("PK\x03\x04") || starts("PK\x05\x06")) return "zip";
    if (starts("%PDF")) return "pdf";
    if (starts("Rar!")) return "rar";
    if (starts("7z\xBC\xAF")) return "7z";
    if (starts("\x1f\x8b")) return "gzip";
    if (starts("\xD0\xCF\x11\xE0")) return "ole";
    if (starts("\x89PNG")) return "png";
    if (starts("\xFF\xD8\xFF")) return "jpeg";
    if (starts("GIF8")) return "gif";
    if (starts("{\\rtf")) return "rtf";
    if (starts("#!")) return "script";
    std::string head = lower(d.substr(0, 64));
    if (head.find("<html") != std::string::npos || head.find("<!doctype html") != std::string::npos) return "html";
    return "";
  }

  // Names in a zip's central directory, without inflating anything.
  static std::vector<std::string> zip_members(std::string_view d) {
    std::vector<std::string> names;
    auto u16 = [&](std::size_t o) { return static_cast<std::size_t>(static_cast<unsigned char>(d[o]) | (static_cast<unsigned char>(d[o + 1]) << 8)); };
    auto u32 = [&](std::size_t o) { return u16(o) | (u16(o + 2) << 16); };
    if (d.size() < 22) return names;
    std::size_t lo = d.size() > 65557 ? d.size() - 65557 : 0;
    std::size_t eocd = std::string_view::npos;
    for (std::size_t i = d.size() - 22 + 1; i-- > lo;)
      if (d.compare(i, 4, "PK\x05\x06") == 0) { eocd = i; break; }
    if (eocd == std::string_view::npos) return names;
    std::size_t count = u16(eocd + 10), off = u32(eocd + 16);
    for (std::size_t k = 0; k < count && k < 100; ++k) {
      if (off + 46 > d.size() || d.compare(off, 4, "PK\x01\x02") != 0) break;
      std::size_t nlen = u16(off + 28), xlen = u16(off + 30), clen = u16(off + 32);
      if (off + 46 + nlen > d.size()) break;
      names.push_back(sanitize_utf8(d.substr(off + 46, nlen)));
      off += 46 + nlen + xlen + clen;
    }
    return names;
  }

  // Splits a multipart body on its boundary. Returns false if the boundary
  // never appears.
  bool split_multipart(std::string_view body, std::string_view boundary, std::vector<std::string_view>& parts,
                       bool& closed) {
    std::string delim = "--";
    delim.append(boundary);
    closed = false;
    std::size_t pos = 0;
    std::size_t part_start = std::string_view::npos;
    bool seen = false;
    while (pos <= body.size()) {
      std::size_t hit = body.find(delim, pos);
      if (hit == std::string_view::npos) break;
      if (hit != 0 && body[hit - 1] != '\n') { pos = hit + 1; continue; }
      Line ln = next_line(body, hit);
      std::string_view rest = trim(ln.text.substr(delim.size()));
      bool close = rest == "--" || (rest.size() > 2 && rest.substr(0, 2) == "--" && trim(rest.substr(2)).empty());
      if (!rest.empty() && !close) { pos = hit + 1; continue; }  // "--boundaryX" is another boundary
      if (part_start != std::string_view::npos) {
        std::size_t end = hit;
        if (end > part_start && body[end - 1] == '\n') --end;  // the CRLF before the delimiter belongs to it
        if (end > part_start && body[end - 1] == '\r') --end;
        parts.push_back(body.substr(part_start, end - part_start));
      }
      seen = true;
      if (close) { closed = true; break; }
      part_start = ln.next;
      pos = ln.next;
      if (parts.size() > lim.max_mime_parts) {
        closed = true;  // not looked at past the part cap: PartLimit says so, not "unterminated"
        return true;
      }
    }
    if (!closed && part_start != std::string_view::npos && part_start <= body.size())
      parts.push_back(body.substr(part_start));
    return seen;
  }

  void add_text(std::string_view decoded, const std::string& charset, bool html, std::size_t depth, bool in_alt) {
    if (text_bytes >= lim.max_text_bytes) { out.flag(Anomaly::TextTruncated); return; }
    std::size_t room = lim.max_text_bytes - text_bytes;
    if (decoded.size() > room) { out.flag(Anomaly::TextTruncated); decoded = decoded.substr(0, room); }
    bool unknown = false, bad = false;
    TextPart tp;
    tp.html = html;
    tp.charset = charset;
    tp.text = to_utf8(decoded, charset, &unknown, &bad);
    // Line ends as LF: a milter is passed CRLF, a mailbox stores LF, and
    // the text (its length, its share of the HTML) is the same in both.
    crlf_to_lf(tp.text);
    tp.depth = depth;
    tp.in_alternative = in_alt;
    if (unknown) out.flag(Anomaly::UnknownCharset);
    if (bad) out.flag(Anomaly::BadCharsetData);
    text_bytes += tp.text.size();
    out.texts.push_back(std::move(tp));
  }

  void entity(std::string_view ent, std::size_t depth, bool in_alt) {
    if (dl.expired()) { out.flag(Anomaly::ScanTimeout); return; }
    if (out.parts >= lim.max_mime_parts) { out.flag(Anomaly::PartLimit); return; }
    ++out.parts;
    out.max_depth = std::max(out.max_depth, depth);
    Header h = split_header(ent);
    if (depth == 0) record_top_header(h);

    std::string type = "text", subtype = "plain", boundary, charset = "us-ascii", name_param;
    mimetic::FieldParamList ct_params;
    if (const std::string* ctv = find_field(h, "content-type")) {
      mimetic::ContentType ct(*ctv);
      if (!ct.type().empty()) type = lower(ct.type());
      if (!ct.subtype().empty()) subtype = lower(ct.subtype());
      ct_params = ct.paramList();
      boundary = std::string(trim(ct.param("boundary")));
      if (!ct.param("charset").empty()) charset = lower(trim(ct.param("charset")));
    }
    if (depth == 0) out.top_content_type = type + "/" + subtype;
    std::string cte;
    if (const std::string* v = find_field(h, "content-transfer-encoding")) cte = lower(trim(*v));
    std::string disposition;
    mimetic::FieldParamList cd_params;
    if (const std::string* v = find_field(h, "content-disposition")) {
      mimetic::ContentDisposition cd(*v);
      disposition = lower(cd.type());
      cd_params = cd.paramList();
    }

    if (type == "multipart") {
      std::vector<std::string_view> parts;
      bool closed = false;
      if (boundary.empty() || !split_multipart(h.body, boundary, parts, closed)) {
        out.flag(Anomaly::MissingBoundary);
        add_text(decode_body(h.body, cte), charset, false, depth, in_alt);  // keep the content visible
        return;
      }
      if (!closed) out.flag(Anomaly::UnterminatedMultipart);
      if (depth + 1 > lim.max_mime_depth) { out.flag(Anomaly::DepthLimit); return; }
      bool alt = subtype == "alternative";
      for (auto p : parts) {
        if (out.parts >= lim.max_mime_parts) { out.flag(Anomaly::PartLimit); break; }
        entity(p, depth + 1, alt);
        if (out.has(Anomaly::ScanTimeout)) break;
      }
      return;
    }
    if (type == "message" && (subtype == "rfc822" || subtype == "global")) {
      if (depth + 1 > lim.max_mime_depth) { out.flag(Anomaly::DepthLimit); return; }
      entity(h.body, depth + 1, false);
      return;
    }

    bool malformed = false;
    std::string filename = param_value(cd_params, "filename", &malformed);
    if (filename.empty()) filename = param_value(ct_params, "name", &malformed);
    if (malformed) out.flag(Anomaly::BadEncodedWord);
    std::string decoded = decode_body(h.body, cte);
    if (decoded.find('\0') != std::string::npos && type == "text") out.flag(Anomaly::NulBytes);
    bool is_text = type == "text" && (subtype == "plain" || subtype == "html") && disposition != "attachment";
    if (is_text) {
      add_text(decoded, charset, subtype == "html", depth, in_alt);
      return;
    }
    Attachment a;
    a.filename = std::move(filename);
    a.declared_type = type + "/" + subtype;
    a.sniffed_type = sniff(decoded);
    // Outside base64 the line ends are the transport's (CRLF to a milter, LF
    // in a mailbox): each counts as one byte, as in size_lf.
    a.size = decoded.size() - (cte == "base64" ? 0 : count_crlf(decoded));
    if (a.sniffed_type == "zip") a.archive_members = zip_members(decoded);
    if (is_markup(a.declared_type, a.filename)) a.markup = decoded.substr(0, kMaxAttachmentMarkup);
    out.attachments.push_back(std::move(a));
  }
};

}  // namespace

ParsedMessage parse(std::string_view raw, const core::Limits& limits, const core::Deadline& deadline) {
  ParsedMessage out;
  out.raw_size = raw.size();
  // A file or mbox may start with an envelope line; a milter never sends one.
  const std::size_t from_line = raw.substr(0, 5) == "From " ? next_line(raw, 0).next : 0;
  out.size_lf = raw.size() - from_line - count_crlf(raw.substr(from_line));
  Walker w{limits, deadline, out, 0, {}};
  try {
    if (raw.size() > limits.max_scan_bytes) {
      out.flag(Anomaly::Truncated);
      raw = raw.substr(0, limits.max_scan_bytes);
    }
    raw.remove_prefix(std::min(from_line, raw.size()));
    if (std::memchr(raw.data(), '\0', raw.size()) != nullptr) out.flag(Anomaly::NulBytes);
    w.entity(raw, 0, false);
    w.decode_raw_8bit_headers();
  } catch (...) {
    // mimetic or the allocator threw: keep what was parsed, say so.
    out.flag(Anomaly::Truncated);
    try {
      for (std::size_t i : w.raw_8bit_headers)
        if (i < out.headers.size() && out.headers[i].value.empty()) out.headers[i].value = sanitize_utf8(out.headers[i].raw);
    } catch (...) {  // left empty, which is valid UTF-8
    }
  }
  if (out.top_content_type.empty()) out.top_content_type = "text/plain";
  return out;
}

}  // namespace tamis::mime
