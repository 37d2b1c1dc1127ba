-- Durable job queue (product.md §5.2, §6.16; docs/jobs.md). Timestamps are µs since the epoch (UTC).
CREATE TABLE jobs (
    id TEXT PRIMARY KEY NOT NULL,
    type TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'running', 'completed', 'failed', 'dead')),
    owner_did TEXT,
    payload TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(payload)),
    result TEXT CHECK (result IS NULL OR json_valid(result)),
    phase TEXT NOT NULL DEFAULT '',
    progress_pct INTEGER NOT NULL DEFAULT 0 CHECK (progress_pct BETWEEN 0 AND 100),
    message TEXT NOT NULL DEFAULT '',
    warnings TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(warnings)),
    error_code TEXT,
    error TEXT,
    attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts INTEGER NOT NULL DEFAULT 3 CHECK (max_attempts >= 1),
    run_after INTEGER NOT NULL,
    lease_owner TEXT,
    lease_until INTEGER,
    heartbeat_at INTEGER,
    dedupe_key TEXT,
    idempotency_key TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    completed_at INTEGER
);

-- At most one live (pending or running) job per dedupe_key; finished jobs keep their key for history.
CREATE UNIQUE INDEX jobs_dedupe_key_live ON jobs (dedupe_key)
    WHERE dedupe_key IS NOT NULL AND status IN ('pending', 'running');
CREATE INDEX jobs_status_run_after ON jobs (status, run_after);
CREATE INDEX jobs_owner_type ON jobs (owner_did, type);
CREATE INDEX jobs_owner_idempotency ON jobs (owner_did, idempotency_key);
