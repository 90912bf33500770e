// Schemas of the realtime bodies that @slopus/happy-wire does not hold, written from
// docs/compatibility.md#server-events (what the app's zod unions accept). Extra keys are allowed
// (zod strips them); required keys must be present, nullable ones too.
import { z } from "zod";

const versioned = z.object({ value: z.string(), version: z.number() });
const feedBody = z.union([
  z.object({ kind: z.enum(["friend_request", "friend_accepted"]), uid: z.string() }),
  z.object({ kind: z.literal("text"), text: z.string() }),
]);

export const updateBodies = {
  "new-session": z.object({
    t: z.literal("new-session"),
    id: z.string(),
    seq: z.number(),
    metadata: z.string(),
    metadataVersion: z.number(),
    agentState: z.string().nullable(),
    agentStateVersion: z.number(),
    dataEncryptionKey: z.string().nullable(),
    active: z.boolean(),
    activeAt: z.number(),
    createdAt: z.number(),
    updatedAt: z.number(),
  }),
  "delete-session": z.object({ t: z.literal("delete-session"), sid: z.string() }),
  "new-machine": z.object({
    t: z.literal("new-machine"),
    machineId: z.string(),
    seq: z.number(),
    metadata: z.string(),
    metadataVersion: z.number(),
    daemonState: z.string().nullable(),
    daemonStateVersion: z.number(),
    dataEncryptionKey: z.string().nullable(),
    active: z.boolean(),
    activeAt: z.number(),
    createdAt: z.number(),
    updatedAt: z.number(),
  }),
  "delete-machine": z.object({ t: z.literal("delete-machine"), machineId: z.string() }),
  "update-account": z.object({
    t: z.literal("update-account"),
    id: z.string(),
    settings: z.object({ value: z.string().nullable(), version: z.number() }).optional(),
    firstName: z.string().nullable().optional(),
    lastName: z.string().nullable().optional(),
    username: z.string().nullable().optional(),
    avatar: z.object({ path: z.string(), url: z.string() }).passthrough().nullable().optional(),
    github: z.object({ id: z.number(), login: z.string() }).passthrough().nullable().optional(),
  }),
  "new-artifact": z.object({
    t: z.literal("new-artifact"),
    artifactId: z.string(),
    seq: z.number(),
    header: z.string(),
    headerVersion: z.number(),
    body: z.string(),
    bodyVersion: z.number(),
    dataEncryptionKey: z.string(),
    createdAt: z.number(),
    updatedAt: z.number(),
  }),
  "update-artifact": z.object({
    t: z.literal("update-artifact"),
    artifactId: z.string(),
    header: versioned.optional(),
    body: versioned.optional(),
  }),
  "delete-artifact": z.object({ t: z.literal("delete-artifact"), artifactId: z.string() }),
  "relationship-updated": z.object({
    t: z.literal("relationship-updated"),
    fromUserId: z.string(),
    toUserId: z.string(),
    status: z.enum(["none", "requested", "pending", "friend", "rejected"]),
    action: z.enum(["created", "updated", "deleted"]),
    fromUser: z.object({ id: z.string() }).passthrough().optional(),
    toUser: z.object({ id: z.string() }).passthrough().optional(),
    timestamp: z.number(),
  }),
  "new-feed-post": z.object({
    t: z.literal("new-feed-post"),
    id: z.string(),
    body: feedBody,
    // The app parses the counter out of `0-<n>` (C6).
    cursor: z.string().regex(/^0-\d+$/),
    repeatKey: z.string().nullable(),
    createdAt: z.number(),
  }),
  "kv-batch-update": z.object({
    t: z.literal("kv-batch-update"),
    changes: z.array(z.object({ key: z.string(), value: z.string().nullable(), version: z.number() })),
  }),
};

export const updateContainer = z.object({
  id: z.string().min(1),
  seq: z.number().int().positive(),
  body: z.object({ t: z.string() }).passthrough(),
  createdAt: z.number(),
});

const metricMap = z.object({ total: z.number() }).catchall(z.number());

export const ephemerals = {
  activity: z.object({
    type: z.literal("activity"),
    id: z.string(),
    active: z.boolean(),
    activeAt: z.number(),
    thinking: z.boolean(),
  }),
  "machine-activity": z.object({
    type: z.literal("machine-activity"),
    id: z.string(),
    active: z.boolean(),
    activeAt: z.number(),
  }),
  usage: z.object({
    type: z.literal("usage"),
    id: z.string(),
    key: z.string(),
    tokens: metricMap,
    cost: metricMap,
    timestamp: z.number(),
  }),
  "session-event": z.object({
    type: z.literal("session-event"),
    sessionId: z.string(),
    kind: z.enum(["done", "permission", "question"]),
    title: z.string().min(1).max(200),
    body: z.string().min(1).max(500),
    timestamp: z.number(),
  }),
  // Not in the app's union (ignored there); sent beside machine-activity.
  "machine-status": z.object({
    type: z.literal("machine-status"),
    machineId: z.string(),
    online: z.boolean(),
    timestamp: z.number(),
  }),
};
