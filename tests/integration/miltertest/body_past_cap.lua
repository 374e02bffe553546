-- A body larger than the scan cap (64 KiB in the runner's config): once the
-- cap is reached tamisd answers SKIP (the MTA stops sending body chunks), and
-- the message is still judged and accepted with headers, not lost.
dofile(os.getenv("TAMIS_MT_LIB"))
local c = T.client()
T.start_message(c, nil, "big body")
local chunk = string.rep("0123456789", 6000)  -- 60,000 bytes (MTA body packets max 65,535)
local skipped = false
for i = 1, 8 do
  T.expect(mt.bodystring(c, chunk) == nil, "body chunk " .. i)
  local r = mt.getreply(c)
  if r == SMFIR_SKIP then skipped = true break end
  T.expect(r == SMFIR_CONTINUE, "body chunk " .. i .. " reply " .. tostring(r))
end
T.expect(skipped, "no SKIP after the scan cap")
T.finish_accepted(c, "big body")
mt.disconnect(c)
