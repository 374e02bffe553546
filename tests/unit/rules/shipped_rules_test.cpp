// Every shipped rule documents itself with examples; each hit example, put
// in a whole message at the rule's target, must make the rule hit through
// the full engine, and each miss example must not.
#include <catch2/catch.hpp>

#include <regex>

#include "config/config.hpp"
#include "support.hpp"

using namespace tamis;

namespace {

// Expands @@REPEAT(n,text)@@ (examples that need a long line).
std::string expand(std::string s) {
  static const std::regex rep("@@REPEAT\\((\\d+),([^)]*)\\)@@");
  std::smatch m;
  while (std::regex_search(s, m, rep)) {
    std::string r;
    for (int i = 0; i < std::stoi(m[1]); ++i) r += m[2];
    s = m.prefix().str() + r + m.suffix().str();
  }
  return s;
}

std::string build(const rules::RuleSpec& r, const std::string& ex_raw, core::Envelope& env) {
  std::string ex = expand(ex_raw);
  const std::string& t = r.target;
  if (!r.meta.empty() || t == "anomaly" || t == "rcpt_in_subject") return ex;  // whole messages
  if (t == "subject") return test::message(ex, "hello");
  if (t == "from") return "From: " + ex + "\r\nSubject: t\r\n\r\nhello\r\n";
  if (t == "from_addr") return "From: Someone <" + ex + ">\r\nSubject: t\r\n\r\nhello\r\n";
  if (t == "from_name") return "From: \"" + ex + "\" <someone@example.com>\r\nSubject: t\r\n\r\nhello\r\n";
  if (t == "reply_to_addr" || t == "reply_to_addr_other") return test::message("t", "hello", {"Reply-To: <" + ex + ">"});
  if (t == "to") return "From: a@example.com\r\nTo: " + ex + "\r\nSubject: t\r\n\r\nhello\r\n";
  if (t == "rcpt_domains") {  // the domain list, one per line: one To address at each; "D from": From is at D
    std::string to, from = "a@example.com";
    std::size_t start = 0;
    for (std::size_t nl = ex.find('\n'); start <= ex.size(); nl = ex.find('\n', start)) {
      if (nl == std::string::npos) nl = ex.size();
      std::string d = ex.substr(start, nl - start);
      if (d.ends_with(" from")) {
        d.resize(d.size() - 5);
        from = "sender@" + d;
      }
      to += (to.empty() ? "user@" : ", user@") + d;
      start = nl + 1;
    }
    return "From: " + from + "\r\nTo: " + to + "\r\nSubject: t\r\n\r\nhello\r\n";
  }
  if (t == "message_id") return "From: a@example.com\r\nMessage-ID: " + ex + "\r\nSubject: t\r\n\r\nhello\r\n";
  if (t == "headers") {  // the example is header lines, "\n"-separated
    std::string h;
    for (char c : ex) {
      if (c == '\n') h.append("\r\n");
      else h.push_back(c);
    }
    return h + "Subject: t\r\n\r\nhello\r\n";
  }
  if (t == "header:content-type") return "From: a@example.com\r\nSubject: t\r\nContent-Type: " + ex + "\r\n\r\nhello\r\n";
  if (t.starts_with("header:")) return "From: a@example.com\r\nSubject: t\r\n" + t.substr(7) + ": " + ex + "\r\n\r\nhello\r\n";
  if (t == "body") return test::message("t", ex);
  if (t == "html") return test::message("t", ex, {}, "text/html; charset=utf-8");
  if (t == "html_hidden")  // the example is the inside of a hidden element
    return test::message("t", "<html><head><style type=\"text/css\" style=\"display:none;\"> P {margin:0;} </style></head><body><p>Hello</p><div style=\"display:none\">" + ex + "</div><p>Bye</p></body></html>", {}, "text/html; charset=utf-8");
  if (t == "url") return test::message("t", "see " + ex + " now");
  if (t == "url_host" || t == "url_domain") return test::message("t", "see http://" + ex + "/page now");
  if (t == "attachment_name") return test::with_attachment(ex, "application/octet-stream", "data");
  if (t == "attachment_type") return test::with_attachment("file.bin", ex, "data");
  if (t == "attachment_member") return test::with_attachment("a.zip", "application/zip", test::zip_of({ex}));
  if (t == "attachment_markup") return test::with_attachment("page.html", "text/html", ex);
  if (t.starts_with("env_")) {
    env.has_envelope = true;
    if (t == "env_helo") env.helo = ex;
    if (t == "env_client_ip") env.client_ip = ex;
    if (t == "env_client_host") env.client_host = ex;
    if (t == "env_mail_from") env.mail_from = ex;
    if (t == "env_rcpt") env.rcpt_to = {ex};
    if (t == "env_auth_user") env.auth_user = ex;
    return test::message("t", "hello");
  }
  FAIL("no message builder for target " + t);
  return "";
}

}  // namespace

TEST_CASE("shipped rules: at least 40, each with hit and miss examples that hold", "[rules][shipped]") {
  auto cfg = test::shipped_config_without_model();
  std::vector<config::RuleExamples> examples;
  auto specs = config::load_rules(cfg, &examples);
  CHECK(specs.size() >= 40);
  auto snap = engine::Snapshot::from_parts(cfg, specs, nullptr);
  std::map<std::string, std::string> groups;
  for (const auto& r : specs) {
    INFO("rule " << r.id);
    auto ex = std::find_if(examples.begin(), examples.end(), [&](const auto& e) { return e.id == r.id; });
    REQUIRE(ex != examples.end());
    CHECK(!ex->hit.empty());
    CHECK(!ex->miss.empty());
    groups[r.group] = r.id;
    for (const auto& h : ex->hit) {
      core::Envelope env;
      auto res = engine::scan(*snap, build(r, h, env), env);
      INFO("hit example: " << h);
      CHECK(std::find(res.rule_hits.begin(), res.rule_hits.end(), r.id) != res.rule_hits.end());
    }
    for (const auto& m : ex->miss) {
      core::Envelope env;
      auto res = engine::scan(*snap, build(r, m, env), env);
      INFO("miss example: " << m);
      CHECK(std::find(res.rule_hits.begin(), res.rule_hits.end(), r.id) == res.rule_hits.end());
    }
  }
  for (const char* g : {"header", "body", "html", "url", "attachment", "mime", "meta"}) {
    INFO("group " << g);
    CHECK(groups.count(g) == 1);
  }
}
