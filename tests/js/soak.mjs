// One stock Socket.IO client (configured as the Happy app configures it) held for <seconds>:
// it emits "ping" with an ack every 500 ms, records the updates it gets and the engine's
// heartbeats, and prints one JSON line of what it saw. Prints "connected" first and starts its
// pings when a line arrives on stdin.
// Usage: node soak.mjs <baseUrl> <token> <seconds>; exits non-zero on failure.
import { io } from "socket.io-client";

const [base, token, seconds] = process.argv.slice(2);
const s = io(base, {
  path: "/v1/updates",
  transports: ["websocket"],
  reconnection: false,
  auth: { token, clientType: "user-scoped", happyClient: "web/soak" },
});
s.on("connect_error", (e) => { console.error("FAIL: connect_error", e.message); process.exit(1); });
await new Promise((res) => s.on("connect", res));
const seen = { pings: 0, sent: 0, acks: 0, seqs: [], disconnects: [] };
s.io.engine.on("ping", () => seen.pings++);
s.on("update", (u) => seen.seqs.push(u.seq));
s.on("disconnect", (reason) => seen.disconnects.push(reason));
console.log("connected");
await new Promise((res) => process.stdin.once("data", res));
const timer = setInterval(() => {
  seen.sent++;
  s.timeout(5000).emitWithAck("ping").then(() => seen.acks++, () => {});
}, 500);
await new Promise((res) => setTimeout(res, Number(seconds) * 1000));
clearInterval(timer);
// The last acks and updates in flight.
await new Promise((res) => setTimeout(res, 2000));
seen.connected = s.connected;
console.log(JSON.stringify(seen));
s.close();
process.exit(0);
