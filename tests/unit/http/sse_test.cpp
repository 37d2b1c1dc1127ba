#include "http/sse.hpp"

#include <gtest/gtest.h>

namespace plyr::http {
namespace {

TEST(Sse, FormatsIdEventRetryAndData) {
    EXPECT_EQ(FormatSseEvent({"7", "progress", "{\"pct\":50}", 2000}),
              "id: 7\nevent: progress\nretry: 2000\ndata: {\"pct\":50}\n\n");
}

TEST(Sse, SplitsDataAtEveryLineBreakKind) {
    EXPECT_EQ(FormatSseEvent({{}, {}, "a\nb\r\nc\rd", {}}), "data: a\ndata: b\ndata: c\ndata: d\n\n");
    EXPECT_EQ(FormatSseEvent({{}, {}, "end\n", {}}), "data: end\ndata: \n\n");
}

TEST(Sse, EmptyDataStillDispatchesAnEvent) { EXPECT_EQ(FormatSseEvent({}), "data: \n\n"); }

TEST(Sse, LineBreaksCannotInjectFieldsThroughIdOrEventOrComment) {
    EXPECT_EQ(FormatSseEvent({"1\ndata: evil", "a\r\nid: 9", "x", {}}), "id: 1data: evil\nevent: aid: 9\ndata: x\n\n");
    EXPECT_EQ(FormatSseEvent({std::string("1\0"
                                          "2",
                                          3),
                              {},
                              "x",
                              {}}),
              "id: 12\ndata: x\n\n");
    EXPECT_EQ(FormatSseComment("ping\n\ndata: evil"), ": pingdata: evil\n\n");
    EXPECT_EQ(std::string(kSsePing), FormatSseComment("ping"));
}

TEST(Sse, ResponseCarriesTheSseHeadersAndAnEndlessChunkedStream) {
    Response response =
        SseResponse([]() -> boost::asio::awaitable<Result<std::optional<std::string>>> { co_return std::nullopt; });
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.headers.Get("Content-Type"), "text/event-stream");
    EXPECT_EQ(response.headers.Get("Cache-Control"), "no-store");
    EXPECT_EQ(response.headers.Get("X-Accel-Buffering"), "no");
    ASSERT_TRUE(response.stream.has_value());
    EXPECT_FALSE(response.stream->length.has_value());
    EXPECT_TRUE(response.stream->ends_on_shutdown);
    EXPECT_EQ(response.BodySize(), 0u);
}

TEST(Sse, LastEventIdIsADecimalCounter) {
    Request request;
    EXPECT_FALSE(LastEventId(request).has_value());
    request.headers.Set("Last-Event-ID", "42");
    EXPECT_EQ(LastEventId(request), 42u);
    for (const char* bad : {"", "-1", "4x", " 4", "0x10", "99999999999999999999", "9223372036854775808"}) {
        request.headers.Set("Last-Event-ID", bad);
        EXPECT_FALSE(LastEventId(request).has_value()) << bad;
    }
    request.headers.Set("Last-Event-ID", "9223372036854775807");
    EXPECT_EQ(LastEventId(request), 9223372036854775807u);
}

}  // namespace
}  // namespace plyr::http
