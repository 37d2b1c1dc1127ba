#pragma once
// Cover artwork normalisation (product.md §6.4 "artwork", §5.3 object layout): decode an uploaded or embedded
// cover inside the sandbox child, apply its EXIF orientation, strip all metadata and re-encode it with a long side
// of at most 3000 px, plus three WebP thumbnails.
//
// Outputs (all inside out_dir, fixed names):
//   full.jpg (JPEG q90, from JPEG) | full.png (PNG 8-bit, from PNG, and from GIF: the first frame) | full.webp
//   (WebP q90, from WebP); thumb.webp 96 × 96 centre crop (WebP q80); w320.webp and w640.webp 320 / 640 px wide
//   (WebP q80; never upscaled: a narrower image keeps its width).
//
// NormaliseImageFile runs libvips on untrusted bytes: call it only inside the sandbox child (`plyr media image`),
// never in the server. In the child only the jpeg/png/webp/gif loaders are usable (every other loader, incl. the
// "untrusted" ones, is blocked), the loader libvips picks must match the sniffed magic, and the header's size must
// pass CheckImageLimits (8000 × 8000, max_pixels) before any pixel is decoded.
//
// NormaliseImage is the parent side: runs the child through the Sandbox (blocking: call via net::Offload) and
// parses its JSON strictly; every path must be a file directly inside out_dir.
//
// Errors: every failure (refused by the child, crash, timeout, resource limit, bad output) is kInvalidArgument
// with job error code kImageUnreadable ("image_unreadable", product.md §6.4), the cause in Error::detail.
// Thread-safety: NormaliseImage may be called from any thread (the Sandbox is thread-safe); NormaliseImageFile
// initialises libvips once per process.

#include <cstdint>
#include <string>
#include <string_view>

#include "core/config.hpp"
#include "core/result.hpp"
#include "media/sandbox.hpp"

namespace plyr::media {

inline constexpr std::string_view kImageUnreadable = "image_unreadable";
inline constexpr int kMaxImageSide = 3000;
inline constexpr int kThumbSide = 96;

struct NormalisedImage {
    std::string ext;  // of the full size: "jpg", "png" or "webp"
    int width = 0;    // of the full size, after orientation and downscaling
    int height = 0;
    std::string full;   // out_dir/full.<ext>
    std::string thumb;  // out_dir/thumb.webp  (96 × 96)
    std::string w320;   // out_dir/w320.webp
    std::string w640;   // out_dir/w640.webp
};

struct ImageOptions {
    int max_side = kMaxImageSide;           // downscale only
    std::uint64_t max_pixels = 40'000'000;  // of the decoded image, checked from the header
};

// Initialises libvips for the child once per process (idempotent; NormaliseImageFile calls it): no loadable
// modules, only the jpeg/png/webp/gif loaders. Sets VIPSHOME in this process's environment: call it before other
// threads exist (the child is single-threaded when it runs). Errors: kInternal when libvips cannot start.
Status InitImageDecoder();

// Child side (see above). Errors: kUnsupported (not jpeg/png/webp/gif, or the loader disagrees with the magic),
// kTooLarge (dimensions), kInvalidArgument (decoding or encoding failed), kIo (out_dir not writable).
Result<NormalisedImage> NormaliseImageFile(const std::string& input, const std::string& out_dir,
                                           const ImageOptions& options);

// One JSON line: {"ext","width","height","files":{"full","thumb","w320","w640"}}.
std::string NormalisedImageToJson(const NormalisedImage& image);
// Strict inverse (exactly these members, typed, no duplicates, sizes 1..8000, ext one of jpg/png/webp); every
// path must lie directly inside out_dir. kProtocol otherwise.
Result<NormalisedImage> NormalisedImageFromJson(std::string_view json, const std::string& out_dir);

// Parent side: `plyr media image --out-dir <out_dir> --max-side … --max-pixels … -- <input>`. out_dir must exist.
// A result larger than options.max_side is refused as bad output.
Result<NormalisedImage> NormaliseImage(Sandbox& sandbox, const std::string& input, const std::string& out_dir,
                                       const SandboxLimits& limits, const ImageOptions& options = {});

// Limits for the image child: 1 GiB address space, 30 s CPU, each output file ≤ 64 MiB, 60 s wall clock.
SandboxLimits ImageSandboxLimits(const core::Config& config);

}  // namespace plyr::media
