#include "app/media_command_art.hpp"

#include <cstdio>

#include <CLI/CLI.hpp>

#include "media/sandbox.hpp"

namespace plyr::app {

void AddMediaArtCommands(CLI::App& media, MediaArtCommand& c) {
    c.image = media.add_subcommand("image", "normalise one cover image and write its thumbnails; one JSON line");
    c.image->add_option("--out-dir", c.out_dir)->required();
    c.image->add_option("--max-side", c.max_side)->check(CLI::Range(16, 20000));
    c.image->add_option("--max-pixels", c.max_pixels)->check(CLI::Range(std::int64_t{1}, std::int64_t{1} << 32));
    c.image->add_option("file", c.image_file)->required();
    c.tags = media.add_subcommand("tags", "read title/artist/album and the embedded cover of one audio file");
    c.tags->add_option("--art-out", c.art_out);
    c.tags->add_option("file", c.tags_file)->required();
}

bool MediaArtCommandSelected(const MediaArtCommand& c) {
    return (c.image != nullptr && c.image->parsed()) || (c.tags != nullptr && c.tags->parsed());
}

int RunMediaArtCommand(const MediaArtCommand& c) {
    // Interface first (so app/media_command.cpp can call it); the verbs land in the next commits.
    (void)c;
    std::printf("{\"error\":\"image_unreadable\",\"message\":\"not implemented yet\"}\n");
    return media::kChildExitFailed;
}

}  // namespace plyr::app
