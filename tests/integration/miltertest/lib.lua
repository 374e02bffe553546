-- Helpers shared by the miltertest scripts. The runner sets TAMIS_MILTER to
-- the socket of a tamisd it started (scan cap 64 KiB, test rules on).
T = {}
function T.fail(msg) error("FAILED: " .. msg, 0) end
function T.expect(cond, msg) if not cond then T.fail(msg) end end
function T.reply(conn, want, what)
  local r = mt.getreply(conn)
  if r ~= want then T.fail(what .. ": reply " .. tostring(r) .. ", expected " .. tostring(want)) end
end
function T.open()
  local conn = mt.connect(os.getenv("TAMIS_MILTER"), 20, 0.25)
  T.expect(conn ~= nil, "cannot connect to tamisd")
  T.expect(mt.negotiate(conn, nil, nil, nil) == nil, "negotiation failed")
  return conn
end
-- A connection with its SMTP client announced (ip may be "unspec").
function T.client(host, ip)
  local conn = T.open()
  T.expect(mt.conninfo(conn, host or "mx.example.org", ip or "192.0.2.10") == nil, "conninfo")
  T.reply(conn, SMFIR_CONTINUE, "connect")
  return conn
end
-- Sends a body string and expects CONTINUE.
function T.body(conn, s, what)
  T.expect(mt.bodystring(conn, s) == nil, what)
  T.reply(conn, SMFIR_CONTINUE, what)
end
function T.start_message(conn, from, subject, queue_id)
  mt.macro(conn, SMFIC_MAIL, "i", queue_id or "MTQ1")
  T.expect(mt.mailfrom(conn, from or "<sender@example.org>") == nil, "mailfrom")
  T.reply(conn, SMFIR_CONTINUE, "mailfrom")
  T.expect(mt.rcptto(conn, "<user@test.example>") == nil, "rcptto")
  T.reply(conn, SMFIR_CONTINUE, "rcptto")
  for _, h in ipairs({{"From", "Alice <alice@example.org>"}, {"To", "user@test.example"},
                      {"Subject", subject or "hello"}, {"Message-ID", "<mt@example.org>"}}) do
    T.expect(mt.header(conn, h[1], h[2]) == nil, "header " .. h[1])
    T.reply(conn, SMFIR_CONTINUE, "header " .. h[1])
  end
  T.expect(mt.eoh(conn) == nil, "eoh")
  T.reply(conn, SMFIR_CONTINUE, "eoh")
end
function T.finish_accepted(conn, what)
  T.expect(mt.eom(conn) == nil, "eom")
  T.reply(conn, SMFIR_CONTINUE, what .. " eom")
  T.expect(mt.eom_check(conn, MT_HDRADD, "X-Spam-Status"), what .. ": no X-Spam-Status added")
end
