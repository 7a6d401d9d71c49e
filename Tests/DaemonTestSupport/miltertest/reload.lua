-- Starts a message, has the daemon reload (SIGHUP) in the middle of it, then finishes the message on the
-- same connection: the connection must survive and the message get its verdict.
--
--   miltertest -s reload.lua -D socket=unix:/run/spamguard/milter.sock -D pid=<daemon pid> -D log=<its log>
-- After the SIGHUP the script waits until the daemon's log shows the reloaded model, then goes on.

local common = dofile((debug.getinfo(1, "S").source:match("^@?(.*/)") or "") .. "common.lua")
local fail = common.fail

local conn = common.connect(socket, "client.example", "192.0.2.30")
common.mailFrom(conn, "<a@example.org>", "RELOADQ")
if mt.header(conn, "Subject", "WIN CASH PRIZE NOW") ~= nil then fail("header") end
os.execute("kill -HUP " .. pid)
local reloaded = false
for i = 1, 400 do
    local f = io.open(log, "r")
    if f then
        reloaded = f:read("*a"):find("reload: model", 1, true) ~= nil
        f:close()
    end
    if reloaded then break end
    mt.sleep(0.05)
end
if not reloaded then fail("the daemon did not log a reloaded model") end
if mt.eoh(conn) ~= nil then fail("eoh after reload") end
if mt.bodystring(conn, "click here to claim your prize money today\r\n") ~= nil then fail("body after reload") end
if mt.eom(conn) ~= nil then fail("eom after reload") end
if not mt.eom_check(conn, MT_HDRADD, "X-Spam-Flag", "YES") then fail("no verdict after reload") end
mt.disconnect(conn)
print("ok")
