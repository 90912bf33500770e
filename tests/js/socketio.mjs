// The stock Socket.IO client (as the Happy CLI and app configure it) against the worker.
// Usage: node socketio.mjs <baseUrl> <token> <sessionId> <machineId>; exits non-zero on failure.
import { io } from "socket.io-client";

const [base, token, sessionId, machineId] = process.argv.slice(2);
const fail = (msg) => { console.error("FAIL:", msg); process.exit(1); };
const within = (ms, what, promise) =>
  Promise.race([promise, new Promise((_, rej) => setTimeout(() => rej(new Error(`timeout: ${what}`)), ms))]);

function client(auth) {
  return io(base, { path: "/v1/updates", transports: ["websocket"], reconnection: false, auth });
}
const connected = (s, what) =>
  within(10000, what, new Promise((res, rej) => {
    s.on("connect", res);
    s.on("connect_error", (e) => rej(new Error(`${what}: connect_error ${e.message}`)));
  }));
const connectError = (s, what) =>
  within(10000, what, new Promise((res, rej) => {
    s.on("connect", () => rej(new Error(`${what} connected`)));
    s.on("connect_error", (e) => res(e.message));
  }));
const next = (s, event, pred = () => true) =>
  within(10000, event, new Promise((res) => {
    const h = (d) => { if (pred(d)) { s.off(event, h); res(d); } };
    s.on(event, h);
  }));

try {
  const rejected = [
    [{ token: "bad" }, "Invalid authentication token"],
    [{}, "Missing authentication token"],
    [{ token, clientType: "session-scoped" }, "Session ID required for session-scoped clients"],
    [{ token, clientType: "machine-scoped" }, "Machine ID required for machine-scoped clients"],
  ];
  for (const [auth, message] of rejected) {
    const s = client(auth);
    const got = await connectError(s, JSON.stringify(auth));
    if (got !== message) fail(`expected "${message}", got "${got}"`);
    s.close();
  }

  const app = client({ token, clientType: "user-scoped", happyClient: "web/test", appState: "active" });
  await connected(app, "app");
  const online = next(app, "ephemeral", (e) => e.type === "machine-activity" && e.id === machineId && e.active);
  const session = client({ token, clientType: "session-scoped", sessionId, happyClient: "cli-coding-session/test" });
  const daemon = client({ token, clientType: "machine-scoped", machineId, happyClient: "cli-daemon/test" });
  await Promise.all([connected(session, "session"), connected(daemon, "daemon")]);
  await online;

  // Acks both ways; the ping the CLI's flush() uses.
  const pong = await within(10000, "ping ack", session.emitWithAck("ping"));
  if (JSON.stringify(pong) !== "{}") fail(`ping ack ${JSON.stringify(pong)}`);

  // RPC: the daemon registers, the app calls, the daemon answers through its ack.
  const method = `${machineId}:spawn-happy-session`;
  daemon.on("rpc-request", (req, ack) => ack(`done:${req.params}`));
  const registered = next(daemon, "rpc-registered");
  daemon.emit("rpc-register", { method });
  if ((await registered).method !== method) fail("rpc-registered method");
  const result = await within(10000, "rpc-call", app.emitWithAck("rpc-call", { method, params: "cGFyYW1z" }));
  if (!result.ok || result.result !== "done:cGFyYW1z") fail(`rpc result ${JSON.stringify(result)}`);

  // An HTTP write reaches the session's socket and the app, not the daemon.
  let daemonUpdates = 0;
  daemon.on("update", () => daemonUpdates++);
  const inSession = next(session, "update", (u) => u.body.t === "new-message");
  const inApp = next(app, "update", (u) => u.body.t === "new-message");
  const r = await fetch(`${base}/v3/sessions/${sessionId}/messages`, {
    method: "POST",
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
    body: JSON.stringify({ messages: [{ localId: "sio-1", content: "Y2lwaGVy" }] }),
  });
  if (r.status !== 200) fail(`POST message ${r.status}`);
  const [u1, u2] = await Promise.all([inSession, inApp]);
  if (u1.seq !== u2.seq || u1.body.message.seq !== 1 || u1.id.length !== 12) fail(`update ${JSON.stringify(u1)}`);

  // A socket write with an ack, seen by the app as `update-session`.
  const seen = next(app, "update", (u) => u.body.t === "update-session");
  const cas = await within(10000, "update-metadata",
    session.emitWithAck("update-metadata", { sid: sessionId, metadata: "bmV3", expectedVersion: 0 }));
  if (cas.result !== "success" || cas.version !== 1) fail(`update-metadata ${JSON.stringify(cas)}`);
  if ((await seen).body.metadata.version !== 1) fail("update-session version");
  if (daemonUpdates !== 0) fail("the daemon got session updates");

  // The daemon leaving is machine presence for the app.
  const offline = next(app, "ephemeral", (e) => e.type === "machine-activity" && e.id === machineId && !e.active);
  daemon.close();
  await offline;
  session.close();
  app.close();
  console.log("OK");
  process.exit(0);
} catch (e) {
  fail(e.message);
}
