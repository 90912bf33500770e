-- What the stock Happy CLI and app need beyond the seed: session attachments and voice
-- conversations.

-- An attachment announced by POST /v1/sessions/:id/attachments/request-upload. The announced
-- size bounds the PUT that follows; the bytes live in R2 under
-- sessions/<session_id>/attachments/<file>. Ownership is the session's (its account_id).
CREATE TABLE session_attachments (
    session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    file TEXT NOT NULL,
    size INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    -- Set when the PUT stored the bytes.
    uploaded_at INTEGER,
    PRIMARY KEY (session_id, file)
);

-- A voice conversation granted by POST /v1/voice/conversations, charged `seconds` (the
-- configured length of one conversation) against the account's monthly allowance.
CREATE TABLE voice_conversations (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    agent_id TEXT NOT NULL,
    seconds INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX voice_conversations_by_account ON voice_conversations (account_id, created_at);
