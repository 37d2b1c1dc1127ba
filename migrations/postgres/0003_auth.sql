-- OAuth sign-in state and sessions (product.md §5.2, §6.1-6.3; docs/oauth.md "storage").
-- Session ids, OAuth states and exchange tokens are stored only as SHA-256 hashes (hex). `enc` columns are
-- SecretBox blobs whose associated data is the table name + the row's stable id (session_uid for
-- user_sessions, whose hash changes when the session id is rotated; the hash key elsewhere).
-- Timestamps are µs since the epoch (UTC).
CREATE TABLE user_sessions (
    session_hash TEXT PRIMARY KEY,
    session_uid UUID NOT NULL UNIQUE,
    did TEXT NOT NULL,
    handle TEXT NOT NULL DEFAULT '',
    group_id UUID,
    is_developer_token BOOLEAN NOT NULL DEFAULT FALSE,
    token_name TEXT,
    token_prefix TEXT CHECK (token_prefix IS NULL OR length(token_prefix) = 8),
    oauth BYTEA NOT NULL,
    granted_scope TEXT NOT NULL DEFAULT '',
    refresh_expires_at BIGINT,
    expires_at BIGINT NOT NULL,
    refresh_lock_until BIGINT,
    deleting BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT NOT NULL
);
CREATE INDEX user_sessions_did ON user_sessions (did);
CREATE INDEX user_sessions_group_id ON user_sessions (group_id);
CREATE INDEX user_sessions_expires_at ON user_sessions (expires_at);

CREATE TABLE oauth_states (
    state_hash TEXT PRIMARY KEY,
    flow TEXT NOT NULL CHECK (flow IN ('login', 'add_account', 'dev_token', 'scope_upgrade')),
    flow_ref TEXT,
    issuer TEXT NOT NULL,
    expected_did TEXT,
    login_input TEXT NOT NULL DEFAULT '',
    pds_url TEXT NOT NULL DEFAULT '',
    secrets BYTEA NOT NULL,
    requested_scope TEXT NOT NULL DEFAULT '',
    return_to TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX oauth_states_expires_at ON oauth_states (expires_at);

CREATE TABLE pending_add_accounts (
    state_hash TEXT PRIMARY KEY,
    group_id UUID NOT NULL,
    initiator_session_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE TABLE pending_dev_tokens (
    state_hash TEXT PRIMARY KEY,
    did TEXT NOT NULL,
    token_name TEXT NOT NULL,
    expires_in_days INTEGER NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE TABLE pending_scope_upgrades (
    state_hash TEXT PRIMARY KEY,
    did TEXT NOT NULL,
    old_session_hash TEXT NOT NULL,
    requested JSONB NOT NULL DEFAULT '[]'::jsonb,
    return_to TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE TABLE exchange_tokens (
    token_hash TEXT PRIMARY KEY,
    session_hash TEXT NOT NULL,
    is_dev_token BOOLEAN NOT NULL DEFAULT FALSE,
    session_id BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX exchange_tokens_expires_at ON exchange_tokens (expires_at);
