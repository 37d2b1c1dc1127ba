-- wrk script: full GETs (no Range), as a download or a player fetching the whole file.
done = function(summary, latency, requests)
  io.write(string.format("RESULT requests=%d bytes=%d seconds=%.3f p99_ms=%.3f errors=%d\n",
    summary.requests, summary.bytes, summary.duration / 1e6, latency:percentile(99) / 1000,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
