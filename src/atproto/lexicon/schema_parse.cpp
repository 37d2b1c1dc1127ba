// Strict lexicon document parser. Internally a SchemaError exception carries the def path up to
// ParseLexiconDocument, the module edge, where it becomes a Result.

#include <algorithm>
#include <initializer_list>
#include <limits>

#include <fmt/format.h>
#include <boost/json/parse.hpp>

#include "atproto/lexicon/schema.hpp"
#include "atproto/syntax/syntax.hpp"

namespace plyr::atproto::lexicon {
namespace json = boost::json;

bool ObjectDef::IsNullable(std::string_view name) const {
    return std::find(nullable.begin(), nullable.end(), name) != nullable.end();
}

std::string_view Def::TypeName() const {
    struct Namer {
        std::string_view operator()(const BooleanDef&) const { return "boolean"; }
        std::string_view operator()(const IntegerDef&) const { return "integer"; }
        std::string_view operator()(const StringDef&) const { return "string"; }
        std::string_view operator()(const BytesDef&) const { return "bytes"; }
        std::string_view operator()(const CidLinkDef&) const { return "cid-link"; }
        std::string_view operator()(const BlobDef&) const { return "blob"; }
        std::string_view operator()(const UnknownDef&) const { return "unknown"; }
        std::string_view operator()(const TokenDef&) const { return "token"; }
        std::string_view operator()(const RefDef&) const { return "ref"; }
        std::string_view operator()(const UnionDef&) const { return "union"; }
        std::string_view operator()(const ArrayDef&) const { return "array"; }
        std::string_view operator()(const ObjectDef&) const { return "object"; }
        std::string_view operator()(const ParamsDef&) const { return "params"; }
        std::string_view operator()(const RecordDef&) const { return "record"; }
        std::string_view operator()(const QueryDef&) const { return "query"; }
        std::string_view operator()(const ProcedureDef&) const { return "procedure"; }
        std::string_view operator()(const SubscriptionDef&) const { return "subscription"; }
        std::string_view operator()(const PermissionSetDef&) const { return "permission-set"; }
    };
    return std::visit(Namer{}, v);
}

Result<std::string> QualifyRef(std::string_view ref, std::string_view base_nsid) {
    auto hash = ref.find('#');
    std::string_view nsid = hash == std::string_view::npos ? ref : ref.substr(0, hash);
    std::string_view name = hash == std::string_view::npos ? std::string_view("main") : ref.substr(hash + 1);
    if (nsid.empty()) nsid = base_nsid;
    if (name.empty() || name.find('#') != std::string_view::npos || name.find('.') != std::string_view::npos) {
        return Fail(ErrorCode::kInvalidArgument, fmt::format("invalid lexicon ref \"{}\"", ref));
    }
    if (!syntax::IsValidNsid(nsid)) {
        return Fail(ErrorCode::kInvalidArgument, fmt::format("invalid lexicon ref \"{}\": not an NSID", ref));
    }
    return fmt::format("{}#{}", nsid, name);
}

namespace {

struct SchemaError {
    std::string message;
};

[[noreturn]] void Throw(const std::string& path, std::string_view what) {
    throw SchemaError{fmt::format("{}: {}", path, what)};
}

// Where a def appears decides which types it may have.
enum class Position {
    kTopLevel,
    kTopLevelMain,
    kProperty,
    kArrayItem,
    kParams,
    kParamsProperty,
    kParamsArrayItem,
    kBody
};

class Parser {
  public:
    explicit Parser(std::string base) : base_(std::move(base)) {}

    DefPtr ParseDef(const json::value& value, const std::string& path, Position position) {
        const json::object& obj = AsObject(value, path);
        const json::value* type_value = obj.if_contains("type");
        if (type_value == nullptr) Throw(path, "missing \"type\"");
        if (!type_value->is_string()) Throw(path, "\"type\" must be a string");
        std::string type(type_value->get_string());
        CheckTypeAllowed(type, path, position);

        auto def = std::make_shared<Def>();
        if (const json::value* d = obj.if_contains("description")) def->description = String(*d, path + ".description");

        if (type == "boolean") {
            CheckKeys(obj, path, {"default", "const"});
            BooleanDef b;
            b.default_value = OptBool(obj, "default", path);
            b.const_value = OptBool(obj, "const", path);
            if (b.default_value && b.const_value) Throw(path, "\"default\" and \"const\" are exclusive");
            def->v = b;
        } else if (type == "integer") {
            CheckKeys(obj, path, {"default", "minimum", "maximum", "enum", "const"});
            IntegerDef i;
            i.minimum = OptInt(obj, "minimum", path);
            i.maximum = OptInt(obj, "maximum", path);
            i.default_value = OptInt(obj, "default", path);
            i.const_value = OptInt(obj, "const", path);
            if (const json::value* e = obj.if_contains("enum")) {
                const json::array& arr = AsArray(*e, path + ".enum");
                for (std::size_t k = 0; k < arr.size(); ++k) {
                    i.enum_values.push_back(Int(arr[k], fmt::format("{}.enum[{}]", path, k)));
                }
            }
            if (i.minimum && i.maximum && *i.maximum < *i.minimum) Throw(path, "\"maximum\" < \"minimum\"");
            if (i.default_value && i.const_value) Throw(path, "\"default\" and \"const\" are exclusive");
            def->v = std::move(i);
        } else if (type == "string") {
            CheckKeys(obj, path,
                      {"format", "default", "minLength", "maxLength", "minGraphemes", "maxGraphemes", "enum", "const",
                       "knownValues"});
            StringDef s;
            if (const json::value* f = obj.if_contains("format")) {
                s.format = String(*f, path + ".format");
                static constexpr std::string_view kFormats[] = {"at-identifier", "at-uri", "cid",       "datetime",
                                                                "did",           "handle", "nsid",      "uri",
                                                                "language",      "tid",    "record-key"};
                if (std::find(std::begin(kFormats), std::end(kFormats), s.format) == std::end(kFormats)) {
                    Throw(path, fmt::format("unknown string format \"{}\"", s.format));
                }
            }
            s.min_length = OptLength(obj, "minLength", path);
            s.max_length = OptLength(obj, "maxLength", path);
            s.min_graphemes = OptLength(obj, "minGraphemes", path);
            s.max_graphemes = OptLength(obj, "maxGraphemes", path);
            CheckRange(s.min_length, s.max_length, path, "Length");
            CheckRange(s.min_graphemes, s.max_graphemes, path, "Graphemes");
            s.enum_values = OptStringArray(obj, "enum", path);
            s.known_values = OptStringArray(obj, "knownValues", path);
            if (const json::value* d = obj.if_contains("default")) s.default_value = String(*d, path + ".default");
            if (const json::value* c = obj.if_contains("const")) s.const_value = String(*c, path + ".const");
            if (s.default_value && s.const_value) Throw(path, "\"default\" and \"const\" are exclusive");
            def->v = std::move(s);
        } else if (type == "bytes") {
            CheckKeys(obj, path, {"minLength", "maxLength"});
            BytesDef b;
            b.min_length = OptLength(obj, "minLength", path);
            b.max_length = OptLength(obj, "maxLength", path);
            CheckRange(b.min_length, b.max_length, path, "Length");
            def->v = b;
        } else if (type == "cid-link") {
            CheckKeys(obj, path, {});
            def->v = CidLinkDef{};
        } else if (type == "blob") {
            CheckKeys(obj, path, {"accept", "maxSize"});
            BlobDef b;
            b.accept = OptStringArray(obj, "accept", path);
            for (const std::string& pattern : b.accept) CheckMimePattern(pattern, path);
            b.max_size = OptInt(obj, "maxSize", path);
            if (b.max_size && *b.max_size <= 0) Throw(path, "\"maxSize\" must be positive");
            def->v = std::move(b);
        } else if (type == "unknown") {
            CheckKeys(obj, path, {});
            def->v = UnknownDef{};
        } else if (type == "token") {
            CheckKeys(obj, path, {});
            def->v = TokenDef{};  // the full name is filled in by the document parser
        } else if (type == "ref") {
            CheckKeys(obj, path, {"ref"});
            const json::value* r = obj.if_contains("ref");
            if (r == nullptr) Throw(path, "missing \"ref\"");
            def->v = RefDef{Qualify(String(*r, path + ".ref"), path + ".ref")};
        } else if (type == "union") {
            CheckKeys(obj, path, {"refs", "closed"});
            UnionDef u;
            const json::value* r = obj.if_contains("refs");
            if (r == nullptr) Throw(path, "missing \"refs\"");
            const json::array& arr = AsArray(*r, path + ".refs");
            for (std::size_t k = 0; k < arr.size(); ++k) {
                std::string item_path = fmt::format("{}.refs[{}]", path, k);
                u.refs.push_back(Qualify(String(arr[k], item_path), item_path));
            }
            u.closed = OptBool(obj, "closed", path).value_or(false);
            def->v = std::move(u);
        } else if (type == "array") {
            CheckKeys(obj, path, {"items", "minLength", "maxLength"});
            ArrayDef a;
            const json::value* items = obj.if_contains("items");
            if (items == nullptr) Throw(path, "missing \"items\"");
            a.items =
                ParseDef(*items, path + ".items",
                         position == Position::kParamsProperty ? Position::kParamsArrayItem : Position::kArrayItem);
            a.min_length = OptLength(obj, "minLength", path);
            a.max_length = OptLength(obj, "maxLength", path);
            CheckRange(a.min_length, a.max_length, path, "Length");
            def->v = std::move(a);
        } else if (type == "object") {
            def->v = ParseObject(obj, path);
        } else if (type == "params") {
            CheckKeys(obj, path, {"required", "properties"});
            ParamsDef p;
            const json::value* props = obj.if_contains("properties");
            if (props == nullptr) Throw(path, "missing \"properties\"");
            p.properties = ParseProperties(*props, path + ".properties", Position::kParamsProperty);
            p.required = NamesIn(obj, "required", p.properties, path);
            def->v = std::move(p);
        } else if (type == "record") {
            CheckKeys(obj, path, {"key", "record"});
            RecordDef r;
            if (const json::value* k = obj.if_contains("key")) {
                r.key = String(*k, path + ".key");
                CheckRecordKeyType(r.key, path + ".key");
            }
            const json::value* rec = obj.if_contains("record");
            if (rec == nullptr) Throw(path, "missing \"record\"");
            const json::object& rec_obj = AsObject(*rec, path + ".record");
            const json::value* rec_type = rec_obj.if_contains("type");
            if (rec_type == nullptr || !rec_type->is_string() || rec_type->get_string() != "object") {
                Throw(path + ".record", "must be a def of type \"object\"");
            }
            r.record = ParseObject(rec_obj, path + ".record");
            def->v = std::move(r);
        } else if (type == "query") {
            CheckKeys(obj, path, {"parameters", "output", "errors"});
            QueryDef q;
            q.parameters = OptParams(obj, path);
            q.output = OptBody(obj, "output", path);
            q.errors = Errors(obj, path);
            def->v = std::move(q);
        } else if (type == "procedure") {
            CheckKeys(obj, path, {"parameters", "input", "output", "errors"});
            ProcedureDef p;
            p.parameters = OptParams(obj, path);
            p.input = OptBody(obj, "input", path);
            p.output = OptBody(obj, "output", path);
            p.errors = Errors(obj, path);
            def->v = std::move(p);
        } else if (type == "subscription") {
            CheckKeys(obj, path, {"parameters", "message", "errors"});
            SubscriptionDef s;
            s.parameters = OptParams(obj, path);
            if (const json::value* m = obj.if_contains("message")) {
                const json::object& msg = AsObject(*m, path + ".message");
                CheckKeys(msg, path + ".message", {"schema"}, /*has_type=*/false);
                if (const json::value* schema = msg.if_contains("schema")) {
                    s.message = ParseDef(*schema, path + ".message.schema", Position::kBody);
                }
            }
            s.errors = Errors(obj, path);
            def->v = std::move(s);
        } else if (type == "permission-set") {
            def->v = ParsePermissionSet(obj, path);
        } else {
            Throw(path, fmt::format("unknown def type \"{}\"", type));
        }
        return def;
    }

  private:
    void CheckTypeAllowed(const std::string& type, const std::string& path, Position position) {
        static const std::vector<std::string_view> kKnown = {
            "boolean", "integer", "string", "bytes",     "cid-link",     "blob",
            "unknown", "token",   "ref",    "union",     "array",        "object",
            "params",  "record",  "query",  "procedure", "subscription", "permission-set"};
        if (std::find(kKnown.begin(), kKnown.end(), type) == kKnown.end()) {
            Throw(path, fmt::format("unknown def type \"{}\"", type));
        }
        auto one_of = [&](std::initializer_list<std::string_view> allowed) {
            return std::find(allowed.begin(), allowed.end(), type) != allowed.end();
        };
        bool ok = false;
        switch (position) {
            case Position::kTopLevelMain:
                ok = one_of({"record", "query", "procedure", "subscription", "permission-set"});
                [[fallthrough]];
            case Position::kTopLevel:
                ok = ok ||
                     one_of({"object", "array", "token", "string", "integer", "boolean", "bytes", "cid-link", "blob"});
                if (!ok && one_of({"record", "query", "procedure", "subscription", "permission-set"})) {
                    Throw(path, fmt::format("a \"{}\" def must be named \"main\"", type));
                }
                break;
            case Position::kProperty:
            case Position::kArrayItem:
                ok = one_of({"boolean", "integer", "string", "unknown", "bytes", "cid-link", "ref", "union", "blob",
                             "object"}) ||
                     (position == Position::kProperty && type == "array");
                break;
            case Position::kParams:
                ok = type == "params";
                break;
            case Position::kParamsProperty:
                ok = one_of({"boolean", "integer", "string", "unknown", "array"});
                break;
            case Position::kParamsArrayItem:
                ok = one_of({"boolean", "integer", "string", "unknown"});
                break;
            case Position::kBody:
                ok = one_of({"object", "ref", "union"});
                break;
        }
        if (!ok) Throw(path, fmt::format("a \"{}\" def is not allowed here", type));
    }

    ObjectDef ParseObject(const json::object& obj, const std::string& path) {
        CheckKeys(obj, path, {"required", "nullable", "properties"});
        ObjectDef o;
        const json::value* props = obj.if_contains("properties");
        if (props == nullptr) Throw(path, "missing \"properties\"");
        o.properties = ParseProperties(*props, path + ".properties", Position::kProperty);
        o.required = NamesIn(obj, "required", o.properties, path);
        o.nullable = NamesIn(obj, "nullable", o.properties, path);
        return o;
    }

    std::map<std::string, DefPtr> ParseProperties(const json::value& value, const std::string& path,
                                                  Position position) {
        std::map<std::string, DefPtr> out;
        for (const auto& [name, prop] : AsObject(value, path)) {
            std::string prop_path = fmt::format("{}.{}", path, std::string_view(name));
            if (name.empty()) Throw(path, "empty property name");
            out.emplace(std::string(name), ParseDef(prop, prop_path, position));
        }
        return out;
    }

    std::vector<std::string> NamesIn(const json::object& obj, std::string_view key,
                                     const std::map<std::string, DefPtr>& properties, const std::string& path) {
        std::vector<std::string> names = OptStringArray(obj, key, path);
        for (const std::string& name : names) {
            if (!properties.contains(name)) {
                Throw(fmt::format("{}.{}", path, key), fmt::format("\"{}\" is not a property", name));
            }
        }
        return names;
    }

    std::optional<ParamsDef> OptParams(const json::object& obj, const std::string& path) {
        const json::value* p = obj.if_contains("parameters");
        if (p == nullptr) return std::nullopt;
        DefPtr def = ParseDef(*p, path + ".parameters", Position::kParams);
        return std::get<ParamsDef>(def->v);
    }

    std::optional<BodyDef> OptBody(const json::object& obj, std::string_view key, const std::string& path) {
        const json::value* b = obj.if_contains(key);
        if (b == nullptr) return std::nullopt;
        std::string body_path = fmt::format("{}.{}", path, key);
        const json::object& body = AsObject(*b, body_path);
        CheckKeys(body, body_path, {"encoding", "schema"}, /*has_type=*/false);
        BodyDef out;
        const json::value* enc = body.if_contains("encoding");
        if (enc == nullptr) Throw(body_path, "missing \"encoding\"");
        out.encoding = String(*enc, body_path + ".encoding");
        if (const json::value* schema = body.if_contains("schema")) {
            out.schema = ParseDef(*schema, body_path + ".schema", Position::kBody);
        }
        return out;
    }

    std::vector<XrpcErrorDef> Errors(const json::object& obj, const std::string& path) {
        std::vector<XrpcErrorDef> out;
        const json::value* e = obj.if_contains("errors");
        if (e == nullptr) return out;
        const json::array& arr = AsArray(*e, path + ".errors");
        for (std::size_t k = 0; k < arr.size(); ++k) {
            std::string item_path = fmt::format("{}.errors[{}]", path, k);
            const json::object& err = AsObject(arr[k], item_path);
            CheckKeys(err, item_path, {"name"}, /*has_type=*/false);
            const json::value* name = err.if_contains("name");
            if (name == nullptr) Throw(item_path, "missing \"name\"");
            out.push_back(XrpcErrorDef{String(*name, item_path + ".name")});
        }
        return out;
    }

    PermissionSetDef ParsePermissionSet(const json::object& obj, const std::string& path) {
        CheckKeys(obj, path, {"title", "title:lang", "detail", "detail:lang", "permissions"});
        PermissionSetDef p;
        if (const json::value* t = obj.if_contains("title")) p.title = String(*t, path + ".title");
        if (const json::value* d = obj.if_contains("detail")) p.detail = String(*d, path + ".detail");
        p.title_lang = LangMap(obj, "title:lang", path);
        p.detail_lang = LangMap(obj, "detail:lang", path);
        const json::value* perms = obj.if_contains("permissions");
        if (perms == nullptr) Throw(path, "missing \"permissions\"");
        const json::array& arr = AsArray(*perms, path + ".permissions");
        for (std::size_t k = 0; k < arr.size(); ++k) {
            std::string item_path = fmt::format("{}.permissions[{}]", path, k);
            const json::object& perm = AsObject(arr[k], item_path);
            const json::value* type = perm.if_contains("type");
            if (type == nullptr || !type->is_string() || type->get_string() != "permission") {
                Throw(item_path, "\"type\" must be \"permission\"");
            }
            const json::value* resource = perm.if_contains("resource");
            if (resource == nullptr) Throw(item_path, "missing \"resource\"");
            Permission out;
            out.resource = String(*resource, item_path + ".resource");
            if (out.resource.empty()) Throw(item_path + ".resource", "must not be empty");
            for (const auto& [key, value] : perm) {
                if (key != "type" && key != "resource") out.params.emplace(key, value);
            }
            p.permissions.push_back(std::move(out));
        }
        return p;
    }

    std::map<std::string, std::string> LangMap(const json::object& obj, std::string_view key, const std::string& path) {
        std::map<std::string, std::string> out;
        const json::value* v = obj.if_contains(key);
        if (v == nullptr) return out;
        std::string map_path = fmt::format("{}.{}", path, key);
        for (const auto& [lang, text] : AsObject(*v, map_path)) {
            if (!syntax::IsValidLanguage(lang)) Throw(map_path, fmt::format("\"{}\" is not a language tag", lang));
            out.emplace(std::string(lang), String(text, fmt::format("{}.{}", map_path, std::string_view(lang))));
        }
        return out;
    }

    std::string Qualify(const std::string& ref, const std::string& path) {
        auto qualified = QualifyRef(ref, base_);
        if (!qualified) Throw(path, qualified.error().message);
        return std::move(*qualified);
    }

    static void CheckRecordKeyType(const std::string& key, const std::string& path) {
        if (key == "tid" || key == "nsid" || key == "any") return;
        constexpr std::string_view kLiteral = "literal:";
        if (key.starts_with(kLiteral) && syntax::IsValidRecordKey(std::string_view(key).substr(kLiteral.size()))) {
            return;
        }
        Throw(path, fmt::format("invalid record key type \"{}\"", key));
    }

    static void CheckMimePattern(const std::string& pattern, const std::string& path) {
        auto slash = pattern.find('/');
        bool ok = slash != std::string::npos && slash > 0 && slash + 1 < pattern.size() &&
                  pattern.find('/', slash + 1) == std::string::npos;
        if (ok && pattern.substr(0, slash) == "*") ok = pattern == "*/*";
        if (ok) {
            std::string_view sub = std::string_view(pattern).substr(slash + 1);
            auto star = sub.find('*');
            ok = star == std::string_view::npos || sub == "*";
        }
        if (!ok) Throw(path + ".accept", fmt::format("invalid MIME pattern \"{}\"", pattern));
    }

    static void CheckRange(const std::optional<std::int64_t>& min, const std::optional<std::int64_t>& max,
                           const std::string& path, std::string_view what) {
        if (min && max && *max < *min) Throw(path, fmt::format("\"max{}\" < \"min{}\"", what, what));
    }

    static void CheckKeys(const json::object& obj, const std::string& path,
                          std::initializer_list<std::string_view> keys, bool has_type = true) {
        for (const auto& [key, value] : obj) {
            if (has_type && (key == "type" || key == "description")) continue;
            if (!has_type && key == "description") {
                if (!value.is_string()) Throw(path + ".description", "must be a string");
                continue;
            }
            if (std::find(keys.begin(), keys.end(), std::string_view(key)) == keys.end()) {
                Throw(path, fmt::format("unknown key \"{}\"", std::string_view(key)));
            }
        }
    }

    static const json::object& AsObject(const json::value& v, const std::string& path) {
        if (!v.is_object()) Throw(path, "must be a JSON object");
        return v.get_object();
    }
    static const json::array& AsArray(const json::value& v, const std::string& path) {
        if (!v.is_array()) Throw(path, "must be a JSON array");
        return v.get_array();
    }
    static std::string String(const json::value& v, const std::string& path) {
        if (!v.is_string()) Throw(path, "must be a string");
        return std::string(v.get_string());
    }
    static std::int64_t Int(const json::value& v, const std::string& path) {
        if (v.is_int64()) return v.get_int64();
        if (v.is_uint64() && v.get_uint64() <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
            return static_cast<std::int64_t>(v.get_uint64());
        }
        Throw(path, "must be an integer");
    }
    static std::optional<std::int64_t> OptInt(const json::object& obj, std::string_view key, const std::string& path) {
        const json::value* v = obj.if_contains(key);
        if (v == nullptr) return std::nullopt;
        return Int(*v, fmt::format("{}.{}", path, key));
    }
    static std::optional<std::int64_t> OptLength(const json::object& obj, std::string_view key,
                                                 const std::string& path) {
        auto v = OptInt(obj, key, path);
        if (v && *v < 0) Throw(fmt::format("{}.{}", path, key), "must not be negative");
        return v;
    }
    static std::optional<bool> OptBool(const json::object& obj, std::string_view key, const std::string& path) {
        const json::value* v = obj.if_contains(key);
        if (v == nullptr) return std::nullopt;
        if (!v->is_bool()) Throw(fmt::format("{}.{}", path, key), "must be a boolean");
        return v->get_bool();
    }
    static std::vector<std::string> OptStringArray(const json::object& obj, std::string_view key,
                                                   const std::string& path) {
        std::vector<std::string> out;
        const json::value* v = obj.if_contains(key);
        if (v == nullptr) return out;
        std::string arr_path = fmt::format("{}.{}", path, key);
        const json::array& arr = AsArray(*v, arr_path);
        for (std::size_t k = 0; k < arr.size(); ++k) out.push_back(String(arr[k], fmt::format("{}[{}]", arr_path, k)));
        return out;
    }

    std::string base_;
};

Document ParseDocumentOrThrow(const json::value& value) {
    if (!value.is_object()) Throw("document", "must be a JSON object");
    const json::object& obj = value.get_object();
    for (const auto& [key, item] : obj) {
        (void)item;
        // "$type" appears when the document was published as a com.atproto.lexicon.schema record (§5.4).
        if (key != "lexicon" && key != "id" && key != "revision" && key != "description" && key != "defs" &&
            key != "$type") {
            Throw("document", fmt::format("unknown key \"{}\"", std::string_view(key)));
        }
    }
    const json::value* version = obj.if_contains("lexicon");
    bool version_one = version != nullptr && ((version->is_int64() && version->get_int64() == 1) ||
                                              (version->is_uint64() && version->get_uint64() == 1));
    if (!version_one) Throw("lexicon", "must be the integer 1 (lexicon language version)");
    Document doc;
    const json::value* id = obj.if_contains("id");
    if (id == nullptr || !id->is_string()) Throw("id", "must be a string");
    doc.id = std::string(id->get_string());
    if (!syntax::IsValidNsid(doc.id)) Throw("id", fmt::format("\"{}\" is not a valid NSID", doc.id));
    if (const json::value* rev = obj.if_contains("revision")) {
        if (!rev->is_int64()) Throw("revision", "must be an integer");
        doc.revision = rev->get_int64();
    }
    if (const json::value* d = obj.if_contains("description")) {
        if (!d->is_string()) Throw("description", "must be a string");
        doc.description = std::string(d->get_string());
    }
    const json::value* defs = obj.if_contains("defs");
    if (defs == nullptr || !defs->is_object()) Throw("defs", "must be a JSON object");
    Parser parser(doc.id);
    for (const auto& [name_sv, def_json] : defs->get_object()) {
        std::string name(name_sv);
        std::string path = "defs." + name;
        if (name.empty() || name.find('#') != std::string::npos || name.find('.') != std::string::npos) {
            Throw("defs", fmt::format("invalid def name \"{}\"", name));
        }
        DefPtr def = parser.ParseDef(def_json, path, name == "main" ? Position::kTopLevelMain : Position::kTopLevel);
        if (std::holds_alternative<TokenDef>(def->v)) {
            auto token = std::make_shared<Def>(*def);
            std::get<TokenDef>(token->v).full_name = fmt::format("{}#{}", doc.id, name);
            def = std::move(token);
        }
        doc.defs.emplace(std::move(name), std::move(def));
    }
    return doc;
}

}  // namespace

Result<Document> ParseLexiconDocument(const json::value& json) {
    try {
        return ParseDocumentOrThrow(json);
    } catch (const SchemaError& e) {
        return Fail(ErrorCode::kInvalidArgument, "invalid lexicon: " + e.message);
    }
}

Result<Document> ParseLexiconDocumentText(std::string_view json_text) {
    std::error_code ec;
    json::value parsed = json::parse(json_text, ec);
    if (ec) return Fail(ErrorCode::kInvalidArgument, "invalid lexicon: not JSON", ec.message());
    return ParseLexiconDocument(parsed);
}

}  // namespace plyr::atproto::lexicon
