-- Two messages on one connection: the second is rejected, the first was not,
-- and nothing of the first leaks into the second.
dofile(os.getenv("TAMIS_MT_LIB"))
local c = T.client()
T.start_message(c, nil, "first, harmless")
T.body(c, "hello\r\n", "body 1")
T.finish_accepted(c, "first message")
T.start_message(c, nil, "second tamis-test-reject", "MTQ2")
T.body(c, "buy\r\n", "body 2")
T.expect(mt.eom(c) == nil, "eom 2")
T.reply(c, SMFIR_REPLYCODE, "second message (reject with 550 5.7.1)")
mt.disconnect(c)
