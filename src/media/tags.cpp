#include "media/tags.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <vector>

#include <fmt/format.h>
#include <taglib/aifffile.h>
#include <taglib/attachedpictureframe.h>
#include <taglib/flacfile.h>
#include <taglib/flacpicture.h>
#include <taglib/id3v2frame.h>
#include <taglib/id3v2framefactory.h>
#include <taglib/id3v2tag.h>
#include <taglib/mp4file.h>
#include <taglib/mp4tag.h>
#include <taglib/mpegfile.h>
#include <taglib/oggflacfile.h>
#include <taglib/opusfile.h>
#include <taglib/tfilestream.h>
#include <taglib/vorbisfile.h>
#include <taglib/wavfile.h>
#include <taglib/xiphcomment.h>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "core/json_strict.hpp"
#include "media/sniff.hpp"

namespace plyr::media {
namespace {

// A picture: its bytes and whether it is marked as the front cover.
struct Picture {
    TagLib::ByteVector data;
    bool front = false;
};

// Front cover first, else the first picture of any type.
void Offer(std::optional<Picture>& best, const TagLib::ByteVector& data, bool front) {
    if (data.isEmpty()) return;
    if (!best || (front && !best->front)) best = Picture{data, front};
}

void FromId3v2(std::optional<Picture>& best, TagLib::ID3v2::Tag* tag) {
    if (tag == nullptr) return;
    const auto& map = tag->frameListMap();
    auto it = map.find("APIC");
    if (it == map.end()) return;
    for (auto* frame : it->second) {
        auto* apic = dynamic_cast<TagLib::ID3v2::AttachedPictureFrame*>(frame);
        if (apic == nullptr) continue;
        Offer(best, apic->picture(), apic->type() == TagLib::ID3v2::AttachedPictureFrame::FrontCover);
    }
}

void FromFlacPictures(std::optional<Picture>& best, const TagLib::List<TagLib::FLAC::Picture*>& pictures) {
    for (auto* p : pictures) {
        if (p != nullptr) Offer(best, p->data(), p->type() == TagLib::FLAC::Picture::FrontCover);
    }
}

void FromXiph(std::optional<Picture>& best, TagLib::Ogg::XiphComment* comment) {
    if (comment != nullptr) FromFlacPictures(best, comment->pictureList());
}

enum class OggCodec { kUnknown, kVorbis, kOpus, kFlac };

// The codec of the first logical stream: the first packet starts after the 27-byte page header and its segment
// table.
OggCodec SniffOggCodec(std::string_view head) {
    if (head.size() < 27) return OggCodec::kUnknown;
    const std::size_t start = 27 + static_cast<unsigned char>(head[26]);
    auto is = [&](std::string_view magic) {
        return head.size() >= start + magic.size() && head.substr(start, magic.size()) == magic;
    };
    if (is("\x01vorbis")) return OggCodec::kVorbis;
    if (is("OpusHead")) return OggCodec::kOpus;
    if (is("\x7F"
           "FLAC")) {
        return OggCodec::kFlac;
    }
    return OggCodec::kUnknown;
}

struct Found {
    std::unique_ptr<TagLib::File> file;  // reads through the caller's stream, which must outlive it
    std::optional<Picture> picture;
};

// Opens the TagLib class of the sniffed format and collects the pictures its tag kinds can hold.
Found Open(TagLib::FileStream* stream, std::string_view head) {
    Found f;
    auto* factory = TagLib::ID3v2::FrameFactory::instance();
    switch (SniffAudio(head)) {
        case AudioFormat::kMp3: {
            auto file = std::make_unique<TagLib::MPEG::File>(stream, factory, false);
            if (file->isValid()) FromId3v2(f.picture, file->ID3v2Tag());
            f.file = std::move(file);
            break;
        }
        case AudioFormat::kFlac: {
            auto file = std::make_unique<TagLib::FLAC::File>(stream, factory, false);
            if (file->isValid()) {
                FromFlacPictures(f.picture, file->pictureList());
                FromXiph(f.picture, file->xiphComment());
                FromId3v2(f.picture, file->ID3v2Tag());
            }
            f.file = std::move(file);
            break;
        }
        case AudioFormat::kM4a: {
            auto file = std::make_unique<TagLib::MP4::File>(stream, false);
            if (file->isValid() && file->tag() != nullptr && file->tag()->contains("covr")) {
                for (const auto& art : file->tag()->item("covr").toCoverArtList()) Offer(f.picture, art.data(), true);
            }
            f.file = std::move(file);
            break;
        }
        case AudioFormat::kAiff: {
            auto file = std::make_unique<TagLib::RIFF::AIFF::File>(stream, false);
            if (file->isValid()) FromId3v2(f.picture, file->tag());
            f.file = std::move(file);
            break;
        }
        case AudioFormat::kWav: {
            auto file = std::make_unique<TagLib::RIFF::WAV::File>(stream, false);
            if (file->isValid()) FromId3v2(f.picture, file->ID3v2Tag());
            f.file = std::move(file);
            break;
        }
        case AudioFormat::kOgg:
            switch (SniffOggCodec(head)) {
                case OggCodec::kVorbis: {
                    auto file = std::make_unique<TagLib::Ogg::Vorbis::File>(stream, false);
                    if (file->isValid()) FromXiph(f.picture, file->tag());
                    f.file = std::move(file);
                    break;
                }
                case OggCodec::kOpus: {
                    auto file = std::make_unique<TagLib::Ogg::Opus::File>(stream, false);
                    if (file->isValid()) FromXiph(f.picture, file->tag());
                    f.file = std::move(file);
                    break;
                }
                case OggCodec::kFlac: {
                    auto file = std::make_unique<TagLib::Ogg::FLAC::File>(stream, false);
                    if (file->isValid()) FromXiph(f.picture, file->tag());
                    f.file = std::move(file);
                    break;
                }
                case OggCodec::kUnknown:
                    break;
            }
            break;
        case AudioFormat::kWebm:  // TagLib 1.13 has no Matroska support
        case AudioFormat::kUnknown:
            break;
    }
    return f;
}

std::optional<std::string> Text(const TagLib::String& value) {
    std::string clean = CleanTagText(value.to8Bit(true));
    if (clean.empty()) return std::nullopt;
    return clean;
}

Status WriteArt(const std::string& path, const TagLib::ByteVector& data) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return Fail(ErrorCode::kIo, "cannot write the cover", fmt::format("{}: {}", path, std::strerror(errno)));
    std::size_t done = 0;
    while (done < data.size()) {
        const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            const int err = errno;
            ::close(fd);
            return Fail(ErrorCode::kIo, "cannot write the cover", fmt::format("{}: {}", path, std::strerror(err)));
        }
        done += static_cast<std::size_t>(n);
    }
    if (::close(fd) != 0) {
        return Fail(ErrorCode::kIo, "cannot write the cover", fmt::format("{}: {}", path, std::strerror(errno)));
    }
    return Ok();
}

// Length of the valid UTF-8 sequence at s[i], or 0 when it is invalid (overlong, surrogate, > U+10FFFF, cut).
std::size_t Utf8Length(std::string_view s, std::size_t i) {
    const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
    const unsigned char c = b(i);
    if (c < 0x80) return 1;
    std::size_t n = 0;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else {
        return 0;
    }
    if (i + n > s.size()) return 0;
    if (b(i + 1) < lo || b(i + 1) > hi) return 0;
    for (std::size_t k = 2; k < n; ++k) {
        if (b(i + k) < 0x80 || b(i + k) > 0xBF) return 0;
    }
    return n;
}

}  // namespace

std::string CleanTagText(std::string_view text) {
    std::string out;
    out.reserve(std::min(text.size(), kMaxTagBytes));
    for (std::size_t i = 0; i < text.size();) {
        const std::size_t n = Utf8Length(text, i);
        if (n == 0) {
            ++i;
            continue;
        }
        const auto c = static_cast<unsigned char>(text[i]);
        const bool c1 = n == 2 && c == 0xC2 && static_cast<unsigned char>(text[i + 1]) < 0xA0;  // U+0080-U+009F
        if (!(n == 1 && (c < 0x20 || c == 0x7F)) && !c1) {
            if (out.size() + n > kMaxTagBytes) break;
            if (!(out.empty() && n == 1 && c == ' ')) out.append(text.substr(i, n));
        }
        i += n;
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    return out;
}

Result<EmbeddedTags> ReadTagsFile(const std::string& input, const std::string& art_out) {
    std::string head(kSniffBytes, '\0');
    {
        std::ifstream in(input, std::ios::binary);
        if (!in) return Fail(ErrorCode::kIo, "cannot read the audio file", input);
        in.read(head.data(), static_cast<std::streamsize>(head.size()));
        head.resize(static_cast<std::size_t>(in.gcount()));
    }
    TagLib::FileStream stream(input.c_str(), true);
    if (!stream.isOpen()) return Fail(ErrorCode::kIo, "cannot read the audio file", input);
    Found found = Open(&stream, head);
    EmbeddedTags tags;
    if (found.file == nullptr || !found.file->isValid()) return tags;
    if (const TagLib::Tag* tag = found.file->tag(); tag != nullptr) {
        tags.title = Text(tag->title());
        tags.artist = Text(tag->artist());
        tags.album = Text(tag->album());
    }
    if (!art_out.empty() && found.picture && found.picture->data.size() <= kMaxArtBytes) {
        if (auto s = WriteArt(art_out, found.picture->data); !s) return Fail(s.error());
        tags.art = EmbeddedArt{art_out, found.picture->data.size()};
    }
    return tags;
}

std::string EmbeddedTagsToJson(const EmbeddedTags& tags) {
    auto text = [](const std::optional<std::string>& s) -> boost::json::value {
        if (!s) return nullptr;
        return boost::json::value(*s);
    };
    boost::json::object o;
    o["title"] = text(tags.title);
    o["artist"] = text(tags.artist);
    o["album"] = text(tags.album);
    if (tags.art) {
        boost::json::object art;
        art["path"] = tags.art->path;
        art["size"] = tags.art->size;
        o["art"] = std::move(art);
    } else {
        o["art"] = nullptr;
    }
    return boost::json::serialize(o);
}

Result<EmbeddedTags> EmbeddedTagsFromJson(std::string_view json, const std::string& art_out) {
    auto bad = [&](std::string_view why) {
        return Fail(ErrorCode::kProtocol, "malformed tags result", fmt::format("{}: {}", why, json.substr(0, 300)));
    };
    boost::system::error_code ec;
    boost::json::value v = boost::json::parse(json, ec);
    if (ec || !v.is_object() || core::JsonHasDuplicateKeys(json)) return bad("not a JSON object");
    const auto& o = v.as_object();
    if (o.size() != 4) return bad("unexpected members");
    EmbeddedTags tags;
    for (auto [key, into] :
         {std::pair{"title", &tags.title}, std::pair{"artist", &tags.artist}, std::pair{"album", &tags.album}}) {
        const auto* p = o.if_contains(key);
        if (p == nullptr) return bad("missing member");
        if (p->is_null()) continue;
        if (!p->is_string() || p->as_string().empty() || p->as_string().size() > kMaxTagBytes) {
            return bad("mistyped text member");
        }
        *into = std::string(p->as_string());
    }
    const auto* art = o.if_contains("art");
    if (art == nullptr) return bad("missing member");
    if (!art->is_null()) {
        if (!art->is_object() || art->as_object().size() != 2) return bad("mistyped art");
        const auto* path = art->as_object().if_contains("path");
        const auto* size = art->as_object().if_contains("size");
        if (path == nullptr || !path->is_string() || size == nullptr) return bad("mistyped art");
        std::uint64_t bytes = 0;
        if (size->is_uint64()) {
            bytes = size->as_uint64();
        } else if (size->is_int64() && size->as_int64() > 0) {
            bytes = static_cast<std::uint64_t>(size->as_int64());
        } else {
            return bad("mistyped art size");
        }
        if (art_out.empty() || path->as_string() != art_out) return bad("art path is not the requested one");
        if (bytes == 0 || bytes > kMaxArtBytes) return bad("art size out of range");
        tags.art = EmbeddedArt{art_out, bytes};
    }
    return tags;
}

Result<EmbeddedTags> ReadTags(Sandbox& sandbox, const std::string& input, const std::string& art_out_path,
                              const SandboxLimits& limits) {
    std::vector<std::string> args{"tags"};
    if (!art_out_path.empty()) {
        args.push_back("--art-out");
        args.push_back(art_out_path);
    }
    args.push_back("--");
    args.push_back(input);
    auto out = sandbox.Run(args, limits);
    // On any failure a cover the child may have written is removed: the caller gets tags or nothing.
    auto unreadable = [&](std::string detail) {
        if (!art_out_path.empty()) ::unlink(art_out_path.c_str());
        return Fail(ErrorCode::kInvalidArgument, "the audio file's tags could not be read", std::move(detail));
    };
    if (!out) {
        const SandboxError& e = out.error();
        if (e.failure == SandboxFailure::kRefused) return unreadable(e.error.message + ": " + e.error.detail);
        return unreadable(
            fmt::format("media sandbox {}: {} {}", SandboxFailureName(e.failure), e.error.detail, e.stderr_tail));
    }
    auto tags = EmbeddedTagsFromJson(*out, art_out_path);
    if (!tags) return unreadable(fmt::format("media sandbox bad_output: {}", tags.error().detail));
    if (tags->art) {
        struct stat st {};
        if (::lstat(tags->art->path.c_str(), &st) != 0 || !S_ISREG(st.st_mode) ||
            static_cast<std::uint64_t>(st.st_size) != tags->art->size) {
            return unreadable(fmt::format("media sandbox bad_output: {} is not the reported file", tags->art->path));
        }
    }
    return tags;
}

SandboxLimits TagsSandboxLimits(const core::Config& /*config*/) {
    SandboxLimits l;
    l.address_space_bytes = std::uint64_t{1} << 30;
    l.cpu = std::chrono::seconds(30);
    l.file_size_bytes = kMaxArtBytes + (std::uint64_t{1} << 20);
    l.wall_timeout = std::chrono::seconds(60);
    return l;
}

}  // namespace plyr::media
