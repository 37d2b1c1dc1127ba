// tracks media files (product.md §5.3): content-addressed storage and reference-checked release, on both
// database backends with a local blob store.

#include "tracks/media_files.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/encoding.hpp"
#include "storage/blobs/local/local_blob_store.hpp"
#include "support/temp_dir.hpp"
#include "test_db.hpp"

namespace plyr::tracks {
namespace {

using storage::db::testing::BackendName;
using storage::db::testing::BackendValues;
namespace db = storage::db;

constexpr std::int64_t kNow = 1'764'000'000'000'000;
constexpr const char* kAlice = "did:plc:alice";
constexpr const char* kJob = "0b6f3f0e-6c1a-4b8e-9d2e-1f2a3b4c5d6e";

class MediaFilesTest : public storage::db::testing::MigratedDbTest {
  protected:
    void SetUp() override {
        MigratedDbTest::SetUp();
        if (IsSkipped() || HasFatalFailure()) return;
        auto audio = storage::blobs::LocalBlobStore::Open({dir_.path() / "media"});
        ASSERT_TRUE(audio) << audio.error().ToString();
        store_ = std::move(*audio);
        Exec("INSERT INTO artists (did, handle, created_at, updated_at) VALUES ($1, 'alice.test', $2, $2)",
             {std::string(kAlice), kNow});
    }

    void Exec(std::string_view sql, std::initializer_list<db::Value> params) {
        std::vector<db::Value> p(params);
        auto st = db_->Write([&](db::Connection& c) -> Status {
            auto r = c.Query(sql, db::Params(p));
            if (!r) return Fail(std::move(r.error()));
            return Ok();
        });
        ASSERT_TRUE(st) << st.error().ToString();
    }

    std::filesystem::path File(const std::string& name, const std::string& bytes) { return dir_.Write(name, bytes); }

    bool Exists(const std::string& key) { return static_cast<bool>(store_->Head(key)); }

    void AddTrack(int id, const std::string& file_id, const std::optional<std::string>& original_file_id,
                  const std::optional<std::string>& image_id) {
        Exec(
            "INSERT INTO tracks (artist_did, title, file_id, file_type, original_file_id, image_id, atproto_rkey, "
            "created_at, updated_at) VALUES ($1, 't', $2, 'mp3', $3, $4, $5, $6, $6)",
            {std::string(kAlice), file_id, original_file_id ? db::Value(*original_file_id) : db::Value(nullptr),
             image_id ? db::Value(*image_id) : db::Value(nullptr), "3kabcdefghij" + std::to_string(id % 10), kNow});
    }

    void AddImage(const std::string& image_id, const std::string& ext) {
        Exec(
            "INSERT INTO images (image_id, ext, width, height, bytes, owner_did, created_at) VALUES ($1, $2, 10, 10, "
            "3, "
            "$3, $4)",
            {image_id, ext, std::string(kAlice), kNow});
        for (const auto& key : ImageKeys(image_id, ext)) ASSERT_TRUE(store_->PutBytes(key, "img", ""));
    }

    void AddUploadJob(const std::string& id, const std::string& status, const std::string& sha256) {
        std::string payload = R"({"audio":{"sha256":")" + sha256 + R"("}})";
        Exec(is_sqlite() ? "INSERT INTO jobs (id, type, status, owner_did, payload, created_at, updated_at, run_after) "
                           "VALUES ($1, 'upload', $2, $3, $4, $5, $5, $5)"
                         : "INSERT INTO jobs (id, type, status, owner_did, payload, created_at, updated_at, run_after) "
                           "VALUES ($1::uuid, 'upload', $2, $3, $4::jsonb, $5, $5, $5)",
             {id, status, std::string(kAlice), payload, kNow});
    }

    std::int64_t Count(std::string_view sql) {
        auto n = db_->ReadValue<std::int64_t>([&](db::Connection& c) -> Result<std::int64_t> {
            auto r = c.Query(sql);
            if (!r) return Fail(std::move(r.error()));
            return r->front().Int(0);
        });
        EXPECT_TRUE(n);
        return n ? *n : -1;
    }

    testing::TempDir dir_;
    std::unique_ptr<storage::blobs::BlobStore> store_;
};

TEST_P(MediaFilesTest, StoresUnderTheFirst16HexOfTheSha256) {
    const std::string bytes = "some audio bytes";
    auto file = File("in.mp3", bytes);
    auto stored = StoreContentAddressed(*store_, file, "mp3", kAudioPrefix);
    ASSERT_TRUE(stored) << stored.error().ToString();
    const std::string hex = core::Sha256Hex(bytes);
    EXPECT_EQ(stored->file_id, hex.substr(0, 16));
    EXPECT_EQ(stored->sha256_hex, hex);
    EXPECT_EQ(stored->key, "audio/" + hex.substr(0, 16) + ".mp3");
    EXPECT_EQ(stored->size, bytes.size());
    EXPECT_FALSE(stored->already_stored);
    std::string got;
    ASSERT_TRUE(store_->Get(stored->key, std::nullopt, [&](std::string_view c) -> Status {
        got.append(c);
        return Ok();
    }));
    EXPECT_EQ(got, bytes);
    EXPECT_TRUE(IsValidMediaId(stored->file_id));
}

TEST_P(MediaFilesTest, SkipsAnObjectThatAlreadyExists) {
    auto file = File("a.flac", "identical");
    auto first = StoreContentAddressed(*store_, file, "flac", kAudioPrefix);
    ASSERT_TRUE(first);
    auto etag = store_->Head(first->key)->etag;
    auto again = StoreContentAddressed(*store_, File("b.flac", "identical"), "flac", kAudioPrefix);
    ASSERT_TRUE(again);
    EXPECT_TRUE(again->already_stored);
    EXPECT_EQ(again->file_id, first->file_id);
    EXPECT_EQ(store_->Head(first->key)->etag, etag);  // not rewritten

    auto other = StoreContentAddressed(*store_, File("c.flac", "different"), "flac", kAudioPrefix);
    ASSERT_TRUE(other);
    EXPECT_NE(other->file_id, first->file_id);
}

TEST_P(MediaFilesTest, RefusesBadPrefixOrExtensionAndMissingFiles) {
    auto file = File("x", "x");
    EXPECT_FALSE(StoreContentAddressed(*store_, file, "../mp3", kAudioPrefix));
    EXPECT_FALSE(StoreContentAddressed(*store_, file, "mp3", "exports"));
    auto bad_digest = StoreContentAddressed(*store_, file, FileDigest{"../x", "", 1}, "mp3", kAudioPrefix);
    ASSERT_FALSE(bad_digest);
    EXPECT_EQ(bad_digest.error().code, ErrorCode::kInvalidArgument);
    auto missing = StoreContentAddressed(*store_, dir_.path() / "nope", "mp3", kAudioPrefix);
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().code, ErrorCode::kIo);
}

TEST_P(MediaFilesTest, ReleaseDeletesOnlyUnreferencedAudio) {
    const std::string used = "aaaaaaaaaaaaaaaa", original = "bbbbbbbbbbbbbbbb", free_id = "cccccccccccccccc";
    for (const auto& id : {used, original, free_id}) ASSERT_TRUE(store_->PutBytes("audio/" + id + ".mp3", "x", ""));
    AddTrack(1, used, original, std::nullopt);
    auto r = ReleaseMedia(*db_, *store_, *store_, {{used, "mp3"}, {original, "mp3"}, {free_id, "mp3"}}, {});
    ASSERT_TRUE(r) << r.error().ToString();
    EXPECT_TRUE(Exists("audio/" + used + ".mp3"));
    EXPECT_TRUE(Exists("audio/" + original + ".mp3"));
    EXPECT_FALSE(Exists("audio/" + free_id + ".mp3"));
    EXPECT_EQ(r->deleted_keys, std::vector<std::string>{"audio/" + free_id + ".mp3"});

    // Once the last track goes, its files go too.
    Exec("DELETE FROM tracks WHERE file_id = $1", {used});
    r = ReleaseMedia(*db_, *store_, *store_, {{used, "mp3"}, {original, "mp3"}}, {});
    ASSERT_TRUE(r);
    EXPECT_FALSE(Exists("audio/" + used + ".mp3"));
    EXPECT_FALSE(Exists("audio/" + original + ".mp3"));
}

TEST_P(MediaFilesTest, ReleaseKeepsAudioALiveUploadJobIsAboutToStore) {
    const std::string sha = core::Sha256Hex("pending upload");
    const std::string id = sha.substr(0, 16), rendition = "dddddddddddddddd";
    ASSERT_TRUE(store_->PutBytes("audio/" + id + ".aiff", "x", ""));
    ASSERT_TRUE(store_->PutBytes("audio/" + rendition + ".mp3", "x", ""));
    AddUploadJob(kJob, "running", sha);
    auto r = ReleaseMedia(*db_, *store_, *store_, {{id, "aiff"}, {rendition, "mp3"}}, {});
    ASSERT_TRUE(r) << r.error().ToString();
    EXPECT_TRUE(Exists("audio/" + id + ".aiff"));
    EXPECT_TRUE(Exists("audio/" + rendition + ".mp3"));  // the rendition of a pinned original stays too

    // The job itself releasing what it stored does not pin its own files.
    ReleaseOptions own;
    own.exclude_job_id = kJob;
    r = ReleaseMedia(*db_, *store_, *store_, {{id, "aiff"}, {rendition, "mp3"}}, {}, own);
    ASSERT_TRUE(r);
    EXPECT_FALSE(Exists("audio/" + id + ".aiff"));
    EXPECT_FALSE(Exists("audio/" + rendition + ".mp3"));

    // A finished job pins nothing.
    ASSERT_TRUE(store_->PutBytes("audio/" + id + ".aiff", "x", ""));
    Exec("UPDATE jobs SET status = 'completed'", {});
    r = ReleaseMedia(*db_, *store_, *store_, {{id, "aiff"}}, {});
    ASSERT_TRUE(r);
    EXPECT_FALSE(Exists("audio/" + id + ".aiff"));
}

TEST_P(MediaFilesTest, ReleaseDeletesEveryKeyAndTheRowOfAnUnreferencedImage) {
    const std::string kept = "1111111111111111", gone = "2222222222222222", album_img = "3333333333333333";
    AddImage(kept, "jpg");
    AddImage(gone, "png");
    AddImage(album_img, "webp");
    AddTrack(1, "aaaaaaaaaaaaaaaa", std::nullopt, kept);
    Exec(is_sqlite()
             ? "INSERT INTO albums (id, artist_did, slug, title, image_id, atproto_rkey, created_at, updated_at) "
               "VALUES ($1, $2, 'a', 'A', $3, '3kalbumrkey22', $4, $4)"
             : "INSERT INTO albums (id, artist_did, slug, title, image_id, atproto_rkey, created_at, updated_at) "
               "VALUES ($1::uuid, $2, 'a', 'A', $3, '3kalbumrkey22', $4, $4)",
         {std::string("5b6f3f0e-6c1a-4b8e-9d2e-1f2a3b4c5d6e"), std::string(kAlice), album_img, kNow});

    auto r = ReleaseMedia(*db_, *store_, *store_, {}, {kept, gone, album_img, gone});
    ASSERT_TRUE(r) << r.error().ToString();
    for (const auto& key : ImageKeys(kept, "jpg")) EXPECT_TRUE(Exists(key)) << key;
    for (const auto& key : ImageKeys(album_img, "webp")) EXPECT_TRUE(Exists(key)) << key;
    for (const auto& key : ImageKeys(gone, "png")) EXPECT_FALSE(Exists(key)) << key;
    EXPECT_EQ(r->deleted_keys.size(), 4u);
    EXPECT_EQ(Count("SELECT COUNT(*) FROM images"), 2);
}

TEST_P(MediaFilesTest, ReleaseOfAnImageWithoutRowTriesEveryExtension) {
    const std::string id = "4444444444444444";
    for (const auto& key : ImageKeys(id, "webp")) ASSERT_TRUE(store_->PutBytes(key, "x", ""));
    auto r = ReleaseMedia(*db_, *store_, *store_, {}, {id});
    ASSERT_TRUE(r);
    for (const auto& key : ImageKeys(id, "webp")) EXPECT_FALSE(Exists(key)) << key;
}

TEST_P(MediaFilesTest, ReleaseKeepsAnImageWhileItsOwnerHasALiveUpload) {
    const std::string id = "5555555555555555";
    AddImage(id, "jpg");
    AddUploadJob(kJob, "pending", core::Sha256Hex("other"));
    auto r = ReleaseMedia(*db_, *store_, *store_, {}, {id});
    ASSERT_TRUE(r);
    EXPECT_TRUE(Exists("images/" + id + ".jpg"));
    EXPECT_EQ(r->kept_ids, std::vector<std::string>{id});
}

TEST_P(MediaFilesTest, ReleaseIgnoresMalformedIds) {
    auto r =
        ReleaseMedia(*db_, *store_, *store_, {{"../../etc/passwd", "mp3"}, {"AAAAAAAAAAAAAAAA", "mp3"}}, {"not-an-id"});
    ASSERT_TRUE(r);
    EXPECT_TRUE(r->deleted_keys.empty());
}

INSTANTIATE_TEST_SUITE_P(Backends, MediaFilesTest, BackendValues(), BackendName);

}  // namespace
}  // namespace plyr::tracks
