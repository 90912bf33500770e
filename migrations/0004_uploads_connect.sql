-- Uploads (bytes in R2, metadata here), encrypted AI vendor tokens, and the encrypted GitHub
-- OAuth token of a connected account (its profile lives on accounts.github_profile).

CREATE TABLE uploaded_files (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    -- The R2 key: <category>/<account id>/<id>.<ext>
    path TEXT NOT NULL UNIQUE,
    category TEXT NOT NULL,
    original_name TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    -- R2's quoted HTTP ETag of the object, for If-None-Match without reading R2.
    etag TEXT NOT NULL,
    width INTEGER,
    height INTEGER,
    thumbhash TEXT,
    reuse_key TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
-- At most one file per (account, reuseKey): the swap batch deletes the old row first.
CREATE UNIQUE INDEX uploaded_files_reuse ON uploaded_files (account_id, reuse_key) WHERE reuse_key IS NOT NULL;
CREATE INDEX uploaded_files_page ON uploaded_files (account_id, created_at DESC, id DESC);

CREATE TABLE vendor_tokens (
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    vendor TEXT NOT NULL,
    -- base64(nonce || secretbox), key path ['user', account_id, 'vendors', vendor, 'token'].
    token TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (account_id, vendor)
);

CREATE TABLE github_tokens (
    account_id TEXT PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
    -- base64(nonce || secretbox), key path ['user', account_id, 'github', 'token'].
    token TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);
