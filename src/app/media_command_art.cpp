#include "app/media_command_art.hpp"

#include <cstdio>
#include <string_view>

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "app/exit_codes.hpp"
#include "media/image.hpp"
#include "media/sandbox.hpp"
#include "media/tags.hpp"

namespace plyr::app {
namespace {

int Refuse(std::string_view code, const Error& error) {
    boost::json::object o;
    o["error"] = code;
    // The message goes to the parent's logs (Error::detail there), so it carries the cause too.
    o["message"] = error.detail.empty() ? error.message : fmt::format("{} ({})", error.message, error.detail);
    std::printf("%s\n", boost::json::serialize(o).c_str());
    std::fflush(stdout);
    return media::kChildExitFailed;
}

int PrintLine(const std::string& json) {
    std::printf("%s\n", json.c_str());
    std::fflush(stdout);
    return kExitOk;
}

int Image(const MediaArtCommand& c) {
    media::ImageOptions options;
    options.max_side = c.max_side;
    options.max_pixels = static_cast<std::uint64_t>(c.max_pixels);
    auto image = media::NormaliseImageFile(c.image_file, c.out_dir, options);
    if (!image) {
        std::fprintf(stderr, "image: %s\n", image.error().ToString().c_str());
        return Refuse(media::kImageUnreadable, image.error());
    }
    return PrintLine(media::NormalisedImageToJson(*image));
}

int Tags(const MediaArtCommand& c) {
    auto tags = media::ReadTagsFile(c.tags_file, c.art_out);
    if (!tags) {
        std::fprintf(stderr, "tags: %s\n", tags.error().ToString().c_str());
        return Refuse("audio_unreadable", tags.error());
    }
    return PrintLine(media::EmbeddedTagsToJson(*tags));
}

}  // namespace

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
    // Exceptions stop here (the child's edge): allocation failure is the protocol's exit 5, anything else a
    // runtime failure the parent reports as a crash.
    try {
        if (c.image != nullptr && c.image->parsed()) return Image(c);
        if (c.tags != nullptr && c.tags->parsed()) return Tags(c);
    } catch (const std::bad_alloc&) {
        return media::kChildExitResource;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "plyr media: %s\n", e.what());
        return kExitRuntime;
    }
    return kExitUsage;
}

}  // namespace plyr::app
