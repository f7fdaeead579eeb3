-- wrk script for bench/gateway/run.sh: every request is the same POST (body read from the file in
-- $GW_BODY_FILE, Content-Type JSON, an Authorization header), and at the end the summary is
-- written as JSON to $GW_WRK_OUT (latencies in microseconds, as wrk records them).
--
--   GW_BODY_FILE=body.json GW_WRK_OUT=out.json wrk -t2 -c64 -d10s -s post.lua http://127.0.0.1:PORT/v1/chat/completions

local body_file = os.getenv("GW_BODY_FILE")
local f = assert(io.open(body_file, "rb"), "cannot open GW_BODY_FILE " .. tostring(body_file))
local body = f:read("*a")
f:close()

wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("GW_API_KEY") or "sk-deja-bench")

function done(summary, latency, requests)
  local out = os.getenv("GW_WRK_OUT")
  if out == nil or out == "" then return end
  local e = summary.errors
  local seconds = summary.duration / 1e6
  local o = assert(io.open(out, "w"))
  o:write(string.format(
    '{"requests": %d, "duration_s": %.6f, "requests_per_s": %.1f, "bytes": %d, ' ..
    '"latency_us": {"p50": %d, "p90": %d, "p99": %d, "p99_9": %d, "mean": %.1f, "stdev": %.1f, "max": %d}, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}}\n',
    summary.requests, seconds, summary.requests / seconds, summary.bytes,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    latency.mean, latency.stdev, latency.max,
    e.connect, e.read, e.write, e.status, e.timeout))
  o:close()
end
