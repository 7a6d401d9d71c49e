-- Aborts a message halfway, then sends a whole one on the same connection; finally opens connections
-- that are dropped mid-message without a goodbye. The daemon must answer the second message and free
-- every connection's state.
--
--   miltertest -s abort.lua -D socket=unix:/run/spamguard/milter.sock

local function fail(text)
    io.stderr:write("FAIL: " .. text .. "\n")
    os.exit(1)
end

local conn = mt.connect(socket, 40, 0.25) or fail("cannot connect to " .. socket)
if mt.conninfo(conn, "client.example", "192.0.2.20") ~= nil then fail("conninfo") end
mt.macro(conn, SMFIC_MAIL, "i", "ABORTED1")
if mt.mailfrom(conn, "<a@example.org>") ~= nil then fail("mailfrom") end
if mt.header(conn, "Subject", "WIN CASH PRIZE NOW") ~= nil then fail("header") end
if mt.eoh(conn) ~= nil then fail("eoh") end
if mt.bodystring(conn, "click here to claim") ~= nil then fail("body") end
if mt.abort(conn) ~= nil then fail("abort") end

mt.macro(conn, SMFIC_MAIL, "i", "AFTERABORT")
if mt.mailfrom(conn, "<b@example.org>") ~= nil then fail("second mailfrom") end
if mt.header(conn, "Subject", "Meeting notes for tuesday") ~= nil then fail("second header") end
if mt.eoh(conn) ~= nil then fail("second eoh") end
if mt.bodystring(conn, "see you at the usual place around noon\r\n") ~= nil then fail("second body") end
if mt.eom(conn) ~= nil then fail("second eom") end
local status = mt.getheader(conn, "X-Spam-Status", 0)
if status == nil or not status:match("^No, score=") then fail("second message: " .. tostring(status)) end
mt.disconnect(conn)

for i = 1, 10 do
    local dropped = mt.connect(socket, 40, 0.25) or fail("cannot connect")
    if mt.conninfo(dropped, "client.example", "192.0.2.21") ~= nil then fail("conninfo") end
    if mt.mailfrom(dropped, "<c@example.org>") ~= nil then fail("mailfrom") end
    if mt.header(dropped, "Subject", "dropped " .. i) ~= nil then fail("header") end
    mt.disconnect(dropped, false)
end
print("ok")
