#pragma once
// Shared fixture of the sign-in end-to-end suites: the real `plyr serve` configured for the local reference
// PDS (tests/support/plyr_server.hpp), a browser played by a cookie-jar client (support/web_client.hpp), the
// headless sign-in at the authorization server (support/oauth_signin.hpp), and direct reads of plyr's SQLite
// file (WAL mode makes reading and the odd test-only write safe while plyr runs).

#include <memory>
#include <optional>
#include <ostream>
#include <string>

#include <gtest/gtest.h>

#include "support/plyr_server.hpp"
#include "support/temp_dir.hpp"
#include "support/testnet_accounts.hpp"
#include "support/web_client.hpp"

namespace plyr::testing {

enum class ClientKind { kLoopback, kConfidential };
void PrintTo(ClientKind kind, std::ostream* os);  // readable ctest names
std::string ClientKindName(const ::testing::TestParamInfo<ClientKind>& info);

// The raw SQLite file of a running plyr (DATA_DIR/plyr.db).
class SqlitePeek {
  public:
    explicit SqlitePeek(std::string path) : path_(std::move(path)) {}
    // The first column of the first row as an integer; -1 on error (the message goes to the gtest log).
    long long Int(const std::string& sql) const;
    // Runs a statement; the number of changed rows, or -1 on error.
    long long Exec(const std::string& sql) const;
    // True when `needle` occurs anywhere in the database file or its WAL (raw bytes).
    bool FileContains(const std::string& needle) const;

  private:
    std::string path_;
};

// The session cookie's value and the exchange call's answer, from one completed sign-in.
struct SignedIn {
    std::string session_id;
    std::string did;
    std::string handle;
    std::string landing;  // the callback's redirect target, without the query
    WebResponse exchange;
};

class AuthE2E : public ::testing::Test {
  protected:
    // Starts plyr for `kind`; extra settings win. Fails the test (fatal) when plyr does not come up.
    void StartPlyr(ClientKind kind, Env extra = {});
    void SetUp() override;

    std::string Url() const { return server_->url(); }
    // The OAUTH_JWK plyr was started with ("" for the loopback client).
    const std::string& server_jwk() const { return jwk_; }
    SqlitePeek Db() const { return SqlitePeek(server_->db_path()); }
    TestnetAccount NewAccount(const std::string& prefix = "t");

    // GET /auth/start as a browser (Accept: text/html), no redirect following.
    std::optional<WebResponse> Start(WebClient& browser, const std::string& query);
    // Signs in and consents at the AS; the callback URL the AS redirects to (gtest failure when it fails).
    std::string Authorize(const std::string& authorize_url, const TestnetAccount& account, bool deny = false);
    // GET the callback as the browser (with its cookies).
    std::optional<WebResponse> DeliverCallback(WebClient& browser, const std::string& callback_url);
    // POST /auth/exchange from the web app (Origin = PUBLIC_URL).
    std::optional<WebResponse> Exchange(WebClient& browser, const std::string& exchange_token);

    // The whole browser sign-in (start → AS → callback → exchange), asserting each hop. The browser's jar
    // holds the session cookie afterwards.
    std::optional<SignedIn> SignIn(WebClient& browser, const TestnetAccount& account,
                                   const std::string& extra_query = {});
    // Completes a flow started by a JSON endpoint that answered {auth_url} (add-account, developer token):
    // AS sign-in → callback → returns the callback's 303 location.
    std::optional<std::string> CompleteFlow(WebClient& browser, const std::string& auth_url,
                                            const TestnetAccount& account);

    // Cookie-authenticated mutation as the web app sends it (Origin = PUBLIC_URL).
    std::optional<WebResponse> Post(WebClient& browser, const std::string& target, const std::string& json = "{}");
    std::optional<WebResponse> Me(WebClient& browser) { return browser.Get("/auth/me"); }

    TempDir dir_;
    std::string pds_url_;
    Env testnet_env_;
    std::unique_ptr<PlyrServer> server_;
    ClientKind kind_ = ClientKind::kLoopback;
    std::string jwk_;
    bool skipped_ = false;
};

class AuthE2EByKind : public AuthE2E, public ::testing::WithParamInterface<ClientKind> {
  protected:
    void SetUp() override;
};

}  // namespace plyr::testing
