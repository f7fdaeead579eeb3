-- wrk script for bench/gateway/run.sh: fills deja with GW_FILL_N distinct entries. Each request is
-- the template in $GW_TEMPLATE_FILE (a chat completion whose last user message contains "@ID@")
-- with @ID@ replaced by a distinct number, so every request is a miss that deja stores.
-- Thread i of GW_FILL_THREADS sends ids i, i+T, i+2T, ... below GW_FILL_N and stops once it has as
-- many answers as ids; should it need more requests than that, it repeats its ids (hits), so the
-- store never holds more than GW_FILL_N entries. wrk itself runs until its -d limit or SIGINT
-- (run.sh sends one when deja reports GW_FILL_N entries). Summary as JSON in $GW_WRK_OUT.

local f = assert(io.open(os.getenv("GW_TEMPLATE_FILE"), "rb"))
local template = f:read("*a")
f:close()
local prefix, suffix = template:match("^(.-)@ID@(.*)$")
assert(prefix, "the template has no @ID@")
local total = tonumber(os.getenv("GW_FILL_N"))
local nthreads = tonumber(os.getenv("GW_FILL_THREADS"))
local nonce = os.getenv("GW_NONCE") or "0"

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("GW_API_KEY") or "sk-deja-bench")

local threads = {}
local next_tid = 0
function setup(thread)
  thread:set("tid", next_tid)
  next_tid = next_tid + 1
  table.insert(threads, thread)
end

-- Per-thread state (each thread runs its own copy of this script). Globals, so that done() can read
-- them with thread:get().
quota, sent, answered, non200 = 0, 0, 0, 0
function init(args)
  -- ids tid, tid + T, ... below total
  quota = math.floor((total - tid + nthreads - 1) / nthreads)
end

function request()
  local k = sent
  if quota > 0 and k >= quota then k = k % quota end
  sent = sent + 1
  return wrk.format(nil, nil, nil, prefix .. nonce .. "-" .. (tid + k * nthreads) .. suffix)
end

function response(status, headers, body)
  answered = answered + 1
  if status ~= 200 then non200 = non200 + 1 end
  if answered >= quota then wrk.thread:stop() end
end

function done(summary, latency, requests)
  local out = os.getenv("GW_WRK_OUT")
  if out == nil or out == "" then return end
  local non200_total, answered_total = 0, 0
  for _, t in ipairs(threads) do
    non200_total = non200_total + (t:get("non200") or 0)
    answered_total = answered_total + (t:get("answered") or 0)
  end
  local e = summary.errors
  local seconds = summary.duration / 1e6
  local o = assert(io.open(out, "w"))
  o:write(string.format(
    '{"requests": %d, "duration_s": %.3f, "requests_per_s": %.1f, "answered": %d, "non200": %d, ' ..
    '"latency_us": {"p50": %d, "p99": %d}, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}}\n',
    summary.requests, seconds, summary.requests / seconds, answered_total, non200_total,
    latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout))
  o:close()
end
