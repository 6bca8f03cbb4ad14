// B4/B7 load client: many socket.io-client sockets (websocket transport) in one process.
//
// Usage: node loadclient.mjs --urls URL1,URL2 --clients N --token T [--event bench.tick]
//          [--concurrency 200] [--warmup K]
// Sockets are spread round-robin over the URLs, each with its own connection (forceNew) and
// auth {token}; at most `concurrency` handshakes are in flight. With --warmup K the first K
// connect, {"warm": K} is printed, and the rest wait for a "go" line on stdin.
// Once every socket has connected (or failed) it prints
//   {"ready": connected, "failed": n, "errors": [first messages], "connect_s": seconds}
// Each EVENT's latency is now minus payload.data.sent (wall clock, ms), kept per data.step.
// stdin commands, one per line: "go" (see --warmup), "report" prints
//   {"report": {"<step>": {"received", "p50_ms", "p90_ms", "p99_ms", "max_ms", "first_ms",
//    "last_ms"}}, "connected": n, "disconnects": n}
// and "exit" closes every socket and exits.
import { io } from "socket.io-client";
import { parseArgs } from "node:util";
import { createInterface } from "node:readline";

const { values: args } = parseArgs({
  options: {
    urls: { type: "string" },
    clients: { type: "string", default: "10" },
    token: { type: "string", default: "bench" },
    event: { type: "string", default: "bench.tick" },
    concurrency: { type: "string", default: "200" },
    warmup: { type: "string", default: "0" },
  },
});

const urls = args.urls.split(",");
const total = Number(args.clients);
const concurrency = Number(args.concurrency);
const warmup = Number(args.warmup);
// Wall clock, as the Python publishers stamp it: performance.timeOrigin + performance.now()
// drifts from it by tens of ms over a run on this machine, which made latencies negative.
const now = () => Date.now();
const out = (line) => process.stdout.write(JSON.stringify(line) + "\n");

const sockets = [];
const steps = new Map(); // step -> {lat: number[], first, last}
let connected = 0;
let failed = 0;
let disconnects = 0;
const errors = [];

function onEvent(payload) {
  const received = now();
  const data = payload?.data;
  if (!data || typeof data.sent !== "number") return;
  let step = steps.get(data.step);
  if (!step) {
    step = { lat: [], first: received, last: received };
    steps.set(data.step, step);
  }
  step.lat.push(received - data.sent);
  step.last = received;
}

function connectOne(index) {
  return new Promise((resolve) => {
    const socket = io(urls[index % urls.length], {
      transports: ["websocket"],
      auth: { token: args.token },
      forceNew: true,
      reconnection: false,
      timeout: 30_000,
    });
    sockets.push(socket);
    socket.on(args.event, onEvent);
    socket.once("connect", () => {
      connected++;
      socket.on("disconnect", () => {
        connected--;
        disconnects++;
      });
      resolve();
    });
    socket.once("connect_error", (err) => {
      failed++;
      if (errors.length < 3) errors.push(err.message);
      resolve();
    });
  });
}

async function connectRange(from, to) {
  let next = from;
  const worker = async () => {
    while (next < to) await connectOne(next++);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, to - from) }, worker));
}

function percentile(sorted, q) {
  if (!sorted.length) return null;
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
}

function report() {
  const result = {};
  for (const [step, s] of steps) {
    const sorted = Float64Array.from(s.lat).sort();
    result[step] = {
      received: sorted.length,
      p50_ms: percentile(sorted, 0.5),
      p90_ms: percentile(sorted, 0.9),
      p99_ms: percentile(sorted, 0.99),
      max_ms: sorted.length ? sorted[sorted.length - 1] : null,
      first_ms: s.first,
      last_ms: s.last,
    };
  }
  return { report: result, connected, disconnects };
}

let go;
const goSignal = new Promise((resolve) => (go = resolve));
createInterface({ input: process.stdin }).on("line", (line) => {
  const command = line.trim();
  if (command === "go") go();
  else if (command === "report") out(report());
  else if (command === "exit") {
    for (const socket of sockets) socket.disconnect();
    process.stdout.write("", () => process.exit(0));
  }
});
process.stdin.on("end", () => process.exit(0));

const started = now();
if (warmup > 0) {
  await connectRange(0, Math.min(warmup, total));
  out({ warm: connected, failed, errors });
  await goSignal;
}
await connectRange(Math.min(warmup, total), total);
out({ ready: connected, failed, errors, connect_s: (now() - started) / 1000 });
