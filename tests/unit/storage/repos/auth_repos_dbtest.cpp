#include "storage/repos/auth_repos.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include <atomic>
#include <barrier>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/encoding.hpp"
#include "test_db.hpp"

namespace plyr::storage::repos {
namespace {

using db::Backend;
using db::testing::BackendName;
using db::testing::BackendValues;
using db::testing::MigratedDbTest;

constexpr std::int64_t kNow = 1'700'000'000'000'000;
constexpr std::int64_t kMinute = 60'000'000;

std::string Key(char seed) { return std::string(32, seed); }

core::SecretBox MakeBox(char current, std::optional<char> previous = {}) {
    std::optional<std::string> prev;
    if (previous) prev = Key(*previous);
    auto box = core::SecretBox::FromKeys(Key(current), prev);
    EXPECT_TRUE(box) << box.error().ToString();
    return *box;
}

class AuthReposTest : public MigratedDbTest {
  protected:
    NewSession MakeSession(std::string id, std::string did, std::optional<std::string> group = {}) {
        NewSession s;
        s.session_id = std::move(id);
        s.did = std::move(did);
        s.handle = "alice.test";
        s.group_id = std::move(group);
        s.oauth = R"({"access_token":"AT-very-secret","refresh_token":"RT-very-secret"})";
        s.granted_scope = "atproto repo:fm.plyr.track";
        s.refresh_expires_at = kNow + 90 * kMinute;
        s.expires_at = kNow + 60 * kMinute;
        s.now = kNow;
        return s;
    }

    // Raw bytes of a column, straight from the table (what an attacker with a DB dump sees).
    std::string RawColumn(const std::string& sql, const std::string& key) {
        auto v = db_->ReadValue<std::string>([&](db::Connection& c) -> Result<std::string> {
            auto rows = c.Query(sql, {key});
            if (!rows) return Fail(std::move(rows.error()));
            if (rows->empty()) return Fail(ErrorCode::kNotFound, "no row");
            return rows->front().Bytes(0);
        });
        EXPECT_TRUE(v) << v.error().ToString();
        return v ? *v : std::string();
    }

    std::int64_t Count(const std::string& table) {
        auto v = db_->ReadValue<std::int64_t>([&](db::Connection& c) -> Result<std::int64_t> {
            auto rows = c.Query("SELECT COUNT(*) FROM " + table);
            if (!rows) return Fail(std::move(rows.error()));
            return rows->front().Int(0);
        });
        EXPECT_TRUE(v) << v.error().ToString();
        return v ? *v : -1;
    }

    core::SecretBox box_ = MakeBox('k');
};

// ---- sessions ----

TEST_P(AuthReposTest, SessionCreateThenGetRoundTripsEveryField) {
    SessionRepository repo(*db_, box_);
    auto in = MakeSession("raw-session-id-1", "did:plc:alice", "3b1f3f0e-6c1a-4b8e-9d2e-1f2a3b4c5d6e");
    in.is_developer_token = true;
    in.token_name = "laptop";
    in.token_prefix = "abcd1234";
    auto created = repo.Create(in);
    ASSERT_TRUE(created) << created.error().ToString();
    EXPECT_EQ(created->session_hash, HashToken("raw-session-id-1"));

    auto got = repo.Get(HashToken("raw-session-id-1"), kNow + 1);
    ASSERT_TRUE(got) << got.error().ToString();
    ASSERT_TRUE(got->has_value());
    const Session& s = **got;
    EXPECT_EQ(s.session_hash, HashToken("raw-session-id-1"));
    EXPECT_EQ(s.session_uid, created->session_uid);
    EXPECT_EQ(s.did, "did:plc:alice");
    EXPECT_EQ(s.handle, "alice.test");
    EXPECT_EQ(s.group_id, std::optional<std::string>("3b1f3f0e-6c1a-4b8e-9d2e-1f2a3b4c5d6e"));
    EXPECT_TRUE(s.is_developer_token);
    EXPECT_EQ(s.token_name, std::optional<std::string>("laptop"));
    EXPECT_EQ(s.token_prefix, std::optional<std::string>("abcd1234"));
    EXPECT_EQ(s.oauth, in.oauth);
    EXPECT_EQ(s.granted_scope, in.granted_scope);
    EXPECT_EQ(s.refresh_expires_at, in.refresh_expires_at);
    EXPECT_EQ(s.expires_at, in.expires_at);
    EXPECT_FALSE(s.refresh_lock_until.has_value());
    EXPECT_FALSE(s.deleting);
    EXPECT_EQ(s.created_at, kNow);
    EXPECT_EQ(s.last_used_at, kNow);
}

TEST_P(AuthReposTest, SessionSecretsAndIdAreNotReadableInTheRawTable) {
    SessionRepository repo(*db_, box_);
    ASSERT_TRUE(repo.Create(MakeSession("raw-session-id-2", "did:plc:alice")));
    EXPECT_EQ(Count("user_sessions WHERE session_hash = 'raw-session-id-2'"), 0);
    auto raw = RawColumn("SELECT oauth FROM user_sessions WHERE session_hash = $1", HashToken("raw-session-id-2"));
    ASSERT_FALSE(raw.empty());
    EXPECT_EQ(raw.find("very-secret"), std::string::npos);
    EXPECT_EQ(raw.find("access_token"), std::string::npos);
    EXPECT_EQ(static_cast<std::uint8_t>(raw[0]), core::kSecretBoxVersion);
    EXPECT_EQ(static_cast<std::uint8_t>(raw[1]), box_.current_key_id());
}

TEST_P(AuthReposTest, SessionGetUnknownIsEmpty) {
    SessionRepository repo(*db_, box_);
    auto got = repo.Get(HashToken("nope"), kNow);
    ASSERT_TRUE(got);
    EXPECT_FALSE(got->has_value());
}

TEST_P(AuthReposTest, DuplicateSessionIdIsAConflict) {
    SessionRepository repo(*db_, box_);
    ASSERT_TRUE(repo.Create(MakeSession("dup", "did:plc:alice")));
    auto again = repo.Create(MakeSession("dup", "did:plc:bob"));
    ASSERT_FALSE(again);
    EXPECT_EQ(again.error().code, ErrorCode::kConflict);
}

TEST_P(AuthReposTest, ExpiredSessionIsNotReturnedAndIsDeletedOnRead) {
    SessionRepository repo(*db_, box_);
    ASSERT_TRUE(repo.Create(MakeSession("old", "did:plc:alice")));
    auto got = repo.Get(HashToken("old"), kNow + 60 * kMinute);
    ASSERT_TRUE(got);
    EXPECT_FALSE(got->has_value());
    EXPECT_EQ(Count("user_sessions"), 0);
}

TEST_P(AuthReposTest, DeleteRemovesOnlyThatSession) {
    SessionRepository repo(*db_, box_);
    ASSERT_TRUE(repo.Create(MakeSession("a", "did:plc:alice")));
    ASSERT_TRUE(repo.Create(MakeSession("b", "did:plc:alice")));
    auto deleted = repo.Delete(HashToken("a"));
    ASSERT_TRUE(deleted);
    EXPECT_TRUE(*deleted);
    EXPECT_FALSE(*repo.Delete(HashToken("a")));
    EXPECT_FALSE(repo.Get(HashToken("a"), kNow)->has_value());
    EXPECT_TRUE(repo.Get(HashToken("b"), kNow)->has_value());
}

TEST_P(AuthReposTest, ListByDidAndGroupReturnLiveSessionsOnly) {
    SessionRepository repo(*db_, box_);
    const std::string group = "0f8fad5b-d9cb-469f-a165-70867728950e";
    const std::string other_group = "7c9e6679-7425-40de-944b-e07fc1f90ae7";
    ASSERT_TRUE(repo.Create(MakeSession("s1", "did:plc:alice", group)));
    auto s2 = MakeSession("s2", "did:plc:bob", group);
    s2.now = kNow + 1;
    ASSERT_TRUE(repo.Create(s2));
    ASSERT_TRUE(repo.Create(MakeSession("s3", "did:plc:alice", other_group)));
    auto short_lived = MakeSession("s4", "did:plc:alice", group);
    short_lived.expires_at = kNow + kMinute;
    ASSERT_TRUE(repo.Create(short_lived));

    auto by_group = repo.ListByGroup(group, kNow + 2 * kMinute);
    ASSERT_TRUE(by_group) << by_group.error().ToString();
    ASSERT_EQ(by_group->size(), 2u);
    EXPECT_EQ((*by_group)[0].session_hash, HashToken("s1"));
    EXPECT_EQ((*by_group)[1].session_hash, HashToken("s2"));
    EXPECT_EQ((*by_group)[1].did, "did:plc:bob");

    auto by_did = repo.ListByDid("did:plc:alice", kNow + 2 * kMinute);
    ASSERT_TRUE(by_did);
    ASSERT_EQ(by_did->size(), 2u);
    for (const auto& s : *by_did) {
        EXPECT_EQ(s.did, "did:plc:alice");
        EXPECT_NE(s.session_hash, HashToken("s4"));
    }
    EXPECT_TRUE(repo.ListByDid("did:plc:nobody", kNow)->empty());
}

TEST_P(AuthReposTest, TouchUpdatesLastUsedAndUnknownIsNotFound) {
    SessionRepository repo(*db_, box_);
    ASSERT_TRUE(repo.Create(MakeSession("t", "did:plc:alice")));
    ASSERT_TRUE(repo.Touch(HashToken("t"), kNow + 5));
    EXPECT_EQ((*repo.Get(HashToken("t"), kNow + 6))->last_used_at, kNow + 5);
    auto missing = repo.Touch(HashToken("missing"), kNow);
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
}

TEST_P(AuthReposTest, UpdateOAuthReplacesSecretsAndGivenColumnsOnly) {
    SessionRepository repo(*db_, box_);
    ASSERT_TRUE(repo.Create(MakeSession("u", "did:plc:alice")));
    auto st = repo.UpdateOAuth(HashToken("u"), R"({"access_token":"AT2"})", std::nullopt, kNow + 500 * kMinute,
                               kNow + 400 * kMinute);
    ASSERT_TRUE(st) << st.error().ToString();
    auto s = **repo.Get(HashToken("u"), kNow);
    EXPECT_EQ(s.oauth, R"({"access_token":"AT2"})");
    EXPECT_EQ(s.granted_scope, "atproto repo:fm.plyr.track");
    EXPECT_EQ(s.refresh_expires_at, kNow + 500 * kMinute);
    EXPECT_EQ(s.expires_at, kNow + 400 * kMinute);
    ASSERT_TRUE(repo.UpdateOAuth(HashToken("u"), "x", std::string("atproto"), std::nullopt, std::nullopt));
    EXPECT_EQ((*repo.Get(HashToken("u"), kNow))->granted_scope, "atproto");
    EXPECT_EQ(repo.UpdateOAuth(HashToken("zz"), "x", std::nullopt, std::nullopt, std::nullopt).error().code,
              ErrorCode::kNotFound);
}

TEST_P(AuthReposTest, RotationPreviousKeyStillReadsAndTheNextWriteReencrypts) {
    auto old_box = MakeBox('o');
    ASSERT_TRUE(SessionRepository(*db_, old_box).Create(MakeSession("rot", "did:plc:alice")));
    const std::string sql = "SELECT oauth FROM user_sessions WHERE session_hash = $1";
    EXPECT_EQ(static_cast<std::uint8_t>(RawColumn(sql, HashToken("rot"))[1]), old_box.current_key_id());

    auto rotated = MakeBox('n', 'o');
    SessionRepository repo(*db_, rotated);
    auto got = repo.Get(HashToken("rot"), kNow);
    ASSERT_TRUE(got) << got.error().ToString();
    ASSERT_TRUE(got->has_value());
    ASSERT_TRUE(repo.UpdateOAuth(HashToken("rot"), (*got)->oauth, std::nullopt, std::nullopt, std::nullopt));
    EXPECT_EQ(static_cast<std::uint8_t>(RawColumn(sql, HashToken("rot"))[1]), rotated.current_key_id());

    // After the previous key is retired the re-encrypted row still opens.
    auto only_new = MakeBox('n');
    auto after = SessionRepository(*db_, only_new).Get(HashToken("rot"), kNow);
    ASSERT_TRUE(after) << after.error().ToString();
    EXPECT_EQ((*after)->oauth, (*got)->oauth);
}

TEST_P(AuthReposTest, SessionSealedWithAnUnknownKeyIsPermissionDeniedWithoutSecrets) {
    ASSERT_TRUE(SessionRepository(*db_, MakeBox('x')).Create(MakeSession("unk", "did:plc:alice")));
    auto got = SessionRepository(*db_, box_).Get(HashToken("unk"), kNow);
    ASSERT_FALSE(got);
    EXPECT_EQ(got.error().code, ErrorCode::kPermissionDenied);
    EXPECT_EQ(got.error().ToString().find("very-secret"), std::string::npos);
}

TEST_P(AuthReposTest, SecretBlobCopiedToAnotherSessionDoesNotOpen) {
    SessionRepository repo(*db_, box_);
    ASSERT_TRUE(repo.Create(MakeSession("victim", "did:plc:alice")));
    ASSERT_TRUE(repo.Create(MakeSession("attacker", "did:plc:mallory")));
    ASSERT_TRUE(db_->Write([&](db::Connection& c) -> Status {
        auto n = c.Exec(
            "UPDATE user_sessions SET oauth = (SELECT oauth FROM user_sessions WHERE session_hash = $1) "
            "WHERE session_hash = $2",
            {HashToken("victim"), HashToken("attacker")});
        if (!n) return Fail(std::move(n.error()));
        return Ok();
    }));
    auto got = repo.Get(HashToken("attacker"), kNow);
    ASSERT_FALSE(got);
    EXPECT_EQ(got.error().code, ErrorCode::kPermissionDenied);
    EXPECT_TRUE(repo.Get(HashToken("victim"), kNow));
}

TEST_P(AuthReposTest, DeleteExpiredSessionsRemovesOnlyExpiredOnes) {
    SessionRepository repo(*db_, box_);
    auto s = MakeSession("short", "did:plc:alice");
    s.expires_at = kNow + kMinute;
    ASSERT_TRUE(repo.Create(s));
    ASSERT_TRUE(repo.Create(MakeSession("long", "did:plc:alice")));
    auto n = repo.DeleteExpired(kNow + 2 * kMinute);
    ASSERT_TRUE(n);
    EXPECT_EQ(*n, 1);
    EXPECT_EQ(Count("user_sessions"), 1);
}

TEST_P(AuthReposTest, RefreshLeaseIsExclusiveUntilReleasedOrExpired) {
    SessionRepository repo(*db_, box_);
    ASSERT_TRUE(repo.Create(MakeSession("lease", "did:plc:alice")));
    const auto hash = HashToken("lease");
    EXPECT_TRUE(*repo.TryLockRefresh(hash, kNow, kNow + kMinute));
    EXPECT_FALSE(*repo.TryLockRefresh(hash, kNow + 1, kNow + 2 * kMinute));
    EXPECT_EQ((*repo.Get(hash, kNow))->refresh_lock_until, kNow + kMinute);

    // Releasing with another holder's value does nothing.
    ASSERT_TRUE(repo.UnlockRefresh(hash, kNow + 2 * kMinute));
    EXPECT_FALSE(*repo.TryLockRefresh(hash, kNow + 2, kNow + 2 * kMinute));

    ASSERT_TRUE(repo.UnlockRefresh(hash, kNow + kMinute));
    EXPECT_FALSE((*repo.Get(hash, kNow))->refresh_lock_until.has_value());
    EXPECT_TRUE(*repo.TryLockRefresh(hash, kNow + 3, kNow + kMinute + 3));

    // A holder that died: its lease runs out and the next caller takes over.
    EXPECT_TRUE(*repo.TryLockRefresh(hash, kNow + kMinute + 3, kNow + 2 * kMinute));
    EXPECT_FALSE(*repo.TryLockRefresh(HashToken("no-such-session"), kNow, kNow + kMinute));
}

TEST_P(AuthReposTest, ConcurrentRefreshLockersExactlyOneWins) {
    auto other = temp().Open();
    ASSERT_NE(other, nullptr);
    constexpr int kSessions = 10;
    SessionRepository setup(*db_, box_);
    for (int i = 0; i < kSessions; ++i) ASSERT_TRUE(setup.Create(MakeSession("c" + std::to_string(i), "did:plc:a")));
    std::vector<std::atomic<int>> wins(kSessions);
    std::atomic<int> errors{0};
    std::barrier start(2);
    auto racer = [&](db::Db& handle) {
        SessionRepository repo(handle, box_);
        for (int i = 0; i < kSessions; ++i) {
            start.arrive_and_wait();
            for (int attempt = 0; attempt < 50; ++attempt) {
                auto r = repo.TryLockRefresh(HashToken("c" + std::to_string(i)), kNow, kNow + kMinute);
                if (!r && r.error().code == ErrorCode::kBusy) continue;
                if (!r) {
                    errors.fetch_add(1);
                } else if (*r) {
                    wins[i].fetch_add(1);
                }
                break;
            }
        }
    };
    std::thread a([&] { racer(*db_); });
    std::thread b([&] { racer(*other); });
    a.join();
    b.join();
    EXPECT_EQ(errors.load(), 0);
    for (int i = 0; i < kSessions; ++i) EXPECT_EQ(wins[i].load(), 1) << "session " << i;
}

TEST_P(AuthReposTest, RotateIdMovesTheSessionAndKeepsItsSecretsReadable) {
    SessionRepository repo(*db_, box_);
    auto created = repo.Create(MakeSession("before", "did:plc:alice"));
    ASSERT_TRUE(created);
    auto rotated = repo.RotateId(HashToken("before"), "after");
    ASSERT_TRUE(rotated) << rotated.error().ToString();
    EXPECT_TRUE(*rotated);
    EXPECT_FALSE(repo.Get(HashToken("before"), kNow)->has_value());
    auto got = repo.Get(HashToken("after"), kNow);
    ASSERT_TRUE(got) << got.error().ToString();
    ASSERT_TRUE(got->has_value());
    EXPECT_EQ((*got)->oauth, created->oauth);
    EXPECT_EQ((*got)->session_uid, created->session_uid);

    EXPECT_FALSE(*repo.RotateId(HashToken("before"), "again"));
    ASSERT_TRUE(repo.Create(MakeSession("taken", "did:plc:bob")));
    auto clash = repo.RotateId(HashToken("after"), "taken");
    ASSERT_FALSE(clash);
    EXPECT_EQ(clash.error().code, ErrorCode::kConflict);
}

// ---- oauth_states ----

OAuthState MakeState() {
    OAuthState s;
    s.flow = "login";
    s.issuer = "https://pds.test";
    s.expected_did = "did:plc:alice";
    s.login_input = "alice.test";
    s.pds_url = "https://pds.test";
    s.secrets = R"({"pkce_verifier":"PKCE-very-secret"})";
    s.requested_scope = "atproto";
    s.return_to = "/library";
    s.created_at = kNow;
    s.expires_at = kNow + 10 * kMinute;
    return s;
}

TEST_P(AuthReposTest, StateConsumeReturnsTheRowOnceAndStoresOnlyItsHash) {
    OAuthStateRepository repo(*db_, box_);
    ASSERT_TRUE(repo.Insert("raw-state", MakeState()));
    EXPECT_EQ(Count("oauth_states WHERE state_hash = 'raw-state'"), 0);
    auto raw = RawColumn("SELECT secrets FROM oauth_states WHERE state_hash = $1", HashToken("raw-state"));
    EXPECT_EQ(raw.find("very-secret"), std::string::npos);

    auto first = repo.Consume("raw-state", kNow + kMinute);
    ASSERT_TRUE(first) << first.error().ToString();
    ASSERT_TRUE(first->has_value());
    EXPECT_EQ((*first)->state_hash, HashToken("raw-state"));
    EXPECT_EQ((*first)->flow, "login");
    EXPECT_FALSE((*first)->flow_ref.has_value());
    EXPECT_EQ((*first)->issuer, "https://pds.test");
    EXPECT_EQ((*first)->expected_did, std::optional<std::string>("did:plc:alice"));
    EXPECT_EQ((*first)->login_input, "alice.test");
    EXPECT_EQ((*first)->secrets, MakeState().secrets);
    EXPECT_EQ((*first)->return_to, std::optional<std::string>("/library"));
    EXPECT_EQ((*first)->expires_at, kNow + 10 * kMinute);

    auto second = repo.Consume("raw-state", kNow + kMinute);
    ASSERT_TRUE(second);
    EXPECT_FALSE(second->has_value());
    EXPECT_FALSE(repo.Consume("never-issued", kNow)->has_value());
}

TEST_P(AuthReposTest, ExpiredStateIsNotReturnedAndIsGone) {
    OAuthStateRepository repo(*db_, box_);
    ASSERT_TRUE(repo.Insert("late", MakeState()));
    auto got = repo.Consume("late", kNow + 10 * kMinute);
    ASSERT_TRUE(got);
    EXPECT_FALSE(got->has_value());
    EXPECT_EQ(Count("oauth_states"), 0);
}

TEST_P(AuthReposTest, StateWithUnknownFlowIsRefusedByTheSchema) {
    OAuthStateRepository repo(*db_, box_);
    auto s = MakeState();
    s.flow = "bogus";
    EXPECT_FALSE(repo.Insert("bogus-flow", s));
    EXPECT_EQ(Count("oauth_states"), 0);
}

TEST_P(AuthReposTest, DeleteExpiredStates) {
    OAuthStateRepository repo(*db_, box_);
    ASSERT_TRUE(repo.Insert("s1", MakeState()));
    auto later = MakeState();
    later.expires_at = kNow + 20 * kMinute;
    ASSERT_TRUE(repo.Insert("s2", later));
    EXPECT_EQ(*repo.DeleteExpired(kNow + 15 * kMinute), 1);
    EXPECT_TRUE(repo.Consume("s2", kNow + 15 * kMinute)->has_value());
}

// ---- exchange_tokens ----

TEST_P(AuthReposTest, ExchangeTokenRedeemsOnceAndStoresNothingReadable) {
    ExchangeTokenRepository repo(*db_, box_);
    ASSERT_TRUE(repo.Insert("xchg-token", "the-session-id", false, kNow, kNow + kMinute));
    EXPECT_EQ(Count("exchange_tokens WHERE token_hash = 'xchg-token'"), 0);
    auto raw = RawColumn("SELECT session_id FROM exchange_tokens WHERE token_hash = $1", HashToken("xchg-token"));
    EXPECT_EQ(raw.find("the-session-id"), std::string::npos);

    auto first = repo.Redeem("xchg-token", kNow + 1);
    ASSERT_TRUE(first) << first.error().ToString();
    ASSERT_TRUE(first->has_value());
    EXPECT_EQ((*first)->session_id, "the-session-id");
    EXPECT_EQ((*first)->session_hash, HashToken("the-session-id"));
    EXPECT_FALSE((*first)->is_dev_token);

    auto replay = repo.Redeem("xchg-token", kNow + 2);
    ASSERT_TRUE(replay);
    EXPECT_FALSE(replay->has_value());
    EXPECT_FALSE(repo.Redeem("unknown", kNow)->has_value());
}

TEST_P(AuthReposTest, RedeemedExchangeTokenKeepsNoSealedSessionIdAndReturnsItsBinding) {
    ExchangeTokenRepository repo(*db_, box_);
    ASSERT_TRUE(repo.Insert("bound", "the-session-id", false, kNow, kNow + kMinute, "binding-hash"));
    auto redeemed = repo.Redeem("bound", kNow + 1);
    ASSERT_TRUE(redeemed) << redeemed.error().ToString();
    ASSERT_TRUE(redeemed->has_value());
    EXPECT_EQ((*redeemed)->session_id, "the-session-id");
    EXPECT_EQ((*redeemed)->binding_hash, "binding-hash");
    EXPECT_EQ(RawColumn("SELECT session_id FROM exchange_tokens WHERE token_hash = $1", HashToken("bound")), "");
    EXPECT_FALSE(repo.Redeem("bound", kNow + 2)->has_value());
}

TEST_P(AuthReposTest, ExpiredExchangeTokenIsNotRedeemed) {
    ExchangeTokenRepository repo(*db_, box_);
    ASSERT_TRUE(repo.Insert("late", "sid", true, kNow, kNow + kMinute));
    EXPECT_FALSE(repo.Redeem("late", kNow + kMinute)->has_value());
    EXPECT_EQ(*repo.DeleteExpired(kNow + kMinute), 1);
    EXPECT_EQ(Count("exchange_tokens"), 0);
}

TEST_P(AuthReposTest, DevExchangeTokenKeepsItsKind) {
    ExchangeTokenRepository repo(*db_, box_);
    ASSERT_TRUE(repo.Insert("dev", "sid", true, kNow, kNow + kMinute));
    EXPECT_TRUE((*repo.Redeem("dev", kNow))->is_dev_token);
}

TEST_P(AuthReposTest, ConcurrentRedeemersOfOneTokenExactlyOneWins) {
    // Two Db handles stand for two plyr processes racing on the same token.
    auto other = temp().Open();
    ASSERT_NE(other, nullptr);
    constexpr int kTokens = 20;
    ExchangeTokenRepository setup(*db_, box_);
    for (int i = 0; i < kTokens; ++i) {
        ASSERT_TRUE(setup.Insert("tok" + std::to_string(i), "sid" + std::to_string(i), false, kNow, kNow + kMinute));
    }
    std::vector<std::atomic<int>> wins(kTokens);
    std::atomic<int> errors{0};
    std::barrier start(2);
    auto racer = [&](db::Db& handle) {
        ExchangeTokenRepository repo(handle, box_);
        for (int i = 0; i < kTokens; ++i) {
            start.arrive_and_wait();
            // Busy answers are retried: contention must not turn into two winners or zero.
            for (int attempt = 0; attempt < 50; ++attempt) {
                auto r = repo.Redeem("tok" + std::to_string(i), kNow + 1);
                if (!r && r.error().code == ErrorCode::kBusy) continue;
                if (!r) {
                    errors.fetch_add(1);
                } else if (r->has_value()) {
                    EXPECT_EQ((*r)->session_id, "sid" + std::to_string(i));
                    wins[i].fetch_add(1);
                }
                break;
            }
        }
    };
    std::thread a([&] { racer(*db_); });
    std::thread b([&] { racer(*other); });
    a.join();
    b.join();
    EXPECT_EQ(errors.load(), 0);
    for (int i = 0; i < kTokens; ++i) EXPECT_EQ(wins[i].load(), 1) << "token " << i;
}

// ---- pending_* ----

TEST_P(AuthReposTest, PendingAddAccountConsumesOnceUnderItsStateHash) {
    PendingRepository repo(*db_);
    const std::string group = "0f8fad5b-d9cb-469f-a165-70867728950e";
    ASSERT_TRUE(repo.InsertAddAccount("st-add", {group, HashToken("initiator"), kNow, kNow + 10 * kMinute}));
    EXPECT_EQ(Count("pending_add_accounts WHERE state_hash = '" + HashToken("st-add") + "'"), 1);
    auto got = repo.ConsumeAddAccount("st-add", kNow + 1);
    ASSERT_TRUE(got) << got.error().ToString();
    ASSERT_TRUE(got->has_value());
    EXPECT_EQ((*got)->group_id, group);
    EXPECT_EQ((*got)->initiator_session_hash, HashToken("initiator"));
    EXPECT_EQ((*got)->expires_at, kNow + 10 * kMinute);
    EXPECT_FALSE(repo.ConsumeAddAccount("st-add", kNow + 1)->has_value());
}

TEST_P(AuthReposTest, PendingDevTokenRoundTripsAndExpires) {
    PendingRepository repo(*db_);
    ASSERT_TRUE(repo.InsertDevToken("st-dev", {"did:plc:alice", "ci", 30, kNow, kNow + 10 * kMinute}));
    ASSERT_TRUE(repo.InsertDevToken("st-dev-late", {"did:plc:alice", "old", 7, kNow, kNow + kMinute}));
    auto got = repo.ConsumeDevToken("st-dev", kNow + 2 * kMinute);
    ASSERT_TRUE(got);
    ASSERT_TRUE(got->has_value());
    EXPECT_EQ((*got)->did, "did:plc:alice");
    EXPECT_EQ((*got)->token_name, "ci");
    EXPECT_EQ((*got)->expires_in_days, 30);
    EXPECT_FALSE(repo.ConsumeDevToken("st-dev-late", kNow + 2 * kMinute)->has_value());
    EXPECT_EQ(Count("pending_dev_tokens"), 0);
}

TEST_P(AuthReposTest, PendingScopeUpgradeKeepsRequestedJson) {
    PendingRepository repo(*db_);
    PendingScopeUpgrade row{"did:plc:alice",    HashToken("old"), R"(["teal","bsky_post"])", "/settings", kNow,
                            kNow + 10 * kMinute};
    ASSERT_TRUE(repo.InsertScopeUpgrade("st-up", row));
    auto got = repo.ConsumeScopeUpgrade("st-up", kNow);
    ASSERT_TRUE(got) << got.error().ToString();
    ASSERT_TRUE(got->has_value());
    EXPECT_EQ((*got)->old_session_hash, HashToken("old"));
    EXPECT_EQ(boost::json::parse((*got)->requested), boost::json::parse(row.requested));
    EXPECT_EQ((*got)->return_to, std::optional<std::string>("/settings"));

    for (const char* bad : {"not json", R"({"teal":true})", ""}) {
        row.requested = bad;
        auto st = repo.InsertScopeUpgrade("st-bad", row);
        ASSERT_FALSE(st) << bad;
        EXPECT_EQ(st.error().code, ErrorCode::kInvalidArgument) << bad;
    }
    EXPECT_EQ(Count("pending_scope_upgrades"), 0);
}

TEST_P(AuthReposTest, PendingDeleteExpiredCoversAllThreeTables) {
    PendingRepository repo(*db_);
    ASSERT_TRUE(repo.InsertAddAccount("a", {"0f8fad5b-d9cb-469f-a165-70867728950e", "h", kNow, kNow + kMinute}));
    ASSERT_TRUE(repo.InsertDevToken("d", {"did:plc:a", "n", 1, kNow, kNow + kMinute}));
    ASSERT_TRUE(repo.InsertScopeUpgrade("s", {"did:plc:a", "h", "[]", std::nullopt, kNow, kNow + kMinute}));
    ASSERT_TRUE(repo.InsertDevToken("live", {"did:plc:a", "n", 1, kNow, kNow + 10 * kMinute}));
    auto n = repo.DeleteExpired(kNow + kMinute);
    ASSERT_TRUE(n) << n.error().ToString();
    EXPECT_EQ(*n, 3);
    EXPECT_TRUE(repo.ConsumeDevToken("live", kNow + kMinute)->has_value());
}

INSTANTIATE_TEST_SUITE_P(Backends, AuthReposTest, BackendValues(), BackendName);

}  // namespace
}  // namespace plyr::storage::repos
