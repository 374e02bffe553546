#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "features/features.hpp"
#include "features/hops.hpp"
#include "features/html.hpp"
#include "features/urls.hpp"
#include "rules/rules.hpp"
#include "support.hpp"

using namespace tamis;
using features::F;
using features::idx;

namespace {
features::Extracted X(const std::string& raw, core::Envelope env = {}, core::Limits lim = {}) {
  auto m = mime::parse(raw, lim, core::Deadline::never());
  return features::extract(m, env, lim, core::Deadline::never());
}
bool has_value(const features::Extracted& e, const std::string& field, const std::string& v) {
  auto* vals = e.fields.get(field);
  return vals && std::find(vals->begin(), vals->end(), v) != vals->end();
}
}  // namespace

TEST_CASE("features: the schema has at least 60 named structural features and a stable hash", "[features]") {
  const auto& s = features::schema();
  CHECK(s.names.size() == features::kFeatureCount);
  CHECK(s.names.size() >= 60);
  CHECK(s.hash.size() == 16);
  CHECK(s.names[idx(F::url_count)] == "url_count");
}

TEST_CASE("features: HTML is rendered to visible text with a real parser; hidden text is counted, not shown", "[features]") {
  auto h = features::html_to_text(
      "<html><head><style>p{}</style><script>var x=1;</script></head><body><p>Hello <b>world</b></p>"
      "<div style='display: none'>hashbuster words</div><a href='http://evil.example/x'>www.paypal.com</a>"
      "<img src='a.gif'><!-- c --></body></html>",
      1 << 20, 100);
  CHECK(h.text.find("Hello world") != std::string::npos);
  CHECK(h.text.find("hashbuster") == std::string::npos);
  CHECK(h.text.find("var x") == std::string::npos);
  CHECK(h.hidden_chars == std::string("hashbuster words").size());
  REQUIRE(h.links.size() == 1);
  CHECK(h.links[0].href == "http://evil.example/x");
  CHECK(h.links[0].text == "www.paypal.com");
  CHECK(h.images == 1);
  CHECK(h.scripts == 1);
  CHECK(h.comments == 1);
}

TEST_CASE("features: hidden text is kept apart, one line per hidden element, nested markup included", "[features]") {
  auto h = features::html_to_text(
      "<html><head><style type='text/css' style='display:none;'>P {margin:0;}</style></head><body>"
      "<span style='display:none'>Preview line&zwnj;&nbsp;</span><p>Shown</p>"
      "<div style='font-size:0px'><p>nested</p><p>words<b>here</b></p></div>"
      "<td style='font-size:1px'>&nbsp;</td></body></html>",
      1 << 20, 100);
  CHECK(h.text.find("Shown") != std::string::npos);
  // The <style> element is hidden by its style but is not text: it is not there.
  CHECK(h.hidden_text.find("margin") == std::string::npos);
  CHECK(h.hidden_text.find("Preview line") == 0);
  CHECK(h.hidden_text.find("\nnested words here") != std::string::npos);
  CHECK(std::count(h.hidden_text.begin(), h.hidden_text.end(), '\n') == 3);
}

TEST_CASE("limits: hidden text is kept up to kMaxHiddenText bytes, and counted whole", "[limits]") {
  std::string words;
  while (words.size() < 3 * features::kMaxHiddenText) words += "hashbuster ";
  auto h = features::html_to_text("<p>Hi</p><div style='display:none'>" + words + "</div>", 1 << 20, 100);
  CHECK(h.hidden_text.size() == features::kMaxHiddenText);
  CHECK(h.hidden_chars == words.size());
  auto e = X(test::message("t", "<p>Hi</p><div style='display:none'>" + words + "</div>", {}, "text/html; charset=utf-8"));
  const auto* hidden = e.fields.get("html_hidden");
  REQUIRE(hidden);
  REQUIRE(hidden->size() == 1);
  CHECK((*hidden)[0].size() <= features::kMaxHiddenText + 1);  // + the line end
}

TEST_CASE("features: URLs get hosts and registrable domains from the Public Suffix List", "[features]") {
  auto u = features::parse_url("http://mail.example.co.uk:8080/path?q=1");
  REQUIRE(u);
  CHECK(u->host == "mail.example.co.uk");
  CHECK(u->domain == "example.co.uk");
  CHECK(u->odd_port);
  auto ip = features::parse_url("http://192.0.2.1/login");
  REQUIRE(ip);
  CHECK(ip->ip_literal);
  auto ui = features::parse_url("http://www.paypal.com@evil.example/");
  REQUIRE(ui);
  CHECK(ui->userinfo);
  CHECK(ui->domain == "evil.example");
  auto sh = features::parse_url("https://bit.ly/abc");
  REQUIRE(sh);
  CHECK(sh->shortener);
  auto pc = features::parse_url("http://xn--pypal-4ve.com/");
  REQUIRE(pc);
  CHECK(pc->punycode);
  CHECK_FALSE(features::parse_url("javascript:alert(1)"));
}

TEST_CASE("features: URLs are found in plain text and trailing punctuation is dropped", "[features]") {
  auto v = features::find_urls_in_text("see http://a.example/x, and www.b.example. Also (https://c.example/y).", 10);
  CHECK(v == std::vector<std::string>{"http://a.example/x", "http://www.b.example", "https://c.example/y"});
}

TEST_CASE("features: link text naming another domain than its href is counted", "[features]") {
  auto e = X(test::message("x", "<a href=\"http://evil.example/login\">https://www.paypal.com/</a>", {}, "text/html"));
  CHECK(e.vector[idx(F::url_text_mismatch)] == 1);
  auto ok = X(test::message("x", "<a href=\"https://www.paypal.com/x\">www.paypal.com</a>", {}, "text/html"));
  CHECK(ok.vector[idx(F::url_text_mismatch)] == 0);
}

TEST_CASE("features: fields carry decoded headers, addresses, body and URLs", "[features]") {
  auto e = X(test::message("=?utf-8?q?Caf=C3=A9?= offer", "Visit http://shop.example.net/deal now",
                           {"Reply-To: Claims <claims@yahoo.example>"}));
  CHECK(has_value(e, "subject", "Caf\xC3\xA9 offer"));
  CHECK(has_value(e, "from_addr", "alice@example.com"));
  CHECK(has_value(e, "from_name", "Alice"));
  CHECK(has_value(e, "reply_to_addr", "claims@yahoo.example"));
  CHECK(has_value(e, "url_host", "shop.example.net"));
  CHECK(has_value(e, "url_domain", "example.net"));
  CHECK(has_value(e, "header:reply-to", "Claims <claims@yahoo.example>"));
  CHECK(e.vector[idx(F::replyto_domain_differs)] == 1);
  CHECK(e.vector[idx(F::subject_encoded)] == 1);
}

TEST_CASE("features: headers that claim a verdict change no model feature", "[features][trust]") {
  std::string base = test::message("hello", "plain words");
  std::string claimed = test::message("hello", "plain words",
                                      {"X-Spam-Status: No, score=-100", "X-Spam-Flag: NO", "X-Spam-Score: -100",
                                       "Authentication-Results: mx.example.org; dkim=pass; spf=pass"});
  auto a = X(base), b = X(claimed);
  for (std::size_t i = 0; i < features::kFeatureCount; ++i) {
    if (i == idx(F::hdr_count) || i == idx(F::raw_size_log)) continue;  // counts of any header
    INFO(features::schema().names[i]);
    CHECK((a.vector[i] == b.vector[i] || (std::isnan(a.vector[i]) && std::isnan(b.vector[i]))));
  }
  CHECK(a.tokens == b.tokens);
}

TEST_CASE("features: envelope features are missing without an envelope and set with one", "[features]") {
  auto none = X(test::message("x", "y"));
  CHECK(std::isnan(none.vector[idx(F::env_rcpt_count)]));
  core::Envelope env;
  env.has_envelope = true;
  env.client_ip = "192.0.2.9";
  env.client_host = "unknown";
  env.helo = "[192.0.2.9]";
  env.mail_from = "x@other.example";
  env.rcpt_to = {"a@example.org", "b@example.org"};
  auto e = X(test::message("x", "y"), env);
  CHECK(e.vector[idx(F::env_rcpt_count)] == 2);
  CHECK(e.vector[idx(F::env_no_rdns)] == 1);
  CHECK(e.vector[idx(F::env_helo_ip)] == 1);
  CHECK(e.vector[idx(F::envfrom_domain_differs)] == 1);
  CHECK(has_value(e, "env_rcpt", "b@example.org"));
}

TEST_CASE("features: the client's HELO and reverse name are read from the relay's Received header as MTAs write it",
          "[features]") {
  auto relay = [](std::string_view v) {
    auto r = features::relay_of(v);
    return r.known ? r.helo + "|" + r.host : std::string("?");
  };
  // Postfix, Sendmail, Gmail
  CHECK(relay("from Mail.Sender.example (mail.sender.example. [198.51.100.7]) by mx.example.org (Postfix) with ESMTPS id 1A") ==
        "mail.sender.example|mail.sender.example");
  CHECK(relay("from laptop (unknown [198.51.100.7])\tby mx.example.org (Postfix) with ESMTP id 1A") == "laptop|");
  CHECK(relay("from [198.51.100.7] (unknown [IPv6:2001:db8::7]) by mx.example.org (Postfix)") == "[198.51.100.7]|");
  CHECK(relay("from client.example.org ([198.51.100.8])\r\n\tby relay.test.example (8.17.1.9/8.17.1.9/Debian-2)") ==
        "client.example.org|");
  CHECK(relay("from helo.example (rdns.example [198.51.100.7] (may be forged)) by relay.test.example (8.17.1.9/8.17.1.9)") ==
        "helo.example|rdns.example");
  CHECK(relay("from etwxryqog ([201.144.130.21]) by mx.google.com with ESMTP id 5si13531352qwg.0") == "etwxryqog|");
  // Exim: the verified name first, HELO only when it differs
  CHECK(relay("from mail.sender.example ([198.51.100.7]) by mx.example.org with esmtp (Exim 4.96) id 1a") ==
        "mail.sender.example|mail.sender.example");
  CHECK(relay("from mail.sender.example ([198.51.100.7] helo=other.example) by mx.example.org with esmtp (Exim 4.96)") ==
        "other.example|mail.sender.example");
  CHECK(relay("from [198.51.100.7] (helo=laptop) by mx.example.org with esmtp (Exim 4.96)") == "laptop|");
  // qmail
  CHECK(relay("from unknown (HELO mail.sender.example) (198.51.100.7) by mx.example.org with SMTP") == "mail.sender.example|");
  CHECK(relay("from mail.sender.example (198.51.100.7) by mx.example.org with SMTP") ==
        "mail.sender.example|mail.sender.example");
  // forms that do not say: Exchange's, none at all
  CHECK(relay("from mail.sender.example ([198.51.100.7]) by exch.example.org with Microsoft SMTPSVC(6.0.3790.4675)") == "?");
  CHECK(relay("from mail.sender.example by mx.example.org with SMTP") == "?");
  CHECK(relay("(qmail 1234 invoked by uid 500)") == "?");
}

TEST_CASE("features: the client's HELO and reverse name are the same in the session and in the stored copy (tokenizer 8)",
          "[features]") {
  const std::string body =
      "From: Alice <alice@sender.example>\r\nTo: bob@example.org\r\nSubject: lunch\r\n"
      "Date: Thu, 26 Nov 2026 10:00:00 +0000\r\nMessage-ID: <t1@sender.example>\r\n\r\nSee you at noon.\r\n";
  struct Client {
    const char* helo;
    const char* host;      // as the MTA passes it to the milter
    const char* received;  // the relay's Received header the MTA writes
    const char* mta = "Postfix 3.7.11";  // its milter macro v (Sendmail sends none)
  };
  const Client clients[] = {
      {"mail.sender.example", "mail.sender.example",
       "from mail.sender.example (mail.sender.example [198.51.100.7]) by mx.example.org (Postfix) with ESMTP id 1A"},
      {"PC-07", "unknown", "from PC-07 (unknown [198.51.100.7]) by mx.example.org (Postfix) with ESMTP id 1A"},
      {"[198.51.100.7]", "unknown", "from [198.51.100.7] (unknown [198.51.100.7]) by mx.example.org (Postfix) id 1A"},
      {"bank.example", "dsl-7.isp.example",
       "from bank.example (dsl-7.isp.example [198.51.100.7]) by mx.example.org (Postfix) with ESMTP id 1A"},
      {"client.example.org", "[198.51.100.7]",
       "from client.example.org ([198.51.100.7])\r\n\tby relay.test.example (8.17.1.9/8.17.1.9/Debian-2) with ESMTP id 5Q", ""},
      // no HELO at all: the MTA writes the client's name in its place; for a
      // client without one, both pass the milter "[addr]" as its name, and
      // Postfix writes "unknown" where Sendmail writes that "[addr]"
      {"", "[198.51.100.7]", "from unknown (unknown [198.51.100.7]) by mx.example.org (Postfix) with SMTP id 1A"},
      {"", "mail.sender.example",
       "from mail.sender.example (mail.sender.example [198.51.100.7]) by mx.example.org (Postfix) with SMTP id 1A"},
      {"", "[198.51.100.7]",
       "from [198.51.100.7] ([198.51.100.7])\r\n\tby relay.test.example (8.17.1.9/8.17.1.9/Debian-2) with SMTP id 5R", ""},
  };
  const F client_features[] = {F::env_helo_ip, F::env_helo_nodot, F::env_no_rdns, F::env_helo_mismatch};
  std::vector<std::vector<float>> seen;
  for (const auto& c : clients) {
    core::Envelope env;
    env.has_envelope = true;
    env.client_ip = "198.51.100.7";
    env.client_host = c.host;
    env.helo = c.helo;
    env.mta = c.mta;
    auto session = X(body, env);
    auto stored = X("Received: " + std::string(c.received) + "; Thu, 26 Nov 2026 10:00:02 +0000\r\n" + body);
    std::vector<float> values;
    for (F f : client_features) {
      INFO(c.received << ": " << features::schema().names[idx(f)]);
      CHECK(session.vector[idx(f)] == stored.vector[idx(f)]);
      values.push_back(stored.vector[idx(f)]);
    }
    seen.push_back(values);
  }
  // and they say what they should: PC-07 has no dot and no name, a literal is
  // a literal, a HELO of another domain than the name is a mismatch, and a
  // client without HELO or name is read as the MTA wrote it: Postfix's
  // "unknown" has no dot, Sendmail's "[addr]" is a literal
  CHECK(seen[0] == std::vector<float>{0, 0, 0, 0});
  CHECK(seen[1] == std::vector<float>{0, 1, 1, 0});
  CHECK(seen[2] == std::vector<float>{1, 0, 1, 0});
  CHECK(seen[3] == std::vector<float>{0, 0, 0, 1});
  CHECK(seen[4] == std::vector<float>{0, 0, 1, 0});
  CHECK(seen[5] == std::vector<float>{0, 1, 1, 0});
  CHECK(seen[6] == std::vector<float>{0, 0, 0, 0});
  CHECK(seen[7] == std::vector<float>{1, 0, 1, 0});
  // a stored copy whose relay's hop is of a form not read, or a message
  // without one, leaves them missing; so do the models of older tokenizers
  auto exchange = X("Received: from pc ([198.51.100.7]) by exch.example.org with Microsoft SMTPSVC(6.0.3790.4675); Thu, "
                    "26 Nov 2026 10:00:02 +0000\r\n" + body);
  auto none = X(body);
  auto old = features::extract(mime::parse("Received: " + std::string(clients[1].received) + "\r\n" + body, {},
                                           core::Deadline::never()),
                               {}, {}, core::Deadline::never(), false, 7);
  for (F f : client_features) {
    CHECK(std::isnan(exchange.vector[idx(f)]));
    CHECK(std::isnan(none.vector[idx(f)]));
    CHECK(std::isnan(old.vector[idx(f)]));
  }
}

TEST_CASE("limits: URLs beyond max_urls are not examined and the cap is flagged", "[limits]") {
  std::string body;
  for (int i = 0; i < 2000; ++i) body += "http://h" + std::to_string(i) + ".example.com/ ";
  core::Limits lim;
  lim.max_urls = 100;
  auto e = X(test::message("x", body), {}, lim);
  CHECK(e.urls.size() <= 100);
  CHECK(e.fields.get("url")->size() <= 100);
  CHECK(e.url_limit_hit);  // plain-text URLs past the cap used to be dropped without the flag
  std::string exactly;
  for (int i = 0; i < 100; ++i) exactly += "http://h" + std::to_string(i) + ".example.com/ ";
  auto f = X(test::message("x", exactly), {}, lim);
  CHECK(f.urls.size() == 100);
  CHECK_FALSE(f.url_limit_hit);
}

TEST_CASE("limits: envelope recipients beyond max_recipients are not kept", "[limits]") {
  core::Envelope env;
  env.has_envelope = true;
  for (int i = 0; i < 5000; ++i) env.rcpt_to.push_back("r" + std::to_string(i) + "@example.org");
  core::Limits lim;
  lim.max_recipients = 1000;
  auto e = X(test::message("x", "y"), env, lim);
  CHECK(e.fields.get("env_rcpt")->size() == 1000);
}

TEST_CASE("features: reply_to_addr_other is the Reply-To address only when it is not the From address", "[features]") {
  auto same = X("From: Marc <Marc.Weber@gmail.com>\r\nReply-To: marc.weber@gmail.com\r\nSubject: x\r\n\r\ny\r\n");
  CHECK(has_value(same, "reply_to_addr", "marc.weber@gmail.com"));
  CHECK(same.fields.get("reply_to_addr_other") == nullptr);
  auto other = X("From: Marc <marc@shop.example>\r\nReply-To: <claims.office@yahoo.com>\r\nSubject: x\r\n\r\ny\r\n");
  CHECK(has_value(other, "reply_to_addr_other", "claims.office@yahoo.com"));
  CHECK(X("From: marc@shop.example\r\nSubject: x\r\n\r\ny\r\n").fields.get("reply_to_addr_other") == nullptr);
}

TEST_CASE("features: rcpt_domains lists the To and Cc domains, distinct, sorted, registrable", "[features]") {
  auto e = X("From: a@example.com\r\nTo: Ann <ann@mail.Corp.co.uk>, bob@corp.co.uk., carl@zeta.example\r\n"
             "Cc: \"dee@quoted.example\" <dee@alpha.example>, undisclosed-recipients:;\r\nSubject: x\r\n\r\ny\r\n");
  const auto* d = e.fields.get("rcpt_domains");
  REQUIRE(d);
  REQUIRE(d->size() == 1);
  CHECK(d->at(0) == "alpha.example\ncorp.co.uk\nquoted.example\nzeta.example");
  auto inside = X("From: boss@Mail.Corp.co.uk\r\nTo: ann@corp.co.uk, carl@zeta.example\r\nSubject: x\r\n\r\ny\r\n");
  CHECK(inside.fields.get("rcpt_domains")->at(0) == "corp.co.uk from\nzeta.example");
  CHECK(e.vector[idx(F::to_count)] == 5.0f);  // every '@' counts, as before this target
  CHECK(X("From: a@example.com\r\nTo: undisclosed-recipients:;\r\nSubject: x\r\n\r\ny\r\n").fields.get("rcpt_domains") ==
        nullptr);
}

TEST_CASE("limits: rcpt_domains reads the first max_recipients To/Cc addresses; to_count counts them all", "[limits]") {
  std::vector<std::string> cc;
  for (int line = 0; line < 30; ++line) {
    std::string h = "Cc: ";
    for (int i = 0; i < 100; ++i) h += "u@d" + std::to_string(line * 100 + i) + ".example, ";
    cc.push_back(h);
  }
  core::Limits lim;
  lim.max_recipients = 1000;
  auto e = X(test::message("x", "y", cc), {}, lim);
  const auto& d = e.fields.get("rcpt_domains")->at(0);
  CHECK(std::count(d.begin(), d.end(), '\n') == 999);  // 1000 domains: the To address and 999 of the Cc list
  CHECK(e.vector[idx(F::to_count)] == 3001.0f);
}

TEST_CASE("features: rcpt_in_subject names the To local parts the Subject uses as a word", "[features]") {
  auto get = [](const std::string& raw) -> std::string {
    auto e = X(raw);
    const auto* v = e.fields.get("rcpt_in_subject");
    return v ? v->at(0) : std::string("<none>");
  };
  CHECK(get("From: a@b.example\r\nTo: Hi Body <hibody@example.com>, jo.smith@example.org\r\n"
            "Subject: Dear hibody and jo.smith: 80% off\r\n\r\ny\r\n") == "hibody\njo.smith");
  // case-sensitive: the local part pasted as the To header writes it, not a
  // name written with a capital ("Alice, your order has shipped" to alice@)
  CHECK(get("From: a@b.example\r\nTo: alice@example.org\r\nSubject: Alice, your order has shipped\r\n\r\ny\r\n") ==
        "<none>");
  CHECK(get("From: a@b.example\r\nTo: JSmith@example.org\r\nSubject: Final notice for JSmith\r\n\r\ny\r\n") ==
        "JSmith");
  // the whole address is quoted by legitimate notices (calendar invitations)
  CHECK(get("From: a@b.example\r\nTo: alice@example.org\r\nSubject: Invitation: Review (alice@example.org)\r\n\r\ny\r\n") ==
        "<none>");
  CHECK(get("From: a@b.example\r\nTo: bob@example.com\r\nSubject: Bobby's party\r\n\r\ny\r\n") == "<none>");
  CHECK(get("From: a@b.example\r\nTo: al@example.com\r\nSubject: al, hello\r\n\r\ny\r\n") == "<none>");  // < 3
  CHECK(get("From: a@b.example\r\nTo: sales@example.com\r\nSubject: Sales report\r\n\r\ny\r\n") == "<none>");
  CHECK(get("From: a@b.example\r\nTo: ilug@example.com\r\nSubject: [ILUG] meeting\r\n\r\ny\r\n") == "<none>");
  CHECK(get("From: a@b.example\r\nTo: ilug@example.com\r\nList-Id: Irish LUG <ilug.example.com>\r\n"
            "Subject: Re: ilug meeting\r\n\r\ny\r\n") == "<none>");
  CHECK(get("From: a@b.example\r\nCc: carol@example.com\r\nSubject: carol, 80% off\r\n\r\ny\r\n") == "<none>");
}

TEST_CASE("limits: rcpt_in_subject reads the first 10 To local parts and the first 1 KB of the Subject", "[limits]") {
  std::string to = "To: ";
  for (int i = 0; i < 12; ++i) to += "user" + std::to_string(i) + "@example.com, ";
  auto get = [&](const std::string& subject) {
    auto e = X("From: a@b.example\r\n" + to + "\r\nSubject: " + subject + "\r\n\r\ny\r\n");
    const auto* v = e.fields.get("rcpt_in_subject");
    return v ? v->at(0) : std::string("<none>");
  };
  // std::set order: user0, user1, user10, user11, user2 ... user9: the first 10 inserted are user0..user9
  CHECK(get("hi user9") == "user9");
  CHECK(get("hi user10") == "<none>");
  CHECK(get(std::string(1000, 'x') + " user1") == "user1");
  CHECK(get(std::string(1030, 'x') + " user1") == "<none>");
}

TEST_CASE("features: camel-case words count as their parts too; short parts stay whole", "[features]") {
  std::vector<std::uint64_t> t;
  features::tokenize("Get ViagraOnline at TopPfizer, McDonald iPhone JavaScripted", "b:", t, 100);
  auto has = [&](const char* w) { return std::find(t.begin(), t.end(), features::token_hash("b:", w)) != t.end(); };
  for (const char* w : {"get", "viagraonline", "viagra", "online", "toppfizer", "top", "pfizer", "mcdonald", "iphone",
                        "javascripted", "java", "scripted"})
    CHECK(has(w));
  for (const char* w : {"mc", "donald", "phone"}) CHECK_FALSE(has(w));
  t.clear();
  features::tokenize("plain words only", "b:", t, 100);
  CHECK(t.size() == 3);
}

TEST_CASE("features: Unicode spaces and punctuation end words, invisible characters are read through", "[features]") {
  auto words = [](std::string_view text) {
    std::vector<std::uint64_t> t;
    std::vector<std::string> w;
    features::tokenize(text, "b:", t, 100, &w);
    return w;
  };
  using V = std::vector<std::string>;
  CHECK(words("Click\u00A0here now") == V{"b:click", "b:here", "b:now"});  // &nbsp; as the HTML parser gives it
  CHECK(words("\u00A0\u00A0\u00A0\u00A0").empty());                      // a run of &nbsp; is no word
  CHECK(words("Vi\u200Bag\u00ADra") == V{"b:viagra"});                    // zero-width space, soft hyphen
  CHECK(words("don\u2019t") == words("don't"));
  // letters in another form are read as the ASCII they stand for
  // (fullwidth, mathematical bold, ligatures); other letters are case-folded
  CHECK(words("CAF\u00C9 caf\u00E9") == V{"b:caf\u00E9", "b:caf\u00E9"});
  CHECK(words("love\u2764\uFE0Fyou") == V{"b:love", "b:you"});  // an emoji and its variation selector
  CHECK(words("\uFF26\uFF32\uFF25\uFF25\uFF01 \U0001D415\U0001D422\U0001D41A\U0001D420\U0001D42B\U0001D41A \uFB01nance") ==
        V{"b:free", "b:viagra", "b:finance"});
  CHECK(words("\u00DCberPreis") == V{"b:\u00FCber", "b:preis", "b:\u00FCberpreis"});  // camel case, as in ASCII
  CHECK(words("\u0421\u041A\u0418\u0414\u041A\u0410 stra\u00DFe") == V{"b:\u0441\u043A\u0438\u0434\u043A\u0430", "b:stra\u00DFe"});
  CHECK(words("one\u2014two\u2026three \u201Cfour\u201D \u2022five") ==
        V{"b:one", "b:two", "b:three", "b:four", "b:five"});
  CHECK(words("win\U0001F4B0cash") == V{"b:win", "b:cash"});
  CHECK(words("\u00A3500 \u20AC20") == V{"b:\u00A3500", "b:\u20AC20"});  // currency signs, as $
  CHECK(words("ab\xA0" "cd") == V{"b:ab\xA0" "cd"});  // a stray byte (not UTF-8) stays part of the word
}

TEST_CASE("features: text statistics count characters of every script; older tokenizers' models get bytes", "[features]") {
  auto stats = [](const std::string& subject, const std::string& body, int tokenizer) {
    core::Limits lim;
    auto m = mime::parse(test::message(subject, body), lim, core::Deadline::never());
    return features::extract(m, {}, lim, core::Deadline::never(), false, tokenizer).vector;
  };
  auto v = [&](const std::string& body, F f, int tokenizer = 0) { return stats("hello", body, tokenizer)[idx(f)]; };
  // the same sentence in English and Russian has about the same punctuation
  // share (with bytes, Russian letters count twice and the share halves)
  const std::string en = "Hello, world. All is well.";
  const std::string ru = "\u041F\u0440\u0438\u0432\u0435\u0442, \u043C\u0438\u0440. \u0412\u0441\u0451 \u0445\u043E\u0440\u043E\u0448\u043E.";
  CHECK(v(en, F::body_punct_ratio) == Approx(3.0 / 22));
  CHECK(v(ru, F::body_punct_ratio) == Approx(3.0 / 21));
  CHECK(v(ru, F::body_punct_ratio, 4) == Approx(3.0 / 39));
  // capitals of every script; the few Latin capitals of a Japanese text are
  // not "all of its letters"
  const std::string shout = "\u0421\u0420\u041E\u0427\u041D\u041E \u0412\u0410\u0416\u041D\u041E";  // СРОЧНО ВАЖНО
  CHECK(v(shout, F::body_caps_ratio) == Approx(1.0));
  CHECK(v(shout, F::body_caps_ratio, 4) == 0.0);
  CHECK(stats(shout + "!", "x", 0)[idx(F::subject_caps_ratio)] == Approx(1.0));
  const std::string ja =
      "\u4F1A\u8B70\u306E\u8B70\u4E8B\u9332\u3092\u304A\u9001\u308A\u3057\u307E\u3059\u3002FAX\u3067\u3082\u9001\u308A\u307E\u3059";
  CHECK(v(ja, F::body_caps_ratio) < 0.2);
  CHECK(v(ja, F::body_caps_ratio, 4) == 1.0);
  // Han and kana are words of one character: a line of Japanese is not one long word
  CHECK(v(ja, F::body_long_word_ratio) < 0.1);
  CHECK(v(ja, F::body_long_word_ratio, 4) == 1.0);
  CHECK(v(ja, F::text_words) == 20);  // 19 characters, and "\u3002FAX" (\u3002 is punctuation)
  // &nbsp; ends a word, zero-width characters are not counted
  CHECK(v("Click\u00A0here", F::text_words) == 2);
  CHECK(v("Click\u00A0here", F::text_words, 4) == 1);
  CHECK(v("Vi\u200Bagra!", F::body_punct_ratio) == Approx(1.0 / 7));
  // digits of other scripts are digits
  CHECK(v("\u0661\u0662\u0663 ab", F::body_digit_ratio) == Approx(3.0 / 5));
}

TEST_CASE("features: Sendmail's warning that the client never said HELO is not counted in the stored copy, as the session never has it",
          "[features]") {
  const std::string body =
      "From: Alice <alice@sender.example>\r\nTo: bob@example.org\r\nSubject: lunch\r\n"
      "Date: Thu, 26 Nov 2026 10:00:00 +0000\r\nMessage-ID: <t2@sender.example>\r\n\r\nSee you at noon.\r\n";
  core::Envelope env;  // no HELO: the milter is never told one
  env.has_envelope = true;
  env.client_ip = "198.51.100.7";
  env.client_host = "client.example.org";
  env.received_time = 1795687202;
  auto session = X(body, env);
  // as Sendmail queues it (test_sendmail.py): its hop, then its warning, here
  // folded in the middle of the phrase
  const std::string relay_hop =
      "Received: from client.example.org (client.example.org [198.51.100.7])\r\n\tby relay.test.example "
      "(8.17.1.9/8.17.1.9/Debian-2) with SMTP id 5QAA0003; Thu, 26 Nov 2026 10:00:02 +0000\r\n";
  const std::string warning =
      "X-Authentication-Warning: relay.test.example: client.example.org [198.51.100.7] didn't\r\n use HELO protocol\r\n";
  auto stored = X(relay_hop + warning + body);
  for (F f : {F::hdr_count, F::raw_size_log, F::received_count, F::env_helo_nodot, F::env_no_rdns}) {
    INFO(features::schema().names[idx(f)]);
    CHECK(session.vector[idx(f)] == stored.vector[idx(f)]);
  }
  CHECK(stored.vector[idx(F::hdr_count)] == 6);  // 5 of the message and the relay's hop
  // without a reverse name Sendmail gives the milter "[addr]" as the name and
  // writes it in the HELO place too: an address literal, as the session reads it
  env.client_ip = "198.51.100.8";
  env.client_host = "[198.51.100.8]";
  auto bare_session = X(body, env);
  auto bare_stored = X("Received: from [198.51.100.8] ([198.51.100.8])\r\n\tby relay.test.example "
                       "(8.17.1.9/8.17.1.9/Debian-2) with SMTP id 5QAA0004; Thu, 26 Nov 2026 10:00:02 +0000\r\n"
                       "X-Authentication-Warning: relay.test.example: [198.51.100.8] didn't use HELO protocol\r\n" + body);
  for (F f : {F::hdr_count, F::raw_size_log, F::received_count, F::received_unknown_rdns, F::received_ip_only,
              F::env_helo_ip, F::env_helo_nodot, F::env_no_rdns, F::env_helo_mismatch}) {
    INFO(features::schema().names[idx(f)]);
    CHECK(bare_session.vector[idx(f)] == bare_stored.vector[idx(f)]);
  }
  CHECK(bare_session.vector[idx(F::env_helo_ip)] == 1);
  CHECK(bare_session.vector[idx(F::received_ip_only)] == 1);
  // an upstream Sendmail's warning is part of what the relay received: counted
  const std::string upstream =
      "Received: from [10.0.0.5] by old.sender.example (8.12.2/8.12.2) with SMTP id g1; Thu, 26 Nov 2026 09:59:58 "
      "+0000\r\nX-Authentication-Warning: old.sender.example: [10.0.0.5] didn't use HELO protocol\r\n";
  auto with_upstream = X(relay_hop + warning + upstream + body);
  CHECK(with_upstream.vector[idx(F::hdr_count)] == 8);
  CHECK(X(upstream + body, env).vector[idx(F::hdr_count)] == 8);
  // and a warning naming another host than the relay's counts as well
  CHECK(X(relay_hop + "X-Authentication-Warning: other.example: didn't use HELO protocol\r\n" + body)
            .vector[idx(F::hdr_count)] == 7);
}

TEST_CASE("features: hops are counted from the relay's, so a stored message and the same one scanned during the session agree",
          "[features]") {
  const std::string upstream =
      "Received: from [10.0.0.5] (helo=laptop) by smtp.sender.example with esmtpa; Thu, 26 Nov 2026 09:59:58 +0000\r\n";
  const std::string body =
      "From: Alice <alice@sender.example>\r\nTo: bob@example.org\r\nSubject: lunch\r\n"
      "Date: Thu, 26 Nov 2026 10:00:00 +0000\r\nMessage-ID: <t1@sender.example>\r\n\r\nSee you at noon.\r\n";
  // as tamisd sees it: the upstream hop only; the client is the sender's server
  core::Envelope env;
  env.has_envelope = true;
  env.client_ip = "198.51.100.7";
  env.client_host = "smtp.sender.example";
  env.helo = "smtp.sender.example";
  env.received_time = 1795687202;  // Thu, 26 Nov 2026 10:00:02 +0000
  env.mail_from = "bounces+123@esp.example";
  auto session = X(upstream + body, env);
  // as a mailbox stores it: delivery headers, fetchmail and a local re-injection
  // on top, then the relay's own hop and tamisd's verdict
  const std::string stored_top =
      "Return-Path: <bounces+123@esp.example>\r\nX-Original-To: bob@example.org\r\nDelivered-To: bob@example.org\r\n"
      "X-Spam-Status: No, score=0.1\r\nX-Spam-Score: 0.1\r\n"
      "Received: from localhost (localhost [127.0.0.1]) by box.example.org (Postfix) with ESMTP id 1A; Thu, 26 Nov 2026 "
      "10:05:00 +0000\r\n"
      "Received: from imap.example.org [192.0.2.10] by localhost with IMAP (fetchmail-6.4.37); Thu, 26 Nov 2026 10:05:00 "
      "+0000\r\n"
      "Received: from mx.example.org (mx.example.org [IPv6:::1]) by filter.example.org; Thu, 26 Nov 2026 10:00:03 +0000\r\n"
      "Received: from smtp.sender.example (smtp.sender.example [198.51.100.7]) by mx.example.org (Postfix) with ESMTPS id "
      "2B; Thu, 26 Nov 2026 10:00:02 +0000\r\n";
  auto stored = X(stored_top + upstream + body);
  // and as a Maildir stores it: LF line ends, folded, after an mbox "From " line
  auto lf = [](std::string m) {
    for (std::size_t i; (i = m.find("\r\n")) != std::string::npos;) m.replace(i, 2, "\n");
    return m;
  };
  std::string folded = stored_top;
  folded.replace(folded.find(" by mx.example.org"), 1, "\r\n\t");
  auto maildir = X("From alice@sender.example  Thu Nov 26 10:00:02 2026\n" + lf(folded + upstream + body));
  for (F f : {F::received_count, F::received_unknown_rdns, F::received_ip_only, F::hdr_count, F::raw_size_log,
              F::returnpath_domain_differs}) {
    INFO(features::schema().names[idx(f)]);
    CHECK(session.vector[idx(f)] == stored.vector[idx(f)]);
    CHECK(maildir.vector[idx(f)] == stored.vector[idx(f)]);
  }
  // the size leaves out every Received header: the upstream hop's bytes too
  CHECK(std::exp(stored.vector[idx(F::raw_size_log)]) - 1 == Approx(lf(body).size()).margin(0.01));
  CHECK(stored.vector[idx(F::received_count)] == 2);
  CHECK(stored.vector[idx(F::returnpath_domain_differs)] == 1);  // the Return-Path final delivery writes is MAIL FROM
  CHECK(stored.vector[idx(F::hdr_count)] == 7);  // 5 of the message, the relay's hop, the upstream hop
  // the relay's hop dates the message: its stored header, or during the
  // session the envelope's time; without either, the upstream hop's date
  CHECK(stored.vector[idx(F::date_received_skew_h)] == Approx(-2.0 / 3600));
  CHECK(session.vector[idx(F::date_received_skew_h)] == Approx(-2.0 / 3600));
  env.received_time = 0;
  CHECK(X(upstream + body, env).vector[idx(F::date_received_skew_h)] == Approx(2.0 / 3600));
  // a client without a reverse name and with an address literal as HELO is
  // the relay's hop as Postfix writes it: "from [ip] (unknown [ip])"
  env.client_host = "unknown";
  env.helo = "[198.51.100.7]";
  auto bare = X(upstream + body, env);
  CHECK(session.vector[idx(F::received_unknown_rdns)] == 0);
  CHECK(session.vector[idx(F::received_ip_only)] == 1);  // the upstream hop, "from [10.0.0.5]"
  CHECK(bare.vector[idx(F::received_unknown_rdns)] == 1);
  CHECK(bare.vector[idx(F::received_ip_only)] == 2);
  auto bare_stored = X("Received: from [198.51.100.7] (unknown [198.51.100.7]) by mx.example.org (Postfix) with ESMTP id 3C; "
                       "Thu, 26 Nov 2026 10:00:02 +0000\r\n" + upstream + body);
  CHECK(bare_stored.vector[idx(F::received_unknown_rdns)] == 1);
  CHECK(bare_stored.vector[idx(F::received_ip_only)] == 2);
  // Sendmail writes that client as "from HELO ([ip])", folding before "by"
  // (tokenizer 7 on; a tokenizer-6 model is fed what it was trained on), and
  // passes the milter the client's name as the address in brackets
  env.helo = "client.example.org";
  env.client_host = "[198.51.100.7]";
  const std::string sendmail_hop =
      "Received: from client.example.org ([198.51.100.7])\r\n\tby relay.test.example (8.17.1.9/8.17.1.9/Debian-2) with "
      "ESMTP id 5QAA0001; Thu, 26 Nov 2026 10:00:02 +0000\r\n";
  auto sendmail_stored = X(sendmail_hop + upstream + body);
  CHECK(sendmail_stored.vector[idx(F::received_unknown_rdns)] == 1);
  CHECK(X(upstream + body, env).vector[idx(F::received_unknown_rdns)] == 1);
  CHECK(features::extract(mime::parse(sendmail_hop + upstream + body, {}, core::Deadline::never()), {}, {},
                          core::Deadline::never(), false, 6)
            .vector[idx(F::received_unknown_rdns)] == 0);
  // the same shape from Exim names a client whose reverse name is its HELO,
  // and Sendmail's hop of a client with one carries the name
  CHECK(X("Received: from mail.sender.example ([198.51.100.7]) by mx.example.org with esmtp (Exim 4.96) id 1a; Thu, 26 "
          "Nov 2026 10:00:02 +0000\r\n" + upstream + body)
            .vector[idx(F::received_unknown_rdns)] == 0);
  CHECK(X("Received: from client.example.org (client.example.org [198.51.100.7]) by relay.test.example "
          "(8.17.1.9/8.17.1.9/Debian-2) with ESMTP id 5QAA0002; Thu, 26 Nov 2026 10:00:02 +0000\r\n" + upstream + body)
            .vector[idx(F::received_unknown_rdns)] == 0);
  CHECK(X("Received: from [198.51.100.7] ([198.51.100.7]) by old.example.org (Switch-3.1.6/Switch-3.1.6) with ESMTP; "
          "Thu, 26 Nov 2026 10:00:02 +0000\r\n" + upstream + body)
            .vector[idx(F::received_unknown_rdns)] == 1);
  env.client_host = "unknown";
  // mail from a loopback or private client (a local submission, a content
  // filter's re-injection, the tests' Postfix) has no hop of its own, and the
  // local hops of the message below it are skipped as in a stored copy
  env.client_ip = "127.0.0.1";
  auto local = X(stored_top + upstream + body, env);
  CHECK(local.vector[idx(F::received_count)] == 2);
  CHECK(local.vector[idx(F::hdr_count)] == 7);
  // only leading hops are skipped: a private hop below a public one counts
  CHECK(X(upstream + body).vector[idx(F::received_count)] == 0);
  CHECK(session.vector[idx(F::received_count)] == 2);
  // a sender's own public hop that claims "localhost" in its name is not local
  CHECK_FALSE(features::local_hop("from localhost (mail.sender.example [198.51.100.7]) by mx.example.org"));
  CHECK(features::local_hop("(qmail 1234 invoked by uid 500); Thu, 26 Nov 2026 10:00:00 +0000"));
  CHECK(features::local_hop("from localhost by mx.example.org with LMTP"));
  CHECK_FALSE(features::local_hop("from mail.sender.example by mx.example.org"));
  // models of older tokenizers count every header, as they were trained
  auto old = features::extract(mime::parse(stored_top + upstream + body, {}, core::Deadline::never()), {}, {},
                               core::Deadline::never(), false, 5);
  CHECK(old.vector[idx(F::received_count)] == 5);
  CHECK(old.vector[idx(F::hdr_count)] == 15);
  CHECK(std::abs(old.vector[idx(F::date_received_skew_h)] - (-5.0 / 60)) < 0.001);  // the fetchmail time, 5 min late
}

// A milter is passed CRLF line ends; a mailbox (and so a training corpus)
// stores LF. Every feature and token is the same either way.
TEST_CASE("features: every fixture has the same features with CRLF and with LF line ends", "[features]") {
  auto with_ends = [](const std::string& m, bool crlf) {
    std::string out;
    for (std::size_t i = 0; i < m.size(); ++i) {
      if (m[i] == '\r' && i + 1 < m.size() && m[i + 1] == '\n') continue;
      if (m[i] == '\n' && crlf) out += '\r';
      out += m[i];
    }
    return out;
  };
  std::size_t n = 0;
  for (const char* dir : {"tests/data/ham-today", "tests/data/spam-today", "tests/data/mime"}) {
    for (const auto& e : std::filesystem::directory_iterator(test::src_path(dir))) {
      if (e.path().extension() != ".eml") continue;
      std::ifstream f(e.path(), std::ios::binary);
      std::string raw((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
      auto a = X(with_ends(raw, true)), b = X(with_ends(raw, false));
      for (std::size_t i = 0; i < features::kFeatureCount; ++i) {
        INFO(e.path().filename().string() << " " << features::schema().names[i]);
        CHECK((a.vector[i] == b.vector[i] || (std::isnan(a.vector[i]) && std::isnan(b.vector[i]))));
      }
      CHECK(a.tokens == b.tokens);
      ++n;
    }
  }
  CHECK(n >= 50);
}

TEST_CASE("features: the tokens as text hash to exactly the tokens the model reads", "[features]") {
  const std::string raw =
      "From: Example Accounts <no-reply@accounts.example.net>\r\nTo: alice@example.org\r\n"
      "Subject: Reset your password\r\nMessage-ID: <20261108.5f3c@accounts.example.net>\r\n"
      "Date: Sun, 08 Nov 2026 21:14:02 +0000\r\nX-Mailer: MailKit 4.2\r\nMIME-Version: 1.0\r\n"
      "Content-Type: text/html; charset=utf-8\r\n\r\n"
      "<p>Click <a href=\"https://accounts.example.net/reset?t=1\">ViagraOnline</a> within 30 minutes.</p>\r\n";
  for (std::size_t budget : {std::size_t{4000}, std::size_t{5}}) {
    core::Limits lim;
    lim.max_tokens = budget;
    auto m = mime::parse(raw, lim, core::Deadline::never());
    auto plain = features::extract(m, {}, lim, core::Deadline::never());
    auto with_words = features::extract(m, {}, lim, core::Deadline::never(), true);
    CHECK(plain.token_words.empty());
    CHECK(with_words.tokens == plain.tokens);  // asking for the words changes nothing
    std::vector<std::uint64_t> from_words;
    for (const auto& w : with_words.token_words) {
      auto colon = w.find(':');
      REQUIRE(colon != std::string::npos);
      from_words.push_back(features::token_hash(w.substr(0, colon + 1), w.substr(colon + 1)));
    }
    std::sort(from_words.begin(), from_words.end());
    from_words.erase(std::unique(from_words.begin(), from_words.end()), from_words.end());
    CHECK(from_words == plain.tokens);
    if (budget == 4000) {
      for (const char* w : {"s:reset", "b:click", "b:viagra", "u:example.net", "m:mailkit", "ct:text/html", "cs:utf-8",
                            "f:example.net", "fn:accounts"}) {
        CAPTURE(w);
        CHECK(std::count(with_words.token_words.begin(), with_words.token_words.end(), std::string(w)) == 1);
      }
    } else {
      CHECK(with_words.token_words.size() == 5);
    }
  }
}

TEST_CASE("limits: tokens stop at max_tokens", "[limits]") {
  std::string body;
  for (int i = 0; i < 20000; ++i) body += "w" + std::to_string(i) + " ";
  core::Limits lim;
  lim.max_tokens = 500;
  auto e = X(test::message("x", body), {}, lim);
  CHECK(e.tokens.size() <= 500);
}

TEST_CASE("limits: a body padded past max_tokens leaves out its own words, not the links and sender", "[limits]") {
  std::string body = "Claim it at https://prize.example.net/claim now\n";
  for (int i = 0; i < 20000; ++i) body += "w" + std::to_string(i) + " ";
  core::Limits lim;
  lim.max_tokens = 500;
  auto e = X(test::message("You won", body, {"X-Mailer: BulkBlaster 9"}), {}, lim);  // From: Alice <alice@example.com>
  auto has = [&](const char* prefix, const char* w) {
    return std::binary_search(e.tokens.begin(), e.tokens.end(), features::token_hash(prefix, w));
  };
  CHECK(e.tokens.size() <= 500);
  CHECK(has("s:", "won"));
  CHECK(has("u:", "example.net"));
  CHECK(has("f:", "example.com"));
  CHECK(has("fn:", "alice"));
  CHECK(has("m:", "bulkblaster"));
  CHECK(has("b:", "claim"));          // the body's first words still count
  CHECK_FALSE(has("b:", "w19999"));   // its last ones do not
}

TEST_CASE("limits: a field value longer than max_field_bytes is cut before rules see it", "[limits]") {
  core::Limits lim;
  lim.max_field_bytes = 1000;
  auto e = X(test::message("x", std::string(50000, 'q')), {}, lim);
  CHECK(e.fields.get("body")->at(0).size() <= 1000);
}

TEST_CASE("features: attachments give executable, double-extension and zip-member features", "[features]") {
  auto e = X(test::with_attachment("invoice.pdf.exe", "application/octet-stream", "MZ fake"));
  CHECK(e.vector[idx(F::att_exec)] == 1);
  CHECK(e.vector[idx(F::att_double_ext)] == 1);
  auto z = X(test::with_attachment("a.zip", "application/zip", test::zip_of({"run.js"})));
  CHECK(z.vector[idx(F::att_archive)] == 1);
  CHECK(z.vector[idx(F::att_archive_exec)] == 1);
  CHECK(has_value(z, "attachment_member", "run.js"));
}

TEST_CASE("limits: HTML beyond max_html_bytes is not parsed and the cut is reported", "[limits]") {
  std::string html = "<p>visible start</p>" + std::string(5000, ' ') + "<p>beyond the cap</p>";
  auto h = features::html_to_text(html, 1000, 100);
  CHECK(h.truncated);
  CHECK(h.text.find("visible start") != std::string::npos);
  CHECK(h.text.find("beyond the cap") == std::string::npos);
  auto whole = features::html_to_text(html, 1 << 20, 100);
  CHECK_FALSE(whole.truncated);
  CHECK(whole.text.find("beyond the cap") != std::string::npos);
}

TEST_CASE("limits: a page of 100,000 nested tags is cut at the tag cap, not parsed whole", "[limits]") {
  std::string html;
  for (int i = 0; i < 100000; ++i) html += "<div>";
  html += "deep text";
  auto h = features::html_to_text(html, 1 << 20, 100);
  CHECK(h.truncated);
  CHECK(h.tags <= 20000 + 3);  // + the html/head/body elements the parser implies
}

TEST_CASE("limits: links beyond max_urls are not collected from HTML", "[limits]") {
  std::string html;
  for (int i = 0; i < 1000; ++i) html += "<a href='http://h" + std::to_string(i) + ".example/'>x</a>";
  auto h = features::html_to_text(html, 1 << 20, 50);
  CHECK(h.links.size() == 50);
  CHECK(h.truncated);
}

TEST_CASE("features: the body field has LF line ends, so a multi-line rule's $ matches CRLF mail", "[features][rules]") {
  auto ex = X(test::message("crlf", "first line\r\nbuy now\r\nlast\r\n"));
  const auto* body = ex.fields.get("body");
  REQUIRE(body);
  REQUIRE(body->size() == 1);
  CHECK((*body)[0].find('\r') == std::string::npos);
  rules::RuleSpec r;
  r.id = "LINE";
  r.target = "body";
  r.pattern = "^buy now$";
  r.flags = "m";
  r.score = 1;
  auto cr = rules::CompiledRules::build({r});
  CHECK(cr->evaluate(ex.fields).hits.size() == 1);
}

TEST_CASE("limits: attachment_markup holds the first 64 KB of HTML and SVG attachments only", "[limits]") {
  auto markup = [](const std::string& name, const std::string& type, const std::string& data) {
    auto e = X(test::with_attachment(name, type, data));
    const auto* v = e.fields.get("attachment_markup");
    return v ? v->at(0) : std::string("<none>");
  };
  const std::string page = "<html><form><input type=password></form></html>";
  CHECK(markup("page.html", "application/octet-stream", page) == page);  // by file name
  CHECK(markup("x.bin", "text/html", page) == page);                     // by declared type
  CHECK(markup("logo.SVG ", "application/octet-stream", "<svg/>") == "<svg/>");
  CHECK(markup("notes.txt", "text/plain", page) == "<none>");
  std::string big = std::string(mime::kMaxAttachmentMarkup - 10, ' ') + page;
  auto got = markup("big.html", "text/html", big);
  CHECK(got.size() == mime::kMaxAttachmentMarkup);
  CHECK(got.find("password") == std::string::npos);  // past the first 64 KB
}
