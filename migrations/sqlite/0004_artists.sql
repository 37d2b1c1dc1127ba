-- Artists (product.md §5.2): every signed-in user has a row, upserted at each sign-in (§6.1 step 8).
-- `handle` is unique while set; when a verified handle moves to another DID the old row's handle is cleared
-- (NULL). Timestamps are µs since the epoch (UTC).
CREATE TABLE artists (
    did TEXT PRIMARY KEY NOT NULL,
    handle TEXT,
    display_name TEXT NOT NULL DEFAULT '',
    bio TEXT NOT NULL DEFAULT '',
    avatar_url TEXT,
    pds_url TEXT NOT NULL DEFAULT '',
    support_url TEXT NOT NULL DEFAULT '',
    profile_completed INTEGER NOT NULL DEFAULT 0 CHECK (profile_completed IN (0, 1)),
    deactivated INTEGER NOT NULL DEFAULT 0 CHECK (deactivated IN (0, 1)),
    display_name_from_bsky INTEGER NOT NULL DEFAULT 0 CHECK (display_name_from_bsky IN (0, 1)),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX artists_handle ON artists (handle) WHERE handle IS NOT NULL;
