// Fuzz target: lexicon documents and records.
// The input is parsed as a lexicon document; when it parses, every stored ref is a fixed point of QualifyRef,
// the catalog accepts it, and validating sample values against each of its defs is deterministic and never
// crashes (refs may recurse or dangle). The input is also validated as an fm.plyr.track-style record against a
// fixed schema: deterministic, and a failure always carries a message.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "atproto/data/json.hpp"
#include "atproto/lexicon/catalog.hpp"
#include "atproto/lexicon/validate.hpp"

namespace lex = plyr::atproto::lexicon;
using plyr::atproto::Value;

namespace {

const lex::Catalog& FixedCatalog() {
    static const lex::Catalog catalog = [] {
        lex::Catalog c;
        auto added = c.AddJsonText(R"({"lexicon":1,"id":"com.example.track","defs":{
          "main":{"type":"record","key":"tid","record":{"type":"object","required":["title"],"nullable":["album"],
            "properties":{"title":{"type":"string","maxLength":64,"maxGraphemes":8},"album":{"type":"string"},
              "n":{"type":"integer","minimum":0,"enum":[1,2,3]},"tags":{"type":"array","items":{"type":"string",
              "format":"language"},"maxLength":3},"at":{"type":"string","format":"datetime"},
              "who":{"type":"ref","ref":"#who"},"u":{"type":"union","refs":["#who","#node"]},
              "tree":{"type":"ref","ref":"#node"},"blob":{"type":"blob","accept":["audio/*"],"maxSize":10},
              "x":{"type":"unknown"},"b":{"type":"bytes","maxLength":4},"l":{"type":"cid-link"}}}},
          "who":{"type":"object","required":["did"],"properties":{"did":{"type":"string","format":"did"}}},
          "node":{"type":"object","properties":{"child":{"type":"ref","ref":"#node"},"gone":{"type":"ref",
            "ref":"com.example.missing"}}}}})");
        if (!added) std::abort();
        return c;
    }();
    return catalog;
}

void CheckRefs(const lex::Def& def, const std::string& id) {
    auto fixed = [&](const std::string& ref) {
        auto again = lex::QualifyRef(ref, id);
        if (!again || *again != ref || ref.find('#') == std::string::npos) std::abort();
    };
    if (const auto* r = std::get_if<lex::RefDef>(&def.v)) fixed(r->ref);
    if (const auto* u = std::get_if<lex::UnionDef>(&def.v)) {
        for (const auto& ref : u->refs) fixed(ref);
    }
    if (const auto* a = std::get_if<lex::ArrayDef>(&def.v)) CheckRefs(*a->items, id);
    if (const auto* o = std::get_if<lex::ObjectDef>(&def.v)) {
        for (const auto& [name, prop] : o->properties) CheckRefs(*prop, id);
    }
    if (const auto* rec = std::get_if<lex::RecordDef>(&def.v)) {
        for (const auto& [name, prop] : rec->record.properties) CheckRefs(*prop, id);
    }
}

bool SameOutcome(const plyr::Status& a, const plyr::Status& b) {
    if (a.has_value() != b.has_value()) return false;
    return a.has_value() || (a.error().code == b.error().code && a.error().message == b.error().message);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view input(reinterpret_cast<const char*>(data), size);

    auto doc = lex::ParseLexiconDocumentText(input);
    if (doc) {
        for (const auto& [name, def] : doc->defs) CheckRefs(*def, doc->id);
        std::string id = doc->id;
        std::vector<std::string> names;
        for (const auto& [name, def] : doc->defs) names.push_back(name);
        lex::Catalog catalog;
        if (!catalog.Add(std::move(*doc))) std::abort();
        const std::vector<Value> samples = {Value(),
                                            Value(true),
                                            Value(7),
                                            Value("x"),
                                            Value(Value::Array{Value(1)}),
                                            Value(Value::Map{{"$type", Value(id)}, {"a", Value(1)}})};
        for (const auto& name : names) {
            std::string ref = id + "#" + name;
            (void)catalog.UnresolvedRefs(ref);
            for (const Value& sample : samples) {
                if (!SameOutcome(lex::ValidateValue(catalog, ref, sample), lex::ValidateValue(catalog, ref, sample))) {
                    std::abort();
                }
            }
        }
    }

    auto record = plyr::atproto::ValueFromJsonText(input);
    if (record) {
        auto first = lex::ValidateRecord(FixedCatalog(), "com.example.track", *record);
        auto second = lex::ValidateRecord(FixedCatalog(), "com.example.track", *record);
        if (!SameOutcome(first, second)) std::abort();
        if (!first && first.error().message.empty()) std::abort();
    }
    return 0;
}
