-- A connection that closes before any SMTP command: close is the only
-- callback, with no private data. tamisd must survive and keep serving.
dofile(os.getenv("TAMIS_MT_LIB"))
local c = mt.connect(os.getenv("TAMIS_MILTER"), 20, 0.25)
T.expect(c ~= nil, "connect")
mt.disconnect(c)
local c2 = T.open()
T.expect(mt.conninfo(c2, "mx.example.org", "192.0.2.10") == nil, "conninfo")
T.reply(c2, SMFIR_CONTINUE, "connect")
T.start_message(c2, nil, "after close-only")
T.expect(mt.bodystring(c2, "still alive\r\n") == nil, "body")
T.reply(c2, SMFIR_CONTINUE, "body")
T.finish_accepted(c2, "after close-only")
mt.disconnect(c2)
