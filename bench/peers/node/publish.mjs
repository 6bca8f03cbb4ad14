// B4 publisher for the Node peer: @socket.io/redis-emitter, the adapter's own emitter.
//
// Usage: node publish.mjs --redis URL --key PREFIX --room ROOM --event NAME
//          --rates 10,20,40 --seconds 5 --gap 2
// The same schedule as bench/b4_publish.py: for each rate, `rate` broadcasts a second for
// `seconds`, each payload {event_id: null, type, ts, data: {step, seq, sent}} with `sent` the
// wall-clock send time in ms; one JSON line per step on stdout, then `gap` seconds of quiet.
import { Emitter } from "@socket.io/redis-emitter";
import { createClient } from "redis";
import { parseArgs } from "node:util";
import { setTimeout as sleep } from "node:timers/promises";

const { values: args } = parseArgs({
  options: {
    redis: { type: "string", default: "redis://127.0.0.1:6379" },
    key: { type: "string", default: "socket.io" },
    room: { type: "string", default: "bench" },
    event: { type: "string", default: "bench.tick" },
    rates: { type: "string", default: "10" },
    seconds: { type: "string", default: "5" },
    gap: { type: "string", default: "2" },
  },
});

// Wall clock, as the Python publishers stamp it: performance.timeOrigin + performance.now()
// drifts from it by tens of ms over a run on this machine, which made latencies negative.
const now = () => Date.now();
const client = createClient({ url: args.redis });
await client.connect();
const emitter = new Emitter(client, { key: args.key });

const rates = args.rates.split(",").map(Number);
const seconds = Number(args.seconds);
for (const [step, rate] of rates.entries()) {
  const count = Math.max(1, Math.round(rate * seconds));
  const start = now();
  for (let seq = 0; seq < count; seq++) {
    const due = start + (seq * 1000) / rate;
    const wait = due - now();
    if (wait > 0) await sleep(wait);
    const sent = now();
    emitter.to(args.room).emit(args.event, {
      event_id: null,
      type: args.event,
      ts: new Date(sent).toISOString(),
      data: { step, seq, sent },
    });
  }
  const end = now();
  process.stdout.write(JSON.stringify({ step, rate, sent: count, start_ms: start, end_ms: end }) + "\n");
  await sleep(Number(args.gap) * 1000);
}
await client.quit();
