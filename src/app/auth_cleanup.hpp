#pragma once
// The auth tables' share of the periodic `cleanup` job (jobs/builtin.hpp, product.md §5.2): expired
// user_sessions, oauth_states, exchange_tokens and pending_* rows are deleted. Lives in the composition
// root because jobs must not depend on storage/repos. Each step is one DeleteExpired of storage::repos;
// errors pass through (the cleanup job logs them and carries on with the next step).
// Thread-safety: the steps hold no state; safe to run from any worker thread.

#include <vector>

#include "jobs/builtin.hpp"

namespace plyr::app {

// Steps named "auth.sessions", "auth.oauth_states", "auth.exchange_tokens", "auth.pending".
std::vector<jobs::CleanupStep> AuthCleanupSteps();

}  // namespace plyr::app
