#pragma once
// Shared fixture of the track repositories' _dbtest suites: a migrated database (both backends) with helpers
// to add artists, reserve tracks and run a repository call inside a write or read transaction.

#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>

#include <fmt/format.h>

#include "storage/repos/track_repo.hpp"
#include "test_db.hpp"

namespace plyr::storage::repos::testing {

inline constexpr std::int64_t kNow = 1'700'000'000'000'000;
inline constexpr std::int64_t kSecond = 1'000'000;

class TrackReposTest : public db::testing::MigratedDbTest {
  protected:
    template <typename T>
    Result<T> InWrite(const std::function<Result<T>(db::Connection&)>& fn) {
        return db_->WriteValue<T>(fn);
    }
    template <typename T>
    Result<T> InRead(const std::function<Result<T>(db::Connection&)>& fn) {
        return db_->ReadValue<T>(fn);
    }
    Status Write(const db::TxFn& fn) { return db_->Write(fn); }

    void AddArtist(const std::string& did, const std::string& handle, bool deactivated = false) {
        auto st = db_->Write([&](db::Connection& c) -> Status {
            auto n = c.Exec(
                "INSERT INTO artists (did, handle, display_name, avatar_url, support_url, deactivated, created_at, "
                "updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
                {did, handle, "Name of " + handle, "https://cdn.test/" + handle + ".jpg", "atprotofans", deactivated,
                 kNow});
            if (!n) return Fail(std::move(n.error()));
            return Ok();
        });
        ASSERT_TRUE(st) << st.error().ToString();
    }

    // 16 hex chars derived from n (file and image ids).
    static std::string HexId(int n) { return fmt::format("{:016x}", n); }

    NewTrack MakeTrack(const std::string& did, int n, std::int64_t created_at = kNow) {
        NewTrack t;
        t.artist_did = did;
        t.title = fmt::format("Track {}", n);
        t.file_id = HexId(0x1000 + n);
        t.file_type = "mp3";
        t.file_size = 1000 + n;
        t.codec = "mp3";
        t.sample_rate = 44100;
        t.channels = 2;
        t.duration_ms = 180000;
        t.atproto_rkey = fmt::format("3k{:011d}", n);
        t.now = created_at;
        return t;
    }

    std::int64_t Reserve(const NewTrack& t) {
        auto r = InWrite<ReservedTrack>([&](db::Connection& c) { return TrackRepository::ReserveTrack(c, t); });
        EXPECT_TRUE(r) << r.error().ToString();
        return r ? r->id : 0;
    }

    std::int64_t Published(const NewTrack& t) {
        auto id = Reserve(t);
        auto st = Write([&](db::Connection& c) {
            return TrackRepository::MarkPublished(c, id,
                                                  fmt::format("at://{}/fm.plyr.track/{}", t.artist_did, t.atproto_rkey),
                                                  "bafycid" + std::to_string(id));
        });
        EXPECT_TRUE(st) << st.error().ToString();
        return id;
    }

    std::optional<TrackRow> GetTrack(std::int64_t id) {
        auto r = InRead<std::optional<TrackRow>>([&](db::Connection& c) { return TrackRepository::Get(c, id); });
        EXPECT_TRUE(r) << r.error().ToString();
        return r ? *r : std::nullopt;
    }

    std::int64_t Count(const std::string& from_where) {
        auto v = InRead<std::int64_t>([&](db::Connection& c) -> Result<std::int64_t> {
            auto rows = c.Query("SELECT COUNT(*) FROM " + from_where);
            if (!rows) return Fail(std::move(rows.error()));
            return rows->front().Int(0);
        });
        EXPECT_TRUE(v) << v.error().ToString();
        return v ? *v : -1;
    }

    Status Sql(const std::string& sql, std::initializer_list<db::Value> params = {}) {
        std::vector<db::Value> p(params);
        return Write([&](db::Connection& c) -> Status {
            auto rows = c.Query(sql, p);
            if (!rows) return Fail(std::move(rows.error()));
            return Ok();
        });
    }
};

}  // namespace plyr::storage::repos::testing
