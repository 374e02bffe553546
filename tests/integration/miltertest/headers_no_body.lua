-- A message with headers and no body at all.
dofile(os.getenv("TAMIS_MT_LIB"))
local c = T.open()
T.expect(mt.conninfo(c, "mx.example.org", "192.0.2.10") == nil, "conninfo")
T.reply(c, SMFIR_CONTINUE, "connect")
T.start_message(c, nil, "headers only")
T.finish_accepted(c, "headers without body")
mt.disconnect(c)
