#pragma once
// SQLite backend of storage::db (contract: storage/db/db.hpp). Only db.cpp's Open() names it.
//
// One writer connection (Write = BEGIN IMMEDIATE … COMMIT, serialized by a mutex that is waited on for at most
// busy_timeout_ms) plus up to pool_size reader connections opened lazily (Read = BEGIN … COMMIT, a WAL snapshot;
// readers run with query_only=ON). Every connection: WAL, synchronous=NORMAL, foreign_keys=ON, busy_timeout.
// `$N` placeholders are bound by name; each connection caches its prepared statements.
// Like PostgreSQL, a statement that fails inside a transaction poisons it: later statements on that Connection
// fail and the transaction is rolled back, so code that works here also works there.

#include <memory>

#include "core/result.hpp"
#include "storage/db/db.hpp"

namespace plyr::storage::db::sqlite {

// Creates the file's parent directory. Errors: kConfig (no path, ":memory:", "file:" URIs), kUnavailable
// (directory or file cannot be created/opened, not a database).
Result<std::unique_ptr<Db>> OpenSqlite(const Options& options);

}  // namespace plyr::storage::db::sqlite
