#pragma once
// storage::repos — the auth tables of product.md §5.2 (migration 0003_auth): user_sessions, oauth_states,
// exchange_tokens. All SQL for them lives here.
//
// Contract
// - BLOCKING (each call is one db::Db transaction): coroutines call through net::Offload().
// - Session ids, OAuth `state` values and exchange tokens are never stored: only HashToken() of them (hex
//   SHA-256). Callers hold the raw value; repositories receive it (Create/Insert/Consume/Redeem) or its hash
//   (the session calls, since linked-account lists yield hashes, never ids).
// - Secrets (`oauth`, `secrets`, `session_id` columns) are SecretBox blobs. Associated data:
//   user_sessions + session_uid (a random UUID fixed at creation, so rotating the session id keeps the blob
//   valid), oauth_states + state_hash, exchange_tokens + token_hash. Reads accept the previous key; every
//   write seals with the current key, so rows are re-encrypted on their next write.
// - Times are µs since the epoch passed in by the caller (`now`), never read from a clock here.
// - Errors: db errors pass through (kBusy, kUnavailable, kConflict for a duplicate key, …); a secret that
//   cannot be decrypted (tampered row, unknown key) → kPermissionDenied with no secret in the message.
// - Thread-safety: the repositories hold references only; safe to share across threads when the Db and the
//   SecretBox outlive them.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "core/secret_box.hpp"
#include "storage/db/db.hpp"

namespace plyr::storage::repos {

// Hex SHA-256 of a session id, state or exchange token: the only form stored.
std::string HashToken(std::string_view token);

// ---- user_sessions ----

struct NewSession {
    std::string session_id;  // raw 256-bit random id (stored hashed)
    std::string did;
    std::string handle;
    std::optional<std::string> group_id;  // uuid linking accounts of one browser
    bool is_developer_token = false;
    std::optional<std::string> token_name;
    std::optional<std::string> token_prefix;  // 8 chars, developer tokens
    std::string oauth;                        // plaintext secret bundle (JSON); encrypted at rest
    std::string granted_scope;
    std::optional<std::int64_t> refresh_expires_at;
    std::int64_t expires_at = 0;
    std::int64_t now = 0;
};

struct Session {
    std::string session_hash;
    std::string session_uid;
    std::string did;
    std::string handle;
    std::optional<std::string> group_id;
    bool is_developer_token = false;
    std::optional<std::string> token_name;
    std::optional<std::string> token_prefix;
    std::string oauth;  // decrypted
    std::string granted_scope;
    std::optional<std::int64_t> refresh_expires_at;
    std::int64_t expires_at = 0;
    std::optional<std::int64_t> refresh_lock_until;
    bool deleting = false;
    std::int64_t created_at = 0;
    std::int64_t last_used_at = 0;
};

class SessionRepository {
  public:
    SessionRepository(db::Db& db, const core::SecretBox& box) : db_(db), box_(box) {}

    // kConflict when the session id already exists.
    Result<Session> Create(const NewSession& session);
    // nullopt when absent or expired (an expired row is deleted on the way).
    Result<std::optional<Session>> Get(std::string_view session_hash, std::int64_t now);
    // true when a row was deleted.
    Result<bool> Delete(std::string_view session_hash);
    // Live sessions, oldest first.
    Result<std::vector<Session>> ListByDid(std::string_view did, std::int64_t now);
    Result<std::vector<Session>> ListByGroup(std::string_view group_id, std::int64_t now);
    // Sets last_used_at; kNotFound when the session does not exist.
    Status Touch(std::string_view session_hash, std::int64_t now);
    // Replaces the secret bundle (after a refresh), sealing it with the current key; optionally the granted
    // scope and expiries. kNotFound when the session does not exist.
    Status UpdateOAuth(std::string_view session_hash, std::string_view oauth, std::optional<std::string> granted_scope,
                       std::optional<std::int64_t> refresh_expires_at, std::optional<std::int64_t> expires_at);
    // Deletes every expired session; returns how many.
    Result<std::int64_t> DeleteExpired(std::int64_t now);

    // Refresh lease: refresh tokens are single-use, so one refresh per session at a time, across processes.
    // Takes the lease until `lease_until` when no live lease exists (refresh_lock_until absent or <= now);
    // true when this caller now holds it, false when another holder's lease is live or the session is gone.
    Result<bool> TryLockRefresh(std::string_view session_hash, std::int64_t now, std::int64_t lease_until);
    // Releases the lease taken with `lease_until`; a lease that expired and was taken by someone else since
    // (different value) is left alone.
    Status UnlockRefresh(std::string_view session_hash, std::int64_t lease_until);
    // Replaces the session id (session fixation defence on privilege change). The secret bundle stays valid
    // (its associated data is session_uid). false when the old session does not exist; kConflict when the new
    // id is taken.
    Result<bool> RotateId(std::string_view old_session_hash, std::string_view new_session_id);

  private:
    Result<Session> FromRow(const db::Row& row) const;
    Result<std::vector<Session>> ListWhere(std::string_view column, std::string_view value, std::int64_t now);

    db::Db& db_;
    const core::SecretBox& box_;
};

// ---- oauth_states ----

struct OAuthState {
    std::string state_hash;  // filled in by Insert from the raw state
    std::string flow;        // login | add_account | dev_token | scope_upgrade
    std::optional<std::string> flow_ref;
    std::string issuer;
    std::optional<std::string> expected_did;
    std::string login_input;
    std::string pds_url;
    std::string secrets;  // plaintext (PKCE verifier, DPoP private key, AS nonce); encrypted at rest
    std::string requested_scope;
    std::optional<std::string> return_to;
    std::int64_t created_at = 0;
    std::int64_t expires_at = 0;  // created_at + 10 min (set by the caller)
};

class OAuthStateRepository {
  public:
    OAuthStateRepository(db::Db& db, const core::SecretBox& box) : db_(db), box_(box) {}

    // Stores `row` under HashToken(state) (row.state_hash is ignored). kConflict on a duplicate state.
    Status Insert(std::string_view state, const OAuthState& row);
    // Deletes and returns the row in one statement, so a state is used at most once even with concurrent
    // callbacks. nullopt when unknown, already used, or expired (an expired row is deleted too).
    Result<std::optional<OAuthState>> Consume(std::string_view state, std::int64_t now);
    Result<std::int64_t> DeleteExpired(std::int64_t now);

  private:
    db::Db& db_;
    const core::SecretBox& box_;
};

// ---- exchange_tokens ----

struct RedeemedExchange {
    std::string session_hash;
    bool is_dev_token = false;
    std::string session_id;  // decrypted raw session id, handed over once
    // HashToken of the browser-binding cookie of the flow that made the token; empty when none was recorded.
    std::string binding_hash;
};

class ExchangeTokenRepository {
  public:
    ExchangeTokenRepository(db::Db& db, const core::SecretBox& box) : db_(db), box_(box) {}

    // Stores HashToken(token) → (session, encrypted session id [+ binding hash]). kConflict on a duplicate token.
    Status Insert(std::string_view token, std::string_view session_id, bool is_dev_token, std::int64_t now,
                  std::int64_t expires_at, std::string_view binding_hash = {});
    // Single use: marks the token used if it is unused and unexpired, in one statement
    // (UPDATE … WHERE used_at IS NULL AND expires_at > now RETURNING), so of concurrent redeemers exactly one
    // gets the session. nullopt for unknown, used or expired tokens.
    Result<std::optional<RedeemedExchange>> Redeem(std::string_view token, std::int64_t now);
    // Deletes tokens expired before `now` (used or not); returns how many.
    Result<std::int64_t> DeleteExpired(std::int64_t now);

  private:
    db::Db& db_;
    const core::SecretBox& box_;
};

// ---- pending_add_accounts, pending_dev_tokens, pending_scope_upgrades ----
// Flow-specific rows keyed by the same state hash as their oauth_states row. No secrets. Each Consume is a
// `DELETE … RETURNING` (at most once); an expired row is deleted and reported absent.

struct PendingAddAccount {
    std::string group_id;
    std::string initiator_session_hash;
    std::int64_t created_at = 0;
    std::int64_t expires_at = 0;
};

struct PendingDevToken {
    std::string did;
    std::string token_name;
    std::int64_t expires_in_days = 0;
    std::int64_t created_at = 0;
    std::int64_t expires_at = 0;
};

struct PendingScopeUpgrade {
    std::string did;
    std::string old_session_hash;
    std::string requested = "[]";  // JSON array, e.g. ["teal","bsky_post"] (PostgreSQL returns it normalised)
    std::optional<std::string> return_to;
    std::int64_t created_at = 0;
    std::int64_t expires_at = 0;
};

class PendingRepository {
  public:
    explicit PendingRepository(db::Db& db) : db_(db) {}

    // kConflict on a duplicate state.
    Status InsertAddAccount(std::string_view state, const PendingAddAccount& row);
    Result<std::optional<PendingAddAccount>> ConsumeAddAccount(std::string_view state, std::int64_t now);
    Status InsertDevToken(std::string_view state, const PendingDevToken& row);
    Result<std::optional<PendingDevToken>> ConsumeDevToken(std::string_view state, std::int64_t now);
    // kInvalidArgument when `requested` is not a JSON array (checked here so both engines answer alike).
    Status InsertScopeUpgrade(std::string_view state, const PendingScopeUpgrade& row);
    Result<std::optional<PendingScopeUpgrade>> ConsumeScopeUpgrade(std::string_view state, std::int64_t now);
    // Deletes expired rows of all three tables; returns how many.
    Result<std::int64_t> DeleteExpired(std::int64_t now);

  private:
    db::Db& db_;
};

}  // namespace plyr::storage::repos
