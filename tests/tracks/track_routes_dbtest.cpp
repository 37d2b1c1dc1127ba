// The track API routes (product.md §4.4 track rows, §6.9, §6.12, §6.15, §9 rows 27, 45, 56) over a real server
// on both database backends.
#include <gtest/gtest.h>

#include <boost/json/serialize.hpp>

#include "http/rate_limit.hpp"
#include "storage/repos/image_repo.hpp"
#include "track_routes_fixture.hpp"

namespace plyr::tracks::testing {
namespace {

namespace json = boost::json;

class TrackApiTest : public TrackRoutesTest {
  protected:
    std::int64_t Outbox(const std::string& op, std::int64_t track_id) {
        return Count(fmt::format(
            "SELECT COUNT(*) FROM pds_outbox WHERE op = '{}' AND entity_type = 'track' AND entity_id = '{}' "
            "AND status = 'pending'",
            op, track_id));
    }
    std::string Title(std::int64_t id) {
        auto v = db_->ReadValue<std::string>([&](db::Connection& c) -> Result<std::string> {
            auto rows = c.Query("SELECT title FROM tracks WHERE id = $1", {id});
            if (!rows) return Fail(std::move(rows.error()));
            if (rows->empty()) return std::string("<gone>");
            return rows->front().Text(0);
        });
        return v.value_or("<error>");
    }
};

TEST_P(TrackApiTest, MalformedTrackIdsAre400InvalidIdAndUnknownIs404) {
    StartServer();
    for (const char* id : {"abc", "-1", "1e9", "0", "0012", "1234567890123456789012345", "9223372036854775808"}) {
        auto r = Fetch("GET", std::string("/tracks/") + id);
        EXPECT_EQ(r.status, 400) << id;
        EXPECT_EQ(Code(r), "invalid_id") << id;
    }
    auto peaks = Fetch("GET", "/tracks/abc/peaks");
    EXPECT_EQ(Code(peaks), "invalid_id");
    auto unknown = Fetch("GET", "/tracks/987654");
    EXPECT_EQ(unknown.status, 404);
    EXPECT_EQ(Code(unknown), "not_found");
}

TEST_P(TrackApiTest, TracksMeIsALiteralNeverAnId) {
    StartServer();
    auto anonymous = Fetch("GET", "/tracks/me");
    EXPECT_EQ(anonymous.status, 401);
    EXPECT_EQ(Code(anonymous), "authentication_required");
    AddTrack({.did = kAlice, .n = 1});
    AddTrack({.did = kAlice, .n = 2, .published = false});
    AddTrack({.did = kBob, .n = 3});
    auto mine = Fetch("GET", "/tracks/me?limit=1", As(kAlice));
    ASSERT_EQ(mine.status, 200) << mine.body;
    auto body = Json(mine);
    EXPECT_EQ(body.at("total").as_int64(), 2);  // pending included, bob's excluded
    EXPECT_EQ(body.at("tracks").as_array().size(), 1u);
    EXPECT_TRUE(body.at("has_more").as_bool());
    auto rest = Json(Fetch("GET", "/tracks/me?limit=1&offset=1", As(kAlice)));
    EXPECT_EQ(rest.at("tracks").as_array().size(), 1u);
    EXPECT_FALSE(rest.at("has_more").as_bool());
    EXPECT_TRUE(rest.at("tracks").at(0).as_object().contains("publish_state"));
}

TEST_P(TrackApiTest, PendingTrackIsVisibleToItsOwnerOnly) {
    StartServer();
    auto id = AddTrack({.did = kAlice, .n = 1, .published = false});
    EXPECT_EQ(Fetch("GET", fmt::format("/tracks/{}", id)).status, 404);
    EXPECT_EQ(Fetch("GET", fmt::format("/tracks/{}", id), As(kBob)).status, 404);
    auto own = Fetch("GET", fmt::format("/tracks/{}", id), As(kAlice));
    ASSERT_EQ(own.status, 200) << own.body;
    auto body = Json(own);
    EXPECT_EQ(body.at("publish_state").as_string(), "pending");
    EXPECT_EQ(body.at("artist").as_string(), "Alice");
    EXPECT_EQ(body.at("audio_url").as_string(), fmt::format("{}/audio/{}", kOrigin, HexId(0x1001)));
}

TEST_P(TrackApiTest, PublishedTrackForAnonymousHasNoOwnerFields) {
    StartServer();
    auto id = AddTrack({.did = kAlice, .n = 1, .tags = {"ambient"}});
    auto r = Fetch("GET", fmt::format("/tracks/{}", id));
    ASSERT_EQ(r.status, 200) << r.body;
    auto body = Json(r);
    EXPECT_FALSE(body.as_object().contains("publish_state"));
    EXPECT_EQ(body.at("tags").at(0).as_string(), "ambient");
    EXPECT_EQ(body.at("duration").as_int64(), 180);
    EXPECT_EQ(*r.Header("Cache-Control"), "no-store");
}

TEST_P(TrackApiTest, ExpiredCookieOnAnOptionalRouteIsAnonymousAndClearsTheCookie) {
    StartServer();
    auto id = AddTrack({.did = kAlice, .n = 1});
    auto r = Fetch("GET", fmt::format("/tracks/{}", id), {{"Cookie", "session_id=expired"}});
    EXPECT_EQ(r.status, 200);
    auto cookie = r.Header("Set-Cookie");
    ASSERT_TRUE(cookie.has_value());
    EXPECT_NE(cookie->find("session_id=;"), std::string::npos) << *cookie;
    EXPECT_NE(cookie->find("Max-Age=0"), std::string::npos) << *cookie;
}

TEST_P(TrackApiTest, FeedPagesNewestFirstHidesHiddenTagsAndPendingTracks) {
    StartServer();
    std::vector<std::int64_t> ids;
    for (int n = 1; n <= 5; ++n) ids.push_back(AddTrack({.did = kAlice, .n = n, .created_at = kNow + n * kSecond}));
    auto hidden = AddTrack({.did = kBob, .n = 6, .created_at = kNow + 6 * kSecond, .tags = {"ai"}});
    auto pending = AddTrack({.did = kBob, .n = 7, .published = false, .created_at = kNow + 7 * kSecond});

    std::vector<std::int64_t> seen;
    std::string cursor;
    for (int page = 0; page < 5; ++page) {
        std::string target = "/tracks/?limit=2" + (cursor.empty() ? "" : "&cursor=" + cursor);
        auto r = Fetch("GET", target);
        ASSERT_EQ(r.status, 200) << r.body;
        auto body = Json(r);
        for (const auto& t : body.at("tracks").as_array()) seen.push_back(t.at("id").as_int64());
        if (!body.at("has_more").as_bool()) {
            EXPECT_TRUE(body.at("next_cursor").is_null());
            break;
        }
        cursor = std::string(body.at("next_cursor").as_string());
    }
    EXPECT_EQ(seen, (std::vector<std::int64_t>{ids[4], ids[3], ids[2], ids[1], ids[0]}));

    auto unfiltered = Json(Fetch("GET", "/tracks?filter_hidden_tags=false&limit=100"));
    ASSERT_GE(unfiltered.at("tracks").as_array().size(), 1u);
    EXPECT_EQ(unfiltered.at("tracks").at(0).at("id").as_int64(), hidden);
    EXPECT_EQ(unfiltered.at("tracks").as_array().size(), 6u);  // the pending one never shows
    for (const auto& t : unfiltered.at("tracks").as_array()) EXPECT_NE(t.at("id").as_int64(), pending);

    // An artist's catalogue applies no hidden-tag filter by default.
    auto bob = Json(Fetch("GET", "/tracks/?artist_did=" + kBob));
    ASSERT_EQ(bob.at("tracks").as_array().size(), 1u);
    EXPECT_EQ(bob.at("tracks").at(0).at("id").as_int64(), hidden);

    auto tagged = Json(Fetch("GET", "/tracks/?tags=AI&filter_hidden_tags=false"));
    ASSERT_EQ(tagged.at("tracks").as_array().size(), 1u);

    auto bad_cursor = Fetch("GET", "/tracks/?cursor=not-a-cursor");
    EXPECT_EQ(bad_cursor.status, 400);
    EXPECT_EQ(Code(bad_cursor), "invalid_cursor");
    auto bad_did = Fetch("GET", "/tracks/?artist_did=alice");
    EXPECT_EQ(bad_did.status, 400);
    EXPECT_EQ(Code(bad_did), "invalid_did");
    auto clamped = Json(Fetch("GET", "/tracks/?limit=100000&filter_hidden_tags=false"));
    EXPECT_EQ(clamped.at("tracks").as_array().size(), 6u);
}

TEST_P(TrackApiTest, PatchUpdatesFieldsAndQueuesTheRecordRewriteInTheSameTransaction) {
    StartServer();
    auto id = AddTrack({.did = kAlice, .n = 1});
    json::object body{{"title", "  New title  "},
                      {"description", "liner notes"},
                      {"tags", json::array{"Drone", "#ambient"}},
                      {"features", json::array{"bob.test"}}};
    auto r = Fetch("PATCH", fmt::format("/tracks/{}", id), JsonAs(kAlice), json::serialize(body));
    ASSERT_EQ(r.status, 200) << r.body;
    auto track = Json(r);
    EXPECT_EQ(track.at("title").as_string(), "New title");
    EXPECT_EQ(track.at("description").as_string(), "liner notes");
    ASSERT_EQ(track.at("tags").as_array().size(), 2u);
    ASSERT_EQ(track.at("features").as_array().size(), 1u);
    EXPECT_EQ(track.at("features").at(0).at("did").as_string(), kBob);
    EXPECT_EQ(track.at("features").at(0).at("handle").as_string(), "bob.test");
    EXPECT_EQ(Outbox("put", id), 1);

    // A second edit replaces the live entry instead of queueing another.
    r = Fetch("PATCH", fmt::format("/tracks/{}", id), JsonAs(kAlice), R"({"description": null})");
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_TRUE(Json(r).at("description").is_null());
    EXPECT_EQ(Outbox("put", id), 1);
}

TEST_P(TrackApiTest, PatchRefusesInvalidFieldsAndChangesNothing) {
    StartServer();
    auto id = AddTrack({.did = kAlice, .n = 1});
    auto target = fmt::format("/tracks/{}", id);
    struct Case {
        std::string body;
        std::string code;
        std::string field;
    };
    std::vector<Case> cases{
        {R"({"title": "   "})", "invalid_title", "title"},
        {R"({"title": "a\u0007b"})", "invalid_title", "title"},
        {R"({"title": 5})", "invalid_title", "title"},
        {R"({"tags": ["1","2","3","4","5","6","7","8","9","10","11"]})", "too_many_tags", "tags"},
        {R"({"tags": "rock"})", "invalid_tags", "tags"},
        {R"({"features": ["not a handle!"]})", "invalid_features", "features"},
        {R"({"album": "x", "album_id": "5b1e0000-0000-4000-8000-000000000001"})", "album_conflict", "album_id"},
        {R"({"album_id": "not-a-uuid"})", "invalid_id", "album_id"},
        {R"({"support_gate": {"type": "any"}})", "support_not_configured", "support_gate"},
    };
    for (const auto& c : cases) {
        auto r = Fetch("PATCH", target, JsonAs(kAlice), c.body);
        EXPECT_EQ(r.status, 400) << c.body << " → " << r.body;
        EXPECT_EQ(Code(r), c.code) << c.body;
        EXPECT_EQ(std::string(Json(r).at("field").as_string()), c.field) << c.body;
    }
    auto unknown_album =
        Fetch("PATCH", target, JsonAs(kAlice), R"({"album_id": "5b1e0000-0000-4000-8000-000000000001"})");
    EXPECT_EQ(unknown_album.status, 404);
    EXPECT_EQ(Code(unknown_album), "album_not_found");

    auto invalid_json = Fetch("PATCH", target, JsonAs(kAlice), "{nope");
    EXPECT_EQ(invalid_json.status, 400);
    EXPECT_EQ(Code(invalid_json), "invalid_json");
    auto wrong_type = Fetch("PATCH", target,
                            {{"Authorization", "Bearer token:" + kAlice}, {"Content-Type", "text/plain"}}, "title=x");
    EXPECT_EQ(wrong_type.status, 415);
    EXPECT_EQ(Code(wrong_type), "unsupported_media_type");
    auto too_big = Fetch("PATCH", target, JsonAs(kAlice), R"({"description": ")" + std::string(1 << 20, 'a') + R"("})");
    EXPECT_EQ(too_big.status, 413);

    EXPECT_EQ(Title(id), "Track 1");
    EXPECT_EQ(Outbox("put", id), 0);
}

TEST_P(TrackApiTest, PatchAlbumByTitleCreatesTheAlbumAndEmptyTitleLeavesIt) {
    StartServer();
    auto id = AddTrack({.did = kAlice, .n = 1});
    auto r = Fetch("PATCH", fmt::format("/tracks/{}", id), JsonAs(kAlice), R"({"album": "First Light"})");
    ASSERT_EQ(r.status, 200) << r.body;
    auto album = Json(r).at("album");
    ASSERT_TRUE(album.is_object());
    EXPECT_EQ(album.at("title").as_string(), "First Light");
    EXPECT_EQ(album.at("slug").as_string(), "first-light");
    r = Fetch("PATCH", fmt::format("/tracks/{}", id), JsonAs(kAlice), R"({"album": ""})");
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_TRUE(Json(r).at("album").is_null());
}

TEST_P(TrackApiTest, PatchOrDeleteOfAnotherArtistsTrackIs403AndChangesNothing) {
    StartServer();
    auto id = AddTrack({.did = kAlice, .n = 1});
    auto r = Fetch("PATCH", fmt::format("/tracks/{}", id), JsonAs(kBob), R"({"title": "mine now"})");
    EXPECT_EQ(r.status, 403);
    EXPECT_EQ(Code(r), "forbidden");
    auto d = Fetch("DELETE", fmt::format("/tracks/{}", id), As(kBob));
    EXPECT_EQ(d.status, 403);
    auto restore = Fetch("POST", fmt::format("/tracks/{}/restore-record", id), As(kBob));
    EXPECT_EQ(restore.status, 403);
    EXPECT_EQ(Title(id), "Track 1");
    EXPECT_EQ(Count("SELECT COUNT(*) FROM pds_outbox"), 0);
    auto anonymous = Fetch("DELETE", fmt::format("/tracks/{}", id));
    EXPECT_EQ(anonymous.status, 401);
}

TEST_P(TrackApiTest, CrossSiteCookieMutationIsRefusedBeforeAnything) {
    StartServer();
    auto id = AddTrack({.did = kAlice, .n = 1});
    auto r = Fetch("PATCH", fmt::format("/tracks/{}", id),
                   {{"Cookie", "session_id=cookie:" + kAlice},
                    {"Content-Type", "application/json"},
                    {"Origin", "https://evil.example"}},
                   R"({"title": "pwned"})");
    EXPECT_EQ(r.status, 403);
    EXPECT_EQ(Code(r), "csrf_rejected");
    auto play = Fetch("POST", fmt::format("/tracks/{}/play", id),
                      {{"Cookie", "session_id=cookie:" + kAlice}, {"Sec-Fetch-Site", "cross-site"}});
    EXPECT_EQ(play.status, 403);
    EXPECT_EQ(Title(id), "Track 1");
    auto ok =
        Fetch("PATCH", fmt::format("/tracks/{}", id),
              {{"Cookie", "session_id=cookie:" + kAlice}, {"Content-Type", "application/json"}, {"Origin", kOrigin}},
              R"({"title": "Fine"})");
    EXPECT_EQ(ok.status, 200) << ok.body;
    EXPECT_EQ(Title(id), "Fine");
}

TEST_P(TrackApiTest, DeleteQueuesTheRecordDeleteAndFreesOnlyUnreferencedMedia) {
    StartServer();
    const std::string shared = HexId(0xabc);
    auto mine = AddTrack({.did = kAlice, .n = 1, .file_id = shared});
    auto theirs = AddTrack({.did = kBob, .n = 2, .file_id = shared});
    PutAudio(shared, "mp3", 1000);
    auto r = Fetch("DELETE", fmt::format("/tracks/{}", mine), As(kAlice));
    EXPECT_EQ(r.status, 204) << r.body;
    EXPECT_EQ(Title(mine), "<gone>");
    EXPECT_EQ(Outbox("delete", mine), 1);
    EXPECT_TRUE(ObjectExists("audio/" + shared + ".mp3"));  // bob's track still references it
    EXPECT_EQ(Fetch("GET", fmt::format("/tracks/{}", mine)).status, 404);
    EXPECT_EQ(Fetch("DELETE", fmt::format("/tracks/{}", mine), As(kAlice)).status, 404);

    r = Fetch("DELETE", fmt::format("/tracks/{}", theirs), As(kBob));
    EXPECT_EQ(r.status, 204);
    EXPECT_FALSE(ObjectExists("audio/" + shared + ".mp3"));
}

TEST_P(TrackApiTest, DeleteOfANeverPublishedTrackQueuesNothing) {
    StartServer();
    auto id = AddTrack({.did = kAlice, .n = 1, .published = false});
    EXPECT_EQ(Fetch("DELETE", fmt::format("/tracks/{}", id), As(kAlice)).status, 204);
    EXPECT_EQ(Count("SELECT COUNT(*) FROM pds_outbox WHERE status = 'pending'"), 0);
}

TEST_P(TrackApiTest, RestoreRecordQueuesAPut) {
    StartServer();
    auto id = AddTrack({.did = kAlice, .n = 1});
    auto r = Fetch("POST", fmt::format("/tracks/{}/restore-record", id), As(kAlice));
    ASSERT_EQ(r.status, 202) << r.body;
    EXPECT_EQ(Json(r).at("status").as_string(), "queued");
    EXPECT_EQ(Outbox("put", id), 1);
    EXPECT_EQ(Fetch("POST", "/tracks/424242/restore-record", As(kAlice)).status, 404);
}

TEST_P(TrackApiTest, PlaysCountOncePerListenerWindowAboveTheThreshold) {
    StartServer();
    auto id = AddTrack({.did = kAlice, .n = 1, .duration_ms = 180'000});
    auto target = fmt::format("/tracks/{}/play", id);
    auto below = Fetch("POST", target, JsonAs(kBob), R"({"listened_ms": 29999})");
    EXPECT_EQ(below.status, 422);
    EXPECT_EQ(Code(below), "below_threshold");

    auto first = Fetch("POST", target, JsonAs(kBob),
                       R"({"listen_id": "4b0c6c39-9d43-4a5e-9a53-1b6a4b1b2c3d", "listened_ms": 30000})");
    ASSERT_EQ(first.status, 200) << first.body;
    EXPECT_TRUE(Json(first).at("counted").as_bool());
    EXPECT_EQ(Json(first).at("play_count").as_int64(), 1);
    EXPECT_FALSE(Json(first).at("scrobbled").as_bool());

    // Same listener inside the window (a plyr.fm client without a body): not counted.
    auto again = Fetch("POST", target, As(kBob));
    ASSERT_EQ(again.status, 200) << again.body;
    EXPECT_FALSE(Json(again).at("counted").as_bool());
    EXPECT_EQ(Json(again).at("play_count").as_int64(), 1);

    // After the window (clamp(180 s, 30 s, 1 h)) it counts again.
    clock_.Advance(181 * kSecond);
    auto later = Fetch("POST", target, As(kBob));
    EXPECT_TRUE(Json(later).at("counted").as_bool());
    EXPECT_EQ(Json(later).at("play_count").as_int64(), 2);

    auto bad = Fetch("POST", target, JsonAs(kBob), R"({"listen_id": "nope"})");
    EXPECT_EQ(bad.status, 400);
    EXPECT_EQ(Fetch("POST", "/tracks/999999/play", As(kBob)).status, 404);
    auto pending = AddTrack({.did = kAlice, .n = 2, .published = false});
    EXPECT_EQ(Fetch("POST", fmt::format("/tracks/{}/play", pending), As(kBob)).status, 404);
}

TEST_P(TrackApiTest, ShortTrackThresholdIsHalfItsDuration) {
    StartServer();
    auto id = AddTrack({.did = kAlice, .n = 1, .duration_ms = 20'000});
    auto target = fmt::format("/tracks/{}/play", id);
    EXPECT_EQ(Fetch("POST", target, JsonAs(kBob), R"({"listened_ms": 9999})").status, 422);
    auto ok = Fetch("POST", target, JsonAs(kBob), R"({"listened_ms": 10000})");
    EXPECT_TRUE(Json(ok).at("counted").as_bool());
}

TEST_P(TrackApiTest, AnonymousListenersGetAPlayCookieAndAreKeyedByIt) {
    StartServer();
    auto id = AddTrack({.did = kAlice, .n = 1});
    auto target = fmt::format("/tracks/{}/play", id);
    auto first = Fetch("POST", target);
    ASSERT_EQ(first.status, 200) << first.body;
    EXPECT_TRUE(Json(first).at("counted").as_bool());  // keyed by IP until the cookie comes back
    auto set = first.Header("Set-Cookie");
    ASSERT_TRUE(set.has_value());
    EXPECT_TRUE(set->starts_with("plyr_play_id=")) << *set;
    EXPECT_NE(set->find("HttpOnly"), std::string::npos);
    EXPECT_NE(set->find("SameSite=Lax"), std::string::npos);
    EXPECT_NE(set->find("Max-Age=15552000"), std::string::npos);
    std::string cookie = set->substr(0, set->find(';'));

    // Same IP without the cookie: deduplicated by IP.
    EXPECT_FALSE(Json(Fetch("POST", target)).at("counted").as_bool());
    // With the cookie: its own listener key; counted once, then deduplicated; no new cookie.
    auto with_cookie = Fetch("POST", target, {{"Cookie", cookie}});
    EXPECT_TRUE(Json(with_cookie).at("counted").as_bool());
    EXPECT_FALSE(with_cookie.Header("Set-Cookie").has_value());
    auto again = Fetch("POST", target, {{"Cookie", cookie}});
    EXPECT_FALSE(Json(again).at("counted").as_bool());
    EXPECT_EQ(Json(again).at("play_count").as_int64(), 2);
}

TEST_P(TrackApiTest, PlayRateLimitPerListener) {
    auto limiter = std::make_shared<http::RateLimiter>(clock_, http::RateLimiter::Options{});
    limiter_ = limiter;
    StartServer();
    auto id = AddTrack({.did = kAlice, .n = 1});
    auto target = fmt::format("/tracks/{}/play", id);
    for (int i = 0; i < 60; ++i) ASSERT_EQ(Fetch("POST", target, As(kBob)).status, 200) << i;
    auto limited = Fetch("POST", target, As(kBob));
    EXPECT_EQ(limited.status, 429);
    EXPECT_EQ(Code(limited), "rate_limited");
    EXPECT_EQ(Fetch("POST", target, As(kAlice)).status, 200);  // another listener has its own bucket
}

TEST_P(TrackApiTest, PeaksAreIntPairsByResolution) {
    StartServer();
    auto id = AddTrack({.did = kAlice, .n = 1});
    auto st = db_->Write([&](db::Connection& c) -> Status {
        std::string low{static_cast<char>(-3), 4, static_cast<char>(-128), 127};
        PLYR_TRY_STATUS(repos::TrackRepository::PutPeaks(c, id, repos::PeakResolution::kLow, 1024, low));
        return repos::TrackRepository::PutPeaks(c, id, repos::PeakResolution::kHigh, 256, std::string(8, '\1'));
    });
    ASSERT_TRUE(st) << st.error().ToString();
    auto low = Fetch("GET", fmt::format("/tracks/{}/peaks", id));
    ASSERT_EQ(low.status, 200) << low.body;
    auto body = Json(low);
    EXPECT_EQ(body.at("resolution").as_string(), "low");
    EXPECT_EQ(body.at("samples_per_peak").as_int64(), 1024);
    EXPECT_EQ(json::serialize(body.at("peaks")), "[[-3,4],[-128,127]]");
    auto high = Json(Fetch("GET", fmt::format("/tracks/{}/peaks?resolution=high", id)));
    EXPECT_EQ(high.at("peaks").as_array().size(), 4u);
    auto bad = Fetch("GET", fmt::format("/tracks/{}/peaks?resolution=ultra", id));
    EXPECT_EQ(bad.status, 400);
    auto other = AddTrack({.did = kAlice, .n = 2});
    EXPECT_EQ(Fetch("GET", fmt::format("/tracks/{}/peaks", other)).status, 404);
}

std::string PngHeader(std::uint32_t width, std::uint32_t height) {
    std::string png("\x89PNG\r\n\x1a\n", 8);
    png += std::string("\0\0\0\x0dIHDR", 8);
    for (std::uint32_t v : {width, height}) {
        for (int shift = 24; shift >= 0; shift -= 8) png.push_back(static_cast<char>((v >> shift) & 0xff));
    }
    png += std::string("\x08\x02\0\0\0", 5);
    png += std::string(4, '\0');  // CRC (not checked by the sniffer)
    return png + std::string(64, '\0');
}

std::string Multipart(const std::vector<std::pair<std::string, std::string>>& fields,
                      const std::optional<std::string>& image) {
    std::string body;
    for (const auto& [name, value] : fields) {
        body += "--BOUNDARY\r\nContent-Disposition: form-data; name=\"" + name + "\"\r\n\r\n" + value + "\r\n";
    }
    if (image) {
        body +=
            "--BOUNDARY\r\nContent-Disposition: form-data; name=\"image\"; filename=\"cover.png\"\r\n"
            "Content-Type: image/png\r\n\r\n" +
            *image + "\r\n";
    }
    return body + "--BOUNDARY--\r\n";
}

class TrackPatchImageTest : public TrackApiTest {
  protected:
    void SetUp() override {
        TrackApiTest::SetUp();
        if (IsSkipped() || HasFatalFailure()) return;
        ingest_ = [this](const std::filesystem::path& staged, std::string_view owner) -> ApiResult<std::string> {
            ++ingested_;
            staged_size_ = std::filesystem::file_size(staged);
            std::string id = HexId(0x7000 + ingested_);
            auto st = db_->Write([&](db::Connection& c) -> Status {
                auto inserted = repos::ImageRepository::Insert(c, {id, "png", 100, 100, 10, std::string(owner), kNow});
                if (!inserted) return Fail(std::move(inserted.error()));
                return Ok();
            });
            if (!st) return ApiFail(500, "internal_error", st.error().ToString());
            (void)store_->PutBytes("images/" + id + ".png", "png", "");
            return id;
        };
    }
    std::vector<std::pair<std::string, std::string>> MultipartAs(const std::string& did) {
        return {{"Authorization", "Bearer token:" + did}, {"Content-Type", "multipart/form-data; boundary=BOUNDARY"}};
    }
    int ingested_ = 0;
    std::uintmax_t staged_size_ = 0;
};

TEST_P(TrackPatchImageTest, MultipartPatchStoresTheNewImageAndReleasesTheOldOne) {
    const std::string old_image = HexId(0x6000);
    auto st = db_->Write([&](db::Connection& c) -> Status {
        auto inserted = repos::ImageRepository::Insert(c, {old_image, "jpg", 10, 10, 4, kAlice, kNow});
        if (!inserted) return Fail(std::move(inserted.error()));
        return Ok();
    });
    ASSERT_TRUE(st) << st.error().ToString();
    ASSERT_TRUE(store_->PutBytes("images/" + old_image + ".jpg", "jpeg", ""));
    StartServer();
    auto id = AddTrack({.did = kAlice, .n = 1, .image_id = old_image});
    auto png = PngHeader(100, 100);
    auto r = Fetch("PATCH", fmt::format("/tracks/{}", id), MultipartAs(kAlice),
                   Multipart({{"title", "With cover"}, {"tags", R"(["a"])"}}, png));
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(ingested_, 1);
    EXPECT_EQ(staged_size_, png.size());
    auto track = Json(r);
    EXPECT_EQ(track.at("title").as_string(), "With cover");
    EXPECT_EQ(track.at("image_url").as_string(), fmt::format("{}/images/{}.png", kOrigin, HexId(0x7001)));
    EXPECT_EQ(track.at("tags").at(0).as_string(), "a");
    EXPECT_FALSE(ObjectExists("images/" + old_image + ".jpg"));  // unreferenced now
    EXPECT_EQ(Outbox("put", id), 1);
    EXPECT_TRUE(std::filesystem::is_empty(dir_ / "staging") || !std::filesystem::exists(dir_ / "staging"));

    r = Fetch("PATCH", fmt::format("/tracks/{}", id), MultipartAs(kAlice), Multipart({{"remove_image", "true"}}, {}));
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_TRUE(Json(r).at("image_url").is_null());
}

TEST_P(TrackPatchImageTest, BadImagesAreRefusedBeforeIngest) {
    StartServer();
    auto id = AddTrack({.did = kAlice, .n = 1});
    auto target = fmt::format("/tracks/{}", id);
    auto svg = Fetch("PATCH", target, MultipartAs(kAlice), Multipart({}, std::string("<svg xmlns='x'></svg>")));
    EXPECT_EQ(svg.status, 415);
    EXPECT_EQ(Code(svg), "unsupported_image_format");
    auto huge = Fetch("PATCH", target, MultipartAs(kAlice), Multipart({}, PngHeader(60000, 60000)));
    EXPECT_EQ(huge.status, 422);
    EXPECT_EQ(Code(huge), "image_dimensions_too_large");
    auto large =
        Fetch("PATCH", target, MultipartAs(kAlice), Multipart({}, PngHeader(10, 10) + std::string(3 << 19, 'x')));
    EXPECT_EQ(large.status, 413);
    EXPECT_EQ(Code(large), "image_too_large");
    auto bad_tags = Fetch("PATCH", target, MultipartAs(kAlice), Multipart({{"tags", "not json"}}, {}));
    EXPECT_EQ(bad_tags.status, 400);
    EXPECT_EQ(Code(bad_tags), "invalid_tags");
    EXPECT_EQ(ingested_, 0);
    EXPECT_EQ(Title(id), "Track 1");
    auto other = Fetch("PATCH", target, MultipartAs(kBob), Multipart({{"title", "x"}}, PngHeader(10, 10)));
    EXPECT_EQ(other.status, 403);
}

INSTANTIATE_TEST_SUITE_P(Backends, TrackPatchImageTest, db::testing::BackendValues(), db::testing::BackendName);

INSTANTIATE_TEST_SUITE_P(Backends, TrackApiTest, db::testing::BackendValues(), db::testing::BackendName);

}  // namespace
}  // namespace plyr::tracks::testing
