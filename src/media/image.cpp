#include "media/image.hpp"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>

#include <fmt/format.h>
#include <vips/vips.h>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "core/json_strict.hpp"
#include "media/image_header.hpp"

namespace plyr::media {
namespace {

namespace fs = std::filesystem;

struct ImageUnref {
    void operator()(VipsImage* image) const { g_object_unref(image); }
};
using ImagePtr = std::unique_ptr<VipsImage, ImageUnref>;

// The libvips error buffer, cleared (it is per process and would otherwise accumulate).
std::string TakeVipsError() {
    std::string text = vips_error_buffer();
    vips_error_clear();
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
    return text;
}

Error Unreadable(std::string detail) {
    return Error{ErrorCode::kInvalidArgument, "the image could not be read", std::move(detail)};
}

}  // namespace

// Once per process. libvips' loadable modules (ImageMagick, poppler, HEIF, JPEG XL, OpenSlide) are never mapped:
// VIPSHOME points at a directory that does not exist, so vips_init finds no module folder. Then every loader is
// blocked and exactly the four we accept are unblocked (blocking a class blocks its subclasses; the later, more
// specific call wins), on top of vips_block_untrusted_set: no other decoder can run on upload bytes, whatever the
// magic claims.
Status InitImageDecoder() {
    static std::once_flag once;
    static bool ok = false;
    std::call_once(once, [] {
        ::setenv("VIPSHOME", "/nonexistent/plyr-no-vips-modules", 1);
        if (VIPS_INIT("plyr-media-image") != 0) return;
        vips_block_untrusted_set(TRUE);
        vips_operation_block_set("VipsForeignLoad", TRUE);
        for (const char* allowed : {"VipsForeignLoadJpegFile", "VipsForeignLoadPngFile", "VipsForeignLoadWebpFile",
                                    "VipsForeignLoadNsgifFile"}) {
            vips_operation_block_set(allowed, FALSE);
        }
        vips_cache_set_max(0);    // one image per process: a cache only holds memory
        vips_concurrency_set(1);  // predictable CPU and memory inside the rlimits
        ok = true;
    });
    if (!ok) return Fail(ErrorCode::kInternal, "the image decoder could not start", TakeVipsError());
    return Ok();
}

namespace {

std::string_view ExpectedLoader(ImageFormat format) {
    switch (format) {
        case ImageFormat::kJpeg:
            return "VipsForeignLoadJpegFile";
        case ImageFormat::kPng:
            return "VipsForeignLoadPngFile";
        case ImageFormat::kWebp:
            return "VipsForeignLoadWebpFile";
        case ImageFormat::kGif:
            return "VipsForeignLoadNsgifFile";
        case ImageFormat::kUnknown:
            break;
    }
    return {};
}

std::string_view FullExt(ImageFormat format) {
    switch (format) {
        case ImageFormat::kJpeg:
            return "jpg";
        case ImageFormat::kWebp:
            return "webp";
        default:
            return "png";  // png, and gif → png of the first frame
    }
}

// Every metadata item goes: EXIF (incl. GPS), XMP, IPTC, ICC (the pixels are sRGB by then), comments, orientation,
// animation fields. The savers' "strip" is not enough on its own: libvips 8.14's webpsave still writes EXIF.
void RemoveMetadata(VipsImage* image) {
    gchar** fields = vips_image_get_fields(image);
    for (gchar** f = fields; f != nullptr && *f != nullptr; ++f) {
        // Built-in header fields (width, bands, …) are not in the metadata table: removing them is a no-op.
        vips_image_remove(image, *f);
    }
    g_strfreev(fields);
}

// libvips 8.14.1's webpsave writes an EXIF chunk (built from the resolution) even with "strip": the container is
// rewritten without EXIF, XMP and ICCP chunks and the VP8X flags are cleared to match. nullopt when the encoder's
// own output is not the RIFF/WEBP it should be.
std::optional<std::string> StripWebpChunks(std::string_view webp) {
    auto le32 = [&](std::size_t at) {
        return static_cast<std::uint32_t>(static_cast<unsigned char>(webp[at])) |
               static_cast<std::uint32_t>(static_cast<unsigned char>(webp[at + 1])) << 8 |
               static_cast<std::uint32_t>(static_cast<unsigned char>(webp[at + 2])) << 16 |
               static_cast<std::uint32_t>(static_cast<unsigned char>(webp[at + 3])) << 24;
    };
    if (webp.size() < 12 || webp.substr(0, 4) != "RIFF" || webp.substr(8, 4) != "WEBP") return std::nullopt;
    std::string body;
    std::size_t pos = 12;
    while (pos < webp.size()) {
        if (webp.size() - pos < 8) return std::nullopt;
        const std::string_view fourcc = webp.substr(pos, 4);
        const std::size_t size = le32(pos + 4);
        const std::size_t padded = size + (size & 1);
        if (padded > webp.size() - pos - 8) return std::nullopt;
        if (fourcc != "EXIF" && fourcc != "XMP " && fourcc != "ICCP") {
            std::string chunk(webp.substr(pos, 8 + padded));
            if (fourcc == "VP8X" && size >= 1) chunk[8] = static_cast<char>(chunk[8] & ~0x2C);  // ICC, EXIF, XMP
            body += chunk;
        }
        pos += 8 + padded;
    }
    std::string out = "RIFF";
    const auto riff_size = static_cast<std::uint32_t>(4 + body.size());
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((riff_size >> (8 * i)) & 0xFF));
    out += "WEBP";
    out += body;
    return out;
}

// A new file only (O_EXCL, O_NOFOLLOW): never through an existing file or link. NormaliseImage clears the fixed
// output names before each run.
Status WriteFile(const std::string& path, std::string_view bytes) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0)
        return Fail(ErrorCode::kIo, "cannot write the image", fmt::format("{}: {}", path, std::strerror(errno)));
    std::size_t done = 0;
    while (done < bytes.size()) {
        const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            const int err = errno;
            ::close(fd);
            return Fail(ErrorCode::kIo, "cannot write the image", fmt::format("{}: {}", path, std::strerror(err)));
        }
        done += static_cast<std::size_t>(n);
    }
    if (::close(fd) != 0) {
        return Fail(ErrorCode::kIo, "cannot write the image", fmt::format("{}: {}", path, std::strerror(errno)));
    }
    return Ok();
}

// Frees a libvips save buffer.
struct GFree {
    void operator()(void* p) const { g_free(p); }
};

Status SaveWebp(VipsImage* image, const std::string& path, int quality) {
    void* buffer = nullptr;
    std::size_t length = 0;
    if (vips_webpsave_buffer(image, &buffer, &length, "Q", quality, "strip", TRUE, nullptr) != 0) {
        return Fail(Unreadable(fmt::format("webpsave {}: {}", path, TakeVipsError())));
    }
    std::unique_ptr<void, GFree> owned(buffer);
    auto stripped = StripWebpChunks(std::string_view(static_cast<const char*>(buffer), length));
    if (!stripped) return Fail(Unreadable(fmt::format("webpsave {}: malformed encoder output", path)));
    return WriteFile(path, *stripped);
}

Status SaveFull(VipsImage* image, ImageFormat format, const std::string& path) {
    if (format == ImageFormat::kWebp) return SaveWebp(image, path, 90);
    void* buffer = nullptr;
    std::size_t length = 0;
    // PNG at 8 bits per sample: a 16-bit 3000 × 3000 RGBA PNG could pass the output-size limit otherwise.
    const int rc =
        format == ImageFormat::kJpeg
            ? vips_jpegsave_buffer(image, &buffer, &length, "Q", 90, "strip", TRUE, nullptr)
            : vips_pngsave_buffer(image, &buffer, &length, "strip", TRUE, "bitdepth", 8, "compression", 6, nullptr);
    if (rc != 0) return Fail(Unreadable(fmt::format("save {}: {}", path, TakeVipsError())));
    std::unique_ptr<void, GFree> owned(buffer);
    return WriteFile(path, std::string_view(static_cast<const char*>(buffer), length));
}

// The fixed output names; removing them is safe because they are ours (the directory belongs to the caller's job).
void RemoveOutputs(const std::string& out_dir) {
    std::error_code ec;
    for (const char* name : {"full.jpg", "full.png", "full.webp", "thumb.webp", "w320.webp", "w640.webp"}) {
        fs::remove(fs::path(out_dir) / name, ec);
    }
}

// A regular file (not a link) of at least one byte: what the parent accepts as a child's output.
bool IsOutputFile(const std::string& path) {
    struct stat st {};
    return ::lstat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0;
}

Result<ImagePtr> Thumbnail(VipsImage* in, int width, int height, bool crop) {
    VipsImage* out = nullptr;
    int rc = crop ? vips_thumbnail_image(in, &out, width, "height", height, "crop", VIPS_INTERESTING_CENTRE,
                                         "no_rotate", TRUE, nullptr)
                  : vips_thumbnail_image(in, &out, width, "height", height, "size", VIPS_SIZE_DOWN, "no_rotate", TRUE,
                                         nullptr);
    if (rc != 0) return Fail(Unreadable(fmt::format("thumbnail {}: {}", width, TakeVipsError())));
    return ImagePtr(out);
}

}  // namespace

Result<NormalisedImage> NormaliseImageFile(const std::string& input, const std::string& out_dir,
                                           const ImageOptions& options) {
    // The magic decides the format and the header must pass the limits before libvips sees a byte.
    const ImageHeader header = SniffImageFile(input);
    if (header.format == ImageFormat::kUnknown) {
        return Fail(ErrorCode::kUnsupported, "the image must be JPEG, PNG, WebP or GIF", input);
    }
    ImageCheck check = CheckImageLimits(header, kMaxImageWidth, kMaxImageHeight, options.max_pixels);
    if (!check.ok()) {
        return Fail(check.status == 422 ? ErrorCode::kTooLarge : ErrorCode::kUnsupported, check.message,
                    std::string(check.error_code));
    }
    if (auto s = InitImageDecoder(); !s) return Fail(s.error());
    const char* loader = vips_foreign_find_load(input.c_str());
    if (loader == nullptr || std::string_view(loader) != ExpectedLoader(header.format)) {
        std::string why = loader != nullptr ? loader : TakeVipsError();
        return Fail(ErrorCode::kUnsupported, "the image must be JPEG, PNG, WebP or GIF",
                    fmt::format("{} sniffed, loader {}", ImageFormatName(header.format), why));
    }
    // libvips' own reading of the header (lazy: no pixels yet) must agree with the limits too: a GIF frame or a
    // second JPEG frame header could be larger than what the sniffer saw.
    {
        VipsImage* raw = vips_image_new_from_file(input.c_str(), "access", VIPS_ACCESS_SEQUENTIAL, nullptr);
        if (raw == nullptr) return Fail(Unreadable(fmt::format("open: {}", TakeVipsError())));
        ImagePtr lazy(raw);
        ImageHeader seen{header.format, static_cast<std::uint32_t>(std::max(0, vips_image_get_width(raw))),
                         static_cast<std::uint32_t>(std::max(0, vips_image_get_page_height(raw)))};
        check = CheckImageLimits(seen, kMaxImageWidth, kMaxImageHeight, options.max_pixels);
        if (!check.ok()) {
            return Fail(check.status == 422 ? ErrorCode::kTooLarge : ErrorCode::kInvalidArgument, check.message,
                        fmt::format("decoder header: {}", check.error_code));
        }
    }
    // thumbnail: shrink-on-load where the format allows it, EXIF orientation applied (and the tag dropped), the
    // first frame only, never upscaled, an embedded colour profile converted to sRGB. Truncated or corrupt data fails
    // instead of producing a grey half.
    VipsImage* scaled = nullptr;
    if (vips_thumbnail(input.c_str(), &scaled, options.max_side, "height", options.max_side, "size", VIPS_SIZE_DOWN,
                       "fail_on", VIPS_FAIL_ON_TRUNCATED, "export_profile", "srgb", nullptr) != 0) {
        return Fail(Unreadable(fmt::format("decode: {}", TakeVipsError())));
    }
    ImagePtr scaled_ptr(scaled);
    // Decoded once into memory (≤ 3000 × 3000); every output is made from this copy.
    VipsImage* copied = vips_image_copy_memory(scaled);
    if (copied == nullptr) return Fail(Unreadable(fmt::format("decode: {}", TakeVipsError())));
    ImagePtr full(copied);
    RemoveMetadata(full.get());

    NormalisedImage out;
    out.ext = std::string(FullExt(header.format));
    out.width = vips_image_get_width(full.get());
    out.height = vips_image_get_height(full.get());
    const fs::path dir(out_dir);
    out.full = (dir / ("full." + out.ext)).string();
    out.thumb = (dir / "thumb.webp").string();
    out.w320 = (dir / "w320.webp").string();
    out.w640 = (dir / "w640.webp").string();

    auto write_all = [&]() -> Status {
        if (auto s = SaveFull(full.get(), header.format, out.full); !s) return s;
        auto thumb = Thumbnail(full.get(), kThumbSide, kThumbSide, true);
        if (!thumb) return Fail(thumb.error());
        if (auto s = SaveWebp(thumb->get(), out.thumb, 80); !s) return s;
        for (auto [width, path] : {std::pair{320, &out.w320}, std::pair{640, &out.w640}}) {
            auto scaled_to = Thumbnail(full.get(), width, VIPS_MAX_COORD, false);
            if (!scaled_to) return Fail(scaled_to.error());
            if (auto s = SaveWebp(scaled_to->get(), *path, 80); !s) return s;
        }
        return Ok();
    };
    if (auto s = write_all(); !s) {
        RemoveOutputs(out_dir);  // nothing half-made stays behind
        return Fail(s.error());
    }
    return out;
}

std::string NormalisedImageToJson(const NormalisedImage& image) {
    boost::json::object files;
    files["full"] = image.full;
    files["thumb"] = image.thumb;
    files["w320"] = image.w320;
    files["w640"] = image.w640;
    boost::json::object o;
    o["ext"] = image.ext;
    o["width"] = image.width;
    o["height"] = image.height;
    o["files"] = std::move(files);
    return boost::json::serialize(o);
}

Result<NormalisedImage> NormalisedImageFromJson(std::string_view json, const std::string& out_dir) {
    auto bad = [&](std::string_view why) {
        return Fail(ErrorCode::kProtocol, "malformed image result", fmt::format("{}: {}", why, json.substr(0, 300)));
    };
    boost::system::error_code ec;
    boost::json::value v = boost::json::parse(json, ec);
    if (ec || !v.is_object() || core::JsonHasDuplicateKeys(json)) return bad("not a JSON object");
    const auto& o = v.as_object();
    if (o.size() != 4) return bad("unexpected members");
    const auto* ext = o.if_contains("ext");
    const auto* width = o.if_contains("width");
    const auto* height = o.if_contains("height");
    const auto* files = o.if_contains("files");
    if (ext == nullptr || !ext->is_string() || width == nullptr || !width->is_int64() || height == nullptr ||
        !height->is_int64() || files == nullptr || !files->is_object() || files->as_object().size() != 4) {
        return bad("missing or mistyped member");
    }
    NormalisedImage image;
    image.ext = std::string(ext->as_string());
    if (image.ext != "jpg" && image.ext != "png" && image.ext != "webp") return bad("unknown ext");
    const std::int64_t w = width->as_int64();
    const std::int64_t h = height->as_int64();
    if (w < 1 || h < 1 || w > kMaxImageWidth || h > kMaxImageHeight) return bad("size out of range");
    image.width = static_cast<int>(w);
    image.height = static_cast<int>(h);
    // Lexical check: the child must name files directly inside out_dir (no "..", no other directory).
    fs::path dir = fs::path(out_dir).lexically_normal();
    if (!dir.has_filename() && dir.has_relative_path()) dir = dir.parent_path();  // "/o/" → "/o"
    auto path = [&](const char* key, std::string* into) {
        const auto* p = files->as_object().if_contains(key);
        if (p == nullptr || !p->is_string()) return false;
        const fs::path file = fs::path(std::string(p->as_string())).lexically_normal();
        if (!file.is_absolute() || file.parent_path() != dir || !file.has_filename()) return false;
        *into = file.string();
        return true;
    };
    if (!path("full", &image.full) || !path("thumb", &image.thumb) || !path("w320", &image.w320) ||
        !path("w640", &image.w640)) {
        return bad("file path outside the output directory");
    }
    return image;
}

Result<NormalisedImage> NormaliseImage(Sandbox& sandbox, const std::string& input, const std::string& out_dir,
                                       const SandboxLimits& limits, const ImageOptions& options) {
    const std::string dir = fs::absolute(fs::path(out_dir)).lexically_normal().string();
    RemoveOutputs(dir);  // a retried job may find the outputs of an attempt that was killed
    auto fail = [&](std::string detail) {
        RemoveOutputs(dir);
        return Fail(Unreadable(std::move(detail)));
    };
    auto out = sandbox.Run({"image", "--out-dir", dir, "--max-side", std::to_string(options.max_side), "--max-pixels",
                            std::to_string(options.max_pixels), "--", input},
                           limits);
    if (!out) {
        const SandboxError& e = out.error();
        if (e.failure == SandboxFailure::kRefused) return fail(e.error.message + ": " + e.error.detail);
        return fail(
            fmt::format("media sandbox {}: {} {}", SandboxFailureName(e.failure), e.error.detail, e.stderr_tail));
    }
    auto image = NormalisedImageFromJson(*out, dir);
    if (!image) return fail(fmt::format("media sandbox bad_output: {}", image.error().detail));
    if (image->width > options.max_side || image->height > options.max_side) {
        return fail(fmt::format("media sandbox bad_output: {} × {} is above the long-side cap {}", image->width,
                                image->height, options.max_side));
    }
    for (const auto* path : {&image->full, &image->thumb, &image->w320, &image->w640}) {
        if (!IsOutputFile(*path)) return fail(fmt::format("media sandbox bad_output: {} is no regular file", *path));
    }
    return image;
}

SandboxLimits ImageSandboxLimits(const core::Config& /*config*/) {
    SandboxLimits l;
    l.address_space_bytes = std::uint64_t{1} << 30;
    l.cpu = std::chrono::seconds(30);
    l.file_size_bytes = std::uint64_t{64} << 20;
    l.wall_timeout = std::chrono::seconds(60);
    return l;
}

}  // namespace plyr::media
