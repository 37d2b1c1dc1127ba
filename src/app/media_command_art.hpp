#pragma once
// `plyr media image` and `plyr media tags`: the artwork and embedded-tag verbs of the sandboxed media child
// (product.md §6.4, §6.17). Registered on the hidden `media` subcommand by app/media_command.cpp, started only by
// media::NormaliseImage / media::ReadTags through media::Sandbox. Each prints one JSON line on stdout and follows
// the child protocol of media/sandbox.hpp (exit 0 result, exit 1 {"error":"image_unreadable",…}, exit 5
// allocation failure).
//
//   plyr media image --out-dir D [--max-side 3000] [--max-pixels 40000000] -- <file>
//       → {"ext":"jpg|png|webp","width":W,"height":H,
//          "files":{"full":P,"thumb":P,"w320":P,"w640":P}}            (paths inside D)
//   plyr media tags [--art-out P] -- <file>
//       → {"title":s|null,"artist":s|null,"album":s|null,"art":{"path":P,"size":N}|null}
//
// Thread-safety: run once per process (the child); not for use inside the server.

#include <cstdint>
#include <string>

namespace CLI {
class App;
}

namespace plyr::app {

struct MediaArtCommand {
    CLI::App* image = nullptr;
    CLI::App* tags = nullptr;
    std::string image_file;
    std::string out_dir;
    int max_side = 3000;
    std::int64_t max_pixels = 40'000'000;
    std::string tags_file;
    std::string art_out;  // empty: embedded art is not extracted
};

// Adds the `image` and `tags` subcommands to `media` (the hidden `plyr media` app); `command` must outlive parsing.
void AddMediaArtCommands(CLI::App& media, MediaArtCommand& command);
// True when `image` or `tags` was the parsed subcommand.
bool MediaArtCommandSelected(const MediaArtCommand& command);
// Runs the selected verb; returns the process exit code of the child protocol.
int RunMediaArtCommand(const MediaArtCommand& command);

}  // namespace plyr::app
