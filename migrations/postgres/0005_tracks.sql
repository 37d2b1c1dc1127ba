-- Tracks and what hangs off them (product.md §5.2, §6.4-6.6, §6.9; docs/tracks.md). Timestamps are µs since the
-- epoch (UTC). Albums are the minimum an upload needs (issue 6 completes them).

CREATE TABLE images (
    image_id TEXT PRIMARY KEY CHECK (char_length(image_id) = 16),
    ext TEXT NOT NULL CHECK (ext IN ('jpg', 'png', 'webp')),
    width BIGINT NOT NULL CHECK (width > 0),
    height BIGINT NOT NULL CHECK (height > 0),
    bytes BIGINT NOT NULL CHECK (bytes >= 0),
    owner_did TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE albums (
    id UUID PRIMARY KEY,
    artist_did TEXT NOT NULL REFERENCES artists (did) ON DELETE CASCADE,
    slug TEXT NOT NULL,
    title TEXT NOT NULL,
    image_id TEXT,
    atproto_rkey TEXT NOT NULL,
    atproto_record_uri TEXT,
    atproto_record_cid TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (artist_did, slug)
);

CREATE TABLE tracks (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    artist_did TEXT NOT NULL REFERENCES artists (did) ON DELETE CASCADE,
    title TEXT NOT NULL,
    description TEXT,
    file_id TEXT NOT NULL CHECK (char_length(file_id) = 16),
    file_type TEXT NOT NULL,
    original_file_id TEXT CHECK (original_file_id IS NULL OR char_length(original_file_id) = 16),
    original_file_type TEXT,
    file_size BIGINT NOT NULL DEFAULT 0,
    codec TEXT NOT NULL DEFAULT '',
    sample_rate BIGINT NOT NULL DEFAULT 0,
    channels BIGINT NOT NULL DEFAULT 0,
    duration_ms BIGINT,
    loudness_lufs DOUBLE PRECISION,
    true_peak_dbtp DOUBLE PRECISION,
    album_id UUID REFERENCES albums (id) ON DELETE SET NULL,
    album_position BIGINT,
    features JSONB NOT NULL DEFAULT '[]'::jsonb,
    image_id TEXT,
    visibility TEXT NOT NULL DEFAULT 'public' CHECK (visibility IN ('public', 'supporters')),
    support_gate JSONB,
    atproto_rkey TEXT NOT NULL,
    atproto_record_uri TEXT,
    atproto_record_cid TEXT,
    record_extra JSONB NOT NULL DEFAULT '{}'::jsonb,
    publish_state TEXT NOT NULL DEFAULT 'pending' CHECK (publish_state IN ('pending', 'published', 'failed')),
    upload_job_id UUID,
    play_count BIGINT NOT NULL DEFAULT 0 CHECK (play_count >= 0),
    like_count BIGINT NOT NULL DEFAULT 0 CHECK (like_count >= 0),
    comment_count BIGINT NOT NULL DEFAULT 0 CHECK (comment_count >= 0),
    copyright_flagged BOOLEAN,
    operator_labels JSONB NOT NULL DEFAULT '[]'::jsonb,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX tracks_record_uri ON tracks (atproto_record_uri) WHERE atproto_record_uri IS NOT NULL;
CREATE UNIQUE INDEX tracks_artist_rkey ON tracks (artist_did, atproto_rkey);
-- One track per upload job: a re-run of a crashed job finds its reserved row instead of inserting another.
CREATE UNIQUE INDEX tracks_upload_job ON tracks (upload_job_id) WHERE upload_job_id IS NOT NULL;
CREATE INDEX tracks_file_id ON tracks (file_id);
CREATE INDEX tracks_original_file_id ON tracks (original_file_id) WHERE original_file_id IS NOT NULL;
CREATE INDEX tracks_image_id ON tracks (image_id) WHERE image_id IS NOT NULL;
CREATE INDEX tracks_feed ON tracks (created_at DESC, id DESC);
CREATE INDEX tracks_artist_created ON tracks (artist_did, created_at);
CREATE INDEX tracks_album_position ON tracks (album_id, album_position);

-- Waveform peaks of the playable file (GET /tracks/{id}/peaks): int8 min/max pairs, two resolutions.
CREATE TABLE track_peaks (
    track_id BIGINT NOT NULL REFERENCES tracks (id) ON DELETE CASCADE,
    resolution TEXT NOT NULL CHECK (resolution IN ('low', 'high')),
    samples_per_peak BIGINT NOT NULL CHECK (samples_per_peak > 0),
    peaks BYTEA NOT NULL,
    PRIMARY KEY (track_id, resolution)
);

-- Chromaprint fingerprint kept for the copyright scan (issue 9).
CREATE TABLE track_fingerprints (
    track_id BIGINT PRIMARY KEY REFERENCES tracks (id) ON DELETE CASCADE,
    algorithm BIGINT NOT NULL,
    duration_ms BIGINT NOT NULL,
    fingerprint BYTEA NOT NULL,
    silent_windows JSONB NOT NULL DEFAULT '[]'::jsonb,
    created_at BIGINT NOT NULL
);

CREATE TABLE tags (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created_by_did TEXT,
    created_at BIGINT NOT NULL
);
CREATE TABLE track_tags (
    track_id BIGINT NOT NULL REFERENCES tracks (id) ON DELETE CASCADE,
    tag_id BIGINT NOT NULL REFERENCES tags (id) ON DELETE CASCADE,
    PRIMARY KEY (track_id, tag_id)
);
CREATE INDEX track_tags_tag ON track_tags (tag_id);

-- Durable PDS writes (product.md §6.5). The record body is built at send time from the entity's row.
CREATE TABLE pds_outbox (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    did TEXT NOT NULL,
    collection TEXT NOT NULL,
    rkey TEXT NOT NULL,
    op TEXT NOT NULL CHECK (op IN ('put', 'delete')),
    entity_type TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'in_flight', 'done', 'blocked_auth', 'dead', 'cancelled')),
    attempts BIGINT NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at BIGINT NOT NULL,
    lease_owner TEXT,
    lease_until BIGINT,
    last_status BIGINT,
    last_error TEXT,
    result_uri TEXT,
    result_cid TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX pds_outbox_live ON pds_outbox (did, collection, rkey)
    WHERE status IN ('pending', 'in_flight', 'blocked_auth');
CREATE INDEX pds_outbox_due ON pds_outbox (status, next_attempt_at);
CREATE INDEX pds_outbox_did ON pds_outbox (did);

-- Play counting (product.md §6.9).
CREATE TABLE play_dedupe (
    listener_key TEXT NOT NULL,
    track_id BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (listener_key, track_id)
);
CREATE INDEX play_dedupe_expires ON play_dedupe (expires_at);
CREATE TABLE listens (
    listen_id UUID PRIMARY KEY,
    listener_key TEXT NOT NULL,
    track_id BIGINT NOT NULL,
    counted BOOLEAN NOT NULL DEFAULT FALSE,
    scrobbled BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL
);
CREATE INDEX listens_created ON listens (created_at);
