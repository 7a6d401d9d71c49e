-- Load generator: sends `count` messages, one after another on one connection, taking the raw messages
-- named in `list` (one path per line) round-robin, starting at line `offset`. Run several at once for
-- concurrency (scripts/milter-load does). Prints "sent <n>". (miltertest 2.11 itself aborts with "stack
-- smashing detected" on a header value longer than about 1 KB; leave such messages out of the list.)
--
--   miltertest -s load.lua -D socket=unix:/run/spamguard/milter.sock -D list=paths.txt -D count=100

local common = dofile((debug.getinfo(1, "S").source:match("^@?(.*/)") or "") .. "common.lua")
local fail = common.fail

local paths = {}
for line in io.lines(list) do
    if line ~= "" then paths[#paths + 1] = line end
end
if #paths == 0 then fail("no paths in " .. list) end

local conn = common.connect(socket, "load.example", "192.0.2.99")
local first = tonumber(offset or "0")
local n = tonumber(count or "10")
for i = 1, n do
    local headers, body = common.readMessage(paths[((first + i - 1) % #paths) + 1])
    common.mailFrom(conn, "<load@example.org>", "LOAD" .. first .. "x" .. i)
    common.sendMessage(conn, headers, body, 65536)
    if mt.eom(conn) ~= nil then fail("eom") end
end
mt.disconnect(conn)
print("sent " .. n)
