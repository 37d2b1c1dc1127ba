#include "app/auth_cleanup.hpp"

#include "core/encoding.hpp"
#include "core/log.hpp"
#include "storage/repos/auth_repos.hpp"

namespace plyr::app {
namespace {

// DeleteExpired never opens a sealed column, but the repositories take a SecretBox at construction:
// a throwaway key keeps the cleanup job independent of OAUTH_ENCRYPTION_KEY (a `plyr worker` without it
// can still clean up).
const core::SecretBox& DeletionOnlyBox() {
    static const core::SecretBox box = *core::SecretBox::FromKeys(core::RandomBytes(core::kSecretKeySize));
    return box;
}

Status Report(std::string_view step, Result<std::int64_t> deleted) {
    if (!deleted) return Fail(std::move(deleted.error()));
    if (*deleted > 0) log::Info("cleanup_deleted", {{"step", step}, {"rows", *deleted}});
    return Ok();
}

}  // namespace

std::vector<jobs::CleanupStep> AuthCleanupSteps() {
    namespace repos = storage::repos;
    return {
        {"auth.sessions",
         [](storage::db::Db& db, std::int64_t now) {
             return Report("auth.sessions", repos::SessionRepository(db, DeletionOnlyBox()).DeleteExpired(now));
         }},
        {"auth.oauth_states",
         [](storage::db::Db& db, std::int64_t now) {
             return Report("auth.oauth_states", repos::OAuthStateRepository(db, DeletionOnlyBox()).DeleteExpired(now));
         }},
        {"auth.exchange_tokens",
         [](storage::db::Db& db, std::int64_t now) {
             return Report("auth.exchange_tokens",
                           repos::ExchangeTokenRepository(db, DeletionOnlyBox()).DeleteExpired(now));
         }},
        {"auth.pending",
         [](storage::db::Db& db, std::int64_t now) {
             return Report("auth.pending", repos::PendingRepository(db).DeleteExpired(now));
         }},
    };
}

}  // namespace plyr::app
