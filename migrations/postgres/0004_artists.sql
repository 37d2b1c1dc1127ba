-- Artists (product.md §5.2): every signed-in user has a row, upserted at each sign-in (§6.1 step 8).
-- `handle` is unique while set; when a verified handle moves to another DID the old row's handle is cleared
-- (NULL). Timestamps are µs since the epoch (UTC).
CREATE TABLE artists (
    did TEXT PRIMARY KEY,
    handle TEXT,
    display_name TEXT NOT NULL DEFAULT '',
    bio TEXT NOT NULL DEFAULT '',
    avatar_url TEXT,
    pds_url TEXT NOT NULL DEFAULT '',
    support_url TEXT NOT NULL DEFAULT '',
    profile_completed BOOLEAN NOT NULL DEFAULT FALSE,
    deactivated BOOLEAN NOT NULL DEFAULT FALSE,
    display_name_from_bsky BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX artists_handle ON artists (handle) WHERE handle IS NOT NULL;
