#include "atproto/lexicon/catalog.hpp"

#include <algorithm>
#include <fstream>
#include <iterator>
#include <set>
#include <system_error>

#include <fmt/format.h>

namespace plyr::atproto::lexicon {
namespace fs = std::filesystem;

namespace {

Error WithOrigin(Error error, std::string_view origin) {
    if (!origin.empty()) error.message = fmt::format("{}: {}", origin, error.message);
    return error;
}

// Splits "nsid#name" (or "nsid") into its parts.
std::pair<std::string_view, std::string_view> SplitRef(std::string_view ref) {
    auto hash = ref.find('#');
    if (hash == std::string_view::npos) return {ref, "main"};
    return {ref.substr(0, hash), ref.substr(hash + 1)};
}

}  // namespace

Status Catalog::Add(Document document) {
    if (documents_.contains(document.id)) {
        return Fail(ErrorCode::kAlreadyExists, fmt::format("lexicon {} is defined twice", document.id));
    }
    std::string id = document.id;
    documents_.emplace(std::move(id), std::move(document));
    return Ok();
}

Status Catalog::AddJson(const boost::json::value& json, std::string_view origin) {
    auto doc = ParseLexiconDocument(json);
    if (!doc) return Fail(WithOrigin(std::move(doc.error()), origin));
    auto added = Add(std::move(*doc));
    if (!added) return Fail(WithOrigin(std::move(added.error()), origin));
    return Ok();
}

Status Catalog::AddJsonText(std::string_view json_text, std::string_view origin) {
    auto doc = ParseLexiconDocumentText(json_text);
    if (!doc) return Fail(WithOrigin(std::move(doc.error()), origin));
    auto added = Add(std::move(*doc));
    if (!added) return Fail(WithOrigin(std::move(added.error()), origin));
    return Ok();
}

const Document* Catalog::FindDocument(std::string_view nsid) const {
    auto it = documents_.find(nsid);
    return it == documents_.end() ? nullptr : &it->second;
}

const Def* Catalog::Find(std::string_view ref) const {
    auto [nsid, name] = SplitRef(ref);
    const Document* doc = FindDocument(nsid);
    if (doc == nullptr) return nullptr;
    auto it = doc->defs.find(std::string(name));
    return it == doc->defs.end() ? nullptr : it->second.get();
}

std::vector<std::string> Catalog::Nsids() const {
    std::vector<std::string> out;
    out.reserve(documents_.size());
    for (const auto& [id, doc] : documents_) out.push_back(id);
    return out;
}

std::vector<std::string> Catalog::UnresolvedRefs(std::string_view ref) const {
    std::set<std::string> missing;
    std::set<std::string> seen;
    std::vector<std::string> pending{std::string(ref)};
    // Collects the refs a def points at (through nested arrays/objects/bodies) into `pending`.
    auto collect = [&](auto& self, const Def& def) -> void {
        if (const auto* r = std::get_if<RefDef>(&def.v)) {
            pending.push_back(r->ref);
        } else if (const auto* u = std::get_if<UnionDef>(&def.v)) {
            pending.insert(pending.end(), u->refs.begin(), u->refs.end());
        } else if (const auto* a = std::get_if<ArrayDef>(&def.v)) {
            self(self, *a->items);
        } else if (const auto* o = std::get_if<ObjectDef>(&def.v)) {
            for (const auto& [name, prop] : o->properties) self(self, *prop);
        } else if (const auto* p = std::get_if<ParamsDef>(&def.v)) {
            for (const auto& [name, prop] : p->properties) self(self, *prop);
        } else if (const auto* rec = std::get_if<RecordDef>(&def.v)) {
            for (const auto& [name, prop] : rec->record.properties) self(self, *prop);
        } else if (const auto* q = std::get_if<QueryDef>(&def.v)) {
            if (q->output && q->output->schema) self(self, *q->output->schema);
        } else if (const auto* pr = std::get_if<ProcedureDef>(&def.v)) {
            if (pr->input && pr->input->schema) self(self, *pr->input->schema);
            if (pr->output && pr->output->schema) self(self, *pr->output->schema);
        } else if (const auto* s = std::get_if<SubscriptionDef>(&def.v)) {
            if (s->message) self(self, *s->message);
        }
    };
    while (!pending.empty()) {
        std::string next = std::move(pending.back());
        pending.pop_back();
        if (next.find('#') == std::string::npos) next += "#main";
        if (!seen.insert(next).second) continue;
        const Def* def = Find(next);
        if (def == nullptr) {
            missing.insert(next);
            continue;
        }
        collect(collect, *def);
    }
    return {missing.begin(), missing.end()};
}

Result<Catalog> LoadCatalog(const fs::path& root) {
    std::error_code ec;
    if (!fs::is_directory(root, ec)) {
        return Fail(ErrorCode::kNotFound, fmt::format("lexicon directory {} not found", root.string()),
                    ec ? ec.message() : std::string());
    }
    std::vector<fs::path> files;
    fs::recursive_directory_iterator it(root, ec), end;
    if (ec) return Fail(ErrorCode::kIo, fmt::format("cannot list {}", root.string()), ec.message());
    for (; it != end; it.increment(ec)) {
        if (ec) return Fail(ErrorCode::kIo, fmt::format("cannot list {}", root.string()), ec.message());
        if (it->path().extension() == ".json" && it->is_regular_file(ec)) files.push_back(it->path());
    }
    if (ec) return Fail(ErrorCode::kIo, fmt::format("cannot list {}", root.string()), ec.message());
    std::sort(files.begin(), files.end());

    Catalog catalog;
    for (const fs::path& file : files) {
        std::string origin = file.lexically_relative(root).generic_string();
        auto size = fs::file_size(file, ec);
        if (ec) return Fail(ErrorCode::kIo, fmt::format("{}: cannot read", origin), ec.message());
        if (size > kMaxLexiconFileBytes) {
            return Fail(ErrorCode::kTooLarge,
                        fmt::format("{}: lexicon file larger than {} bytes", origin, kMaxLexiconFileBytes));
        }
        std::ifstream in(file, std::ios::binary);
        if (!in.is_open()) return Fail(ErrorCode::kIo, fmt::format("{}: cannot open", origin));
        std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        if (in.bad()) return Fail(ErrorCode::kIo, fmt::format("{}: cannot read", origin));
        auto added = catalog.AddJsonText(text, origin);
        if (!added) {
            Error error = std::move(added.error());
            if (error.code == ErrorCode::kAlreadyExists) error.code = ErrorCode::kInvalidArgument;
            return Fail(std::move(error));
        }
    }
    return catalog;
}

}  // namespace plyr::atproto::lexicon
