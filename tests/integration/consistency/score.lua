-- Sends the message named by TAMIS_MESSAGE through tamisd exactly as
-- it is (same header lines, same body bytes), from a client at 192.0.2.10,
-- and prints the score from the X-Spam-Status header tamisd adds.
local f = assert(io.open(os.getenv("TAMIS_MESSAGE"), "rb"))
local raw = f:read("*a")
f:close()
local head, body = raw:match("^(.-)\r\n\r\n(.*)$")
local conn = mt.connect(os.getenv("TAMIS_MILTER"), 20, 0.25)
assert(conn, "connect")
assert(mt.negotiate(conn, nil, nil, nil) == nil)
assert(mt.conninfo(conn, "mx.example.org", "192.0.2.10") == nil)
assert(mt.helo(conn, "mx.example.org") == nil)
assert(mt.mailfrom(conn, "<claims.office@example.net>") == nil)
assert(mt.rcptto(conn, "<user@test.example>") == nil)
for line in (head .. "\r\n"):gmatch("(.-)\r\n") do
  local name, value = line:match("^([^:]+):%s?(.*)$")
  assert(mt.header(conn, name, value) == nil, "header " .. name)
end
assert(mt.eoh(conn) == nil)
assert(mt.bodystring(conn, body) == nil)
assert(mt.eom(conn) == nil)
local status = mt.getheader(conn, "X-Spam-Status", 0)
assert(status, "no X-Spam-Status added")
print("score=" .. status:match("score=(%-?[%d.]+)"))
mt.disconnect(conn)
