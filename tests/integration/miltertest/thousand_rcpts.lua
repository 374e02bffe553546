-- 1,000 recipients on one message.
dofile(os.getenv("TAMIS_MT_LIB"))
local c = T.client()
mt.macro(c, SMFIC_MAIL, "i", "MTRCPT")
T.expect(mt.mailfrom(c, "<list@example.org>") == nil, "mailfrom")
T.reply(c, SMFIR_CONTINUE, "mailfrom")
for i = 1, 1000 do
  T.expect(mt.rcptto(c, "<user" .. i .. "@test.example>") == nil, "rcpt " .. i)
  T.reply(c, SMFIR_CONTINUE, "rcpt " .. i)
end
T.expect(mt.header(c, "Subject", "to a thousand") == nil, "header")
T.reply(c, SMFIR_CONTINUE, "header")
T.expect(mt.eoh(c) == nil, "eoh")
T.reply(c, SMFIR_CONTINUE, "eoh")
T.body(c, "hello all\r\n", "body")
T.finish_accepted(c, "1000 recipients")
mt.disconnect(c)
