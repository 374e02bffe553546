-- A connection that closes before any SMTP command: close is the only
-- callback, with no private data. tamisd must survive and keep serving.
dofile(os.getenv("TAMIS_MT_LIB"))
local c = mt.connect(os.getenv("TAMIS_MILTER"), 20, 0.25)
T.expect(c ~= nil, "connect")
mt.disconnect(c)
local c2 = T.client()
T.start_message(c2, nil, "after close-only")
T.body(c2, "still alive\r\n", "body")
T.finish_accepted(c2, "after close-only")
mt.disconnect(c2)
