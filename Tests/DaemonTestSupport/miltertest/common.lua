-- What the miltertest scripts beside it share. Each loads it by its own path (miltertest names a script's
-- chunk by the path given to -s), so they run from anywhere:
--
--   local common = dofile((debug.getinfo(1, "S").source:match("^@?(.*/)") or "") .. "common.lua")

local common = {}

-- Ends the script: "FAIL: <why>" on stderr, exit status 1.
function common.fail(text)
    io.stderr:write("FAIL: " .. text .. "\n")
    os.exit(1)
end

-- Connects to the milter at `socket` and introduces an SMTP client (`host`, `address`).
function common.connect(socket, host, address)
    local conn = mt.connect(socket, 40, 0.25) or common.fail("cannot connect to " .. socket)
    if mt.conninfo(conn, host, address) ~= nil then common.fail("conninfo") end
    return conn
end

-- Starts a message: the queue id (and {auth_authen} if `auth`) with MAIL FROM:<from>.
function common.mailFrom(conn, from, queueid, auth)
    if auth then
        mt.macro(conn, SMFIC_MAIL, "i", queueid, "{auth_authen}", auth)
    else
        mt.macro(conn, SMFIC_MAIL, "i", queueid)
    end
    if mt.mailfrom(conn, from) ~= nil then common.fail("mailfrom") end
end

-- Reads a raw message (LF or CRLF line ends): its headers in order ({name, value}; a folded header's
-- continuation lines joined to its value with CRLF) and its body with CRLF line ends.
function common.readMessage(path)
    local file = io.open(path, "rb") or common.fail("cannot open " .. path)
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
    return headers, (body:gsub("\n", "\r\n"))
end

-- Sends the headers, the end of the headers and the body (in pieces of `chunk` bytes if given; nothing if empty).
function common.sendMessage(conn, headers, body, chunk)
    for _, header in ipairs(headers) do
        if mt.header(conn, header.name, header.value) ~= nil then common.fail("header " .. header.name) end
    end
    if mt.eoh(conn) ~= nil then common.fail("eoh") end
    chunk = chunk or math.max(#body, 1)
    for at = 1, #body, chunk do
        if mt.bodystring(conn, body:sub(at, at + chunk - 1)) ~= nil then common.fail("body") end
    end
end

return common
