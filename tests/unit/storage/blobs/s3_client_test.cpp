// S3 backend without an S3 server: addressing, URLs, request shape and signing as sent on the wire, error
// mapping, multipart abort, timeouts — against a scripted loopback server (fake_http_server.hpp).

#include <chrono>
#include <cstdio>

#include <gtest/gtest.h>

#include "blob_test_util.hpp"
#include "core/encoding.hpp"
#include "fake_http_server.hpp"
#include "storage/blobs/s3/s3_blob_store.hpp"
#include "storage/blobs/s3/sigv4.hpp"

namespace plyr::storage::blobs {
namespace {

using testing::CannedResponse;
using testing::FakeHttpServer;
using testing::GetAll;
using testing::PatternBytes;
using testing::RecordedRequest;
using testing::S3ErrorXml;
using testing::TempDir;
using testing::WriteFile;

constexpr const char* kSecret = "s3cr3t-KEY/never+logged";

S3Options Options(const std::string& endpoint) {
    S3Options options;
    options.endpoint = endpoint;
    options.region = "us-east-1";
    options.bucket = "bucket";
    options.access_key_id = "AKIDTEST";
    options.secret_access_key = kSecret;
    options.connect_timeout = std::chrono::milliseconds(2000);
    options.request_timeout = std::chrono::seconds(10);
    return options;
}

std::unique_ptr<S3BlobStore> MustOpen(S3Options options) {
    auto store = S3BlobStore::Open(std::move(options));
    if (!store) ADD_FAILURE() << store.error().ToString();
    return store ? std::move(*store) : nullptr;
}

CannedResponse Ok200() { return CannedResponse{200, {{"ETag", "\"etag-1\""}}, ""}; }

TEST(S3Client, OpenRejectsUnusableOptions) {
    auto expect_config = [](S3Options options, const char* why) {
        auto store = S3BlobStore::Open(std::move(options));
        ASSERT_FALSE(store) << why;
        EXPECT_EQ(store.error().code, ErrorCode::kConfig) << why;
        EXPECT_EQ(store.error().ToString().find(kSecret), std::string::npos);
    };
    expect_config(Options("ftp://s3.example.com"), "scheme");
    expect_config(Options("not a url"), "garbage");
    expect_config(Options("https://user:pw@s3.example.com"), "userinfo");
    expect_config(Options("https://s3.example.com/?x=1"), "query");
    S3Options no_bucket = Options("https://s3.example.com");
    no_bucket.bucket.clear();
    expect_config(no_bucket, "bucket");
    S3Options no_secret = Options("https://s3.example.com");
    no_secret.secret_access_key.clear();
    expect_config(no_secret, "credentials");
    S3Options small_parts = Options("https://s3.example.com");
    small_parts.part_size = 4 * kMiB;
    expect_config(small_parts, "part size");
}

TEST(S3Client, AddressingIsVirtualHostUnlessPathStyleIsForcedOrTheHostIsAnIp) {
    EXPECT_EQ(MustOpen(Options("https://s3.example.com"))->ObjectUrl("audio/a b.mp3"),
              "https://bucket.s3.example.com/audio/a%20b.mp3");
    EXPECT_EQ(MustOpen(Options("HTTPS://S3.Example.COM:8443/"))->ObjectUrl("k"),
              "https://bucket.s3.example.com:8443/k");
    S3Options path_style = Options("https://s3.example.com");
    path_style.force_path_style = true;
    EXPECT_EQ(MustOpen(path_style)->ObjectUrl("audio/ö.mp3"), "https://s3.example.com/bucket/audio/%C3%B6.mp3");
    EXPECT_EQ(MustOpen(Options("http://127.0.0.1:9000"))->ObjectUrl("k"), "http://127.0.0.1:9000/bucket/k");
    EXPECT_EQ(MustOpen(Options("http://[::1]:9000"))->ObjectUrl("k"), "http://[::1]:9000/bucket/k");
    S3Options based = Options("http://proxy.example/s3/");
    based.force_path_style = true;
    EXPECT_EQ(MustOpen(based)->ObjectUrl("k"), "http://proxy.example/s3/bucket/k");
}

TEST(S3Client, UrlIsThePublicUrlWhenTheBucketHasOne) {
    S3Options options = Options("https://s3.example.com");
    options.public_base_url = "https://cdn.example.com/";
    auto store = MustOpen(options);
    EXPECT_EQ(store->Url("audio/0123456789abcdef.mp3", std::chrono::seconds(60)),
              "https://cdn.example.com/audio/0123456789abcdef.mp3");
    EXPECT_EQ(store->Url("images/a b.png", std::chrono::seconds(60)), "https://cdn.example.com/images/a%20b.png");
    EXPECT_FALSE(store->LocalPath("audio/0123456789abcdef.mp3"));
}

TEST(S3Client, PresignedUrlExpiryIsClampedToWhatS3Accepts) {
    auto store = MustOpen(Options("https://s3.example.com"));
    auto long_url = store->Url("k", std::chrono::hours(24 * 30));
    ASSERT_TRUE(long_url);
    EXPECT_NE(long_url->find("X-Amz-Expires=604800&"), std::string::npos) << *long_url;
    auto zero_url = store->Url("k", std::chrono::seconds(0));
    ASSERT_TRUE(zero_url);
    EXPECT_NE(zero_url->find("X-Amz-Expires=1&"), std::string::npos) << *zero_url;
    EXPECT_EQ(long_url->find(kSecret), std::string::npos);
    EXPECT_TRUE(long_url->starts_with("https://bucket.s3.example.com/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&"));
}

// Recomputes the signature of a request exactly as it arrived, proving that what curl sends (host, path,
// query, headers) is what was signed.
void ExpectSignedAsSent(const RecordedRequest& request, const std::vector<std::string>& signed_names) {
    std::string amz_date = request.Header("x-amz-date");
    ASSERT_EQ(amz_date.size(), 16u);
    int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
    ASSERT_EQ(std::sscanf(amz_date.c_str(), "%4d%2d%2dT%2d%2d%2dZ", &y, &mo, &d, &h, &mi, &s), 6);
    auto when = std::chrono::sys_days(std::chrono::year(y) / mo / d) + std::chrono::hours(h) +
                std::chrono::minutes(mi) + std::chrono::seconds(s);
    std::string path = request.target.substr(0, request.target.find('?'));
    sigv4::Params query;
    if (std::size_t q = request.target.find('?'); q != std::string::npos) {
        std::string rest = request.target.substr(q + 1);
        std::size_t start = 0;
        while (start <= rest.size()) {
            std::size_t amp = rest.find('&', start);
            std::string pair = rest.substr(start, amp == std::string::npos ? std::string::npos : amp - start);
            std::size_t eq = pair.find('=');
            // The test queries hold no escapes, so the raw text is the decoded value.
            query.emplace_back(pair.substr(0, eq), eq == std::string::npos ? "" : pair.substr(eq + 1));
            if (amp == std::string::npos) break;
            start = amp + 1;
        }
    }
    sigv4::Params headers;
    for (const std::string& name : signed_names) headers.emplace_back(name, request.Header(name));
    sigv4::Request to_sign{request.method, path, query, headers, request.Header("x-amz-content-sha256")};
    auto expected = sigv4::SignHeaders(to_sign, {"AKIDTEST", kSecret}, {"us-east-1", "s3"}, when);
    EXPECT_EQ(request.Header("authorization"), expected.authorization) << request.head;
}

TEST(S3Client, PutBytesSendsASignedRequestWithTheBodyHash) {
    FakeHttpServer server([](const RecordedRequest&) { return Ok200(); });
    auto store = MustOpen(Options(server.url()));
    ASSERT_TRUE(store->PutBytes("audio/a b.mp3", "hello", "audio/mpeg"));
    auto requests = server.requests();
    ASSERT_EQ(requests.size(), 1u);
    const RecordedRequest& put = requests[0];
    EXPECT_EQ(put.method, "PUT");
    EXPECT_EQ(put.target, "/bucket/audio/a%20b.mp3");
    EXPECT_EQ(put.body, "hello");
    EXPECT_EQ(put.Header("host"), "127.0.0.1:" + std::to_string(server.port()));
    EXPECT_EQ(put.Header("content-type"), "audio/mpeg");
    EXPECT_EQ(put.Header("x-amz-content-sha256"), core::Sha256Hex("hello"));
    EXPECT_TRUE(put.Header("expect").empty());
    EXPECT_TRUE(put.Header("authorization")
                    .starts_with("AWS4-HMAC-SHA256 Credential=AKIDTEST/" + put.Header("x-amz-date").substr(0, 8) +
                                 "/us-east-1/s3/aws4_request,SignedHeaders=content-type;host;x-amz-content-sha256;"
                                 "x-amz-date,Signature="));
    EXPECT_EQ(put.head.find(kSecret), std::string::npos);
    ExpectSignedAsSent(put, {"content-type", "host"});
}

TEST(S3Client, PutFileStreamsTheFileWithAnUnsignedPayload) {
    FakeHttpServer server([](const RecordedRequest&) { return Ok200(); });
    auto store = MustOpen(Options(server.url()));
    TempDir dir;
    std::string bytes = PatternBytes(300000);
    WriteFile(dir.path() / "f", bytes);
    ASSERT_TRUE(store->PutFile("audio/f.flac", dir.path() / "f", ""));
    auto requests = server.requests();
    ASSERT_EQ(requests.size(), 1u);
    EXPECT_EQ(requests[0].Header("x-amz-content-sha256"), "UNSIGNED-PAYLOAD");
    EXPECT_EQ(requests[0].Header("content-length"), "300000");
    EXPECT_EQ(requests[0].Header("content-type"), "audio/flac");
    EXPECT_TRUE(requests[0].body == bytes);
    ExpectSignedAsSent(requests[0], {"content-type", "host"});
    EXPECT_EQ(store->multipart_uploads(), 0u);
}

TEST(S3Client, RangedGetSendsRangeAndReportsTheWholeObject) {
    FakeHttpServer server([](const RecordedRequest&) {
        return CannedResponse{206,
                              {{"Content-Range", "bytes 2-5/10"},
                               {"ETag", "\"abc123\""},
                               {"Content-Type", "audio/mpeg"},
                               {"Last-Modified", "Fri, 24 May 2013 00:00:07 GMT"}},
                              "2345"};
    });
    auto store = MustOpen(Options(server.url()));
    auto got = GetAll(*store, "audio/x.mp3", ByteRange{2, 4});
    ASSERT_TRUE(got.info) << got.info.error().ToString();
    EXPECT_EQ(got.bytes, "2345");
    EXPECT_EQ(got.info->size, 10u);
    EXPECT_EQ(got.info->etag, "abc123");
    EXPECT_EQ(got.info->content_type, "audio/mpeg");
    EXPECT_EQ(got.info->last_modified,
              std::chrono::sys_days(std::chrono::year(2013) / 5 / 24) + std::chrono::seconds(7));
    auto requests = server.requests();
    ASSERT_EQ(requests.size(), 1u);
    EXPECT_EQ(requests[0].Header("range"), "bytes=2-5");
    EXPECT_EQ(requests[0].Header("x-amz-content-sha256"), "UNSIGNED-PAYLOAD");
    ExpectSignedAsSent(requests[0], {"host", "range"});
}

TEST(S3Client, ServerThatIgnoresRangeIsClippedToTheRange) {
    FakeHttpServer server([](const RecordedRequest&) { return CannedResponse{200, {}, "0123456789"}; });
    auto store = MustOpen(Options(server.url()));
    auto got = GetAll(*store, "k", ByteRange{2, 4});
    ASSERT_TRUE(got.info) << got.info.error().ToString();
    EXPECT_EQ(got.bytes, "2345");
    EXPECT_EQ(got.info->size, 10u);
}

TEST(S3Client, HttpErrorsMapToErrorCodesWithTheS3CodeInDetail) {
    struct Case {
        int status;
        const char* s3_code;
        ErrorCode expected;
    };
    for (Case c :
         {Case{404, "NoSuchKey", ErrorCode::kNotFound}, Case{404, "NoSuchBucket", ErrorCode::kConfig},
          Case{403, "AccessDenied", ErrorCode::kProtocol}, Case{403, "SignatureDoesNotMatch", ErrorCode::kProtocol},
          Case{400, "InvalidArgument", ErrorCode::kProtocol}, Case{301, "PermanentRedirect", ErrorCode::kProtocol},
          Case{416, "InvalidRange", ErrorCode::kInvalidArgument}, Case{500, "InternalError", ErrorCode::kUnavailable},
          Case{503, "SlowDown", ErrorCode::kUnavailable}}) {
        SCOPED_TRACE(c.s3_code);
        FakeHttpServer server([&](const RecordedRequest&) {
            return CannedResponse{c.status, {{"Content-Type", "application/xml"}}, S3ErrorXml(c.s3_code, "nope")};
        });
        auto store = MustOpen(Options(server.url()));
        auto got = GetAll(*store, "k", ByteRange{0, 1});
        ASSERT_FALSE(got.info);
        EXPECT_EQ(got.info.error().code, c.expected);
        EXPECT_TRUE(got.bytes.empty()) << "an error body must never reach the sink";
        if (c.expected == ErrorCode::kProtocol) {
            EXPECT_NE(got.info.error().detail.find(c.s3_code), std::string::npos) << got.info.error().detail;
            EXPECT_NE(got.info.error().detail.find(std::to_string(c.status)), std::string::npos);
        }
        EXPECT_EQ(got.info.error().ToString().find(kSecret), std::string::npos);
        auto put = store->PutBytes("k", "x", "text/plain");
        ASSERT_FALSE(put);
        if (c.status != 416) {
            EXPECT_EQ(put.error().code, c.expected);
        }
    }
}

TEST(S3Client, HeadOfAMissingObjectIsNotFound) {
    FakeHttpServer server([](const RecordedRequest&) { return CannedResponse{404, {}, ""}; });
    auto head = MustOpen(Options(server.url()))->Head("k");
    ASSERT_FALSE(head);
    EXPECT_EQ(head.error().code, ErrorCode::kNotFound);
}

TEST(S3Client, DeleteTreatsAMissingKeyAsSuccessButNotAMissingBucket) {
    FakeHttpServer missing_key([](const RecordedRequest&) {
        return CannedResponse{404, {}, S3ErrorXml("NoSuchKey", "gone")};
    });
    EXPECT_TRUE(MustOpen(Options(missing_key.url()))->Delete("k"));
    FakeHttpServer no_content([](const RecordedRequest&) { return CannedResponse{204, {}, ""}; });
    EXPECT_TRUE(MustOpen(Options(no_content.url()))->Delete("k"));
    ASSERT_EQ(no_content.requests().size(), 1u);
    EXPECT_EQ(no_content.requests()[0].method, "DELETE");
    FakeHttpServer missing_bucket([](const RecordedRequest&) {
        return CannedResponse{404, {}, S3ErrorXml("NoSuchBucket", "no")};
    });
    auto deleted = MustOpen(Options(missing_bucket.url()))->Delete("k");
    ASSERT_FALSE(deleted);
    EXPECT_EQ(deleted.error().code, ErrorCode::kConfig);
}

TEST(S3Client, CheckHeadsTheBucket) {
    FakeHttpServer healthy([](const RecordedRequest&) { return CannedResponse{200, {}, ""}; });
    ASSERT_TRUE(MustOpen(Options(healthy.url()))->Check());
    ASSERT_EQ(healthy.requests().size(), 1u);
    EXPECT_EQ(healthy.requests()[0].method, "HEAD");
    EXPECT_EQ(healthy.requests()[0].target, "/bucket");
    FakeHttpServer missing([](const RecordedRequest&) { return CannedResponse{404, {}, ""}; });
    auto check = MustOpen(Options(missing.url()))->Check();
    ASSERT_FALSE(check);
    EXPECT_EQ(check.error().code, ErrorCode::kConfig);
}

// A scripted multipart conversation: initiate, parts (part `fail_part` answers `fail_status`), complete.
struct MultipartScript {
    int fail_part = 0;
    int fail_status = 500;
    bool complete_with_error_body = false;

    CannedResponse operator()(const RecordedRequest& request) const {
        const std::string& target = request.target;
        if (request.method == "POST" && target.ends_with("?uploads=")) {
            return CannedResponse{200,
                                  {},
                                  "<InitiateMultipartUploadResult><UploadId>up/1+x</UploadId>"
                                  "</InitiateMultipartUploadResult>"};
        }
        if (request.method == "PUT") {
            int part = std::stoi(target.substr(target.find("partNumber=") + 11));
            if (part == fail_part) return CannedResponse{fail_status, {}, S3ErrorXml("InternalError", "boom")};
            return CannedResponse{200, {{"ETag", "\"etag-" + std::to_string(part) + "\""}}, ""};
        }
        if (request.method == "POST") {
            if (complete_with_error_body) {
                return CannedResponse{200, {}, S3ErrorXml("InternalError", "assembling failed")};
            }
            return CannedResponse{200,
                                  {},
                                  "<CompleteMultipartUploadResult><ETag>\"x-3\"</ETag>"
                                  "</CompleteMultipartUploadResult>"};
        }
        if (request.method == "DELETE") return CannedResponse{204, {}, ""};
        return CannedResponse{400, {}, S3ErrorXml("Unexpected", request.method)};
    }
};

class S3Multipart : public ::testing::Test {
  protected:
    void SetUp() override {
        bytes_ = PatternBytes(11 * kMiB + 5, 3);
        WriteFile(dir_.path() / "big", bytes_);
    }
    S3Options MultipartOptions(const std::string& url) {
        S3Options options = Options(url);
        options.multipart_threshold = 8 * kMiB;
        options.part_size = 5 * kMiB;
        return options;
    }
    TempDir dir_;
    std::string bytes_;
};

TEST_F(S3Multipart, UploadsPartsInOrderAndCompletesLast) {
    FakeHttpServer server(MultipartScript{});
    auto store = MustOpen(MultipartOptions(server.url()));
    ASSERT_TRUE(store->PutFile("audio/big.wav", dir_.path() / "big", "audio/wav"));
    auto requests = server.requests();
    ASSERT_EQ(requests.size(), 5u);
    EXPECT_EQ(requests[0].method, "POST");
    EXPECT_EQ(requests[0].target, "/bucket/audio/big.wav?uploads=");
    EXPECT_EQ(requests[0].Header("content-type"), "audio/wav") << "the object's type is set at initiation";
    ExpectSignedAsSent(requests[0], {"content-type", "host"});
    const std::uint64_t sizes[] = {5 * kMiB, 5 * kMiB, kMiB + 5};
    std::uint64_t offset = 0;
    for (int part = 1; part <= 3; ++part) {
        const RecordedRequest& put = requests[part];
        SCOPED_TRACE(part);
        EXPECT_EQ(put.method, "PUT");
        // The upload id "up/1+x" is encoded in the query; the query is sorted.
        EXPECT_EQ(put.target, "/bucket/audio/big.wav?partNumber=" + std::to_string(part) + "&uploadId=up%2F1%2Bx");
        EXPECT_EQ(put.body.size(), sizes[part - 1]);
        EXPECT_TRUE(put.body == bytes_.substr(offset, sizes[part - 1]));
        EXPECT_EQ(put.Header("x-amz-content-sha256"), "UNSIGNED-PAYLOAD");
        offset += sizes[part - 1];
    }
    const RecordedRequest& complete = requests[4];
    EXPECT_EQ(complete.method, "POST");
    EXPECT_EQ(complete.target, "/bucket/audio/big.wav?uploadId=up%2F1%2Bx");
    EXPECT_EQ(complete.body,
              "<CompleteMultipartUpload>"
              "<Part><PartNumber>1</PartNumber><ETag>\"etag-1\"</ETag></Part>"
              "<Part><PartNumber>2</PartNumber><ETag>\"etag-2\"</ETag></Part>"
              "<Part><PartNumber>3</PartNumber><ETag>\"etag-3\"</ETag></Part>"
              "</CompleteMultipartUpload>");
    EXPECT_EQ(complete.Header("x-amz-content-sha256"), core::Sha256Hex(complete.body));
    EXPECT_EQ(complete.Header("content-type"), "application/xml");
    EXPECT_EQ(store->multipart_uploads(), 1u);
}

TEST_F(S3Multipart, FailingPartAbortsTheUploadAndNeverCompletes) {
    FakeHttpServer server(MultipartScript{.fail_part = 2});
    auto store = MustOpen(MultipartOptions(server.url()));
    auto put = store->PutFile("audio/big.wav", dir_.path() / "big", "audio/wav");
    ASSERT_FALSE(put);
    EXPECT_EQ(put.error().code, ErrorCode::kUnavailable);
    auto requests = server.requests();
    ASSERT_EQ(requests.size(), 4u);  // initiate, part 1, part 2 (fails), abort
    EXPECT_EQ(requests[3].method, "DELETE");
    EXPECT_EQ(requests[3].target, "/bucket/audio/big.wav?uploadId=up%2F1%2Bx");
    for (const auto& request : requests) {
        EXPECT_FALSE(request.method == "POST" && request.target.find("uploadId=") != std::string::npos)
            << "a failed upload must never be completed";
    }
    EXPECT_EQ(store->multipart_uploads(), 0u);
}

TEST_F(S3Multipart, CompletionThatAnswers200WithAnErrorIsAFailureAndAborts) {
    FakeHttpServer server(MultipartScript{.complete_with_error_body = true});
    auto store = MustOpen(MultipartOptions(server.url()));
    auto put = store->PutFile("audio/big.wav", dir_.path() / "big", "audio/wav");
    ASSERT_FALSE(put);
    EXPECT_EQ(put.error().code, ErrorCode::kUnavailable);
    auto requests = server.requests();
    ASSERT_FALSE(requests.empty());
    EXPECT_EQ(requests.back().method, "DELETE");
}

TEST_F(S3Multipart, FileAtTheThresholdIsASinglePut) {
    FakeHttpServer server([](const RecordedRequest&) { return Ok200(); });
    auto store = MustOpen(MultipartOptions(server.url()));
    std::string exact = PatternBytes(8 * kMiB);
    WriteFile(dir_.path() / "exact", exact);
    ASSERT_TRUE(store->PutFile("k", dir_.path() / "exact", "application/octet-stream"));
    ASSERT_EQ(server.requests().size(), 1u);
    EXPECT_EQ(server.requests()[0].method, "PUT");
    EXPECT_EQ(server.requests()[0].target, "/bucket/k");
}

TEST(S3Client, UnreachableEndpointIsUnavailable) {
    // A port that was free a moment ago and has no listener: connection refused.
    int port = 0;
    {
        FakeHttpServer probe([](const RecordedRequest&) { return CannedResponse{}; });
        port = probe.port();
    }
    auto store = MustOpen(Options("http://127.0.0.1:" + std::to_string(port)));
    auto head = store->Head("k");
    ASSERT_FALSE(head);
    EXPECT_EQ(head.error().code, ErrorCode::kUnavailable);
    EXPECT_EQ(head.error().ToString().find(kSecret), std::string::npos);
    auto put = store->PutBytes("k", "x", "text/plain");
    ASSERT_FALSE(put);
    EXPECT_EQ(put.error().code, ErrorCode::kUnavailable);
    auto got = GetAll(*store, "k");
    ASSERT_FALSE(got.info);
    EXPECT_EQ(got.info.error().code, ErrorCode::kUnavailable);
    auto check = store->Check();
    ASSERT_FALSE(check);
    EXPECT_EQ(check.error().code, ErrorCode::kUnavailable);
}

TEST(S3Client, ServerThatNeverAnswersTimesOutAsUnavailable) {
    FakeHttpServer server([](const RecordedRequest&) {
        CannedResponse never;
        never.hang = true;
        return never;
    });
    S3Options options = Options(server.url());
    options.request_timeout = std::chrono::seconds(1);
    auto store = MustOpen(options);
    auto start = std::chrono::steady_clock::now();
    auto head = store->Head("k");
    auto elapsed = std::chrono::steady_clock::now() - start;
    ASSERT_FALSE(head);
    EXPECT_EQ(head.error().code, ErrorCode::kUnavailable);
    EXPECT_LT(elapsed, std::chrono::seconds(5));
}

TEST(S3Client, StalledObjectTransferIsAbortedByTheLowSpeedLimit) {
    FakeHttpServer server([](const RecordedRequest&) {
        CannedResponse never;
        never.hang = true;
        return never;
    });
    S3Options options = Options(server.url());
    options.request_timeout = std::chrono::seconds(60);
    options.low_speed_time = std::chrono::seconds(1);
    auto store = MustOpen(options);
    auto start = std::chrono::steady_clock::now();
    auto got = GetAll(*store, "k");
    auto elapsed = std::chrono::steady_clock::now() - start;
    ASSERT_FALSE(got.info);
    EXPECT_EQ(got.info.error().code, ErrorCode::kUnavailable);
    EXPECT_LT(elapsed, std::chrono::seconds(10));
}

TEST(S3Client, FactoryMapsBucketsAndPublicUrlsFromTheConfig) {
    core::Config config;
    config.storage_kind = core::StorageKind::kS3;
    config.s3.endpoint_url = "https://acct.r2.cloudflarestorage.com";
    config.s3.access_key_id = "AKIDTEST";
    config.s3.secret_access_key = kSecret;
    config.s3.bucket = "plyr-audio";
    config.s3.image_bucket = "plyr-images";
    config.s3.public_bucket_url = "https://audio.cdn.example";
    config.s3.public_image_bucket_url = "https://images.cdn.example";
    auto audio = Open(config, Bucket::kAudio);
    auto images = Open(config, Bucket::kImages);
    auto gated = Open(config, Bucket::kPrivate);
    ASSERT_TRUE(audio && images && gated);
    EXPECT_EQ((*audio)->Url("audio/a.mp3", std::chrono::seconds(60)), "https://audio.cdn.example/audio/a.mp3");
    EXPECT_EQ((*images)->Url("images/a.png", std::chrono::seconds(60)), "https://images.cdn.example/images/a.png");
    // No private bucket configured: gated objects share R2_BUCKET but are only ever handed out presigned.
    auto gated_url = (*gated)->Url("audio/g.mp3", std::chrono::seconds(3600));
    ASSERT_TRUE(gated_url);
    EXPECT_TRUE(gated_url->starts_with("https://plyr-audio.acct.r2.cloudflarestorage.com/audio/g.mp3?X-Amz-"))
        << *gated_url;
    EXPECT_NE(gated_url->find("%2Fauto%2Fs3%2Faws4_request"), std::string::npos) << "R2 signs for region auto";
    EXPECT_FALSE((*audio)->LocalPath("audio/a.mp3"));
}

}  // namespace
}  // namespace plyr::storage::blobs
