// AT-URI, strict Lexicon form (docs/atproto.md §1.6). Parsed by hand: generic URL parsers read the
// `did:plc:…` authority as host:port.
#include "atproto/syntax/ascii.hpp"
#include "atproto/syntax/invalid.hpp"
#include "atproto/syntax/syntax.hpp"

namespace plyr::atproto::syntax {

namespace {

constexpr std::string_view kScheme = "at://";

Result<AtUri> Parse(std::string_view text) {
    auto invalid = [&](std::string_view why) { return detail::Invalid("at-uri", why, text); };
    if (text.size() > kMaxAtUriLength) return invalid("longer than 8 KiB");
    if (text.substr(0, kScheme.size()) != kScheme) return invalid("must start with \"at://\"");
    std::string_view rest = text.substr(kScheme.size());
    if (rest.find_first_of("?#") != std::string_view::npos) return invalid("query and fragment are not allowed");

    std::string_view parts[3];
    std::size_t count = 0;
    while (true) {
        std::size_t slash = rest.find('/');
        if (count == 3) return invalid("at most a collection and a record key may follow the authority");
        parts[count++] = rest.substr(0, slash);
        if (slash == std::string_view::npos) break;
        rest = rest.substr(slash + 1);
    }
    if (parts[0].empty()) return invalid("missing authority");
    auto authority = ParseAtIdentifier(parts[0]);
    if (!authority) return invalid("authority must be a handle or a DID");

    AtUri uri;
    uri.authority = std::move(*authority);
    if (count >= 2) {
        if (parts[1].empty()) return invalid("empty collection (trailing slash?)");
        if (!IsValidNsid(parts[1])) return invalid("collection must be an NSID");
        uri.collection = std::string(parts[1]);
    }
    if (count == 3) {
        if (parts[2].empty()) return invalid("empty record key (trailing slash?)");
        if (!IsValidRecordKey(parts[2])) return invalid("record key is not valid");
        uri.rkey = std::string(parts[2]);
    }
    return uri;
}

}  // namespace

std::string AtUri::ToString() const {
    std::string out(kScheme);
    out += authority.value;
    if (!collection.empty()) {
        out += '/';
        out += collection;
        if (!rkey.empty()) {
            out += '/';
            out += rkey;
        }
    }
    return out;
}

std::string AtUri::Normalized() const {
    std::string out(kScheme);
    out += authority.Normalized();
    if (!collection.empty()) {
        out += '/';
        out += Nsid{collection}.Normalized();
        if (!rkey.empty()) {
            out += '/';
            out += rkey;
        }
    }
    return out;
}

Result<AtUri> ParseAtUri(std::string_view text) { return Parse(text); }

bool IsValidAtUri(std::string_view text) { return Parse(text).has_value(); }

}  // namespace plyr::atproto::syntax
