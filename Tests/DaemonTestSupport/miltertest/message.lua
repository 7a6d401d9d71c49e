-- Sends one message through the milter, as an MTA would, and checks what the filter did with it.
--
--   miltertest -s message.lua -D socket=unix:/run/spamguard/milter.sock -D message=mail.eml -D expect=spam
--
-- expect: ham (X-Spam-Status: No), spam (X-Spam-Flag: YES), reject (550 5.7.1), scanned (any
-- X-Spam-Status), unscanned (accepted unscanned: at MAIL FROM, or already at the connection unless the
-- sender is authenticated, which the filter learns only at MAIL FROM; nothing added).
-- Optional: -D auth=<user> sets {auth_authen}; -D client=<ip>; -D queueid=<id>; -D reject_text=<text>;
-- -D deleted=<header> expects that header deleted; -D quarantine=1 expects quarantine;
-- -D subject=<text> expects the Subject changed to <text>.
-- Prints "reply <code>, X-Spam-Score: <score>, X-Spam-Status: <status>" (or "unscanned (<where>)"); on
-- failure "FAIL: <why>" on stderr and exit status 1.

local common = dofile((debug.getinfo(1, "S").source:match("^@?(.*/)") or "") .. "common.lua")
local fail = common.fail

local conn = common.connect(socket, "client.example", client or "192.0.2.10")
local atConnect = mt.getreply(conn)
if atConnect == SMFIR_ACCEPT and expect == "unscanned" and not auth then
    mt.disconnect(conn)
    print("unscanned (connection)")
    return
end
if atConnect ~= SMFIR_CONTINUE then fail("the filter did not continue the connection") end
common.mailFrom(conn, "<sender@example.org>", queueid or "TESTQ1", auth)
local atMailFrom = mt.getreply(conn)
if atMailFrom == SMFIR_ACCEPT and expect == "unscanned" then
    mt.disconnect(conn)
    print("unscanned (message)")
    return
end
if atMailFrom ~= SMFIR_CONTINUE then fail("the filter accepted the message at MAIL FROM without scanning it") end
if expect == "unscanned" then fail("the message was not passed unscanned") end

local headers, body = common.readMessage(message)
common.sendMessage(conn, headers, body)
if mt.eom(conn) ~= nil then fail("eom") end

local reply = mt.getreply(conn)
local status = mt.getheader(conn, "X-Spam-Status", 0)
local score = mt.getheader(conn, "X-Spam-Score", 0)
print("reply " .. string.char(reply) .. ", X-Spam-Score: " .. tostring(score) .. ", X-Spam-Status: " .. tostring(status))

if expect == "reject" then
    if reply ~= SMFIR_REPLYCODE then fail("expected a reply code, got " .. string.char(reply)) end
    if not mt.eom_check(conn, MT_SMTPREPLY, "550", "5.7.1", reject_text or "Message classified as spam") then
        fail("expected 550 5.7.1")
    end
else
    if reply ~= SMFIR_CONTINUE and reply ~= SMFIR_ACCEPT then fail("unexpected reply " .. string.char(reply)) end
    if status == nil or score == nil then fail("X-Spam-Status or X-Spam-Score missing") end
    if not score:match("^%d%.%d%d%d$") then fail("X-Spam-Score is not a 3-decimal score: " .. score) end
    local flagged = mt.eom_check(conn, MT_HDRADD, "X-Spam-Flag", "YES")
    if expect == "ham" and (flagged or not status:match("^No, score=")) then fail("expected ham, got " .. status) end
    if expect == "spam" and (not flagged or not status:match("^Yes, score=")) then fail("expected spam, got " .. status) end
    if expect == "scanned" and not (status:match("^Yes, score=") or status:match("^No, score=")) then fail("no verdict") end
end
if deleted and not mt.eom_check(conn, MT_HDRDELETE, deleted) then fail("expected " .. deleted .. " deleted") end
if quarantine and not mt.eom_check(conn, MT_QUARANTINE) then fail("expected quarantine") end
if not quarantine and mt.eom_check(conn, MT_QUARANTINE) then fail("unexpected quarantine") end
if subject and not mt.eom_check(conn, MT_HDRCHANGE, "Subject", subject) then fail("expected Subject: " .. subject) end
mt.disconnect(conn)
