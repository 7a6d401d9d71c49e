-- Load generator: sends `count` messages, one after another on one connection, taking the raw messages
-- named in `list` (one path per line) round-robin, starting at line `offset`. Run several at once for
-- concurrency (scripts/milter-load does). Prints "sent <n>". (miltertest 2.11 itself aborts with "stack
-- smashing detected" on a header value longer than about 1 KB; leave such messages out of the list.)
--
--   miltertest -s load.lua -D socket=unix:/run/spamguard/milter.sock -D list=paths.txt -D count=100

local function fail(text)
    io.stderr:write("FAIL: " .. text .. "\n")
    os.exit(1)
end

local paths = {}
for line in io.lines(list) do
    if line ~= "" then paths[#paths + 1] = line end
end
if #paths == 0 then fail("no paths in " .. list) end

local function split(path)
    local file = io.open(path, "rb") or fail("cannot open " .. path)
    local raw = file:read("*a"):gsub("\r\n", "\n")
    file:close()
    local at = raw:find("\n\n", 1, true)
    local head, body = at and raw:sub(1, at) or raw, at and raw:sub(at + 2) or ""
    local headers = {}
    for line in head:gmatch("([^\n]*)\n") do
        if line:match("^[ \t]") and #headers > 0 then
            headers[#headers].value = headers[#headers].value .. "\r\n" .. line
        else
            local name, value = line:match("^([^:]+):[ \t]*(.*)$")
            if name then headers[#headers + 1] = { name = name, value = value } end
        end
    end
    return headers, body:gsub("\n", "\r\n")
end

local conn = mt.connect(socket, 40, 0.25) or fail("cannot connect to " .. socket)
if mt.conninfo(conn, "load.example", "192.0.2.99") ~= nil then fail("conninfo") end
local first = tonumber(offset or "0")
local n = tonumber(count or "10")
local start = os.time()
local clock = os.clock
for i = 1, n do
    local headers, body = split(paths[((first + i - 1) % #paths) + 1])
    mt.macro(conn, SMFIC_MAIL, "i", "LOAD" .. first .. "x" .. i)
    if mt.mailfrom(conn, "<load@example.org>") ~= nil then fail("mailfrom") end
    for _, header in ipairs(headers) do
        if mt.header(conn, header.name, header.value) ~= nil then fail("header") end
    end
    if mt.eoh(conn) ~= nil then fail("eoh") end
    local chunk = 65536
    for at = 1, #body, chunk do
        if mt.bodystring(conn, body:sub(at, at + chunk - 1)) ~= nil then fail("body") end
    end
    if mt.eom(conn) ~= nil then fail("eom") end
end
mt.disconnect(conn)
print("sent " .. n)
