#include "core/encoding.hpp"

#include <cctype>

#include <stdexcept>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

namespace plyr::core {
namespace {

constexpr char kHexDigits[] = "0123456789abcdef";
constexpr char kBase64Chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr char kBase64UrlChars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int HexValue(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

std::string Base64With(std::string_view bytes, const char* alphabet, bool pad) {
    std::string out;
    out.reserve((bytes.size() + 2) / 3 * 4);
    std::size_t i = 0;
    for (; i + 2 < bytes.size(); i += 3) {
        std::uint32_t n =
            (std::uint8_t(bytes[i]) << 16) | (std::uint8_t(bytes[i + 1]) << 8) | std::uint8_t(bytes[i + 2]);
        out += alphabet[(n >> 18) & 63];
        out += alphabet[(n >> 12) & 63];
        out += alphabet[(n >> 6) & 63];
        out += alphabet[n & 63];
    }
    std::size_t rest = bytes.size() - i;
    if (rest == 1) {
        std::uint32_t n = std::uint8_t(bytes[i]) << 16;
        out += alphabet[(n >> 18) & 63];
        out += alphabet[(n >> 12) & 63];
        if (pad) out += "==";
    } else if (rest == 2) {
        std::uint32_t n = (std::uint8_t(bytes[i]) << 16) | (std::uint8_t(bytes[i + 1]) << 8);
        out += alphabet[(n >> 18) & 63];
        out += alphabet[(n >> 12) & 63];
        out += alphabet[(n >> 6) & 63];
        if (pad) out += '=';
    }
    return out;
}

std::optional<std::string> Base64DecodeWith(std::string_view text, const char* alphabet, bool allow_padding) {
    int table[256];
    for (int& v : table) v = -1;
    for (int i = 0; i < 64; ++i) table[std::uint8_t(alphabet[i])] = i;
    if (allow_padding) {
        if (text.size() % 4 != 0) return std::nullopt;
        std::size_t pad = 0;
        while (pad < 2 && !text.empty() && text.back() == '=') {
            text.remove_suffix(1);
            ++pad;
        }
    }
    if (text.size() % 4 == 1) return std::nullopt;
    std::string out;
    out.reserve(text.size() * 3 / 4);
    std::uint32_t buffer = 0;
    int bits = 0;
    for (char c : text) {
        int v = table[std::uint8_t(c)];
        if (v < 0) return std::nullopt;
        buffer = (buffer << 6) | std::uint32_t(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += char((buffer >> bits) & 0xff);
        }
    }
    // Non-canonical encodings (non-zero leftover bits) are rejected so one value has one spelling.
    if (bits > 0 && (buffer & ((1u << bits) - 1)) != 0) return std::nullopt;
    return out;
}

}  // namespace

std::string HexEncode(std::string_view bytes) {
    std::string out;
    out.reserve(bytes.size() * 2);
    for (char c : bytes) {
        out += kHexDigits[(std::uint8_t(c) >> 4) & 0xf];
        out += kHexDigits[std::uint8_t(c) & 0xf];
    }
    return out;
}

std::optional<std::string> HexDecode(std::string_view hex) {
    if (hex.size() % 2 != 0) return std::nullopt;
    std::string out;
    out.reserve(hex.size() / 2);
    for (std::size_t i = 0; i < hex.size(); i += 2) {
        int hi = HexValue(hex[i]);
        int lo = HexValue(hex[i + 1]);
        if (hi < 0 || lo < 0) return std::nullopt;
        out += char((hi << 4) | lo);
    }
    return out;
}

std::string Base64Encode(std::string_view bytes) { return Base64With(bytes, kBase64Chars, true); }
std::string Base64UrlEncode(std::string_view bytes) { return Base64With(bytes, kBase64UrlChars, false); }
std::optional<std::string> Base64UrlDecode(std::string_view text) {
    return Base64DecodeWith(text, kBase64UrlChars, false);
}
std::optional<std::string> Base64Decode(std::string_view text) { return Base64DecodeWith(text, kBase64Chars, true); }

Sha256Digest Sha256(std::string_view data) {
    Sha256Stream stream;
    stream.Update(data);
    return stream.Finish();
}

std::string Sha256Hex(std::string_view data) { return HexEncode(DigestToString(Sha256(data))); }

Sha256Digest HmacSha256(std::string_view key, std::string_view data) {
    Sha256Digest out{};
    unsigned int length = 0;
    HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
         data.size(), out.data(), &length);
    return out;
}

Sha256Stream::Sha256Stream() : ctx_(EVP_MD_CTX_new()) {
    if (ctx_ == nullptr || EVP_DigestInit_ex(static_cast<EVP_MD_CTX*>(ctx_), EVP_sha256(), nullptr) != 1) {
        throw std::runtime_error("sha256 init failed");  // out of memory: unexpected
    }
}

Sha256Stream::~Sha256Stream() { EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(ctx_)); }

void Sha256Stream::Update(std::string_view data) {
    EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(ctx_), data.data(), data.size());
}

Sha256Digest Sha256Stream::Finish() {
    Sha256Digest out{};
    unsigned int length = 0;
    EVP_DigestFinal_ex(static_cast<EVP_MD_CTX*>(ctx_), out.data(), &length);
    return out;
}

std::string DigestToString(const Sha256Digest& digest) {
    return std::string(reinterpret_cast<const char*>(digest.data()), digest.size());
}

std::string RandomBytes(std::size_t count) {
    std::string out(count, '\0');
    if (count > 0 && RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(count)) != 1) {
        throw std::runtime_error("RAND_bytes failed");  // the CSPRNG failing is not a recoverable condition
    }
    return out;
}

std::string RandomHex(std::size_t byte_count) { return HexEncode(RandomBytes(byte_count)); }

std::optional<std::string> CanonicalUuid(std::string_view text) {
    if (text.size() != 36) return std::nullopt;
    std::string out(text);
    for (std::size_t i = 0; i < out.size(); ++i) {
        char ch = out[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (ch != '-') return std::nullopt;
            continue;
        }
        if (!std::isxdigit(static_cast<unsigned char>(ch))) return std::nullopt;
        out[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    }
    return out;
}

std::string RandomUuid() {
    std::string bytes = RandomBytes(16);
    bytes[6] = char((std::uint8_t(bytes[6]) & 0x0f) | 0x40);
    bytes[8] = char((std::uint8_t(bytes[8]) & 0x3f) | 0x80);
    std::string hex = HexEncode(bytes);
    return hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" + hex.substr(16, 4) + "-" +
           hex.substr(20);
}

}  // namespace plyr::core
