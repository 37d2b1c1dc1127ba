#pragma once
// PostgreSQL backend of storage::db (contract: storage/db/db.hpp). Only db.cpp's Open() names it.
//
// A pool of pool_size libpq connections, each opened lazily on first use (so the process starts while the
// server is down) with `SET statement_timeout` and its own prepared-statement cache. A caller waits at most
// busy_timeout_ms for a free connection (then kBusy). Write = BEGIN … COMMIT (READ COMMITTED);
// Read = BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY (a snapshot).
// Parameters travel as text (Blob as binary bytea) and their types are inferred by the server from the
// statement: where the context does not say (`SELECT $1`, `$1 IS NULL`), write a cast (`$1::bigint`).
// Results are typed by column OID: int2/4/8 → int64, float4/8/numeric → double, bool → bool, bytea → Blob,
// anything else → text.
// Reconnect: a connection found broken is dropped and reopened on next use; a transaction whose connection
// died before any of its statements succeeded is run once more on a fresh connection (so the callback can run
// twice: keep it free of side effects outside the database before its first statement).
// Errors never contain the password of the connection URL.

#include <memory>
#include <string>
#include <string_view>

#include "core/result.hpp"
#include "storage/db/db.hpp"

namespace plyr::storage::db::postgres {

// Validates the URL (kConfig when libpq cannot parse it) without connecting.
Result<std::unique_ptr<Db>> OpenPostgres(const Options& options);

// "host=… port=… dbname=… user=…" for logs and errors: never the password. Empty when the URL does not parse.
std::string DescribeUrl(std::string_view url);

}  // namespace plyr::storage::db::postgres
