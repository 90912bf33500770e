// Serves a worker as `wrangler dev` does (the same wrangler, runtime, proxy and local D1, R2 and
// Durable Objects), through wrangler's API so that no inspector is attached: with one, V8 also
// reports every function it compiles to the debugger, CPU the platform never spends (a cold
// request's profile, bench/RESULTS.md).
//
// usage: node bench/serve.mjs <wrangler.toml> <port> <persist dir> [NAME:value ...]

import { unstable_startWorker } from "wrangler";

const [config, port, persist, ...vars] = process.argv.slice(2);
const bindings = Object.fromEntries(
  vars.map((v) => {
    const at = v.indexOf(":");
    return [v.slice(0, at), { type: "plain_text", value: v.slice(at + 1) }];
  }),
);
const worker = await unstable_startWorker({
  config,
  bindings,
  dev: {
    inspector: false,
    watch: false,
    persist,
    server: { hostname: "127.0.0.1", port: Number(port) },
    // Workers served with one registry reach each other's Durable Objects (`script_name`).
    registry: process.env.BENCH_DEV_REGISTRY,
  },
});
await worker.ready;
