// /auth/start failures of product.md §9 rows 33–36 at the service level: each is its 4xx/502 code, and no
// state row or PAR is left behind. Identity failures come from a scripted identity source (the real
// resolver's error codes are tested in atproto/identity); SSRF targets go through the real guarded client,
// which refuses them before connecting.
#include <gtest/gtest.h>

#include <string>
#include <utility>

#include "auth/auth_fakes.hpp"
#include "auth/auth_service.hpp"
#include "net/http_client.hpp"
#include "test_db.hpp"

namespace plyr::auth {
namespace {

using namespace plyr::auth::fakes;
using storage::db::testing::BackendName;
using storage::db::testing::BackendValues;
using storage::db::testing::MigratedDbTest;

// Answers every resolution with one scripted result.
class ScriptedIdentity final : public IdentitySource {
  public:
    Result<atproto::identity::Identity> Resolve(std::string_view, bool) override { return next; }
    Result<atproto::identity::Identity> next = Fail(ErrorCode::kInternal, "not scripted");
};

// Discovery fails as scripted; everything after discovery must never be reached.
class FailingDiscovery final : public OAuthBackend {
  public:
    Result<oauth::Discovery> Discover(std::string_view) override {
        ++discoveries;
        return tl::unexpected(error);
    }
    Result<oauth::Discovery> DiscoverIssuer(std::string_view) override {
        ++issuer_discoveries;
        return tl::unexpected(error);
    }
    Result<oauth::ParResponse> PushAuthorization(const oauth::AuthServerMetadata&, const oauth::ParRequest&,
                                                 const crypto::PrivateKey&) override {
        ++pars;
        return Fail(ErrorCode::kInternal, "unreachable");
    }
    Result<TokenSet> ExchangeCode(const AuthServerEndpoints&, const OAuthClient&, std::string_view, std::string_view,
                                  const crypto::PrivateKey&) override {
        return Fail(ErrorCode::kInternal, "unreachable");
    }
    Result<TokenSet> Refresh(const AuthServerEndpoints&, const OAuthClient&, std::string_view,
                             const crypto::PrivateKey&) override {
        return Fail(ErrorCode::kInternal, "unreachable");
    }
    Status Revoke(const AuthServerEndpoints&, const OAuthClient&, std::string_view,
                  const crypto::PrivateKey&) override {
        return Fail(ErrorCode::kInternal, "unreachable");
    }
    Result<std::string> IssuerForPds(std::string_view) override { return Fail(ErrorCode::kInternal, "unreachable"); }
    oauth::DpopNonceCache& nonces() override { return cache; }

    Error error{ErrorCode::kInternal, "not scripted", ""};
    int discoveries = 0;
    int issuer_discoveries = 0;
    int pars = 0;
    oauth::DpopNonceCache cache;
};

atproto::identity::Identity AliceAt(std::string pds) {
    atproto::identity::Identity id;
    id.did = kAlice;
    id.handle = "alice.test";
    id.handle_verified = true;
    id.pds_endpoint = std::move(pds);
    return id;
}

class StartErrorsTest : public MigratedDbTest {
  protected:
    void SetUp() override {
        MigratedDbTest::SetUp();
        if (IsSkipped()) return;
        AuthSettings settings;
        settings.public_url = "http://127.0.0.1:8001";
        settings.allow_test_handles = true;
        settings.development_mode = true;
        service_ =
            std::make_unique<AuthService>(std::move(settings), *db_, box_, http_, identity_, backend_, clock_, pool_);
    }

    // Starts a login that must fail with `status`/`code` and leave nothing behind.
    void ExpectStartFails(std::string_view input, int status, std::string_view code) {
        auto started = service_->StartLogin(input, std::nullopt);
        ASSERT_FALSE(started) << input;
        EXPECT_EQ(started.error().status, status) << input;
        EXPECT_EQ(started.error().code, code) << input << ": " << started.error().detail;
        EXPECT_EQ(CountStates(), 0) << input;
        EXPECT_EQ(backend_.pars, 0) << input;
    }

    std::int64_t CountStates() {
        auto v = db_->ReadValue<std::int64_t>([](storage::db::Connection& c) -> Result<std::int64_t> {
            auto rows = c.Query("SELECT COUNT(*) FROM oauth_states");
            if (!rows) return Fail(std::move(rows.error()));
            return rows->front().Int(0);
        });
        return v ? *v : -1;
    }

    core::SecretBox box_ = *core::SecretBox::FromKeys(std::string(32, 'k'));
    OfflineHttp http_;
    ScriptedIdentity identity_;
    FailingDiscovery backend_;
    core::ManualClock clock_;
    net::BlockingPool pool_{1};
    std::unique_ptr<AuthService> service_;
};

TEST_P(StartErrorsTest, HandleWhoseDocumentClaimsAnotherHandleIsHandleMismatch) {  // row 33
    identity_.next = Fail(ErrorCode::kConflict, "handle does not match its did document");
    ExpectStartFails("alice.test", 400, "handle_mismatch");
    EXPECT_EQ(backend_.discoveries, 0);
}

TEST_P(StartErrorsTest, UnusableDidDocumentIsInvalidDidDocument) {  // row 35
    identity_.next = Fail(ErrorCode::kProtocol, "pds endpoint must be an https origin");
    ExpectStartFails("alice.test", 400, "invalid_did_document");
    identity_.next = AliceAt("");  // a document naming no PDS at all
    ExpectStartFails("alice.test", 400, "invalid_did_document");
    EXPECT_EQ(backend_.discoveries, 0);
}

TEST_P(StartErrorsTest, IdentityFetchBlockedOrTimingOutIsIdentityUnreachable) {  // rows 34, 35
    identity_.next = Fail(ErrorCode::kPermissionDenied, "private address", "ssrf_blocked: 10.0.0.1");
    ExpectStartFails("did:web:evil.example", 400, "identity_unreachable");
    identity_.next = Fail(ErrorCode::kTimeout, "no answer within 5 s");
    ExpectStartFails("alice.test", 400, "identity_unreachable");
}

TEST_P(StartErrorsTest, InvalidAuthorizationServerMetadataIsAuthServerInvalid) {  // row 36
    identity_.next = AliceAt(std::string(kPds));
    backend_.error = Error{ErrorCode::kProtocol, "invalid authorization server",
                           std::string(oauth::kAuthServerInvalid) + ": protected resource names 2 servers"};
    ExpectStartFails("alice.test", 400, "auth_server_invalid");
    EXPECT_EQ(backend_.discoveries, 1);
    EXPECT_EQ(backend_.issuer_discoveries, 0);  // a resolved account's PDS is never taken for an AS
    ExpectStartFails("https://pds.example", 400, "auth_server_invalid");  // a typed URL: tried as an AS too
    EXPECT_EQ(backend_.issuer_discoveries, 1);
}

TEST_P(StartErrorsTest, UnreachablePdsIsPdsError) {
    identity_.next = AliceAt(std::string(kPds));
    backend_.error = Error{ErrorCode::kUnavailable, "connection refused", ""};
    ExpectStartFails("alice.test", 502, "pds_error");
}

INSTANTIATE_TEST_SUITE_P(Backends, StartErrorsTest, BackendValues(), BackendName);

// Row 34 through the real SSRF-guarded client: a PDS whose host resolves to a private, link-local, mapped or
// ULA address is refused before any connection, and reported as identity_unreachable.
class StartSsrfTest : public MigratedDbTest {};

TEST_P(StartSsrfTest, PdsOnAPrivateAddressIsIdentityUnreachableWithoutAConnection) {
    for (std::string address : {"127.0.0.1", "10.1.2.3", "169.254.169.254", "::ffff:10.0.0.1", "fc00::1"}) {
        net::CurlHttpClientOptions options;  // default policy: private networks refused
        options.static_hosts["pds.attacker.example"] = {address};
        net::CurlHttpClient client(std::move(options));
        core::SystemClock clock;
        HttpOAuthBackend backend(client, clock);
        ScriptedIdentity identity;
        identity.next = AliceAt("https://pds.attacker.example");
        core::SecretBox box = *core::SecretBox::FromKeys(std::string(32, 'k'));
        net::BlockingPool pool(1);
        AuthSettings settings;
        settings.allow_test_handles = true;
        AuthService service(std::move(settings), *db_, box, client, identity, backend, clock, pool);

        auto started = service.StartLogin("alice.test", std::nullopt);
        ASSERT_FALSE(started) << address;
        EXPECT_EQ(started.error().status, 400) << address;
        EXPECT_EQ(started.error().code, "identity_unreachable") << address << ": " << started.error().detail;
    }
}

INSTANTIATE_TEST_SUITE_P(Backends, StartSsrfTest, BackendValues(), BackendName);

}  // namespace
}  // namespace plyr::auth
