// B4/B7 peer: socket.io 4 + @socket.io/redis-adapter, set up as their docs show.
//
// Usage: node server.mjs --port P --redis URL --key PREFIX --room ROOM
// Serves GET /healthz; every socket that connects with a non-empty auth.token joins ROOM
// (the bench publishes to it with @socket.io/redis-emitter, see publish.mjs). socket.io's
// defaults are kept: perMessageDeflate is off since socket.io 3.
import { createServer } from "node:http";
import { Server } from "socket.io";
import { createAdapter } from "@socket.io/redis-adapter";
import { createClient } from "redis";
import { parseArgs } from "node:util";

const { values: args } = parseArgs({
  options: {
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string" },
    redis: { type: "string", default: "redis://127.0.0.1:6379" },
    key: { type: "string", default: "socket.io" },
    room: { type: "string", default: "bench" },
  },
});

const httpServer = createServer((req, res) => {
  if (req.url === "/healthz") {
    res.writeHead(200, { "content-type": "application/json" });
    res.end('{"status":"ok"}');
  } else {
    res.writeHead(404);
    res.end();
  }
});

const pubClient = createClient({ url: args.redis });
const subClient = pubClient.duplicate();
await Promise.all([pubClient.connect(), subClient.connect()]);

const io = new Server(httpServer, {
  adapter: createAdapter(pubClient, subClient, { key: args.key }),
  cors: { origin: "*" },
});

io.use((socket, next) => {
  const token = socket.handshake.auth?.token;
  if (typeof token === "string" && token) next();
  else next(new Error("auth.invalid_token"));
});

io.on("connection", (socket) => {
  socket.join(args.room);
});

httpServer.listen(Number(args.port), args.host);

for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => process.exit(0));
}
