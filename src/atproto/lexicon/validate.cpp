#include "atproto/lexicon/validate.hpp"

#include <algorithm>
#include <variant>
#include <vector>

#include <fmt/format.h>

#include "atproto/data/json.hpp"
#include "atproto/lexicon/graphemes.hpp"
#include "atproto/syntax/syntax.hpp"

namespace plyr::atproto::lexicon {
namespace {

std::string_view FormatProblem(std::string_view format) {
    if (format == "did") return "must be a DID";
    if (format == "handle") return "must be a handle";
    if (format == "at-identifier") return "must be a handle or a DID";
    if (format == "at-uri") return "must be an AT-URI";
    if (format == "nsid") return "must be an NSID";
    if (format == "cid") return "must be a CID string";
    if (format == "datetime") return "must be an RFC 3339 datetime";
    if (format == "language") return "must be a BCP-47 language tag";
    if (format == "tid") return "must be a TID";
    if (format == "record-key") return "must be a record key";
    if (format == "uri") return "must be a URI";
    return "has an invalid format";
}

template <typename T>
std::string JoinList(const std::vector<T>& values) {
    constexpr std::size_t kShown = 10;
    std::string out;
    for (std::size_t i = 0; i < values.size() && i < kShown; ++i) {
        if (i > 0) out += ", ";
        out += fmt::format("{}", values[i]);
    }
    if (values.size() > kShown) out += ", …";
    return out;
}

bool MimeAccepted(const std::vector<std::string>& accept, const std::string& mime) {
    if (accept.empty()) return true;
    for (const std::string& pattern : accept) {
        if (pattern == "*/*" || pattern == mime) return true;
        if (pattern.ends_with("/*") && mime.starts_with(std::string_view(pattern).substr(0, pattern.size() - 1))) {
            return true;
        }
    }
    return false;
}

std::string WithMain(std::string_view ref) {
    std::string out(ref);
    if (out.find('#') == std::string::npos) out += "#main";
    return out;
}

class Validator {
  public:
    explicit Validator(const Catalog& catalog) : catalog_(catalog) {}

    Status Check(const Def& def, const Value& value) {
        // Counts ref hops too, so even a schema whose refs could chain without consuming data stays bounded.
        if (depth_ >= kMaxValidationDepth) return Problem(ErrorCode::kTooLarge, "nesting too deep");
        ++depth_;
        Status status = std::visit([&](const auto& typed) { return CheckTyped(typed, value); }, def.v);
        --depth_;
        return status;
    }

    Status CheckObject(const ObjectDef& def, const Value& value) {
        if (!value.IsMap()) return Problem("must be an object");
        for (const std::string& name : def.required) {
            if (value.Find(name) == nullptr) {
                Push(name);
                auto status = Problem("required field is missing");
                path_.pop_back();
                return status;
            }
        }
        for (const auto& [name, prop] : def.properties) {
            const Value* field = value.Find(name);
            if (field == nullptr) continue;
            Push(name);
            Status status = Ok();
            if (field->IsNull()) {
                if (!def.IsNullable(name)) status = Problem("must not be null");
            } else {
                status = Check(*prop, *field);
            }
            path_.pop_back();
            if (!status) return status;
        }
        return Ok();
    }

    tl::unexpected<Error> Problem(std::string_view what) { return Problem(ErrorCode::kInvalidArgument, what); }

    tl::unexpected<Error> Problem(ErrorCode code, std::string_view what) {
        violation_ = Violation{code, path_.empty() ? std::string() : PathString(), std::string(what)};
        return Fail(code, fmt::format("{}: {}", PathString(), what));
    }

    const Violation& violation() const { return violation_; }

  private:
    struct Segment {
        std::string key;  // empty for an array index
        std::size_t index = 0;
    };

    void Push(std::string_view key) { path_.push_back(Segment{std::string(key), 0}); }
    void PushIndex(std::size_t index) { path_.push_back(Segment{std::string(), index}); }

    std::string PathString() const {
        if (path_.empty()) return "record";
        std::string out;
        for (const Segment& s : path_) {
            if (s.key.empty()) {
                out += fmt::format("[{}]", s.index);
            } else {
                if (!out.empty()) out += '.';
                out += s.key;
            }
        }
        return out;
    }

    Status CheckTyped(const BooleanDef& def, const Value& value) {
        const bool* b = value.AsBool();
        if (b == nullptr) return Problem("must be a boolean");
        if (def.const_value && *b != *def.const_value) return Problem(fmt::format("must be {}", *def.const_value));
        return Ok();
    }

    Status CheckTyped(const IntegerDef& def, const Value& value) {
        const std::int64_t* i = value.AsInteger();
        if (i == nullptr) return Problem("must be an integer");
        if (def.const_value && *i != *def.const_value) return Problem(fmt::format("must be {}", *def.const_value));
        if (!def.enum_values.empty() &&
            std::find(def.enum_values.begin(), def.enum_values.end(), *i) == def.enum_values.end()) {
            return Problem(fmt::format("must be one of [{}]", JoinList(def.enum_values)));
        }
        if (def.minimum && *i < *def.minimum) return Problem(fmt::format("must be at least {}", *def.minimum));
        if (def.maximum && *i > *def.maximum) return Problem(fmt::format("must be at most {}", *def.maximum));
        return Ok();
    }

    Status CheckTyped(const StringDef& def, const Value& value) {
        const std::string* s = value.AsString();
        if (s == nullptr) return Problem("must be a string");
        if (def.const_value && *s != *def.const_value) return Problem(fmt::format("must be \"{}\"", *def.const_value));
        if (!def.enum_values.empty() &&
            std::find(def.enum_values.begin(), def.enum_values.end(), *s) == def.enum_values.end()) {
            return Problem(fmt::format("must be one of [{}]", JoinList(def.enum_values)));
        }
        auto bytes = static_cast<std::int64_t>(s->size());
        if (def.min_length && bytes < *def.min_length) {
            return Problem(fmt::format("must be at least {} bytes (UTF-8), got {}", *def.min_length, bytes));
        }
        if (def.max_length && bytes > *def.max_length) {
            return Problem(fmt::format("must be at most {} bytes (UTF-8), got {}", *def.max_length, bytes));
        }
        // A grapheme is at least one byte, so a short string cannot exceed maxGraphemes: skip ICU then.
        bool need_graphemes = def.min_graphemes || (def.max_graphemes && bytes > *def.max_graphemes);
        if (need_graphemes) {
            auto graphemes = static_cast<std::int64_t>(CountGraphemes(*s));
            if (def.min_graphemes && graphemes < *def.min_graphemes) {
                return Problem(fmt::format("must be at least {} graphemes, got {}", *def.min_graphemes, graphemes));
            }
            if (def.max_graphemes && graphemes > *def.max_graphemes) {
                return Problem(fmt::format("must be at most {} graphemes, got {}", *def.max_graphemes, graphemes));
            }
        }
        if (!def.format.empty() && !syntax::ValidateFormat(def.format, *s)) return Problem(FormatProblem(def.format));
        return Ok();
    }

    Status CheckTyped(const BytesDef& def, const Value& value) {
        const Bytes* b = value.AsBytes();
        if (b == nullptr) return Problem("must be bytes");
        auto size = static_cast<std::int64_t>(b->data.size());
        if (def.min_length && size < *def.min_length) {
            return Problem(fmt::format("must be at least {} bytes, got {}", *def.min_length, size));
        }
        if (def.max_length && size > *def.max_length) {
            return Problem(fmt::format("must be at most {} bytes, got {}", *def.max_length, size));
        }
        return Ok();
    }

    Status CheckTyped(const CidLinkDef&, const Value& value) {
        if (!value.IsLink()) return Problem("must be a cid-link");
        return Ok();
    }

    Status CheckTyped(const BlobDef& def, const Value& value) {
        const BlobRef* blob = value.AsBlob();
        if (blob == nullptr) return Problem("must be a blob");
        if (!MimeAccepted(def.accept, blob->mime_type)) {
            return Problem(
                fmt::format("blob type {} is not accepted (accepted: {})", blob->mime_type, JoinList(def.accept)));
        }
        if (def.max_size && blob->size > *def.max_size) {
            return Problem(fmt::format("blob is {} bytes, more than the maximum {}", blob->size, *def.max_size));
        }
        return Ok();
    }

    Status CheckTyped(const UnknownDef&, const Value& value) {
        if (!value.IsMap()) return Problem("must be an object");
        return Ok();
    }

    Status CheckTyped(const TokenDef& def, const Value& value) {
        const std::string* s = value.AsString();
        if (s == nullptr || *s != def.full_name) return Problem(fmt::format("must be the token {}", def.full_name));
        return Ok();
    }

    Status CheckTyped(const RefDef& def, const Value& value) {
        const Def* target = catalog_.Find(def.ref);
        if (target == nullptr) {
            return Problem(ErrorCode::kNotFound, fmt::format("lexicon {} is not in the catalog", def.ref));
        }
        return Check(*target, value);
    }

    Status CheckTyped(const UnionDef& def, const Value& value) {
        if (!value.IsMap()) return Problem("must be an object with $type (union)");
        const std::string* type = value.Type();
        if (type == nullptr) return Problem("$type is required (union)");
        std::string full = WithMain(*type);
        if (std::find(def.refs.begin(), def.refs.end(), full) == def.refs.end()) {
            if (def.closed) return Problem(fmt::format("$type {} is not one of [{}]", *type, JoinList(def.refs)));
            return Ok();  // open union: unlisted types pass through unvalidated (atproto.md §5.1)
        }
        const Def* target = catalog_.Find(full);
        if (target == nullptr) {
            return Problem(ErrorCode::kNotFound, fmt::format("lexicon {} is not in the catalog", full));
        }
        if (const auto* record = std::get_if<RecordDef>(&target->v)) return CheckObject(record->record, value);
        if (!std::holds_alternative<ObjectDef>(target->v)) {
            return Problem(fmt::format("union member {} is a {}, not an object", full, target->TypeName()));
        }
        return Check(*target, value);
    }

    Status CheckTyped(const ArrayDef& def, const Value& value) {
        const Value::Array* array = value.AsArray();
        if (array == nullptr) return Problem("must be an array");
        auto count = static_cast<std::int64_t>(array->size());
        if (def.min_length && count < *def.min_length) {
            return Problem(fmt::format("must have at least {} items, got {}", *def.min_length, count));
        }
        if (def.max_length && count > *def.max_length) {
            return Problem(fmt::format("must have at most {} items, got {}", *def.max_length, count));
        }
        for (std::size_t i = 0; i < array->size(); ++i) {
            PushIndex(i);
            Status status = Check(*def.items, (*array)[i]);
            path_.pop_back();
            if (!status) return status;
        }
        return Ok();
    }

    Status CheckTyped(const ObjectDef& def, const Value& value) { return CheckObject(def, value); }

    Status CheckTyped(const RecordDef& def, const Value& value) { return CheckObject(def.record, value); }

    template <typename NotData>
    Status CheckTyped(const NotData&, const Value&) {
        // params, query, procedure, subscription, permission-set: a ref to one is a schema error.
        return Problem("the schema refers to a def that does not describe data");
    }

    const Catalog& catalog_;
    std::vector<Segment> path_;
    std::size_t depth_ = 0;
    Violation violation_;
};

// Both entry points share this: the Status for callers that want a message, the Violation for callers that
// report the field separately.
Status CheckRecord(const Catalog& catalog, std::string_view nsid, const Value& record, Violation& violation) {
    auto fail = [&](ErrorCode code, std::string path, std::string problem) {
        std::string message = fmt::format("{}: {}", path.empty() ? "record" : path, problem);
        violation = Violation{code, std::move(path), std::move(problem)};
        return Fail(code, std::move(message));
    };
    if (!syntax::IsValidNsid(nsid)) {
        return Fail(ErrorCode::kInvalidArgument, fmt::format("\"{}\" is not an NSID", nsid));
    }
    const Def* def = catalog.Find(nsid);
    if (def == nullptr) return Fail(ErrorCode::kNotFound, fmt::format("lexicon {} is not in the catalog", nsid));
    const auto* record_def = std::get_if<RecordDef>(&def->v);
    if (record_def == nullptr) {
        return Fail(ErrorCode::kInvalidArgument, fmt::format("lexicon {} is not a record type", nsid));
    }
    if (!record.IsMap()) return fail(ErrorCode::kInvalidArgument, "", "must be an object");
    if (const Value* type = record.Find("$type")) {
        const std::string* s = type->AsString();
        if (s == nullptr || *s != nsid)
            return fail(ErrorCode::kInvalidArgument, "$type", fmt::format("must be {}", nsid));
    }
    Validator validator(catalog);
    Status status = validator.CheckObject(record_def->record, record);
    if (!status) violation = validator.violation();
    return status;
}

}  // namespace

Status ValidateRecord(const Catalog& catalog, std::string_view nsid, const Value& record) {
    Violation ignored;
    return CheckRecord(catalog, nsid, record, ignored);
}

Result<std::optional<Violation>> FindRecordViolation(const Catalog& catalog, std::string_view nsid,
                                                     const Value& record) {
    Violation violation;
    violation.code = ErrorCode::kInternal;
    Status status = CheckRecord(catalog, nsid, record, violation);
    if (status) return std::optional<Violation>();
    if (violation.code == ErrorCode::kInternal) return Fail(std::move(status.error()));  // not about the data
    return std::optional<Violation>(std::move(violation));
}

Status ValidateRecordKey(const Catalog& catalog, std::string_view nsid, std::string_view rkey) {
    const Def* def = catalog.Find(nsid);
    if (def == nullptr) return Fail(ErrorCode::kNotFound, fmt::format("lexicon {} is not in the catalog", nsid));
    const auto* record_def = std::get_if<RecordDef>(&def->v);
    if (record_def == nullptr) {
        return Fail(ErrorCode::kInvalidArgument, fmt::format("lexicon {} is not a record type", nsid));
    }
    const std::string& key = record_def->key;
    constexpr std::string_view kLiteral = "literal:";
    bool ok = false;
    if (!syntax::IsValidRecordKey(rkey)) {
        ok = false;
    } else if (key.empty() || key == "any") {
        ok = true;
    } else if (key == "tid") {
        ok = syntax::ValidateFormat("tid", rkey).has_value();
    } else if (key == "nsid") {
        ok = syntax::IsValidNsid(rkey);
    } else if (key.starts_with(kLiteral)) {
        ok = rkey == std::string_view(key).substr(kLiteral.size());
    }
    if (!ok) {
        return Fail(ErrorCode::kInvalidArgument, fmt::format("record key \"{}\" does not fit key type {} of {}", rkey,
                                                             key.empty() ? "any" : key, nsid));
    }
    return Ok();
}

Status ValidateRecordJson(const Catalog& catalog, std::string_view nsid, std::string_view json_text) {
    auto value = ValueFromJsonText(json_text);
    if (!value) return Fail(std::move(value.error()));
    return ValidateRecord(catalog, nsid, *value);
}

Status ValidateValue(const Catalog& catalog, std::string_view ref, const Value& value) {
    const Def* def = catalog.Find(ref);
    if (def == nullptr) return Fail(ErrorCode::kNotFound, fmt::format("lexicon {} is not in the catalog", ref));
    Validator validator(catalog);
    return validator.Check(*def, value);
}

}  // namespace plyr::atproto::lexicon
