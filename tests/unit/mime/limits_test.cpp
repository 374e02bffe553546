// One test per parser bound, named after what happens when it is hit.
#include <catch2/catch.hpp>

#include "mime/message.hpp"
#include "support.hpp"

using namespace tamis;
using mime::Anomaly;

namespace {
mime::ParsedMessage P(const std::string& raw, core::Limits lim = {}) { return mime::parse(raw, lim, core::Deadline::never()); }
}  // namespace

TEST_CASE("limits: a message over max_scan_bytes is parsed up to the cap and flagged truncated", "[limits]") {
  core::Limits lim;
  lim.max_scan_bytes = 1000;
  auto m = P(test::message("x", std::string(5000, 'a')), lim);
  CHECK(m.has(Anomaly::Truncated));
  std::size_t text = 0;
  for (const auto& t : m.texts) text += t.text.size();
  CHECK(text < 1000);
}

TEST_CASE("limits: a header flood is capped and flagged", "[limits]") {
  std::string raw = "Subject: flood\n";
  for (int i = 0; i < 5000; ++i) raw += "X-Junk-" + std::to_string(i) + ": v\n";
  raw += "\nbody text after the flood\n";
  core::Limits lim;
  auto m = P(raw, lim);
  CHECK(m.has(Anomaly::HeaderFlood));
  CHECK(m.headers.size() == lim.max_headers);
  REQUIRE_FALSE(m.texts.empty());
  CHECK(m.texts[0].text.find("body text after the flood") != std::string::npos);
}

TEST_CASE("limits: an over-long header field is cut and flagged", "[limits]") {
  core::Limits lim;
  auto m = P("Subject: " + std::string(100000, 'x') + "\n\nbody\n", lim);
  CHECK(m.has(Anomaly::HeaderLineTooLong));
  CHECK(m.header("subject")->value.size() <= lim.max_header_line);
}

TEST_CASE("limits: nesting deeper than max_mime_depth stops descending and is flagged", "[limits]") {
  core::Limits lim;
  lim.max_mime_depth = 3;
  std::string raw = "Content-Type: multipart/mixed; boundary=b0\n\n";
  for (int i = 1; i <= 6; ++i) raw += "--b" + std::to_string(i - 1) + "\nContent-Type: multipart/mixed; boundary=b" + std::to_string(i) + "\n\n";
  auto m = P(raw, lim);
  CHECK(m.has(Anomaly::DepthLimit));
  CHECK(m.max_depth <= 3);
}

TEST_CASE("limits: 10,000 parts stop at max_mime_parts and are flagged", "[limits]") {
  std::string body;
  for (int i = 0; i < 10000; ++i) body += "--p\r\nContent-Type: text/plain\r\n\r\npart " + std::to_string(i) + "\r\n";
  body += "--p--\r\n";
  core::Limits lim;
  auto m = P(test::message("many", body, {}, "multipart/mixed; boundary=p"), lim);
  CHECK(m.has(Anomaly::PartLimit));
  CHECK(m.parts == lim.max_mime_parts);
}

TEST_CASE("limits: decoded text beyond max_text_bytes is dropped and flagged", "[limits]") {
  core::Limits lim;
  lim.max_text_bytes = 10000;
  auto m = P(test::message("x", std::string(50000, 'w')), lim);
  CHECK(m.has(Anomaly::TextTruncated));
  std::size_t text = 0;
  for (const auto& t : m.texts) text += t.text.size();
  CHECK(text <= lim.max_text_bytes);
}

TEST_CASE("limits: a 5 MB single-line body is bounded by the scan cap", "[limits]") {
  std::string line(5 * 1024 * 1024, 'z');
  core::Limits lim;
  auto m = P(test::message("long line", line), lim);
  CHECK(m.has(Anomaly::Truncated));
  std::size_t text = 0;
  for (const auto& t : m.texts) text += t.text.size();
  CHECK(text <= lim.max_text_bytes);
}

TEST_CASE("limits: an expired deadline stops the walk and is flagged", "[limits]") {
  std::string body;
  for (int i = 0; i < 50; ++i) body += "--p\r\nContent-Type: text/plain\r\n\r\nx\r\n";
  core::Deadline past(std::chrono::milliseconds(0));
  auto m = mime::parse(test::message("x", body + "--p--", {}, "multipart/mixed; boundary=p"), core::Limits{}, past);
  CHECK(m.has(Anomaly::ScanTimeout));
}
