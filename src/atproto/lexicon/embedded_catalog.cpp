#include <string>

#include <fmt/format.h>

#include "atproto/lexicon/embedded.hpp"
#include "atproto/syntax/syntax.hpp"

namespace plyr::atproto::lexicon {
namespace {

// Renames "fm.plyr." / "fm.plyr#" inside JSON string values. The default namespace only ever appears in ids and
// references of plyr's own documents, where it is always followed by '.' or '#'.
std::string RenameNamespace(std::string_view json, std::string_view app_namespace) {
    std::string out;
    out.reserve(json.size());
    const std::string from = "\"" + std::string(kDefaultAppNamespace);
    std::size_t pos = 0;
    while (true) {
        std::size_t hit = json.find(from, pos);
        if (hit == std::string_view::npos) break;
        std::size_t after = hit + from.size();
        bool boundary = after < json.size() && (json[after] == '.' || json[after] == '#' || json[after] == '"');
        out.append(json.substr(pos, hit - pos));
        if (boundary) {
            out += '"';
            out.append(app_namespace);
        } else {
            out.append(from);
        }
        pos = after;
    }
    out.append(json.substr(pos));
    return out;
}

}  // namespace

Result<Catalog> EmbeddedCatalog(std::string_view app_namespace) {
    bool rename = app_namespace != kDefaultAppNamespace;
    if (rename && !syntax::IsValidNsid(std::string(app_namespace) + ".track")) {
        return Fail(ErrorCode::kInvalidArgument, fmt::format("'{}' is not a valid record namespace", app_namespace));
    }
    Catalog catalog;
    for (const EmbeddedLexicon& lexicon : EmbeddedLexicons()) {
        bool own = lexicon.path.starts_with("fm/plyr/");
        Status added = rename && own ? catalog.AddJsonText(RenameNamespace(lexicon.json, app_namespace), lexicon.path)
                                     : catalog.AddJsonText(lexicon.json, lexicon.path);
        if (!added) return Fail(std::move(added.error()));
    }
    return catalog;
}

}  // namespace plyr::atproto::lexicon
