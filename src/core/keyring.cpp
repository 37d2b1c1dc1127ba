#include "core/keyring.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>

#include <fmt/format.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/obj_mac.h>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/url/parse.hpp>

#include "core/encoding.hpp"
#include "core/log.hpp"

namespace plyr::core {
namespace {

constexpr std::string_view kKeyFileName = "oauth-encryption-key";

tl::unexpected<Error> ConfigError(std::string message) { return Fail(ErrorCode::kConfig, std::move(message)); }

std::string Errno() { return std::strerror(errno); }

Result<SecretBox> BoxFromConfigured(std::string_view current, std::string_view previous,
                                    std::string_view current_name) {
    auto current_raw = Base64UrlDecode(current);
    if (!current_raw || current_raw->size() != kSecretKeySize) {
        return ConfigError(
            fmt::format("invalid {}: expected base64url of 32 bytes (generate one with `plyr keygen "
                        "encryption-key`)",
                        current_name));
    }
    if (!previous.empty()) {
        auto previous_raw = Base64UrlDecode(previous);
        if (!previous_raw || previous_raw->size() != kSecretKeySize) {
            return ConfigError("invalid OAUTH_ENCRYPTION_KEY_PREVIOUS: expected base64url of 32 bytes");
        }
    }
    auto box = SecretBox::FromBase64Url(current, previous);
    if (!box) return ConfigError(fmt::format("invalid {}: {}", current_name, box.error().message));
    return box;
}

// Reads the development key file, refusing one that other users could read.
Result<std::string> ReadKeyFile(const std::filesystem::path& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        return ConfigError(fmt::format("cannot read {}: {}", path.string(), Errno()));
    }
    if (!S_ISREG(st.st_mode)) return ConfigError(fmt::format("{} is not a regular file", path.string()));
    if ((st.st_mode & 077) != 0) {
        return ConfigError(
            fmt::format("{} is readable by other users (mode {:o}); chmod 600 it", path.string(), st.st_mode & 0777));
    }
    std::ifstream in(path);
    if (!in) return ConfigError(fmt::format("cannot read {}", path.string()));
    std::stringstream body;
    body << in.rdbuf();
    std::string text = body.str();
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) text.pop_back();
    return text;
}

Status EnsurePrivateDirectory(const std::filesystem::path& dir) {
    std::error_code ec;
    std::filesystem::create_directories(dir.parent_path(), ec);
    if (ec) return Fail(ErrorCode::kIo, fmt::format("cannot create {}: {}", dir.parent_path().string(), ec.message()));
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
        return Fail(ErrorCode::kIo, fmt::format("cannot create {}: {}", dir.string(), Errno()));
    }
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
        return Fail(ErrorCode::kIo, fmt::format("{} is not a directory", dir.string()));
    }
    // An existing directory may predate us with a looser mode; the key must not sit in a listable folder.
    if ((st.st_mode & 077) != 0 && ::chmod(dir.c_str(), 0700) != 0) {
        return Fail(ErrorCode::kIo, fmt::format("cannot chmod 700 {}: {}", dir.string(), Errno()));
    }
    return Ok();
}

// Writes `contents` to a private temporary file and links it to `path`: the key appears complete or not
// at all, and if another process won the race (EEXIST) its key is kept. Returns false when it lost.
Result<bool> WriteKeyFileOnce(const std::filesystem::path& path, std::string_view contents) {
    std::filesystem::path tmp = path;
    tmp += fmt::format(".tmp-{}", RandomHex(8));
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return Fail(ErrorCode::kIo, fmt::format("cannot create {}: {}", tmp.string(), Errno()));
    std::size_t written = 0;
    bool ok = true;
    while (written < contents.size()) {
        ssize_t n = ::write(fd, contents.data() + written, contents.size() - written);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            ok = false;
            break;
        }
        written += static_cast<std::size_t>(n);
    }
    std::string write_error = ok ? std::string() : Errno();
    if (ok && ::fsync(fd) != 0) {
        ok = false;
        write_error = Errno();
    }
    ::close(fd);
    if (!ok) {
        ::unlink(tmp.c_str());
        return Fail(ErrorCode::kIo, fmt::format("cannot write {}: {}", tmp.string(), write_error));
    }
    bool won = true;
    if (::link(tmp.c_str(), path.c_str()) != 0) {
        int link_errno = errno;
        ::unlink(tmp.c_str());
        if (link_errno != EEXIST) {
            return Fail(ErrorCode::kIo, fmt::format("cannot create {}: {}", path.string(), std::strerror(link_errno)));
        }
        won = false;
    } else {
        ::unlink(tmp.c_str());
    }
    int dir_fd = ::open(path.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd >= 0) {
        ::fsync(dir_fd);
        ::close(dir_fd);
    }
    return won;
}

// d·G == (x, y) on P-256, with 0 < d < n.
bool KeyPairMatches(std::string_view d, std::string_view x, std::string_view y) {
    using Group = std::unique_ptr<EC_GROUP, decltype(&EC_GROUP_free)>;
    using Point = std::unique_ptr<EC_POINT, decltype(&EC_POINT_free)>;
    using Bn = std::unique_ptr<BIGNUM, decltype(&BN_free)>;
    using Ctx = std::unique_ptr<BN_CTX, decltype(&BN_CTX_free)>;
    auto bn = [](std::string_view bytes) {
        return Bn(
            BN_bin2bn(reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()), nullptr),
            &BN_free);
    };
    Group group(EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1), &EC_GROUP_free);
    Ctx ctx(BN_CTX_new(), &BN_CTX_free);
    Bn priv = bn(d), want_x = bn(x), want_y = bn(y);
    Bn got_x(BN_new(), &BN_free), got_y(BN_new(), &BN_free);
    if (!group || !ctx || !priv || !want_x || !want_y || !got_x || !got_y) return false;
    const BIGNUM* order = EC_GROUP_get0_order(group.get());
    if (BN_is_zero(priv.get()) || BN_cmp(priv.get(), order) >= 0) return false;
    Point pub(EC_POINT_new(group.get()), &EC_POINT_free);
    if (!pub || EC_POINT_mul(group.get(), pub.get(), priv.get(), nullptr, nullptr, ctx.get()) != 1) return false;
    if (EC_POINT_get_affine_coordinates(group.get(), pub.get(), got_x.get(), got_y.get(), ctx.get()) != 1) {
        return false;
    }
    return BN_cmp(got_x.get(), want_x.get()) == 0 && BN_cmp(got_y.get(), want_y.get()) == 0;
}

}  // namespace

bool IsDevelopmentMode(const Config& config) {
    auto url = boost::urls::parse_absolute_uri(config.public_url);
    return url && url->scheme_id() == boost::urls::scheme::http && IsLoopbackHostName(url->host());
}

std::filesystem::path DevelopmentKeyPath(const Config& config) {
    return config.data_dir / "secrets" / std::string(kKeyFileName);
}

std::string_view ToString(KeySource source) {
    switch (source) {
        case KeySource::kConfigured:
            return "configured";
        case KeySource::kDevelopmentFile:
            return "development_file";
        case KeySource::kGenerated:
            return "generated";
    }
    return "configured";
}

Result<LoadedKeyring> LoadKeyring(const Config& config) {
    if (!config.oauth_encryption_key.empty()) {
        auto box = BoxFromConfigured(config.oauth_encryption_key, config.oauth_encryption_key_previous,
                                     "OAUTH_ENCRYPTION_KEY");
        if (!box) return Fail(box.error());
        return LoadedKeyring{std::move(*box), KeySource::kConfigured, {}};
    }
    if (!IsDevelopmentMode(config)) {
        return ConfigError(
            "OAUTH_ENCRYPTION_KEY is required: generate one with `plyr keygen encryption-key` and set it (or "
            "OAUTH_ENCRYPTION_KEY_FILE); only a development PUBLIC_URL (http on 127.0.0.1, [::1] or localhost) "
            "generates one into DATA_DIR/secrets/");
    }
    std::filesystem::path path = DevelopmentKeyPath(config);
    PLYR_TRY_STATUS(EnsurePrivateDirectory(path.parent_path()));
    KeySource source = KeySource::kDevelopmentFile;
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) {
        auto won = WriteKeyFileOnce(path, Base64UrlEncode(RandomBytes(kSecretKeySize)) + "\n");
        if (!won) return Fail(won.error());
        if (*won) {
            source = KeySource::kGenerated;
            log::Info("oauth_encryption_key_generated", {{"path", path.string()}});
        }
    }
    auto text = ReadKeyFile(path);
    if (!text) return Fail(text.error());
    auto box = BoxFromConfigured(*text, config.oauth_encryption_key_previous, path.string());
    if (!box) return Fail(box.error());
    return LoadedKeyring{std::move(*box), source, path};
}

Result<SecretBox> LoadSecretBox(const Config& config) {
    auto loaded = LoadKeyring(config);
    if (!loaded) return Fail(loaded.error());
    return std::move(loaded->box);
}

Result<OAuthJwkInfo> CheckOAuthJwk(std::string_view jwk_json) {
    auto bad = [](std::string_view why) { return ConfigError(fmt::format("invalid OAUTH_JWK: {}", why)); };
    boost::system::error_code ec;
    boost::json::value value = boost::json::parse(jwk_json, ec);
    if (ec || !value.is_object()) {
        return bad("not a JSON object (generate one with `plyr keygen oauth-jwk`)");
    }
    const boost::json::object& jwk = value.as_object();
    auto text = [&](std::string_view name) -> std::optional<std::string> {
        const boost::json::value* member = jwk.if_contains(name);
        if (member == nullptr || !member->is_string()) return std::nullopt;
        return std::string(member->as_string());
    };
    if (text("kty") != "EC") return bad("kty must be \"EC\"");
    if (text("crv") != "P-256") return bad("crv must be \"P-256\" (ES256)");
    if (jwk.contains("alg") && text("alg") != "ES256") return bad("alg must be \"ES256\"");
    if (jwk.contains("use") && text("use") != "sig") return bad("use must be \"sig\"");
    if (jwk.contains("kid") && (!text("kid") || text("kid")->empty())) return bad("kid must be a non-empty string");
    std::string coords[3];
    const char* names[3] = {"d", "x", "y"};
    for (int i = 0; i < 3; ++i) {
        auto member = text(names[i]);
        if (!member) {
            return bad(i == 0 ? "the private member d is missing (a public JWK cannot sign)"
                              : fmt::format("member {} is missing", names[i]));
        }
        auto raw = Base64UrlDecode(*member);
        if (!raw || raw->size() != 32) return bad(fmt::format("member {} is not base64url of 32 bytes", names[i]));
        coords[i] = std::move(*raw);
    }
    if (!KeyPairMatches(coords[0], coords[1], coords[2])) return bad("x/y do not match the private key d");
    OAuthJwkInfo info;
    if (auto kid = text("kid")) {
        info.kid = *kid;
    } else {
        // RFC 7638: the required members in lexicographic order, no whitespace.
        std::string canonical =
            fmt::format(R"({{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}})", *text("x"), *text("y"));
        info.kid = Base64UrlEncode(DigestToString(Sha256(canonical)));
    }
    return info;
}

}  // namespace plyr::core
