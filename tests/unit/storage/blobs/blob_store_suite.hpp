#pragma once
// The behaviour every BlobStore backend must show, written once and instantiated per backend
// (local: storage_blobs_test; S3 against s3rver: storage_blobs_s3test).
//
// A Backend type provides:
//   std::string SetUp();                       // builds the store; a non-empty result skips the test
//   BlobStore& store();
//   std::string Key(std::string_view name);    // a key unique to this test (S3 buckets outlive tests)

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "blob_test_util.hpp"
#include "storage/blobs/blob_store.hpp"

namespace plyr::storage::blobs::testing {

template <typename Backend>
class BlobStoreBehaviour : public ::testing::Test {
  protected:
    void SetUp() override {
        std::string skip = backend_.SetUp();
        if (!skip.empty()) GTEST_SKIP() << skip;
    }
    BlobStore& store() { return backend_.store(); }
    std::string Key(std::string_view name) { return backend_.Key(name); }
    std::filesystem::path Source(std::string_view name, std::string_view bytes) {
        std::filesystem::path path = scratch_.path() / std::string(name);
        WriteFile(path, bytes);
        return path;
    }

    TempDir scratch_;
    Backend backend_;
};

TYPED_TEST_SUITE_P(BlobStoreBehaviour);

TYPED_TEST_P(BlobStoreBehaviour, PutBytesThenGetReturnsTheSameBytesAndInfo) {
    std::string key = this->Key("audio/0123456789abcdef.mp3");
    std::string bytes = PatternBytes(1000);
    ASSERT_TRUE(this->store().PutBytes(key, bytes, "audio/mpeg"));
    Fetched got = GetAll(this->store(), key);
    ASSERT_TRUE(got.info) << got.info.error().ToString();
    EXPECT_EQ(got.bytes, bytes);
    EXPECT_EQ(got.info->size, 1000u);
    EXPECT_EQ(got.info->content_type, "audio/mpeg");
    EXPECT_FALSE(got.info->etag.empty());
}

TYPED_TEST_P(BlobStoreBehaviour, PutFileStreamsTheWholeFile) {
    std::string key = this->Key("audio/original.flac");
    std::string bytes = PatternBytes(3 * 1024 * 1024 + 7, 42);
    ASSERT_TRUE(this->store().PutFile(key, this->Source("upload.bin", bytes), "audio/flac"));
    Fetched got = GetAll(this->store(), key);
    ASSERT_TRUE(got.info) << got.info.error().ToString();
    EXPECT_EQ(got.info->size, bytes.size());
    EXPECT_TRUE(got.bytes == bytes) << "content differs";
    EXPECT_GT(got.chunks, 1) << "a 3 MiB object should arrive in several chunks";
}

TYPED_TEST_P(BlobStoreBehaviour, RangedGetDeliversOnlyTheRangeButReportsTheWholeSize) {
    std::string key = this->Key("audio/ranged.wav");
    std::string bytes = PatternBytes(100000, 7);
    ASSERT_TRUE(this->store().PutBytes(key, bytes, "audio/wav"));
    Fetched got = GetAll(this->store(), key, ByteRange{12345, 1000});
    ASSERT_TRUE(got.info) << got.info.error().ToString();
    EXPECT_EQ(got.bytes, bytes.substr(12345, 1000));
    EXPECT_EQ(got.info->size, 100000u);
    Fetched first = GetAll(this->store(), key, ByteRange{0, 10});
    ASSERT_TRUE(first.info);
    EXPECT_EQ(first.bytes, bytes.substr(0, 10));
}

TYPED_TEST_P(BlobStoreBehaviour, RangeRunningPastTheEndIsCutAtTheEnd) {
    std::string key = this->Key("audio/tail.mp3");
    std::string bytes = PatternBytes(5000, 9);
    ASSERT_TRUE(this->store().PutBytes(key, bytes, "audio/mpeg"));
    Fetched got = GetAll(this->store(), key, ByteRange{4995, 1000});
    ASSERT_TRUE(got.info) << got.info.error().ToString();
    EXPECT_EQ(got.bytes, bytes.substr(4995));
}

TYPED_TEST_P(BlobStoreBehaviour, UnsatisfiableOrEmptyRangeIsInvalidArgument) {
    std::string key = this->Key("audio/short.mp3");
    ASSERT_TRUE(this->store().PutBytes(key, "0123456789", "audio/mpeg"));
    Fetched past = GetAll(this->store(), key, ByteRange{10, 5});
    ASSERT_FALSE(past.info);
    EXPECT_EQ(past.info.error().code, ErrorCode::kInvalidArgument);
    EXPECT_TRUE(past.bytes.empty());
    Fetched empty = GetAll(this->store(), key, ByteRange{0, 0});
    ASSERT_FALSE(empty.info);
    EXPECT_EQ(empty.info.error().code, ErrorCode::kInvalidArgument);
}

TYPED_TEST_P(BlobStoreBehaviour, HeadReportsSizeTypeEtagAndModificationTime) {
    std::string key = this->Key("images/cover.png");
    auto before = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
    ASSERT_TRUE(this->store().PutBytes(key, PatternBytes(321), "image/png"));
    auto info = this->store().Head(key);
    ASSERT_TRUE(info) << info.error().ToString();
    EXPECT_EQ(info->size, 321u);
    EXPECT_EQ(info->content_type, "image/png");
    EXPECT_FALSE(info->etag.empty());
    EXPECT_EQ(info->etag.find('"'), std::string::npos) << "etag is reported without quotes";
    EXPECT_GE(info->last_modified, before - std::chrono::seconds(5));
    EXPECT_LE(info->last_modified, before + std::chrono::seconds(60));
    Fetched got = GetAll(this->store(), key);
    ASSERT_TRUE(got.info);
    EXPECT_EQ(got.info->etag, info->etag) << "Get and Head agree on the etag";
}

TYPED_TEST_P(BlobStoreBehaviour, PutReplacesTheObjectAndChangesTheEtag) {
    std::string key = this->Key("exports/data.zip");
    ASSERT_TRUE(this->store().PutBytes(key, "first version", "application/zip"));
    auto first = this->store().Head(key);
    ASSERT_TRUE(first);
    ASSERT_TRUE(this->store().PutBytes(key, "second, longer version", "application/zip"));
    Fetched got = GetAll(this->store(), key);
    ASSERT_TRUE(got.info);
    EXPECT_EQ(got.bytes, "second, longer version");
    EXPECT_NE(got.info->etag, first->etag);
}

TYPED_TEST_P(BlobStoreBehaviour, MissingObjectIsNotFound) {
    std::string key = this->Key("audio/never-written.mp3");
    auto head = this->store().Head(key);
    ASSERT_FALSE(head);
    EXPECT_EQ(head.error().code, ErrorCode::kNotFound);
    Fetched got = GetAll(this->store(), key);
    ASSERT_FALSE(got.info);
    EXPECT_EQ(got.info.error().code, ErrorCode::kNotFound);
    Fetched ranged = GetAll(this->store(), key, ByteRange{0, 10});
    ASSERT_FALSE(ranged.info);
    EXPECT_EQ(ranged.info.error().code, ErrorCode::kNotFound);
}

TYPED_TEST_P(BlobStoreBehaviour, DeleteRemovesTheObjectAndDeletingAgainSucceeds) {
    std::string key = this->Key("staging/upload-1");
    ASSERT_TRUE(this->store().PutBytes(key, "bytes", "application/octet-stream"));
    ASSERT_TRUE(this->store().Delete(key));
    auto head = this->store().Head(key);
    ASSERT_FALSE(head);
    EXPECT_EQ(head.error().code, ErrorCode::kNotFound);
    EXPECT_TRUE(this->store().Delete(key)) << "deleting an absent object is not an error";
    EXPECT_TRUE(this->store().Delete(this->Key("nowhere/at/all")));
}

TYPED_TEST_P(BlobStoreBehaviour, EmptyObjectRoundTrips) {
    std::string key = this->Key("empty.txt");
    ASSERT_TRUE(this->store().PutFile(key, this->Source("empty", ""), "text/plain"));
    Fetched got = GetAll(this->store(), key);
    ASSERT_TRUE(got.info) << got.info.error().ToString();
    EXPECT_EQ(got.info->size, 0u);
    EXPECT_TRUE(got.bytes.empty());
}

TYPED_TEST_P(BlobStoreBehaviour, InvalidKeysAreRejectedBeforeAnyIo) {
    for (std::string_view key : {std::string_view(""), std::string_view("/etc/passwd"), std::string_view("../x"),
                                 std::string_view("audio/../../x"), std::string_view("a\\b")}) {
        SCOPED_TRACE(std::string(key));
        auto put = this->store().PutBytes(key, "x", "text/plain");
        ASSERT_FALSE(put);
        EXPECT_EQ(put.error().code, ErrorCode::kInvalidArgument);
        auto head = this->store().Head(key);
        ASSERT_FALSE(head);
        EXPECT_EQ(head.error().code, ErrorCode::kInvalidArgument);
        Fetched got = GetAll(this->store(), key);
        ASSERT_FALSE(got.info);
        EXPECT_EQ(got.info.error().code, ErrorCode::kInvalidArgument);
        auto del = this->store().Delete(key);
        ASSERT_FALSE(del);
        EXPECT_EQ(del.error().code, ErrorCode::kInvalidArgument);
        EXPECT_FALSE(this->store().Url(key, std::chrono::seconds(60)));
        EXPECT_FALSE(this->store().LocalPath(key));
    }
}

TYPED_TEST_P(BlobStoreBehaviour, Utf8AndSpacesInKeysRoundTrip) {
    for (std::string_view name : {std::string_view("audio/Motörhead – Ace of Spades (live).mp3"),
                                  std::string_view("images/a b+c&d=e?f#g%20h;i,j@k.png"),
                                  std::string_view("日本語/ファイル 名.flac"), std::string_view("emoji/🎵 tune~.ogg")}) {
        SCOPED_TRACE(std::string(name));
        std::string key = this->Key(name);
        std::string bytes = PatternBytes(777, name.size());
        ASSERT_TRUE(this->store().PutBytes(key, bytes, "application/octet-stream"));
        Fetched got = GetAll(this->store(), key);
        ASSERT_TRUE(got.info) << got.info.error().ToString();
        EXPECT_EQ(got.bytes, bytes);
        ASSERT_TRUE(this->store().Head(key));
        ASSERT_TRUE(this->store().Delete(key));
        EXPECT_FALSE(this->store().Head(key));
    }
}

TYPED_TEST_P(BlobStoreBehaviour, SinkErrorStopsTheTransferAndIsReturned) {
    std::string key = this->Key("audio/big.mp3");
    ASSERT_TRUE(this->store().PutFile(key, this->Source("big", PatternBytes(2 * 1024 * 1024)), "audio/mpeg"));
    int calls = 0;
    auto result = this->store().Get(key, std::nullopt, [&](std::string_view) -> Status {
        ++calls;
        return Fail(ErrorCode::kCancelled, "client went away");
    });
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().code, ErrorCode::kCancelled);
    EXPECT_EQ(calls, 1);
}

TYPED_TEST_P(BlobStoreBehaviour, GetToFileDownloadsAtomically) {
    std::string key = this->Key("exports/archive.zip");
    std::string bytes = PatternBytes(1024 * 1024 + 3, 5);
    ASSERT_TRUE(this->store().PutBytes(key, bytes, "application/zip"));
    std::filesystem::path out = this->scratch_.path() / "download.zip";
    auto info = this->store().GetToFile(key, out);
    ASSERT_TRUE(info) << info.error().ToString();
    EXPECT_EQ(info->size, bytes.size());
    EXPECT_TRUE(ReadFile(out) == bytes);

    std::filesystem::path missing_out = this->scratch_.path() / "missing.zip";
    auto missing = this->store().GetToFile(this->Key("exports/none.zip"), missing_out);
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
    EXPECT_FALSE(std::filesystem::exists(missing_out));
    // The scratch dir holds the download and nothing else: no leftover temp file from either call.
    EXPECT_EQ(CountEntries(this->scratch_.path()), 1);
}

TYPED_TEST_P(BlobStoreBehaviour, EmptyContentTypeIsDerivedFromTheKey) {
    std::string key = this->Key("audio/derived.mp3");
    ASSERT_TRUE(this->store().PutBytes(key, "id3", ""));
    auto info = this->store().Head(key);
    ASSERT_TRUE(info);
    EXPECT_EQ(info->content_type, "audio/mpeg");
}

TYPED_TEST_P(BlobStoreBehaviour, ContentTypeThatCouldInjectHeadersIsRejected) {
    std::string key = this->Key("audio/x.mp3");
    auto put = this->store().PutBytes(key, "x", "audio/mpeg\r\nx-evil: 1");
    ASSERT_FALSE(put);
    EXPECT_EQ(put.error().code, ErrorCode::kInvalidArgument);
    EXPECT_FALSE(this->store().Head(key));
}

TYPED_TEST_P(BlobStoreBehaviour, PutFileOfAMissingSourceFailsAndStoresNothing) {
    std::string key = this->Key("audio/ghost.mp3");
    auto put = this->store().PutFile(key, this->scratch_.path() / "does-not-exist", "audio/mpeg");
    ASSERT_FALSE(put);
    EXPECT_EQ(put.error().code, ErrorCode::kNotFound);
    auto head = this->store().Head(key);
    ASSERT_FALSE(head);
    EXPECT_EQ(head.error().code, ErrorCode::kNotFound);
}

TYPED_TEST_P(BlobStoreBehaviour, ConcurrentPutsAndGetsFromManyThreadsStayConsistent) {
    constexpr int kThreads = 6;
    constexpr int kRounds = 5;
    std::mutex mutex;
    std::vector<std::string> failures;
    auto record = [&](std::string what) {
        std::lock_guard lock(mutex);
        failures.push_back(std::move(what));
    };
    // s3rver removes a directory when its last object is deleted and races with itself doing so (500 on a
    // concurrent delete in the same directory); a sentinel keeps the shared directory non-empty. Each thread
    // owns its own sub-directory, so the deletes below still run concurrently.
    std::string sentinel = this->Key("concurrent/sentinel");
    ASSERT_TRUE(this->store().PutBytes(sentinel, "keep", "text/plain"));
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            for (int r = 0; r < kRounds; ++r) {
                std::string key = this->Key("concurrent/t" + std::to_string(t) + "/r" + std::to_string(r));
                std::string bytes = PatternBytes(20000 + t * 100 + r, t * 31 + r);
                if (auto put = this->store().PutBytes(key, bytes, "application/octet-stream"); !put) {
                    record("put " + key + ": " + put.error().ToString());
                }
                Fetched got = GetAll(this->store(), key);
                if (!got.info) {
                    record("get " + key + ": " + got.info.error().ToString());
                } else if (got.bytes != bytes) {
                    record("get " + key + ": wrong bytes");
                }
                if (auto del = this->store().Delete(key); !del) {
                    record("delete " + key + ": " + del.error().ToString());
                }
            }
        });
    }
    for (auto& thread : threads) thread.join();
    EXPECT_TRUE(this->store().Delete(sentinel));
    EXPECT_TRUE(failures.empty()) << failures.size() << " failures, first: " << failures.front();
}

TYPED_TEST_P(BlobStoreBehaviour, CheckSucceedsOnAHealthyStore) {
    auto check = this->store().Check();
    EXPECT_TRUE(check) << check.error().ToString();
}

REGISTER_TYPED_TEST_SUITE_P(BlobStoreBehaviour, PutBytesThenGetReturnsTheSameBytesAndInfo, PutFileStreamsTheWholeFile,
                            RangedGetDeliversOnlyTheRangeButReportsTheWholeSize, RangeRunningPastTheEndIsCutAtTheEnd,
                            UnsatisfiableOrEmptyRangeIsInvalidArgument, HeadReportsSizeTypeEtagAndModificationTime,
                            PutReplacesTheObjectAndChangesTheEtag, MissingObjectIsNotFound,
                            DeleteRemovesTheObjectAndDeletingAgainSucceeds, EmptyObjectRoundTrips,
                            InvalidKeysAreRejectedBeforeAnyIo, Utf8AndSpacesInKeysRoundTrip,
                            SinkErrorStopsTheTransferAndIsReturned, GetToFileDownloadsAtomically,
                            EmptyContentTypeIsDerivedFromTheKey, ContentTypeThatCouldInjectHeadersIsRejected,
                            PutFileOfAMissingSourceFailsAndStoresNothing,
                            ConcurrentPutsAndGetsFromManyThreadsStayConsistent, CheckSucceedsOnAHealthyStore);

}  // namespace plyr::storage::blobs::testing
