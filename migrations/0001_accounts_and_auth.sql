-- Accounts, keyed by their Ed25519 public key (UPPERCASE hex, as the Node server stores it),
-- the pairing requests of terminals and apps, and revoked token ids.

CREATE TABLE accounts (
    id TEXT PRIMARY KEY,
    public_key TEXT NOT NULL UNIQUE,
    -- The account's update counter: every update event carries the next value.
    seq INTEGER NOT NULL DEFAULT 0,
    feed_seq INTEGER NOT NULL DEFAULT 0,
    settings TEXT,
    settings_version INTEGER NOT NULL DEFAULT 0,
    first_name TEXT,
    last_name TEXT,
    username TEXT COLLATE NOCASE UNIQUE,
    -- JSON {path, url, width, height, thumbhash} of the current avatar upload, or NULL.
    avatar TEXT,
    -- JSON GitHub profile {id, login, name, avatar_url, bio} once connected, or NULL.
    github_profile TEXT,
    github_user_id TEXT UNIQUE,
    plan TEXT NOT NULL DEFAULT 'basic',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE terminal_auth_requests (
    id TEXT PRIMARY KEY,
    public_key TEXT NOT NULL UNIQUE,
    supports_v2 INTEGER NOT NULL DEFAULT 0,
    response TEXT,
    response_account_id TEXT REFERENCES accounts(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE account_auth_requests (
    id TEXT PRIMARY KEY,
    public_key TEXT NOT NULL UNIQUE,
    response TEXT,
    response_account_id TEXT REFERENCES accounts(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE revoked_tokens (
    jti TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    revoked_at INTEGER NOT NULL
);
CREATE INDEX revoked_tokens_by_time ON revoked_tokens (revoked_at);
