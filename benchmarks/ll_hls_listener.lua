-- wrk script: every connection behaves like one hls.js low-latency player at the live
-- edge of one LL-HLS stream. Driven by benchmarks/_wrk.py; the URL given to wrk is the
-- stream's directory, e.g. http://127.0.0.1:8080/hls/demo/
--
-- A player repeats: blocking playlist reload for the part after the newest it holds
-- (live.m3u8?_HLS_msn=N&_HLS_part=P), then GET that part (segN.P.m4s). Both requests
-- wait at the server until the part exists, so connections pace themselves at the live
-- edge: ~2 requests per part, 1/0.256 s parts per second.
--
-- wrk's Lua hooks do not say which connection a response belongs to, so the player's
-- state travels with its requests instead: each response decides the next request of
-- that player (a playlist names the newest part; a part names itself by its tfdt, see
-- `index_offset` below) and puts it on a per-thread queue, and the next request()
-- takes it from there. Each connection still sends one request at a time; the players
-- may trade connections, which changes nothing the server sees.
--
-- Script arguments (after `--`), key=value:
--   part_samples   tfdt units per part (12288 = 12 AAC frames at 48 kHz)
--   index_offset   global part number = floor(tfdt / part_samples) + index_offset
--                  (the wrapper measures it on the live stream before the run)
--   parts_per_segment, part_duration, hold_back (seconds)
--   progress       seconds between progress lines from each thread (0 = none)
--   playlist       playlist file name (live.m3u8)
--   mode           "parts" (default: a low-latency player) or "segments": a player of
--                  whole segments (blocking reload live.m3u8?_HLS_msn=N for the next
--                  complete segment, then segN.m4s), as a non-low-latency HLS player
--                  costs; "parts" counters then count segments.

local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_usec; } th_timeval_t;
int gettimeofday(th_timeval_t *tv, void *tz);
]]
local tv = ffi.new("th_timeval_t")
local function now()
  ffi.C.gettimeofday(tv, nil)
  return tonumber(tv.tv_sec) + tonumber(tv.tv_usec) * 1e-6
end

local floor = math.floor
local byte, find, sub, gmatch = string.byte, string.find, string.sub, string.gmatch

-- Globals are per thread (one Lua state each); done() reads them with thread:get().
parts = 0            -- media parts received (200)
part_bytes = 0
playlists = 0        -- playlists received (200)
reload_timeouts = 0  -- blocking reloads the server answered 503 (part did not come)
errors = 0           -- other non-200 answers
unknown = 0          -- 200 answers that were neither a playlist nor a part
late = 0             -- parts received later than hold_back after their last sample
min_index = -1       -- first and last part number received
max_index = -1
age_hist = {}        -- part age in 10 ms buckets (0..1000)
age_sum = 0.0
thread_id = 0

local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("thread_id", counter)
  table.insert(threads, thread)
end

local cfg = {
  part_samples = 12288, index_offset = 0, parts_per_segment = 8, part_duration = 0.256,
  hold_back = 0.768, progress = 0, playlist = "live.m3u8", mode = "parts",
}
local SEGMENTS = false  -- mode == "segments"
local unit_duration = 0.256
local base, host_header
local queue, head, tail = {}, 1, 0
local part_req, reload_req = {}, {}
local pdt_of = {}      -- part number -> PROGRAM-DATE-TIME (unix seconds)
local known_low = nil  -- oldest key kept in the caches above
local newest_of, newest_count = {}, 0  -- playlist tail -> newest part number
local last_newest = nil                   -- newest part number this thread has seen
local started, next_progress

function init(args)
  for _, a in ipairs(args) do
    local k, v = a:match("^([%w_]+)=(.*)$")
    if k then cfg[k] = tonumber(v) or v end
  end
  base = wrk.path
  if sub(base, -1) ~= "/" then base = base .. "/" end
  local host = wrk.host
  if wrk.port then host = host .. ":" .. wrk.port end
  host_header = "\r\nHost: " .. host .. "\r\n\r\n"
  for i = 0, 1000 do age_hist[i] = 0 end
  SEGMENTS = cfg.mode == "segments"
  unit_duration = SEGMENTS and cfg.part_duration * cfg.parts_per_segment or cfg.part_duration
  started = now()
  next_progress = started + (cfg.progress > 0 and cfg.progress or 1e18)
end

local function get(path)
  return "GET " .. base .. path .. " HTTP/1.1" .. host_header
end

local plain_playlist

local function start_request()
  if not plain_playlist then plain_playlist = get(cfg.playlist) end
  return plain_playlist
end

local function split(k)
  local pps = cfg.parts_per_segment
  return floor(k / pps), k % pps
end

local function forget_before(k)
  -- Keep the per-part caches small: only the last ~64 parts.
  if known_low == nil then known_low = k end
  while known_low < k - 64 do
    part_req[known_low], reload_req[known_low], pdt_of[known_low] = nil, nil, nil
    known_low = known_low + 1
  end
end

local function part_request(k)
  local r = part_req[k]
  if not r then
    local msn, p = split(k)
    if SEGMENTS then
      r = get("seg" .. k .. ".m4s")
    else
      r = get("seg" .. msn .. "." .. p .. ".m4s")
    end
    part_req[k] = r
    forget_before(k)
  end
  return r
end

local function reload_request(k)
  local r = reload_req[k]
  if not r then
    local msn, p = split(k)
    if SEGMENTS then
      r = get(cfg.playlist .. "?_HLS_msn=" .. k)
    else
      r = get(cfg.playlist .. "?_HLS_msn=" .. msn .. "&_HLS_part=" .. p)
    end
    reload_req[k] = r
    forget_before(k)
  end
  return r
end

local function push(r)
  tail = tail + 1
  queue[tail] = r
end

function request()
  if head <= tail then
    local r = queue[head]
    queue[head] = nil
    head = head + 1
    return r
  end
  -- A new connection (or one that wrk reconnected): start like a player, with the
  -- live playlist as it is.
  return start_request()
end

-- "2026-11-24T15:19:53.678Z" -> unix seconds (UTC; days from civil date).
local function iso_time(s)
  local y, mo, d, h, mi, sec = s:match("^(%d+)-(%d+)-(%d+)T(%d+):(%d+):([%d.]+)")
  if not y then return nil end
  y, mo, d = tonumber(y), tonumber(mo), tonumber(d)
  if mo <= 2 then y = y - 1 end
  local era = floor(y / 400)
  local yoe = y - era * 400
  local mp = (mo + 9) % 12
  local doy = floor((153 * mp + 2) / 5) + d - 1
  local doe = yoe * 365 + floor(yoe / 4) - floor(yoe / 100) + doy
  local days = era * 146097 + doe - 719468
  return days * 86400 + tonumber(h) * 3600 + tonumber(mi) * 60 + tonumber(sec)
end

-- The newest part a playlist lists, as a global part number; records its date.
local function parse_newest(body)
  local msn, idx
  for m, i in gmatch(body, '#EXT%-X%-PART:[^\n]-URI="seg(%d+)%.(%d+)%.m4s"') do
    msn, idx = m, i
  end
  if not msn then return nil end
  local k = tonumber(msn) * cfg.parts_per_segment + tonumber(idx)
  local date
  for d in gmatch(body, "#EXT%-X%-PROGRAM%-DATE%-TIME:([^\n]+)") do date = d end
  if date then
    local t = iso_time(date)
    -- The last date line opens the newest part's segment; parts are part_duration long.
    if t then pdt_of[k] = t + tonumber(idx) * cfg.part_duration end
  end
  return k
end

-- Segments mode: the newest complete segment's number; records its date.
local function parse_newest_segment(body)
  local date, newest
  for line in gmatch(body, "[^\n]+") do
    if sub(line, 1, 25) == "#EXT-X-PROGRAM-DATE-TIME:" then
      date = sub(line, 26)
    else
      local m = line:match("^seg(%d+)%.m4s$")
      if m then
        newest = tonumber(m)
        if date then pdt_of[newest] = iso_time(date) end
      end
    end
  end
  return newest
end

local function part_date(k)
  local t = pdt_of[k]
  if t then return t end
  -- Not the newest part of any playlist this thread parsed: count from the nearest.
  for d = 1, 16 do
    if pdt_of[k - d] then return pdt_of[k - d] + d * unit_duration end
    if pdt_of[k + d] then return pdt_of[k + d] - d * unit_duration end
  end
  return nil
end

local function progress(t)
  if t < next_progress then return end
  next_progress = t + cfg.progress
  io.write(string.format(
    "progress thread=%d t=%.1f parts=%d playlists=%d reload_timeouts=%d errors=%d late=%d\n",
    thread_id, t - started, parts, playlists, reload_timeouts, errors, late))
  io.flush()
end

function response(status, headers, body)
  local t = now()
  if status ~= 200 then
    if status == 503 then reload_timeouts = reload_timeouts + 1 else errors = errors + 1 end
    push(last_newest and reload_request(last_newest + 1) or start_request())
    return progress(t)
  end
  if byte(body, 1) == 35 then -- "#": a playlist
    playlists = playlists + 1
    -- Players of one thread mostly get the very same playlists: parse each one once
    -- (its end, with the newest part and the preload hint, tells them apart).
    local tl = sub(body, -160)
    local k = newest_of[tl]
    if k == nil then
      if SEGMENTS then k = parse_newest_segment(body) else k = parse_newest(body) end
      if k then
        newest_of[tl] = k
        newest_count = newest_count + 1
        if newest_count > 256 then newest_of, newest_count = {}, 0 end
        if last_newest == nil or k > last_newest then last_newest = k end
      end
    end
    if k then
      -- The part this playlist adds: for a blocking reload, the part asked for (the
      -- answer comes when that part exists). Players take parts in order, as hls.js.
      push(part_request(k))
    else
      unknown = unknown + 1
      push(start_request())
    end
    return progress(t)
  end
  local p = find(body, "tfdt", 1, true)
  if not p or p > 256 then
    unknown = unknown + 1
    push(last_newest and reload_request(last_newest + 1) or start_request())
    return progress(t)
  end
  local b = { byte(body, p + 8, p + 15) }
  local dt
  if byte(body, p + 4) == 1 then
    dt = 0
    for i = 1, 8 do dt = dt * 256 + b[i] end
  else
    dt = ((b[1] * 256 + b[2]) * 256 + b[3]) * 256 + b[4]
  end
  local k = floor(dt / cfg.part_samples) + cfg.index_offset
  if SEGMENTS then k = floor(k / cfg.parts_per_segment) end
  parts = parts + 1
  part_bytes = part_bytes + #body
  if min_index < 0 or k < min_index then min_index = k end
  if k > max_index then max_index = k end
  local date = part_date(k)
  if date then
    -- Age: how long after its last sample was captured the listener holds this part.
    local age = t - (date + unit_duration)
    age_sum = age_sum + age
    if age > cfg.hold_back then late = late + 1 end
    local bucket = floor(age * 100)
    if bucket < 0 then bucket = 0 elseif bucket > 1000 then bucket = 1000 end
    age_hist[bucket] = age_hist[bucket] + 1
  end
  push(reload_request(k + 1))
  return progress(t)
end

function done(summary, latency, requests)
  local total = { parts = 0, part_bytes = 0, playlists = 0, reload_timeouts = 0, errors = 0,
                  unknown = 0, late = 0, age_sum = 0 }
  local hist = {}
  for i = 0, 1000 do hist[i] = 0 end
  local lo, hi = -1, -1
  for _, th in ipairs(threads) do
    for name in pairs(total) do total[name] = total[name] + (th:get(name) or 0) end
    local h = th:get("age_hist")
    for i = 0, 1000 do hist[i] = hist[i] + (h[i] or 0) end
    local a, b = th:get("min_index"), th:get("max_index")
    if a >= 0 and (lo < 0 or a < lo) then lo = a end
    if b > hi then hi = b end
  end
  local out = {}
  for name, v in pairs(total) do table.insert(out, string.format('"%s": %.6g', name, v)) end
  table.insert(out, string.format('"min_index": %d, "max_index": %d', lo, hi))
  local nonzero = {}
  for i = 0, 1000 do
    if hist[i] > 0 then table.insert(nonzero, string.format('"%d": %d', i, hist[i])) end
  end
  table.insert(out, '"age_hist_10ms": {' .. table.concat(nonzero, ", ") .. "}")
  io.write("LLHLS_RESULT {" .. table.concat(out, ", ") .. "}\n")
end
