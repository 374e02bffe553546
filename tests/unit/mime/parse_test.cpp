#include <catch2/catch.hpp>

#include <filesystem>
#include <random>
#include <set>
#include <sstream>

#include "mime/message.hpp"
#include "support.hpp"

using namespace tamis;
using mime::Anomaly;

namespace {
mime::ParsedMessage P(const std::string& raw, core::Limits lim = {}) { return mime::parse(raw, lim, core::Deadline::never()); }
std::string all_text(const mime::ParsedMessage& m) {
  std::string s;
  for (const auto& t : m.texts) s += t.text;
  return s;
}
}  // namespace

TEST_CASE("mime: a plain message gives headers and text, CRLF or LF", "[mime]") {
  for (std::string eol : {"\r\n", "\n"}) {
    std::string raw = "From: Alice <a@example.com>" + eol + "Subject: hello" + eol + " world" + eol + eol + "Body line" + eol;
    auto m = P(raw);
    REQUIRE(m.header("subject"));
    CHECK(m.header("subject")->value == "hello world");
    CHECK(all_text(m).find("Body line") != std::string::npos);
    CHECK(m.anomalies.none());
  }
}

TEST_CASE("mime: a leading mbox From line is skipped", "[mime]") {
  auto m = P("From alice@example.com Thu Nov 26 10:00:00 2026\nSubject: hi\n\nbody\n");
  REQUIRE(m.header("subject"));
  CHECK(m.header("subject")->value == "hi");
}

TEST_CASE("mime: RFC 2047 words are decoded to UTF-8", "[mime]") {
  auto m = P("Subject: =?iso-8859-1?q?caf=E9?= =?utf-8?B?w6l0w6k=?=\nFrom: =?UTF-8?Q?J=C3=BCrgen?= <j@example.de>\n\nx\n");
  CHECK(m.header("subject")->value == "caf\xC3\xA9\xC3\xA9t\xC3\xA9");
  CHECK(m.header("from")->value == "J\xC3\xBCrgen <j@example.de>");
  CHECK(m.encoded_words == 3);
}

TEST_CASE("mime: quoted-printable and base64 bodies are decoded and converted from their charset", "[mime]") {
  auto m = P(test::message("x", "caf=E9 au lait=\r\n continues", {"Content-Transfer-Encoding: quoted-printable"},
                           "text/plain; charset=iso-8859-1"));
  CHECK(all_text(m).find("caf\xC3\xA9 au lait continues") != std::string::npos);
  auto b = P(test::message("x", test::base64("hello base64 world"), {"Content-Transfer-Encoding: base64"}));
  CHECK(all_text(b).find("hello base64 world") != std::string::npos);
  CHECK_FALSE(b.has(Anomaly::BadBase64));
}

TEST_CASE("mime: multipart/alternative gives both parts and marks them", "[mime]") {
  std::string body = "--b1\r\nContent-Type: text/plain\r\n\r\nplain text\r\n--b1\r\nContent-Type: text/html\r\n\r\n<p>html text</p>\r\n--b1--\r\n";
  auto m = P(test::message("x", body, {}, "multipart/alternative; boundary=b1"));
  REQUIRE(m.texts.size() == 2);
  CHECK_FALSE(m.texts[0].html);
  CHECK(m.texts[1].html);
  CHECK(m.texts[1].in_alternative);
  CHECK(m.parts == 3);
  CHECK(m.anomalies.none());
}

TEST_CASE("mime: an unterminated multipart is flagged and its parts still read", "[mime][malformed]") {
  std::string body = "--b1\r\nContent-Type: text/plain\r\n\r\nfirst part\r\n--b1\r\nContent-Type: text/plain\r\n\r\nsecond part never closed\r\n";
  auto m = P(test::message("x", body, {}, "multipart/mixed; boundary=b1"));
  CHECK(m.has(Anomaly::UnterminatedMultipart));
  CHECK(all_text(m).find("second part never closed") != std::string::npos);
}

TEST_CASE("mime: a multipart whose boundary is missing is flagged and its body kept as text", "[mime][malformed]") {
  auto none = P(test::message("x", "just text, no parts", {}, "multipart/mixed"));
  CHECK(none.has(Anomaly::MissingBoundary));
  CHECK(all_text(none).find("just text") != std::string::npos);
  auto never = P(test::message("x", "--other\r\n\r\nx\r\n", {}, "multipart/mixed; boundary=abc"));
  CHECK(never.has(Anomaly::MissingBoundary));
}

TEST_CASE("mime: a boundary that is a prefix of another line is not a delimiter", "[mime]") {
  std::string body = "--b\r\nContent-Type: text/plain\r\n\r\n--bx is not a boundary\r\n--b--\r\n";
  auto m = P(test::message("x", body, {}, "multipart/mixed; boundary=b"));
  CHECK(all_text(m).find("--bx is not a boundary") != std::string::npos);
  CHECK(m.anomalies.none());
}

TEST_CASE("mime: bad base64 is flagged and decoding goes on", "[mime][malformed]") {
  auto m = P(test::message("x", "aGVsbG8*!gd29ybGQ=", {"Content-Transfer-Encoding: base64"}));
  CHECK(m.has(Anomaly::BadBase64));
}

TEST_CASE("mime: bad quoted-printable is flagged", "[mime][malformed]") {
  auto m = P(test::message("x", "a =ZZ b", {"Content-Transfer-Encoding: quoted-printable"}));
  CHECK(m.has(Anomaly::BadQuotedPrintable));
}

TEST_CASE("mime: an unknown charset is flagged and the text kept as valid UTF-8", "[mime][malformed]") {
  auto m = P(test::message("x", "hello \xFF\xFE world", {"Content-Transfer-Encoding: 8bit"}, "text/plain; charset=x-nonexistent-42"));
  CHECK(m.has(Anomaly::UnknownCharset));
  CHECK(mime::valid_utf8(all_text(m)));
  CHECK(all_text(m).find("world") != std::string::npos);
}

TEST_CASE("mime: Outlook Express's charset names for Big5 are known", "[mime]") {
  for (std::string cs : {"chinesebig5", "x-x-big5"}) {
    auto m = P(test::message("x", "\xA4\xA4\xA4\xE5", {"Content-Transfer-Encoding: 8bit"}, "text/plain; charset=" + cs));
    CHECK_FALSE(m.has(Anomaly::UnknownCharset));
    CHECK(all_text(m).find("\xE4\xB8\xAD\xE6\x96\x87") != std::string::npos);  // 中文
  }
}

TEST_CASE("mime: bytes invalid in the declared charset are replaced and flagged", "[mime][malformed]") {
  auto m = P(test::message("x", "ok \xC3( bad", {"Content-Transfer-Encoding: 8bit"}, "text/plain; charset=utf-8"));
  CHECK(m.has(Anomaly::BadCharsetData));
  CHECK(mime::valid_utf8(all_text(m)));
}

TEST_CASE("mime: 8-bit bytes in a 7bit part are flagged", "[mime][malformed]") {
  auto m = P("Subject: x\n\ncaf\xC3\xA9\n");
  CHECK(m.has(Anomaly::Undeclared8bit));
}

TEST_CASE("mime: invalid UTF-8 in headers is flagged and sanitised", "[mime][malformed]") {
  auto m = P("Subject: caf\xE9 \xFF\xFE\nFrom: a@example.com\n\nx\n");
  CHECK(m.has(Anomaly::InvalidUtf8Header));
  REQUIRE(m.header("subject"));
  CHECK(mime::valid_utf8(m.header("subject")->value));
  CHECK(m.header_8bit);
}

TEST_CASE("mime: 8-bit text labelled ASCII that is not UTF-8 is read as windows-1252, not as coincidental UTF-8", "[mime][malformed]") {
  // Latin-1 sent without a charset
  auto latin = P("Subject: x\n\nCaf\xE9 cr\xE8me br\xFBl\xE9" "e\n");
  CHECK(all_text(latin).find("Caf\xC3\xA9 cr\xC3\xA8me br\xC3\xBBl\xC3\xA9" "e") != std::string::npos);
  CHECK(latin.has(Anomaly::BadCharsetData));
  // Big5 sent without a charset: "\xB6" "l" and "\xD0\x9F"-like pairs must not
  // survive as Cyrillic; every byte becomes a Latin-1 range character
  auto big5 = P("Subject: x\n\n\xA4\xA4\xA4\xE5\xD0\x9F\xB6" "l\xA5\xF3\n");
  std::string t = all_text(big5);
  CHECK(t.find("\xD0\x9F") == std::string::npos);  // П, from the pair D0 9F
  CHECK(t.find("\xC3\x90") != std::string::npos);  // Ð, from the byte D0
  // UTF-8 with one stray byte keeps its UTF-8
  auto mostly = P("Subject: x\n\nCaf\xC3\xA9 cr\xC3\xA8me \xFF ok\n");
  CHECK(all_text(mostly).find("Caf\xC3\xA9 cr\xC3\xA8me \xEF\xBF\xBD ok") != std::string::npos);
}

TEST_CASE("mime: raw 8-bit header text that is not UTF-8 is read in the body's declared charset", "[mime][malformed]") {
  SECTION("Big5 subject, Big5 body") {
    auto m = P("Subject: \xA4\xA4\xA4\xE5\xB6" "l\xA5\xF3\nFrom: a@example.com\n"
               "Content-Type: text/plain; charset=big5\n\nx\n");
    CHECK(m.has(Anomaly::InvalidUtf8Header));
    REQUIRE(m.header("subject"));
    CHECK(m.header("subject")->value == "\xE4\xB8\xAD\xE6\x96\x87\xE9\x83\xB5\xE4\xBB\xB6");  // 中文郵件
    CHECK(m.header("subject")->raw == "\xA4\xA4\xA4\xE5\xB6" "l\xA5\xF3");
  }
  SECTION("GB2312 From name; the charset is on a part inside multipart/alternative") {
    auto m = P("From: \xC4\xE3\xBA\xC3 <a@example.com>\nSubject: x\nContent-Type: multipart/alternative; boundary=b\n\n"
               "--b\nContent-Type: text/plain; charset=us-ascii\n\nhi\n"
               "--b\nContent-Type: text/html; charset=\"GB2312\"\n\n<p>hi</p>\n--b--\n");
    REQUIRE(m.header("from"));
    CHECK(m.header("from")->value == "\xE4\xBD\xA0\xE5\xA5\xBD <a@example.com>");  // 你好
  }
  struct Case {
    const char* what;
    std::string raw;
    std::string subject;  // decoded, UTF-8
  };
  const std::vector<Case> cases = {
      {"KOI8-R subject, with an RFC 2047 word after it",
       "Subject: \xF0\xD2\xC9\xD7\xC5\xD4 =?utf-8?q?caf=C3=A9?=\nFrom: a@example.com\nContent-Type: text/plain; charset=koi8-r\n\nx\n",
       "\xD0\x9F\xD1\x80\xD0\xB8\xD0\xB2\xD0\xB5\xD1\x82 caf\xC3\xA9"},  // Привет café
      {"no legacy charset declared: windows-1252",
       "Subject: caf\xE9 cr\xE8me\nFrom: a@example.com\nContent-Type: text/plain; charset=utf-8\n\nx\n",
       "caf\xC3\xA9 cr\xC3\xA8me"},
      {"no legacy charset, mostly UTF-8: the UTF-8 stays, the stray byte is replaced",
       "Subject: caf\xC3\xA9 cr\xC3\xA8me \xFF\nFrom: a@example.com\n\nx\n", "caf\xC3\xA9 cr\xC3\xA8me \xEF\xBF\xBD"},
      {"a UTF-16 body says nothing about the header's bytes",
       "Subject: caf\xE9\nFrom: a@example.com\nContent-Type: text/plain; charset=utf-16le\n\nx\n", "caf\xC3\xA9"},
  };
  for (const auto& c : cases) {
    DYNAMIC_SECTION(c.what) {
      auto m = P(c.raw);
      REQUIRE(m.header("subject"));
      CHECK(m.header("subject")->value == c.subject);
    }
  }
  SECTION("valid UTF-8 is kept as it is, whatever the body says") {
    auto m = P("Subject: caf\xC3\xA9\nFrom: a@example.com\nContent-Type: text/plain; charset=big5\n\nx\n");
    CHECK_FALSE(m.has(Anomaly::InvalidUtf8Header));
    CHECK(m.header("subject")->value == "caf\xC3\xA9");
  }
  SECTION("bytes the charset does not have become U+FFFD") {
    auto m = P("Subject: a\x81" "b\nFrom: a@example.com\n\nx\n");  // 0x81 is unassigned in windows-1252
    REQUIRE(m.header("subject"));
    CHECK(m.header("subject")->value == "a\xEF\xBF\xBD" "b");
  }
}

TEST_CASE("mime: NUL bytes are flagged and do not cut the message", "[mime][malformed]") {
  std::string raw = test::message("x", std::string("before\0after", 12));
  auto m = P(raw);
  CHECK(m.has(Anomaly::NulBytes));
  CHECK(all_text(m).find("after") != std::string::npos);
}

TEST_CASE("mime: a header line without a colon ends the header and is flagged", "[mime][malformed]") {
  auto m = P("From: a@example.com\nthis is not a header\nSubject: x\n\nbody\n");
  CHECK(m.has(Anomaly::BadHeaderSyntax));
  CHECK(m.header("from"));
}

TEST_CASE("mime: duplicate From or Subject is flagged", "[mime][malformed]") {
  auto m = P("From: a@example.com\nFrom: b@example.com\nSubject: x\n\nbody\n");
  CHECK(m.has(Anomaly::DuplicateHeader));
}

TEST_CASE("mime: a 100-deep nesting is cut at the depth limit and flagged", "[mime][malformed]") {
  std::string raw = "Subject: deep\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b0\n\n";
  std::string tail;
  for (int i = 1; i <= 100; ++i) {
    raw += "--b" + std::to_string(i - 1) + "\nContent-Type: multipart/mixed; boundary=b" + std::to_string(i) + "\n\n";
    tail = "--b" + std::to_string(i - 1) + "--\n" + tail;
  }
  raw += "--b100\nContent-Type: text/plain\n\ninnermost\n--b100--\n" + tail;
  core::Limits lim;
  auto m = P(raw, lim);
  CHECK(m.has(Anomaly::DepthLimit));
  CHECK(m.max_depth <= lim.max_mime_depth);
}

TEST_CASE("mime: attachments are described with declared and sniffed type and zip members", "[mime]") {
  auto m = P(test::with_attachment("invoice.pdf.exe", "application/octet-stream", "MZ\x90\x00 fake program"));
  REQUIRE(m.attachments.size() == 1);
  CHECK(m.attachments[0].filename == "invoice.pdf.exe");
  CHECK(m.attachments[0].sniffed_type == "exe");
  CHECK(m.attachments[0].declared_type == "application/octet-stream");
  auto z = P(test::with_attachment("docs.zip", "application/zip", test::zip_of({"readme.txt", "setup.exe"})));
  REQUIRE(z.attachments.size() == 1);
  CHECK(z.attachments[0].sniffed_type == "zip");
  CHECK(z.attachments[0].archive_members == std::vector<std::string>{"readme.txt", "setup.exe"});
}

TEST_CASE("mime: RFC 2231 and RFC 2047 file names are decoded", "[mime]") {
  std::string body = "--B\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename*=utf-8''r%C3%A9sum%C3%A9.pdf\r\n\r\nx\r\n--B--";
  auto m = P(test::message("x", body, {}, "multipart/mixed; boundary=B"));
  REQUIRE(m.attachments.size() == 1);
  CHECK(m.attachments[0].filename == "r\xC3\xA9sum\xC3\xA9.pdf");
}

TEST_CASE("mime: an attached message/rfc822 is parsed one level down", "[mime]") {
  std::string body = "--B\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\ninner body text\r\n--B--";
  auto m = P(test::message("outer", body, {}, "multipart/mixed; boundary=B"));
  CHECK(all_text(m).find("inner body text") != std::string::npos);
  CHECK(m.max_depth == 2);
}

TEST_CASE("mime: garbage in, no crash, a parsed message out", "[mime][malformed]") {
  std::mt19937 rng(1234);
  for (int i = 0; i < 300; ++i) {
    std::string raw(static_cast<std::size_t>(rng() % 4000), '\0');
    for (auto& c : raw) c = static_cast<char>(rng() % 256);
    if (i % 3 == 0) raw = "Content-Type: multipart/mixed; boundary=a\n\n--a\n" + raw;
    auto m = P(raw);
    CHECK(m.raw_size == raw.size());
  }
}

TEST_CASE("mime: each fixture raises exactly the anomalies it expects", "[mime][fixtures]") {
  namespace fs = std::filesystem;
  std::size_t n = 0;
  for (const auto& e : fs::directory_iterator(test::src_path("tests/data/mime"))) {
    if (e.path().extension() != ".eml") continue;
    ++n;
    auto m = P(test::read_file(e.path().string()));
    std::set<std::string> got, want;
    for (std::size_t i = 0; i < mime::kAnomalyCount; ++i)
      if (m.anomalies.test(i)) got.insert(mime::anomaly_name(static_cast<Anomaly>(i)));
    std::istringstream expect(test::read_file(fs::path(e.path()).replace_extension(".expect").string()));
    for (std::string line; std::getline(expect, line);)
      if (!line.empty()) want.insert(line);
    INFO(e.path().filename().string());
    CHECK(got == want);
  }
  CHECK(n >= 15);
}
