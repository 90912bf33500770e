-- Artifacts, social graph and feed, per-account KV, push tokens, usage reports, and the batch
-- guard that lets a D1 batch roll itself back.

-- A statement `INSERT INTO batch_guards (ok) SELECT <predicate>` in a D1 batch aborts the whole
-- batch (D1 runs a batch as one transaction) when the predicate is false, and stores nothing when
-- it is true. This is how a multi-row compare-and-set stays all-or-nothing without a read-then-
-- write gap (see crate::db::guard).
CREATE TABLE batch_guards (ok INTEGER NOT NULL);
CREATE TRIGGER batch_guards_check BEFORE INSERT ON batch_guards
BEGIN
    SELECT CASE WHEN NEW.ok THEN RAISE(IGNORE) ELSE RAISE(ABORT, 'batch-guard-failed') END;
END;

-- The id is global (the app picks UUIDs): another account's id is a 409, never a second row.
CREATE TABLE artifacts (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    -- Opaque client ciphertext, stored verbatim.
    header TEXT NOT NULL,
    header_version INTEGER NOT NULL DEFAULT 1,
    body TEXT NOT NULL,
    body_version INTEGER NOT NULL DEFAULT 1,
    data_encryption_key TEXT NOT NULL,
    -- The artifact's own change counter (0 on create, +1 per update).
    seq INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX artifacts_by_account ON artifacts (account_id, updated_at DESC);

-- One row per direction: (from → to) is how `from` sees `to`.
CREATE TABLE relationships (
    from_user_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    to_user_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    status TEXT NOT NULL CHECK (status IN ('none', 'requested', 'pending', 'friend', 'rejected')),
    -- When `from` last got a feed notification about `to` (24 h cooldown).
    last_notified_at INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (from_user_id, to_user_id)
);
CREATE INDEX relationships_by_status ON relationships (from_user_id, status);

CREATE TABLE feed_items (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    -- From accounts.feed_seq: 1, 2, 3... per account.
    counter INTEGER NOT NULL,
    repeat_key TEXT,
    body TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (account_id, counter)
);
CREATE INDEX feed_items_by_repeat_key ON feed_items (account_id, repeat_key);

CREATE TABLE kv_items (
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    -- Opaque, verbatim. NULL only inside a batch, for a delete not yet swept.
    value TEXT,
    version INTEGER NOT NULL,
    -- The request that last wrote the row: the batch's final guard counts its own rows.
    batch_id TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (account_id, key)
);

CREATE TABLE push_tokens (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    token TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (account_id, token)
);

-- Token and cost totals a CLI reports per (session, key); a report replaces the previous one.
CREATE TABLE usage_reports (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    session_id TEXT,
    key TEXT NOT NULL,
    tokens TEXT NOT NULL,
    cost TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
-- NULL session ids would all be distinct in a plain UNIQUE: index the coalesced value.
CREATE UNIQUE INDEX usage_reports_key ON usage_reports (account_id, COALESCE(session_id, ''), key);
CREATE INDEX usage_reports_by_time ON usage_reports (account_id, created_at);
