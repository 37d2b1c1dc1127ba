// ReadMultipart behind a real stream_body route (127.0.0.1:0): the upload handler's shape — files staged
// to a temp dir through net::Offload, deleted on any failure.
#include <atomic>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>

#include <gtest/gtest.h>
#include <boost/json/parse.hpp>

#include "core/encoding.hpp"
#include "http/json.hpp"
#include "http/multipart.hpp"
#include "server_fixture.hpp"

namespace plyr::http {
namespace {

using namespace std::chrono_literals;
using testing::FastOptions;
using testing::RequestText;
using testing::TestConnection;

constexpr std::string_view kBoundary = "----plyrBoundary7MA4YWxk";
constexpr std::uint64_t kCap = 2 * 1024 * 1024;

struct Shared {
    std::filesystem::path dir;
    net::BlockingPool pool{2};
    std::promise<MultipartError> failure;  // the handler's last error, for tests that cannot see the answer
    std::atomic<bool> failure_set{false};
};

// Stages file parts as dir/<part index>.part; hashes them on the way.
class StagingSink final : public MultipartSink {
  public:
    explicit StagingSink(Shared& shared) : shared_(shared) {}
    ~StagingSink() override {
        if (out_.is_open()) out_.close();
    }

    boost::json::object fields;
    boost::json::object files;
    std::vector<std::filesystem::path> staged;

    boost::asio::awaitable<MultipartStatus> OnFileBegin(const PartInfo& part) override {
        staged.push_back(shared_.dir / (std::to_string(part.index) + ".part"));
        bytes_ = 0;
        sha_.emplace();
        bool opened = co_await net::Offload(shared_.pool, [this] {
            out_.open(staged.back(), std::ios::binary | std::ios::trunc);
            return out_.is_open();
        });
        if (!opened) co_return MultipartFail(500, "internal_error", "cannot stage");
        co_return MultipartStatus{};
    }
    boost::asio::awaitable<MultipartStatus> OnFileChunk(std::span<const char> chunk) override {
        sha_->Update(std::string_view(chunk.data(), chunk.size()));
        bytes_ += chunk.size();
        bool ok = co_await net::Offload(shared_.pool, [this, chunk] {
            out_.write(chunk.data(), static_cast<std::streamsize>(chunk.size()));
            return out_.good();
        });
        if (!ok) co_return tl::unexpected<MultipartError>(MultipartErrorFrom(Error{ErrorCode::kStorageFull, "", ""}));
        co_return MultipartStatus{};
    }
    boost::asio::awaitable<MultipartStatus> OnFileEnd(const PartInfo& part) override {
        co_await net::Offload(shared_.pool, [this] { out_.close(); });
        auto digest = sha_->Finish();
        boost::json::object file;
        file["filename"] = *part.filename;
        file["bytes"] = bytes_;
        file["sha256"] = core::HexEncode(std::string_view(reinterpret_cast<const char*>(digest.data()), digest.size()));
        files[part.name] = file;
        co_return MultipartStatus{};
    }
    boost::asio::awaitable<MultipartStatus> OnField(const PartInfo& part, std::string value) override {
        fields[part.name] = value;
        co_return MultipartStatus{};
    }

  private:
    Shared& shared_;
    std::ofstream out_;
    std::uint64_t bytes_ = 0;
    std::optional<core::Sha256Stream> sha_;
};

Handler UploadHandler(std::shared_ptr<Shared> shared) {
    return [shared](Request& request) -> boost::asio::awaitable<Response> {
        StagingSink sink(*shared);
        MultipartLimits limits;
        limits.max_body_bytes = kCap;
        MultipartReadOptions options;
        options.chunk_bytes = 256 * 1024;
        auto status = co_await ReadMultipart(request, limits, sink, options);
        if (!status) {
            // The handler owns cleanup: nothing staged survives a failed upload.
            co_await net::Offload(shared->pool, [&sink] {
                for (const auto& path : sink.staged) std::filesystem::remove(path);
            });
            if (!shared->failure_set.exchange(true)) shared->failure.set_value(status.error());
            co_return MultipartErrorResponse(status.error());
        }
        boost::json::object body;
        body["fields"] = sink.fields;
        body["files"] = sink.files;
        co_return JsonResponse(200, body);
    };
}

class MultipartServerTest : public testing::ServerTest {
  protected:
    void SetUp() override {
        ServerTest::SetUp();
        shared_ = std::make_shared<Shared>();
        shared_->dir =
            std::filesystem::temp_directory_path() / ("plyr_mp_server_" + std::to_string(::getpid()) + "_" +
                                                      ::testing::UnitTest::GetInstance()->current_test_info()->name());
        std::filesystem::create_directories(shared_->dir);
        Router router;
        RouteSpec upload;
        upload.method = "POST";
        upload.pattern = "/tracks/";
        upload.handler = UploadHandler(shared_);
        upload.body_limit = kCap + (1 << 20);
        upload.stream_body = true;
        EXPECT_TRUE(router.Add(std::move(upload)).has_value());
        StartServer(std::move(router));
    }
    void TearDown() override {
        ServerTest::TearDown();
        std::filesystem::remove_all(shared_->dir);
    }

    bool StagingEmpty() const { return std::filesystem::is_empty(shared_->dir); }

    static std::string Part(std::string_view headers, std::string_view content) {
        return "--" + std::string(kBoundary) + "\r\n" + std::string(headers) + "\r\n\r\n" + std::string(content) +
               "\r\n";
    }
    static std::string Close() { return "--" + std::string(kBoundary) + "--\r\n"; }
    static std::string ContentType() { return "Content-Type: multipart/form-data; boundary=" + std::string(kBoundary); }

    static std::string Chunked(std::string_view body) {
        std::string text;
        for (std::size_t at = 0; at < body.size(); at += 50000) {
            std::size_t n = std::min<std::size_t>(50000, body.size() - at);
            char line[32];
            std::snprintf(line, sizeof line, "%zx\r\n", n);
            text += line;
            text.append(body.substr(at, n));
            text += "\r\n";
        }
        return text + "0\r\n\r\n";
    }

    std::shared_ptr<Shared> shared_;
};

TEST_F(MultipartServerTest, ChunkedUploadIsStagedIntactWithItsFields) {
    std::string audio(1500 * 1024 + 3, '\0');
    for (std::size_t i = 0; i < audio.size(); ++i) audio[i] = static_cast<char>((i * 131) & 0xff);
    audio += "\r\n--" + std::string(kBoundary).substr(0, 12);
    std::string body = "ignored preamble\r\n" + Part("Content-Disposition: form-data; name=\"title\"", "Night Drive") +
                       Part(
                           "Content-Disposition: form-data; name=\"file\"; filename=\"night.wav\"\r\n"
                           "Content-Type: audio/wav",
                           audio) +
                       Close();
    TestConnection connection(port_);
    ASSERT_TRUE(connection.Send("POST /tracks/ HTTP/1.1\r\nHost: t\r\n" + ContentType() +
                                "\r\nTransfer-Encoding: chunked\r\n\r\n" + Chunked(body)));
    auto response = connection.ReadResponse();
    ASSERT_TRUE(response);
    ASSERT_EQ(response->status, 200) << response->body;
    auto json = boost::json::parse(response->body);
    EXPECT_EQ(json.at("fields").at("title").as_string(), "Night Drive");
    EXPECT_EQ(json.at("files").at("file").at("filename").as_string(), "night.wav");
    EXPECT_EQ(json.at("files").at("file").at("bytes").as_int64(), static_cast<std::int64_t>(audio.size()));
    EXPECT_EQ(json.at("files").at("file").at("sha256").as_string(), core::Sha256Hex(audio));
    // The whole body (epilogue included) was read, so the connection stays usable.
    ASSERT_TRUE(connection.Send(RequestText("POST", "/tracks/", {ContentType(), "Content-Length: 0"})));
    auto next = connection.ReadResponse();
    ASSERT_TRUE(next);
    EXPECT_EQ(next->status, 400);
    EXPECT_EQ(boost::json::parse(next->body).at("error").as_string(), "malformed_multipart");
}

TEST_F(MultipartServerTest, MissingBoundaryIsMalformedMultipart) {
    std::string body = Part("Content-Disposition: form-data; name=\"title\"", "x") + Close();
    auto response =
        Fetch(RequestText("POST", "/tracks/",
                          {"Content-Type: multipart/form-data", "Content-Length: " + std::to_string(body.size())}) +
              body);
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 400);
    EXPECT_EQ(boost::json::parse(response->body).at("error").as_string(), "malformed_multipart");
}

TEST_F(MultipartServerTest, UnterminatedBodyIsMalformedAndLeavesNothingStaged) {
    std::string body =
        Part("Content-Disposition: form-data; name=\"file\"; filename=\"a.mp3\"", std::string(5000, 'a'));
    auto response = Fetch(
        RequestText("POST", "/tracks/", {ContentType(), "Content-Length: " + std::to_string(body.size())}) + body);
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 400);
    EXPECT_EQ(boost::json::parse(response->body).at("error").as_string(), "malformed_multipart");
    EXPECT_TRUE(StagingEmpty());
}

TEST_F(MultipartServerTest, ChunkedBodyGrowingPastTheCapIs413AndLeavesNothingStaged) {
    std::string head = Part("Content-Disposition: form-data; name=\"file\"; filename=\"big.wav\"", "");
    head.resize(head.size() - 2);  // the file content continues past the part head
    TestConnection connection(port_);
    ASSERT_TRUE(connection.Send("POST /tracks/ HTTP/1.1\r\nHost: t\r\n" + ContentType() +
                                "\r\nTransfer-Encoding: chunked\r\n\r\n" +
                                Chunked(head).substr(0, Chunked(head).size() - 5)));
    std::string chunk(256 * 1024, 'w');
    for (int i = 0; i < 12; ++i) {  // 3 MiB of file against a 2 MiB cap; the server may stop reading
        if (!connection.Send("40000\r\n" + chunk + "\r\n")) break;
    }
    auto response = connection.ReadResponse();
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 413);
    EXPECT_EQ(boost::json::parse(response->body).at("error").as_string(), "file_too_large");
    EXPECT_TRUE(connection.WaitClosed(3s));
    EXPECT_TRUE(StagingEmpty());
}

TEST_F(MultipartServerTest, ClientDisconnectMidTransferLeavesNothingStaged) {
    auto failure = shared_->failure.get_future();
    {
        TestConnection connection(port_);
        std::string head = Part("Content-Disposition: form-data; name=\"file\"; filename=\"a.mp3\"", "");
        head.resize(head.size() - 2);
        ASSERT_TRUE(connection.Send("POST /tracks/ HTTP/1.1\r\nHost: t\r\n" + ContentType() +
                                    "\r\nContent-Length: 1000000\r\n\r\n" + head + std::string(300000, 'a')));
    }
    ASSERT_EQ(failure.wait_for(5s), std::future_status::ready);
    MultipartError error = failure.get();
    EXPECT_EQ(error.cause, ErrorCode::kIo) << error.code << " " << error.detail;
    EXPECT_TRUE(StagingEmpty());
}

}  // namespace
}  // namespace plyr::http
