// Streamed response bodies (StreamBody, SSE) over a real server on 127.0.0.1:0.
#include <atomic>
#include <memory>
#include <thread>

#include <gtest/gtest.h>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>

#include "http/server.hpp"
#include "http/sse.hpp"
#include "server_fixture.hpp"

namespace plyr::http {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using testing::RawResponse;
using testing::RequestText;
using testing::ServerTest;
using testing::TestConnection;
using Chunk = Result<std::optional<std::string>>;

// What a producer observed; shared between the test thread and the server's strand.
struct Probe {
    std::atomic<int> calls{0};
    std::atomic<bool> destroyed{false};  // the StreamBody (and so `next`'s captures) is gone
    std::atomic<bool> aborted{false};    // a pending wait completed with operation_aborted
    std::atomic<bool> release{false};    // the test lets a gated producer continue
};

// Lives in `next`'s captures: its destruction is how the producer learns that the stream is over.
struct Sentinel {
    explicit Sentinel(std::shared_ptr<Probe> p) : probe(std::move(p)) {}
    ~Sentinel() { probe->destroyed = true; }
    std::shared_ptr<Probe> probe;
};

asio::awaitable<void> Wait(std::chrono::milliseconds delay, Probe& probe) {
    asio::steady_timer timer(co_await asio::this_coro::executor, delay);
    try {
        co_await timer.async_wait(asio::use_awaitable);
    } catch (const boost::system::system_error& e) {
        if (e.code() == asio::error::operation_aborted) probe.aborted = true;
        throw;
    }
}

// Yields `chunks` in order, `delay` apart, then ends (or fails with `error_at_end`).
StreamNext Sequence(std::shared_ptr<Probe> probe, std::vector<std::string> chunks,
                    std::chrono::milliseconds delay = 0ms, bool error_at_end = false) {
    auto sentinel = std::make_shared<Sentinel>(probe);
    auto index = std::make_shared<std::size_t>(0);
    return [sentinel, index, chunks = std::move(chunks), delay, error_at_end]() -> asio::awaitable<Chunk> {
        Probe& p = *sentinel->probe;
        ++p.calls;
        if (delay.count() > 0) co_await Wait(delay, p);
        if (*index < chunks.size()) co_return chunks[(*index)++];
        if (error_at_end) co_return Fail(ErrorCode::kUnavailable, "upstream failed");
        co_return std::nullopt;
    };
}

// One chunk, then waits (polling `release`, at most 30 s) before ending.
StreamNext Gated(std::shared_ptr<Probe> probe, std::string first) {
    auto sentinel = std::make_shared<Sentinel>(probe);
    auto sent = std::make_shared<bool>(false);
    return [sentinel, sent, first]() -> asio::awaitable<Chunk> {
        Probe& p = *sentinel->probe;
        ++p.calls;
        if (!*sent) {
            *sent = true;
            co_return first;
        }
        try {
            for (int i = 0; i < 3000 && !p.release; ++i) co_await Wait(10ms, p);
        } catch (const boost::system::system_error& e) {
            // The cancellation may also land between two waits: then the next co_await throws it.
            if (e.code() == asio::error::operation_aborted) p.aborted = true;
            throw;
        }
        co_return std::nullopt;
    };
}

// Decodes a chunked body from the connection; nullopt when the stream breaks before the last-chunk (the
// chunks decoded until then go to `partial`).
std::optional<std::string> ReadChunked(TestConnection& connection, std::string* partial = nullptr,
                                       std::chrono::milliseconds timeout = 5s) {
    std::string local;
    std::string& body = partial != nullptr ? *partial : local;
    std::string& buffer = connection.buffered();
    while (true) {
        std::size_t line_end;
        while ((line_end = buffer.find("\r\n")) == std::string::npos) {
            if (!connection.ReadMore(timeout)) return std::nullopt;
        }
        std::size_t size = std::stoul(buffer.substr(0, line_end), nullptr, 16);
        while (buffer.size() < line_end + 2 + size + 2) {
            if (!connection.ReadMore(timeout)) return std::nullopt;
        }
        body += buffer.substr(line_end + 2, size);
        if (buffer.substr(line_end + 2 + size, 2) != "\r\n") return std::nullopt;
        buffer.erase(0, line_end + 2 + size + 2);
        if (size == 0) return body;
    }
}

// Polls a condition set by the server's threads (bounded).
template <typename Condition>
bool Eventually(Condition condition, std::chrono::milliseconds limit = 5s) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
        if (condition()) return true;
        std::this_thread::sleep_for(5ms);
    }
    return condition();
}

class StreamServerTest : public ServerTest {
  protected:
    // GET /stream answers with make_response() each time.
    void StartWith(std::function<Response()> make_response, ServerOptions options = testing::FastOptions()) {
        Router router;
        ASSERT_TRUE(router
                        .Add("GET", "/stream",
                             [make_response](Request&) -> asio::awaitable<Response> { co_return make_response(); })
                        .has_value());
        ASSERT_TRUE(router
                        .Add("GET", "/plain",
                             [](Request&) -> asio::awaitable<Response> {
                                 Response response(200);
                                 response.body = "plain";
                                 co_return response;
                             })
                        .has_value());
        StartServer(std::move(router), std::move(options));
    }

    std::shared_ptr<Probe> probe_ = std::make_shared<Probe>();
};

TEST_F(StreamServerTest, SseEventsArriveChunkedWithSseHeadersAndTheConnectionIsReusedAfterwards) {
    auto probe = probe_;
    StartWith([probe] {
        return SseResponse(Sequence(probe, {FormatSseEvent({"1", {}, "{\"phase\":\"queued\"}", {}}),
                                            std::string(kSsePing), FormatSseEvent({"2", {}, "{\"done\":true}", {}})}));
    });
    TestConnection connection(port_);
    ASSERT_TRUE(connection.Send(RequestText("GET", "/stream")));
    auto head = connection.ReadResponse();
    ASSERT_TRUE(head.has_value());
    EXPECT_EQ(head->status, 200);
    EXPECT_EQ(head->Header("Content-Type"), "text/event-stream");
    EXPECT_EQ(head->Header("Cache-Control"), "no-store");
    EXPECT_EQ(head->Header("X-Accel-Buffering"), "no");
    EXPECT_EQ(head->Header("Transfer-Encoding"), "chunked");
    EXPECT_FALSE(head->Header("Content-Length").has_value());
    auto body = ReadChunked(connection);
    ASSERT_TRUE(body.has_value());
    EXPECT_EQ(*body, "id: 1\ndata: {\"phase\":\"queued\"}\n\n: ping\n\nid: 2\ndata: {\"done\":true}\n\n");
    EXPECT_EQ(probe->calls.load(), 4);  // three chunks and the end

    ASSERT_TRUE(connection.Send(RequestText("GET", "/plain")));
    auto next = connection.ReadResponse();
    ASSERT_TRUE(next.has_value());
    EXPECT_EQ(next->body, "plain");
    EXPECT_TRUE(Eventually([&] { return probe->destroyed.load(); }));
}

TEST_F(StreamServerTest, EachChunkIsSentBeforeTheProducerIsAskedForTheNext) {
    auto probe = probe_;
    StartWith([probe] { return SseResponse(Gated(probe, FormatSseEvent({"1", {}, "first", {}}))); });
    TestConnection connection(port_);
    ASSERT_TRUE(connection.Send(RequestText("GET", "/stream")));
    ASSERT_TRUE(connection.ReadResponse().has_value());
    // The first event is readable while the producer is still holding back the end.
    while (connection.buffered().find("data: first\n\n") == std::string::npos) {
        ASSERT_TRUE(connection.ReadMore(5s));
    }
    EXPECT_FALSE(probe->release.load());
    probe->release = true;
    auto body = ReadChunked(connection);
    ASSERT_TRUE(body.has_value());
    EXPECT_EQ(*body, "id: 1\ndata: first\n\n");
}

TEST_F(StreamServerTest, APipelinedRequestIsServedAfterTheStreamEnds) {
    auto probe = probe_;
    StartWith([probe] { return SseResponse(Sequence(probe, {"one", "two", "three"}, 30ms)); });
    TestConnection connection(port_);
    // Both requests at once: the second must neither end the stream (it is data, not EOF) nor be lost.
    ASSERT_TRUE(connection.Send(RequestText("GET", "/stream") + RequestText("GET", "/plain")));
    ASSERT_TRUE(connection.ReadResponse().has_value());
    auto body = ReadChunked(connection);
    ASSERT_TRUE(body.has_value());
    EXPECT_EQ(*body, "onetwothree");
    auto next = connection.ReadResponse();
    ASSERT_TRUE(next.has_value());
    EXPECT_EQ(next->body, "plain");
}

TEST_F(StreamServerTest, IdleAndHeaderTimeoutsDoNotCutALiveStream) {
    auto options = testing::FastOptions();
    options.header_timeout = 100ms;
    options.idle_timeout = 100ms;
    options.body_timeout = 100ms;
    auto probe = probe_;
    StartWith([probe] { return SseResponse(Sequence(probe, {"a", "b", "c", "d", "e"}, 80ms)); }, options);
    TestConnection connection(port_);
    ASSERT_TRUE(connection.Send(RequestText("GET", "/stream")));
    ASSERT_TRUE(connection.ReadResponse().has_value());
    auto body = ReadChunked(connection);  // ~480 ms in total, several times every timeout
    ASSERT_TRUE(body.has_value());
    EXPECT_EQ(*body, "abcde");
}

TEST_F(StreamServerTest, AClientThatGoesAwayEndsThePendingProducerPromptly) {
    auto probe = probe_;
    StartWith([probe] { return SseResponse(Gated(probe, "hello\n\n")); });
    {
        TestConnection connection(port_);
        ASSERT_TRUE(connection.Send(RequestText("GET", "/stream")));
        ASSERT_TRUE(connection.ReadResponse().has_value());
        while (connection.buffered().find("hello") == std::string::npos) ASSERT_TRUE(connection.ReadMore(5s));
    }  // closed while the producer waits for `release` (up to 30 s)
    EXPECT_TRUE(Eventually([&] { return probe->destroyed.load(); }, 3s));
    EXPECT_TRUE(probe->aborted.load());  // its pending timer wait was cancelled
    EXPECT_FALSE(probe->release.load());
}

TEST_F(StreamServerTest, AClientThatStopsReadingIsCutByTheWriteTimeout) {
    auto options = testing::FastOptions();
    options.write_timeout = 300ms;
    auto probe = probe_;
    StartWith(
        [probe] {
            auto sentinel = std::make_shared<Sentinel>(probe);
            Response response(200);
            response.stream = StreamBody{[sentinel]() -> asio::awaitable<Chunk> {
                                             ++sentinel->probe->calls;
                                             co_return std::string(1 << 20, 'x');  // endless megabytes
                                         },
                                         std::nullopt, false};
            return response;
        },
        options);
    TestConnection connection(port_);
    ASSERT_TRUE(connection.Send(RequestText("GET", "/stream")));
    // Never read: socket buffers fill, the chunk write makes no progress, write_timeout closes the connection.
    EXPECT_TRUE(Eventually([&] { return probe->destroyed.load(); }, 5s));
    EXPECT_LT(probe->calls.load(), 200);
}

TEST_F(StreamServerTest, AKnownLengthStreamSendsContentLengthAndNoChunking) {
    auto probe = probe_;
    StartWith([probe] {
        Response response(200);
        response.headers.Set("Content-Type", "audio/mpeg");
        response.stream = StreamBody{Sequence(probe, {"0123", "", "456789"}), 10, false};
        return response;
    });
    TestConnection connection(port_);
    ASSERT_TRUE(connection.Send(RequestText("GET", "/stream")));
    auto response = connection.ReadResponse();
    ASSERT_TRUE(response.has_value());
    EXPECT_EQ(response->Header("Content-Length"), "10");
    EXPECT_FALSE(response->Header("Transfer-Encoding").has_value());
    EXPECT_EQ(response->body, "0123456789");
    // Keep-alive: the connection serves another request.
    ASSERT_TRUE(connection.Send(RequestText("GET", "/plain")));
    auto next = connection.ReadResponse();
    ASSERT_TRUE(next.has_value());
    EXPECT_EQ(next->body, "plain");
}

TEST_F(StreamServerTest, AKnownLengthStreamThatEndsShortAbortsTheConnection) {
    auto probe = probe_;
    StartWith([probe] {
        Response response(200);
        response.stream = StreamBody{Sequence(probe, {"0123"}), 10, false};
        return response;
    });
    TestConnection connection(port_);
    ASSERT_TRUE(connection.Send(RequestText("GET", "/stream")));
    EXPECT_TRUE(connection.WaitClosed(5s));
    auto& bytes = connection.buffered();
    EXPECT_NE(bytes.find("Content-Length: 10"), std::string::npos);
    EXPECT_TRUE(bytes.ends_with("\r\n\r\n0123"));
}

TEST_F(StreamServerTest, AKnownLengthStreamThatRunsLongAbortsBeforeSendingTheExcess) {
    auto probe = probe_;
    StartWith([probe] {
        Response response(200);
        response.stream = StreamBody{Sequence(probe, {"0123", "456789"}), 5, false};
        return response;
    });
    TestConnection connection(port_);
    ASSERT_TRUE(connection.Send(RequestText("GET", "/stream")));
    EXPECT_TRUE(connection.WaitClosed(5s));
    EXPECT_TRUE(connection.buffered().ends_with("\r\n\r\n0123"));
}

TEST_F(StreamServerTest, AProducerErrorAbortsTheChunkedBodyWithoutTheLastChunk) {
    auto probe = probe_;
    StartWith([probe] { return SseResponse(Sequence(probe, {"partial"}, 0ms, true)); });
    TestConnection connection(port_);
    ASSERT_TRUE(connection.Send(RequestText("GET", "/stream")));
    ASSERT_TRUE(connection.ReadResponse().has_value());
    std::string partial;
    EXPECT_FALSE(ReadChunked(connection, &partial).has_value());
    EXPECT_EQ(partial, "partial");
    EXPECT_TRUE(connection.buffered().empty());  // no last-chunk followed
    EXPECT_TRUE(Eventually([&] { return probe->destroyed.load(); }));
}

TEST_F(StreamServerTest, AProducerExceptionAbortsTheConnection) {
    StartWith([] {
        Response response(200);
        response.stream = StreamBody{[]() -> asio::awaitable<Chunk> {
                                         throw std::runtime_error("producer blew up");
                                         co_return std::nullopt;
                                     },
                                     std::nullopt, false};
        return response;
    });
    TestConnection connection(port_);
    ASSERT_TRUE(connection.Send(RequestText("GET", "/stream")));
    ASSERT_TRUE(connection.ReadResponse().has_value());
    EXPECT_FALSE(ReadChunked(connection).has_value());
    EXPECT_TRUE(connection.WaitClosed(1s) || connection.buffered().empty());
}

TEST_F(StreamServerTest, HeadAndNotModifiedNeverCallTheProducer) {
    auto probe = probe_;
    StartWith([probe] {
        auto response = SseResponse(Sequence(probe, {"never"}));
        return response;
    });
    auto head = Fetch(RequestText("HEAD", "/stream"), true);
    ASSERT_TRUE(head.has_value());
    EXPECT_EQ(head->status, 200);
    EXPECT_EQ(head->Header("Content-Type"), "text/event-stream");
    EXPECT_FALSE(head->Header("Transfer-Encoding").has_value());
    EXPECT_TRUE(head->body.empty());
    EXPECT_EQ(probe->calls.load(), 0);
    EXPECT_TRUE(Eventually([&] { return probe->destroyed.load(); }));
}

TEST_F(StreamServerTest, NotModifiedStatusSendsNoBodyFromAStream) {
    auto probe = probe_;
    StartWith([probe] {
        Response response(304);
        response.stream = StreamBody{Sequence(probe, {"never"}), 5, false};
        return response;
    });
    TestConnection connection(port_);
    ASSERT_TRUE(connection.Send(RequestText("GET", "/stream")));
    auto response = connection.ReadResponse();
    ASSERT_TRUE(response.has_value());
    EXPECT_EQ(response->status, 304);
    EXPECT_FALSE(response->Header("Content-Length").has_value());
    ASSERT_TRUE(connection.Send(RequestText("GET", "/plain")));
    auto next = connection.ReadResponse();
    ASSERT_TRUE(next.has_value());
    EXPECT_EQ(next->body, "plain");
    EXPECT_EQ(probe->calls.load(), 0);
}

TEST_F(StreamServerTest, Http10GetsACloseDelimitedBody) {
    auto probe = probe_;
    StartWith([probe] { return SseResponse(Sequence(probe, {"one ", "two"})); });
    TestConnection connection(port_);
    ASSERT_TRUE(connection.Send("GET /stream HTTP/1.0\r\nHost: test\r\n\r\n"));
    EXPECT_TRUE(connection.WaitClosed(5s));
    auto& bytes = connection.buffered();
    EXPECT_EQ(bytes.find("Transfer-Encoding"), std::string::npos);
    EXPECT_EQ(bytes.find("Content-Length"), std::string::npos);
    EXPECT_TRUE(bytes.ends_with("\r\n\r\none two")) << bytes;
}

TEST_F(StreamServerTest, GracefulStopEndsAnSseStreamCleanlyAndAtOnce) {
    auto options = testing::FastOptions();
    options.shutdown_grace = 10s;
    auto probe = probe_;
    StartWith([probe] { return SseResponse(Gated(probe, "data: x\n\n")); }, options);
    TestConnection connection(port_);
    ASSERT_TRUE(connection.Send(RequestText("GET", "/stream")));
    ASSERT_TRUE(connection.ReadResponse().has_value());
    while (connection.buffered().find("data: x") == std::string::npos) ASSERT_TRUE(connection.ReadMore(5s));

    auto started = std::chrono::steady_clock::now();
    server_->Stop();
    EXPECT_LT(std::chrono::steady_clock::now() - started, 3s);  // not the 10 s grace
    auto body = ReadChunked(connection);
    ASSERT_TRUE(body.has_value());  // ended with the last-chunk: a clean end the client can reconnect after
    EXPECT_EQ(*body, "data: x\n\n");
    EXPECT_TRUE(connection.WaitClosed(2s));
    EXPECT_TRUE(probe->destroyed.load());
    EXPECT_FALSE(probe->release.load());
}

TEST_F(StreamServerTest, MetricsCountStreamedPayloadBytes) {
    auto probe = probe_;
    StartWith([probe] { return SseResponse(Sequence(probe, {"12345", "67890", "abc"})); });
    TestConnection connection(port_);
    ASSERT_TRUE(connection.Send(RequestText("GET", "/stream")));
    ASSERT_TRUE(connection.ReadResponse().has_value());
    ASSERT_TRUE(ReadChunked(connection).has_value());
    EXPECT_TRUE(Eventually([&] {
        std::string text = metrics_.RenderPrometheus();
        return text.find("plyr_http_response_bytes_total 13\n") != std::string::npos &&
               text.find("plyr_http_requests_total{method=\"GET\",route=\"/stream\",status=\"200\"} 1") !=
                   std::string::npos;
    })) << metrics_.RenderPrometheus();
}

}  // namespace
}  // namespace plyr::http
