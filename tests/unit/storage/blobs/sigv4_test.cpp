// SigV4 against AWS's published S3 examples ("Examples: Signature Calculations in AWS Signature Version 4",
// header-based auth, and "Authenticating Requests: Using Query Parameters" for the presigned URL). s3rver
// does not verify signatures, so these vectors are what proves the signer right.

#include "storage/blobs/s3/sigv4.hpp"

#include <chrono>

#include <gtest/gtest.h>

#include "core/clock.hpp"
#include "core/encoding.hpp"
#include "storage/blobs/s3/s3_blob_store.hpp"

namespace plyr::storage::blobs::sigv4 {
namespace {

const Credentials kExampleCredentials{"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"};
const Scope kExampleScope{"us-east-1", "s3"};
constexpr std::string_view kExampleHost = "examplebucket.s3.amazonaws.com";
// 20130524T000000Z
const std::chrono::sys_seconds kExampleTime =
    std::chrono::sys_days(std::chrono::year(2013) / std::chrono::May / std::chrono::day(24));

TEST(SigV4, AwsExampleGetObjectWithRange) {
    Request request{"GET",
                    "/test.txt",
                    {},
                    {{"Host", std::string(kExampleHost)}, {"Range", "bytes=0-9"}},
                    std::string(kEmptyPayloadSha256)};
    Signature signature = SignHeaders(request, kExampleCredentials, kExampleScope, kExampleTime);
    EXPECT_EQ(signature.canonical_request,
              "GET\n"
              "/test.txt\n"
              "\n"
              "host:examplebucket.s3.amazonaws.com\n"
              "range:bytes=0-9\n"
              "x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
              "x-amz-date:20130524T000000Z\n"
              "\n"
              "host;range;x-amz-content-sha256;x-amz-date\n"
              "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    EXPECT_EQ(signature.string_to_sign,
              "AWS4-HMAC-SHA256\n"
              "20130524T000000Z\n"
              "20130524/us-east-1/s3/aws4_request\n"
              "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972");
    EXPECT_EQ(signature.signature, "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
    EXPECT_EQ(signature.authorization,
              "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
              "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
              "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

TEST(SigV4, AwsExamplePutObject) {
    std::string body = "Welcome to Amazon S3.";
    std::string payload_hash = core::Sha256Hex(body);
    ASSERT_EQ(payload_hash, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
    // The key "test$file.text" is encoded once: '$' becomes %24.
    ASSERT_EQ(EncodeS3Path("test$file.text"), "/test%24file.text");
    Request request{"PUT",
                    EncodeS3Path("test$file.text"),
                    {},
                    {{"Host", std::string(kExampleHost)},
                     {"Date", "Fri, 24 May 2013 00:00:00 GMT"},
                     {"x-amz-storage-class", "REDUCED_REDUNDANCY"}},
                    payload_hash};
    Signature signature = SignHeaders(request, kExampleCredentials, kExampleScope, kExampleTime);
    EXPECT_EQ(signature.signed_headers, "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class");
    EXPECT_EQ(signature.signature, "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
}

TEST(SigV4, AwsExampleGetBucketLifecycleSignsAValuelessParameter) {
    Request request{
        "GET", "/", {{"lifecycle", ""}}, {{"Host", std::string(kExampleHost)}}, std::string(kEmptyPayloadSha256)};
    Signature signature = SignHeaders(request, kExampleCredentials, kExampleScope, kExampleTime);
    EXPECT_NE(signature.canonical_request.find("\n/\nlifecycle=\n"), std::string::npos);
    EXPECT_EQ(signature.signature, "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
}

TEST(SigV4, AwsExampleListObjectsSortsTheQuery) {
    // Given out of order on purpose: the canonical query must be sorted.
    Request request{"GET",
                    "/",
                    {{"prefix", "J"}, {"max-keys", "2"}},
                    {{"Host", std::string(kExampleHost)}},
                    std::string(kEmptyPayloadSha256)};
    Signature signature = SignHeaders(request, kExampleCredentials, kExampleScope, kExampleTime);
    EXPECT_NE(signature.canonical_request.find("\n/\nmax-keys=2&prefix=J\n"), std::string::npos);
    EXPECT_EQ(signature.signed_headers, "host;x-amz-content-sha256;x-amz-date");
    EXPECT_EQ(signature.signature, "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
}

TEST(SigV4, AwsExamplePresignedGetUrl) {
    Request request{"GET", "/test.txt", {}, {{"Host", std::string(kExampleHost)}}, ""};
    Presigned presigned =
        Presign(request, kExampleCredentials, kExampleScope, kExampleTime, std::chrono::seconds(86400));
    EXPECT_EQ(presigned.signature, "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
    EXPECT_EQ(presigned.query,
              "X-Amz-Algorithm=AWS4-HMAC-SHA256"
              "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
              "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
              "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
    EXPECT_TRUE(presigned.canonical_request.ends_with("\nhost\nUNSIGNED-PAYLOAD"));
}

TEST(SigV4, BlobStoreUrlReproducesTheAwsPresignedExampleEndToEnd) {
    // Virtual-host addressing + key encoding + clock + signer, through the backend's public API.
    S3Options options;
    options.endpoint = "https://s3.amazonaws.com";
    options.region = "us-east-1";
    options.bucket = "examplebucket";
    options.access_key_id = kExampleCredentials.access_key_id;
    options.secret_access_key = kExampleCredentials.secret_access_key;
    auto seconds = std::chrono::duration_cast<std::chrono::microseconds>(kExampleTime.time_since_epoch());
    options.clock = std::make_shared<core::ManualClock>(seconds.count());
    auto store = S3BlobStore::Open(options);
    ASSERT_TRUE(store) << store.error().ToString();
    auto url = (*store)->Url("test.txt", std::chrono::seconds(86400));
    ASSERT_TRUE(url);
    EXPECT_EQ(*url,
              "https://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256"
              "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
              "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
              "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
}

TEST(SigV4, CanonicalQuerySortsEncodesAndKeepsValuelessParameters) {
    EXPECT_EQ(CanonicalQuery({}), "");
    EXPECT_EQ(CanonicalQuery({{"uploads", ""}}), "uploads=");
    EXPECT_EQ(CanonicalQuery({{"uploadId", "abc"}, {"partNumber", "2"}}), "partNumber=2&uploadId=abc");
    EXPECT_EQ(CanonicalQuery({{"prefix", "tracks/"}, {"max-keys", "5"}, {"list-type", "2"}}),
              "list-type=2&max-keys=5&prefix=tracks%2F");
    // Values: space is %20 (never '+'), reserved characters and UTF-8 bytes are %XX upper-case.
    EXPECT_EQ(CanonicalQuery({{"a", "x y+z=w&v/u"}}), "a=x%20y%2Bz%3Dw%26v%2Fu");
    EXPECT_EQ(CanonicalQuery({{"name", "Motörhead"}}), "name=Mot%C3%B6rhead");
    // Byte order: upper case sorts before lower case; equal names sort by value.
    EXPECT_EQ(CanonicalQuery({{"b", "1"}, {"X-Amz-Date", "d"}, {"a", "2"}, {"a", "1"}}), "X-Amz-Date=d&a=1&a=2&b=1");
    // Names are encoded too, and sorting happens on the encoded form.
    EXPECT_EQ(CanonicalQuery({{"z", "1"}, {"a b", "2"}}), "a%20b=2&z=1");
}

TEST(SigV4, UriEncodeKeepsOnlyUnreservedCharacters) {
    EXPECT_EQ(UriEncode("AZaz09-._~", false), "AZaz09-._~");
    EXPECT_EQ(UriEncode("a b", false), "a%20b");
    EXPECT_EQ(UriEncode("a/b", false), "a%2Fb");
    EXPECT_EQ(UriEncode("a/b", true), "a/b");
    EXPECT_EQ(UriEncode("!*'();:@&=+$,?#[]%", false), "%21%2A%27%28%29%3B%3A%40%26%3D%2B%24%2C%3F%23%5B%5D%25");
}

TEST(SigV4, S3PathEncodesUtf8AndSpacesPerSegmentOnce) {
    EXPECT_EQ(EncodeS3Path("audio/0123456789abcdef.mp3"), "/audio/0123456789abcdef.mp3");
    EXPECT_EQ(EncodeS3Path("audio/Motörhead – Ace of Spades.mp3"),
              "/audio/Mot%C3%B6rhead%20%E2%80%93%20Ace%20of%20Spades.mp3");
    EXPECT_EQ(EncodeS3Path("日本/a b"), "/%E6%97%A5%E6%9C%AC/a%20b");
    // Already-encoded-looking input is encoded again, never passed through: the key is data, not a URL.
    EXPECT_EQ(EncodeS3Path("a%20b"), "/a%2520b");
}

TEST(SigV4, CanonicalHeadersAreLowerCasedTrimmedCollapsedAndMerged) {
    Request request{"GET",
                    "/k",
                    {},
                    {{"Host", "h"}, {"X-Amz-Meta-A", "  one   two  "}, {"x-amz-meta-a", "three"}},
                    std::string(kUnsignedPayload)};
    Signature signature = SignHeaders(request, kExampleCredentials, kExampleScope, kExampleTime);
    EXPECT_NE(signature.canonical_request.find("host:h\nx-amz-content-sha256:UNSIGNED-PAYLOAD\n"
                                               "x-amz-date:20130524T000000Z\nx-amz-meta-a:one two,three\n"),
              std::string::npos)
        << signature.canonical_request;
    EXPECT_EQ(signature.signed_headers, "host;x-amz-content-sha256;x-amz-date;x-amz-meta-a");
    EXPECT_EQ(signature.headers.size(), 3u);
    EXPECT_EQ(signature.headers[1].second, "UNSIGNED-PAYLOAD");
}

TEST(SigV4, PresignSortsCallerParametersAmongItsOwn) {
    Request request{"GET", "/k", {{"response-content-type", "audio/mpeg"}}, {{"host", "h"}}, ""};
    Presigned presigned = Presign(request, kExampleCredentials, kExampleScope, kExampleTime, std::chrono::seconds(60));
    EXPECT_TRUE(presigned.query.starts_with("X-Amz-Algorithm="));
    EXPECT_NE(presigned.query.find("&X-Amz-SignedHeaders=host&response-content-type=audio%2Fmpeg&X-Amz-Signature="),
              std::string::npos)
        << presigned.query;
}

TEST(SigV4, SignaturesDependOnEveryInput) {
    Request base{"GET", "/k", {}, {{"host", "h"}}, std::string(kUnsignedPayload)};
    std::string reference = SignHeaders(base, kExampleCredentials, kExampleScope, kExampleTime).signature;
    Request other_path = base;
    other_path.canonical_uri = "/k2";
    EXPECT_NE(SignHeaders(other_path, kExampleCredentials, kExampleScope, kExampleTime).signature, reference);
    EXPECT_NE(SignHeaders(base, kExampleCredentials, Scope{"auto", "s3"}, kExampleTime).signature, reference);
    EXPECT_NE(SignHeaders(base, {"AKIAIOSFODNN7EXAMPLE", "other"}, kExampleScope, kExampleTime).signature, reference);
    EXPECT_NE(SignHeaders(base, kExampleCredentials, kExampleScope, kExampleTime + std::chrono::seconds(1)).signature,
              reference);
}

TEST(SigV4, NothingReturnedContainsTheSecretKey) {
    Request request{"PUT", "/k", {{"uploads", ""}}, {{"host", "h"}}, std::string(kUnsignedPayload)};
    Signature signature = SignHeaders(request, kExampleCredentials, kExampleScope, kExampleTime);
    Presigned presigned = Presign(request, kExampleCredentials, kExampleScope, kExampleTime, std::chrono::seconds(5));
    for (const std::string& text : {signature.authorization, signature.canonical_request, signature.string_to_sign,
                                    presigned.query, presigned.canonical_request}) {
        EXPECT_EQ(text.find(kExampleCredentials.secret_access_key), std::string::npos);
        EXPECT_EQ(text.find("wJalrXUtnFEMI"), std::string::npos);
    }
}

TEST(SigV4, FormatsAmzDate) {
    using namespace std::chrono;
    EXPECT_EQ(FormatAmzDate(kExampleTime), "20130524T000000Z");
    EXPECT_EQ(FormatAmzDate(sys_days(year(2026) / December / day(31)) + hours(23) + minutes(59) + seconds(58)),
              "20261231T235958Z");
}

}  // namespace
}  // namespace plyr::storage::blobs::sigv4
