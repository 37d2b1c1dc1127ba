#pragma once
// In-process image header check for uploads (product.md §6.4 step 4, §9 rows 22-23): the format from magic bytes
// and the dimensions from the header alone, without a decoder, so the HTTP handler can answer 415/422 before any
// job exists. Decoding happens only in the sandbox (media/image.hpp).
//
// SniffImage is pure and bounds-checked against hostile input: it reads nothing outside `head`, never allocates
// and never loops more than once per byte of `head`.
//   jpeg: FF D8 FF, then markers are walked (fill bytes, standalone markers, length-prefixed segments) up to the
//         first SOFn (C0-C3, C5-C7, C9-CB, CD-CF), whose frame header gives height and width. SOS/EOI before a
//         SOFn, a segment running past `head` or a zero height (DNL) leave the dimensions unknown.
//   png:  the 8-byte signature, then IHDR as the first chunk (length 13).
//   gif:  GIF87a / GIF89a, the logical screen width and height.
//   webp: RIFF….WEBP with a first chunk VP8 (key frame start code 9D 01 2A, 14-bit sizes), VP8L (signature 2F,
//         14-bit sizes − 1) or VP8X (24-bit canvas sizes − 1).
// Anything else (SVG, HTML, BMP, TIFF, HEIF, …) is kUnknown.
//
// Thread-safety: all functions are pure.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace plyr::media {

// How much of the file SniffImage should be given: enough for a JPEG's APPn segments (EXIF, XMP, ICC) before its
// frame header in all but pathological files.
inline constexpr std::size_t kImageHeaderBytes = 512 * 1024;

enum class ImageFormat { kUnknown, kJpeg, kPng, kWebp, kGif };

// "jpeg", "png", "webp", "gif"; "unknown".
std::string_view ImageFormatName(ImageFormat format);

struct ImageHeader {
    ImageFormat format = ImageFormat::kUnknown;
    std::uint32_t width = 0;   // 0 = not found in the header
    std::uint32_t height = 0;  // 0 = not found in the header

    bool has_dimensions() const { return width > 0 && height > 0; }
};

ImageHeader SniffImage(std::string_view head);

// Reads the first kImageHeaderBytes of `path` and sniffs them; kUnknown when the file cannot be read.
ImageHeader SniffImageFile(const std::string& path);

struct ImageCheck {
    int status = 0;               // 0 = accepted; else the HTTP status (415 or 422)
    std::string_view error_code;  // "unsupported_image_format" / "image_dimensions_too_large"; empty = accepted
    std::string message;          // safe for users

    bool ok() const { return status == 0; }
};

inline constexpr std::uint32_t kMaxImageWidth = 8000;
inline constexpr std::uint32_t kMaxImageHeight = 8000;
inline constexpr std::uint64_t kMaxImagePixels = 40'000'000;

// 415 unsupported_image_format when the format is unknown or the header gives no dimensions; 422
// image_dimensions_too_large when width > max_width, height > max_height or width × height > max_pixels.
ImageCheck CheckImageLimits(const ImageHeader& header, std::uint32_t max_width = kMaxImageWidth,
                            std::uint32_t max_height = kMaxImageHeight, std::uint64_t max_pixels = kMaxImagePixels);

}  // namespace plyr::media
