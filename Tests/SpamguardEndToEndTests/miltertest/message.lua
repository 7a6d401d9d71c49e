-- Sends one message through the milter, as an MTA would, and checks what the filter did with it.
--
--   miltertest -s message.lua -D socket=unix:/run/spamguard/milter.sock -D message=mail.eml -D expect=spam
--
-- expect: ham (X-Spam-Status: No), spam (X-Spam-Flag: YES), reject (550 5.7.1), scanned (any
-- X-Spam-Status), unscanned (accepted at MAIL FROM, nothing added).
-- Optional: -D auth=<user> sets {auth_authen}; -D client=<ip>; -D queueid=<id>; -D reject_text=<text>;
-- -D deleted=<header> expects that header deleted; -D quarantine=1 expects quarantine;
-- -D subject=<text> expects the Subject changed to <text>.

local function fail(text)
    io.stderr:write("FAIL: " .. text .. "\n")
    os.exit(1)
end

local function readMessage(path)
    local file = io.open(path, "rb") or fail("cannot open " .. path)
    local raw = file:read("*a"):gsub("\r\n", "\n")
    file:close()
    local split = raw:find("\n\n", 1, true)
    local head = split and raw:sub(1, split) or raw
    local body = split and raw:sub(split + 2) or ""
    local headers = {}
    for line in head:gmatch("([^\n]*)\n") do
        if line:match("^[ \t]") and #headers > 0 then
            headers[#headers].value = headers[#headers].value .. "\r\n" .. line
        elseif line ~= "" then
            local name, value = line:match("^([^:]+):[ \t]*(.*)$")
            if name then headers[#headers + 1] = { name = name, value = value } end
        end
    end
    return headers, body:gsub("\n", "\r\n")
end

local conn = mt.connect(socket, 40, 0.25) or fail("cannot connect to " .. socket)
if mt.conninfo(conn, "client.example", client or "192.0.2.10") ~= nil then fail("conninfo") end
if mt.getreply(conn) == SMFIR_ACCEPT then
    if expect == "unscanned" then mt.disconnect(conn) print("unscanned (connection)") return end
    fail("the filter skipped the connection")
end
if auth then
    mt.macro(conn, SMFIC_MAIL, "i", queueid or "TESTQ1", "{auth_authen}", auth)
else
    mt.macro(conn, SMFIC_MAIL, "i", queueid or "TESTQ1")
end
if mt.mailfrom(conn, "<sender@example.org>") ~= nil then fail("mailfrom") end
if mt.getreply(conn) == SMFIR_ACCEPT then
    if expect == "unscanned" then mt.disconnect(conn) print("unscanned (message)") return end
    fail("the filter accepted the message at MAIL FROM without scanning it")
end
if expect == "unscanned" then fail("the message was not passed unscanned") end

local headers, body = readMessage(message)
for _, header in ipairs(headers) do
    if mt.header(conn, header.name, header.value) ~= nil then fail("header " .. header.name) end
end
if mt.eoh(conn) ~= nil then fail("eoh") end
if #body > 0 and mt.bodystring(conn, body) ~= nil then fail("body") end
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
    if expect == "ham" and (flagged or not status:match("^No, score=")) then fail("expected ham") end
    if expect == "spam" and (not flagged or not status:match("^Yes, score=")) then fail("expected spam") end
    if expect == "scanned" and not (status:match("^Yes, score=") or status:match("^No, score=")) then fail("no verdict") end
end
if deleted and not mt.eom_check(conn, MT_HDRDELETE, deleted) then fail("expected " .. deleted .. " deleted") end
if quarantine and not mt.eom_check(conn, MT_QUARANTINE) then fail("expected quarantine") end
if not quarantine and mt.eom_check(conn, MT_QUARANTINE) then fail("unexpected quarantine") end
if subject and not mt.eom_check(conn, MT_HDRCHANGE, "Subject", subject) then fail("expected Subject: " .. subject) end
mt.disconnect(conn)
