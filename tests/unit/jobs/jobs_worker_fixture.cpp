// jobs_worker_fixture — a stand-alone job worker process for the crash tests (jobs_dbtest): opens the database,
// applies migrations, runs a WorkerPool with the built-in job types until SIGTERM/SIGINT. Its command line
// follows `plyr worker` so the tests can later run the real binary instead.
//
//   jobs_worker_fixture --database-url URL [--lease-seconds N] [--concurrency N] [--heartbeat-ms N]
//                       [--poll-ms N] [--reap-interval-ms N] [--types a,b]
//
// Writes "jobs_worker_fixture ready" to stderr once the pool runs. Exit: 0 after a signal, 1 on runtime
// errors, 2 on usage errors.

#include <signal.h>

#include <chrono>
#include <iostream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "core/clock.hpp"
#include "core/log.hpp"
#include "jobs/builtin.hpp"
#include "jobs/worker.hpp"
#include "storage/db/migrator.hpp"
#include "test_db.hpp"

int main(int argc, char** argv) {
    using namespace plyr;
    CLI::App app{"jobs worker fixture"};
    std::string url;
    int lease_seconds = 60;
    int concurrency = 2;
    int heartbeat_ms = 0;
    int poll_ms = 50;
    int reap_ms = 500;
    std::vector<std::string> types;
    app.add_option("--database-url", url, "sqlite:////abs.db or postgres://…")->required();
    app.add_option("--lease-seconds", lease_seconds)->check(CLI::PositiveNumber);
    app.add_option("--concurrency", concurrency)->check(CLI::PositiveNumber);
    app.add_option("--heartbeat-ms", heartbeat_ms, "default: a third of the lease");
    app.add_option("--poll-ms", poll_ms)->check(CLI::PositiveNumber);
    app.add_option("--reap-interval-ms", reap_ms);
    app.add_option("--types", types)->delimiter(',');
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? 0 : 2;
    }

    // Signals are handled by sigwait on this thread; block them before any other thread starts.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);

    log::Init(log::Level::kInfo, log::Format::kJson);
    auto options = jobs::testing::OptionsFromUrl(url);
    if (!options) {
        std::cerr << options.error().ToString() << "\n";
        return 2;
    }
    auto db = storage::db::Open(*options);
    if (!db) {
        std::cerr << db.error().ToString() << "\n";
        return 1;
    }
    core::SystemClock clock;
    auto applied = storage::db::migrator::Apply(**db, false, clock);
    if (!applied) {
        std::cerr << applied.error().ToString() << "\n";
        return 1;
    }

    jobs::WorkerPool::Options pool_options;
    pool_options.concurrency = concurrency;
    pool_options.types = types;
    pool_options.lease = std::chrono::seconds(lease_seconds);
    pool_options.heartbeat_interval =
        std::chrono::milliseconds(heartbeat_ms > 0 ? heartbeat_ms : lease_seconds * 1000 / 3);
    pool_options.poll_interval = std::chrono::milliseconds(poll_ms);
    pool_options.reap_interval = std::chrono::milliseconds(reap_ms);
    jobs::WorkerPool pool(**db, clock, pool_options);
    if (auto st = jobs::RegisterBuiltinJobs(pool); !st) {
        std::cerr << st.error().ToString() << "\n";
        return 1;
    }
    if (auto st = pool.Start(); !st) {
        std::cerr << st.error().ToString() << "\n";
        return 1;
    }
    std::cerr << "jobs_worker_fixture ready worker_id=" << pool.worker_id() << std::endl;

    int sig = 0;
    sigwait(&signals, &sig);
    pool.Stop(std::chrono::seconds(10));
    return 0;
}
