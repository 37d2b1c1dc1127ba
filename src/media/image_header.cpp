#include "media/image_header.hpp"

#include <fstream>

#include <fmt/format.h>

namespace plyr::media {
namespace {

// Every reader checks `at + size <= head.size()` itself, so no caller can read past the end.
struct Bytes {
    std::string_view head;

    bool Has(std::size_t at, std::size_t size) const { return at <= head.size() && size <= head.size() - at; }
    std::uint32_t U8(std::size_t at) const { return static_cast<unsigned char>(head[at]); }
    std::uint32_t Be16(std::size_t at) const { return (U8(at) << 8) | U8(at + 1); }
    std::uint32_t Le16(std::size_t at) const { return U8(at) | (U8(at + 1) << 8); }
    std::uint32_t Le24(std::size_t at) const { return Le16(at) | (U8(at + 2) << 16); }
    std::uint32_t Le32(std::size_t at) const { return Le24(at) | (U8(at + 3) << 24); }
    std::uint32_t Be32(std::size_t at) const { return (Be16(at) << 16) | Be16(at + 2); }
    bool Is(std::size_t at, std::string_view magic) const {
        return Has(at, magic.size()) && head.substr(at, magic.size()) == magic;
    }
};

bool IsStartOfFrame(std::uint32_t marker) {
    // C4 (DHT), C8 (JPG extension) and CC (DAC) share the range but are no frame headers.
    return marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
}

ImageHeader Jpeg(const Bytes& b) {
    ImageHeader h{ImageFormat::kJpeg, 0, 0};
    std::size_t pos = 2;
    // `pos` grows on every iteration, so the walk ends within head.size() steps.
    while (b.Has(pos, 1)) {
        if (b.U8(pos) != 0xFF) return h;  // garbage between segments
        while (b.Has(pos, 1) && b.U8(pos) == 0xFF) ++pos;
        if (!b.Has(pos, 1)) return h;
        const std::uint32_t marker = b.U8(pos++);
        if (marker == 0x00) return h;
        if (marker == 0x01 || marker == 0xD8 || (marker >= 0xD0 && marker <= 0xD7)) continue;  // no length
        if (marker == 0xD9 || marker == 0xDA) return h;  // end of image / scan data before any frame header
        if (!b.Has(pos, 2)) return h;
        const std::uint32_t length = b.Be16(pos);
        if (length < 2) return h;
        if (IsStartOfFrame(marker)) {
            // length(2) precision(1) height(2) width(2) components(1)…
            if (length < 8 || !b.Has(pos, 7)) return h;
            const std::uint32_t height = b.Be16(pos + 3);
            const std::uint32_t width = b.Be16(pos + 5);
            if (height == 0 || width == 0) return h;  // height defined later by DNL: not from the header
            h.width = width;
            h.height = height;
            return h;
        }
        pos += length;
    }
    return h;
}

ImageHeader Png(const Bytes& b) {
    ImageHeader h{ImageFormat::kPng, 0, 0};
    if (!b.Has(8, 16) || b.Be32(8) != 13 || !b.Is(12, "IHDR")) return h;
    const std::uint32_t width = b.Be32(16);
    const std::uint32_t height = b.Be32(20);
    constexpr std::uint32_t kPngMax = 0x7FFFFFFF;  // PNG: "zero is an invalid value", at most 2^31 − 1
    if (width == 0 || height == 0 || width > kPngMax || height > kPngMax) return h;
    h.width = width;
    h.height = height;
    return h;
}

ImageHeader Gif(const Bytes& b) {
    ImageHeader h{ImageFormat::kGif, 0, 0};
    if (!b.Has(6, 4)) return h;
    h.width = b.Le16(6);
    h.height = b.Le16(8);
    if (!h.has_dimensions()) h.width = h.height = 0;
    return h;
}

ImageHeader Webp(const Bytes& b) {
    ImageHeader h{ImageFormat::kWebp, 0, 0};
    if (b.Is(12, "VP8 ")) {
        // frame tag (3 bytes, bit 0 clear = key frame), start code 9D 01 2A, 14-bit width and height
        if (!b.Has(20, 10) || (b.U8(20) & 1) != 0 || !b.Is(23, "\x9D\x01\x2A")) return h;
        h.width = b.Le16(26) & 0x3FFF;
        h.height = b.Le16(28) & 0x3FFF;
    } else if (b.Is(12, "VP8L")) {
        if (!b.Has(20, 5) || b.U8(20) != 0x2F) return h;
        const std::uint32_t bits = b.Le32(21);
        h.width = (bits & 0x3FFF) + 1;
        h.height = ((bits >> 14) & 0x3FFF) + 1;
    } else if (b.Is(12, "VP8X")) {
        if (!b.Has(20, 10)) return h;
        h.width = b.Le24(24) + 1;
        h.height = b.Le24(27) + 1;
    } else {
        return ImageHeader{};  // RIFF/WEBP with an unknown first chunk is not an image we can size
    }
    if (!h.has_dimensions()) h.width = h.height = 0;
    return h;
}

}  // namespace

std::string_view ImageFormatName(ImageFormat format) {
    switch (format) {
        case ImageFormat::kJpeg:
            return "jpeg";
        case ImageFormat::kPng:
            return "png";
        case ImageFormat::kWebp:
            return "webp";
        case ImageFormat::kGif:
            return "gif";
        case ImageFormat::kUnknown:
            break;
    }
    return "unknown";
}

ImageHeader SniffImage(std::string_view head) {
    const Bytes b{head};
    if (b.Is(0, "\xFF\xD8\xFF")) return Jpeg(b);
    if (b.Is(0, "\x89PNG\r\n\x1A\n")) return Png(b);
    if (b.Is(0, "GIF87a") || b.Is(0, "GIF89a")) return Gif(b);
    if (b.Is(0, "RIFF") && b.Is(8, "WEBP")) return Webp(b);
    return ImageHeader{};
}

ImageHeader SniffImageFile(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return ImageHeader{};
    std::string head(kImageHeaderBytes, '\0');
    in.read(head.data(), static_cast<std::streamsize>(head.size()));
    head.resize(static_cast<std::size_t>(in.gcount()));
    return SniffImage(head);
}

ImageCheck CheckImageLimits(const ImageHeader& header, std::uint32_t max_width, std::uint32_t max_height,
                            std::uint64_t max_pixels) {
    if (header.format == ImageFormat::kUnknown) {
        return ImageCheck{415, "unsupported_image_format", "the image must be JPEG, PNG, WebP or GIF"};
    }
    if (!header.has_dimensions()) {
        return ImageCheck{415, "unsupported_image_format",
                          fmt::format("the {} header gives no image size", ImageFormatName(header.format))};
    }
    const std::uint64_t pixels = std::uint64_t{header.width} * header.height;
    if (header.width > max_width || header.height > max_height || pixels > max_pixels) {
        return ImageCheck{422, "image_dimensions_too_large",
                          fmt::format("the image is {} × {}; at most {} × {} and {} pixels are accepted", header.width,
                                      header.height, max_width, max_height, max_pixels)};
    }
    return ImageCheck{};
}

}  // namespace plyr::media
