// The official socket.io-client under Node as a messaging client, driven by
// tests/realtime/test_js_messages.py.
//
// Usage: node messenger.mjs URL TOKEN CONVERSATION_ID
//
// Output protocol: one JSON object per line on stdout, in this order:
//   {"connected": true, "id": "<socket id>"}
//   {"event": "message.created", "payload": <the first message.created received>}
//   {"ack": <the server's ack to message.send {conversation_id, client_message_id, body}>}
// then it disconnects and exits 0. On connect_error or after a 10 s timeout it
// prints {"error": "connect_error" | "timeout", "message": ..., "data": ...}
// and exits 1.
import { io } from "socket.io-client";

const [url, token, conversationId] = process.argv.slice(2);
const TIMEOUT_MS = 10_000;

function emit(line) {
  process.stdout.write(JSON.stringify(line) + "\n");
}

if (!url || !token || !conversationId) {
  emit({ error: "usage", message: "usage: node messenger.mjs URL TOKEN CONVERSATION_ID", data: null });
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
  process.stdout.write("", () => process.exit(code));
}

const timer = setTimeout(() => {
  finish(1, { error: "timeout", message: `nothing more after ${TIMEOUT_MS} ms`, data: null });
}, TIMEOUT_MS);

let received = false;

socket.on("message.created", (payload) => {
  if (received) return; // our own message coming back
  received = true;
  emit({ event: "message.created", payload });
  const message = {
    conversation_id: Number(conversationId),
    client_message_id: "node-1",
    body: "来自 Node 的回复",
  };
  socket.timeout(TIMEOUT_MS).emit("message.send", message, (err, ack) => {
    if (err) finish(1, { error: "timeout", message: "no ack to message.send", data: null });
    else finish(0, { ack });
  });
});

socket.on("connect", () => {
  emit({ connected: true, id: socket.id });
});

socket.on("connect_error", (err) => {
  finish(1, { error: "connect_error", message: err.message, data: err.data ?? null });
});
