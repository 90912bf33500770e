// A stand-in WireGuard gateway for local runs and smoke tests (docs/devices.md):
//   node scripts/gateway-stub.mjs 9911
// Accepts PUT /peers/:deviceUuid {publicKey, allowedIp} and DELETE /peers/:deviceUuid, keeps the
// peers in memory and lists them on GET /peers. Set FAIL_KEYS=key1,key2 to answer 500 for those
// public keys (to rehearse the failure path).
import http from "node:http";

const port = Number(process.argv[2] || 9911);
const failing = new Set((process.env.FAIL_KEYS || "").split(",").filter(Boolean));
const peers = new Map();

http
  .createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      const m = req.url.match(/^\/peers\/([^/]+)$/);
      if (req.method === "GET" && req.url === "/peers") {
        res.writeHead(200, { "content-type": "application/json" });
        return res.end(JSON.stringify(Object.fromEntries(peers)));
      }
      if (m && req.method === "PUT") {
        let peer;
        try {
          peer = JSON.parse(body);
        } catch {
          res.writeHead(400);
          return res.end();
        }
        res.writeHead(failing.has(peer.publicKey) ? 500 : 200);
        if (!failing.has(peer.publicKey)) peers.set(m[1], peer);
        return res.end();
      }
      if (m && req.method === "DELETE") {
        res.writeHead(peers.delete(m[1]) ? 200 : 404);
        return res.end();
      }
      res.writeHead(404);
      res.end();
    });
  })
  .listen(port, "127.0.0.1", () => console.log(`gateway stub on http://127.0.0.1:${port}`));
