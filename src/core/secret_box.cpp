#include "core/secret_box.hpp"

#include <openssl/evp.h>

#include <memory>

#include "core/encoding.hpp"

namespace plyr::core {
namespace {

struct CtxFree {
    void operator()(EVP_CIPHER_CTX* ctx) const { EVP_CIPHER_CTX_free(ctx); }
};
using CtxPtr = std::unique_ptr<EVP_CIPHER_CTX, CtxFree>;

const unsigned char* Bytes(std::string_view s) { return reinterpret_cast<const unsigned char*>(s.data()); }

Result<std::string> Encrypt(std::string_view key, std::string_view nonce, std::string_view plaintext,
                            std::string_view ad, std::string header) {
    CtxPtr ctx(EVP_CIPHER_CTX_new());
    if (!ctx) return Fail(ErrorCode::kInternal, "encryption failed", "EVP_CIPHER_CTX_new");
    int len = 0;
    if (EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(nonce.size()), nullptr) != 1 ||
        EVP_EncryptInit_ex(ctx.get(), nullptr, nullptr, Bytes(key), Bytes(nonce)) != 1) {
        return Fail(ErrorCode::kInternal, "encryption failed", "EVP init");
    }
    // The header is authenticated too, so version and key id cannot be swapped undetected.
    std::string full_ad = header + std::string(ad);
    if (EVP_EncryptUpdate(ctx.get(), nullptr, &len, Bytes(full_ad), static_cast<int>(full_ad.size())) != 1) {
        return Fail(ErrorCode::kInternal, "encryption failed", "EVP aad");
    }
    std::string out = std::move(header);
    std::size_t offset = out.size();
    out.resize(offset + plaintext.size() + kSecretTagSize);
    auto* dst = reinterpret_cast<unsigned char*>(out.data()) + offset;
    if (!plaintext.empty() &&
        EVP_EncryptUpdate(ctx.get(), dst, &len, Bytes(plaintext), static_cast<int>(plaintext.size())) != 1) {
        return Fail(ErrorCode::kInternal, "encryption failed", "EVP update");
    }
    int final_len = 0;
    if (EVP_EncryptFinal_ex(ctx.get(), dst + plaintext.size(), &final_len) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(kSecretTagSize),
                            dst + plaintext.size()) != 1) {
        return Fail(ErrorCode::kInternal, "encryption failed", "EVP final");
    }
    return out;
}

Result<std::string> Decrypt(std::string_view key, std::string_view blob, std::string_view ad) {
    std::string_view header = blob.substr(0, kSecretHeaderSize);
    std::string_view nonce = blob.substr(2, kSecretNonceSize);
    std::string_view body = blob.substr(kSecretHeaderSize, blob.size() - kSecretHeaderSize - kSecretTagSize);
    std::string tag(blob.substr(blob.size() - kSecretTagSize));
    CtxPtr ctx(EVP_CIPHER_CTX_new());
    if (!ctx) return Fail(ErrorCode::kInternal, "decryption failed", "EVP_CIPHER_CTX_new");
    int len = 0;
    if (EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(nonce.size()), nullptr) != 1 ||
        EVP_DecryptInit_ex(ctx.get(), nullptr, nullptr, Bytes(key), Bytes(nonce)) != 1) {
        return Fail(ErrorCode::kInternal, "decryption failed", "EVP init");
    }
    std::string full_ad = std::string(header) + std::string(ad);
    if (EVP_DecryptUpdate(ctx.get(), nullptr, &len, Bytes(full_ad), static_cast<int>(full_ad.size())) != 1) {
        return Fail(ErrorCode::kInternal, "decryption failed", "EVP aad");
    }
    std::string out(body.size(), '\0');
    if (!body.empty() && EVP_DecryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(out.data()), &len, Bytes(body),
                                           static_cast<int>(body.size())) != 1) {
        return Fail(ErrorCode::kInvalidArgument, "secret cannot be decrypted", "EVP update");
    }
    if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(kSecretTagSize), tag.data()) != 1) {
        return Fail(ErrorCode::kInternal, "decryption failed", "EVP set tag");
    }
    int final_len = 0;
    if (EVP_DecryptFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(out.data()) + body.size(), &final_len) != 1) {
        return Fail(ErrorCode::kInvalidArgument, "secret cannot be decrypted",
                    "authentication failed (tampered, wrong key or wrong associated data)");
    }
    return out;
}

}  // namespace

std::uint8_t SecretBox::KeyId(std::string_view key) { return Sha256(key)[0]; }

Result<SecretBox> SecretBox::FromKeys(std::string current, std::optional<std::string> previous) {
    if (current.size() != kSecretKeySize) {
        return Fail(ErrorCode::kConfig, "OAUTH_ENCRYPTION_KEY must be 32 bytes (base64url)");
    }
    if (previous && previous->size() != kSecretKeySize) {
        return Fail(ErrorCode::kConfig, "OAUTH_ENCRYPTION_KEY_PREVIOUS must be 32 bytes (base64url)");
    }
    SecretBox box;
    box.current_id_ = KeyId(current);
    if (previous && *previous != current) {
        box.previous_id_ = KeyId(*previous);
        if (box.previous_id_ == box.current_id_) {
            // One id byte cannot tell them apart; refusing beats guessing which key a blob used.
            return Fail(ErrorCode::kConfig,
                        "OAUTH_ENCRYPTION_KEY_PREVIOUS collides with OAUTH_ENCRYPTION_KEY's key id; generate a "
                        "new key");
        }
        box.previous_ = std::move(previous);
    }
    box.current_ = std::move(current);
    return box;
}

Result<SecretBox> SecretBox::FromBase64Url(std::string_view current_b64, std::string_view previous_b64) {
    auto current = Base64UrlDecode(current_b64);
    if (!current || current->size() != kSecretKeySize) {
        return Fail(ErrorCode::kConfig, "OAUTH_ENCRYPTION_KEY must be 32 bytes, base64url-encoded");
    }
    std::optional<std::string> previous;
    if (!previous_b64.empty()) {
        previous = Base64UrlDecode(previous_b64);
        if (!previous || previous->size() != kSecretKeySize) {
            return Fail(ErrorCode::kConfig, "OAUTH_ENCRYPTION_KEY_PREVIOUS must be 32 bytes, base64url-encoded");
        }
    }
    return FromKeys(std::move(*current), std::move(previous));
}

Result<std::string> SecretBox::SealWithNonce(std::string_view plaintext, std::string_view associated_data,
                                             std::string_view nonce) const {
    if (nonce.size() != kSecretNonceSize) return Fail(ErrorCode::kInvalidArgument, "nonce must be 12 bytes");
    std::string header;
    header.push_back(static_cast<char>(kSecretBoxVersion));
    header.push_back(static_cast<char>(current_id_));
    header.append(nonce);
    return Encrypt(current_, nonce, plaintext, associated_data, std::move(header));
}

Result<std::string> SecretBox::Seal(std::string_view plaintext, std::string_view associated_data) const {
    return SealWithNonce(plaintext, associated_data, RandomBytes(kSecretNonceSize));
}

Result<OpenedSecret> SecretBox::Open(std::string_view blob, std::string_view associated_data) const {
    if (blob.size() < kSecretHeaderSize + kSecretTagSize) {
        return Fail(ErrorCode::kInvalidArgument, "secret cannot be decrypted", "blob too short");
    }
    if (static_cast<std::uint8_t>(blob[0]) != kSecretBoxVersion) {
        return Fail(ErrorCode::kInvalidArgument, "secret cannot be decrypted", "unknown format version");
    }
    auto key_id = static_cast<std::uint8_t>(blob[1]);
    const std::string* key = nullptr;
    bool is_previous = false;
    if (key_id == current_id_) {
        key = &current_;
    } else if (previous_ && key_id == previous_id_) {
        key = &*previous_;
        is_previous = true;
    } else {
        return Fail(ErrorCode::kInvalidArgument, "secret cannot be decrypted", "sealed with an unknown key");
    }
    auto plaintext = Decrypt(*key, blob, associated_data);
    if (!plaintext) return Fail(std::move(plaintext.error()));
    return OpenedSecret{std::move(*plaintext), is_previous};
}

std::string SecretAssociatedData(std::string_view table, std::string_view row_id) {
    std::string ad(table);
    ad.push_back('\0');
    ad.append(row_id);
    return ad;
}

}  // namespace plyr::core
