#pragma once
// Parsed Lexicon schema definitions (atproto.md §5.1; spec "lexicon").
//
// What: an immutable, typed form of one lexicon document, produced by ParseLexiconDocument from JSON. Parsing
// is strict: `lexicon` must be 1, `id` a valid NSID, every def must have a known type and only the keys that
// type allows, numbers must be integers, min ≤ max, lengths ≥ 0, string formats known, refs syntactically
// valid, `required`/`nullable` names must be properties, primary types (record, query, procedure,
// subscription, permission-set) only as `main`, and top-level defs may not be `ref`, `union`, `unknown`,
// `params` or `permission` (the interop vectors require this). Refs are stored fully qualified
// (`nsid#name`, `#main` added) and are NOT resolved here: a document may reference lexicons that are not
// loaded (the catalog decides at validation time).
// Query/procedure/subscription and permission-set defs are parsed and kept but only records are validated.
//
// Errors: kInvalidArgument with a message naming the offending def path (e.g. `defs.main.record.properties.x:
// unknown key "maxSize"`). Thread-safety: plain immutable values after parsing; nested defs are shared
// (shared_ptr<const Def>), so copies are cheap and concurrent reads are safe.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <boost/json/value.hpp>

#include "core/result.hpp"

namespace plyr::atproto::lexicon {

struct Def;
using DefPtr = std::shared_ptr<const Def>;

struct BooleanDef {
    std::optional<bool> default_value;
    std::optional<bool> const_value;
};

struct IntegerDef {
    std::optional<std::int64_t> minimum;
    std::optional<std::int64_t> maximum;
    std::vector<std::int64_t> enum_values;  // empty = no enum
    std::optional<std::int64_t> default_value;
    std::optional<std::int64_t> const_value;
};

struct StringDef {
    std::string format;                      // empty = none
    std::optional<std::int64_t> min_length;  // UTF-8 bytes
    std::optional<std::int64_t> max_length;
    std::optional<std::int64_t> min_graphemes;  // extended grapheme clusters
    std::optional<std::int64_t> max_graphemes;
    std::vector<std::string> enum_values;   // closed set (empty = none)
    std::vector<std::string> known_values;  // open set: documentation only, never a constraint
    std::optional<std::string> default_value;
    std::optional<std::string> const_value;
};

struct BytesDef {
    std::optional<std::int64_t> min_length;
    std::optional<std::int64_t> max_length;
};

struct CidLinkDef {};

struct BlobDef {
    std::vector<std::string> accept;  // MIME patterns: exact, `type/*` or `*/*`; empty = any
    std::optional<std::int64_t> max_size;
};

struct UnknownDef {};

struct TokenDef {
    std::string full_name;  // "nsid#name": the only string value a ref to this token accepts
};

struct RefDef {
    std::string ref;  // fully qualified "nsid#name"
};

struct UnionDef {
    std::vector<std::string> refs;  // fully qualified "nsid#name"
    bool closed = false;
};

struct ArrayDef {
    DefPtr items;
    std::optional<std::int64_t> min_length;
    std::optional<std::int64_t> max_length;
};

struct ObjectDef {
    std::map<std::string, DefPtr> properties;
    std::vector<std::string> required;
    std::vector<std::string> nullable;

    bool IsNullable(std::string_view name) const;
};

struct ParamsDef {
    std::map<std::string, DefPtr> properties;  // boolean, integer, string, unknown, or arrays of those
    std::vector<std::string> required;
};

struct RecordDef {
    std::string key;  // "tid" | "nsid" | "any" | "literal:<rkey>" | "" (unspecified)
    ObjectDef record;
};

struct BodyDef {
    std::string encoding;
    DefPtr schema;  // object, ref or union; null when absent
};

struct XrpcErrorDef {
    std::string name;
};

struct QueryDef {
    std::optional<ParamsDef> parameters;
    std::optional<BodyDef> output;
    std::vector<XrpcErrorDef> errors;
};

struct ProcedureDef {
    std::optional<ParamsDef> parameters;
    std::optional<BodyDef> input;
    std::optional<BodyDef> output;
    std::vector<XrpcErrorDef> errors;
};

struct SubscriptionDef {
    std::optional<ParamsDef> parameters;
    DefPtr message;  // object, ref or union; null when absent
    std::vector<XrpcErrorDef> errors;
};

struct Permission {
    std::string resource;        // "repo", "rpc", "blob", "account", "identity", …
    boost::json::object params;  // every other key as written (collection, action, lxm, aud, …)
};

struct PermissionSetDef {
    std::string title;
    std::string detail;
    std::map<std::string, std::string> title_lang;  // language tag → text
    std::map<std::string, std::string> detail_lang;
    std::vector<Permission> permissions;
};

struct Def {
    using Variant = std::variant<BooleanDef, IntegerDef, StringDef, BytesDef, CidLinkDef, BlobDef, UnknownDef, TokenDef,
                                 RefDef, UnionDef, ArrayDef, ObjectDef, ParamsDef, RecordDef, QueryDef, ProcedureDef,
                                 SubscriptionDef, PermissionSetDef>;
    Variant v;
    std::string description;

    std::string_view TypeName() const;  // the lexicon "type" string ("record", "cid-link", …)
};

// One lexicon document.
struct Document {
    std::string id;  // NSID
    std::optional<std::int64_t> revision;
    std::string description;
    std::map<std::string, DefPtr> defs;  // by def name ("main", "featuredArtist", …)
};

// Parses and checks one lexicon document (strict; see the header comment).
Result<Document> ParseLexiconDocument(const boost::json::value& json);
Result<Document> ParseLexiconDocumentText(std::string_view json_text);

// Splits a reference as written inside document `base_nsid` into its fully qualified form "nsid#name":
// "#name" → base#name, "nsid" → nsid#main, "nsid#name" kept. kInvalidArgument for malformed refs.
Result<std::string> QualifyRef(std::string_view ref, std::string_view base_nsid);

}  // namespace plyr::atproto::lexicon
