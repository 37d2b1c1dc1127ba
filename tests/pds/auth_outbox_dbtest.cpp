// auth's side of the outbox (product.md §6.5): AuthService::OpenPdsSessionForDid picks the DID's most recently
// used live browser session before developer tokens and never a session being deleted; every sign-in releases the
// DID's blocked_auth entries. Network doubles from tests/auth (the AS and PDS are not reached).
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "atproto/xrpc/repo.hpp"
#include "auth/auth_fakes.hpp"
#include "auth/auth_service.hpp"
#include "core/log.hpp"
#include "pds/outbox.hpp"
#include "pds/session_provider.hpp"
#include "storage/db/migrator.hpp"
#include "test_db.hpp"

namespace plyr::auth {
namespace {

using namespace plyr::auth::fakes;
namespace sdb = ::plyr::storage::db;

// Fails every request but remembers the Authorization header, which names the session's access token.
class RecordingHttp final : public net::HttpClient {
  public:
    Result<net::HttpResponse> Send(const net::HttpRequest& request) override {
        std::lock_guard lock(mutex_);
        for (const auto& [name, value] : request.headers) {
            if (name == "Authorization") authorizations_.push_back(value);
        }
        return Fail(ErrorCode::kUnavailable, "offline in tests");
    }
    const net::PrivateNetworkPolicy& policy() const override { return policy_; }
    std::string LastAuthorization() {
        std::lock_guard lock(mutex_);
        return authorizations_.empty() ? std::string() : authorizations_.back();
    }

  private:
    net::PrivateNetworkPolicy policy_;
    std::mutex mutex_;
    std::vector<std::string> authorizations_;
};

class AuthOutboxTest : public sdb::testing::DbBackendTest {
  protected:
    void SetUp() override {
        plyr::log::Init(log::Level::kError, plyr::log::Format::kJson);
        DbBackendTest::SetUp();
        if (IsSkipped()) return;
        db_ = temp().Open();
        ASSERT_NE(db_, nullptr);
        auto applied = sdb::migrator::Apply(*db_, false);
        ASSERT_TRUE(applied) << applied.error().ToString();
        identity_.Add(kAlice, "alice.test");
        identity_.Add(kBob, "bob.test");
        AuthSettings settings;
        settings.public_url = "http://127.0.0.1:8001";
        settings.allow_test_handles = true;
        settings.development_mode = true;
        service_ =
            std::make_unique<AuthService>(std::move(settings), *db_, box_, http_, identity_, backend_, clock_, pool_);
    }
    void TearDown() override {
        service_.reset();
        db_.reset();
        DbBackendTest::TearDown();
        plyr::log::Init(log::Level::kInfo, plyr::log::Format::kJson);
    }

    // Completes a started flow for `sub`; the access token is "AT-code-<n>".
    std::string Complete(const StartResult& started, const std::string& sub) {
        std::string code = "code-" + std::to_string(++codes_);
        TokenSet t;
        t.access_token = "AT-" + code;
        t.refresh_token = "RT-" + code;
        t.scope = GrantedBase();
        t.sub = sub;
        t.expires_in = 3600;
        backend_.codes[code] = t;
        CallbackParams p;
        p.code = code;
        p.state = backend_.pars.back().state;
        p.iss = std::string(kIssuer);
        p.binding = started.binding;
        return service_->Callback(p);
    }

    AuthenticatedSession Login(const std::string& handle, const std::string& did) {
        auto started = service_->StartLogin(handle, std::nullopt);
        EXPECT_TRUE(started);
        auto location = Complete(*started, did);
        auto exchanged = service_->Exchange(QueryOf(location)["exchange_token"]);
        EXPECT_TRUE(exchanged) << location;
        auto session = service_->Authenticate(exchanged->session_id, std::nullopt);
        EXPECT_TRUE(session);
        return *session;
    }

    // Which session OpenPdsSessionForDid picked: the access token its first PDS request carries.
    std::string PickedToken(const std::string& did) {
        auto session = service_->OpenPdsSessionForDid(did);
        EXPECT_TRUE(session) << session.error().ToString();
        if (!session) return {};
        EXPECT_EQ((*session)->did(), did);
        (void)(*session)->session().Run([&](const atproto::xrpc::XrpcClient& client) {
            return atproto::xrpc::GetRecord(client, did, "fm.plyr.like", "3kaaaaaaaaaa2");
        });
        std::string auth = http_.LastAuthorization();
        return auth.substr(auth.find(' ') + 1);
    }

    std::int64_t Enqueue(const std::string& did, const std::string& rkey) {
        auto id = db_->WriteValue<std::int64_t>([&](sdb::Connection& tx) -> Result<std::int64_t> {
            auto r = pds::EnqueueWrite(tx, {did, "fm.plyr.like", rkey, pds::WriteOp::kPut, "like", "e", true},
                                       clock_.NowMicros());
            if (!r) return Fail(std::move(r.error()));
            return r->id;
        });
        EXPECT_TRUE(id);
        return id ? *id : 0;
    }

    void Exec(const std::string& sql) {
        auto st = db_->Write([&](sdb::Connection& tx) -> Status {
            auto n = tx.Exec(sql);
            if (!n) return Fail(std::move(n.error()));
            return Ok();
        });
        ASSERT_TRUE(st) << st.error().ToString();
    }

    std::unique_ptr<sdb::Db> db_;
    core::SecretBox box_ = *core::SecretBox::FromKeys(std::string(32, 'k'));
    RecordingHttp http_;
    FakeIdentity identity_;
    FakeBackend backend_;
    core::ManualClock clock_;
    net::BlockingPool pool_{2};
    std::unique_ptr<AuthService> service_;
    int codes_ = 0;
};

TEST_P(AuthOutboxTest, ADidWithoutSessionsHasNoSession) {
    auto session = service_->OpenPdsSessionForDid(kAlice);
    ASSERT_FALSE(session);
    EXPECT_TRUE(pds::IsNoSession(session.error())) << session.error().ToString();
    AuthSessionProvider provider(*service_);
    auto handle = provider.OpenForDid(kAlice);
    ASSERT_FALSE(handle);
    EXPECT_TRUE(pds::IsNoSession(handle.error()));
}

TEST_P(AuthOutboxTest, TheMostRecentlyUsedBrowserSessionWinsOverANewerDeveloperToken) {
    auto first = Login("alice.test", kAlice);  // AT-code-1
    clock_.Advance(2 * 60 * kSecond);
    Login("alice.test", kAlice);  // AT-code-2, used more recently
    clock_.Advance(2 * 60 * kSecond);
    auto dev = service_->StartDeveloperToken(first, "ci", 30);
    ASSERT_TRUE(dev);
    auto location = Complete(*dev, kAlice);  // AT-code-3, the newest of all
    auto exchanged = service_->Exchange(QueryOf(location)["exchange_token"]);
    ASSERT_TRUE(exchanged);
    ASSERT_TRUE(service_->Authenticate(std::nullopt, exchanged->session_id));
    EXPECT_EQ(PickedToken(kAlice), "AT-code-2");

    clock_.Advance(2 * 60 * kSecond);
    ASSERT_TRUE(service_->Authenticate(first.session_id, std::nullopt));  // touches the first session
    EXPECT_EQ(PickedToken(kAlice), "AT-code-1");

    AuthSessionProvider provider(*service_);
    auto handle = provider.OpenForDid(kAlice);
    ASSERT_TRUE(handle) << handle.error().ToString();
    EXPECT_EQ((*handle)->did(), kAlice);
}

TEST_P(AuthOutboxTest, DeveloperTokensServeWhenNoBrowserSessionIsLeftAndDeletingSessionsNever) {
    auto alice = Login("alice.test", kAlice);  // AT-code-1
    auto dev = service_->StartDeveloperToken(alice, "ci", 30);
    ASSERT_TRUE(dev);
    Complete(*dev, kAlice);  // AT-code-2
    Exec("UPDATE user_sessions SET deleting = " + std::string(is_sqlite() ? "1" : "TRUE") +
         " WHERE is_developer_token = " + std::string(is_sqlite() ? "0" : "FALSE"));
    EXPECT_EQ(PickedToken(kAlice), "AT-code-2");
    Exec("UPDATE user_sessions SET deleting = " + std::string(is_sqlite() ? "1" : "TRUE"));
    auto none = service_->OpenPdsSessionForDid(kAlice);
    ASSERT_FALSE(none);
    EXPECT_TRUE(pds::IsNoSession(none.error()));
}

TEST_P(AuthOutboxTest, ExpiredSessionsAreNotUsed) {
    Login("alice.test", kAlice);
    clock_.Advance(15 * kDay);  // past the public client's 14 days
    auto none = service_->OpenPdsSessionForDid(kAlice);
    ASSERT_FALSE(none);
    EXPECT_TRUE(pds::IsNoSession(none.error()));
}

TEST_P(AuthOutboxTest, SignInReleasesTheDidsBlockedEntriesOnly) {
    auto a = Enqueue(kAlice, "3kaaaaaaaaaa2");
    auto b = Enqueue(kBob, "3kaaaaaaaaaa2");
    Exec("UPDATE pds_outbox SET status = 'blocked_auth', attempts = 3");
    clock_.Advance(kSecond);
    auto alice = Login("alice.test", kAlice);
    auto ea = pds::GetEntry(*db_, a);
    ASSERT_TRUE(ea && *ea);
    EXPECT_EQ((*ea)->status, pds::OutboxStatus::kPending);
    EXPECT_EQ((*ea)->attempts, 0);
    EXPECT_EQ((*ea)->next_attempt_at, clock_.NowMicros());
    auto eb = pds::GetEntry(*db_, b);
    ASSERT_TRUE(eb && *eb);
    EXPECT_EQ((*eb)->status, pds::OutboxStatus::kBlockedAuth);

    // Adding an account signs that account in too.
    auto add = service_->StartAddAccount(alice, std::string("bob.test"));
    ASSERT_TRUE(add);
    Complete(*add, kBob);
    eb = pds::GetEntry(*db_, b);
    ASSERT_TRUE(eb && *eb);
    EXPECT_EQ((*eb)->status, pds::OutboxStatus::kPending);
}

TEST_P(AuthOutboxTest, TheLastGrantDyingBlocksTheDidsPendingEntries) {
    auto alice = Login("alice.test", kAlice);
    auto a = Enqueue(kAlice, "3kaaaaaaaaaa2");
    auto b = Enqueue(kBob, "3kaaaaaaaaaa2");
    backend_.refresh_invalid_grant = true;
    auto refreshed = service_->ForceRefresh(alice);
    ASSERT_FALSE(refreshed);
    EXPECT_EQ(refreshed.error().code, "session_expired");
    auto ea = pds::GetEntry(*db_, a);
    ASSERT_TRUE(ea && *ea);
    EXPECT_EQ((*ea)->status, pds::OutboxStatus::kBlockedAuth);
    auto eb = pds::GetEntry(*db_, b);
    ASSERT_TRUE(eb && *eb);
    EXPECT_EQ((*eb)->status, pds::OutboxStatus::kPending);
}

TEST_P(AuthOutboxTest, AGrantDyingWhileAnotherSessionLivesLeavesEntriesPending) {
    auto first = Login("alice.test", kAlice);
    Login("alice.test", kAlice);  // a second browser
    auto a = Enqueue(kAlice, "3kaaaaaaaaaa2");
    backend_.refresh_invalid_grant = true;
    ASSERT_FALSE(service_->ForceRefresh(first));
    auto ea = pds::GetEntry(*db_, a);
    ASSERT_TRUE(ea && *ea);
    EXPECT_EQ((*ea)->status, pds::OutboxStatus::kPending);
}

INSTANTIATE_TEST_SUITE_P(Backends, AuthOutboxTest, sdb::testing::BackendValues(), sdb::testing::BackendName);

}  // namespace
}  // namespace plyr::auth
