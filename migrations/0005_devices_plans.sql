-- Plans and their limits, device enrollment (provisioning tokens, devices with API keys) and
-- the one-time connect tokens of the mobile first-connect flow.

CREATE TABLE plans (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    devices_per_account INTEGER NOT NULL,
    ws_connections_per_user INTEGER NOT NULL,
    upload_bytes_per_account INTEGER NOT NULL,
    sort_order INTEGER NOT NULL
);
-- Every database has both plans; accounts.plan defaults to 'basic'.
INSERT OR IGNORE INTO plans (id, name, devices_per_account, ws_connections_per_user, upload_bytes_per_account, sort_order)
VALUES ('basic', 'Basic', 3, 20, 1073741824, 0),
       ('pro', 'Pro', 25, 100, 53687091200, 1);

-- A pending enrollment: the server-chosen node id and the hash of its current token. Deleted when
-- a device registers with it; an expired row stays so the app can refresh the same node id.
CREATE TABLE provisioning_tokens (
    node_id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL UNIQUE,
    name TEXT,
    room TEXT,
    -- Set by the registration batch that consumes the row, so its insert can read it back.
    consumed_by TEXT,
    expires_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX provisioning_tokens_by_account ON provisioning_tokens (account_id);

-- One /24 per account (10.<subnet/256>.<subnet%256>.0/24) for device peer addresses.
CREATE TABLE device_address_pools (
    account_id TEXT PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
    subnet INTEGER NOT NULL UNIQUE
);

CREATE TABLE devices (
    -- The node id; stable across resets.
    uuid TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    -- The device's own id, assigned when provisioned; NULL while unprovisioned (after a reset).
    device_id TEXT UNIQUE,
    device_name TEXT,
    device_type TEXT,
    room TEXT,
    api_key_hash TEXT UNIQUE,
    api_endpoint TEXT,
    registered_at INTEGER,
    last_seen_at INTEGER,
    -- WireGuard peer (connect-token devices): the host number in the account's pool is allocated
    -- once, so a retried provision gets the same address.
    ip_host INTEGER CHECK (ip_host BETWEEN 2 AND 254),
    public_key TEXT,
    peer_active INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (account_id, ip_host)
);
CREATE INDEX devices_by_account ON devices (account_id, created_at);

CREATE TABLE connect_tokens (
    token_hash TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    device_name TEXT,
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'provisioned', 'revoked')),
    -- The device reserved by the first provision attempt; retries reuse it (and its address).
    device_uuid TEXT,
    -- The lease of the provision attempt in flight: one gateway call per token at a time.
    claim TEXT,
    claim_expires_at INTEGER,
    expires_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX connect_tokens_by_account ON connect_tokens (account_id);
CREATE INDEX connect_tokens_by_device ON connect_tokens (device_uuid);
