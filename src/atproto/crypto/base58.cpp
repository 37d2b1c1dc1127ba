#include "atproto/crypto/base58.hpp"

#include <array>
#include <cstdint>
#include <vector>

namespace plyr::atproto::crypto {
namespace {

constexpr std::string_view kAlphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

constexpr std::array<std::int8_t, 256> MakeDecodeTable() {
    std::array<std::int8_t, 256> table{};
    for (auto& v : table) v = -1;
    for (std::size_t i = 0; i < kAlphabet.size(); ++i) table[static_cast<std::uint8_t>(kAlphabet[i])] = std::int8_t(i);
    return table;
}

constexpr auto kDecodeTable = MakeDecodeTable();

}  // namespace

std::string Base58BtcEncode(std::string_view bytes) {
    std::size_t zeros = 0;
    while (zeros < bytes.size() && bytes[zeros] == '\0') ++zeros;
    // Base-58 digits of the big-endian number, least significant first. log(256)/log(58) < 1.37.
    std::vector<std::uint8_t> digits;
    digits.reserve((bytes.size() - zeros) * 137 / 100 + 1);
    for (std::size_t i = zeros; i < bytes.size(); ++i) {
        std::uint32_t carry = static_cast<std::uint8_t>(bytes[i]);
        for (auto& digit : digits) {
            carry += std::uint32_t(digit) << 8;
            digit = std::uint8_t(carry % 58);
            carry /= 58;
        }
        while (carry > 0) {
            digits.push_back(std::uint8_t(carry % 58));
            carry /= 58;
        }
    }
    std::string out(zeros, '1');
    out.reserve(zeros + digits.size());
    for (auto it = digits.rbegin(); it != digits.rend(); ++it) out += kAlphabet[*it];
    return out;
}

std::optional<std::string> Base58BtcDecode(std::string_view text) {
    if (text.size() > kMaxBase58TextBytes) return std::nullopt;
    std::size_t ones = 0;
    while (ones < text.size() && text[ones] == '1') ++ones;
    // Base-256 digits of the number, least significant first.
    std::vector<std::uint8_t> bytes;
    bytes.reserve(text.size());
    for (std::size_t i = ones; i < text.size(); ++i) {
        int value = kDecodeTable[static_cast<std::uint8_t>(text[i])];
        if (value < 0) return std::nullopt;
        std::uint32_t carry = std::uint32_t(value);
        for (auto& byte : bytes) {
            carry += std::uint32_t(byte) * 58;
            byte = std::uint8_t(carry & 0xff);
            carry >>= 8;
        }
        while (carry > 0) {
            bytes.push_back(std::uint8_t(carry & 0xff));
            carry >>= 8;
        }
    }
    std::string out(ones, '\0');
    out.reserve(ones + bytes.size());
    for (auto it = bytes.rbegin(); it != bytes.rend(); ++it) out += char(*it);
    return out;
}

}  // namespace plyr::atproto::crypto
