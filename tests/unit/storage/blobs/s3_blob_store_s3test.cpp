// The S3 backend against a real S3-compatible server: s3rver on loopback, started by scripts/s3.sh, whose
// endpoint is in PLYR_TEST_S3 (tests skip when it is unset). The shared behavioural suite runs here too.
// s3rver does not verify SigV4 signatures; sigv4_test.cpp proves those against AWS's vectors.

#include <curl/curl.h>

#include <cstdlib>

#include <gtest/gtest.h>

#include "blob_store_suite.hpp"
#include "blob_test_util.hpp"
#include "core/encoding.hpp"
#include "storage/blobs/s3/s3_blob_store.hpp"

namespace plyr::storage::blobs {
namespace {

using testing::Fetched;
using testing::GetAll;
using testing::PatternBytes;
using testing::TempDir;
using testing::WriteFile;

constexpr const char* kBucket = "plyr-audio";

std::string Endpoint() {
    const char* value = std::getenv("PLYR_TEST_S3");
    return value == nullptr ? std::string() : std::string(value);
}

S3Options TestOptions(std::string endpoint = Endpoint()) {
    S3Options options;
    options.endpoint = std::move(endpoint);
    options.region = "us-east-1";
    options.bucket = kBucket;
    options.force_path_style = true;
    options.access_key_id = "S3RVER";
    options.secret_access_key = "S3RVER";
    return options;
}

// Every test writes under its own random prefix: the server's buckets outlive single tests.
std::string UniquePrefix() { return "t-" + core::RandomHex(6) + "/"; }

struct S3Backend {
    std::string SetUp() {
        if (Endpoint().empty()) return "PLYR_TEST_S3 is not set (scripts/s3.sh start <dir>)";
        auto opened = S3BlobStore::Open(TestOptions());
        if (!opened) return "cannot open S3 store: " + opened.error().ToString();
        store_ = std::move(*opened);
        return {};
    }
    BlobStore& store() { return *store_; }
    std::string Key(std::string_view name) { return prefix_ + std::string(name); }

    std::string prefix_ = UniquePrefix();
    std::unique_ptr<S3BlobStore> store_;
};

}  // namespace

namespace testing {
INSTANTIATE_TYPED_TEST_SUITE_P(S3, BlobStoreBehaviour, ::testing::Types<S3Backend>);
}  // namespace testing

namespace {

struct HttpResult {
    long status = 0;
    std::string body;
};

// A plain libcurl GET with no credentials: what a browser following a redirect does.
HttpResult PlainGet(const std::string& url) {
    HttpResult result;
    CURL* curl = curl_easy_init();
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(
        curl, CURLOPT_WRITEFUNCTION, +[](char* data, size_t size, size_t count, void* user) -> size_t {
            static_cast<std::string*>(user)->append(data, size * count);
            return size * count;
        });
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &result.body);
    if (curl_easy_perform(curl) == CURLE_OK) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &result.status);
    curl_easy_cleanup(curl);
    return result;
}

class S3Server : public ::testing::Test {
  protected:
    void SetUp() override {
        if (Endpoint().empty()) GTEST_SKIP() << "PLYR_TEST_S3 is not set (scripts/s3.sh start <dir>)";
    }
    std::unique_ptr<S3BlobStore> Open(S3Options options = TestOptions()) {
        auto store = S3BlobStore::Open(std::move(options));
        if (!store) ADD_FAILURE() << store.error().ToString();
        return store ? std::move(*store) : nullptr;
    }
    std::string prefix_ = UniquePrefix();
    TempDir dir_;
};

TEST_F(S3Server, PresignedUrlFetchedWithPlainCurlReturnsTheBytes) {
    auto store = Open();
    std::string key = prefix_ + "audio/gated track.mp3";
    std::string bytes = PatternBytes(50000);
    ASSERT_TRUE(store->PutBytes(key, bytes, "audio/mpeg"));
    auto url = store->Url(key, std::chrono::seconds(600));
    ASSERT_TRUE(url);
    EXPECT_NE(url->find("X-Amz-Signature="), std::string::npos);
    HttpResult fetched = PlainGet(*url);
    EXPECT_EQ(fetched.status, 200);
    EXPECT_TRUE(fetched.body == bytes);
}

TEST_F(S3Server, MultipartUploadAboveALoweredThresholdStoresTheWholeFile) {
    S3Options options = TestOptions();
    options.multipart_threshold = 8 * kMiB;
    options.part_size = kMinPartSize;
    auto store = Open(options);
    std::string key = prefix_ + "audio/original.flac";
    std::string bytes = PatternBytes(12 * kMiB + 1234, 77);
    WriteFile(dir_.path() / "original.flac", bytes);
    ASSERT_TRUE(store->PutFile(key, dir_.path() / "original.flac", "audio/flac"));
    EXPECT_EQ(store->multipart_uploads(), 1u);
    auto head = store->Head(key);
    ASSERT_TRUE(head) << head.error().ToString();
    EXPECT_EQ(head->size, bytes.size());
    EXPECT_EQ(head->content_type, "audio/flac");
    Fetched whole = GetAll(*store, key);
    ASSERT_TRUE(whole.info);
    EXPECT_TRUE(whole.bytes == bytes);
    // A range across the first part boundary.
    Fetched across = GetAll(*store, key, ByteRange{kMinPartSize - 100, 200});
    ASSERT_TRUE(across.info);
    EXPECT_EQ(across.bytes, bytes.substr(kMinPartSize - 100, 200));
}

TEST_F(S3Server, SmallFileBelowTheThresholdIsASinglePut) {
    S3Options options = TestOptions();
    options.multipart_threshold = 8 * kMiB;
    options.part_size = kMinPartSize;
    auto store = Open(options);
    WriteFile(dir_.path() / "small", PatternBytes(kMiB));
    ASSERT_TRUE(store->PutFile(prefix_ + "small", dir_.path() / "small", ""));
    EXPECT_EQ(store->multipart_uploads(), 0u);
}

TEST_F(S3Server, VirtualHostAddressingWorks) {
    // s3rver (scripts/s3.sh) serves <bucket>.s3.localhost; curl resolves *.localhost to loopback.
    std::string endpoint = Endpoint();
    std::size_t colon = endpoint.rfind(':');
    ASSERT_NE(colon, std::string::npos);
    S3Options options = TestOptions("http://s3.localhost" + endpoint.substr(colon));
    options.force_path_style = false;
    auto store = Open(options);
    ASSERT_EQ(store->ObjectUrl("k"), "http://plyr-audio.s3.localhost" + endpoint.substr(colon) + "/k");
    std::string key = prefix_ + "vhost/ä b.txt";
    ASSERT_TRUE(store->PutBytes(key, "virtual host", "text/plain"));
    Fetched got = GetAll(*store, key);
    ASSERT_TRUE(got.info) << got.info.error().ToString();
    EXPECT_EQ(got.bytes, "virtual host");
    // The same object through path-style addressing: both styles name the same bucket.
    Fetched path_style = GetAll(*Open(), key);
    ASSERT_TRUE(path_style.info);
    EXPECT_EQ(path_style.bytes, "virtual host");
    ASSERT_TRUE(store->Delete(key));
}

TEST_F(S3Server, MissingBucketIsAConfigurationError) {
    S3Options options = TestOptions();
    options.bucket = "plyr-no-such-bucket";
    auto store = Open(options);
    auto check = store->Check();
    ASSERT_FALSE(check);
    EXPECT_EQ(check.error().code, ErrorCode::kConfig);
    auto put = store->PutBytes(prefix_ + "x", "x", "text/plain");
    ASSERT_FALSE(put);
    EXPECT_EQ(put.error().code, ErrorCode::kConfig);
}

TEST_F(S3Server, FactoryStoresReachTheirBucketsAndHandOutUsableUrls) {
    core::Config config;
    config.storage_kind = core::StorageKind::kS3;
    config.s3.endpoint_url = Endpoint();
    config.s3.force_path_style = true;
    config.s3.region = "us-east-1";
    config.s3.access_key_id = "S3RVER";
    config.s3.secret_access_key = "S3RVER";
    config.s3.bucket = "plyr-audio";
    config.s3.private_bucket = "plyr-private";
    config.s3.image_bucket = "plyr-images";
    // s3rver serves anonymous GETs, so its own bucket URL can stand in for a public CDN URL.
    config.s3.public_bucket_url = Endpoint() + "/plyr-audio";
    auto audio = blobs::Open(config, Bucket::kAudio);
    auto gated = blobs::Open(config, Bucket::kPrivate);
    ASSERT_TRUE(audio && gated);
    ASSERT_TRUE((*audio)->Check());
    ASSERT_TRUE((*gated)->Check());
    std::string key = prefix_ + "audio/0123456789abcdef.mp3";
    ASSERT_TRUE((*audio)->PutBytes(key, "public bytes", "audio/mpeg"));
    ASSERT_TRUE((*gated)->PutBytes(key, "gated bytes", "audio/mpeg"));
    auto public_url = (*audio)->Url(key, std::chrono::seconds(60));
    ASSERT_TRUE(public_url);
    EXPECT_EQ(public_url->find("X-Amz-"), std::string::npos);
    EXPECT_EQ(PlainGet(*public_url).body, "public bytes");
    auto gated_url = (*gated)->Url(key, std::chrono::seconds(60));
    ASSERT_TRUE(gated_url);
    EXPECT_NE(gated_url->find("/plyr-private/"), std::string::npos);
    EXPECT_EQ(PlainGet(*gated_url).body, "gated bytes");
}

}  // namespace
}  // namespace plyr::storage::blobs
