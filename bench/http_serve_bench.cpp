// A bare http::Server for profiling plyr's file-serving path without the app around it (no DB, no auth):
//   http_serve_bench <port> <media_dir> [threads=2]
// GET/HEAD /audio/{file_id}: open <media_dir>/<file_id>, fstat, ServeFile with the /audio labels (ETag "<file_id>",
// inline, immutable) — what /audio does after its access check. Everything else: StaticSite over <media_dir>/site
// when it exists. Metrics registry and access-log code path as in `plyr serve` (LOG_LEVEL=warn filters the lines).
// Runs until SIGINT/SIGTERM. Used by bench/audio_vs_nginx.sh --http-only and for perf profiles.
#include <fcntl.h>
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "core/log.hpp"
#include "core/metrics.hpp"
#include "http/files.hpp"
#include "http/json.hpp"
#include "http/router.hpp"
#include "http/server.hpp"
#include "net/offload.hpp"

namespace {

using namespace plyr;

bool IsFileId(std::string_view id) {
    if (id.size() != 16) return false;
    for (char c : id) {
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    }
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: http_serve_bench <port> <media_dir> [threads]\n");
        return 2;
    }
    const auto port = static_cast<std::uint16_t>(std::atoi(argv[1]));
    const std::filesystem::path dir = argv[2];
    const std::size_t threads = argc > 3 ? static_cast<std::size_t>(std::atoi(argv[3])) : 2;
    log::Init(log::Level::kWarn, log::Format::kJson);

    signal(SIGPIPE, SIG_IGN);
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);

    http::Router router;
    auto audio = [dir](http::Request& request) -> boost::asio::awaitable<http::Response> {
        std::string id(request.PathParam("file_id").value_or(""));
        if (!IsFileId(id)) co_return http::ErrorResponse(400, "invalid_file_id", "invalid file id");
        http::UniqueFd fd(::open((dir / id).c_str(), O_RDONLY | O_CLOEXEC));
        if (!fd.valid()) co_return http::ErrorResponse(404, "not_found", "not found");
        auto info = http::StatFile(fd.get());
        if (!info) co_return http::ErrorResponse(404, "not_found", "not found");
        std::string etag = http::QuotedEtag(id);
        http::FileServeOptions options;
        options.content_type = "audio/mpeg";
        options.cache_control = http::kImmutableCacheControl;
        options.etag = etag;
        options.content_disposition = "inline";
        co_return http::ServeFile(request, std::move(fd), *info, options);
    };
    if (!router.Add("GET", "/audio/{file_id}", audio)) return 1;
    if (std::filesystem::is_directory(dir / "site")) {
        auto site = http::StaticSite::Create(dir / "site");
        if (!site) return 1;
        router.SetFallback((*site)->AsHandler());
    }

    core::metrics::Registry metrics;
    net::IoPool io(threads);
    http::ServerOptions options;
    options.host = "127.0.0.1";
    options.port = port;
    options.metrics = &metrics;
    http::Server server(io, std::move(router), options);
    auto bound = server.Start();
    if (!bound) {
        std::fprintf(stderr, "cannot listen: %s\n", bound.error().message.c_str());
        return 1;
    }
    io.Start();
    int received = 0;
    sigwait(&signals, &received);
    server.Stop();
    io.Stop();
    io.Join();
    return 0;
}
