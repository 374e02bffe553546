-- Abort in the middle of the body (the client dropped DATA): the transaction
-- is dropped; the next message on the same connection is judged on its own.
dofile(os.getenv("TAMIS_MT_LIB"))
local c = T.client()
T.start_message(c, nil, "tamis-test-reject (aborted, never judged)")
T.body(c, "first half of the body\r\n", "body")
T.expect(mt.abort(c) == nil, "abort")
T.start_message(c, nil, "an ordinary second message")
T.body(c, "hello\r\n", "body 2")
T.finish_accepted(c, "message after abort")
mt.disconnect(c)
