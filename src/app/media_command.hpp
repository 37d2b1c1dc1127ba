#pragma once
// `plyr media …`: the sandboxed media child (product.md §6.17), hidden from --help. Started only by
// media::Sandbox with a fixed argument vector; prints one JSON line on stdout and exits with the child
// protocol of media/sandbox.hpp (0 result, 1 refused with {"error","message"}, 5 allocation failure).
//
//   plyr media probe [--max-duration-seconds N] [--max-channels N] [--min-sample-rate N]
//                    [--max-sample-rate N] -- <file>
//   plyr media analyse [the probe's limits] [--rendition mp3|aac [--rendition-when-needed]] --out-dir <dir> -- <file>
//       one decode pass (media/analyse.hpp); files in <dir>, `progress <fraction>` lines on stderr
//   plyr media image … | tags …   artwork and tags (app/media_command_art.hpp)
//   plyr media sleep <ms> | spin | crash | alloc <MiB> | env | flood   test-only (PLYR_ENABLE_TEST_JOBS=1), for the
//   sandbox tests; `env` prints {"env":[names…],"fds":[open descriptors…]} so tests can see what the child inherited

#include <cstdint>
#include <string>

#include "app/media_command_art.hpp"

namespace CLI {
class App;
}

namespace plyr::app {

struct MediaCommand {
    CLI::App* media = nullptr;
    CLI::App* probe = nullptr;
    CLI::App* analyse = nullptr;
    CLI::App* sleep = nullptr;
    CLI::App* crash = nullptr;
    CLI::App* alloc = nullptr;
    CLI::App* env = nullptr;
    CLI::App* spin = nullptr;
    CLI::App* flood = nullptr;
    std::string file;
    std::int64_t max_duration_seconds = 21600;
    int max_channels = 8;
    int min_sample_rate = 8000;
    int max_sample_rate = 384000;
    std::int64_t sleep_ms = 0;
    std::int64_t alloc_mib = 0;
    std::string out_dir;    // analyse
    std::string rendition;  // analyse: "", "mp3" or "aac"
    bool rendition_when_needed = false;
    MediaArtCommand art;
};

// Registers the hidden `media` subcommand on `cli`; `command` must outlive parsing.
void AddMediaCommand(CLI::App& cli, MediaCommand& command);
// True when `media` was the parsed subcommand.
bool MediaCommandSelected(const MediaCommand& command);
int RunMediaCommand(const MediaCommand& command);

}  // namespace plyr::app
