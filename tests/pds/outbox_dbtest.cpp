// pds::outbox and pds::OutboxWorker on both database backends (product.md §6.5): enqueue/replace/cancel,
// claiming (one in-flight entry per DID, leases, expiry), outcomes (backoff, dead, blocked_auth, waiting,
// superseded) and the threaded drain loop. Where a PDS would answer, the session points at a closed loopback
// port: a real transport failure. Writes that reach a PDS are tested against the reference PDS in
// outbox_testnet_test.cpp.
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "atproto/crypto/keys.hpp"
#include "atproto/oauth/nonce_cache.hpp"
#include "atproto/oauth/pds_session.hpp"
#include "core/clock.hpp"
#include "core/log.hpp"
#include "net/http_client.hpp"
#include "pds/outbox.hpp"
#include "pds/outbox_worker.hpp"
#include "pds/record_source.hpp"
#include "pds/session_provider.hpp"
#include "support/process.hpp"
#include "test_db.hpp"

namespace plyr::pds {
namespace {

namespace sdb = ::plyr::storage::db;
namespace oauth = ::plyr::atproto::oauth;
using namespace std::chrono_literals;

constexpr std::int64_t kSecond = 1'000'000;
constexpr std::string_view kAlice = "did:plc:aliceaaaaaaaaaaaaaaaaaaa";
constexpr std::string_view kBob = "did:plc:bobbbbbbbbbbbbbbbbbbbbbbb";
constexpr std::string_view kCarol = "did:plc:carolccccccccccccccccccc";
constexpr std::string_view kLike = "fm.plyr.like";

OutboxWrite Put(std::string_view did, std::string rkey, std::string entity_id = "e1") {
    return OutboxWrite{
        std::string(did), std::string(kLike), std::move(rkey), WriteOp::kPut, "like", std::move(entity_id), true};
}
OutboxWrite Delete(std::string_view did, std::string rkey, bool record_exists, std::string entity_id = "e1") {
    return OutboxWrite{std::string(did), std::string(kLike),   std::move(rkey), WriteOp::kDelete,
                       "like",           std::move(entity_id), record_exists};
}

// A record source whose answers the test sets.
class FakeSource final : public RecordSource {
  public:
    Result<BuiltRecord> Build(sdb::Db&, const std::string& entity_id, const std::optional<atproto::Value>&) override {
        std::lock_guard lock(mutex);
        built.push_back(entity_id);
        return BuiltRecord{atproto::Value(atproto::Value::Map{{"$type", std::string(kLike)}})};
    }
    Status OnWritten(sdb::Db&, const std::string& entity_id, const std::string&, const std::string&) override {
        std::lock_guard lock(mutex);
        written.push_back(entity_id);
        return Ok();
    }
    Result<bool> Ready(sdb::Db&, const std::string&) override { return ready.load(); }

    std::atomic<bool> ready{true};
    std::mutex mutex;
    std::vector<std::string> built;
    std::vector<std::string> written;
};

// Credentials that never change (the PDS is never reached in these tests).
class StaticCredentials final : public oauth::CredentialSource {
  public:
    explicit StaticCredentials(atproto::crypto::PrivateKey key) : key_(std::move(key)) {}
    Result<oauth::Credentials> Current() override { return oauth::Credentials{"access-token", key_, 0}; }
    Result<oauth::Credentials> Refresh(const oauth::Credentials&) override { return Current(); }

  private:
    atproto::crypto::PrivateKey key_;
};

class Handle final : public SessionHandle {
  public:
    Handle(std::string did, net::HttpClient& http, std::string pds_url, oauth::DpopNonceCache& nonces,
           const core::Clock& clock, atproto::crypto::PrivateKey key)
        : did_(std::move(did)),
          credentials_(std::move(key)),
          session_(http, pds_url, credentials_, nonces, clock, Fast()) {}
    const std::string& did() const override { return did_; }
    const oauth::PdsSession& session() const override { return session_; }

  private:
    static atproto::xrpc::XrpcOptions Fast() {
        atproto::xrpc::XrpcOptions o;
        o.max_retries = 0;
        o.timeout = 2000ms;
        o.sleep = [](std::chrono::milliseconds) {};
        return o;
    }
    std::string did_;
    StaticCredentials credentials_;
    oauth::PdsSession session_;
};

// DIDs in `signed_in` get a session whose PDS is a closed loopback port; the others have none.
class FakeSessions final : public SessionProvider {
  public:
    explicit FakeSessions(const core::Clock& clock) : clock_(clock) {
        port_ = plyr::testing::FreePort();
        auto policy = net::PrivateNetworkPolicy::Parse("127.0.0.1:" + std::to_string(port_));
        net::CurlHttpClientOptions options;
        options.policy = *policy;
        http_ = std::make_unique<net::CurlHttpClient>(std::move(options));
        key_ = *atproto::crypto::PrivateKey::Generate(atproto::crypto::Curve::kP256);
    }
    Result<std::unique_ptr<SessionHandle>> OpenForDid(std::string_view did) override {
        ++opened;
        std::lock_guard lock(mutex_);
        if (!signed_in.contains(std::string(did))) return tl::unexpected(NoSessionError(did));
        return std::unique_ptr<SessionHandle>(std::make_unique<Handle>(
            std::string(did), *http_, "http://127.0.0.1:" + std::to_string(port_), nonces_, clock_, *key_));
    }
    void SignIn(std::string_view did) {
        std::lock_guard lock(mutex_);
        signed_in.insert(std::string(did));
    }

    std::atomic<int> opened{0};
    std::set<std::string> signed_in;

  private:
    const core::Clock& clock_;
    std::mutex mutex_;
    int port_ = 0;
    std::unique_ptr<net::CurlHttpClient> http_;
    oauth::DpopNonceCache nonces_;
    std::optional<atproto::crypto::PrivateKey> key_;
};

class OutboxDbTest : public sdb::testing::MigratedDbTest {
  protected:
    void SetUp() override {
        log::Init(log::Level::kError, log::Format::kJson);
        MigratedDbTest::SetUp();
        if (IsSkipped() || HasFatalFailure()) return;
        clock_.Set(1'800'000'000 * kSecond);
        sessions_ = std::make_unique<FakeSessions>(clock_);
        worker_ = MakeWorker();
    }
    void TearDown() override {
        worker_.reset();
        MigratedDbTest::TearDown();
        log::Init(log::Level::kInfo, log::Format::kJson);
    }

    std::unique_ptr<OutboxWorker> MakeWorker(int concurrency = 4) {
        OutboxWorker::Options options;
        options.concurrency = concurrency;
        options.worker_id = "test";
        options.jitter = [] { return 0.5; };  // exactly the backoff ceiling
        options.poll_interval = 20ms;
        auto w = std::make_unique<OutboxWorker>(*db_, *sessions_, clock_, options);
        w->Register("like", source_);
        return w;
    }

    void Advance(std::chrono::microseconds d) { clock_.Advance(d.count()); }

    EnqueueOutcome Enqueue(const OutboxWrite& write) {
        EnqueueOutcome out;
        auto st = db_->Write([&](sdb::Connection& tx) -> Status {
            auto r = EnqueueWrite(tx, write, clock_.NowMicros());
            if (!r) return Fail(std::move(r.error()));
            out = *r;
            return Ok();
        });
        EXPECT_TRUE(st) << st.error().ToString();
        return out;
    }

    OutboxEntry Entry(std::int64_t id) {
        auto e = GetEntry(*db_, id);
        EXPECT_TRUE(e && *e) << "no entry " << id;
        return (e && *e) ? **e : OutboxEntry{};
    }

    std::vector<ClaimedEntry> Claim(int limit = 8, const std::set<std::string>& busy = {},
                                    std::string_view worker = "w") {
        auto r = ClaimDue(*db_, worker, limit, 30s, clock_.NowMicros(), busy);
        EXPECT_TRUE(r) << r.error().ToString();
        return r ? *r : std::vector<ClaimedEntry>{};
    }

    void Exec(const std::string& sql) {
        auto st = db_->Write([&](sdb::Connection& tx) -> Status {
            auto n = tx.Exec(sql);
            if (!n) return Fail(std::move(n.error()));
            return Ok();
        });
        ASSERT_TRUE(st) << st.error().ToString();
    }

    core::ManualClock clock_;
    FakeSource source_;
    std::unique_ptr<FakeSessions> sessions_;
    std::unique_ptr<OutboxWorker> worker_;
};

// ---- enqueue ----

TEST_P(OutboxDbTest, EnqueueInsertsAPendingEntryDueNow) {
    auto out = Enqueue(Put(kAlice, "3kaaaaaaaaaa2"));
    ASSERT_GT(out.id, 0);
    EXPECT_FALSE(out.replaced);
    auto e = Entry(out.id);
    EXPECT_EQ(e.status, OutboxStatus::kPending);
    EXPECT_EQ(e.op, WriteOp::kPut);
    EXPECT_EQ(e.attempts, 0);
    EXPECT_EQ(e.next_attempt_at, clock_.NowMicros());
    EXPECT_EQ(e.entity_type, "like");
    EXPECT_EQ(e.AtUri(), std::string("at://") + std::string(kAlice) + "/fm.plyr.like/3kaaaaaaaaaa2");
}

TEST_P(OutboxDbTest, EnqueueInARolledBackTransactionLeavesNothing) {
    auto st = db_->Write([&](sdb::Connection& tx) -> Status {
        auto r = EnqueueWrite(tx, Put(kAlice, "3kaaaaaaaaaa2"), clock_.NowMicros());
        if (!r) return Fail(std::move(r.error()));
        return Fail(ErrorCode::kInvalidArgument, "the domain write failed");
    });
    ASSERT_FALSE(st);
    auto all = ListEntries(*db_, {});
    ASSERT_TRUE(all);
    EXPECT_TRUE(all->empty());
}

TEST_P(OutboxDbTest, EnqueueRejectsMalformedWrites) {
    auto bad = [&](OutboxWrite w) {
        auto st = db_->Write([&](sdb::Connection& tx) -> Status {
            auto r = EnqueueWrite(tx, w, clock_.NowMicros());
            if (!r) return Fail(std::move(r.error()));
            return Ok();
        });
        EXPECT_FALSE(st);
        if (!st) {
            EXPECT_EQ(st.error().code, ErrorCode::kInvalidArgument);
        }
    };
    bad(Put("alice", "3kaaaaaaaaaa2"));
    bad(Put(kAlice, "bad rkey"));
    auto w = Put(kAlice, "3kaaaaaaaaaa2");
    w.collection = "not-an-nsid";
    bad(w);
    w = Put(kAlice, "3kaaaaaaaaaa2", "");
    bad(w);
}

TEST_P(OutboxDbTest, ASecondEnqueueReplacesOpResetsAttemptsAndIsDueNow) {
    auto first = Enqueue(Put(kAlice, "3kaaaaaaaaaa2"));
    Exec("UPDATE pds_outbox SET attempts = 7, next_attempt_at = next_attempt_at + 3600000000, last_error = 'x'");
    Advance(10s);
    auto second = Enqueue(Delete(kAlice, "3kaaaaaaaaaa2", true, "e2"));
    EXPECT_EQ(second.id, first.id);
    EXPECT_TRUE(second.replaced);
    auto e = Entry(first.id);
    EXPECT_EQ(e.op, WriteOp::kDelete);
    EXPECT_EQ(e.entity_id, "e2");
    EXPECT_EQ(e.attempts, 0);
    EXPECT_EQ(e.next_attempt_at, clock_.NowMicros());
    EXPECT_FALSE(e.last_error.has_value());
    auto all = ListEntries(*db_, {});
    ASSERT_TRUE(all);
    EXPECT_EQ(all->size(), 1u);
}

TEST_P(OutboxDbTest, ADeleteOfANeverWrittenRecordCancelsItsPendingPut) {
    auto put = Enqueue(Put(kAlice, "3kaaaaaaaaaa2"));
    auto del = Enqueue(Delete(kAlice, "3kaaaaaaaaaa2", false));
    EXPECT_TRUE(del.cancelled);
    EXPECT_EQ(del.id, 0);
    EXPECT_EQ(Entry(put.id).status, OutboxStatus::kCancelled);
    EXPECT_TRUE(Claim().empty());
}

TEST_P(OutboxDbTest, ADeleteOfANeverWrittenRecordWithNothingQueuedEnqueuesNothing) {
    auto del = Enqueue(Delete(kAlice, "3kaaaaaaaaaa2", false));
    EXPECT_EQ(del.id, 0);
    EXPECT_FALSE(del.cancelled);
    auto all = ListEntries(*db_, {});
    ASSERT_TRUE(all);
    EXPECT_TRUE(all->empty());
}

TEST_P(OutboxDbTest, ADeleteIsQueuedWhenAnEarlierPutOfTheRecordSucceeded) {
    auto put = Enqueue(Put(kAlice, "3kaaaaaaaaaa2"));
    Exec("UPDATE pds_outbox SET status = 'done', result_uri = 'at://x', result_cid = 'bafy'");
    auto del = Enqueue(Delete(kAlice, "3kaaaaaaaaaa2", false));  // the caller lost track of the URI
    ASSERT_GT(del.id, 0);
    EXPECT_NE(del.id, put.id);
    EXPECT_EQ(Entry(del.id).op, WriteOp::kDelete);
}

TEST_P(OutboxDbTest, ADeleteReplacesAnInFlightPutInsteadOfCancellingIt) {
    auto put = Enqueue(Put(kAlice, "3kaaaaaaaaaa2"));
    ASSERT_EQ(Claim().size(), 1u);
    auto del = Enqueue(Delete(kAlice, "3kaaaaaaaaaa2", false));  // the put may be creating the record now
    EXPECT_EQ(del.id, put.id);
    EXPECT_FALSE(del.cancelled);
    auto e = Entry(put.id);
    EXPECT_EQ(e.status, OutboxStatus::kInFlight);
    EXPECT_EQ(e.op, WriteOp::kDelete);
    EXPECT_FALSE(e.lease_owner.has_value());  // superseded
}

TEST_P(OutboxDbTest, CancelPendingCancelsPendingAndBlockedButNotInFlightEntries) {
    auto a = Enqueue(Put(kAlice, "3kaaaaaaaaaa2"));
    auto b = Enqueue(Put(kBob, "3kaaaaaaaaaa2"));
    auto c = Enqueue(Put(kCarol, "3kaaaaaaaaaa2"));
    Exec("UPDATE pds_outbox SET status = 'blocked_auth' WHERE id = " + std::to_string(b.id));
    Exec("UPDATE pds_outbox SET status = 'in_flight', lease_owner = 'x', lease_until = 9000000000000000 WHERE id = " +
         std::to_string(c.id));
    for (auto did : {kAlice, kBob, kCarol}) {
        auto st = db_->Write([&](sdb::Connection& tx) -> Status {
            auto r = CancelPending(tx, did, kLike, "3kaaaaaaaaaa2", clock_.NowMicros());
            if (!r) return Fail(std::move(r.error()));
            EXPECT_EQ(*r, did != kCarol) << did;
            return Ok();
        });
        ASSERT_TRUE(st);
    }
    EXPECT_EQ(Entry(a.id).status, OutboxStatus::kCancelled);
    EXPECT_EQ(Entry(b.id).status, OutboxStatus::kCancelled);
    EXPECT_EQ(Entry(c.id).status, OutboxStatus::kInFlight);
}

TEST_P(OutboxDbTest, CancelAllForDidLeavesOtherAccountsAlone) {
    Enqueue(Put(kAlice, "3kaaaaaaaaaa2"));
    Enqueue(Put(kAlice, "3kaaaaaaaaaa3"));
    auto bob = Enqueue(Put(kBob, "3kaaaaaaaaaa2"));
    auto n = db_->WriteValue<std::int64_t>(
        [&](sdb::Connection& tx) { return CancelAllForDid(tx, kAlice, clock_.NowMicros()); });
    ASSERT_TRUE(n);
    EXPECT_EQ(*n, 2);
    EXPECT_EQ(Entry(bob.id).status, OutboxStatus::kPending);
}

// ---- claim ----

TEST_P(OutboxDbTest, AClaimTakesTheOldestDueEntryOfEachDidAndOnlyOnePerDid) {
    auto a1 = Enqueue(Put(kAlice, "3kaaaaaaaaaa2"));
    Advance(1s);
    Enqueue(Put(kAlice, "3kaaaaaaaaaa3"));
    auto b1 = Enqueue(Put(kBob, "3kaaaaaaaaaa2"));
    auto claimed = Claim();
    ASSERT_EQ(claimed.size(), 2u);
    std::set<std::int64_t> ids{claimed[0].entry.id, claimed[1].entry.id};
    EXPECT_EQ(ids, (std::set<std::int64_t>{a1.id, b1.id}));
    for (const auto& c : claimed) {
        EXPECT_EQ(c.entry.status, OutboxStatus::kInFlight);
        EXPECT_EQ(Entry(c.entry.id).lease_owner, c.lease_owner);
        EXPECT_EQ(Entry(c.entry.id).lease_until, clock_.NowMicros() + 30 * kSecond);
    }
    // Alice's second entry waits while her first is in flight — in any process.
    EXPECT_TRUE(Claim(8, {}, "other-process").empty());
}

TEST_P(OutboxDbTest, AClaimHonoursTheLimitAndSkipsBusyDids) {
    Enqueue(Put(kAlice, "3kaaaaaaaaaa2"));
    Enqueue(Put(kBob, "3kaaaaaaaaaa2"));
    Enqueue(Put(kCarol, "3kaaaaaaaaaa2"));
    auto one = Claim(1, {std::string(kAlice)});
    ASSERT_EQ(one.size(), 1u);
    EXPECT_NE(one[0].entry.did, kAlice);
    auto rest = Claim(8, {std::string(kAlice)});
    ASSERT_EQ(rest.size(), 1u);
    EXPECT_NE(rest[0].entry.did, kAlice);
    EXPECT_EQ(Claim(8).size(), 1u);  // Alice, once she is not busy
}

TEST_P(OutboxDbTest, EntriesAreNotClaimedBeforeTheyAreDue) {
    Enqueue(Put(kAlice, "3kaaaaaaaaaa2"));
    Exec("UPDATE pds_outbox SET next_attempt_at = next_attempt_at + 5000000");
    EXPECT_TRUE(Claim().empty());
    Advance(5s);
    EXPECT_EQ(Claim().size(), 1u);
}

TEST_P(OutboxDbTest, AnExpiredLeaseReturnsTheEntryAndCountsTheLostAttempt) {
    auto a = Enqueue(Put(kAlice, "3kaaaaaaaaaa2"));
    auto first = Claim();
    ASSERT_EQ(first.size(), 1u);
    Advance(29s);
    EXPECT_TRUE(Claim().empty());
    Advance(1s);
    auto second = Claim();
    ASSERT_EQ(second.size(), 1u);
    EXPECT_EQ(second[0].entry.id, a.id);
    EXPECT_NE(second[0].lease_owner, first[0].lease_owner);
    EXPECT_EQ(Entry(a.id).attempts, 1);
    // The first worker's late answer is ignored.
    EXPECT_EQ(worker_->Send(first[0]), SendOutcome::kLeaseLost);
    EXPECT_EQ(Entry(a.id).lease_owner, second[0].lease_owner);
}

TEST_P(OutboxDbTest, ConcurrentClaimersNeverHoldTwoEntriesOfOneDid) {
    constexpr int kDids = 6;
    for (int d = 0; d < kDids; ++d) {
        for (int r = 0; r < 4; ++r) {
            Enqueue(Put(fmt::format("did:plc:concurrent{:011d}", d), fmt::format("3kaaaaaaaaa{}{}", d, r + 2)));
        }
    }
    std::mutex mutex;
    std::vector<ClaimedEntry> all;
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
            for (int round = 0; round < 3; ++round) {
                auto r = ClaimDue(*db_, fmt::format("w{}", t), 2, 30s, clock_.NowMicros(), {});
                if (!r) continue;  // kBusy under contention is a legitimate answer
                std::lock_guard lock(mutex);
                for (auto& c : *r) all.push_back(std::move(c));
            }
        });
    }
    for (auto& t : threads) t.join();
    std::set<std::string> dids;
    for (const auto& c : all) EXPECT_TRUE(dids.insert(c.entry.did).second) << "two entries of " << c.entry.did;
    EXPECT_EQ(all.size(), static_cast<std::size_t>(kDids));
}

// ---- worker outcomes ----

TEST_P(OutboxDbTest, NoLiveSessionBlocksTheEntryUntilTheNextSignIn) {
    auto a = Enqueue(Put(kAlice, "3kaaaaaaaaaa2"));
    auto claimed = Claim();
    ASSERT_EQ(claimed.size(), 1u);
    EXPECT_EQ(worker_->Send(claimed[0]), SendOutcome::kBlockedAuth);
    auto e = Entry(a.id);
    EXPECT_EQ(e.status, OutboxStatus::kBlockedAuth);
    EXPECT_FALSE(e.lease_owner.has_value());
    ASSERT_TRUE(e.last_error);
    EXPECT_NE(e.last_error->find("auth_blocked"), std::string::npos) << *e.last_error;
    Advance(24h);
    EXPECT_TRUE(Claim().empty());

    Advance(1s);
    auto released = ReleaseBlocked(*db_, kAlice, clock_.NowMicros());
    ASSERT_TRUE(released);
    EXPECT_EQ(*released, 1);
    e = Entry(a.id);
    EXPECT_EQ(e.status, OutboxStatus::kPending);
    EXPECT_EQ(e.next_attempt_at, clock_.NowMicros());
    EXPECT_EQ(Claim().size(), 1u);
}

TEST_P(OutboxDbTest, ATransportFailureRetriesWithBackoffAndEndsDeadAfterTwentyAttempts) {
    sessions_->SignIn(kAlice);
    auto a = Enqueue(Put(kAlice, "3kaaaaaaaaaa2"));
    for (int attempt = 1; attempt <= kMaxAttempts; ++attempt) {
        auto claimed = Claim();
        ASSERT_EQ(claimed.size(), 1u) << "attempt " << attempt;
        auto outcome = worker_->Send(claimed[0]);
        auto e = Entry(a.id);
        EXPECT_EQ(e.attempts, attempt);
        ASSERT_TRUE(e.last_error);
        EXPECT_NE(e.last_error->find("transient"), std::string::npos) << *e.last_error;
        if (attempt < kMaxAttempts) {
            ASSERT_EQ(outcome, SendOutcome::kRetry) << "attempt " << attempt;
            EXPECT_EQ(e.status, OutboxStatus::kPending);
            const std::int64_t delay = BackoffCeiling(attempt).count();  // jitter 0.5 = no jitter
            EXPECT_EQ(e.next_attempt_at, clock_.NowMicros() + delay) << "attempt " << attempt;
            Advance(std::chrono::microseconds(delay - 1));
            EXPECT_TRUE(Claim().empty()) << "due early at attempt " << attempt;
            Advance(1us);
        } else {
            EXPECT_EQ(outcome, SendOutcome::kDead);
            EXPECT_EQ(e.status, OutboxStatus::kDead);
        }
    }
    EXPECT_EQ(source_.written.size(), 0u);
    EXPECT_TRUE(Claim().empty());
}

TEST_P(OutboxDbTest, ADependencyThatIsNotReadyWaitsFiveSecondsWithoutCountingAnAttempt) {
    sessions_->SignIn(kAlice);
    source_.ready = false;
    auto a = Enqueue(Put(kAlice, "3kaaaaaaaaaa2"));
    auto claimed = Claim();
    ASSERT_EQ(claimed.size(), 1u);
    EXPECT_EQ(worker_->Send(claimed[0]), SendOutcome::kWaiting);
    auto e = Entry(a.id);
    EXPECT_EQ(e.status, OutboxStatus::kPending);
    EXPECT_EQ(e.attempts, 0);
    EXPECT_EQ(e.next_attempt_at, clock_.NowMicros() + 5 * kSecond);
    EXPECT_EQ(sessions_->opened.load(), 0);  // no PDS call while waiting
    EXPECT_TRUE(source_.built.empty());
}

TEST_P(OutboxDbTest, AnEntityTypeWithoutASourceWaitsInsteadOfFailing) {
    auto w = Put(kAlice, "3kaaaaaaaaaa2");
    w.entity_type = "comment";
    auto a = Enqueue(w);
    auto claimed = Claim();
    ASSERT_EQ(claimed.size(), 1u);
    EXPECT_EQ(worker_->Send(claimed[0]), SendOutcome::kWaiting);
    auto e = Entry(a.id);
    EXPECT_EQ(e.status, OutboxStatus::kPending);
    EXPECT_EQ(e.attempts, 0);
    EXPECT_EQ(e.next_attempt_at, clock_.NowMicros() + 60 * kSecond);
}

TEST_P(OutboxDbTest, AChangeEnqueuedWhileInFlightIsSentAfterwardsNotLost) {
    auto a = Enqueue(Put(kAlice, "3kaaaaaaaaaa2", "old"));
    auto claimed = Claim();
    ASSERT_EQ(claimed.size(), 1u);
    Enqueue(Put(kAlice, "3kaaaaaaaaaa2", "new"));  // the user edits while the first write is on its way
    // Whatever the first send's outcome (here: no session → would block), the entry goes back to pending.
    EXPECT_EQ(worker_->Send(claimed[0]), SendOutcome::kSuperseded);
    auto e = Entry(a.id);
    EXPECT_EQ(e.status, OutboxStatus::kPending);
    EXPECT_EQ(e.entity_id, "new");
    EXPECT_EQ(e.attempts, 0);
    auto again = Claim();
    ASSERT_EQ(again.size(), 1u);
    EXPECT_EQ(again[0].entry.entity_id, "new");
}

// ---- admin ----

TEST_P(OutboxDbTest, RetryMakesADeadEntryPendingAndRefusesOthers) {
    auto a = Enqueue(Put(kAlice, "3kaaaaaaaaaa2"));
    auto pending = Retry(*db_, a.id, clock_.NowMicros());
    ASSERT_FALSE(pending);
    EXPECT_EQ(pending.error().code, ErrorCode::kConflict);
    auto unknown = Retry(*db_, a.id + 1000, clock_.NowMicros());
    ASSERT_FALSE(unknown);
    EXPECT_EQ(unknown.error().code, ErrorCode::kNotFound);

    Exec("UPDATE pds_outbox SET status = 'dead', attempts = 20, last_error = 'rejected'");
    Advance(1h);
    auto retried = Retry(*db_, a.id, clock_.NowMicros());
    ASSERT_TRUE(retried) << retried.error().ToString();
    EXPECT_EQ(*retried, a.id);
    auto e = Entry(a.id);
    EXPECT_EQ(e.status, OutboxStatus::kPending);
    EXPECT_EQ(e.attempts, 0);
    EXPECT_EQ(e.next_attempt_at, clock_.NowMicros());
}

TEST_P(OutboxDbTest, RetryOfADeadEntryDefersToANewerLiveEntryOfTheSameRecord) {
    auto a = Enqueue(Put(kAlice, "3kaaaaaaaaaa2"));
    Exec("UPDATE pds_outbox SET status = 'dead'");
    auto b = Enqueue(Put(kAlice, "3kaaaaaaaaaa2", "e2"));
    ASSERT_NE(a.id, b.id);
    auto retried = Retry(*db_, a.id, clock_.NowMicros());
    ASSERT_TRUE(retried);
    EXPECT_EQ(*retried, b.id);
    EXPECT_EQ(Entry(a.id).status, OutboxStatus::kDead);
}

TEST_P(OutboxDbTest, ListAndStatsReportEntriesByStatus) {
    auto a = Enqueue(Put(kAlice, "3kaaaaaaaaaa2"));
    Enqueue(Put(kAlice, "3kaaaaaaaaaa3"));
    auto b = Enqueue(Put(kBob, "3kaaaaaaaaaa2"));
    Exec("UPDATE pds_outbox SET status = 'dead' WHERE id = " + std::to_string(b.id));
    Exec("UPDATE pds_outbox SET next_attempt_at = next_attempt_at + 1000000 WHERE id = " + std::to_string(a.id));
    auto stats = Stats(*db_, clock_.NowMicros());
    ASSERT_TRUE(stats) << stats.error().ToString();
    EXPECT_EQ(stats->pending, 2);
    EXPECT_EQ(stats->due, 1);
    EXPECT_EQ(stats->dead, 1);
    EXPECT_EQ(stats->oldest_pending_at, clock_.NowMicros());

    OutboxFilter alice;
    alice.did = std::string(kAlice);
    auto list = ListEntries(*db_, alice);
    ASSERT_TRUE(list);
    ASSERT_EQ(list->size(), 2u);
    EXPECT_GT((*list)[0].id, (*list)[1].id);  // newest first
    OutboxFilter dead;
    dead.status = OutboxStatus::kDead;
    list = ListEntries(*db_, dead);
    ASSERT_TRUE(list);
    ASSERT_EQ(list->size(), 1u);
    EXPECT_EQ((*list)[0].id, b.id);
    OutboxFilter page;
    page.before_id = b.id;
    page.limit = 1;
    list = ListEntries(*db_, page);
    ASSERT_TRUE(list);
    ASSERT_EQ(list->size(), 1u);
    EXPECT_LT((*list)[0].id, b.id);
}

// ---- the drain loop ----

TEST_P(OutboxDbTest, TheStartedWorkerDrainsNotifiedEntriesOnItsOwnThreads) {
    for (auto did : {kAlice, kBob, kCarol}) Enqueue(Put(did, "3kaaaaaaaaaa2"));
    Enqueue(Put(kAlice, "3kaaaaaaaaaa3"));  // waits for Alice's first entry, then follows without a poll delay
    worker_->Start();
    worker_->Notify();
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (worker_->counters().blocked_auth.load() < 4 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(10ms);  // polling the outcome of another thread's work
    }
    worker_->Stop(std::chrono::steady_clock::now() + 5s);
    EXPECT_FALSE(worker_->running());
    EXPECT_EQ(worker_->counters().blocked_auth.load(), 4);
    OutboxFilter blocked;
    blocked.status = OutboxStatus::kBlockedAuth;
    auto list = ListEntries(*db_, blocked);
    ASSERT_TRUE(list);
    EXPECT_EQ(list->size(), 4u);
    auto stats = Stats(*db_, clock_.NowMicros());
    ASSERT_TRUE(stats);
    EXPECT_EQ(stats->in_flight, 0);  // nothing left leased after Stop
}

TEST_P(OutboxDbTest, DrainOnceSendsEverythingDueAndLeavesFutureEntries) {
    Enqueue(Put(kAlice, "3kaaaaaaaaaa2"));
    Enqueue(Put(kAlice, "3kaaaaaaaaaa3"));
    Enqueue(Put(kBob, "3kaaaaaaaaaa2"));
    auto n = worker_->DrainOnce();
    ASSERT_TRUE(n) << n.error().ToString();
    EXPECT_EQ(*n, 3);  // Alice's two one after the other
    auto stats = Stats(*db_, clock_.NowMicros());
    ASSERT_TRUE(stats);
    EXPECT_EQ(stats->blocked_auth, 3);
    n = worker_->DrainOnce();
    ASSERT_TRUE(n);
    EXPECT_EQ(*n, 0);
}

INSTANTIATE_TEST_SUITE_P(Backends, OutboxDbTest, sdb::testing::BackendValues(), sdb::testing::BackendName);

}  // namespace
}  // namespace plyr::pds
