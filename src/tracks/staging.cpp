#include "tracks/staging.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <set>
#include <system_error>

#include <fmt/format.h>
#include <boost/json/parse.hpp>

#include "core/encoding.hpp"
#include "core/log.hpp"

namespace plyr::tracks {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

Error FsError(const std::error_code& ec, std::string_view what) {
    bool full = ec == std::errc::no_space_on_device || ec.value() == EDQUOT;
    return Error{full ? ErrorCode::kStorageFull : ErrorCode::kIo,
                 full ? "the server is out of storage" : "staging storage failed",
                 fmt::format("{}: {}", what, ec.message())};
}

// The staging directory named in an upload job's payload, if any.
std::optional<fs::path> PayloadStagingDir(std::string_view payload_json) {
    boost::system::error_code ec;
    json::value v = json::parse(payload_json, ec);
    if (ec || !v.is_object()) return std::nullopt;
    const auto* dir = v.as_object().if_contains("staging_dir");
    if (dir == nullptr || !dir->is_string()) return std::nullopt;
    return fs::path(std::string(dir->as_string())).lexically_normal();
}

}  // namespace

Staging::Staging(const fs::path& data_dir) {
    std::error_code ec;
    fs::path absolute = fs::absolute(data_dir, ec);
    root_ = ((ec ? data_dir : absolute) / "staging").lexically_normal();
}

bool Staging::Contains(const fs::path& dir) const {
    fs::path normal = dir.lexically_normal();
    if (normal.has_filename() == false) normal = normal.parent_path();
    return normal.parent_path() == root_ && normal.filename() != "." && normal.filename() != ".." &&
           !normal.filename().empty();
}

Result<StagedDir> Staging::Create() const {
    std::error_code ec;
    fs::create_directories(root_, ec);
    if (ec) return Fail(FsError(ec, "create staging root"));
    // The root may predate this process with looser permissions: staged uploads are private user data.
    fs::permissions(root_, fs::perms::owner_all, fs::perm_options::replace, ec);
    if (ec) return Fail(FsError(ec, "chmod staging root"));
    for (int attempt = 0; attempt < 3; ++attempt) {
        StagedDir dir;
        dir.id = core::RandomHex(16);
        dir.path = root_ / dir.id;
        if (::mkdir(dir.path.c_str(), 0700) == 0) return dir;
        if (errno != EEXIST) return Fail(FsError(std::error_code(errno, std::generic_category()), "mkdir staging"));
    }
    return Fail(ErrorCode::kInternal, "staging storage failed", "three random staging ids collided");
}

Status Staging::Remove(const fs::path& dir) const {
    if (!Contains(dir)) {
        return Fail(ErrorCode::kInvalidArgument, "invalid staging directory",
                    fmt::format("refusing to remove {} outside {}", dir.string(), root_.string()));
    }
    std::error_code ec;
    fs::remove_all(dir.lexically_normal(), ec);
    if (ec && ec != std::errc::no_such_file_or_directory) return Fail(FsError(ec, "remove staging dir"));
    return Ok();
}

Result<SweepResult> SweepStaging(storage::db::Db& db, const Staging& staging, const core::Clock& clock,
                                 std::chrono::seconds max_age) {
    SweepResult result;
    std::error_code ec;
    if (!fs::exists(staging.root(), ec)) return result;

    std::set<fs::path> referenced;
    auto read = db.Read([&](storage::db::Connection& conn) -> Status {
        auto rows = conn.Query("SELECT payload FROM jobs WHERE type = 'upload' AND status IN ('pending', 'running')");
        if (!rows) return Fail(std::move(rows.error()));
        for (const auto& row : *rows) {
            if (auto dir = PayloadStagingDir(row.Text(0))) referenced.insert(*dir);
        }
        return Ok();
    });
    if (!read) return Fail(std::move(read.error()));

    const std::int64_t cutoff_us =
        clock.NowMicros() - std::chrono::duration_cast<std::chrono::microseconds>(max_age).count();
    fs::directory_iterator it(staging.root(), ec);
    if (ec) return Fail(FsError(ec, "list staging root"));
    for (; it != fs::directory_iterator(); it.increment(ec)) {
        if (ec) return Fail(FsError(ec, "list staging root"));
        fs::path entry = it->path().lexically_normal();
        struct stat st {};
        if (::lstat(entry.c_str(), &st) != 0) continue;  // gone meanwhile
        std::int64_t mtime_us = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000 + st.st_mtim.tv_nsec / 1000;
        if (mtime_us > cutoff_us) continue;
        if (referenced.count(entry) != 0) {
            ++result.kept_referenced;
            continue;
        }
        std::error_code remove_ec;
        fs::remove_all(entry, remove_ec);
        if (remove_ec) {
            log::Warn("staging.sweep_failed", {{"path", entry.string()}, {"error", remove_ec.message()}});
            continue;
        }
        ++result.removed;
    }
    if (result.removed > 0) log::Info("staging.swept", {{"removed", result.removed}});
    return result;
}

}  // namespace plyr::tracks
