#include <unicode/uchar.h>
#include <unicode/utf8.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <climits>
#include <cmath>
#include <ctime>
#include <set>
#include <unordered_set>

#include "features/features.hpp"
#include "features/hops.hpp"
#include "features/html.hpp"
#include "core/strings.hpp"

namespace tamis::features {

using core::lower;
using core::trim;
namespace {



struct Address {
  std::string name;
  std::string addr;    // lower-case local@domain, "" if none found
  std::string domain;  // registrable domain of addr
};

// "Name <a@b>", "a@b (Name)", "a@b", "<a@b>". Good enough for features;
// rules see the decoded header too.
Address parse_address(std::string_view v) {
  Address a;
  v = trim(v);
  std::size_t lt = v.rfind('<');
  std::size_t gt = lt == std::string_view::npos ? lt : v.find('>', lt);
  std::string_view addr;
  if (lt != std::string_view::npos && gt != std::string_view::npos) {
    addr = trim(v.substr(lt + 1, gt - lt - 1));
    std::string_view name = trim(v.substr(0, lt));
    if (name.size() >= 2 && name.front() == '"' && name.back() == '"') name = name.substr(1, name.size() - 2);
    a.name = std::string(trim(name));
  } else {
    std::size_t paren = v.find('(');
    addr = trim(v.substr(0, paren));
    if (paren != std::string_view::npos) {
      std::string_view n = v.substr(paren + 1);
      n = n.substr(0, n.find(')'));
      a.name = std::string(trim(n));
    }
  }
  std::size_t at = addr.rfind('@');
  if (at != std::string_view::npos && at > 0 && at + 1 < addr.size() && addr.find(' ') == std::string_view::npos) {
    a.addr = lower(addr);
    a.domain = registrable_domain(lower(addr.substr(at + 1)));
  }
  return a;
}

std::string email_domain(std::string_view addr) {
  std::size_t at = addr.rfind('@');
  if (at == std::string_view::npos) return {};
  std::string_view d = addr.substr(at + 1);
  while (!d.empty() && (d.back() == '>' || core::is_space(d.back()))) d.remove_suffix(1);
  return registrable_domain(lower(d));
}

// RFC 5322 date -> unix time; nullopt if unparsable. `odd_tz` set for zones
// outside -12..+14 hours or written as names other than UT/GMT/US zones.
std::optional<long long> parse_date(std::string_view v, bool* odd_tz) {
  static const char* kMonths[] = {"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"};
  std::string s = lower(trim(v));
  if (auto c = s.find(','); c != std::string::npos && c < 6) s = s.substr(c + 1);
  int day = 0, year = 0, hh = 0, mm = 0, ss = 0;
  char mon[8] = {0}, zone[16] = {0};
  int n = std::sscanf(s.c_str(), " %d %3s %d %d:%d:%d %15s", &day, mon, &year, &hh, &mm, &ss, zone);
  if (n < 6) {
    n = std::sscanf(s.c_str(), " %d %3s %d %d:%d %15s", &day, mon, &year, &hh, &mm, zone);
    if (n < 5) return std::nullopt;
    ss = 0;
  }
  int month = -1;
  for (int i = 0; i < 12; ++i)
    if (std::string_view(mon) == kMonths[i]) month = i;
  if (month < 0 || day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 60) return std::nullopt;
  if (year < 100) year += year < 50 ? 2000 : 1900;
  if (year < 1970 || year > 2200) return std::nullopt;
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = month;
  tm.tm_mday = day;
  tm.tm_hour = hh;
  tm.tm_min = mm;
  tm.tm_sec = ss;
  long long t = static_cast<long long>(timegm(&tm));
  std::string z = zone;
  int off_min = 0;
  if (!z.empty() && (z[0] == '+' || z[0] == '-') && z.size() >= 5 && core::is_digit(z[1])) {
    int v2 = std::atoi(z.substr(1, 4).c_str());
    off_min = (v2 / 100) * 60 + v2 % 100;
    if (z[0] == '-') off_min = -off_min;
    if (off_min < -12 * 60 || off_min > 14 * 60 || (v2 % 100) >= 60) *odd_tz = true;
  } else if (z.empty() || z == "ut" || z == "gmt" || z == "z") {
  } else if (z == "est" || z == "edt" || z == "cst" || z == "cdt" || z == "mst" || z == "mdt" || z == "pst" || z == "pdt") {
    static const std::pair<const char*, int> kUs[] = {{"est", -300}, {"edt", -240}, {"cst", -360}, {"cdt", -300},
                                                      {"mst", -420}, {"mdt", -360}, {"pst", -480}, {"pdt", -420}};
    for (auto& [nm, o] : kUs)
      if (z == nm) off_min = o;
  } else {
    *odd_tz = true;
  }
  return t - off_min * 60LL;
}

double ratio(std::size_t a, std::size_t b) { return b == 0 ? 0.0 : static_cast<double>(a) / static_cast<double>(b); }
float logsz(std::size_t n) { return static_cast<float>(std::log1p(static_cast<double>(n))); }

struct CharStats {
  std::size_t letters = 0, upper = 0, punct = 0, excl = 0, dollar = 0, digits = 0, non_ascii = 0, total = 0;
  std::size_t words = 0, long_words = 0;
};

// What one non-ASCII character is to the text statistics (ICU), worked out
// once per code point and kept in a small per-thread table.
struct CharClass {
  UChar32 c = -1;
  bool skip = false, space = false, own_word = false, letter = false, upper = false, digit = false, punct = false;
};

const CharClass& char_class(UChar32 c) {
  // Han (the unified ideographs and extension A) without a lookup: a page
  // of Chinese or Japanese uses thousands of distinct ones, more than the
  // table below holds. ICU says the same of each: a letter, line-break ID.
  static const CharClass kIdeograph{.own_word = true, .letter = true};
  if ((c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF)) return kIdeograph;
  thread_local std::array<CharClass, 512> cache;  // direct-mapped by the low bits
  CharClass& k = cache[static_cast<std::size_t>(c) % cache.size()];
  if (k.c != c) {
    k = CharClass{};
    k.c = c;
    k.skip = u_hasBinaryProperty(c, UCHAR_DEFAULT_IGNORABLE_CODE_POINT);  // zero-width, soft hyphen
    k.space = u_isUWhiteSpace(c);                                         // U+00A0 (&nbsp;), U+3000, ...
    // Han, kana and pictographs: scripts written without spaces, where a
    // line may break after any character; each is a word of its own.
    k.own_word = u_getIntPropertyValue(c, UCHAR_LINE_BREAK) == U_LB_IDEOGRAPHIC;
    k.letter = u_isUAlphabetic(c);
    k.upper = u_isUUppercase(c);
    k.digit = u_isdigit(c);
    k.punct = u_ispunct(c);
  }
  return k;
}

// Counts characters, not bytes, and the letters, capitals, digits and
// punctuation of every script: with bytes and ASCII only, a Russian text
// (two bytes a letter) had half the punctuation share of the same text in
// English, and the few Latin words of a Japanese one ("FAX", "TEL") made
// its capitals share. `unicode` false: the statistics of tokenizers 3 and
// 4 (bytes; ASCII letters), which models trained with them are fed.
CharStats char_stats(std::string_view s, bool unicode) {
  CharStats c;
  std::size_t wlen = 0;
  auto end_word = [&] {
    if (wlen) { ++c.words; if (wlen > 25) ++c.long_words; }
    wlen = 0;
  };
  const auto n = static_cast<std::int32_t>(std::min<std::size_t>(s.size(), INT32_MAX));
  for (std::int32_t i = 0; i < n;) {
    unsigned char u = static_cast<unsigned char>(s[static_cast<std::size_t>(i)]);
    if (u < 0x80 || !unicode) {
      ++i;
      if (core::is_space(static_cast<char>(u))) { end_word(); continue; }
      ++c.total;
      ++wlen;
      if (u >= 0x80) { if ((u & 0xC0) != 0x80) ++c.non_ascii; continue; }
      if (core::is_alpha(static_cast<char>(u))) { ++c.letters; if (core::is_upper(static_cast<char>(u))) ++c.upper; }
      else if (core::is_digit(static_cast<char>(u))) ++c.digits;
      else if (core::is_punct(static_cast<char>(u))) { ++c.punct; if (u == '!') ++c.excl; if (u == '$') ++c.dollar; }
      continue;
    }
    UChar32 ch;
    U8_NEXT(s.data(), i, n, ch);
    if (ch < 0) { ++c.total; ++c.non_ascii; ++wlen; continue; }  // not UTF-8: part of its word
    const CharClass& k = char_class(ch);
    if (k.skip) continue;
    if (k.space) { end_word(); continue; }
    ++c.total;
    ++c.non_ascii;
    if (k.own_word) end_word();
    ++wlen;
    if (k.letter) { ++c.letters; if (k.upper) ++c.upper; }
    else if (k.digit) ++c.digits;
    else if (k.punct) ++c.punct;
    if (k.own_word) end_word();
  }
  end_word();
  return c;
}

bool odd_tld(std::string_view domain) {
  static const std::unordered_set<std::string_view> kOdd = {
      "xyz", "top", "click", "link", "work", "loan", "win", "bid", "review", "country", "stream", "download",
      "racing", "date", "faith", "party", "science", "trade", "accountant", "cricket", "gq", "ml", "cf", "tk", "ga",
      "buzz", "rest", "fit", "cam", "monster", "icu", "cyou", "sbs", "cfd"};
  auto dot = domain.rfind('.');
  return dot != std::string_view::npos && kOdd.count(domain.substr(dot + 1)) > 0;
}

bool exec_ext(std::string_view ext) {
  static const std::unordered_set<std::string_view> kExec = {
      "exe", "scr", "pif", "bat", "com", "cmd", "js", "jse", "vbs", "vbe", "jar", "lnk", "msi", "hta",
      "wsf", "wsh", "ps1", "cpl", "reg", "dll", "iso", "img", "vhd", "apk", "app", "msc", "chm"};
  return kExec.count(ext) > 0;
}

std::string ext_of(std::string_view name) {
  std::string n = lower(trim(name));
  while (!n.empty() && (n.back() == '.' || n.back() == ' ')) n.pop_back();
  auto dot = n.rfind('.');
  return dot == std::string::npos ? std::string() : n.substr(dot + 1);
}

std::set<std::string> word_set(std::string_view s, std::size_t max) {
  std::set<std::string> out;
  std::string w;
  for (char c : s) {
    if (core::is_alnum(c)) w.push_back(core::to_lower(c));
    else {
      if (w.size() > 2 && out.size() < max) out.insert(w);
      w.clear();
    }
  }
  if (w.size() > 2 && out.size() < max) out.insert(w);
  return out;
}

// The shape of an identifier: runs of digits, lower-case and upper-case
// letters collapse to 9, a and A; punctuation stays. "<20021126.1234.ab@x.org>"
// -> "<9.9.a@a.a>": what mailer wrote it, not which message it is.
std::string shape_of(std::string_view v) {
  std::string out;
  char last = 0;
  for (char c : v.substr(0, 120)) {
    char k = core::is_digit(c) ? '9' : core::is_lower(c) ? 'a' : core::is_upper(c) ? 'A' : c;
    if ((k == '9' || k == 'a' || k == 'A') && k == last) continue;
    out.push_back(k);
    last = k;
  }
  return out;
}

// `rcpt_in_subject`: spam written for one recipient addresses the reader
// by the local part of the address ("hibody, 80% off"). Read from the first
// kMaxSubjectRcpts distinct To local parts of 3+ characters and the first
// kMaxSubjectScan bytes of the Subject.
constexpr std::size_t kMaxSubjectRcpts = 10;
constexpr std::size_t kMaxSubjectScan = 1024;

bool is_local_char(char c) { return core::is_alnum(c) || c == '.' || c == '_' || c == '-' || c == '+'; }

// RFC 2142 role mailboxes and other common role names: words that a Subject
// uses as words ("News for you", "Sales report"), not as a person's name.
bool role_local_part(std::string_view lp) {
  static const std::set<std::string, std::less<>> kRoles = {
      "abuse", "admin", "billing", "contact", "hello", "help", "hostmaster", "info", "jobs", "list", "mail",
      "marketing", "news", "newsletter", "noc", "office", "orders", "postmaster", "root", "sales", "security",
      "service", "support", "team", "webmaster"};
  return kRoles.contains(lp);
}

// The To local parts the Subject names as a whole word, one per line, with
// [list tags] left out. A To address that is the mailing list itself (its
// local part in List-Id or List-Post) is not a person's name. The match is
// case-sensitive, against the local part as the To header writes it: mail
// merged from an address list pastes "hibody" as it is, while a person or a
// shop that knows the name writes "Alice, your order has shipped" to
// alice@. On the corpora that leaves out 3 of the 6 SpamAssassin ham hits
// ("Foundstone Labs Advisory" to labs@) and none of the 239 spam hits.
std::string rcpt_in_subject(std::string_view subject, const std::set<std::string>& locals,
                            const mime::ParsedMessage& msg) {
  std::string s(subject.substr(0, kMaxSubjectScan));
  for (std::size_t open = s.find('['); open != std::string::npos; open = s.find('[', open)) {
    std::size_t close = s.find(']', open);
    if (close == std::string::npos) break;
    std::fill(s.begin() + static_cast<std::ptrdiff_t>(open), s.begin() + static_cast<std::ptrdiff_t>(close) + 1, ' ');
  }
  std::string list_hdrs;
  for (const char* name : {"list-id", "list-post"})
    if (const auto* h = msg.header(name)) list_hdrs += lower(std::string_view(h->value).substr(0, 1024));
  std::string out;
  for (const auto& lp : locals) {
    const std::string llp = lower(lp);
    if (role_local_part(llp) || list_hdrs.find(llp) != std::string::npos) continue;
    for (std::size_t at = s.find(lp); at != std::string::npos; at = s.find(lp, at + 1)) {
      bool left = at == 0 || !core::is_alnum(s[at - 1]);
      // "alice@example.org" in a Subject is the address, which legitimate
      // notices quote too (Google Calendar's "Invitation: ... (alice@...)",
      // "Your account alice@... was used to sign in"); the bare mailbox
      // name used as a form of address ("alice, 80% off") is spam's.
      std::size_t end = at + lp.size();
      bool right = end == s.size() || (!core::is_alnum(s[end]) && s[end] != '@');
      if (left && right) {
        out.append(out.empty() ? "" : "\n").append(lp);
        break;
      }
    }
  }
  return out;
}

const std::vector<std::string> kFixedTargets = {
    "subject", "from", "from_addr", "from_name", "reply_to_addr", "reply_to_addr_other", "to", "rcpt_domains", "rcpt_in_subject", "message_id", "headers", "body", "html",
    "html_hidden", "url", "url_host", "url_domain", "attachment_name", "attachment_type", "attachment_member", "attachment_markup", "env_helo",
    "env_client_ip", "env_client_host", "env_mail_from", "env_rcpt", "env_auth_user", "anomaly"};

}  // namespace

namespace {

const std::vector<std::string>& feature_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
#define TAMIS_X(name) out.emplace_back(#name);
    TAMIS_FEATURES(TAMIS_X)
#undef TAMIS_X
    return out;
  }();
  return names;
}

}  // namespace

std::string schema_hash_with_tokenizer(int version) {
  std::uint64_t h = token_hash("schema:v1:tok" + std::to_string(version), "");
  for (const auto& n : feature_names()) h = token_hash(std::to_string(h), n);
  return core::hex64(h);
}

const Schema& schema() {
  static const Schema s{feature_names(), schema_hash_with_tokenizer(kTokenizerVersion)};
  return s;
}

void Fields::add(const std::string& target, std::string value) { values_[target].push_back(std::move(value)); }

const std::vector<std::string>* Fields::get(const std::string& target) const {
  auto it = values_.find(target);
  return it == values_.end() ? nullptr : &it->second;
}

const std::vector<std::string>& fixed_targets() { return kFixedTargets; }

bool known_target(const std::string& t) {
  if (t.starts_with("header:") && t.size() > 7) return true;
  return std::find(kFixedTargets.begin(), kFixedTargets.end(), t) != kFixedTargets.end();
}

Extracted extract(const mime::ParsedMessage& msg, const core::Envelope& env, const core::Limits& lim,
                  const core::Deadline& deadline, bool keep_token_words, int tokenizer) {
  using mime::Anomaly;
  const bool text_unicode = tokenizer == 0 || tokenizer >= 5;  // text statistics per character (char_stats)
  const bool hops_from_relay = tokenizer == 0 || tokenizer >= 6;  // count_hops
  Extracted ex;
  auto& v = ex.vector;
  v.assign(kFeatureCount, 0.0f);
  auto set = [&](F f, double x) { v[idx(f)] = static_cast<float>(x); };
  auto& fl = ex.fields;
  auto cap = [&](std::string_view s) { return std::string(s.substr(0, lim.max_field_bytes)); };

  // ---- headers -> fields ----
  std::string all_headers;
  for (const auto& h : msg.headers) {
    fl.add("header:" + h.lname, cap(h.value));
    if (all_headers.size() < lim.max_field_bytes) {
      all_headers.append(h.name).append(": ").append(h.value).push_back('\n');
    }
  }
  fl.add("headers", cap(all_headers));

  const mime::HeaderField* subj = msg.header("subject");
  const mime::HeaderField* from = msg.header("from");
  Address fa = from ? parse_address(from->value) : Address{};
  if (subj) fl.add("subject", cap(subj->value));
  if (from) {
    fl.add("from", cap(from->value));
    fl.add("from_addr", fa.addr);
    fl.add("from_name", cap(fa.name));
  }
  Address ra;
  if (const auto* rt = msg.header("reply-to")) {
    ra = parse_address(rt->value);
    fl.add("reply_to_addr", ra.addr);
    // Replies that go to another address than the sender's. A Reply-To equal
    // to From (Google Calendar invitations from Gmail users) says nothing.
    if (!ra.addr.empty() && ra.addr != fa.addr) fl.add("reply_to_addr_other", ra.addr);
  }
  if (const auto* to = msg.header("to")) fl.add("to", cap(to->value));
  const mime::HeaderField* mid = msg.header("message-id");
  if (mid) fl.add("message_id", cap(mid->value));

  // ---- header features ----
  // Hops and header counts from the relay's hop down (tokenizer 6 on, see
  // hops.hpp), Sendmail's hops without a reverse name read as such
  // (tokenizer 7 on); older models count every header, as they were trained.
  const HopCounts hops =
      hops_from_relay ? count_hops(msg.headers, env, tokenizer == 0 || tokenizer >= 7) : count_every_hop(msg.headers);
  set(F::hdr_count, static_cast<double>(hops.headers));
  set(F::received_count, static_cast<double>(hops.hops));
  set(F::received_unknown_rdns, static_cast<double>(hops.unknown_rdns));
  set(F::received_ip_only, static_cast<double>(hops.ip_only));

  const auto* date = msg.header("date");
  bool odd_tz = false;
  std::optional<long long> date_t = date ? parse_date(date->value, &odd_tz) : std::nullopt;
  set(F::date_missing, date == nullptr);
  set(F::date_unparsable, date && !date_t);
  set(F::date_odd_tz, odd_tz);
  v[idx(F::date_received_skew_h)] = NAN;
  if (date_t && (hops.relay_time != 0 || !hops.first_date.empty())) {
    bool rtz = false;
    if (auto rt = hops.relay_time != 0 ? std::optional<long long>(hops.relay_time) : parse_date(hops.first_date, &rtz))
      set(F::date_received_skew_h, std::min(1000.0, std::abs(static_cast<double>(*rt - *date_t)) / 3600.0) *
                                       (*date_t > *rt ? 1.0 : -1.0));
  }

  set(F::msgid_missing, mid == nullptr);
  if (mid) {
    std::string_view m = trim(mid->value);
    bool ok = m.size() > 4 && m.front() == '<' && m.back() == '>' && m.find('@') != std::string_view::npos &&
              m.find(' ') == std::string_view::npos;
    set(F::msgid_malformed, !ok);
    std::string md = email_domain(m.substr(0, m.size() > 0 ? m.size() - 1 : 0));
    set(F::msgid_domain_differs, ok && !fa.domain.empty() && !md.empty() && md != fa.domain);
  }

  set(F::from_missing, from == nullptr);
  set(F::from_addr_invalid, from && fa.addr.empty());
  std::string name_dom = domain_in_text(fa.name.substr(fa.name.find('@') == std::string::npos ? fa.name.size() : fa.name.rfind('@') + 1));
  set(F::from_name_has_addr, fa.name.find('@') != std::string::npos);
  set(F::from_name_addr_mismatch, !name_dom.empty() && !fa.domain.empty() && name_dom != fa.domain);
  set(F::from_name_len, static_cast<double>(fa.name.size()));
  {
    std::size_t digits = 0, at = fa.addr.find('@');
    for (std::size_t i = 0; i < at && i < fa.addr.size(); ++i) digits += core::is_digit(fa.addr[i]) ? 1 : 0;
    set(F::from_local_digits, static_cast<double>(digits));
  }
  set(F::replyto_present, msg.header("reply-to") != nullptr);
  set(F::replyto_domain_differs, !ra.domain.empty() && !fa.domain.empty() && ra.domain != fa.domain);
  // Final delivery writes the envelope sender as Return-Path: during the
  // session (tokenizer 6 on) that is MAIL FROM, in a mailbox the header.
  const auto* rp = msg.header("return-path");
  if ((hops_from_relay && env.has_envelope) || rp) {
    std::string rd = email_domain(hops_from_relay && env.has_envelope ? std::string_view(env.mail_from) : rp->value);
    set(F::returnpath_domain_differs, !rd.empty() && !fa.domain.empty() && rd != fa.domain);
  }
  if (env.has_envelope) {
    std::string ed = email_domain(env.mail_from);
    set(F::envfrom_domain_differs, !ed.empty() && !fa.domain.empty() && ed != fa.domain);
    set(F::envfrom_null, env.mail_from.empty());
  } else {
    v[idx(F::envfrom_domain_differs)] = NAN;
    v[idx(F::envfrom_null)] = NAN;
  }
  const auto* to = msg.header("to");
  set(F::to_missing, to == nullptr);
  {
    // Every '@' in To and Cc counts as an address. The registrable domains
    // of the first max_recipients of them, distinct and sorted, one per
    // line, are the `rcpt_domains` target; the From's domain, when it is
    // one of them, is written "<domain> from". A pasted address list spans
    // many domains or none of the sender's; a company's all-hands mail goes
    // to the sender's own domain and maybe a partner's.
    std::size_t n = 0;
    std::set<std::string> hosts;  // distinct first: one Public Suffix lookup per host, not per address
    std::set<std::string> to_locals;
    for (const auto& h : msg.headers) {
      if (h.lname != "to" && h.lname != "cc") continue;
      for (std::size_t at = h.value.find('@'); at != std::string::npos; at = h.value.find('@', at + 1)) {
        if (++n > lim.max_recipients) continue;
        if (h.lname == "to" && to_locals.size() < kMaxSubjectRcpts) {
          std::size_t b = at;
          while (b > 0 && at - b < 64 && is_local_char(h.value[b - 1])) --b;
          if (at - b >= 3) to_locals.insert(h.value.substr(b, at - b));
        }
        std::size_t e = at + 1;
        while (e < h.value.size() && e - at <= 255 &&
               (core::is_alnum(h.value[e]) || h.value[e] == '.' || h.value[e] == '-'))
          ++e;
        std::string host = lower(std::string_view(h.value).substr(at + 1, e - at - 1));
        while (!host.empty() && host.back() == '.') host.pop_back();
        if (host.find('.') != std::string::npos) hosts.insert(std::move(host));
      }
    }
    set(F::to_count, static_cast<double>(n));
    std::set<std::string> domains;
    for (const auto& hh : hosts) domains.insert(registrable_domain(hh));
    if (!domains.empty()) {
      std::string joined;
      for (const auto& d : domains) {
        joined.append(joined.empty() ? "" : "\n").append(d);
        if (d == fa.domain) joined.append(" from");
      }
      fl.add("rcpt_domains", cap(joined));
    }
    if (subj && !to_locals.empty()) {
      std::string names = rcpt_in_subject(subj->value, to_locals, msg);
      if (!names.empty()) fl.add("rcpt_in_subject", std::move(names));
    }
  }
  set(F::to_undisclosed, to && lower(to->value).find("undisclosed") != std::string::npos);

  set(F::subject_missing, subj == nullptr);
  if (subj) {
    CharStats cs = char_stats(subj->value, text_unicode);
    set(F::subject_len, static_cast<double>(subj->value.size()));
    set(F::subject_caps_ratio, cs.letters >= 4 ? ratio(cs.upper, cs.letters) : 0.0);
    set(F::subject_excl, static_cast<double>(cs.excl));
    set(F::subject_encoded, subj->raw.find("=?") != std::string::npos);
    set(F::subject_non_ascii_ratio, ratio(cs.non_ascii, cs.total));  // no tree reads it: model::unread_features()
    std::string ls = lower(subj->value.substr(0, 8));
    set(F::subject_has_re, ls.starts_with("re:") || ls.starts_with("aw:") || ls.starts_with("fwd:") || ls.starts_with("fw:"));
  }
  set(F::mailer_present, msg.header("x-mailer") || msg.header("user-agent"));
  set(F::mime_version_missing, msg.header("mime-version") == nullptr &&
                                   (msg.top_content_type.starts_with("multipart") || msg.top_content_type != "text/plain"));
  {
    const std::string& ct = msg.top_content_type;
    double code = ct == "text/plain" ? 0 : ct == "text/html" ? 1 : ct == "multipart/alternative" ? 2
                : ct == "multipart/mixed" ? 3 : ct == "multipart/related" ? 4 : 5;
    set(F::ct_top, code);
  }
  if (const auto* pr = msg.header("x-priority")) set(F::priority_high, trim(pr->value).starts_with("1"));
  set(F::references_present, msg.header("references") || msg.header("in-reply-to"));
  set(F::encoded_words, static_cast<double>(msg.encoded_words));
  set(F::header_8bit, msg.header_8bit);

  // ---- body: text and HTML ----
  std::string body, html_all, plain_all;
  std::vector<HtmlLink> links;
  std::size_t images = 0, forms = 0, scripts = 0, iframes = 0, fonts = 0, comments = 0, hidden = 0;
  bool html_present = false, plain_present = false;
  std::vector<std::string> alt_html;  // html text of multipart/alternative twins
  std::string hidden_all;             // text the HTML hides by style, one line per hidden element
  for (const auto& t : msg.texts) {
    if (deadline.expired()) break;
    if (t.html) {
      html_present = true;
      HtmlInfo hi = html_to_text(t.text, lim.max_html_bytes, lim.max_urls);
      images += hi.images; forms += hi.forms; scripts += hi.scripts; iframes += hi.iframes;
      fonts += hi.font_tags; comments += hi.comments; hidden += hi.hidden_chars;
      if (!hi.hidden_text.empty() && hidden_all.size() < kMaxHiddenText)
        hidden_all.append(std::string_view(hi.hidden_text).substr(0, kMaxHiddenText - hidden_all.size())).push_back('\n');
      for (auto& l : hi.links) links.push_back(std::move(l));
      if (html_all.size() < lim.max_field_bytes)
        html_all.append(std::string_view(t.text).substr(0, lim.max_field_bytes - html_all.size()));
      if (t.in_alternative) alt_html.push_back(hi.text.substr(0, 4096));
      // The html twin of a plain part adds no new words for rules.
      if (!(t.in_alternative && plain_present)) body.append(hi.text).push_back('\n');
    } else {
      plain_present = true;
      if (plain_all.size() < 4096) plain_all.append(std::string_view(t.text).substr(0, 4096));
      body.append(t.text).push_back('\n');
    }
  }
  if (!alt_html.empty() && plain_present) {
    auto a = word_set(plain_all, 400);
    std::set<std::string> b;
    for (const auto& s : alt_html) { auto w = word_set(s, 400); b.insert(w.begin(), w.end()); }
    std::size_t common = 0;
    for (const auto& w : a) common += b.count(w);
    std::size_t uni = a.size() + b.size() - common;
    set(F::alt_mismatch, uni == 0 ? 0.0 : 1.0 - ratio(common, uni));
  }
  // Rules see LF line ends, whatever the part used: a rule author's `$` (with
  // the m flag) must match at the end of a line of CRLF mail too.
  {
    std::string in = cap(body), lf;
    lf.reserve(in.size());
    for (std::size_t i = 0; i < in.size(); ++i)
      if (!(in[i] == '\r' && i + 1 < in.size() && in[i + 1] == '\n')) lf.push_back(in[i]);
    fl.add("body", std::move(lf));
  }
  if (html_present) fl.add("html", cap(html_all));
  if (!hidden_all.empty()) fl.add("html_hidden", std::move(hidden_all));

  CharStats bs = char_stats(body, text_unicode);
  set(F::text_len_log, logsz(body.size()));
  set(F::html_present, html_present);
  set(F::plain_present, plain_present);
  set(F::html_only, html_present && !plain_present);
  set(F::html_text_ratio, html_present ? ratio(body.size(), html_all.size() + 1) : 0.0);
  set(F::body_caps_ratio, ratio(bs.upper, bs.letters));
  set(F::body_punct_ratio, ratio(bs.punct, bs.total));
  set(F::body_excl, static_cast<double>(bs.excl));
  set(F::body_dollar, static_cast<double>(bs.dollar));
  set(F::body_digit_ratio, ratio(bs.digits, bs.total));
  set(F::body_non_ascii_ratio, ratio(bs.non_ascii, bs.total));  // no tree reads it: model::unread_features()
  set(F::hidden_text_ratio, ratio(hidden, hidden + bs.total));
  set(F::html_images, static_cast<double>(images));
  set(F::html_img_no_text, images > 0 && bs.words < 30);
  set(F::html_forms, static_cast<double>(forms));
  set(F::html_scripts, static_cast<double>(scripts));
  set(F::html_iframes, static_cast<double>(iframes));
  set(F::html_font_tags, static_cast<double>(fonts));
  set(F::html_comments, static_cast<double>(comments));
  set(F::text_words, static_cast<double>(bs.words));
  set(F::body_long_word_ratio, ratio(bs.long_words, bs.words));

  // ---- URLs ----
  std::vector<std::pair<std::string, std::string>> raw_urls;  // url, link text
  for (auto& l : links) raw_urls.emplace_back(std::move(l.href), std::move(l.text));
  std::size_t html_count = raw_urls.size();
  // One past the cap, so that a message with more URLs than max_urls is flagged.
  for (auto& s : find_urls_in_text(body, lim.max_urls + 1))
    raw_urls.emplace_back(std::move(s), std::string());
  std::set<std::string> seen, domains;
  std::size_t ip_lit = 0, mismatch = 0, shortener = 0, odd_port = 0, puny = 0, userinfo = 0, https = 0, max_len = 0,
              mailto = 0, from_dom = 0, oddtld = 0, max_labels = 0, enc_host = 0;
  for (std::size_t i = 0; i < raw_urls.size(); ++i) {
    if (ex.urls.size() >= lim.max_urls) { ex.url_limit_hit = true; break; }
    if (deadline.expired()) break;
    auto& [s, text] = raw_urls[i];
    auto u = parse_url(s);
    if (!u) continue;
    u->from_html = i < html_count;
    if (u->from_html && !text.empty()) u->text_domain = domain_in_text(text);
    if (u->scheme == "mailto") { ++mailto; }
    else {
      if (!u->text_domain.empty() && u->text_domain != u->domain) ++mismatch;
      if (!seen.insert(u->url).second) continue;
      domains.insert(u->domain);
      ip_lit += u->ip_literal; shortener += u->shortener; odd_port += u->odd_port; puny += u->punycode;
      userinfo += u->userinfo; https += u->scheme == "https"; enc_host += u->encoded_host;
      max_len = std::max(max_len, u->url.size());
      if (!fa.domain.empty() && u->domain == fa.domain) ++from_dom;
      if (odd_tld(u->domain)) ++oddtld;
      max_labels = std::max<std::size_t>(max_labels, static_cast<std::size_t>(std::count(u->host.begin(), u->host.end(), '.')) + 1);
      fl.add("url", cap(u->url));
      fl.add("url_host", u->host);
    }
    ex.urls.push_back(std::move(*u));
  }
  for (const auto& d : domains) fl.add("url_domain", d);
  std::size_t web_urls = seen.size();
  set(F::url_count, static_cast<double>(web_urls));
  set(F::url_domains, static_cast<double>(domains.size()));
  set(F::url_ip_literal, static_cast<double>(ip_lit));
  set(F::url_text_mismatch, static_cast<double>(mismatch));
  set(F::url_shortener, static_cast<double>(shortener));
  set(F::url_odd_port, static_cast<double>(odd_port));
  set(F::url_punycode, static_cast<double>(puny));
  set(F::url_userinfo, static_cast<double>(userinfo));
  set(F::url_https_ratio, ratio(https, web_urls));
  set(F::url_max_len, static_cast<double>(max_len));
  set(F::url_mailto, static_cast<double>(mailto));
  set(F::url_from_domain, static_cast<double>(from_dom));
  set(F::url_odd_tld, static_cast<double>(oddtld));
  set(F::url_max_labels, static_cast<double>(max_labels));
  set(F::url_encoded_host, static_cast<double>(enc_host));
  set(F::url_per_word, ratio(web_urls, bs.words + 1));

  // ---- attachments ----
  std::size_t exec = 0, dbl = 0, archive = 0, macro = 0, mism = 0, att_images = 0, pdf = 0, arch_exec = 0, total = 0;
  for (const auto& a : msg.attachments) {
    std::string ext = ext_of(a.filename);
    if (!a.filename.empty()) fl.add("attachment_name", cap(a.filename));
    fl.add("attachment_type", a.declared_type);
    total += a.size;
    bool ex_file = exec_ext(ext) || a.sniffed_type == "exe" || a.sniffed_type == "elf" || a.sniffed_type == "script";
    exec += ex_file;
    std::string stem = a.filename.substr(0, a.filename.size() - std::min(a.filename.size(), ext.size() + 1));
    std::string inner = ext_of(stem);
    static const std::set<std::string> kDocExt = {"pdf", "doc", "docx", "xls", "xlsx", "jpg", "jpeg", "png", "txt", "zip", "html", "htm"};
    dbl += !inner.empty() && kDocExt.count(inner) && (exec_ext(ext) || ext == "html" || ext == "htm");
    bool arch = a.sniffed_type == "zip" || a.sniffed_type == "rar" || a.sniffed_type == "7z" || a.sniffed_type == "gzip" ||
                ext == "zip" || ext == "rar" || ext == "7z" || ext == "gz" || ext == "ace" || ext == "cab";
    archive += arch;
    macro += ext == "docm" || ext == "xlsm" || ext == "pptm" || ext == "dotm" || ext == "xlam";
    bool img_decl = a.declared_type.starts_with("image/");
    att_images += img_decl;
    pdf += ext == "pdf" || a.sniffed_type == "pdf";
    if ((img_decl && !a.sniffed_type.empty() && a.sniffed_type != "png" && a.sniffed_type != "jpeg" && a.sniffed_type != "gif") ||
        (ext == "pdf" && !a.sniffed_type.empty() && a.sniffed_type != "pdf") ||
        (a.sniffed_type == "exe" && !exec_ext(ext)))
      ++mism;
    for (const auto& m : a.archive_members) {
      fl.add("attachment_member", cap(m));
      if (exec_ext(ext_of(m))) ++arch_exec;
    }
    if (!a.markup.empty()) fl.add("attachment_markup", cap(a.markup));
  }
  set(F::att_count, static_cast<double>(msg.attachments.size()));
  set(F::att_exec, static_cast<double>(exec));
  set(F::att_double_ext, static_cast<double>(dbl));
  set(F::att_archive, static_cast<double>(archive));
  set(F::att_macro, static_cast<double>(macro));
  set(F::att_type_mismatch, static_cast<double>(mism));
  set(F::att_size_log, logsz(total));
  set(F::att_images, static_cast<double>(att_images));
  set(F::att_pdf, static_cast<double>(pdf));
  set(F::att_archive_exec, static_cast<double>(arch_exec));

  // ---- MIME and anomalies ----
  set(F::mime_parts, static_cast<double>(msg.parts));
  set(F::mime_depth, static_cast<double>(msg.max_depth));
  // the size without trace headers (tokenizer 6 on), see hops.hpp
  set(F::raw_size_log, logsz(hops_from_relay ? msg.size_lf - std::min(msg.size_lf, hops.trace_bytes) : msg.raw_size));
  auto an = [&](Anomaly a) { return msg.has(a); };
  set(F::an_truncated, an(Anomaly::Truncated));
  set(F::an_header_flood, an(Anomaly::HeaderFlood) || an(Anomaly::HeaderLineTooLong));
  set(F::an_bad_header, an(Anomaly::BadHeaderSyntax) || an(Anomaly::NoHeaderSeparator));
  set(F::an_invalid_utf8_header, an(Anomaly::InvalidUtf8Header));
  set(F::an_nul, an(Anomaly::NulBytes));
  set(F::an_missing_boundary, an(Anomaly::MissingBoundary));
  set(F::an_unterminated, an(Anomaly::UnterminatedMultipart));
  set(F::an_limit, an(Anomaly::DepthLimit) || an(Anomaly::PartLimit) || an(Anomaly::TextTruncated));
  set(F::an_bad_base64, an(Anomaly::BadBase64));
  set(F::an_bad_qp, an(Anomaly::BadQuotedPrintable));
  set(F::an_8bit, an(Anomaly::Undeclared8bit));
  set(F::an_charset, an(Anomaly::UnknownCharset) || an(Anomaly::BadCharsetData));
  set(F::an_encoded_word, an(Anomaly::BadEncodedWord));
  set(F::an_duplicate_header, an(Anomaly::DuplicateHeader));
  std::size_t anomalies = msg.anomalies.count() + (ex.url_limit_hit ? 1 : 0);
  set(F::anomaly_count, static_cast<double>(anomalies));
  for (std::size_t i = 0; i < mime::kAnomalyCount; ++i)
    if (msg.anomalies.test(i)) fl.add("anomaly", mime::anomaly_name(static_cast<Anomaly>(i)));
  if (ex.url_limit_hit) fl.add("anomaly", mime::anomaly_name(Anomaly::UrlLimit));

  // ---- envelope ----
  if (env.has_envelope) {
    fl.add("env_helo", env.helo);
    fl.add("env_client_ip", env.client_ip);
    fl.add("env_client_host", env.client_host);
    fl.add("env_mail_from", lower(env.mail_from));
    std::size_t nr = std::min(env.rcpt_to.size(), lim.max_recipients);
    for (std::size_t i = 0; i < nr; ++i) fl.add("env_rcpt", lower(env.rcpt_to[i]));
    if (!env.auth_user.empty()) fl.add("env_auth_user", env.auth_user);
    set(F::env_rcpt_count, static_cast<double>(env.rcpt_to.size()));
  } else {
    v[idx(F::env_rcpt_count)] = NAN;
  }
  // The client's HELO and reverse name: from the relay's hop (tokenizer 8
  // on: the envelope's during the session, else the relay's Received
  // header, so a stored copy has them too), before that from the envelope.
  auto set_client = [&](const std::string& helo, const std::string& host, bool no_name) {
    bool helo_ip = !helo.empty() && (helo.front() == '[' || std::all_of(helo.begin(), helo.end(), [](char c) { return core::is_digit(c) || c == '.'; }));
    set(F::env_helo_ip, helo_ip);
    set(F::env_helo_nodot, !helo.empty() && helo.find('.') == std::string::npos);
    set(F::env_no_rdns, no_name);
    std::string hd = registrable_domain(helo), cd = registrable_domain(host);
    set(F::env_helo_mismatch, !helo_ip && !no_name && !hd.empty() && !cd.empty() && hd != cd);
  };
  if (tokenizer == 0 || tokenizer >= 8) {
    if (hops.relay.known) set_client(hops.relay.helo, hops.relay.host, hops.relay.host.empty());
  } else if (env.has_envelope) {
    const std::string helo = lower(env.helo), host = lower(env.client_host);
    set_client(helo, host, !env.client_ip.empty() && no_rdns(env));
    // as those tokenizers read it: Sendmail's "[addr]" for no name was a name
    const std::string hd = registrable_domain(helo), cd = registrable_domain(host);
    set(F::env_helo_mismatch, v[idx(F::env_helo_ip)] == 0 && !hd.empty() && !cd.empty() && host != "unknown" && hd != cd);
  }
  if (!(tokenizer == 0 || tokenizer >= 8 ? hops.relay.known : env.has_envelope))
    for (F f : {F::env_helo_ip, F::env_helo_nodot, F::env_no_rdns, F::env_helo_mismatch}) v[idx(f)] = NAN;

  // ---- text tokens for the model's token statistics ----
  auto& tok = ex.tokens;
  tok.reserve(512);
  std::vector<std::string>* words = keep_token_words ? &ex.token_words : nullptr;
  auto push = [&](std::string_view prefix, std::string_view v) {
    if (tok.size() >= lim.max_tokens) return;
    tok.push_back(token_hash(prefix, v));
    if (words) words->push_back(std::string(prefix).append(v));
  };
  auto add = [&](std::string_view prefix, std::string_view v) {
    if (!v.empty()) push(prefix, v);
  };
  // The Subject, link domains, attachment types and sender fingerprints come
  // first and the body last, so that padding a body with words cannot push
  // the rest out of the token budget (limits.max_tokens).
  if (subj) tokenize(subj->value, "s:", tok, lim.max_tokens, words, tokenizer);
  for (const auto& d : domains) push("u:", d);
  for (const auto& a : msg.attachments) push("a:", a.declared_type + "/" + ext_of(a.filename));
  // Fingerprints of the sending software and sender, which generalise across
  // campaigns better than words: mailer name, the shape of the Message-ID,
  // the MIME boundary and the Date, charsets, the From domain and name.
  for (const char* mh : {"x-mailer", "user-agent"})
    if (const auto* h = msg.header(mh)) tokenize(std::string_view(h->value).substr(0, 200), "m:", tok, lim.max_tokens, words, tokenizer);
  if (mid) add("id:", shape_of(mid->value));
  if (date) add("dt:", shape_of(date->value));
  if (const auto* ct = msg.header("content-type")) {
    std::string lv = lower(ct->value);
    if (auto b = lv.find("boundary="); b != std::string::npos) add("bd:", shape_of(std::string_view(ct->value).substr(b + 9, 80)));
  }
  add("ct:", msg.top_content_type);
  for (const auto& t : msg.texts) add("cs:", t.charset);
  add("f:", fa.domain);
  tokenize(std::string_view(fa.name).substr(0, 100), "fn:", tok, lim.max_tokens, words, tokenizer);
  tokenize(std::string_view(body).substr(0, 64 * 1024), "b:", tok, lim.max_tokens, words, tokenizer);
  std::sort(tok.begin(), tok.end());
  tok.erase(std::unique(tok.begin(), tok.end()), tok.end());
  return ex;
}

}  // namespace tamis::features
