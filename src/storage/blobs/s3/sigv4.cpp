#include "storage/blobs/s3/sigv4.hpp"

#include <algorithm>
#include <map>

#include <fmt/format.h>

#include "core/encoding.hpp"

namespace plyr::storage::blobs::sigv4 {
namespace {

bool IsUnreserved(unsigned char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
           c == '_' || c == '~';
}

std::string Lower(std::string_view text) {
    std::string out(text);
    for (char& c : out) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    return out;
}

// Trims surrounding whitespace and collapses inner runs of spaces to one (SigV4 canonical header values).
std::string CanonicalHeaderValue(std::string_view value) {
    auto is_space = [](char c) { return c == ' ' || c == '\t'; };
    while (!value.empty() && is_space(value.front())) value.remove_prefix(1);
    while (!value.empty() && is_space(value.back())) value.remove_suffix(1);
    std::string out;
    out.reserve(value.size());
    bool in_space = false;
    for (char c : value) {
        if (is_space(c)) {
            if (!in_space) out += ' ';
            in_space = true;
        } else {
            out += c;
            in_space = false;
        }
    }
    return out;
}

std::string DateStamp(std::string_view amz_date) { return std::string(amz_date.substr(0, 8)); }

std::string CredentialScope(std::string_view date, const Scope& scope) {
    return fmt::format("{}/{}/{}/aws4_request", date, scope.region, scope.service);
}

struct CanonicalParts {
    std::string request;
    std::string signed_headers;
};

CanonicalParts BuildCanonicalRequest(const Request& request, const Params& headers, std::string_view payload_hash) {
    // std::map keeps names sorted; repeated names are joined with ',' as SigV4 specifies.
    std::map<std::string, std::string> canonical;
    for (const auto& [name, value] : headers) {
        std::string key = Lower(CanonicalHeaderValue(name));
        std::string val = CanonicalHeaderValue(value);
        auto [it, inserted] = canonical.emplace(key, val);
        if (!inserted) it->second += "," + val;
    }
    std::string header_block;
    std::string signed_headers;
    for (const auto& [name, value] : canonical) {
        header_block += name + ":" + value + "\n";
        if (!signed_headers.empty()) signed_headers += ';';
        signed_headers += name;
    }
    std::string uri = request.canonical_uri.empty() ? "/" : request.canonical_uri;
    std::string text = fmt::format("{}\n{}\n{}\n{}\n{}\n{}", request.method, uri, CanonicalQuery(request.query),
                                   header_block, signed_headers, payload_hash);
    return {std::move(text), std::move(signed_headers)};
}

std::string SignatureHex(const Credentials& credentials, const Scope& scope, std::string_view date,
                         std::string_view string_to_sign) {
    auto step = [](std::string_view key, std::string_view data) {
        return core::DigestToString(core::HmacSha256(key, data));
    };
    std::string k_date = step("AWS4" + credentials.secret_access_key, date);
    std::string k_region = step(k_date, scope.region);
    std::string k_service = step(k_region, scope.service);
    std::string k_signing = step(k_service, "aws4_request");
    return core::HexEncode(step(k_signing, string_to_sign));
}

std::string StringToSign(std::string_view amz_date, std::string_view credential_scope,
                         std::string_view canonical_request) {
    return fmt::format("{}\n{}\n{}\n{}", kAlgorithm, amz_date, credential_scope, core::Sha256Hex(canonical_request));
}

}  // namespace

std::string UriEncode(std::string_view text, bool keep_slash) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(text.size() * 3);
    for (char ch : text) {
        unsigned char c = static_cast<unsigned char>(ch);
        if (IsUnreserved(c) || (keep_slash && c == '/')) {
            out += ch;
        } else {
            out += '%';
            out += kHex[c >> 4];
            out += kHex[c & 0x0F];
        }
    }
    return out;
}

std::string EncodeS3Path(std::string_view key) { return "/" + UriEncode(key, true); }

std::string CanonicalQuery(const Params& query) {
    std::vector<std::pair<std::string, std::string>> encoded;
    encoded.reserve(query.size());
    for (const auto& [name, value] : query) encoded.emplace_back(UriEncode(name, false), UriEncode(value, false));
    std::sort(encoded.begin(), encoded.end());
    std::string out;
    for (const auto& [name, value] : encoded) {
        if (!out.empty()) out += '&';
        out += name;
        out += '=';
        out += value;
    }
    return out;
}

std::string FormatAmzDate(std::chrono::sys_seconds time) {
    auto day = std::chrono::floor<std::chrono::days>(time);
    std::chrono::year_month_day ymd(day);
    std::chrono::hh_mm_ss hms(time - day);
    return fmt::format("{:04}{:02}{:02}T{:02}{:02}{:02}Z", static_cast<int>(ymd.year()),
                       static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()), hms.hours().count(),
                       hms.minutes().count(), hms.seconds().count());
}

Signature SignHeaders(const Request& request, const Credentials& credentials, const Scope& scope,
                      std::chrono::sys_seconds now) {
    std::string amz_date = FormatAmzDate(now);
    std::string date = DateStamp(amz_date);
    Params headers = request.headers;
    headers.emplace_back("x-amz-date", amz_date);
    headers.emplace_back("x-amz-content-sha256", request.payload_hash);
    CanonicalParts canonical = BuildCanonicalRequest(request, headers, request.payload_hash);
    std::string credential_scope = CredentialScope(date, scope);
    Signature out;
    out.string_to_sign = StringToSign(amz_date, credential_scope, canonical.request);
    out.signature = SignatureHex(credentials, scope, date, out.string_to_sign);
    out.signed_headers = canonical.signed_headers;
    out.canonical_request = std::move(canonical.request);
    out.authorization = fmt::format("{} Credential={}/{},SignedHeaders={},Signature={}", kAlgorithm,
                                    credentials.access_key_id, credential_scope, out.signed_headers, out.signature);
    out.headers = {
        {"x-amz-date", amz_date}, {"x-amz-content-sha256", request.payload_hash}, {"authorization", out.authorization}};
    return out;
}

Presigned Presign(const Request& request, const Credentials& credentials, const Scope& scope,
                  std::chrono::sys_seconds now, std::chrono::seconds expires) {
    std::string amz_date = FormatAmzDate(now);
    std::string date = DateStamp(amz_date);
    std::string credential_scope = CredentialScope(date, scope);
    // The signed-header list is needed inside the query before signing, so compute it from the headers first.
    CanonicalParts headers_only = BuildCanonicalRequest(request, request.headers, kUnsignedPayload);
    Request signed_request = request;
    signed_request.query.emplace_back("X-Amz-Algorithm", std::string(kAlgorithm));
    signed_request.query.emplace_back("X-Amz-Credential", credentials.access_key_id + "/" + credential_scope);
    signed_request.query.emplace_back("X-Amz-Date", amz_date);
    signed_request.query.emplace_back("X-Amz-Expires", std::to_string(expires.count()));
    signed_request.query.emplace_back("X-Amz-SignedHeaders", headers_only.signed_headers);
    CanonicalParts canonical = BuildCanonicalRequest(signed_request, signed_request.headers, kUnsignedPayload);
    Presigned out;
    out.signature = SignatureHex(credentials, scope, date, StringToSign(amz_date, credential_scope, canonical.request));
    // X-Amz-Signature sorts after every other X-Amz-* parameter but not necessarily after the caller's own,
    // and it is not part of what was signed, so it is appended rather than sorted in.
    out.query = CanonicalQuery(signed_request.query) + "&X-Amz-Signature=" + out.signature;
    out.canonical_request = std::move(canonical.request);
    return out;
}

}  // namespace plyr::storage::blobs::sigv4
