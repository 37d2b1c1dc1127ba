// Fuzz target: every atproto syntax parser on the same input. Whatever parses must re-serialise to itself
// (or, for handles, to its lowercase normal form), normal forms must be fixed points, and the bool
// validators, the Result parsers and the by-name ValidateFormat dispatcher must agree.
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "atproto/syntax/syntax.hpp"
#include "atproto/syntax/tid.hpp"

namespace syn = plyr::atproto::syntax;

namespace {

void Check(bool ok) {
    if (!ok) std::abort();
}

bool Formats(std::string_view format, std::string_view input) { return syn::ValidateFormat(format, input).has_value(); }

void FuzzIdentifiers(std::string_view input) {
    auto did = syn::ParseDid(input);
    Check(did.has_value() == syn::IsValidDid(input));
    Check(did.has_value() == Formats("did", input));
    if (did) {
        Check(did->value == input);
        Check("did:" + std::string(did->Method()) + ":" + std::string(did->Identifier()) == input);
    }
    if (syn::CheckSupportedDid(input)) Check(did.has_value());
    if (syn::IsValidPlcDid(input) || syn::IsValidWebDid(input)) Check(syn::CheckSupportedDid(input).has_value());

    auto handle = syn::ParseHandle(input);
    Check(handle.has_value() == syn::IsValidHandle(input));
    Check(handle.has_value() == Formats("handle", input));
    if (handle) {
        Check(handle->value == syn::NormalizeHandle(input));
        auto again = syn::ParseHandle(handle->value);
        Check(again && again->value == handle->value);
    }
    if (syn::CheckHandleResolvable(input, true)) Check(handle.has_value());
    if (syn::CheckHandleResolvable(input, false)) Check(syn::CheckHandleResolvable(input, true).has_value());

    auto nsid = syn::ParseNsid(input);
    Check(nsid.has_value() == syn::IsValidNsid(input));
    Check(nsid.has_value() == Formats("nsid", input));
    if (nsid) {
        Check(nsid->value == input);
        Check(std::string(nsid->AuthoritySegments()) + "." + std::string(nsid->Name()) == input);
        auto normal = syn::ParseNsid(nsid->Normalized());
        Check(normal && normal->Normalized() == nsid->Normalized() && normal->Name() == nsid->Name());
        // The reversed authority is a hostname whenever it fits in one.
        std::string domain = nsid->DomainAuthority();
        if (domain.size() <= syn::kMaxHandleLength) Check(syn::IsValidHandle(domain));
    }

    auto rkey = syn::ParseRecordKey(input);
    Check(rkey.has_value() == syn::IsValidRecordKey(input));
    Check(rkey.has_value() == Formats("record-key", input));
    if (rkey) Check(rkey->value == input);

    auto ident = syn::ParseAtIdentifier(input);
    Check(ident.has_value() == syn::IsValidAtIdentifier(input));
    Check(ident.has_value() == Formats("at-identifier", input));
    if (ident) {
        Check(ident->value == input);
        Check(ident->is_did ? did.has_value() : handle.has_value());
        auto normal = syn::ParseAtIdentifier(ident->Normalized());
        Check(normal && normal->Normalized() == ident->Normalized());
    }
}

void FuzzAtUri(std::string_view input) {
    auto uri = syn::ParseAtUri(input);
    Check(uri.has_value() == syn::IsValidAtUri(input));
    Check(uri.has_value() == Formats("at-uri", input));
    if (!uri) return;
    Check(uri->ToString() == input);
    Check(uri->rkey.empty() || !uri->collection.empty());
    auto normal = syn::ParseAtUri(uri->Normalized());
    Check(normal && normal->Normalized() == uri->Normalized() && normal->rkey == uri->rkey);
}

void FuzzTid(std::string_view input) {
    auto tid = syn::ParseTid(input);
    Check(tid.has_value() == syn::IsValidTid(input));
    Check(tid.has_value() == Formats("tid", input));
    if (!tid) return;
    Check(tid->ToString() == input);
    if (tid->TimestampMicros() <= syn::kMaxTidMicros) {
        auto rebuilt = syn::Tid::FromParts(tid->TimestampMicros(), tid->ClockId());
        Check(rebuilt && *rebuilt == *tid);
    }
}

void FuzzDatetime(std::string_view input) {
    using namespace std::chrono;
    auto instant = syn::ParseDatetime(input);
    Check(instant.has_value() == syn::IsValidDatetime(input));
    Check(instant.has_value() == Formats("datetime", input));
    if (!instant) return;
    // Our own output is a fixed point: format → parse gives the instant at millisecond precision.
    std::string formatted = syn::FormatDatetime(*instant);
    auto back = syn::ParseDatetime(formatted);
    Check(back && *back == floor<milliseconds>(*instant));
    Check(syn::FormatDatetime(*back) == formatted);
}

void FuzzFormats(std::string_view input) {
    Check(syn::IsValidCid(input) == syn::ValidateCid(input).has_value());
    Check(syn::IsValidCid(input) == Formats("cid", input));
    Check(syn::IsValidLanguage(input) == syn::ValidateLanguage(input).has_value());
    Check(syn::IsValidLanguage(input) == Formats("language", input));
    Check(syn::IsValidUri(input) == syn::ValidateUri(input).has_value());
    Check(syn::IsValidUri(input) == Formats("uri", input));
    if (syn::IsValidAtUri(input)) Check(syn::IsValidUri(input));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view input(reinterpret_cast<const char*>(data), size);
    FuzzIdentifiers(input);
    FuzzAtUri(input);
    FuzzTid(input);
    FuzzDatetime(input);
    FuzzFormats(input);
    return 0;
}
