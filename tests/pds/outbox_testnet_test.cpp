// The outbox against the REAL reference PDS (product.md §6.5, §3.1, §9 rows 57/59/60, §10 scenario 22): a fresh
// account signed in through the real OAuth provider (headless consent, DPoP-bound tokens), entries drained by
// OutboxWorker into its repository. The test that stops the PDS process (SIGSTOP) starts a testnet of its own
// (scripts/testnet.sh start <temp dir>): the shared one (TESTNET_PDS_URL) must keep serving other suites.
// Skipped when TESTNET_PDS_URL / TESTNET_PLC_URL are not set, as every testnet suite.
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "atproto/crypto/keys.hpp"
#include "atproto/oauth/client_metadata.hpp"
#include "atproto/oauth/discovery.hpp"
#include "atproto/oauth/nonce_cache.hpp"
#include "atproto/oauth/pds_session.hpp"
#include "atproto/oauth/pkce.hpp"
#include "atproto/oauth/token.hpp"
#include "atproto/syntax/tid.hpp"
#include "atproto/xrpc/repo.hpp"
#include "core/clock.hpp"
#include "core/encoding.hpp"
#include "core/log.hpp"
#include "net/http_client.hpp"
#include "pds/outbox.hpp"
#include "pds/outbox_worker.hpp"
#include "pds/record_writer.hpp"
#include "storage/db/migrator.hpp"
#include "support/oauth_signin.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"
#include "support/testnet.hpp"
#include "test_db.hpp"

namespace plyr::pds {
namespace {

namespace sdb = ::plyr::storage::db;
namespace oauth = ::plyr::atproto::oauth;
namespace xrpc = ::plyr::atproto::xrpc;
namespace crypto = ::plyr::atproto::crypto;
using atproto::Value;
using namespace std::chrono_literals;

constexpr std::string_view kRedirectUri = "http://127.0.0.1:8001/auth/callback";
constexpr std::string_view kCollection = "fm.plyr.like";
constexpr std::string_view kScope = "atproto repo:fm.plyr.like";

std::string AuthorityOf(const std::string& url) {
    std::string authority = url.substr(url.find("://") + 3);
    return authority.substr(0, authority.find('/'));
}

// ---- the private testnet (one per suite) ----

struct Testnet {
    plyr::testing::TempDir dir;
    std::map<std::string, std::string> env;  // TESTNET_* from env.sh
    std::string error;
    bool started = false;

    Testnet() {
        const std::string script = std::string(PLYR_SOURCE_DIR) + "/scripts/testnet.sh";
        plyr::testing::Env extra;
        if (const char* cache = std::getenv("PLYR_CACHE_DIR")) extra["PLYR_CACHE_DIR"] = cache;
        auto result = plyr::testing::RunProcess({"/bin/bash", script, "start", dir.str()},
                                                plyr::testing::BaseEnv(extra), {}, 180s);
        if (result.exit_code != 0) {
            error = "testnet.sh start failed (exit " + std::to_string(result.exit_code) + "): " + result.err;
            return;
        }
        started = true;
        std::ifstream in(dir.path() / "env.sh");
        std::string line;
        while (std::getline(in, line)) {
            // export NAME='value'
            auto eq = line.find('=');
            if (line.rfind("export ", 0) != 0 || eq == std::string::npos) continue;
            std::string name = line.substr(7, eq - 7);
            std::string value = line.substr(eq + 1);
            if (value.size() >= 2 && value.front() == '\'' && value.back() == '\'')
                value = value.substr(1, value.size() - 2);
            env[name] = value;
        }
        if (env["TESTNET_PDS_URL"].empty() || env["TESTNET_PID"].empty()) error = "env.sh incomplete";
    }
    ~Testnet() {
        if (!started) return;
        Resume();
        (void)plyr::testing::RunProcess(
            {"/bin/bash", std::string(PLYR_SOURCE_DIR) + "/scripts/testnet.sh", "stop", dir.str()},
            plyr::testing::BaseEnv(), {}, 60s);
    }
    pid_t pid() const { return static_cast<pid_t>(std::stol(env.at("TESTNET_PID"))); }
    void Pause() const { ::kill(pid(), SIGSTOP); }
    void Resume() const {
        if (env.contains("TESTNET_PID")) ::kill(pid(), SIGCONT);
    }
};

// ---- plyr's parts under test get a real session ----

// A clock that can be moved forward (backoff) while DPoP proofs keep using real time.
class OffsetClock final : public core::Clock {
  public:
    std::int64_t NowMicros() const override { return real_.NowMicros() + offset_.load(); }
    void Advance(std::chrono::microseconds d) { offset_ += d.count(); }

  private:
    core::SystemClock real_;
    std::atomic<std::int64_t> offset_{0};
};

// The token store of one signed-in grant, in memory (auth's repository-backed one is tested in
// auth_outbox_dbtest.cpp and tests/auth).
class MemoryCredentials final : public oauth::CredentialSource {
  public:
    MemoryCredentials(net::HttpClient& http, oauth::TokenEndpointContext ctx, oauth::TokenSet tokens,
                      crypto::PrivateKey key)
        : http_(http), ctx_(std::move(ctx)), tokens_(std::move(tokens)), key_(std::move(key)) {}
    Result<oauth::Credentials> Current() override {
        std::lock_guard lock(mutex_);
        return oauth::Credentials{tokens_.access_token, key_, tokens_.expires_at_us};
    }
    Result<oauth::Credentials> Refresh(const oauth::Credentials& stale) override {
        {
            std::lock_guard lock(mutex_);
            if (stale.access_token != tokens_.access_token)
                return oauth::Credentials{tokens_.access_token, key_, tokens_.expires_at_us};
            auto fresh = oauth::RefreshTokens(http_, ctx_, tokens_.refresh_token, tokens_.sub);
            if (!fresh) return Fail(fresh.error());
            tokens_ = std::move(*fresh);
        }
        return Current();
    }

  private:
    net::HttpClient& http_;
    oauth::TokenEndpointContext ctx_;
    std::mutex mutex_;
    oauth::TokenSet tokens_;
    crypto::PrivateKey key_;
};

class Handle final : public SessionHandle {
  public:
    Handle(std::string did, const oauth::PdsSession& session) : did_(std::move(did)), session_(session) {}
    const std::string& did() const override { return did_; }
    const oauth::PdsSession& session() const override { return session_; }

  private:
    std::string did_;
    const oauth::PdsSession& session_;
};

class OneAccountSessions final : public SessionProvider {
  public:
    Result<std::unique_ptr<SessionHandle>> OpenForDid(std::string_view did) override {
        if (session == nullptr || did != this->did) return tl::unexpected(NoSessionError(did));
        return std::unique_ptr<SessionHandle>(std::make_unique<Handle>(std::string(did), *session));
    }
    std::string did;
    const oauth::PdsSession* session = nullptr;
};

// Likes kept in memory: entity id → the fields plyr manages. Build carries over everything else on the PDS.
class LikeSource final : public RecordSource {
  public:
    Result<BuiltRecord> Build(sdb::Db&, const std::string& entity_id, const std::optional<Value>& current) override {
        std::lock_guard lock(mutex);
        ++builds;
        auto it = likes.find(entity_id);
        if (it == likes.end()) return BuiltRecord{};  // gone
        Value::Map record;
        if (current && current->AsMap()) record = *current->AsMap();
        record["$type"] = std::string(kCollection);
        record["subject"] = Value(Value::Map{{"uri", it->second.subject},
                                             {"cid", "bafyreidfayvfuwqa7qlnopdjiqrxzs6blmoeu4rujcjtnci5beludirz2a"}});
        record["note"] = it->second.note;
        if (!record.contains("createdAt")) record["createdAt"] = "2026-11-25T12:00:00.000Z";
        return BuiltRecord{Value(std::move(record))};
    }
    Status OnWritten(sdb::Db&, const std::string& entity_id, const std::string& uri, const std::string& cid) override {
        std::lock_guard lock(mutex);
        written.push_back({entity_id, uri, cid});
        return Ok();
    }
    Status OnDeleted(sdb::Db&, const std::string& entity_id) override {
        std::lock_guard lock(mutex);
        deleted.push_back(entity_id);
        return Ok();
    }

    struct Like {
        std::string subject;
        std::string note;
    };
    struct Written {
        std::string entity_id, uri, cid;
    };
    std::mutex mutex;
    std::map<std::string, Like> likes;
    std::vector<Written> written;
    std::vector<std::string> deleted;
    int builds = 0;
};

class OutboxTestnetTest : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!plyr::testing::TestnetPdsUrl()) GTEST_SKIP() << "TESTNET_PDS_URL not set (no testnet installed)";
        const char* plc = std::getenv("TESTNET_PLC_URL");
        if (plc == nullptr || *plc == '\0') GTEST_SKIP() << "TESTNET_PLC_URL not set";
        Connect(*plyr::testing::TestnetPdsUrl(), plc);
    }

    // A fresh account on the PDS at pds_url, signed in; a fresh database and worker.
    void Connect(const std::string& pds_url, const std::string& plc_url) {
        log::Init(log::Level::kError, log::Format::kJson);
        pds_url_ = pds_url;
        auto policy = net::PrivateNetworkPolicy::Parse(AuthorityOf(pds_url_) + "," + AuthorityOf(plc_url));
        ASSERT_TRUE(policy) << policy.error().ToString();
        net::CurlHttpClientOptions options;
        options.policy = *policy;
        http_ = std::make_unique<net::CurlHttpClient>(std::move(options));
        ASSERT_NO_FATAL_FAILURE(CreateAccount());
        ASSERT_NO_FATAL_FAILURE(SignIn());

        temp_db_ = std::make_unique<sdb::testing::TempDatabase>(sdb::Backend::kSqlite);
        db_ = temp_db_->Open();
        ASSERT_NE(db_, nullptr);
        auto applied = sdb::migrator::Apply(*db_, false);
        ASSERT_TRUE(applied) << applied.error().ToString();

        OutboxWorker::Options wo;
        wo.worker_id = "e2e";
        wo.jitter = [] { return 0.5; };
        worker_ = std::make_unique<OutboxWorker>(*db_, sessions_, clock_, wo);
        worker_->Register("like", source_);
    }
    void TearDown() override {
        worker_.reset();
        db_.reset();
        temp_db_.reset();
        log::Init(log::Level::kInfo, log::Format::kJson);
    }

    void CreateAccount() {
        const std::string name = "ob" + core::RandomHex(5);
        handle_ = name + ".test";
        password_ = name + "-pass";
        xrpc::XrpcClient anonymous(pds_url_, *http_);
        Value input(Value::Map{{"handle", handle_}, {"email", name + "@example.com"}, {"password", password_}});
        auto output = anonymous.Procedure("com.atproto.server.createAccount", xrpc::Body::Json(input));
        ASSERT_TRUE(output.has_value()) << output.error().ToString();
        did_ = *output->Find("did")->AsString();
    }

    // PAR → headless sign-in and consent at the reference AS → code exchange: a real DPoP-bound grant.
    void SignIn() {
        auto found = oauth::DiscoverFromPds(*http_, pds_url_);
        ASSERT_TRUE(found) << found.error().ToString();
        server_ = found->server;
        auto client_id = oauth::BuildLoopbackClientId({std::string(kRedirectUri)}, kScope);
        ASSERT_TRUE(client_id) << client_id.error().ToString();
        auto key = crypto::PrivateKey::Generate(crypto::Curve::kP256);
        ASSERT_TRUE(key);
        dpop_key_.emplace(std::move(*key));
        auto pkce = oauth::GeneratePkce();
        ASSERT_TRUE(pkce);
        oauth::ParRequest request;
        request.client_id = *client_id;
        request.redirect_uri = std::string(kRedirectUri);
        request.scope = std::string(kScope);
        request.state = oauth::GenerateState();
        request.code_challenge = pkce->challenge;
        request.login_hint = handle_;
        auto par_origin = oauth::OriginOf(server_.pushed_authorization_request_endpoint);
        ASSERT_TRUE(par_origin);
        auto par = oauth::PushAuthorizationRequest(*http_, server_, request, *dpop_key_, nonces_.Get(*par_origin),
                                                   real_clock_);
        ASSERT_TRUE(par) << par.error().ToString();
        if (par->dpop_nonce) nonces_.Put(*par_origin, *par->dpop_nonce);
        auto location = plyr::testing::SignInAndConsent(
            oauth::AuthorizationRedirectUrl(server_, *client_id, par->request_uri), handle_, password_);
        ASSERT_TRUE(location) << location.error().ToString();
        auto params = plyr::testing::CallbackParams(*location);
        ASSERT_TRUE(params);
        ASSERT_FALSE((*params)["code"].empty()) << *location;
        oauth::TokenEndpointContext ctx;
        ctx.server = &server_;
        ctx.client_id = *client_id;
        ctx.dpop_key = &*dpop_key_;
        ctx.nonces = &nonces_;
        ctx.clock = &real_clock_;
        auto tokens = oauth::ExchangeCode(*http_, ctx, (*params)["code"], kRedirectUri, pkce->verifier, did_);
        ASSERT_TRUE(tokens) << tokens.error().ToString();
        credentials_ = std::make_unique<MemoryCredentials>(*http_, ctx, *tokens, *dpop_key_);
        // Short timeouts and no client-side retries: the outbox's own backoff is what is under test.
        xrpc::XrpcOptions xo;
        xo.max_retries = 0;
        xo.timeout = 3000ms;
        session_ = std::make_unique<oauth::PdsSession>(*http_, pds_url_, *credentials_, nonces_, real_clock_, xo);
        sessions_.did = did_;
        sessions_.session = session_.get();
    }

    std::int64_t Enqueue(WriteOp op, const std::string& rkey, const std::string& entity_id, bool exists = true) {
        auto id = db_->WriteValue<std::int64_t>([&](sdb::Connection& tx) -> Result<std::int64_t> {
            auto r = EnqueueWrite(tx, {did_, std::string(kCollection), rkey, op, "like", entity_id, exists},
                                  clock_.NowMicros());
            if (!r) return Fail(std::move(r.error()));
            return r->id;
        });
        EXPECT_TRUE(id) << id.error().ToString();
        return id ? *id : 0;
    }

    OutboxEntry Entry(std::int64_t id) {
        auto e = GetEntry(*db_, id);
        EXPECT_TRUE(e && *e);
        return (e && *e) ? **e : OutboxEntry{};
    }

    // The record as the PDS serves it publicly (no session involved).
    std::optional<xrpc::RecordEntry> Fetch(const std::string& rkey) {
        xrpc::XrpcClient anonymous(pds_url_, *http_);
        auto got = xrpc::GetRecord(anonymous, did_, kCollection, rkey);
        if (!got) {
            EXPECT_TRUE(got.error().Is("RecordNotFound")) << got.error().ToString();
            return std::nullopt;
        }
        return *got;
    }

    std::size_t CountRecords() {
        xrpc::XrpcClient anonymous(pds_url_, *http_);
        xrpc::ListRecordsInput input;
        input.repo = did_;
        input.collection = std::string(kCollection);
        auto all = xrpc::ListAllRecords(anonymous, input);
        EXPECT_TRUE(all) << all.error().ToString();
        return all ? all->size() : 0;
    }

    static std::string NewRkey() {
        static core::SystemClock clock;
        static atproto::syntax::TidGenerator tids(clock, atproto::syntax::RandomTidClockId());
        return tids.NextString();
    }

    std::string pds_url_;
    std::unique_ptr<net::CurlHttpClient> http_;
    core::SystemClock real_clock_;
    OffsetClock clock_;
    oauth::DpopNonceCache nonces_;
    std::string handle_, password_, did_;
    oauth::AuthServerMetadata server_;
    std::optional<crypto::PrivateKey> dpop_key_;
    std::unique_ptr<MemoryCredentials> credentials_;
    std::unique_ptr<oauth::PdsSession> session_;
    OneAccountSessions sessions_;
    LikeSource source_;
    std::unique_ptr<sdb::testing::TempDatabase> temp_db_;
    std::unique_ptr<sdb::Db> db_;
    std::unique_ptr<OutboxWorker> worker_;
};

TEST_F(OutboxTestnetTest, ARecordWrittenThroughTheOutboxAppearsOnThePds) {
    const std::string rkey = NewRkey();
    source_.likes["like-1"] = {"at://" + did_ + "/fm.plyr.track/3kaaaaaaaaaa2", "first"};
    auto id = Enqueue(WriteOp::kPut, rkey, "like-1");
    auto n = worker_->DrainOnce();
    ASSERT_TRUE(n) << n.error().ToString();
    EXPECT_EQ(*n, 1);

    auto e = Entry(id);
    EXPECT_EQ(e.status, OutboxStatus::kDone) << e.last_error.value_or("");
    const std::string uri = "at://" + did_ + "/" + std::string(kCollection) + "/" + rkey;
    EXPECT_EQ(e.result_uri.value_or(""), uri);
    ASSERT_EQ(source_.written.size(), 1u);
    EXPECT_EQ(source_.written[0].uri, uri);

    auto record = Fetch(rkey);
    ASSERT_TRUE(record);
    ASSERT_TRUE(record->cid);
    EXPECT_EQ(record->cid->ToString(), source_.written[0].cid);
    EXPECT_EQ(e.result_cid.value_or(""), source_.written[0].cid);
    ASSERT_NE(record->value.Find("note"), nullptr);
    EXPECT_EQ(record->value.Find("note")->GetString(), "first");
    EXPECT_EQ(*record->value.Type(), kCollection);
}

TEST_F(OutboxTestnetTest, ARebuildKeepsFieldsPlyrDoesNotManage) {
    const std::string rkey = NewRkey();
    source_.likes["like-1"] = {"at://" + did_ + "/fm.plyr.track/3kaaaaaaaaaa2", "first"};
    Enqueue(WriteOp::kPut, rkey, "like-1");
    ASSERT_TRUE(worker_->DrainOnce());
    auto before = Fetch(rkey);
    ASSERT_TRUE(before);

    // Another app adds a field plyr knows nothing about.
    Value::Map edited = *before->value.AsMap();
    edited["otherApp"] = Value(Value::Map{{"label", "keep me"}});
    auto put = session_->Run([&](const xrpc::XrpcClient& client) {
        xrpc::PutRecordInput input{did_, std::string(kCollection), rkey, Value(edited), std::nullopt, std::nullopt};
        return xrpc::PutRecord(client, input);
    });
    ASSERT_TRUE(put) << put.error().ToString();

    source_.likes["like-1"].note = "second";
    auto id = Enqueue(WriteOp::kPut, rkey, "like-1");
    ASSERT_TRUE(worker_->DrainOnce());
    EXPECT_EQ(Entry(id).status, OutboxStatus::kDone);
    auto after = Fetch(rkey);
    ASSERT_TRUE(after);
    EXPECT_EQ(after->value.Find("note")->GetString(), "second");
    ASSERT_NE(after->value.Find("otherApp"), nullptr);
    EXPECT_EQ(after->value.Find("otherApp")->Find("label")->GetString(), "keep me");
    EXPECT_EQ(after->value.Find("createdAt")->GetString(), before->value.Find("createdAt")->GetString());
}

TEST_F(OutboxTestnetTest, AConcurrentWriteBetweenReadAndPutIsReReadNotOverwritten) {
    const std::string rkey = NewRkey();
    int builds = 0;
    auto result =
        WriteRecordRmw(*session_, did_, kCollection, rkey, [&](const std::optional<Value>& current) -> Result<Value> {
            ++builds;
            if (builds == 1) {
                EXPECT_FALSE(current.has_value());
                // Someone else creates the record after our read: our put must fail its swap.
                auto other = session_->Run([&](const xrpc::XrpcClient& client) {
                    Value theirs(Value::Map{{"$type", std::string(kCollection)},
                                            {"theirs", true},
                                            {"createdAt", "2026-11-25T12:00:00.000Z"}});
                    return xrpc::PutRecord(client,
                                           {did_, std::string(kCollection), rkey, theirs, std::nullopt, std::nullopt});
                });
                EXPECT_TRUE(other) << other.error().ToString();
            }
            Value::Map record;
            if (current && current->AsMap()) record = *current->AsMap();
            record["$type"] = std::string(kCollection);
            record["ours"] = true;
            if (!record.contains("createdAt")) record["createdAt"] = "2026-11-25T13:00:00.000Z";
            return Value(std::move(record));
        });
    ASSERT_TRUE(result) << result.error().ToString();
    EXPECT_EQ(builds, 2);
    EXPECT_EQ(result->swap_retries, 1);
    EXPECT_FALSE(result->created);
    auto record = Fetch(rkey);
    ASSERT_TRUE(record);
    EXPECT_NE(record->value.Find("theirs"), nullptr);  // their field survived
    EXPECT_NE(record->value.Find("ours"), nullptr);
    EXPECT_EQ(record->value.Find("createdAt")->GetString(), "2026-11-25T12:00:00.000Z");
}

// The PDS process is stopped in this one, so it gets a testnet of its own.
class OutboxPausedPdsTest : public OutboxTestnetTest {
  protected:
    void SetUp() override {
        if (!plyr::testing::TestnetPdsUrl()) GTEST_SKIP() << "TESTNET_PDS_URL not set (no testnet installed)";
        testnet_ = std::make_unique<Testnet>();
        ASSERT_TRUE(testnet_->error.empty()) << testnet_->error;
        Connect(testnet_->env.at("TESTNET_PDS_URL"), testnet_->env.at("TESTNET_PLC_URL"));
    }
    void TearDown() override {
        if (testnet_) testnet_->Resume();
        OutboxTestnetTest::TearDown();
        testnet_.reset();
    }
    std::unique_ptr<Testnet> testnet_;
};

TEST_F(OutboxPausedPdsTest, EntriesStayPendingWithBackoffAndAreDeliveredOnceAfterwards) {
    const std::string rkey = NewRkey();
    source_.likes["like-1"] = {"at://" + did_ + "/fm.plyr.track/3kaaaaaaaaaa2", "while paused"};
    const std::size_t records_before = CountRecords();
    auto id = Enqueue(WriteOp::kPut, rkey, "like-1");

    testnet_->Pause();
    auto n = worker_->DrainOnce();  // the request times out
    ASSERT_TRUE(n) << n.error().ToString();
    auto e = Entry(id);
    EXPECT_EQ(e.status, OutboxStatus::kPending);
    EXPECT_EQ(e.attempts, 1);
    EXPECT_EQ(e.next_attempt_at - clock_.NowMicros() > 1'000'000, true);  // ~2 s ahead (minus the timeout spent)
    ASSERT_TRUE(e.last_error);
    EXPECT_NE(e.last_error->find("transient"), std::string::npos) << *e.last_error;
    EXPECT_EQ(*worker_->DrainOnce(), 0);  // not due yet: nothing is sent while backing off

    clock_.Advance(2s);
    ASSERT_TRUE(worker_->DrainOnce());  // still paused: second attempt fails too
    e = Entry(id);
    EXPECT_EQ(e.status, OutboxStatus::kPending);
    EXPECT_EQ(e.attempts, 2);

    testnet_->Resume();
    clock_.Advance(4s);
    n = worker_->DrainOnce();
    ASSERT_TRUE(n) << n.error().ToString();
    EXPECT_EQ(*n, 1);
    e = Entry(id);
    EXPECT_EQ(e.status, OutboxStatus::kDone) << e.last_error.value_or("");
    EXPECT_EQ(source_.written.size(), 1u);
    auto record = Fetch(rkey);
    ASSERT_TRUE(record);
    EXPECT_EQ(record->value.Find("note")->GetString(), "while paused");
    EXPECT_EQ(CountRecords(), records_before + 1);  // exactly one record, at the fixed rkey
    EXPECT_EQ(*worker_->DrainOnce(), 0);
}

TEST_F(OutboxTestnetTest, DeletingARecordThatDoesNotExistSucceeds) {
    const std::string rkey = NewRkey();
    auto direct = DeleteRecordIdempotent(*session_, did_, kCollection, rkey);
    ASSERT_TRUE(direct) << direct.error().ToString();

    auto id = Enqueue(WriteOp::kDelete, rkey, "like-x");
    ASSERT_TRUE(worker_->DrainOnce());
    auto e = Entry(id);
    EXPECT_EQ(e.status, OutboxStatus::kDone) << e.last_error.value_or("");
    EXPECT_EQ(source_.deleted, std::vector<std::string>{"like-x"});
}

TEST_F(OutboxTestnetTest, APutWhoseEntityIsGoneDeletesTheRecord) {
    const std::string rkey = NewRkey();
    source_.likes["like-1"] = {"at://" + did_ + "/fm.plyr.track/3kaaaaaaaaaa2", "soon gone"};
    Enqueue(WriteOp::kPut, rkey, "like-1");
    ASSERT_TRUE(worker_->DrainOnce());
    ASSERT_TRUE(Fetch(rkey));

    source_.likes.erase("like-1");  // deleted in the DB after the put was queued
    auto id = Enqueue(WriteOp::kPut, rkey, "like-1");
    ASSERT_TRUE(worker_->DrainOnce());
    EXPECT_EQ(Entry(id).status, OutboxStatus::kDone);
    EXPECT_FALSE(Fetch(rkey));
    EXPECT_EQ(source_.deleted, std::vector<std::string>{"like-1"});
}

TEST_F(OutboxTestnetTest, AnInvalidGrantBlocksTheEntryUntilTheNextSignIn) {
    const std::string rkey = NewRkey();
    source_.likes["like-1"] = {"at://" + did_ + "/fm.plyr.track/3kaaaaaaaaaa2", "blocked"};
    // The user revokes plyr's grant at the AS.
    oauth::TokenEndpointContext ctx;
    ctx.server = &server_;
    ctx.client_id = *oauth::BuildLoopbackClientId({std::string(kRedirectUri)}, kScope);
    ctx.dpop_key = &*dpop_key_;
    ctx.nonces = &nonces_;
    ctx.clock = &real_clock_;
    auto current = credentials_->Current();
    ASSERT_TRUE(current);
    ASSERT_TRUE(oauth::RevokeToken(*http_, ctx, current->access_token));

    auto id = Enqueue(WriteOp::kPut, rkey, "like-1");
    ASSERT_TRUE(worker_->DrainOnce());
    auto e = Entry(id);
    EXPECT_EQ(e.status, OutboxStatus::kBlockedAuth) << e.last_error.value_or("");
    EXPECT_FALSE(Fetch(rkey));

    // A new sign-in releases it; the new grant delivers.
    ASSERT_NO_FATAL_FAILURE(SignIn());
    auto released = ReleaseBlocked(*db_, did_, clock_.NowMicros());
    ASSERT_TRUE(released);
    EXPECT_EQ(*released, 1);
    ASSERT_TRUE(worker_->DrainOnce());
    EXPECT_EQ(Entry(id).status, OutboxStatus::kDone);
    EXPECT_TRUE(Fetch(rkey));
}

}  // namespace
}  // namespace plyr::pds
