#include "core/config.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>

#include "core/encoding.hpp"
#include "core/keyring.hpp"

extern char** environ;

namespace plyr::core {
namespace {

const std::vector<SettingInfo> kSettings = {
    // server
    {"PUBLIC_URL", "http://127.0.0.1:8001", "server",
     "public origin of the web app and API (FRONTEND_URL is an alias)"},
    {"HOST", "127.0.0.1", "server", "address to listen on"},
    {"PORT", "8001", "server", "TCP port to listen on (0 = any free port)"},
    {"DATA_DIR", "./plyr-data", "server", "directory for the SQLite file, local media and staging"},
    {"NAME", "plyr", "server", "instance name (OAuth client_name)"},
    {"TRUSTED_PROXIES", "", "server", "comma list of CIDRs whose X-Forwarded-For is honoured"},
    {"CORS_ALLOWED_ORIGINS", "", "server", "comma list of extra credentialed origins"},
    {"TLS_CERT_FILE", "", "server", "TLS certificate (empty = plain HTTP behind a proxy)"},
    {"TLS_KEY_FILE", "", "server", "TLS private key"},
    {"LOG_LEVEL", "info", "server", "debug | info | warn | error"},
    {"LOG_FORMAT", "json", "server", "json | text"},
    {"METRICS_TOKEN", "", "server", "bearer token for /metrics (empty = loopback only)", true},
    {"DEFAULT_PAGE_SIZE", "50", "server", "default page size of cursor lists (1-100)"},
    {"STATIC_DIR", "", "server",
     "web app build directory (empty = frontend/build next to the binary's source, if present)"},
    {"HTTP_HEADER_TIMEOUT_SECONDS", "10", "server", "time a client has to send the request head"},
    {"HTTP_IDLE_TIMEOUT_SECONDS", "60", "server", "keep-alive idle time before the connection is closed"},
    {"HTTP_REQUEST_TIMEOUT_SECONDS", "60", "server", "time a client has to send a (non-upload) request body"},
    {"HTTP_SHUTDOWN_GRACE_SECONDS", "10", "server", "on SIGTERM, how long in-flight requests may finish"},
    {"HTTP_MAX_CONNECTIONS", "10000", "server", "concurrent connections; more are refused"},
    {"HTTP_THREADS", "0", "server", "I/O threads (0 = number of cores)"},
    // database
    {"DATABASE_URL", "", "database",
     "sqlite:///relative.db, sqlite:////absolute.db or postgres://… (empty = $DATA_DIR/plyr.db)"},
    {"DATABASE_POOL_SIZE", "10", "database", "PostgreSQL connections / SQLite readers"},
    {"DATABASE_STATEMENT_TIMEOUT", "10", "database", "statement timeout in seconds (PostgreSQL)"},
    {"AUTO_MIGRATE", "true", "database", "apply pending migrations when `plyr serve` starts"},
    // storage
    {"STORAGE_BACKEND", "local", "storage", "local | s3"},
    {"AWS_ACCESS_KEY_ID", "", "storage", "S3 access key id"},
    {"AWS_SECRET_ACCESS_KEY", "", "storage", "S3 secret access key", true},
    {"R2_ENDPOINT_URL", "", "storage", "S3-compatible endpoint URL"},
    {"S3_REGION", "auto", "storage", "S3 region used for signing"},
    {"S3_FORCE_PATH_STYLE", "false", "storage", "path-style bucket addressing instead of virtual-host"},
    {"R2_BUCKET", "", "storage", "public audio bucket"},
    {"R2_PRIVATE_BUCKET", "", "storage", "private bucket (gated audio, staging, exports)"},
    {"R2_IMAGE_BUCKET", "", "storage", "image bucket"},
    {"R2_PUBLIC_BUCKET_URL", "", "storage", "public URL of the audio bucket"},
    {"R2_PUBLIC_IMAGE_BUCKET_URL", "", "storage", "public URL of the image bucket"},
    {"AUDIO_DELIVERY", "redirect", "storage", "redirect | proxy (S3 mode)"},
    {"PRESIGNED_URL_EXPIRY_SECONDS", "3600", "storage", "lifetime of presigned URLs"},
    {"EXPORT_RETENTION_HOURS", "24", "storage", "how long media exports are kept"},
    // limits
    {"MAX_UPLOAD_SIZE_MB", "1536", "limits", "largest audio upload"},
    {"MAX_IMAGE_SIZE_MB", "20", "limits", "largest image upload"},
    {"MAX_AUDIO_DURATION_SECONDS", "21600", "limits", "longest accepted audio"},
    {"COMMENTS_MAX_PER_TRACK", "20", "limits", "timed comments per track"},
    {"DEFAULT_HIDDEN_TAGS", "ai", "limits", "comma list of tags hidden by default"},
    // atproto
    {"ATPROTO_APP_NAMESPACE", "fm.plyr", "atproto", "record namespace (NSID authority)"},
    {"OAUTH_ENCRYPTION_KEY", "", "atproto",
     "32-byte base64url key encrypting OAuth secrets at rest (`plyr keygen encryption-key`); required, except "
     "with a development PUBLIC_URL (http on a loopback host), where $DATA_DIR/secrets/oauth-encryption-key is "
     "generated once",
     true},
    {"OAUTH_ENCRYPTION_KEY_PREVIOUS", "", "atproto", "previous key, still accepted for decryption", true},
    {"OAUTH_JWK", "", "atproto",
     "ES256 private JWK (`plyr keygen oauth-jwk`): makes plyr a confidential OAuth client; needs an https "
     "PUBLIC_URL unless ALLOW_PRIVATE_NETWORK is set",
     true},
    {"PLC_DIRECTORY_URL", "https://plc.directory", "atproto", "did:plc directory"},
    {"HANDLE_RESOLVER_URL", "", "atproto",
     "XRPC service for com.atproto.identity.resolveHandle (needed for .test handles of a local PDS)"},
    {"ALLOW_PRIVATE_NETWORK", "false", "atproto",
     "true, or a comma list of host:port / CIDR entries allowed as outbound targets"},
    {"ADMIN_DIDS", "", "atproto", "comma list of admin DIDs"},
    {"MODERATION_LABELER_DID", "", "atproto", "DID of the built-in labeler"},
    {"ATPROTO_USE_PERMISSION_SETS", "false", "atproto", "request include:{ns}.authFullApp instead of granular scopes"},
    {"ATPROTO_CLIENT_ID", "", "atproto",
     "OAuth client id (empty = derived from PUBLIC_URL: the loopback client id, or "
     "{PUBLIC_URL}/oauth-client-metadata.json)"},
    {"ATPROTO_REDIRECT_URI", "", "atproto", "OAuth redirect URI (empty = {PUBLIC_URL}/auth/callback)"},
    {"ATPROTO_SCOPE_OVERRIDE", "", "atproto", "requested OAuth scope, replacing the computed one (empty = computed)"},
    {"BSKY_APPVIEW_URL", "https://public.api.bsky.app", "atproto",
     "Bluesky AppView for profiles on first sign-in (empty = the PDS only)"},
    {"ATPROTO_RECORD_VIEWER_URL", "https://pdsls.dev/{uri}", "atproto", "record viewer link template ({uri})"},
    // auth
    {"AUTH_DEVELOPER_TOKEN_DEFAULT_DAYS", "90", "auth", "default lifetime of a developer token in days"},
    {"AUTH_DEVELOPER_TOKEN_MAX_DAYS", "365", "auth",
     "longest developer token in days (then capped by the session's refresh lifetime)"},
    // rate limits
    {"RATE_LIMIT_ENABLED", "true", "rate limits", "per-process token-bucket rate limits"},
    {"RATE_LIMIT_DEFAULT_LIMIT", "100/minute", "rate limits",
     "API routes without a bucket of their own: N per minute, or N/second, N/minute, N/hour, N/day"},
    {"RATE_LIMIT_AUTH_LIMIT", "10/minute", "rate limits", "/auth/start, /auth/exchange and the …/start POSTs, per IP"},
    {"RATE_LIMIT_UPLOAD_LIMIT", "20/minute", "rate limits", "POST /tracks/"},
    // jobs & media
    {"WORKER_IN_PROCESS", "true", "jobs", "run job workers inside `plyr serve`"},
    {"WORKER_CONCURRENCY", "4", "jobs", "concurrent jobs per process"},
    {"JOB_LEASE_SECONDS", "60", "jobs", "job lease; extended by heartbeats, re-run when it expires"},
    {"OUTBOX_CONCURRENCY", "8", "jobs", "concurrent PDS writes"},
    {"MEDIA_MAX_PROCS", "", "jobs", "concurrent media children (empty = half the cores, at least 1)"},
    {"TRANSCODER_ENABLED", "true", "jobs", "transcode non-web formats"},
    {"TRANSCODER_TARGET_FORMAT", "mp3", "jobs", "web rendition format"},
    {"TRANSCODER_TIMEOUT_SECONDS", "600", "jobs", "transcode wall-clock limit"},
    {"PDS_AUDIO_UPLOADS_ENABLED", "true", "jobs",
     "also upload the playable audio to the artist's PDS as the record's audioBlob"},
    {"TEAL_ENABLED", "true", "integrations", "teal.fm scrobbling"},
};

std::string Trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
    return std::string(s);
}

std::vector<std::string> SplitList(std::string_view s) {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start <= s.size()) {
        std::size_t comma = s.find(',', start);
        if (comma == std::string_view::npos) comma = s.size();
        std::string item = Trim(s.substr(start, comma - start));
        if (!item.empty()) out.push_back(std::move(item));
        start = comma + 1;
    }
    return out;
}

tl::unexpected<Error> Bad(std::string_view name, std::string_view why) {
    return Fail(ErrorCode::kConfig, fmt::format("invalid {}: {}", name, why));
}

class Reader {
  public:
    explicit Reader(const Environment& env) : env_(env) {}

    std::string Str(std::string_view name) const {
        auto it = env_.find(name);
        return it == env_.end() ? std::string() : it->second;
    }

    Result<std::int64_t> Int(std::string_view name, std::int64_t min, std::int64_t max) const {
        std::string text = Str(name);
        std::int64_t value = 0;
        auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
        if (text.empty() || ec != std::errc() || ptr != text.data() + text.size()) {
            return Bad(name, fmt::format("'{}' is not a whole number", text));
        }
        if (value < min || value > max) return Bad(name, fmt::format("{} is outside {}..{}", value, min, max));
        return value;
    }

    Result<bool> Bool(std::string_view name) const {
        std::string text = Str(name);
        for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (text == "true" || text == "1" || text == "yes" || text == "on") return true;
        if (text == "false" || text == "0" || text == "no" || text == "off") return false;
        return Bad(name, fmt::format("'{}' is not true or false", Str(name)));
    }

  private:
    const Environment& env_;
};

bool IsHttpUrl(std::string_view text, bool allow_path) {
    auto url = boost::urls::parse_absolute_uri(text);
    if (!url) return false;
    if (url->scheme() != "http" && url->scheme() != "https") return false;
    if (url->host().empty()) return false;
    if (!allow_path && !(url->path().empty() || url->path() == "/")) return false;
    return !url->has_query() && !url->has_fragment();
}

// "1.2.3.4", "::1", "10.0.0.0/8", "fd00::/8" (the forms http::TrustedProxies accepts).
bool IsIpOrCidr(std::string_view entry) {
    std::string address(entry);
    int max_bits = 128;
    std::string bits;
    if (auto slash = entry.find('/'); slash != std::string_view::npos) {
        address = std::string(entry.substr(0, slash));
        bits = std::string(entry.substr(slash + 1));
        if (bits.empty()) return false;
    }
    unsigned char buf[16];
    if (inet_pton(AF_INET, address.c_str(), buf) == 1) {
        max_bits = 32;
    } else if (inet_pton(AF_INET6, address.c_str(), buf) != 1) {
        return false;
    }
    if (bits.empty()) return true;
    int n = -1;
    auto [ptr, ec] = std::from_chars(bits.data(), bits.data() + bits.size(), n);
    return ec == std::errc() && ptr == bits.data() + bits.size() && n >= 0 && n <= max_bits;
}

// An http(s) URL that may carry a query (OAuth client ids of loopback clients and redirect URIs do).
bool IsHttpUrlWithQuery(std::string_view text) {
    auto url = boost::urls::parse_absolute_uri(text);
    if (!url) return false;
    if (url->scheme() != "http" && url->scheme() != "https") return false;
    return !url->host().empty() && !url->has_fragment();
}

}  // namespace

bool IsLoopbackHostName(std::string_view host) {
    std::string lower(host);
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return lower == "127.0.0.1" || lower == "localhost" || lower == "[::1]";
}

Result<RateLimitSetting> ParseRateLimitSetting(std::string_view name, std::string_view text) {
    std::string trimmed = Trim(text);
    std::string_view view(trimmed);
    std::string_view count = view;
    std::string_view unit = "minute";
    if (auto slash = view.find('/'); slash != std::string_view::npos) {
        count = view.substr(0, slash);
        unit = view.substr(slash + 1);
    }
    RateLimitSetting out;
    auto [ptr, ec] = std::from_chars(count.data(), count.data() + count.size(), out.limit);
    if (count.empty() || ec != std::errc() || ptr != count.data() + count.size() || out.limit < 1 ||
        out.limit > 1'000'000) {
        return Bad(name, fmt::format("'{}' is not N or N/unit with N in 1..1000000", trimmed));
    }
    if (unit == "second" || unit == "s" || unit == "sec") {
        out.period_seconds = 1;
    } else if (unit == "minute" || unit == "m" || unit == "min") {
        out.period_seconds = 60;
    } else if (unit == "hour" || unit == "h") {
        out.period_seconds = 3600;
    } else if (unit == "day" || unit == "d") {
        out.period_seconds = 86400;
    } else {
        return Bad(name, fmt::format("unit '{}' is not second, minute, hour or day", unit));
    }
    return out;
}

const std::vector<SettingInfo>& Settings() { return kSettings; }

std::string_view ToString(DatabaseKind kind) { return kind == DatabaseKind::kSqlite ? "sqlite" : "postgres"; }
std::string_view ToString(StorageKind kind) { return kind == StorageKind::kLocal ? "local" : "s3"; }
std::string_view ToString(ClientMode mode) {
    switch (mode) {
        case ClientMode::kConfidential:
            return "confidential";
        case ClientMode::kPublic:
            return "public";
        case ClientMode::kLoopback:
            return "loopback";
    }
    return "public";
}

ClientMode Config::ClientModeFromUrl() const {
    // A configured JWK makes plyr confidential even on a loopback PUBLIC_URL (product.md §6.1).
    if (!oauth_jwk.empty()) return ClientMode::kConfidential;
    auto url = boost::urls::parse_absolute_uri(public_url);
    if (url && IsLoopbackHostName(url->host())) return ClientMode::kLoopback;
    return ClientMode::kPublic;
}

std::string Config::PublicOrigin() const {
    auto url = boost::urls::parse_absolute_uri(public_url);
    if (!url) return public_url;
    std::string origin = std::string(url->scheme()) + "://" + std::string(url->encoded_host_and_port());
    return origin;
}

Result<Environment> ParseDotEnv(std::string_view body) {
    Environment out;
    std::size_t line_no = 0;
    std::size_t pos = 0;
    while (pos <= body.size()) {
        std::size_t end = body.find('\n', pos);
        if (end == std::string_view::npos) end = body.size();
        std::string line = Trim(body.substr(pos, end - pos));
        pos = end + 1;
        ++line_no;
        if (line.empty() || line[0] == '#') continue;
        if (line.rfind("export ", 0) == 0) line = Trim(std::string_view(line).substr(7));
        std::size_t eq = line.find('=');
        if (eq == std::string::npos || eq == 0) {
            return Fail(ErrorCode::kConfig, fmt::format(".env line {}: expected NAME=value", line_no));
        }
        std::string key = Trim(std::string_view(line).substr(0, eq));
        std::string value = Trim(std::string_view(line).substr(eq + 1));
        for (char c : key) {
            if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) {
                return Fail(ErrorCode::kConfig, fmt::format(".env line {}: invalid name '{}'", line_no, key));
            }
        }
        if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') && value.back() == value.front()) {
            value = value.substr(1, value.size() - 2);
        } else if (auto hash = value.find(" #"); hash != std::string::npos) {
            value = Trim(std::string_view(value).substr(0, hash));
        }
        out[key] = value;
        if (end == body.size()) break;
    }
    return out;
}

Environment ProcessEnvironment() {
    Environment out;
    for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
        std::string_view entry(*e);
        std::size_t eq = entry.find('=');
        if (eq == std::string_view::npos) continue;
        std::string key(entry.substr(0, eq));
        bool known = key == "FRONTEND_URL";
        for (const SettingInfo& s : kSettings) {
            if (key == s.name || (s.secret && key == std::string(s.name) + "_FILE")) known = true;
        }
        if (known) out[key] = std::string(entry.substr(eq + 1));
    }
    return out;
}

Result<Environment> MergeSources(const std::optional<std::filesystem::path>& dotenv_path,
                                 const Environment& process_env, const Environment& overrides) {
    Environment merged;
    for (const SettingInfo& s : kSettings) merged[std::string(s.name)] = std::string(s.default_value);
    auto apply = [&](const Environment& layer) {
        for (const auto& [k, v] : layer) merged[k] = v;
        // FRONTEND_URL is plyr.fm's name for PUBLIC_URL; the explicit name wins within a layer.
        if (layer.contains("FRONTEND_URL") && !layer.contains("PUBLIC_URL"))
            merged["PUBLIC_URL"] = layer.at("FRONTEND_URL");
        // A secret given as NAME_FILE is read from that file.
        for (const SettingInfo& s : kSettings) {
            if (!s.secret) continue;
            auto it = layer.find(std::string(s.name) + "_FILE");
            if (it == layer.end()) continue;
            merged[std::string(s.name) + "_FILE"] = it->second;
        }
    };
    if (dotenv_path && std::filesystem::exists(*dotenv_path)) {
        std::ifstream in(*dotenv_path);
        if (!in) return Fail(ErrorCode::kConfig, fmt::format("cannot read {}", dotenv_path->string()));
        std::stringstream body;
        body << in.rdbuf();
        auto parsed = ParseDotEnv(body.str());
        if (!parsed) return Fail(parsed.error());
        apply(*parsed);
    }
    apply(process_env);
    apply(overrides);
    for (const SettingInfo& s : kSettings) {
        if (!s.secret) continue;
        auto it = merged.find(std::string(s.name) + "_FILE");
        if (it == merged.end()) continue;
        std::ifstream in(it->second);
        if (!in) return Fail(ErrorCode::kConfig, fmt::format("invalid {}_FILE: cannot read {}", s.name, it->second));
        std::stringstream body;
        body << in.rdbuf();
        std::string value = body.str();
        while (!value.empty() && (value.back() == '\n' || value.back() == '\r')) value.pop_back();
        merged[std::string(s.name)] = value;
        merged.erase(it);
    }
    return merged;
}

Result<Config> LoadConfig(const Environment& merged) {
    Reader r(merged);
    Config c;

    c.public_url = r.Str("PUBLIC_URL");
    while (c.public_url.size() > 1 && c.public_url.back() == '/') c.public_url.pop_back();
    if (!IsHttpUrl(c.public_url, true))
        return Bad("PUBLIC_URL", fmt::format("'{}' is not an http(s) URL", c.public_url));
    c.host = r.Str("HOST");
    if (c.host.empty()) return Bad("HOST", "must not be empty");
    auto port = r.Int("PORT", 0, 65535);
    if (!port) return Fail(port.error());
    c.port = static_cast<std::uint16_t>(*port);
    c.data_dir = r.Str("DATA_DIR");
    if (c.data_dir.empty()) return Bad("DATA_DIR", "must not be empty");
    c.name = r.Str("NAME");
    c.trusted_proxies = SplitList(r.Str("TRUSTED_PROXIES"));
    c.cors_allowed_origins = SplitList(r.Str("CORS_ALLOWED_ORIGINS"));
    for (const std::string& origin : c.cors_allowed_origins) {
        if (!IsHttpUrl(origin, false) || origin.back() == '/') {
            return Bad("CORS_ALLOWED_ORIGINS", fmt::format("'{}' is not an origin (scheme://host[:port])", origin));
        }
    }
    c.tls_cert_file = r.Str("TLS_CERT_FILE");
    c.tls_key_file = r.Str("TLS_KEY_FILE");
    if (c.tls_cert_file.empty() != c.tls_key_file.empty()) {
        return Bad("TLS_CERT_FILE", "TLS_CERT_FILE and TLS_KEY_FILE go together");
    }
    c.log_level = r.Str("LOG_LEVEL");
    if (c.log_level != "debug" && c.log_level != "info" && c.log_level != "warn" && c.log_level != "error") {
        return Bad("LOG_LEVEL", fmt::format("'{}' is not debug, info, warn or error", c.log_level));
    }
    c.log_format = r.Str("LOG_FORMAT");
    if (c.log_format != "json" && c.log_format != "text") return Bad("LOG_FORMAT", "must be json or text");
    c.metrics_token = r.Str("METRICS_TOKEN");
    auto page = r.Int("DEFAULT_PAGE_SIZE", 1, 100);
    if (!page) return Fail(page.error());
    c.default_page_size = static_cast<int>(*page);
    c.static_dir = r.Str("STATIC_DIR");

    struct IntSetting {
        const char* name;
        int* target;
        std::int64_t min, max;
    };
    int statement_timeout = 0;
    int media_procs = 0;
    const IntSetting ints[] = {
        {"HTTP_HEADER_TIMEOUT_SECONDS", &c.http_header_timeout_seconds, 1, 3600},
        {"HTTP_IDLE_TIMEOUT_SECONDS", &c.http_idle_timeout_seconds, 1, 86400},
        {"HTTP_REQUEST_TIMEOUT_SECONDS", &c.http_request_timeout_seconds, 1, 86400},
        {"HTTP_SHUTDOWN_GRACE_SECONDS", &c.http_shutdown_grace_seconds, 0, 3600},
        {"HTTP_MAX_CONNECTIONS", &c.http_max_connections, 1, 1000000},
        {"HTTP_THREADS", &c.http_threads, 0, 256},
        {"DATABASE_POOL_SIZE", &c.database_pool_size, 1, 1000},
        {"DATABASE_STATEMENT_TIMEOUT", &statement_timeout, 1, 3600},
        {"PRESIGNED_URL_EXPIRY_SECONDS", &c.s3.presigned_url_expiry_seconds, 1, 604800},
        {"EXPORT_RETENTION_HOURS", &c.export_retention_hours, 1, 24 * 365},
        {"MAX_UPLOAD_SIZE_MB", &c.max_upload_size_mb, 1, 1 << 20},
        {"MAX_IMAGE_SIZE_MB", &c.max_image_size_mb, 1, 1024},
        {"MAX_AUDIO_DURATION_SECONDS", &c.max_audio_duration_seconds, 1, 7 * 86400},
        {"COMMENTS_MAX_PER_TRACK", &c.comments_max_per_track, 0, 10000},
        {"WORKER_CONCURRENCY", &c.worker_concurrency, 0, 1024},
        {"JOB_LEASE_SECONDS", &c.job_lease_seconds, 5, 86400},
        {"OUTBOX_CONCURRENCY", &c.outbox_concurrency, 1, 1024},
        {"TRANSCODER_TIMEOUT_SECONDS", &c.transcoder_timeout_seconds, 1, 86400},
        {"AUTH_DEVELOPER_TOKEN_DEFAULT_DAYS", &c.auth_developer_token_default_days, 1, 3650},
        {"AUTH_DEVELOPER_TOKEN_MAX_DAYS", &c.auth_developer_token_max_days, 1, 3650},
    };
    for (const IntSetting& s : ints) {
        auto v = r.Int(s.name, s.min, s.max);
        if (!v) return Fail(v.error());
        *s.target = static_cast<int>(*v);
    }
    c.database_statement_timeout_seconds = statement_timeout;
    if (r.Str("MEDIA_MAX_PROCS").empty()) {
        c.media_max_procs = std::max(1u, std::thread::hardware_concurrency() / 2);
    } else {
        auto v = r.Int("MEDIA_MAX_PROCS", 1, 256);
        if (!v) return Fail(v.error());
        media_procs = static_cast<int>(*v);
        c.media_max_procs = media_procs;
    }

    struct BoolSetting {
        const char* name;
        bool* target;
    };
    const BoolSetting bools[] = {
        {"AUTO_MIGRATE", &c.auto_migrate},
        {"S3_FORCE_PATH_STYLE", &c.s3.force_path_style},
        {"WORKER_IN_PROCESS", &c.worker_in_process},
        {"TRANSCODER_ENABLED", &c.transcoder_enabled},
        {"PDS_AUDIO_UPLOADS_ENABLED", &c.pds_audio_uploads_enabled},
        {"TEAL_ENABLED", &c.teal_enabled},
        {"ATPROTO_USE_PERMISSION_SETS", &c.atproto_use_permission_sets},
        {"RATE_LIMIT_ENABLED", &c.rate_limit_enabled},
    };
    for (const BoolSetting& s : bools) {
        auto v = r.Bool(s.name);
        if (!v) return Fail(v.error());
        *s.target = *v;
    }

    // database
    c.database_url = r.Str("DATABASE_URL");
    if (c.database_url.empty()) {
        c.database_kind = DatabaseKind::kSqlite;
        c.sqlite_path = (c.data_dir / "plyr.db").string();
    } else if (c.database_url.rfind("sqlite://", 0) == 0) {
        // sqlite:///relative.db (three slashes) and sqlite:////absolute.db (four), as SQLAlchemy spells them.
        std::string rest = c.database_url.substr(std::string_view("sqlite://").size());
        if (rest.size() < 2 || rest[0] != '/')
            return Bad("DATABASE_URL", "expected sqlite:///path.db or sqlite:////abs/path.db");
        c.database_kind = DatabaseKind::kSqlite;
        c.sqlite_path = rest.substr(1);
        if (c.sqlite_path.empty()) return Bad("DATABASE_URL", "sqlite path is empty");
    } else if (c.database_url.rfind("postgres://", 0) == 0 || c.database_url.rfind("postgresql://", 0) == 0) {
        c.database_kind = DatabaseKind::kPostgres;
        if (!boost::urls::parse_absolute_uri(c.database_url)) return Bad("DATABASE_URL", "not a valid postgres:// URL");
    } else {
        return Bad("DATABASE_URL", "scheme must be sqlite:// or postgres:// (postgresql://)");
    }

    // storage
    std::string backend = r.Str("STORAGE_BACKEND");
    if (backend == "local") {
        c.storage_kind = StorageKind::kLocal;
    } else if (backend == "s3") {
        c.storage_kind = StorageKind::kS3;
    } else {
        return Bad("STORAGE_BACKEND", fmt::format("'{}' is not local or s3", backend));
    }
    c.s3.endpoint_url = r.Str("R2_ENDPOINT_URL");
    c.s3.region = r.Str("S3_REGION");
    c.s3.access_key_id = r.Str("AWS_ACCESS_KEY_ID");
    c.s3.secret_access_key = r.Str("AWS_SECRET_ACCESS_KEY");
    c.s3.bucket = r.Str("R2_BUCKET");
    c.s3.private_bucket = r.Str("R2_PRIVATE_BUCKET");
    c.s3.image_bucket = r.Str("R2_IMAGE_BUCKET");
    c.s3.public_bucket_url = r.Str("R2_PUBLIC_BUCKET_URL");
    c.s3.public_image_bucket_url = r.Str("R2_PUBLIC_IMAGE_BUCKET_URL");
    c.s3.audio_delivery = r.Str("AUDIO_DELIVERY");
    if (c.s3.audio_delivery != "redirect" && c.s3.audio_delivery != "proxy") {
        return Bad("AUDIO_DELIVERY", "must be redirect or proxy");
    }
    if (c.storage_kind == StorageKind::kS3) {
        if (!IsHttpUrl(c.s3.endpoint_url, false))
            return Bad("R2_ENDPOINT_URL", "an http(s) endpoint is required with STORAGE_BACKEND=s3");
        if (c.s3.access_key_id.empty()) return Bad("AWS_ACCESS_KEY_ID", "required with STORAGE_BACKEND=s3");
        if (c.s3.secret_access_key.empty()) return Bad("AWS_SECRET_ACCESS_KEY", "required with STORAGE_BACKEND=s3");
        if (c.s3.bucket.empty()) return Bad("R2_BUCKET", "required with STORAGE_BACKEND=s3");
        if (c.s3.region.empty()) return Bad("S3_REGION", "must not be empty");
    }
    for (const char* name : {"R2_PUBLIC_BUCKET_URL", "R2_PUBLIC_IMAGE_BUCKET_URL"}) {
        std::string v = r.Str(name);
        if (!v.empty() && !IsHttpUrl(v, true)) return Bad(name, "not an http(s) URL");
    }

    c.default_hidden_tags = SplitList(r.Str("DEFAULT_HIDDEN_TAGS"));

    // atproto
    c.atproto_app_namespace = r.Str("ATPROTO_APP_NAMESPACE");
    if (c.atproto_app_namespace.empty() || c.atproto_app_namespace.find('.') == std::string::npos) {
        return Bad("ATPROTO_APP_NAMESPACE", "must be a reversed domain such as fm.plyr");
    }
    c.oauth_encryption_key = r.Str("OAUTH_ENCRYPTION_KEY");
    c.oauth_encryption_key_previous = r.Str("OAUTH_ENCRYPTION_KEY_PREVIOUS");
    // Format only (a missing key is decided by LoadSecretBox, which knows about development mode), so
    // `plyr config check` catches a mangled key before `plyr serve` does. Never echo the value.
    for (const char* name : {"OAUTH_ENCRYPTION_KEY", "OAUTH_ENCRYPTION_KEY_PREVIOUS"}) {
        std::string value = r.Str(name);
        if (value.empty()) continue;
        auto raw = Base64UrlDecode(value);
        if (!raw || raw->size() != 32) {
            return Bad(name, "expected base64url of 32 bytes (generate one with `plyr keygen encryption-key`)");
        }
    }
    c.oauth_jwk = r.Str("OAUTH_JWK");
    c.plc_directory_url = r.Str("PLC_DIRECTORY_URL");
    if (!IsHttpUrl(c.plc_directory_url, true)) return Bad("PLC_DIRECTORY_URL", "not an http(s) URL");
    c.allow_private_network = r.Str("ALLOW_PRIVATE_NETWORK");
    c.handle_resolver_url = r.Str("HANDLE_RESOLVER_URL");
    if (!c.handle_resolver_url.empty() && !IsHttpUrl(c.handle_resolver_url, true)) {
        return Bad("HANDLE_RESOLVER_URL", "not an http(s) URL");
    }
    c.admin_dids = SplitList(r.Str("ADMIN_DIDS"));
    for (const std::string& did : c.admin_dids) {
        if (did.rfind("did:", 0) != 0) return Bad("ADMIN_DIDS", fmt::format("'{}' is not a DID", did));
    }
    c.labeler_did = r.Str("MODERATION_LABELER_DID");

    if (c.auth_developer_token_default_days > c.auth_developer_token_max_days) {
        return Bad("AUTH_DEVELOPER_TOKEN_DEFAULT_DAYS", "must not exceed AUTH_DEVELOPER_TOKEN_MAX_DAYS");
    }
    struct RateSetting {
        const char* name;
        RateLimitSetting* target;
    };
    for (const RateSetting& s : {RateSetting{"RATE_LIMIT_DEFAULT_LIMIT", &c.rate_limit_default},
                                 RateSetting{"RATE_LIMIT_AUTH_LIMIT", &c.rate_limit_auth},
                                 RateSetting{"RATE_LIMIT_UPLOAD_LIMIT", &c.rate_limit_upload}}) {
        auto v = ParseRateLimitSetting(s.name, r.Str(s.name));
        if (!v) return Fail(v.error());
        *s.target = *v;
    }
    for (const std::string& entry : c.trusted_proxies) {
        if (!IsIpOrCidr(entry)) return Bad("TRUSTED_PROXIES", fmt::format("'{}' is not an IP address or CIDR", entry));
    }

    c.atproto_client_id = r.Str("ATPROTO_CLIENT_ID");
    if (!c.atproto_client_id.empty() && !IsHttpUrlWithQuery(c.atproto_client_id)) {
        return Bad("ATPROTO_CLIENT_ID", "not an http(s) URL");
    }
    c.atproto_redirect_uri = r.Str("ATPROTO_REDIRECT_URI");
    if (c.atproto_redirect_uri.empty()) c.atproto_redirect_uri = c.public_url + "/auth/callback";
    if (!IsHttpUrlWithQuery(c.atproto_redirect_uri)) return Bad("ATPROTO_REDIRECT_URI", "not an http(s) URL");
    c.atproto_scope_override = Trim(r.Str("ATPROTO_SCOPE_OVERRIDE"));
    if (!c.atproto_scope_override.empty() &&
        (" " + c.atproto_scope_override + " ").find(" atproto ") == std::string::npos) {
        return Bad("ATPROTO_SCOPE_OVERRIDE", "must include the `atproto` scope");
    }
    c.bsky_appview_url = r.Str("BSKY_APPVIEW_URL");
    while (!c.bsky_appview_url.empty() && c.bsky_appview_url.back() == '/') c.bsky_appview_url.pop_back();
    if (!c.bsky_appview_url.empty() && !IsHttpUrl(c.bsky_appview_url, true)) {
        return Bad("BSKY_APPVIEW_URL", "not an http(s) URL");
    }
    c.atproto_record_viewer_url = r.Str("ATPROTO_RECORD_VIEWER_URL");

    if (!c.oauth_jwk.empty()) {
        auto jwk = CheckOAuthJwk(c.oauth_jwk);
        if (!jwk) return Fail(jwk.error());
        c.oauth_jwk_kid = jwk->kid;
        // A confidential client publishes its metadata at PUBLIC_URL; authorization servers fetch it over
        // https, except a local test PDS that admits private addresses (product.md §8.2 OAUTH_JWK).
        auto url = boost::urls::parse_absolute_uri(c.public_url);
        bool private_ok = !c.allow_private_network.empty() && c.allow_private_network != "false";
        if (url && url->scheme_id() != boost::urls::scheme::https && !private_ok) {
            return Bad("OAUTH_JWK", "a confidential client needs an https PUBLIC_URL (or ALLOW_PRIVATE_NETWORK)");
        }
    }
    c.transcoder_target_format = r.Str("TRANSCODER_TARGET_FORMAT");
    if (c.transcoder_target_format != "mp3" && c.transcoder_target_format != "opus" &&
        c.transcoder_target_format != "aac") {
        return Bad("TRANSCODER_TARGET_FORMAT", "must be mp3, opus or aac");
    }
    return c;
}

Result<Config> LoadConfigFromProcess(const Environment& overrides) {
    auto merged = MergeSources(std::filesystem::path(".env"), ProcessEnvironment(), overrides);
    if (!merged) return Fail(merged.error());
    return LoadConfig(*merged);
}

std::string DescribeConfig(const Environment& merged) {
    std::string out;
    for (const SettingInfo& s : kSettings) {
        auto it = merged.find(s.name);
        std::string value = it == merged.end() ? std::string() : it->second;
        if (s.secret && !value.empty()) value = "<redacted>";
        if (s.name == "DATABASE_URL" && !value.empty()) {
            // Passwords inside connection URLs are secrets too.
            auto url = boost::urls::parse_absolute_uri(value);
            if (url && url->has_password()) {
                boost::urls::url copy(*url);
                copy.set_password("redacted");
                value = std::string(copy.buffer());
            }
        }
        out += fmt::format("{}={}\n", s.name, value);
    }
    return out;
}

}  // namespace plyr::core
