#pragma once
// Configuration: environment variables (product.md §8.2), a `.env` file in the working directory, and
// command-line overrides, validated once into a typed Config. Precedence: flags > environment > .env >
// defaults. Secrets may also come from `<NAME>_FILE`. Every setting is listed in Settings() (name,
// default, description, secret) — docs/configuration.md and `plyr config check` are generated from it.

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace plyr::core {

enum class DatabaseKind { kSqlite, kPostgres };
enum class StorageKind { kLocal, kS3 };
enum class ClientMode { kConfidential, kPublic, kLoopback };

struct S3Config {
    std::string endpoint_url;  // R2_ENDPOINT_URL
    std::string region = "auto";
    bool force_path_style = false;
    std::string access_key_id;
    std::string secret_access_key;  // secret
    std::string bucket;
    std::string private_bucket;
    std::string image_bucket;
    std::string public_bucket_url;
    std::string public_image_bucket_url;
    std::string audio_delivery = "redirect";  // redirect | proxy
    int presigned_url_expiry_seconds = 3600;
};

// A rate-limit setting: RATE_LIMIT_*_LIMIT as `N`, `N/second`, `N/minute`, `N/hour` or `N/day` (plyr.fm's
// "100/minute" spelling; a bare number is per minute).
struct RateLimitSetting {
    std::int64_t limit = 100;
    std::int64_t period_seconds = 60;
};

struct Config {
    // server
    std::string public_url = "http://127.0.0.1:8001";
    std::string host = "127.0.0.1";
    std::uint16_t port = 8001;
    std::filesystem::path data_dir = "./plyr-data";
    std::string name = "plyr";
    std::vector<std::string> trusted_proxies;
    std::vector<std::string> cors_allowed_origins;
    std::string tls_cert_file;
    std::string tls_key_file;
    std::string log_level = "info";
    std::string log_format = "json";
    std::string metrics_token;  // secret
    int default_page_size = 50;
    std::filesystem::path static_dir;  // STATIC_DIR: the web app build; empty = built-in fallback page
    // http limits (plyr additions)
    int http_header_timeout_seconds = 10;
    int http_idle_timeout_seconds = 60;
    int http_request_timeout_seconds = 60;
    int http_shutdown_grace_seconds = 10;
    int http_max_connections = 10000;
    int http_threads = 0;  // 0 = number of cores
    std::int64_t max_json_body_bytes = 1 << 20;

    // database
    std::string database_url;  // empty = sqlite file under data_dir
    DatabaseKind database_kind = DatabaseKind::kSqlite;
    std::string sqlite_path;  // resolved for kSqlite
    int database_pool_size = 10;
    int database_statement_timeout_seconds = 10;
    bool auto_migrate = true;

    // storage
    StorageKind storage_kind = StorageKind::kLocal;
    S3Config s3;
    int export_retention_hours = 24;

    // limits
    int max_upload_size_mb = 1536;
    int max_image_size_mb = 20;
    int max_audio_duration_seconds = 21600;
    int comments_max_per_track = 20;
    std::vector<std::string> default_hidden_tags{"ai"};

    // atproto (consumed by later modules; validated here)
    std::string atproto_app_namespace = "fm.plyr";
    std::string oauth_encryption_key;           // secret
    std::string oauth_encryption_key_previous;  // secret
    std::string oauth_jwk;                      // secret; shape-checked (core/keyring.hpp CheckOAuthJwk)
    std::string oauth_jwk_kid;                  // the JWK's kid, else its RFC 7638 thumbprint ("" without a JWK)
    std::string atproto_client_id;              // ATPROTO_CLIENT_ID; "" = derived from PUBLIC_URL
    std::string atproto_redirect_uri;           // ATPROTO_REDIRECT_URI; default {PUBLIC_URL}/auth/callback
    std::string atproto_scope_override;         // ATPROTO_SCOPE_OVERRIDE; "" = the computed scope
    std::string bsky_appview_url = "https://public.api.bsky.app";  // "" = PDS fallback only
    std::string atproto_record_viewer_url = "https://pdsls.dev/{uri}";
    std::string plc_directory_url = "https://plc.directory";
    std::string allow_private_network = "false";
    std::string handle_resolver_url;
    std::vector<std::string> admin_dids;
    std::string labeler_did;

    // auth
    int auth_developer_token_default_days = 90;
    int auth_developer_token_max_days = 365;

    // rate limits (product.md §4.1)
    bool rate_limit_enabled = true;
    RateLimitSetting rate_limit_default{100, 60};
    RateLimitSetting rate_limit_auth{10, 60};
    RateLimitSetting rate_limit_upload{20, 60};

    // jobs & media
    bool worker_in_process = true;
    int worker_concurrency = 4;
    int job_lease_seconds = 60;
    int outbox_concurrency = 8;
    int media_max_procs = 1;
    bool transcoder_enabled = true;
    std::string transcoder_target_format = "mp3";
    int transcoder_timeout_seconds = 600;
    bool pds_audio_uploads_enabled = true;

    // features
    bool teal_enabled = true;
    bool atproto_use_permission_sets = false;

    // kConfidential when OAUTH_JWK is set (also on a loopback PUBLIC_URL, product.md §6.1), else kLoopback
    // for a loopback PUBLIC_URL, else kPublic.
    ClientMode ClientModeFromUrl() const;
    std::string PublicOrigin() const;  // scheme://host[:port] of public_url
};

struct SettingInfo {
    std::string_view name;
    std::string_view default_value;
    std::string_view group;
    std::string_view description;
    bool secret = false;
};

// Every setting plyr reads, in documentation order.
const std::vector<SettingInfo>& Settings();

using Environment = std::map<std::string, std::string, std::less<>>;

// Parses a .env file body: KEY=VALUE lines, `#` comments, optional `export `, single or double quotes.
Result<Environment> ParseDotEnv(std::string_view body);

// The process environment restricted to the names in Settings() (and their _FILE variants).
Environment ProcessEnvironment();

// Builds the effective settings map: defaults < .env file (if present) < environment < overrides.
Result<Environment> MergeSources(const std::optional<std::filesystem::path>& dotenv_path,
                                 const Environment& process_env, const Environment& overrides);

// 127.0.0.1, [::1] or localhost (any case): the hosts of an atproto loopback client (product.md §6.1).
bool IsLoopbackHostName(std::string_view host);

// Parses a RATE_LIMIT_*_LIMIT value (see RateLimitSetting). kConfig naming `name` on error.
Result<RateLimitSetting> ParseRateLimitSetting(std::string_view name, std::string_view text);

// Validates and converts. Errors carry ErrorCode::kConfig and name the offending variable.
Result<Config> LoadConfig(const Environment& merged);

// Convenience for the binary: .env in the working directory + process environment + overrides.
Result<Config> LoadConfigFromProcess(const Environment& overrides);

// The effective configuration with secrets redacted, one `NAME=value` per line (for `plyr config check`).
std::string DescribeConfig(const Environment& merged);

std::string_view ToString(DatabaseKind kind);
std::string_view ToString(StorageKind kind);
std::string_view ToString(ClientMode mode);

}  // namespace plyr::core
