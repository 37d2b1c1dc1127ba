#pragma once
// openapi::Build — an OpenAPI 3.1 document generated from the router, so the published API description
// cannot drift from the routes that exist. Routes with doc.hidden are left out; path parameters that a
// route does not document are added as required strings; error responses (status ≥ 400 with a JSON body)
// reference the shared Error schema of product.md §4.1. Pure; thread-safe on a const router.

#include <string>
#include <vector>

#include <boost/json/object.hpp>

#include "http/router.hpp"

namespace plyr::http::openapi {

struct Info {
    std::string title = "plyr";
    std::string version;
    std::string description;
    std::vector<std::string> servers;  // base URLs, e.g. PUBLIC_URL
};

boost::json::object Build(const Router& router, const Info& info);

}  // namespace plyr::http::openapi
