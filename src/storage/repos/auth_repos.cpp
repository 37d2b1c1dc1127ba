#include "storage/repos/auth_repos.hpp"

#include <fmt/format.h>
#include <boost/json/parse.hpp>

#include "core/encoding.hpp"

namespace plyr::storage::repos {
namespace {

using db::Blob;
using db::Value;

constexpr std::string_view kSessions = "user_sessions";
constexpr std::string_view kStates = "oauth_states";
constexpr std::string_view kExchange = "exchange_tokens";

Value OptText(const std::optional<std::string>& v) { return v ? Value(*v) : Value(nullptr); }
Value OptInt(const std::optional<std::int64_t>& v) { return v ? Value(*v) : Value(nullptr); }

Result<std::string> Seal(const core::SecretBox& box, std::string_view plaintext, std::string_view table,
                         std::string_view row_id) {
    return box.Seal(plaintext, core::SecretAssociatedData(table, row_id));
}

Result<core::OpenedSecret> Open(const core::SecretBox& box, std::string_view blob, std::string_view table,
                                std::string_view row_id) {
    auto opened = box.Open(blob, core::SecretAssociatedData(table, row_id));
    if (!opened) {
        // The row id is a hash or a uuid, never a secret: safe for the log detail.
        return Fail(ErrorCode::kPermissionDenied, "stored credentials cannot be decrypted",
                    fmt::format("{} row {}: {}", table, row_id, opened.error().detail));
    }
    return opened;
}

constexpr std::string_view kSessionColumns =
    "session_hash, session_uid, did, handle, group_id, is_developer_token, token_name, token_prefix, oauth, "
    "granted_scope, refresh_expires_at, expires_at, refresh_lock_until, deleting, created_at, last_used_at";

constexpr std::string_view kStateColumns =
    "state_hash, flow, flow_ref, issuer, expected_did, login_input, pds_url, secrets, requested_scope, return_to, "
    "created_at, expires_at";

}  // namespace

std::string HashToken(std::string_view token) { return core::Sha256Hex(token); }

// ---- user_sessions ----

Result<Session> SessionRepository::FromRow(const db::Row& row) const {
    Session s;
    s.session_hash = row.Text("session_hash");
    s.session_uid = row.Text("session_uid");
    s.did = row.Text("did");
    s.handle = row.Text("handle");
    s.group_id = row.OptText("group_id");
    s.is_developer_token = row.Bool("is_developer_token");
    s.token_name = row.OptText("token_name");
    s.token_prefix = row.OptText("token_prefix");
    auto opened = Open(box_, row.Bytes("oauth"), kSessions, s.session_uid);
    if (!opened) return Fail(std::move(opened.error()));
    s.oauth = std::move(opened->plaintext);
    s.granted_scope = row.Text("granted_scope");
    s.refresh_expires_at = row.OptInt("refresh_expires_at");
    s.expires_at = row.Int("expires_at");
    s.refresh_lock_until = row.OptInt("refresh_lock_until");
    s.deleting = row.Bool("deleting");
    s.created_at = row.Int("created_at");
    s.last_used_at = row.Int("last_used_at");
    return s;
}

Result<Session> SessionRepository::Create(const NewSession& in) {
    Session s;
    s.session_hash = HashToken(in.session_id);
    s.session_uid = core::RandomUuid();
    s.did = in.did;
    s.handle = in.handle;
    s.group_id = in.group_id;
    s.is_developer_token = in.is_developer_token;
    s.token_name = in.token_name;
    s.token_prefix = in.token_prefix;
    s.oauth = in.oauth;
    s.granted_scope = in.granted_scope;
    s.refresh_expires_at = in.refresh_expires_at;
    s.expires_at = in.expires_at;
    s.created_at = in.now;
    s.last_used_at = in.now;
    auto sealed = Seal(box_, in.oauth, kSessions, s.session_uid);
    if (!sealed) return Fail(std::move(sealed.error()));
    auto st = db_.Write([&](db::Connection& c) -> Status {
        auto n = c.Exec(
            "INSERT INTO user_sessions (session_hash, session_uid, did, handle, group_id, is_developer_token, "
            "token_name, token_prefix, oauth, granted_scope, refresh_expires_at, expires_at, created_at, "
            "last_used_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
            {s.session_hash, s.session_uid, s.did, s.handle, OptText(s.group_id), s.is_developer_token,
             OptText(s.token_name), OptText(s.token_prefix), Blob{std::move(*sealed)}, s.granted_scope,
             OptInt(s.refresh_expires_at), s.expires_at, s.created_at, s.last_used_at});
        if (!n) return Fail(std::move(n.error()));
        return Ok();
    });
    if (!st) return Fail(std::move(st.error()));
    return s;
}

Result<std::optional<Session>> SessionRepository::Get(std::string_view session_hash, std::int64_t now) {
    std::string hash(session_hash);
    bool expired = false;
    auto found = db_.ReadValue<std::optional<Session>>([&](db::Connection& c) -> Result<std::optional<Session>> {
        auto rows =
            c.Query(fmt::format("SELECT {} FROM user_sessions WHERE session_hash = $1", kSessionColumns), {hash});
        if (!rows) return Fail(std::move(rows.error()));
        if (rows->empty()) return std::optional<Session>{};
        if (rows->front().Int("expires_at") <= now) {
            expired = true;
            return std::optional<Session>{};
        }
        auto s = FromRow(rows->front());
        if (!s) return Fail(std::move(s.error()));
        return std::optional<Session>(std::move(*s));
    });
    if (!found) return Fail(std::move(found.error()));
    if (expired) {
        // Reads run on a reader; the delete re-checks expiry in case the row was refreshed meanwhile.
        auto st = db_.Write([&](db::Connection& c) -> Status {
            auto n = c.Exec("DELETE FROM user_sessions WHERE session_hash = $1 AND expires_at <= $2", {hash, now});
            if (!n) return Fail(std::move(n.error()));
            return Ok();
        });
        if (!st) return Fail(std::move(st.error()));
    }
    return found;
}

Result<bool> SessionRepository::Delete(std::string_view session_hash) {
    return db_.WriteValue<bool>([&](db::Connection& c) -> Result<bool> {
        auto n = c.Exec("DELETE FROM user_sessions WHERE session_hash = $1", {std::string(session_hash)});
        if (!n) return Fail(std::move(n.error()));
        return *n > 0;
    });
}

Result<std::vector<Session>> SessionRepository::ListWhere(std::string_view column, std::string_view value,
                                                          std::int64_t now) {
    using List = std::vector<Session>;
    return db_.ReadValue<List>([&](db::Connection& c) -> Result<List> {
        auto rows = c.Query(fmt::format("SELECT {} FROM user_sessions WHERE {} = $1 AND expires_at > $2 "
                                        "ORDER BY created_at, session_hash",
                                        kSessionColumns, column),
                            {std::string(value), now});
        if (!rows) return Fail(std::move(rows.error()));
        List out;
        for (const auto& row : *rows) {
            auto s = FromRow(row);
            if (!s) return Fail(std::move(s.error()));
            out.push_back(std::move(*s));
        }
        return out;
    });
}

Result<std::vector<Session>> SessionRepository::ListByDid(std::string_view did, std::int64_t now) {
    return ListWhere("did", did, now);
}

Result<std::vector<Session>> SessionRepository::ListByGroup(std::string_view group_id, std::int64_t now) {
    return ListWhere("group_id", group_id, now);
}

Status SessionRepository::Touch(std::string_view session_hash, std::int64_t now) {
    return db_.Write([&](db::Connection& c) -> Status {
        auto n = c.Exec("UPDATE user_sessions SET last_used_at = $1 WHERE session_hash = $2",
                        {now, std::string(session_hash)});
        if (!n) return Fail(std::move(n.error()));
        if (*n == 0) return Fail(ErrorCode::kNotFound, "session not found");
        return Ok();
    });
}

Status SessionRepository::UpdateOAuth(std::string_view session_hash, std::string_view oauth,
                                      std::optional<std::string> granted_scope,
                                      std::optional<std::int64_t> refresh_expires_at,
                                      std::optional<std::int64_t> expires_at) {
    return db_.Write([&](db::Connection& c) -> Status {
        auto rows =
            c.Query("SELECT session_uid FROM user_sessions WHERE session_hash = $1", {std::string(session_hash)});
        if (!rows) return Fail(std::move(rows.error()));
        if (rows->empty()) return Fail(ErrorCode::kNotFound, "session not found");
        auto sealed = Seal(box_, oauth, kSessions, rows->front().Text("session_uid"));
        if (!sealed) return Fail(std::move(sealed.error()));
        // Only the columns given change; the statement text depends on which, never on values.
        std::string sql = "UPDATE user_sessions SET oauth = $1";
        std::vector<Value> params{Blob{std::move(*sealed)}};
        if (granted_scope) {
            params.emplace_back(*granted_scope);
            sql += fmt::format(", granted_scope = ${}", params.size());
        }
        if (refresh_expires_at) {
            params.emplace_back(*refresh_expires_at);
            sql += fmt::format(", refresh_expires_at = ${}", params.size());
        }
        if (expires_at) {
            params.emplace_back(*expires_at);
            sql += fmt::format(", expires_at = ${}", params.size());
        }
        params.emplace_back(std::string(session_hash));
        sql += fmt::format(" WHERE session_hash = ${}", params.size());
        auto n = c.Query(sql, db::Params(params));
        if (!n) return Fail(std::move(n.error()));
        return Ok();
    });
}

Result<std::int64_t> SessionRepository::DeleteExpired(std::int64_t now) {
    return db_.WriteValue<std::int64_t>([&](db::Connection& c) -> Result<std::int64_t> {
        return c.Exec("DELETE FROM user_sessions WHERE expires_at <= $1", {now});
    });
}

Result<bool> SessionRepository::TryLockRefresh(std::string_view session_hash, std::int64_t now,
                                               std::int64_t lease_until) {
    return db_.WriteValue<bool>([&](db::Connection& c) -> Result<bool> {
        auto n = c.Exec(
            "UPDATE user_sessions SET refresh_lock_until = $1 WHERE session_hash = $2 "
            "AND (refresh_lock_until IS NULL OR refresh_lock_until <= $3)",
            {lease_until, std::string(session_hash), now});
        if (!n) return Fail(std::move(n.error()));
        return *n > 0;
    });
}

Status SessionRepository::UnlockRefresh(std::string_view session_hash, std::int64_t lease_until) {
    return db_.Write([&](db::Connection& c) -> Status {
        auto n = c.Exec(
            "UPDATE user_sessions SET refresh_lock_until = NULL WHERE session_hash = $1 AND refresh_lock_until = $2",
            {std::string(session_hash), lease_until});
        if (!n) return Fail(std::move(n.error()));
        return Ok();
    });
}

Result<bool> SessionRepository::RotateId(std::string_view old_session_hash, std::string_view new_session_id) {
    return db_.WriteValue<bool>([&](db::Connection& c) -> Result<bool> {
        auto n = c.Exec("UPDATE user_sessions SET session_hash = $1 WHERE session_hash = $2",
                        {HashToken(new_session_id), std::string(old_session_hash)});
        if (!n) return Fail(std::move(n.error()));
        return *n > 0;
    });
}

// ---- oauth_states ----

Status OAuthStateRepository::Insert(std::string_view state, const OAuthState& row) {
    std::string hash = HashToken(state);
    auto sealed = Seal(box_, row.secrets, kStates, hash);
    if (!sealed) return Fail(std::move(sealed.error()));
    return db_.Write([&](db::Connection& c) -> Status {
        auto n = c.Exec(
            fmt::format("INSERT INTO oauth_states ({}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, "
                        "$11, $12)",
                        kStateColumns),
            {hash, row.flow, OptText(row.flow_ref), row.issuer, OptText(row.expected_did), row.login_input, row.pds_url,
             Blob{std::move(*sealed)}, row.requested_scope, OptText(row.return_to), row.created_at, row.expires_at});
        if (!n) return Fail(std::move(n.error()));
        return Ok();
    });
}

Result<std::optional<OAuthState>> OAuthStateRepository::Consume(std::string_view state, std::int64_t now) {
    using Out = std::optional<OAuthState>;
    std::string hash = HashToken(state);
    return db_.WriteValue<Out>([&](db::Connection& c) -> Result<Out> {
        // Deleting unconditionally also disposes of an expired row; expiry is judged on what came back.
        auto rows =
            c.Query(fmt::format("DELETE FROM oauth_states WHERE state_hash = $1 RETURNING {}", kStateColumns), {hash});
        if (!rows) return Fail(std::move(rows.error()));
        if (rows->empty()) return Out{};
        const auto& r = rows->front();
        if (r.Int("expires_at") <= now) return Out{};
        OAuthState s;
        s.state_hash = r.Text("state_hash");
        s.flow = r.Text("flow");
        s.flow_ref = r.OptText("flow_ref");
        s.issuer = r.Text("issuer");
        s.expected_did = r.OptText("expected_did");
        s.login_input = r.Text("login_input");
        s.pds_url = r.Text("pds_url");
        auto opened = Open(box_, r.Bytes("secrets"), kStates, s.state_hash);
        if (!opened) return Fail(std::move(opened.error()));
        s.secrets = std::move(opened->plaintext);
        s.requested_scope = r.Text("requested_scope");
        s.return_to = r.OptText("return_to");
        s.created_at = r.Int("created_at");
        s.expires_at = r.Int("expires_at");
        return Out(std::move(s));
    });
}

Result<std::int64_t> OAuthStateRepository::DeleteExpired(std::int64_t now) {
    return db_.WriteValue<std::int64_t>([&](db::Connection& c) -> Result<std::int64_t> {
        return c.Exec("DELETE FROM oauth_states WHERE expires_at <= $1", {now});
    });
}

// ---- exchange_tokens ----

Status ExchangeTokenRepository::Insert(std::string_view token, std::string_view session_id, bool is_dev_token,
                                       std::int64_t now, std::int64_t expires_at, std::string_view binding_hash) {
    std::string hash = HashToken(token);
    // Session ids are base64url: a newline cannot occur in them and separates the binding hash.
    std::string plaintext(session_id);
    if (!binding_hash.empty()) plaintext.append("\n").append(binding_hash);
    auto sealed = Seal(box_, plaintext, kExchange, hash);
    if (!sealed) return Fail(std::move(sealed.error()));
    return db_.Write([&](db::Connection& c) -> Status {
        auto n = c.Exec(
            "INSERT INTO exchange_tokens (token_hash, session_hash, is_dev_token, session_id, created_at, expires_at) "
            "VALUES ($1, $2, $3, $4, $5, $6)",
            {hash, HashToken(session_id), is_dev_token, Blob{std::move(*sealed)}, now, expires_at});
        if (!n) return Fail(std::move(n.error()));
        return Ok();
    });
}

Result<std::optional<RedeemedExchange>> ExchangeTokenRepository::Redeem(std::string_view token, std::int64_t now) {
    struct Claimed {
        std::string session_hash;
        bool is_dev_token = false;
        std::string sealed;
    };
    using Row = std::optional<Claimed>;
    std::string hash = HashToken(token);
    auto claimed = db_.WriteValue<Row>([&](db::Connection& c) -> Result<Row> {
        auto rows = c.Query(
            "UPDATE exchange_tokens SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1 "
            "RETURNING session_hash, is_dev_token, session_id",
            {now, hash});
        if (!rows) return Fail(std::move(rows.error()));
        if (rows->empty()) return Row{};
        const auto& r = rows->front();
        Claimed claimed{r.Text("session_hash"), r.Bool("is_dev_token"), r.Bytes("session_id")};
        // Handed over once: the sealed id is not kept in the used row (ids are never recoverable, §6.3).
        auto wiped = c.Exec("UPDATE exchange_tokens SET session_id = $1 WHERE token_hash = $2", {Blob{}, hash});
        if (!wiped) return Fail(std::move(wiped.error()));
        return Row(std::move(claimed));
    });
    if (!claimed) return Fail(std::move(claimed.error()));
    if (!*claimed) return std::optional<RedeemedExchange>{};
    // Decrypted after the commit: a row that cannot be decrypted stays used and never becomes redeemable again.
    auto opened = Open(box_, (*claimed)->sealed, kExchange, hash);
    if (!opened) return Fail(std::move(opened.error()));
    std::string session_id = std::move(opened->plaintext);
    std::string binding_hash;
    if (auto nl = session_id.find('\n'); nl != std::string::npos) {
        binding_hash = session_id.substr(nl + 1);
        session_id.resize(nl);
    }
    return std::optional<RedeemedExchange>(RedeemedExchange{
        std::move((*claimed)->session_hash), (*claimed)->is_dev_token, std::move(session_id), std::move(binding_hash)});
}

Result<std::int64_t> ExchangeTokenRepository::DeleteExpired(std::int64_t now) {
    return db_.WriteValue<std::int64_t>([&](db::Connection& c) -> Result<std::int64_t> {
        return c.Exec("DELETE FROM exchange_tokens WHERE expires_at <= $1", {now});
    });
}

// ---- pending_* ----

namespace {

// DELETE … RETURNING of one pending row; `read` turns the row into T. nullopt when absent or expired.
template <typename T, typename ReadFn>
Result<std::optional<T>> ConsumePending(db::Db& db, std::string_view table, std::string_view columns,
                                        std::string_view state, std::int64_t now, ReadFn read) {
    using Out = std::optional<T>;
    std::string hash = HashToken(state);
    return db.WriteValue<Out>([&](db::Connection& c) -> Result<Out> {
        auto rows = c.Query(fmt::format("DELETE FROM {} WHERE state_hash = $1 RETURNING {}", table, columns), {hash});
        if (!rows) return Fail(std::move(rows.error()));
        if (rows->empty() || rows->front().Int("expires_at") <= now) return Out{};
        return Out(read(rows->front()));
    });
}

Status InsertPending(db::Db& db, std::string_view sql, std::initializer_list<Value> params) {
    return db.Write([&](db::Connection& c) -> Status {
        auto n = c.Exec(sql, params);
        if (!n) return Fail(std::move(n.error()));
        return Ok();
    });
}

}  // namespace

Status PendingRepository::InsertAddAccount(std::string_view state, const PendingAddAccount& row) {
    return InsertPending(db_,
                         "INSERT INTO pending_add_accounts (state_hash, group_id, initiator_session_hash, created_at, "
                         "expires_at) VALUES ($1, $2, $3, $4, $5)",
                         {HashToken(state), row.group_id, row.initiator_session_hash, row.created_at, row.expires_at});
}

Result<std::optional<PendingAddAccount>> PendingRepository::ConsumeAddAccount(std::string_view state,
                                                                              std::int64_t now) {
    return ConsumePending<PendingAddAccount>(
        db_, "pending_add_accounts", "group_id, initiator_session_hash, created_at, expires_at", state, now,
        [](const db::Row& r) {
            return PendingAddAccount{r.Text("group_id"), r.Text("initiator_session_hash"), r.Int("created_at"),
                                     r.Int("expires_at")};
        });
}

Status PendingRepository::InsertDevToken(std::string_view state, const PendingDevToken& row) {
    return InsertPending(
        db_,
        "INSERT INTO pending_dev_tokens (state_hash, did, token_name, expires_in_days, created_at, "
        "expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
        {HashToken(state), row.did, row.token_name, row.expires_in_days, row.created_at, row.expires_at});
}

Result<std::optional<PendingDevToken>> PendingRepository::ConsumeDevToken(std::string_view state, std::int64_t now) {
    return ConsumePending<PendingDevToken>(
        db_, "pending_dev_tokens", "did, token_name, expires_in_days, created_at, expires_at", state, now,
        [](const db::Row& r) {
            return PendingDevToken{r.Text("did"), r.Text("token_name"), r.Int("expires_in_days"), r.Int("created_at"),
                                   r.Int("expires_at")};
        });
}

Status PendingRepository::InsertScopeUpgrade(std::string_view state, const PendingScopeUpgrade& row) {
    boost::system::error_code ec;
    auto requested = boost::json::parse(row.requested, ec);
    if (ec || !requested.is_array()) {
        return Fail(ErrorCode::kInvalidArgument, "invalid scope upgrade request", "requested is not a JSON array");
    }
    return InsertPending(db_,
                         "INSERT INTO pending_scope_upgrades (state_hash, did, old_session_hash, requested, return_to, "
                         "created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                         {HashToken(state), row.did, row.old_session_hash, row.requested, OptText(row.return_to),
                          row.created_at, row.expires_at});
}

Result<std::optional<PendingScopeUpgrade>> PendingRepository::ConsumeScopeUpgrade(std::string_view state,
                                                                                  std::int64_t now) {
    return ConsumePending<PendingScopeUpgrade>(
        db_, "pending_scope_upgrades", "did, old_session_hash, requested, return_to, created_at, expires_at", state,
        now, [](const db::Row& r) {
            return PendingScopeUpgrade{r.Text("did"),          r.Text("old_session_hash"), r.Text("requested"),
                                       r.OptText("return_to"), r.Int("created_at"),        r.Int("expires_at")};
        });
}

Result<std::int64_t> PendingRepository::DeleteExpired(std::int64_t now) {
    return db_.WriteValue<std::int64_t>([&](db::Connection& c) -> Result<std::int64_t> {
        std::int64_t total = 0;
        for (std::string_view table : {"pending_add_accounts", "pending_dev_tokens", "pending_scope_upgrades"}) {
            auto n = c.Exec(fmt::format("DELETE FROM {} WHERE expires_at <= $1", table), {now});
            if (!n) return Fail(std::move(n.error()));
            total += *n;
        }
        return total;
    });
}

}  // namespace plyr::storage::repos
