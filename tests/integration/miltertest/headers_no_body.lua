-- A message with headers and no body at all.
dofile(os.getenv("TAMIS_MT_LIB"))
local c = T.client()
T.start_message(c, nil, "headers only")
T.finish_accepted(c, "headers without body")
mt.disconnect(c)
