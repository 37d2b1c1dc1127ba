#pragma once
// Shared fixture of the track API route suites (track_routes_dbtest, media_routes_dbtest): a migrated database on
// both backends, local blob stores in a temp dir, a TrackService and the routes over a real http::Server on
// 127.0.0.1:0. Rows and files are inserted by the tests (no upload pipeline involved). Sessions come from a fake
// Authenticator: `Authorization: Bearer token:<did>` and `Cookie: session_id=cookie:<did>` authenticate <did>;
// `expired` answers 401 session_expired; anything else 401 authentication_required.

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include "../unit/http/test_client.hpp"
#include "api/media_routes.hpp"
#include "api/track_routes.hpp"
#include "atproto/syntax/tid.hpp"
#include "core/clock.hpp"
#include "core/config.hpp"
#include "core/encoding.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "http/server.hpp"
#include "net/offload.hpp"
#include "storage/blobs/local/local_blob_store.hpp"
#include "storage/repos/image_repo.hpp"
#include "storage/repos/tag_repo.hpp"
#include "storage/repos/track_repo.hpp"
#include "test_db.hpp"
#include "tracks/track_service.hpp"

namespace plyr::tracks::testing {

namespace db = storage::db;
namespace repos = storage::repos;
using http::testing::RawResponse;
using http::testing::TestConnection;

inline constexpr std::int64_t kNow = 1'764'000'000'000'000;
inline constexpr std::int64_t kSecond = 1'000'000;
inline const std::string kAlice = "did:plc:alice";
inline const std::string kBob = "did:plc:bob";
inline const std::string kOrigin = "http://127.0.0.1:8001";

inline std::string HexId(int n) { return fmt::format("{:016x}", n); }

class TrackRoutesTest : public db::testing::MigratedDbTest {
  protected:
    void SetUp() override {
        MigratedDbTest::SetUp();
        if (IsSkipped() || HasFatalFailure()) return;
        log::Init(log::Level::kError, log::Format::kJson);
        dir_ = std::filesystem::path(::testing::TempDir()) / ("plyr-h8-" + core::RandomHex(6));
        std::filesystem::create_directories(dir_);
        config_.data_dir = dir_;
        config_.public_url = kOrigin;
        config_.default_page_size = 50;
        auto store = storage::blobs::LocalBlobStore::Open({dir_ / "media"});
        ASSERT_TRUE(store) << store.error().ToString();
        store_ = std::move(*store);

        TrackServiceDeps deps;
        deps.db = db_.get();
        deps.config = &config_;
        deps.clock = &clock_;
        deps.audio_store = store_.get();
        deps.private_store = store_.get();
        deps.image_store = store_.get();
        service_ = std::make_unique<TrackService>(deps);
        blocking_ = std::make_unique<net::BlockingPool>(2);
        AddArtist(kAlice, "alice.test", "Alice");
        AddArtist(kBob, "bob.test", "Bob");
    }

    void TearDown() override {
        // Blocking work may still hold executors of the I/O context: drain both pools before destroying either.
        if (server_) server_->Stop();
        if (io_) io_->Join();
        if (blocking_) blocking_->Join();
        server_.reset();
        blocking_.reset();
        io_.reset();
        service_.reset();
        store_.reset();
        std::error_code ec;
        if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
        MigratedDbTest::TearDown();
    }

    api::TrackRoutesDeps RouteDeps() {
        api::TrackRoutesDeps deps;
        deps.service = service_.get();
        deps.db = db_.get();
        deps.pool = blocking_.get();
        deps.clock = &clock_;
        deps.authenticate = [this](std::optional<std::string_view> cookie, std::optional<std::string_view> bearer,
                                   bool) -> auth::AuthResult<auth::AuthenticatedSession> {
            ++auth_calls_;
            std::string value(cookie ? *cookie : bearer.value_or(""));
            if (value == "expired") return auth::AuthFail(401, "session_expired", "session expired");
            std::string prefix = cookie ? "cookie:" : "token:";
            if (!value.starts_with(prefix)) return auth::AuthFail(401, "authentication_required", "sign in");
            auth::AuthenticatedSession session;
            session.session_id = value;
            session.session.did = value.substr(prefix.size());
            session.via_cookie = cookie.has_value();
            return session;
        };
        deps.limiter = limiter_;
        deps.credentialed_origins = {kOrigin};
        deps.secure_cookies = false;
        deps.staging_dir = dir_ / "staging";
        deps.max_image_bytes = 1 << 20;
        deps.ingest_image = ingest_;
        return deps;
    }

    void StartServer() {
        http::Router router;
        auto st = api::AddTrackRoutes(router, RouteDeps());
        ASSERT_TRUE(st) << st.error().ToString();
        st = api::AddMediaRoutes(router, RouteDeps());
        ASSERT_TRUE(st) << st.error().ToString();
        http::ServerOptions options;
        options.access_log = false;
        options.metrics = &metrics_;
        options.header_timeout = std::chrono::milliseconds(3000);
        options.idle_timeout = std::chrono::milliseconds(3000);
        options.body_timeout = std::chrono::milliseconds(3000);
        options.write_timeout = std::chrono::milliseconds(3000);
        options.shutdown_grace = std::chrono::milliseconds(2000);
        io_ = std::make_unique<net::IoPool>(2);
        server_ = std::make_unique<http::Server>(*io_, std::move(router), std::move(options));
        auto port = server_->Start();
        ASSERT_TRUE(port) << port.error().ToString();
        port_ = *port;
        io_->Start();
    }

    RawResponse Fetch(const std::string& method, const std::string& target,
                      const std::vector<std::pair<std::string, std::string>>& headers = {},
                      const std::string& body = "") {
        std::string text = fmt::format("{} {} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n", method, target);
        for (const auto& [k, v] : headers) text += fmt::format("{}: {}\r\n", k, v);
        if (!body.empty() || method == "POST" || method == "PATCH") {
            text += fmt::format("Content-Length: {}\r\n", body.size());
        }
        text += "\r\n" + body;
        TestConnection connection(port_);
        EXPECT_TRUE(connection.connected());
        EXPECT_TRUE(connection.Send(text));
        auto response = connection.ReadResponse(method == "HEAD");
        EXPECT_TRUE(response.has_value()) << method << " " << target;
        return response.value_or(RawResponse{});
    }

    static std::vector<std::pair<std::string, std::string>> As(const std::string& did) {
        return {{"Authorization", "Bearer token:" + did}};
    }
    static std::vector<std::pair<std::string, std::string>> JsonAs(const std::string& did) {
        return {{"Authorization", "Bearer token:" + did}, {"Content-Type", "application/json"}};
    }

    static boost::json::value Json(const RawResponse& r) {
        std::error_code ec;
        auto v = boost::json::parse(r.body, ec);
        EXPECT_FALSE(ec) << r.body;
        return v;
    }
    static std::string Code(const RawResponse& r) {
        auto v = Json(r);
        if (!v.is_object() || !v.as_object().contains("error")) return "";
        return std::string(v.at("error").as_string());
    }

    void AddArtist(const std::string& did, const std::string& handle, const std::string& name) {
        auto st = db_->Write([&](db::Connection& c) -> Status {
            auto n = c.Exec(
                "INSERT INTO artists (did, handle, display_name, support_url, created_at, updated_at) "
                "VALUES ($1, $2, $3, $4, $5, $5)",
                {did, handle, name, std::string(""), kNow});
            if (!n) return Fail(std::move(n.error()));
            return Ok();
        });
        ASSERT_TRUE(st) << st.error().ToString();
    }

    struct TrackSpec {
        std::string did = kAlice;
        int n = 1;
        std::string file_id = {};  // default HexId(0x1000 + n)
        std::string file_type = "mp3";
        std::optional<std::int64_t> duration_ms = 180'000;
        bool published = true;
        bool gated = false;
        std::int64_t created_at = kNow;
        std::vector<std::string> tags = {};
        std::optional<std::string> image_id = {};
    };

    std::int64_t AddTrack(const TrackSpec& spec) {
        repos::NewTrack t;
        t.artist_did = spec.did;
        t.title = fmt::format("Track {}", spec.n);
        t.file_id = spec.file_id.empty() ? HexId(0x1000 + spec.n) : spec.file_id;
        t.file_type = spec.file_type;
        t.file_size = 1000;
        t.codec = spec.file_type;
        t.duration_ms = spec.duration_ms;
        t.image_id = spec.image_id;
        if (spec.gated) {
            t.visibility = repos::Visibility::kSupporters;
            t.support_gate = boost::json::object{{"type", "any"}};
        }
        t.atproto_rkey = atproto::syntax::Tid::FromParts(spec.created_at + spec.n, 7).value().ToString();
        t.now = spec.created_at;
        std::int64_t id = 0;
        auto st = db_->Write([&](db::Connection& c) -> Status {
            auto reserved = repos::TrackRepository::ReserveTrack(c, t);
            if (!reserved) return Fail(std::move(reserved.error()));
            id = reserved->id;
            if (spec.published) {
                PLYR_TRY_STATUS(repos::TrackRepository::MarkPublished(
                    c, id, fmt::format("at://{}/fm.plyr.track/{}", t.artist_did, t.atproto_rkey), "bafycid"));
            }
            if (!spec.tags.empty()) {
                PLYR_TRY_STATUS(repos::TagRepository::SetTrackTags(c, id, spec.tags, spec.did, kNow));
            }
            return Ok();
        });
        EXPECT_TRUE(st) << st.error().ToString();
        return id;
    }

    // Writes audio/{file_id}.{ext} with `size` deterministic bytes.
    std::string PutAudio(const std::string& file_id, const std::string& ext, std::size_t size) {
        std::string bytes(size, '\0');
        for (std::size_t i = 0; i < size; ++i) bytes[i] = static_cast<char>((i * 31 + 7) & 0xff);
        auto st = store_->PutBytes(fmt::format("audio/{}.{}", file_id, ext), bytes, "");
        EXPECT_TRUE(st) << st.error().ToString();
        return bytes;
    }

    bool ObjectExists(const std::string& key) { return store_->Head(key).has_value(); }

    std::int64_t Count(const std::string& sql) {
        auto v = db_->ReadValue<std::int64_t>([&](db::Connection& c) -> Result<std::int64_t> {
            auto rows = c.Query(sql);
            if (!rows) return Fail(std::move(rows.error()));
            return rows->front().Int(0);
        });
        EXPECT_TRUE(v) << v.error().ToString();
        return v.value_or(-1);
    }

    core::Config config_;
    core::ManualClock clock_{kNow};
    std::filesystem::path dir_;
    std::unique_ptr<storage::blobs::LocalBlobStore> store_;
    std::unique_ptr<TrackService> service_;
    std::unique_ptr<net::BlockingPool> blocking_;
    std::shared_ptr<http::RateLimiter> limiter_;
    api::ImageIngest ingest_;
    core::metrics::Registry metrics_;
    std::atomic<int> auth_calls_{0};
    std::unique_ptr<net::IoPool> io_;
    std::unique_ptr<http::Server> server_;
    std::uint16_t port_ = 0;
};

}  // namespace plyr::tracks::testing
