-- Aborts a message halfway, then sends a whole one on the same connection; finally opens connections
-- that are dropped mid-message without a goodbye. The daemon must answer the second message and free
-- every connection's state.
--
--   miltertest -s abort.lua -D socket=unix:/run/spamguard/milter.sock

local common = dofile((debug.getinfo(1, "S").source:match("^@?(.*/)") or "") .. "common.lua")
local fail = common.fail

local conn = common.connect(socket, "client.example", "192.0.2.20")
common.mailFrom(conn, "<a@example.org>", "ABORTED1")
if mt.header(conn, "Subject", "WIN CASH PRIZE NOW") ~= nil then fail("header") end
if mt.eoh(conn) ~= nil then fail("eoh") end
if mt.bodystring(conn, "click here to claim") ~= nil then fail("body") end
if mt.abort(conn) ~= nil then fail("abort") end

common.mailFrom(conn, "<b@example.org>", "AFTERABORT")
common.sendMessage(conn, { { name = "Subject", value = "Meeting notes for tuesday" } }, "see you at the usual place around noon\r\n")
if mt.eom(conn) ~= nil then fail("second eom") end
local status = mt.getheader(conn, "X-Spam-Status", 0)
if status == nil or not status:match("^No, score=") then fail("second message: " .. tostring(status)) end
mt.disconnect(conn)

for i = 1, 10 do
    local dropped = common.connect(socket, "client.example", "192.0.2.21")
    if mt.mailfrom(dropped, "<c@example.org>") ~= nil then fail("mailfrom") end
    if mt.header(dropped, "Subject", "dropped " .. i) ~= nil then fail("header") end
    mt.disconnect(dropped, false)
end
print("ok")
