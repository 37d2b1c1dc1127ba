// ServeFile with explicit labels (FileServeOptions): the /audio and /images answers of product.md §6.6.
#include <fcntl.h>

#include <gtest/gtest.h>

#include "http/files.hpp"
#include "temp_dir.hpp"

namespace plyr::http {
namespace {

using testing::TempDir;

constexpr std::string_view kFileId = "0123456789abcdef";

class ServeMediaTest : public ::testing::Test {
  protected:
    void SetUp() override { path_ = dir_.Write(std::string(kFileId), std::string(1000, 'x')); }

    Response Serve(const Request& request) {
        UniqueFd fd(::open(path_.c_str(), O_RDONLY | O_CLOEXEC));
        EXPECT_TRUE(fd.valid());
        auto info = StatFile(fd.get());
        EXPECT_TRUE(info.has_value());
        etag_ = QuotedEtag(kFileId);
        FileServeOptions options;
        options.content_type = "audio/mpeg";
        options.cache_control = kImmutableCacheControl;
        options.etag = etag_;
        options.content_disposition = "inline";
        return ServeFile(request, std::move(fd), *info, options);
    }

    static Request Get(std::vector<std::pair<std::string, std::string>> headers = {}) {
        Request request;
        request.method = "GET";
        request.path = "/audio/" + std::string(kFileId);
        for (auto& [name, value] : headers) request.headers.Set(name, value);
        return request;
    }

    TempDir dir_;
    std::filesystem::path path_;
    std::string etag_;
};

TEST_F(ServeMediaTest, FullAnswerCarriesTheContentAddressedEtagAndInlineDisposition) {
    Response response = Serve(Get());
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.headers.Get("ETag"), "\"0123456789abcdef\"");
    EXPECT_EQ(response.headers.Get("Content-Disposition"), "inline");
    EXPECT_EQ(response.headers.Get("Content-Type"), "audio/mpeg");
    EXPECT_EQ(response.headers.Get("Cache-Control"), kImmutableCacheControl);
    EXPECT_EQ(response.headers.Get("Accept-Ranges"), "bytes");
    EXPECT_TRUE(response.headers.Has("Last-Modified"));
    ASSERT_TRUE(response.file.has_value());
    EXPECT_EQ(response.file->length, 1000u);
}

TEST_F(ServeMediaTest, IfNoneMatchWithTheFileIdIs304WithTheSameLabels) {
    for (std::string header : {"\"0123456789abcdef\"", "W/\"0123456789abcdef\"", "\"other\", \"0123456789abcdef\""}) {
        Response response = Serve(Get({{"If-None-Match", header}}));
        EXPECT_EQ(response.status, 304) << header;
        EXPECT_EQ(response.headers.Get("ETag"), "\"0123456789abcdef\"");
        EXPECT_EQ(response.headers.Get("Content-Disposition"), "inline");
        EXPECT_FALSE(response.file.has_value());
    }
    EXPECT_EQ(Serve(Get({{"If-None-Match", "\"0123456789abcdee\""}})).status, 200);
}

TEST_F(ServeMediaTest, IfRangeMustMatchTheFileIdToKeepTheRange) {
    Response kept = Serve(Get({{"Range", "bytes=100-199"}, {"If-Range", "\"0123456789abcdef\""}}));
    EXPECT_EQ(kept.status, 206);
    EXPECT_EQ(kept.headers.Get("Content-Range"), "bytes 100-199/1000");
    EXPECT_EQ(kept.headers.Get("Content-Disposition"), "inline");
    // The size-mtime validator plyr used before is not this file's ETag any more: full body.
    UniqueFd fd(::open(path_.c_str(), O_RDONLY | O_CLOEXEC));
    std::string old_etag = StrongEtag(*StatFile(fd.get()));
    Response stale = Serve(Get({{"Range", "bytes=100-199"}, {"If-Range", old_etag}}));
    EXPECT_EQ(stale.status, 200);
    EXPECT_EQ(Serve(Get({{"Range", "bytes=100-199"}, {"If-Range", "W/\"0123456789abcdef\""}})).status, 200);
}

TEST_F(ServeMediaTest, UnsatisfiableRangeIs416WithStarContentRange) {
    Response response = Serve(Get({{"Range", "bytes=1000-"}}));
    EXPECT_EQ(response.status, 416);
    EXPECT_EQ(response.headers.Get("Content-Range"), "bytes */1000");
}

TEST(StatFile, RefusesDirectoriesAndBadDescriptors) {
    TempDir dir;
    UniqueFd directory(::open(dir.path().c_str(), O_RDONLY | O_CLOEXEC | O_DIRECTORY));
    ASSERT_TRUE(directory.valid());
    auto info = StatFile(directory.get());
    ASSERT_FALSE(info.has_value());
    EXPECT_EQ(info.error().code, ErrorCode::kNotFound);
    EXPECT_FALSE(StatFile(-1).has_value());
    EXPECT_EQ(QuotedEtag("abc"), "\"abc\"");
}

}  // namespace
}  // namespace plyr::http
