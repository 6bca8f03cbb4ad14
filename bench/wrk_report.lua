-- Prints one machine-readable line when wrk finishes; runs once, off the request path.
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%.0f,"duration_us":%.0f,"connect":%.0f,"read":%.0f,'
      .. '"write":%.0f,"timeout":%.0f,"non_2xx":%.0f,"p50_us":%.1f,"p90_us":%.1f,'
      .. '"p99_us":%.1f,"max_us":%.1f}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.timeout, e.status,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
