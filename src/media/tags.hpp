#pragma once
// Embedded tags and cover art of an uploaded audio file (issue 5 §2, product.md §6.4): title, artist and album,
// and the embedded front cover (ID3v2 APIC in mp3/aiff/wav, FLAC PICTURE blocks, MP4 `covr`, Xiph
// METADATA_BLOCK_PICTURE in Ogg Vorbis/Opus/FLAC). The upload job uses them to prefill missing fields and runs the
// cover through media::NormaliseImage like an uploaded image.
//
// ReadTagsFile runs TagLib on untrusted bytes: call it only inside the sandbox child (`plyr media tags`). The
// TagLib file class is chosen from the sniffed magic (media::SniffAudio), never from the name; webm and unknown
// formats have no tags (all fields empty, not an error). Text: UTF-8, control characters removed, trimmed, cut to
// kMaxTagBytes on a character boundary; empty → nullopt. Art: the front cover when one is marked, else the first
// picture; written raw (not decoded) to art_out when it is 1 byte to kMaxArtBytes, else ignored.
//
// ReadTags is the parent side (blocking: call via net::Offload); the child's JSON is parsed strictly and the art
// path must equal art_out_path.
//
// Errors: ReadTagsFile: kIo when the file or art_out cannot be opened/written. ReadTags: every failure
// (crash, timeout, limits, bad output, refusal) is kInvalidArgument with the cause in Error::detail; tags are
// optional metadata, so the upload job should log it and carry on without tags rather than fail the upload.
// Thread-safety: both are reentrant.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/config.hpp"
#include "core/result.hpp"
#include "media/sandbox.hpp"

namespace plyr::media {

inline constexpr std::size_t kMaxTagBytes = 256;
inline constexpr std::uint64_t kMaxArtBytes = std::uint64_t{20} << 20;

struct EmbeddedArt {
    std::string path;  // == the art_out path given
    std::uint64_t size = 0;
};

struct EmbeddedTags {
    std::optional<std::string> title;
    std::optional<std::string> artist;
    std::optional<std::string> album;
    std::optional<EmbeddedArt> art;
};

// Child side. art_out empty: pictures are not extracted.
Result<EmbeddedTags> ReadTagsFile(const std::string& input, const std::string& art_out);

// {"title":s|null,"artist":s|null,"album":s|null,"art":{"path":s,"size":n}|null}
std::string EmbeddedTagsToJson(const EmbeddedTags& tags);
// Strict inverse: exactly these members, typed, no duplicates, strings ≤ kMaxTagBytes, art size 1..kMaxArtBytes
// and art path == art_out (no art allowed when art_out is empty). kProtocol otherwise.
Result<EmbeddedTags> EmbeddedTagsFromJson(std::string_view json, const std::string& art_out);

// Parent side: `plyr media tags [--art-out <art_out_path>] -- <input>`.
Result<EmbeddedTags> ReadTags(Sandbox& sandbox, const std::string& input, const std::string& art_out_path,
                              const SandboxLimits& limits);

// Limits for the tags child: 1 GiB address space, 30 s CPU, the art file ≤ 20 MiB (+ slack), 60 s wall clock.
SandboxLimits TagsSandboxLimits(const core::Config& config);

// Tag text as stored: invalid UTF-8 sequences and control characters (C0, DEL, C1) removed, whitespace trimmed,
// cut to kMaxTagBytes without splitting a character. Exposed for tests.
std::string CleanTagText(std::string_view text);

}  // namespace plyr::media
