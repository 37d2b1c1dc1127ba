#pragma once
// Internal to storage/db: the migration files compiled into the binary. The definition is generated at build
// time from migrations/{sqlite,postgres}/NNNN_name.sql by embed_migrations.cmake.

#include <cstdint>
#include <span>
#include <string_view>

#include "storage/db/db.hpp"

namespace plyr::storage::db::detail {

struct EmbeddedMigration {
    Backend backend;
    std::int64_t version;
    std::string_view name;
    std::string_view sql;
};

// In file-name order per backend.
std::span<const EmbeddedMigration> EmbeddedMigrations();

}  // namespace plyr::storage::db::detail
