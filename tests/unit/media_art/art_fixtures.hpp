#pragma once
// Image and tagged-audio fixtures for the artwork/tags tests, generated at test time with ffmpeg (nothing binary is
// checked in), plus byte-level builders for what ffmpeg cannot write: an EXIF APP1 segment (orientation, GPS IFD,
// a description), a bare PNG header with any IHDR size, a FLAC PICTURE block.

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "support/process.hpp"

namespace plyr::testing {

inline std::string ReadBytes(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read " + path.string());
    return std::string(std::istreambuf_iterator<char>(in), {});
}

inline void WriteBytes(const std::filesystem::path& path, std::string_view bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out) throw std::runtime_error("cannot write " + path.string());
}

// Runs ffmpeg with `args` (after the common flags); throws with its stderr on failure.
inline void Ffmpeg(const std::vector<std::string>& args) {
    // RunProcess execs without a PATH search.
    std::string tool = "/usr/bin/ffmpeg";
    if (!std::filesystem::exists(tool)) tool = "/usr/local/bin/ffmpeg";
    if (!std::filesystem::exists(tool))
        throw std::runtime_error("ffmpeg is not installed (scripts/bootstrap.sh --test)");
    std::vector<std::string> argv{tool, "-nostdin", "-hide_banner", "-loglevel", "error", "-y"};
    argv.insert(argv.end(), args.begin(), args.end());
    ProcessResult r = RunProcess(argv, BaseEnv());
    if (r.exit_code != 0)
        throw std::runtime_error("ffmpeg failed (exit " + std::to_string(r.exit_code) + "): " + r.err);
}

// A still image of `size` ("WxH") from the lavfi `source` (e.g. "testsrc2", "color=red"), encoder chosen by the
// extension of `path` (.jpg .png .gif .webp).
inline void MakeImage(const std::filesystem::path& path, const std::string& source, const std::string& size) {
    const std::string spec = source.find('=') == std::string::npos ? source + "=s=" + size : source + ":s=" + size;
    Ffmpeg({"-f", "lavfi", "-i", spec, "-frames:v", "1", path.string()});
}

inline void PutLe16(std::string& s, std::uint32_t v) {
    s.push_back(static_cast<char>(v & 0xFF));
    s.push_back(static_cast<char>((v >> 8) & 0xFF));
}
inline void PutLe32(std::string& s, std::uint32_t v) {
    PutLe16(s, v & 0xFFFF);
    PutLe16(s, v >> 16);
}
inline void PutBe16(std::string& s, std::uint32_t v) {
    s.push_back(static_cast<char>((v >> 8) & 0xFF));
    s.push_back(static_cast<char>(v & 0xFF));
}
inline void PutBe32(std::string& s, std::uint32_t v) {
    PutBe16(s, v >> 16);
    PutBe16(s, v & 0xFFFF);
}

// An APP1 "Exif" segment (little-endian TIFF): IFD0 = ImageDescription `description`, Orientation `orientation`,
// GPSInfo → a GPS IFD with GPSVersionID 2.2.0.0 and GPSLatitudeRef "N".
inline std::string ExifApp1(int orientation, const std::string& description) {
    const std::uint32_t ifd0 = 8;
    const std::uint32_t ifd0_entries = 3;
    const std::uint32_t gps_ifd = ifd0 + 2 + 12 * ifd0_entries + 4;
    const std::uint32_t gps_entries = 2;
    const std::uint32_t text = gps_ifd + 2 + 12 * gps_entries + 4;
    std::string tiff = "II";
    PutLe16(tiff, 42);
    PutLe32(tiff, ifd0);
    PutLe16(tiff, ifd0_entries);
    auto entry = [&](std::uint32_t tag, std::uint32_t type, std::uint32_t count, std::uint32_t value) {
        PutLe16(tiff, tag);
        PutLe16(tiff, type);
        PutLe32(tiff, count);
        PutLe32(tiff, value);
    };
    entry(0x010E, 2, static_cast<std::uint32_t>(description.size() + 1), text);  // ImageDescription, ASCII
    entry(0x0112, 3, 1, static_cast<std::uint32_t>(orientation));                // Orientation, SHORT
    entry(0x8825, 4, 1, gps_ifd);                                                // GPSInfo IFD pointer, LONG
    PutLe32(tiff, 0);
    PutLe16(tiff, gps_entries);
    entry(0x0000, 1, 4, 0x00000202);  // GPSVersionID 2.2.0.0, BYTE[4]
    entry(0x0001, 2, 2, 'N');         // GPSLatitudeRef "N", ASCII[2]
    PutLe32(tiff, 0);
    tiff += description;
    tiff.push_back('\0');
    std::string app1 = "\xFF\xE1";
    PutBe16(app1, static_cast<std::uint32_t>(2 + 6 + tiff.size()));
    app1 += std::string("Exif\0\0", 6);
    app1 += tiff;
    return app1;
}

// `jpeg` with `segment` inserted right after SOI.
inline std::string InsertAfterSoi(const std::string& jpeg, const std::string& segment) {
    if (jpeg.size() < 2 || jpeg.compare(0, 2, "\xFF\xD8") != 0) throw std::runtime_error("not a JPEG");
    return jpeg.substr(0, 2) + segment + jpeg.substr(2);
}

// A PNG signature and IHDR for `width` × `height` (RGB, 8 bit), a tiny IDAT and IEND. CRCs are zero: enough for
// header sniffing and for refusals that must happen before any decoding.
inline std::string PngHeaderOnly(std::uint32_t width, std::uint32_t height) {
    std::string s("\x89PNG\r\n\x1A\n", 8);
    PutBe32(s, 13);
    s += "IHDR";
    PutBe32(s, width);
    PutBe32(s, height);
    s += std::string("\x08\x02\x00\x00\x00", 5);
    PutBe32(s, 0);
    PutBe32(s, 2);
    s += "IDAT";
    s += std::string("\x78\x9C", 2);
    PutBe32(s, 0);
    s += std::string(2048, '\0');  // "a few KB"
    PutBe32(s, 0);
    s += "IEND";
    PutBe32(s, 0);
    return s;
}

// A FLAC METADATA_BLOCK_PICTURE body (as carried base64-encoded in a Vorbis comment).
inline std::string FlacPictureBlock(std::uint32_t type, const std::string& mime, const std::string& data) {
    std::string s;
    PutBe32(s, type);
    PutBe32(s, static_cast<std::uint32_t>(mime.size()));
    s += mime;
    PutBe32(s, 0);                              // description length
    for (int i = 0; i < 4; ++i) PutBe32(s, 0);  // width, height, depth, colours: unknown
    PutBe32(s, static_cast<std::uint32_t>(data.size()));
    s += data;
    return s;
}

}  // namespace plyr::testing
