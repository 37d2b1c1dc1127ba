#pragma once
// Audio container sniffing by magic bytes (product.md §6.4 step 3). Never looks at a file name or a MIME type.
//
// SniffAudio is a pure function over the first bytes of a file (pass at least kSniffBytes when the file is
// that long; fewer bytes only lower the chance of a match, never produce a wrong one). The result is the
// container; the codec inside (AAC or ALAC in m4a, Vorbis or Opus in ogg) is decided later by the probe.
// Thread-safety: pure, reentrant.

#include <cstddef>
#include <optional>
#include <string_view>

namespace plyr::media {

// How many leading bytes the sniffer may look at (an ID3v2 tag is skipped only within this window).
inline constexpr std::size_t kSniffBytes = 64 * 1024;

enum class AudioFormat { kUnknown, kMp3, kWav, kAiff, kFlac, kOgg, kM4a, kWebm };

// "mp3", "wav", "aiff", "flac", "ogg", "m4a", "webm"; "unknown" for kUnknown.
std::string_view AudioFormatName(AudioFormat format);
// Inverse of AudioFormatName for the seven known names; nullopt otherwise (including "unknown").
std::optional<AudioFormat> AudioFormatFromName(std::string_view name);

// The container the bytes start with, or kUnknown (PNG, ELF, text, random bytes, empty input, …).
AudioFormat SniffAudio(std::string_view head);

}  // namespace plyr::media
