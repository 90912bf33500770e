// Validates realtime frames against the clients' schemas. Reads one JSON frame per stdin line,
// `{"event": "update" | "ephemeral", "data": ...}`; core update bodies (new-message,
// update-session, update-machine) go through @slopus/happy-wire's CoreUpdateContainerSchema,
// the others through wire_schemas.mjs. Prints `{"seen": {"update:<t>" | "ephemeral:<type>": n},
// "failures": [...]}` and exits 1 on any failure, including an unknown type.
import { CoreUpdateContainerSchema } from "@slopus/happy-wire";
import { updateBodies, updateContainer, ephemerals } from "./wire_schemas.mjs";

const CORE = new Set(["new-message", "update-session", "update-machine"]);
let input = "";
for await (const chunk of process.stdin) input += chunk;

const seen = {};
const failures = [];
const check = (schema, value, what) => {
  const r = schema.safeParse(value);
  if (!r.success) failures.push({ what, issues: r.error.issues, value });
  return r.success;
};

for (const line of input.split("\n").filter((l) => l.trim())) {
  const frame = JSON.parse(line);
  if (frame.event === "update") {
    const t = frame.data?.body?.t;
    const what = `update:${t}`;
    seen[what] = (seen[what] ?? 0) + 1;
    if (CORE.has(t)) {
      check(CoreUpdateContainerSchema, frame.data, what);
    } else if (updateBodies[t]) {
      check(updateContainer, frame.data, what) && check(updateBodies[t], frame.data.body, what);
    } else {
      failures.push({ what, issues: "unknown update type", value: frame.data });
    }
  } else if (frame.event === "ephemeral") {
    const what = `ephemeral:${frame.data?.type}`;
    seen[what] = (seen[what] ?? 0) + 1;
    const schema = ephemerals[frame.data?.type];
    if (schema) check(schema, frame.data, what);
    else failures.push({ what, issues: "unknown ephemeral type", value: frame.data });
  } else {
    failures.push({ what: `event:${frame.event}`, issues: "not an update or ephemeral", value: frame });
  }
}
console.log(JSON.stringify({ seen, failures }));
process.exit(failures.length ? 1 : 0);
