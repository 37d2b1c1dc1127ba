// The periodic `cleanup` job deletes expired auth rows (sessions, OAuth states, exchange tokens, pending_*)
// and keeps live ones, on SQLite and PostgreSQL, both step by step and through StartWorkers as `plyr serve`
// runs it.
#include "app/auth_cleanup.hpp"

#include <chrono>
#include <thread>

#include <gtest/gtest.h>

#include "app/workers.hpp"
#include "core/clock.hpp"
#include "core/config.hpp"
#include "jobs/queue.hpp"
#include "storage/repos/auth_repos.hpp"
#include "test_db.hpp"

namespace plyr::app {
namespace {

using namespace std::chrono_literals;
using storage::db::testing::BackendName;
using storage::db::testing::BackendValues;
using storage::db::testing::MigratedDbTest;
namespace repos = storage::repos;

constexpr std::int64_t kMinute = 60'000'000;

class AuthCleanupTest : public MigratedDbTest {
  protected:
    // One expired and one live row in every auth table, "now" being clock_.NowMicros().
    void Seed() {
        const std::int64_t now = clock_.NowMicros();
        repos::SessionRepository sessions(*db_, box_);
        for (auto [id, expires] : {std::pair{"old-session", now - kMinute}, std::pair{"live-session", now + kMinute}}) {
            repos::NewSession s;
            s.session_id = id;
            s.did = "did:plc:alice";
            s.handle = "alice.test";
            s.oauth = "{}";
            s.granted_scope = "atproto";
            s.expires_at = expires;
            s.now = now - 2 * kMinute;
            ASSERT_TRUE(sessions.Create(s));
        }
        repos::OAuthStateRepository states(*db_, box_);
        for (auto [state, expires] : {std::pair{"old-state", now - kMinute}, std::pair{"live-state", now + kMinute}}) {
            repos::OAuthState row;
            row.flow = "login";
            row.issuer = "https://pds.test";
            row.login_input = "alice.test";
            row.pds_url = "https://pds.test";
            row.secrets = "{}";
            row.requested_scope = "atproto";
            row.created_at = now - 2 * kMinute;
            row.expires_at = expires;
            ASSERT_TRUE(states.Insert(state, row));
        }
        repos::ExchangeTokenRepository tokens(*db_, box_);
        ASSERT_TRUE(tokens.Insert("old-token", "live-session", false, now - 2 * kMinute, now - kMinute));
        ASSERT_TRUE(tokens.Insert("live-token", "live-session", false, now - 2 * kMinute, now + kMinute));
        repos::PendingRepository pending(*db_);
        ASSERT_TRUE(pending.InsertAddAccount(
            "old-state", {"8a4c1b2e-0000-4000-8000-000000000001", "hash", now - 2 * kMinute, now - kMinute}));
        ASSERT_TRUE(
            pending.InsertDevToken("live-state", {"did:plc:alice", "cli", 30, now - 2 * kMinute, now + kMinute}));
        ASSERT_TRUE(pending.InsertScopeUpgrade(
            "old-state-2", {"did:plc:alice", "hash", "[\"teal\"]", std::nullopt, now - 2 * kMinute, now - kMinute}));
    }

    std::int64_t Count(const std::string& table) {
        auto v = db_->ReadValue<std::int64_t>([&](storage::db::Connection& c) -> Result<std::int64_t> {
            auto rows = c.Query("SELECT COUNT(*) FROM " + table);
            if (!rows) return Fail(std::move(rows.error()));
            return rows->front().Int(0);
        });
        EXPECT_TRUE(v) << v.error().ToString();
        return v ? *v : -1;
    }

    void ExpectOnlyLiveRowsLeft() {
        EXPECT_EQ(Count("user_sessions"), 1);
        EXPECT_EQ(Count("oauth_states"), 1);
        EXPECT_EQ(Count("exchange_tokens"), 1);
        EXPECT_EQ(Count("pending_add_accounts"), 0);
        EXPECT_EQ(Count("pending_dev_tokens"), 1);
        EXPECT_EQ(Count("pending_scope_upgrades"), 0);
        repos::SessionRepository sessions(*db_, box_);
        EXPECT_TRUE(sessions.Get(repos::HashToken("live-session"), clock_.NowMicros())->has_value());
    }

    core::ManualClock clock_;
    core::SecretBox box_ = *core::SecretBox::FromKeys(std::string(32, 'k'));
};

TEST_P(AuthCleanupTest, StepsDeleteExpiredRowsOfEveryAuthTableAndKeepLiveOnes) {
    Seed();
    auto steps = AuthCleanupSteps();
    std::vector<std::string> names;
    for (const auto& step : steps) {
        names.push_back(step.name);
        auto st = step.run(*db_, clock_.NowMicros());
        ASSERT_TRUE(st) << step.name << ": " << st.error().ToString();
    }
    EXPECT_EQ(names,
              (std::vector<std::string>{"auth.sessions", "auth.oauth_states", "auth.exchange_tokens", "auth.pending"}));
    ExpectOnlyLiveRowsLeft();
    // Idempotent: a second run finds nothing more to delete.
    for (const auto& step : steps) ASSERT_TRUE(step.run(*db_, clock_.NowMicros()));
    ExpectOnlyLiveRowsLeft();
}

TEST_P(AuthCleanupTest, TheWorkersCleanupJobRunsTheAuthSteps) {
    Seed();
    core::Config config;
    config.worker_concurrency = 1;
    config.job_lease_seconds = 5;
    auto pool = StartWorkerPool(config, *db_, clock_, {"cleanup"});
    ASSERT_TRUE(pool) << pool.error().ToString();
    jobs::JobSpec spec;
    spec.type = "cleanup";
    auto job = jobs::Enqueue(*db_, spec, clock_);
    ASSERT_TRUE(job) << job.error().ToString();
    (*pool)->Notify();
    // Poll the job's observable state (it runs on the pool's threads).
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    bool done = false;
    while (std::chrono::steady_clock::now() < deadline) {
        auto view = jobs::Get(*db_, job->id);
        ASSERT_TRUE(view) << view.error().ToString();
        if (view->status == jobs::JobStatus::kCompleted) {
            done = true;
            break;
        }
        ASSERT_NE(view->status, jobs::JobStatus::kFailed);
        std::this_thread::sleep_for(10ms);
    }
    (*pool)->Stop(5s);
    ASSERT_TRUE(done) << "the cleanup job did not complete";
    ExpectOnlyLiveRowsLeft();
}

INSTANTIATE_TEST_SUITE_P(Backends, AuthCleanupTest, BackendValues(), BackendName);

}  // namespace
}  // namespace plyr::app
