-- Sessions and their messages, machines, and the per (session, machine) access keys.

CREATE TABLE sessions (
    -- UUID v7: time-ordered, so `id DESC` (the /v2/sessions cursor order) is newest first.
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    tag TEXT NOT NULL,
    -- The session's message counter: the seq of its last message (gap-free, 1, 2, 3, ...).
    seq INTEGER NOT NULL DEFAULT 0,
    metadata TEXT NOT NULL,
    metadata_version INTEGER NOT NULL DEFAULT 0,
    agent_state TEXT,
    agent_state_version INTEGER NOT NULL DEFAULT 0,
    data_encryption_key TEXT,
    active INTEGER NOT NULL DEFAULT 1,
    last_active_at INTEGER NOT NULL,
    -- Soft delete (docs/compatibility.md C5): the row stays, hidden from every read; NULL while
    -- live.
    deleted_at INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
-- One live session per (account, tag); a deleted tag may be reused.
CREATE UNIQUE INDEX sessions_by_tag ON sessions (account_id, tag) WHERE deleted_at IS NULL;
-- GET /v1/sessions (the hot route): newest-updated first.
CREATE INDEX sessions_by_updated ON sessions (account_id, updated_at DESC) WHERE deleted_at IS NULL;
CREATE INDEX sessions_by_id ON sessions (account_id, id DESC) WHERE deleted_at IS NULL;
CREATE INDEX sessions_by_activity ON sessions (account_id, last_active_at DESC) WHERE deleted_at IS NULL AND active = 1;

CREATE TABLE session_messages (
    id TEXT PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    local_id TEXT,
    -- The ciphertext `c` of the wire content `{t:'encrypted', c}`.
    content TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX session_messages_by_seq ON session_messages (session_id, seq);
CREATE UNIQUE INDEX session_messages_by_local_id ON session_messages (session_id, local_id) WHERE local_id IS NOT NULL;

CREATE TABLE machines (
    -- Global: a machine id belongs to one account; another account registering it gets 409.
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    metadata TEXT NOT NULL,
    metadata_version INTEGER NOT NULL DEFAULT 1,
    daemon_state TEXT,
    daemon_state_version INTEGER NOT NULL DEFAULT 0,
    data_encryption_key TEXT,
    -- Bumped on every metadata/daemonState change.
    seq INTEGER NOT NULL DEFAULT 0,
    active INTEGER NOT NULL DEFAULT 0,
    last_active_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX machines_by_account ON machines (account_id, last_active_at DESC);

CREATE TABLE access_keys (
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    machine_id TEXT NOT NULL REFERENCES machines(id) ON DELETE CASCADE,
    data TEXT NOT NULL,
    data_version INTEGER NOT NULL DEFAULT 1,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (account_id, session_id, machine_id)
);
CREATE INDEX access_keys_by_machine ON access_keys (machine_id);
