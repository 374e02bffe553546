// The Received hops of a message, counted the same way whether the message
// is scanned by tamisd during the SMTP session or read from a mailbox.
//
// A stored message carries, above the relay's own Received header, the hops
// of its delivery after the relay (a local re-injection, a content filter on
// loopback, fetchmail), and the headers final delivery adds (Return-Path,
// Delivered-To, X-Original-To). A message tamisd scans has none of these, nor
// the relay's own Received header: the MTA adds that after the milter has
// seen the message. So the hops are counted from the relay's: the hop the
// envelope describes (client address, its reverse name, HELO, time) is put
// on top, leading hops from the host itself or a private network are
// skipped, and the delivery headers are not counted, nor the warning
// Sendmail adds below its own hop for a client that never said HELO
// ("X-Authentication-Warning: RELAY: ... didn't use HELO protocol"). Nor are
// verdicts (X-Spam-*, tamisd's X-Tamis-*): whoever wrote them, they are not
// evidence.
// The message's size leaves out all of these and every Received header
// (trace_bytes), so it too is the same in the session and in the mailbox.
//
//   HopCounts h = count_hops(msg.headers, env);
//
// Pure function; safe from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/types.hpp"
#include "mime/message.hpp"

namespace tamis::features {

// The relay's hop: the client that handed the message to the relay (the
// MTA tamisd serves), as the envelope says during the session or as the
// relay's Received header says in a stored copy.
struct RelayHop {
  bool known = false;  // false: no hop, or a Received header of a form not read
  std::string helo;    // lower case, as the client gave it ("[192.0.2.1]" for an address literal)
  std::string host;    // its reverse name, lower case; "" if it has none
};

struct HopCounts {
  std::size_t hops = 0;          // Received hops from the relay's down
  std::size_t unknown_rdns = 0;  // of those, from a client without a reverse DNS name (below)
  std::size_t ip_only = 0;       // of those, "from [IP]" (an address literal as HELO)
  std::size_t headers = 0;       // header fields, without the skipped hops, delivery headers and verdicts
  std::size_t trace_bytes = 0;   // bytes of every Received header and of the uncounted ones
  // When the first counted hop that has a date was made: the envelope's
  // received_time for the relay's own hop, else the text after the ';' of a
  // Received header ("" and 0: no counted hop has a date).
  std::int64_t relay_time = 0;
  std::string_view first_date;
  RelayHop relay;  // the first counted hop's client
};

// A Received header's client, read from the forms of Postfix and Sendmail
// ("from HELO (NAME [addr])", "(unknown [addr])", "([addr])"), Exim ("from
// NAME ([addr] helo=HELO)", "from [addr] (helo=HELO)") and qmail ("from NAME
// (HELO HELO) (addr)"); not known for other forms.
RelayHop relay_of(std::string_view received);

// A hop's client has no reverse name if the hop has "unknown" in it
// (Postfix's "(unknown [addr])", qmail's "from unknown") or, with
// `sendmail_form` (tokenizer 7 on), is Sendmail's "from HELO ([addr]) by
// HOST (8.x/8.x)": during the session the envelope says it, whichever MTA
// wrote the hop in the stored copy.
HopCounts count_hops(const std::vector<mime::HeaderField>& headers, const core::Envelope& env, bool sendmail_form = true);

// As tokenizers before 6 counted, for their models: every header field and
// every Received header, the first one's date, the whole message's size
// (trace_bytes 0).
HopCounts count_every_hop(const std::vector<mime::HeaderField>& headers);

// True if the leading Received header `value` records a hop on the recipient's
// side of the relay: one with no "from" clause (a local injection), one from a
// loopback or private address or from "localhost" (and from no public
// address), or one "by localhost" (fetchmail).
bool local_hop(std::string_view value);

// True if the envelope's client has no reverse DNS name (the MTA says
// "unknown" or gives the address in brackets).
bool no_rdns(const core::Envelope& env);

}  // namespace tamis::features
