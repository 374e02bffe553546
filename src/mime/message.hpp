// mime: raw message bytes -> ParsedMessage. Headers decoded to UTF-8
// (RFC 2047), the part tree walked within Limits, text/plain and text/html
// bodies decoded and converted to UTF-8, attachments described, and every
// oddity recorded as an anomaly flag instead of an error.
//
//   auto msg = tamis::mime::parse(raw_bytes, limits, deadline);
//   if (msg.has(Anomaly::MissingBoundary)) ...
//
// parse() never throws and never crashes on any input; malformed mail is data.
// mimetic is used only inside src/mime; no mimetic type appears here.
#pragma once

#include <bitset>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/types.hpp"

namespace tamis::mime {

enum class Anomaly : std::uint8_t {
  Truncated,              // message larger than max_scan_bytes; the rest was not parsed
  HeaderFlood,            // more header fields than max_headers
  HeaderLineTooLong,      // one header field longer than max_header_line
  BadHeaderSyntax,        // a header line without a colon, or an empty name
  NoHeaderSeparator,      // no blank line between header and body
  InvalidUtf8Header,      // raw header bytes that are neither ASCII nor valid UTF-8
  NulBytes,               // NUL bytes anywhere in the message
  MissingBoundary,        // multipart without a boundary, or whose boundary never appears
  UnterminatedMultipart,  // multipart without its closing --boundary--
  DepthLimit,             // nesting deeper than max_mime_depth
  PartLimit,              // more entities than max_mime_parts
  BadBase64,              // characters outside the base64 alphabet, or bad length
  BadQuotedPrintable,     // '=' not followed by two hex digits or a line break
  Undeclared8bit,         // 8-bit bytes in a 7bit / unlabelled part
  UnknownCharset,         // a charset iconv does not know
  BadCharsetData,         // bytes invalid in the declared charset
  BadEncodedWord,         // malformed RFC 2047 encoded-word in a header
  TextTruncated,          // decoded text above max_text_bytes was dropped
  UnknownTransferEncoding,
  DuplicateHeader,        // a header that must appear once appears twice (From, Subject, Date...)
  ScanTimeout,            // the scan deadline passed; later stages were skipped
  UrlLimit,               // more URLs than max_urls
  RegexBudget,            // an RE2 set ran out of memory and fell back to single patterns
  kCount
};

const char* anomaly_name(Anomaly a);
constexpr std::size_t kAnomalyCount = static_cast<std::size_t>(Anomaly::kCount);

struct HeaderField {
  std::string name;      // as written
  std::string lname;     // lower-case name, for lookups
  std::string value;     // unfolded, RFC 2047 decoded, valid UTF-8 (raw 8-bit text
                         // that is not UTF-8 is read in the body's charset)
  std::string raw;       // unfolded raw value (bytes as received)
  std::size_t bytes = 0; // the whole field as received, folded lines and line ends included
                         // (a CRLF counts as one byte, as in size_lf)
};

struct Attachment {
  std::string filename;       // decoded; "" if none
  std::string declared_type;  // "application/pdf"
  std::string sniffed_type;   // from magic bytes: "exe", "zip", "pdf", ... or ""
  std::size_t size = 0;       // decoded bytes
  std::vector<std::string> archive_members;  // names listed in a zip's directory (bounded)
  std::string markup;  // an HTML or SVG attachment's source, its first kMaxAttachmentMarkup bytes; else ""
};

// How much of an HTML or SVG attachment the rules see (`attachment_markup`):
// phishing pages put their redirect, script or password form at the top.
constexpr std::size_t kMaxAttachmentMarkup = 64 * 1024;

struct TextPart {
  bool html = false;
  std::string charset;  // declared, lower-case
  std::string text;     // UTF-8; html source for html parts
  std::size_t depth = 0;
  bool in_alternative = false;
};

struct ParsedMessage {
  std::vector<HeaderField> headers;  // top-level header, in order
  std::vector<TextPart> texts;       // text/plain and text/html leaves, in order
  std::vector<Attachment> attachments;
  std::string top_content_type;      // "multipart/alternative"; "text/plain" if absent
  std::size_t parts = 0;             // entities seen (the top one counts)
  std::size_t max_depth = 0;
  std::size_t raw_size = 0;          // bytes given to parse()
  // The same without an mbox "From " line, each CRLF counted as one byte:
  // a message has this size whether a milter passed it (CRLF) or a mailbox
  // stored it (LF).
  std::size_t size_lf = 0;
  std::size_t encoded_words = 0;     // RFC 2047 words decoded in the top header
  bool header_8bit = false;          // raw 8-bit bytes in the top header
  std::bitset<kAnomalyCount> anomalies;

  bool has(Anomaly a) const { return anomalies.test(static_cast<std::size_t>(a)); }
  void flag(Anomaly a) { anomalies.set(static_cast<std::size_t>(a)); }
  // First top-level header with this lower-case name, or nullptr.
  const HeaderField* header(std::string_view lname) const;
  std::size_t header_count(std::string_view lname) const;
};

// Parses a message (CRLF or LF line ends; a leading mbox "From " line is
// skipped). Never throws. Stops early, flagging ScanTimeout, if `deadline`
// expires.
ParsedMessage parse(std::string_view raw, const core::Limits& limits,
                    const core::Deadline& deadline);

// --- text helpers shared with features (implemented in text.cpp) ---

// Converts `in` from `charset` to UTF-8. Unknown charsets and invalid bytes are
// replaced (U+FFFD) and reported through the two flags.
std::string to_utf8(std::string_view in, std::string_view charset, bool* unknown_charset,
                    bool* bad_data);
// The iconv name of a charset as mail writes it ("us-ascii", "utf-8", "gbk"
// for gb2312, ...).
std::string canonical_charset(std::string_view cs);
// Decodes RFC 2047 encoded-words in a header value; counts decoded words.
std::string decode_rfc2047(std::string_view in, std::size_t* words, bool* malformed);
// True if `s` is valid UTF-8.
bool valid_utf8(std::string_view s);
// Replaces invalid UTF-8 sequences with U+FFFD.
std::string sanitize_utf8(std::string_view s);

}  // namespace tamis::mime
