// /audio and /images (product.md §4.5, §6.6, §9 rows 26-31) over a real server, local blob store, both backends.
#include <gtest/gtest.h>

#include "storage/repos/image_repo.hpp"
#include "track_routes_fixture.hpp"

namespace plyr::tracks::testing {
namespace {

constexpr std::size_t kFiveMiB = 5'242'880;

class MediaRoutesTest : public TrackRoutesTest {
  protected:
    void SetUp() override {
        TrackRoutesTest::SetUp();
        if (IsSkipped() || HasFatalFailure()) return;
        file_id_ = HexId(0x1001);
        track_ = AddTrack({.did = kAlice, .n = 1});
        bytes_ = PutAudio(file_id_, "mp3", kFiveMiB);
        StartServer();
    }
    std::string Audio() const { return "/audio/" + file_id_; }
    std::string Etag() const { return "\"" + file_id_ + "\""; }

    std::string file_id_;
    std::int64_t track_ = 0;
    std::string bytes_;
};

TEST_P(MediaRoutesTest, MalformedFileIdsAre400BeforeAnyLookup) {
    for (const char* target : {"/audio/../../etc/passwd", "/audio/%2e%2e%2fplyr.db", "/audio/0000000000001001X",
                               "/audio/00000000000010AB", "/audio/00000000000001001", "/audio/0000000000001001.mp3.x",
                               "/audio/..%2F..%2Fetc%2Fpasswd", "/audio/a/b/c"}) {
        auto r = Fetch("GET", target);
        EXPECT_EQ(r.status, 400) << target << " " << r.body;
        EXPECT_EQ(Code(r), "invalid_file_id") << target;
    }
    auto url = Fetch("GET", "/audio/NOPE/url");
    EXPECT_EQ(Code(url), "invalid_file_id");
}

TEST_P(MediaRoutesTest, FullGetCarriesTheStreamingHeaders) {
    auto r = Fetch("GET", Audio());
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.body.size(), kFiveMiB);
    EXPECT_TRUE(r.body == bytes_);
    EXPECT_EQ(r.Header("ETag"), Etag());
    EXPECT_EQ(r.Header("Content-Type"), "audio/mpeg");
    EXPECT_EQ(r.Header("Accept-Ranges"), "bytes");
    EXPECT_EQ(r.Header("Content-Disposition"), "inline");
    EXPECT_EQ(r.Header("Cache-Control"), "public, max-age=31536000, immutable");
    EXPECT_EQ(r.Header("Content-Length"), std::to_string(kFiveMiB));
    EXPECT_TRUE(r.Header("Last-Modified").has_value());
    // The stored extension is accepted too; another one is not this file.
    EXPECT_EQ(Fetch("GET", Audio() + ".mp3", {{"Range", "bytes=0-0"}}).status, 206);
    auto wrong_ext = Fetch("GET", Audio() + ".flac");
    EXPECT_EQ(wrong_ext.status, 400);
    EXPECT_EQ(Code(wrong_ext), "invalid_file_id");
}

TEST_P(MediaRoutesTest, SingleRangesAre206) {
    auto r = Fetch("GET", Audio(), {{"Range", "bytes=100-199"}});
    ASSERT_EQ(r.status, 206);
    EXPECT_EQ(r.Header("Content-Range"), fmt::format("bytes 100-199/{}", kFiveMiB));
    EXPECT_EQ(r.body, bytes_.substr(100, 100));
    auto suffix = Fetch("GET", Audio(), {{"Range", "bytes=-10"}});
    EXPECT_EQ(suffix.status, 206);
    EXPECT_EQ(suffix.body, bytes_.substr(kFiveMiB - 10));
    auto open = Fetch("GET", Audio(), {{"Range", fmt::format("bytes={}-", kFiveMiB - 3)}});
    EXPECT_EQ(open.body.size(), 3u);
}

TEST_P(MediaRoutesTest, UnsatisfiableRangesAre416WithTheSize) {  // §9 row 28
    for (const char* range : {"bytes=999999999-", "bytes=-0"}) {
        auto r = Fetch("GET", Audio(), {{"Range", range}});
        EXPECT_EQ(r.status, 416) << range;
        EXPECT_EQ(Code(r), "range_not_satisfiable") << range;
        EXPECT_EQ(r.Header("Content-Range"), "bytes */5242880") << range;
    }
}

TEST_P(MediaRoutesTest, JunkRangesGetTheFullBody) {  // §9 row 29
    std::string many = "bytes=0-1";
    for (int i = 1; i < 500; ++i) many += fmt::format(",{}-{}", i * 10, i * 10 + 1);
    for (const std::string& range :
         {std::string("bytes=abc"), std::string("items=0-5"), std::string("bytes=9-3"), many}) {
        auto r = Fetch("GET", Audio(), {{"Range", range}});
        EXPECT_EQ(r.status, 200) << range.substr(0, 20);
        EXPECT_EQ(r.body.size(), kFiveMiB);
    }
}

TEST_P(MediaRoutesTest, ConditionalRequests) {  // §9 row 30
    auto stale = Fetch("GET", Audio(), {{"Range", "bytes=0-9"}, {"If-Range", "\"0000000000000000\""}});
    EXPECT_EQ(stale.status, 200);
    EXPECT_EQ(stale.body.size(), kFiveMiB);
    auto fresh = Fetch("GET", Audio(), {{"Range", "bytes=0-9"}, {"If-Range", Etag()}});
    EXPECT_EQ(fresh.status, 206);
    EXPECT_EQ(fresh.body.size(), 10u);
    auto not_modified = Fetch("GET", Audio(), {{"If-None-Match", Etag()}});
    EXPECT_EQ(not_modified.status, 304);
    EXPECT_TRUE(not_modified.body.empty());
    EXPECT_EQ(not_modified.Header("ETag"), Etag());
    auto other = Fetch("GET", Audio(), {{"If-None-Match", "\"ffffffffffffffff\""}, {"Range", "bytes=0-0"}});
    EXPECT_EQ(other.status, 206);
}

TEST_P(MediaRoutesTest, HeadSendsTheSameHeadersWithoutABody) {
    auto r = Fetch("HEAD", Audio());
    EXPECT_EQ(r.status, 200);
    EXPECT_TRUE(r.body.empty());
    EXPECT_EQ(r.Header("Content-Length"), std::to_string(kFiveMiB));
    EXPECT_EQ(r.Header("ETag"), Etag());
    EXPECT_EQ(r.Header("Content-Type"), "audio/mpeg");
}

TEST_P(MediaRoutesTest, UnknownOrUnpublishedAudioIs404ExceptForItsOwner) {
    EXPECT_EQ(Fetch("GET", "/audio/" + HexId(0xdead)).status, 404);
    auto pending_id = HexId(0x1002);
    AddTrack({.did = kAlice, .n = 2, .published = false});
    PutAudio(pending_id, "mp3", 100);
    EXPECT_EQ(Fetch("GET", "/audio/" + pending_id).status, 404);
    EXPECT_EQ(Fetch("GET", "/audio/" + pending_id, As(kBob)).status, 404);
    auto own = Fetch("GET", "/audio/" + pending_id, As(kAlice));
    EXPECT_EQ(own.status, 200);
    EXPECT_EQ(own.body.size(), 100u);
}

TEST_P(MediaRoutesTest, PublicAudioNeedsNoSessionLookupEvenWithCredentials) {
    EXPECT_EQ(Fetch("GET", Audio(), {{"Range", "bytes=0-0"}, {"Cookie", "session_id=cookie:" + kBob}}).status, 206);
    EXPECT_EQ(auth_calls_.load(), 0);
    AddTrack({.did = kAlice, .n = 9, .published = false});
    PutAudio(HexId(0x1009), "mp3", 10);
    EXPECT_EQ(Fetch("GET", "/audio/" + HexId(0x1009), As(kAlice)).status, 200);
    EXPECT_EQ(auth_calls_.load(), 1);
}

TEST_P(MediaRoutesTest, GatingATrackStopsAnonymousPlaybackAtOnceDespiteTheAccessCache) {
    // A public answer is cached for Range requests; an edit through this instance drops it at commit.
    EXPECT_EQ(Fetch("GET", Audio(), {{"Range", "bytes=0-9"}}).status, 206);
    EXPECT_EQ(Fetch("GET", Audio(), {{"Range", "bytes=10-19"}}).status, 206);
    ASSERT_TRUE(db_->Write([](db::Connection& c) -> Status {
        auto done = c.Exec("UPDATE artists SET support_url = 'atprotofans' WHERE did = $1", {kAlice});
        if (!done) return Fail(std::move(done.error()));
        return Ok();
    }));
    auto patched =
        Fetch("PATCH", "/tracks/" + std::to_string(track_), JsonAs(kAlice), R"({"support_gate":{"type":"any"}})");
    ASSERT_EQ(patched.status, 200) << patched.body;
    EXPECT_EQ(Fetch("GET", Audio(), {{"Range", "bytes=0-9"}}).status, 401);
    EXPECT_EQ(Fetch("GET", Audio(), As(kAlice)).status, 200);
}

TEST_P(MediaRoutesTest, MissingObjectIs404) {
    AddTrack({.did = kAlice, .n = 3});
    EXPECT_EQ(Fetch("GET", "/audio/" + HexId(0x1003)).status, 404);
}

TEST_P(MediaRoutesTest, GatedAudioNeedsTheArtistUntilSupporterChecksExist) {  // §9 row 31 (first two)
    auto gated_id = HexId(0x1004);
    AddTrack({.did = kAlice, .n = 4, .gated = true});
    PutAudio(gated_id, "mp3", 64);
    auto anonymous = Fetch("GET", "/audio/" + gated_id);
    EXPECT_EQ(anonymous.status, 401);
    EXPECT_EQ(Code(anonymous), "authentication_required");
    auto bob = Fetch("GET", "/audio/" + gated_id, As(kBob));
    EXPECT_EQ(bob.status, 402);
    EXPECT_EQ(Code(bob), "supporter_required");
    EXPECT_EQ(bob.Header("X-Support-Required"), "atprotofans");
    auto head = Fetch("HEAD", "/audio/" + gated_id, As(kBob));
    EXPECT_EQ(head.status, 402);
    auto alice = Fetch("GET", "/audio/" + gated_id, As(kAlice));
    EXPECT_EQ(alice.status, 200);
    EXPECT_EQ(alice.Header("Cache-Control"), "private, no-store");
    // A public track sharing the file opens it for everyone.
    AddTrack({.did = kBob, .n = 5, .file_id = gated_id});
    EXPECT_EQ(Fetch("GET", "/audio/" + gated_id).status, 200);
}

TEST_P(MediaRoutesTest, UrlEndpointNamesTheLocalUrl) {
    auto r = Fetch("GET", Audio() + "/url");
    ASSERT_EQ(r.status, 200) << r.body;
    auto body = Json(r);
    EXPECT_EQ(body.at("url").as_string(), fmt::format("{}/audio/{}.mp3", kOrigin, file_id_));
    EXPECT_TRUE(body.at("expires_at").is_null());
    EXPECT_EQ(body.at("file_type").as_string(), "mp3");
    EXPECT_EQ(Fetch("GET", "/audio/" + HexId(0xdead) + "/url").status, 404);
}

TEST_P(MediaRoutesTest, ImagesAreServedImmutableByNameAndDerivedSize) {
    const std::string image_id = HexId(0x5150);
    auto st = db_->Write([&](db::Connection& c) -> Status {
        auto inserted = repos::ImageRepository::Insert(c, {image_id, "jpg", 800, 600, 4, kAlice, kNow});
        if (!inserted) return Fail(std::move(inserted.error()));
        return Ok();
    });
    ASSERT_TRUE(st) << st.error().ToString();
    ASSERT_TRUE(store_->PutBytes("images/" + image_id + ".jpg", "jpeg", ""));
    ASSERT_TRUE(store_->PutBytes("images/" + image_id + "_thumb.webp", "thumb", ""));
    auto full = Fetch("GET", "/images/" + image_id + ".jpg");
    ASSERT_EQ(full.status, 200);
    EXPECT_EQ(full.body, "jpeg");
    EXPECT_EQ(full.Header("Content-Type"), "image/jpeg");
    EXPECT_EQ(full.Header("Cache-Control"), "public, max-age=31536000, immutable");
    EXPECT_EQ(full.Header("ETag"), "\"" + image_id + "\"");
    auto thumb = Fetch("GET", "/images/" + image_id + "_thumb.webp");
    EXPECT_EQ(thumb.status, 200);
    EXPECT_EQ(thumb.Header("Content-Type"), "image/webp");
    EXPECT_EQ(Fetch("GET", "/images/" + image_id + ".png").status, 404);       // another extension
    EXPECT_EQ(Fetch("GET", "/images/" + image_id + "_640.webp").status, 404);  // object missing
    EXPECT_EQ(Fetch("GET", "/images/" + HexId(0x5151) + ".jpg").status, 404);  // no row
    for (const char* bad : {"/images/nope.jpg", "/images/0000000000005150.svg", "/images/%2e%2e%2fplyr.db"}) {
        auto r = Fetch("GET", bad);
        EXPECT_EQ(r.status, 400) << bad;
        EXPECT_EQ(Code(r), "invalid_id") << bad;
    }
}

// S3 mode without a network: objects live on local disk, but the store has no local path and answers Url() like a
// bucket with a public URL (private: a presigned-looking URL).
class FakeS3Store final : public storage::blobs::BlobStore {
  public:
    FakeS3Store(storage::blobs::BlobStore& inner, std::string base) : inner_(inner), base_(std::move(base)) {}
    Status PutFile(std::string_view key, const std::filesystem::path& path, std::string_view type) override {
        return inner_.PutFile(key, path, type);
    }
    Status PutBytes(std::string_view key, std::string_view bytes, std::string_view type) override {
        return inner_.PutBytes(key, bytes, type);
    }
    Result<storage::blobs::ObjectInfo> Get(std::string_view key, std::optional<storage::blobs::ByteRange> range,
                                           const storage::blobs::ChunkSink& sink) override {
        ++gets;
        return inner_.Get(key, range, sink);
    }
    Result<storage::blobs::ObjectInfo> Head(std::string_view key) override { return inner_.Head(key); }
    Status Delete(std::string_view key) override { return inner_.Delete(key); }
    std::optional<std::string> Url(std::string_view key, std::chrono::seconds expires) override {
        return fmt::format("{}/{}?expires={}", base_, key, expires.count());
    }
    std::optional<std::filesystem::path> LocalPath(std::string_view) override { return std::nullopt; }
    Status Check() override { return Ok(); }
    int gets = 0;

  private:
    storage::blobs::BlobStore& inner_;
    std::string base_;
};

class S3MediaRoutesTest : public TrackRoutesTest {
  protected:
    void SetUp() override {
        TrackRoutesTest::SetUp();
        if (IsSkipped() || HasFatalFailure()) return;
        config_.storage_kind = core::StorageKind::kS3;
        config_.s3.presigned_url_expiry_seconds = 600;
        public_ = std::make_unique<FakeS3Store>(*store_, "https://audio.cdn.test");
        private_ = std::make_unique<FakeS3Store>(*store_, "https://private.s3.test");
        images_ = std::make_unique<FakeS3Store>(*store_, "https://img.cdn.test");
        TrackServiceDeps deps;
        deps.db = db_.get();
        deps.config = &config_;
        deps.clock = &clock_;
        deps.audio_store = public_.get();
        deps.private_store = private_.get();
        deps.image_store = images_.get();
        service_ = std::make_unique<TrackService>(deps);
        file_id_ = HexId(0x1001);
        AddTrack({.did = kAlice, .n = 1});
        bytes_ = PutAudio(file_id_, "mp3", kFiveMiB);
        gated_id_ = HexId(0x1002);
        AddTrack({.did = kAlice, .n = 2, .gated = true});
        PutAudio(gated_id_, "mp3", 10);
    }
    std::unique_ptr<FakeS3Store> public_, private_, images_;
    std::string file_id_, gated_id_, bytes_;
};

TEST_P(S3MediaRoutesTest, RedirectModeSendsPublicOrPresignedUrls) {
    StartServer();
    auto r = Fetch("GET", "/audio/" + file_id_);
    EXPECT_EQ(r.status, 307);
    EXPECT_EQ(r.Header("Location"), fmt::format("https://audio.cdn.test/audio/{}.mp3?expires=600", file_id_));
    EXPECT_EQ(r.Header("Cache-Control"), "no-cache");
    auto gated = Fetch("GET", "/audio/" + gated_id_, As(kAlice));
    EXPECT_EQ(gated.status, 307);
    EXPECT_TRUE(gated.Header("Location").value_or("").starts_with("https://private.s3.test/audio/"));
    EXPECT_EQ(gated.Header("Cache-Control"), "private, no-store");
    EXPECT_EQ(Fetch("GET", "/audio/" + gated_id_).status, 401);  // access is checked before any redirect
    auto url = Json(Fetch("GET", "/audio/" + gated_id_ + "/url", As(kAlice)));
    EXPECT_TRUE(url.at("url").as_string().starts_with("https://private.s3.test/"));
    EXPECT_FALSE(url.at("expires_at").is_null());
    EXPECT_EQ(public_->gets + private_->gets, 0);  // no bytes through plyr
}

TEST_P(S3MediaRoutesTest, ProxyModeStreamsRangesFromTheStore) {
    config_.s3.audio_delivery = "proxy";
    StartServer();
    auto full = Fetch("GET", "/audio/" + file_id_);
    ASSERT_EQ(full.status, 200);
    EXPECT_TRUE(full.body == bytes_);
    EXPECT_EQ(full.Header("ETag"), "\"" + file_id_ + "\"");
    EXPECT_EQ(full.Header("Content-Type"), "audio/mpeg");
    EXPECT_EQ(public_->gets, 5);  // 1 MiB per ranged GET
    auto part = Fetch("GET", "/audio/" + file_id_, {{"Range", "bytes=100-199"}});
    EXPECT_EQ(part.status, 206);
    EXPECT_EQ(part.body, bytes_.substr(100, 100));
    EXPECT_EQ(part.Header("Content-Range"), fmt::format("bytes 100-199/{}", kFiveMiB));
    auto bad = Fetch("GET", "/audio/" + file_id_, {{"Range", "bytes=999999999-"}});
    EXPECT_EQ(bad.status, 416);
    EXPECT_EQ(bad.Header("Content-Range"), "bytes */5242880");
    EXPECT_EQ(Fetch("GET", "/audio/" + file_id_, {{"If-None-Match", "\"" + file_id_ + "\""}}).status, 304);
    auto stale = Fetch("GET", "/audio/" + file_id_, {{"Range", "bytes=0-0"}, {"If-Range", "\"x\""}});
    EXPECT_EQ(stale.status, 200);
    auto head = Fetch("HEAD", "/audio/" + file_id_);
    EXPECT_EQ(head.status, 200);
    EXPECT_EQ(head.Header("Content-Length"), std::to_string(kFiveMiB));
    EXPECT_EQ(Fetch("GET", "/audio/" + gated_id_, As(kAlice)).body.size(), 10u);
}

INSTANTIATE_TEST_SUITE_P(Backends, S3MediaRoutesTest, db::testing::BackendValues(), db::testing::BackendName);

INSTANTIATE_TEST_SUITE_P(Backends, MediaRoutesTest, db::testing::BackendValues(), db::testing::BackendName);

}  // namespace
}  // namespace plyr::tracks::testing
