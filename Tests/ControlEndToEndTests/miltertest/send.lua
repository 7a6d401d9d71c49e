-- Sends one message through the milter as an MTA would and checks what the filter did with it.
--
--   miltertest -s send.lua -D socket=unix:/path/milter.sock -D message=mail.eml -D expect=ham
--
-- expect: ham (X-Spam-Status: No, no flag), tagged (X-Spam-Flag: YES), rejected (550 5.7.1), or skipped
-- (accepted at MAIL FROM; give -D auth=<user> so that the filter skips the authenticated sender).
-- Prints "outcome <expect> X-Spam-Status: <value>" on success, "FAIL: <why>" on stderr and exit 1 otherwise.

local function fail(text)
    io.stderr:write("FAIL: " .. text .. "\n")
    os.exit(1)
end

local function readMessage(path)
    local file = io.open(path, "rb") or fail("cannot open " .. path)
    local raw = file:read("*a"):gsub("\r\n", "\n")
    file:close()
    local split = raw:find("\n\n", 1, true) or fail(path .. " has no blank line after its headers")
    local headers = {}
    for line in raw:sub(1, split):gmatch("([^\n]*)\n") do
        local name, value = line:match("^([^:]+):[ \t]*(.*)$")
        if name then headers[#headers + 1] = { name = name, value = value } end
    end
    return headers, raw:sub(split + 2):gsub("\n", "\r\n")
end

local conn = mt.connect(socket, 40, 0.25) or fail("cannot connect to " .. socket)
if mt.conninfo(conn, "client.example", "192.0.2.10") ~= nil then fail("conninfo") end
if mt.getreply(conn) ~= SMFIR_CONTINUE then fail("the filter did not continue the connection") end
if auth then
    mt.macro(conn, SMFIC_MAIL, "i", queueid or "CTLQ1", "{auth_authen}", auth)
else
    mt.macro(conn, SMFIC_MAIL, "i", queueid or "CTLQ1")
end
if mt.mailfrom(conn, "<sender@example.org>") ~= nil then fail("mailfrom") end
local atMailFrom = mt.getreply(conn)
if expect == "skipped" then
    if atMailFrom ~= SMFIR_ACCEPT then fail("expected the message to be accepted unscanned at MAIL FROM") end
    mt.disconnect(conn)
    print("outcome skipped")
    return
end
if atMailFrom ~= SMFIR_CONTINUE then fail("the filter accepted the message at MAIL FROM without scanning it") end

local headers, body = readMessage(message)
for _, header in ipairs(headers) do
    if mt.header(conn, header.name, header.value) ~= nil then fail("header " .. header.name) end
end
if mt.eoh(conn) ~= nil then fail("eoh") end
if mt.bodystring(conn, body) ~= nil then fail("body") end
if mt.eom(conn) ~= nil then fail("eom") end

local reply = mt.getreply(conn)
local status = mt.getheader(conn, "X-Spam-Status", 0)
if expect == "rejected" then
    if reply ~= SMFIR_REPLYCODE then fail("expected a 550 reply, got " .. string.char(reply)) end
    if not mt.eom_check(conn, MT_SMTPREPLY, "550", "5.7.1", "Message classified as spam") then fail("expected 550 5.7.1") end
else
    if reply ~= SMFIR_CONTINUE and reply ~= SMFIR_ACCEPT then fail("unexpected reply " .. string.char(reply)) end
    if status == nil then fail("no X-Spam-Status header") end
    local flagged = mt.eom_check(conn, MT_HDRADD, "X-Spam-Flag", "YES")
    if expect == "ham" and (flagged or not status:match("^No, score=")) then fail("expected ham, got " .. status) end
    if expect == "tagged" and (not flagged or not status:match("^Yes, score=")) then fail("expected tagged, got " .. status) end
end
mt.disconnect(conn)
print("outcome " .. expect .. " X-Spam-Status: " .. tostring(status))
