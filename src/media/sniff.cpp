#include "media/sniff.hpp"

#include <algorithm>
#include <array>
#include <cstdint>

namespace plyr::media {
namespace {

std::uint8_t Byte(std::string_view s, std::size_t i) { return static_cast<std::uint8_t>(s[i]); }

bool StartsWith(std::string_view s, std::size_t at, std::string_view magic) {
    return s.size() >= at + magic.size() && s.substr(at, magic.size()) == magic;
}

// An MPEG-1/2/2.5 Layer III frame header: 11 sync bits, a valid version, layer III, a bitrate index that is
// neither "free" nor "bad", a valid sample rate index and emphasis. Requiring layer III and real indices keeps
// random bytes from passing as often as a bare 0xFFE sync would.
bool IsMp3FrameHeader(std::string_view s, std::size_t at) {
    if (s.size() < at + 4) return false;
    const std::uint8_t b0 = Byte(s, at), b1 = Byte(s, at + 1), b2 = Byte(s, at + 2), b3 = Byte(s, at + 3);
    if (b0 != 0xFF || (b1 & 0xE0) != 0xE0) return false;
    const int version = (b1 >> 3) & 0x3;  // 1 is reserved
    const int layer = (b1 >> 1) & 0x3;    // 1 = layer III
    const int bitrate = (b2 >> 4) & 0xF;
    const int rate = (b2 >> 2) & 0x3;
    const int emphasis = b3 & 0x3;
    return version != 1 && layer == 1 && bitrate != 0 && bitrate != 0xF && rate != 3 && emphasis != 2;
}

// Byte length of the MPEG audio frame whose header is at `at` (0 when it cannot be computed).
std::size_t Mp3FrameLength(std::string_view s, std::size_t at) {
    static constexpr std::array<int, 16> kV1 = {0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 0};
    static constexpr std::array<int, 16> kV2 = {0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160, 0};
    static constexpr std::array<int, 4> kRate = {44100, 48000, 32000, 0};
    const std::uint8_t b1 = Byte(s, at + 1), b2 = Byte(s, at + 2);
    const int version = (b1 >> 3) & 0x3;  // 3 = MPEG-1, 2 = MPEG-2, 0 = MPEG-2.5
    const int kbps = (version == 3 ? kV1 : kV2)[(b2 >> 4) & 0xF];
    int rate = kRate[(b2 >> 2) & 0x3];
    if (version == 2) rate /= 2;
    if (version == 0) rate /= 4;
    if (kbps == 0 || rate == 0) return 0;
    const int padding = (b2 >> 1) & 0x1;
    const int coefficient = version == 3 ? 144 : 72;
    return static_cast<std::size_t>(coefficient * kbps * 1000 / rate + padding);
}

// A bare frame sync (no ID3 tag) counts only when the next frame header follows where the first frame ends,
// or the input ends before that point.
bool LooksLikeMp3Frames(std::string_view s, std::size_t at) {
    if (!IsMp3FrameHeader(s, at)) return false;
    const std::size_t length = Mp3FrameLength(s, at);
    if (length < 4) return false;
    if (s.size() < at + length + 4) return true;
    return IsMp3FrameHeader(s, at + length);
}

bool IsIsoBmffAudio(std::string_view s) {
    if (!StartsWith(s, 4, "ftyp") || s.size() < 12) return false;
    const std::uint32_t box = (std::uint32_t{Byte(s, 0)} << 24) | (std::uint32_t{Byte(s, 1)} << 16) |
                              (std::uint32_t{Byte(s, 2)} << 8) | std::uint32_t{Byte(s, 3)};
    if (box < 16 || box > 4096 || box % 4 != 0) return false;
    // Major brand at 8, compatible brands from 16 on. Audio-capable brands only: a video-only (e.g. "avc1")
    // or image (HEIF "heic", "mif1") file is not accepted as audio here.
    static constexpr std::array<std::string_view, 9> kBrands = {"M4A ", "M4B ", "M4P ", "mp41", "mp42",
                                                                "isom", "iso2", "dash", "3gp4"};
    auto known = [&](std::size_t at) {
        for (std::string_view brand : kBrands) {
            if (StartsWith(s, at, brand)) return true;
        }
        return false;
    };
    if (known(8)) return true;
    for (std::size_t at = 16; at + 4 <= box && at + 4 <= s.size(); at += 4) {
        if (known(at)) return true;
    }
    return false;
}

}  // namespace

std::string_view AudioFormatName(AudioFormat format) {
    switch (format) {
        case AudioFormat::kMp3:
            return "mp3";
        case AudioFormat::kWav:
            return "wav";
        case AudioFormat::kAiff:
            return "aiff";
        case AudioFormat::kFlac:
            return "flac";
        case AudioFormat::kOgg:
            return "ogg";
        case AudioFormat::kM4a:
            return "m4a";
        case AudioFormat::kWebm:
            return "webm";
        case AudioFormat::kUnknown:
            break;
    }
    return "unknown";
}

std::optional<AudioFormat> AudioFormatFromName(std::string_view name) {
    for (AudioFormat f : {AudioFormat::kMp3, AudioFormat::kWav, AudioFormat::kAiff, AudioFormat::kFlac,
                          AudioFormat::kOgg, AudioFormat::kM4a, AudioFormat::kWebm}) {
        if (AudioFormatName(f) == name) return f;
    }
    return std::nullopt;
}

AudioFormat SniffAudio(std::string_view head) {
    if (head.size() > kSniffBytes) head = head.substr(0, kSniffBytes);
    if (StartsWith(head, 0, "RIFF") && StartsWith(head, 8, "WAVE")) return AudioFormat::kWav;
    if (StartsWith(head, 0, "FORM") && (StartsWith(head, 8, "AIFF") || StartsWith(head, 8, "AIFC"))) {
        return AudioFormat::kAiff;
    }
    if (StartsWith(head, 0, "fLaC")) return AudioFormat::kFlac;
    // OggS capture pattern followed by stream structure version 0.
    if (StartsWith(head, 0, "OggS") && head.size() > 4 && head[4] == '\0') return AudioFormat::kOgg;
    if (IsIsoBmffAudio(head)) return AudioFormat::kM4a;
    // EBML header element; the DocType must say webm (a Matroska .mka is not on the accepted list).
    if (StartsWith(head, 0, std::string_view("\x1A\x45\xDF\xA3", 4))) {
        const std::string_view window = head.substr(0, std::min<std::size_t>(head.size(), 64));
        if (window.find(std::string_view("\x42\x82", 2)) != std::string_view::npos &&
            window.find("webm") != std::string_view::npos) {
            return AudioFormat::kWebm;
        }
        return AudioFormat::kUnknown;
    }
    if (StartsWith(head, 0, "ID3") && head.size() >= 10) {
        // ID3v2: version 2-4, sync-safe size bytes (high bit clear). What follows the tag is the probe's to
        // judge (an ID3 tag over undecodable noise is a failed job, not a refused upload: product.md §9 row 6),
        // except a FLAC stream that a tagger prefixed with ID3.
        const std::uint8_t major = Byte(head, 3);
        if (major < 2 || major > 4) return AudioFormat::kUnknown;
        std::uint32_t size = 0;
        for (std::size_t i = 6; i < 10; ++i) {
            if (Byte(head, i) & 0x80) return AudioFormat::kUnknown;
            size = (size << 7) | Byte(head, i);
        }
        const std::size_t after = 10 + std::size_t{size} + ((Byte(head, 5) & 0x10) ? 10 : 0);
        if (StartsWith(head, after, "fLaC")) return AudioFormat::kFlac;
        return AudioFormat::kMp3;
    }
    if (LooksLikeMp3Frames(head, 0)) return AudioFormat::kMp3;
    return AudioFormat::kUnknown;
}

}  // namespace plyr::media
