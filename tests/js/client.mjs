// The official socket.io-client under Node, driven by tests/realtime/test_js_client.py.
//
// Usage: node client.mjs URL TOKEN EVENT [ROOM]
//   (or set SHARESTACK_URL, SHARESTACK_TOKEN, SHARESTACK_EVENT, SHARESTACK_ROOM)
//
// Output protocol: one JSON object per line on stdout, in this order:
//   {"connected": true, "id": "<socket id>"}
//   {"ack": <the server's ack to subscribe {"room": ROOM}>}
//   {"event": "<EVENT>", "payload": <the event's payload>}
// then it disconnects and exits 0. On connect_error or after a 10 s timeout it
// prints {"error": "connect_error" | "timeout", "message": ..., "data": ...}
// and exits 1.
import { io } from "socket.io-client";

const [url, token, eventName, room] = [
  process.argv[2] ?? process.env.SHARESTACK_URL,
  process.argv[3] ?? process.env.SHARESTACK_TOKEN,
  process.argv[4] ?? process.env.SHARESTACK_EVENT ?? "notification.created",
  process.argv[5] ?? process.env.SHARESTACK_ROOM ?? "user:999999",
];
const TIMEOUT_MS = 10_000;

function emit(line) {
  process.stdout.write(JSON.stringify(line) + "\n");
}

if (!url || !token) {
  emit({ error: "usage", message: "usage: node client.mjs URL TOKEN [EVENT] [ROOM]", data: null });
  process.exit(2);
}

const socket = io(url, {
  transports: ["websocket"],
  auth: { token },
  reconnection: false,
  timeout: TIMEOUT_MS,
});

function finish(code, line) {
  clearTimeout(timer);
  if (line) emit(line);
  socket.disconnect();
  // Let stdout drain before leaving.
  process.stdout.write("", () => process.exit(code));
}

const timer = setTimeout(() => {
  finish(1, { error: "timeout", message: `nothing more after ${TIMEOUT_MS} ms`, data: null });
}, TIMEOUT_MS);

let acked = false;
let pending = null; // an event that arrived before the ack was printed

socket.on(eventName, (payload) => {
  const line = { event: eventName, payload };
  if (acked) finish(0, line);
  else pending = line;
});

socket.on("connect", () => {
  emit({ connected: true, id: socket.id });
  socket.emit("subscribe", { room }, (ack) => {
    emit({ ack });
    acked = true;
    if (pending) finish(0, pending);
  });
});

socket.on("connect_error", (err) => {
  finish(1, { error: "connect_error", message: err.message, data: err.data ?? null });
});
