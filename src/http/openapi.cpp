#include "http/openapi.hpp"

#include <algorithm>

#include <boost/json/array.hpp>

#include "http/json.hpp"

namespace plyr::http::openapi {
namespace {

std::string Lower(std::string_view text) {
    std::string out(text);
    for (char& c : out) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    return out;
}

// "GET /tracks/{id}/likes" → "get_tracks_id_likes".
std::string DefaultOperationId(const RouteSpec& spec) {
    std::string out = Lower(spec.method);
    bool pending_separator = true;
    for (char c : spec.pattern) {
        bool word = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!word) {
            pending_separator = true;
            continue;
        }
        if (pending_separator) out += '_';
        pending_separator = false;
        out += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    }
    return out;
}

boost::json::object ParamObject(const ParamDoc& param) {
    boost::json::object out;
    out["name"] = param.name;
    out["in"] = param.in;
    if (!param.description.empty()) out["description"] = param.description;
    out["required"] = param.in == "path" ? true : param.required;
    out["schema"] = boost::json::object{{"type", param.type}};
    return out;
}

boost::json::object ResponseObject(const ResponseDoc& response) {
    boost::json::object out;
    std::string description =
        response.description.empty() ? std::string(StatusReason(response.status)) : response.description;
    out["description"] = description.empty() ? std::string("response") : description;
    if (!response.content_type.empty()) {
        boost::json::object schema;
        if (response.status >= 400 && IsJsonContentType(response.content_type)) {
            schema["$ref"] = "#/components/schemas/Error";
        }
        boost::json::object media;
        media["schema"] = std::move(schema);
        boost::json::object content;
        content[response.content_type] = std::move(media);
        out["content"] = std::move(content);
    }
    return out;
}

boost::json::object Operation(const Route& route) {
    const RouteSpec& spec = route.spec;
    const RouteDoc& doc = spec.doc;
    boost::json::object op;
    if (!doc.summary.empty()) op["summary"] = doc.summary;
    if (!doc.description.empty()) op["description"] = doc.description;
    if (!doc.tag.empty()) op["tags"] = boost::json::array{boost::json::value(doc.tag)};
    op["operationId"] = doc.operation_id.empty() ? DefaultOperationId(spec) : doc.operation_id;

    boost::json::array params;
    for (const std::string& name : route.param_names) {
        auto documented = std::find_if(doc.params.begin(), doc.params.end(),
                                       [&](const ParamDoc& p) { return p.in == "path" && p.name == name; });
        if (documented != doc.params.end()) {
            params.push_back(ParamObject(*documented));
        } else {
            ParamDoc implicit;
            implicit.name = name;
            implicit.in = "path";
            implicit.required = true;
            params.push_back(ParamObject(implicit));
        }
    }
    for (const ParamDoc& param : doc.params) {
        if (param.in == "path") continue;  // emitted above, in pattern order
        params.push_back(ParamObject(param));
    }
    if (!params.empty()) op["parameters"] = std::move(params);

    if (!doc.request_content_type.empty()) {
        boost::json::object content;
        content[doc.request_content_type] = boost::json::object{{"schema", boost::json::object{}}};
        op["requestBody"] = boost::json::object{{"required", true}, {"content", std::move(content)}};
    }

    boost::json::object responses;
    if (doc.responses.empty()) {
        responses["200"] = ResponseObject(ResponseDoc{});
    } else {
        for (const ResponseDoc& response : doc.responses) {
            responses[std::to_string(response.status)] = ResponseObject(response);
        }
    }
    op["responses"] = std::move(responses);
    return op;
}

boost::json::object ErrorSchema() {
    boost::json::object string_type{{"type", "string"}};
    boost::json::object properties;
    properties["error"] = string_type;
    properties["message"] = string_type;
    properties["detail"] = string_type;
    properties["field"] = string_type;
    boost::json::object schema;
    schema["type"] = "object";
    schema["required"] = boost::json::array{"error", "message", "detail"};
    schema["properties"] = std::move(properties);
    return schema;
}

}  // namespace

boost::json::object Build(const Router& router, const Info& info) {
    boost::json::object doc;
    doc["openapi"] = "3.1.0";
    boost::json::object info_object;
    info_object["title"] = info.title;
    info_object["version"] = info.version.empty() ? std::string("0") : info.version;
    if (!info.description.empty()) info_object["description"] = info.description;
    doc["info"] = std::move(info_object);
    if (!info.servers.empty()) {
        boost::json::array servers;
        for (const auto& url : info.servers) servers.push_back(boost::json::object{{"url", url}});
        doc["servers"] = std::move(servers);
    }
    boost::json::object paths;
    for (const auto& route : router.routes()) {
        if (route->spec.doc.hidden) continue;
        boost::json::value& item = paths[route->spec.pattern];
        if (!item.is_object()) item = boost::json::object{};
        item.as_object()[Lower(route->spec.method)] = Operation(*route);
    }
    doc["paths"] = std::move(paths);
    boost::json::object schemas;
    schemas["Error"] = ErrorSchema();
    doc["components"] = boost::json::object{{"schemas", std::move(schemas)}};
    return doc;
}

}  // namespace plyr::http::openapi
