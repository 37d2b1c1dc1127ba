#include "http/openapi.hpp"

#include <gtest/gtest.h>
#include <boost/json/serialize.hpp>

namespace plyr::http {
namespace {

boost::asio::awaitable<Response> Noop(Request&) { co_return Response(200); }

TEST(OpenApi, DocumentsEveryVisibleRouteWithMetadata) {
    Router router;
    RouteDoc get_track;
    get_track.summary = "get a track";
    get_track.tag = "tracks";
    get_track.params.push_back(ParamDoc{"id", "path", "track id", true, "integer"});
    get_track.responses.push_back(ResponseDoc{200, "the track", "application/json"});
    get_track.responses.push_back(ResponseDoc{404, "", "application/json"});
    ASSERT_TRUE(router.Add("GET", "/tracks/{id}", Noop, get_track).has_value());

    RouteDoc like;
    like.summary = "like a track";
    like.tag = "likes";
    like.request_content_type = "application/json";
    like.params.push_back(ParamDoc{"cursor", "query", "", false, "string"});
    ASSERT_TRUE(router.Add("POST", "/tracks/{track_id}/like", Noop, like).has_value());

    RouteDoc hidden;
    hidden.hidden = true;
    ASSERT_TRUE(router.Add("GET", "/_debug", Noop, hidden).has_value());

    openapi::Info info;
    info.version = "1.2.3";
    info.servers = {"https://plyr.example"};
    boost::json::object doc = openapi::Build(router, info);

    EXPECT_EQ(doc.at("openapi").as_string(), "3.1.0");
    EXPECT_EQ(doc.at("info").at("version").as_string(), "1.2.3");
    EXPECT_EQ(doc.at("servers").at(0).at("url").as_string(), "https://plyr.example");
    const auto& paths = doc.at("paths").as_object();
    EXPECT_EQ(paths.size(), 2u);
    EXPECT_FALSE(paths.contains("/_debug"));

    const auto& get = paths.at("/tracks/{id}").at("get").as_object();
    EXPECT_EQ(get.at("summary").as_string(), "get a track");
    EXPECT_EQ(get.at("tags").at(0).as_string(), "tracks");
    EXPECT_EQ(get.at("operationId").as_string(), "get_tracks_id");
    EXPECT_EQ(get.at("parameters").at(0).at("schema").at("type").as_string(), "integer");
    EXPECT_EQ(get.at("parameters").at(0).at("required").as_bool(), true);
    EXPECT_EQ(get.at("responses").at("200").at("description").as_string(), "the track");
    EXPECT_EQ(get.at("responses").at("404").at("description").as_string(), "Not Found");
    EXPECT_EQ(get.at("responses").at("404").at("content").at("application/json").at("schema").at("$ref").as_string(),
              "#/components/schemas/Error");

    const auto& post = paths.at("/tracks/{track_id}/like").at("post").as_object();
    // The undocumented path parameter is added automatically, before query parameters.
    EXPECT_EQ(post.at("parameters").at(0).at("name").as_string(), "track_id");
    EXPECT_EQ(post.at("parameters").at(0).at("in").as_string(), "path");
    EXPECT_EQ(post.at("parameters").at(1).at("name").as_string(), "cursor");
    EXPECT_TRUE(post.at("requestBody").at("content").as_object().contains("application/json"));
    EXPECT_TRUE(post.at("responses").as_object().contains("200"));

    const auto& error = doc.at("components").at("schemas").at("Error").as_object();
    EXPECT_EQ(error.at("required").as_array().size(), 3u);
}

TEST(OpenApi, TwoMethodsOnOnePathShareThePathItem) {
    Router router;
    ASSERT_TRUE(router.Add("GET", "/lists/{id}", Noop).has_value());
    ASSERT_TRUE(router.Add("DELETE", "/lists/{id}", Noop).has_value());
    auto doc = openapi::Build(router, {});
    const auto& item = doc.at("paths").at("/lists/{id}").as_object();
    EXPECT_TRUE(item.contains("get"));
    EXPECT_TRUE(item.contains("delete"));
}

}  // namespace
}  // namespace plyr::http
