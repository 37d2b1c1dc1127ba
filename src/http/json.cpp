#include "http/json.hpp"

#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

namespace plyr::http {

Response JsonResponse(int status, const boost::json::value& value) {
    Response response(status);
    response.headers.Set("Content-Type", kJsonContentType);
    response.body = boost::json::serialize(value);
    return response;
}

Response ErrorResponse(int status, std::string_view code, std::string_view message,
                       std::optional<std::string_view> field) {
    boost::json::object body;
    body["error"] = code;
    body["message"] = message;
    body["detail"] = code;
    if (field) body["field"] = *field;
    return JsonResponse(status, body);
}

bool IsJsonContentType(std::string_view content_type) {
    std::string_view media = content_type.substr(0, content_type.find(';'));
    while (!media.empty() && (media.back() == ' ' || media.back() == '\t')) media.remove_suffix(1);
    while (!media.empty() && (media.front() == ' ' || media.front() == '\t')) media.remove_prefix(1);
    return EqualsIgnoreCase(media, kJsonContentType);
}

tl::expected<boost::json::value, Response> ParseJsonBody(const Request& request, std::uint64_t max_bytes) {
    auto content_type = request.Header("Content-Type");
    if (!content_type || !IsJsonContentType(*content_type)) {
        return tl::unexpected(ErrorResponse(415, "unsupported_media_type", "content-type must be application/json"));
    }
    if (request.body.size() > max_bytes) {
        return tl::unexpected(ErrorResponse(413, "payload_too_large", "request body is too large"));
    }
    boost::system::error_code ec;
    boost::json::value value = boost::json::parse(request.body, ec);
    if (ec) return tl::unexpected(ErrorResponse(400, "invalid_json", "request body is not valid json"));
    return value;
}

std::string_view StatusReason(int status) {
    switch (status) {
        case 100:
            return "Continue";
        case 200:
            return "OK";
        case 201:
            return "Created";
        case 202:
            return "Accepted";
        case 204:
            return "No Content";
        case 206:
            return "Partial Content";
        case 301:
            return "Moved Permanently";
        case 302:
            return "Found";
        case 303:
            return "See Other";
        case 304:
            return "Not Modified";
        case 307:
            return "Temporary Redirect";
        case 308:
            return "Permanent Redirect";
        case 400:
            return "Bad Request";
        case 401:
            return "Unauthorized";
        case 402:
            return "Payment Required";
        case 403:
            return "Forbidden";
        case 404:
            return "Not Found";
        case 405:
            return "Method Not Allowed";
        case 408:
            return "Request Timeout";
        case 409:
            return "Conflict";
        case 410:
            return "Gone";
        case 411:
            return "Length Required";
        case 412:
            return "Precondition Failed";
        case 413:
            return "Content Too Large";
        case 415:
            return "Unsupported Media Type";
        case 416:
            return "Range Not Satisfiable";
        case 422:
            return "Unprocessable Content";
        case 428:
            return "Precondition Required";
        case 429:
            return "Too Many Requests";
        case 431:
            return "Request Header Fields Too Large";
        case 500:
            return "Internal Server Error";
        case 501:
            return "Not Implemented";
        case 502:
            return "Bad Gateway";
        case 503:
            return "Service Unavailable";
        case 504:
            return "Gateway Timeout";
        case 507:
            return "Insufficient Storage";
        default:
            return "";
    }
}

}  // namespace plyr::http
