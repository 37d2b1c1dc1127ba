#include "http/json.hpp"

#include <gtest/gtest.h>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

namespace plyr::http {
namespace {

Request JsonRequest(std::string body, std::string content_type = "application/json") {
    Request request;
    request.method = "POST";
    if (!content_type.empty()) request.headers.Set("Content-Type", content_type);
    request.body = std::move(body);
    return request;
}

TEST(JsonHelpers, JsonResponseSerializesWithContentType) {
    Response response = JsonResponse(201, boost::json::object{{"id", 7}});
    EXPECT_EQ(response.status, 201);
    EXPECT_EQ(response.headers.Get("Content-Type"), "application/json");
    EXPECT_EQ(response.body, R"({"id":7})");
}

TEST(JsonHelpers, ErrorResponseHasExactlyTheProductShape) {
    Response response = ErrorResponse(404, "not_found", "track not found");
    EXPECT_EQ(response.status, 404);
    EXPECT_EQ(response.body, R"({"error":"not_found","message":"track not found","detail":"not_found"})");
}

TEST(JsonHelpers, ErrorResponseAddsFieldForValidationErrors) {
    Response response = ErrorResponse(400, "invalid_title", "title is required", "title");
    auto value = boost::json::parse(response.body).as_object();
    EXPECT_EQ(value.size(), 4u);
    EXPECT_EQ(value.at("field").as_string(), "title");
    EXPECT_EQ(value.at("detail").as_string(), "invalid_title");
}

TEST(JsonHelpers, ParseJsonBodyAcceptsJsonWithCharset) {
    auto parsed = ParseJsonBody(JsonRequest(R"({"a":[1,2]})", "Application/JSON; charset=utf-8"));
    ASSERT_TRUE(parsed.has_value());
    EXPECT_EQ(parsed->at("a").as_array().size(), 2u);
}

TEST(JsonHelpers, ParseJsonBodyRejectsOtherContentTypesWith415) {
    for (const char* type : {"text/plain", "application/jsonx", "multipart/form-data", ""}) {
        auto parsed = ParseJsonBody(JsonRequest("{}", type));
        ASSERT_FALSE(parsed.has_value()) << type;
        EXPECT_EQ(parsed.error().status, 415);
        EXPECT_EQ(boost::json::parse(parsed.error().body).at("error").as_string(), "unsupported_media_type");
    }
}

TEST(JsonHelpers, ParseJsonBodyRejectsBodiesOverTheLimitWith413) {
    std::string big = "[" + std::string(5 * 1024 * 1024, ' ') + "]";
    auto parsed = ParseJsonBody(JsonRequest(big));
    ASSERT_FALSE(parsed.has_value());
    EXPECT_EQ(parsed.error().status, 413);
    EXPECT_EQ(boost::json::parse(parsed.error().body).at("error").as_string(), "payload_too_large");
    EXPECT_FALSE(ParseJsonBody(JsonRequest("[1,2,3]"), 3).has_value());
}

TEST(JsonHelpers, ParseJsonBodyRejectsInvalidJsonWith400) {
    for (const char* body : {"{", "{\"a\":1,}", "[1] [2]", "", "\"\xff\"", "{'a':1}", "// c\n{}"}) {
        auto parsed = ParseJsonBody(JsonRequest(body));
        ASSERT_FALSE(parsed.has_value()) << body;
        EXPECT_EQ(parsed.error().status, 400) << body;
        EXPECT_EQ(boost::json::parse(parsed.error().body).at("error").as_string(), "invalid_json");
    }
}

}  // namespace
}  // namespace plyr::http
