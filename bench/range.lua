-- wrk script: every request asks for a random 256 KiB range of the 10 MB file, as a seeking player does.
local size = 10 * 1024 * 1024
local chunk = 256 * 1024
math.randomseed(os.time())
request = function()
  local start = math.random(0, size - chunk)
  return wrk.format("GET", wrk.path, { ["Range"] = string.format("bytes=%d-%d", start, start + chunk - 1) })
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT requests=%d bytes=%d seconds=%.3f p99_ms=%.3f errors=%d\n",
    summary.requests, summary.bytes, summary.duration / 1e6, latency:percentile(99) / 1000,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
