// cbor_bench: the C++ half of bench/cbor_vs_js.sh. Decodes a recorded firehose sample the way a firehose
// consumer must: per frame, the DAG-CBOR header and body (two items back to back); for a frame whose body carries
// `blocks` (a CAR: #commit, #sync), the CAR header and every block, each block's CID recomputed (sha2-256) and
// compared, and each block decoded as DAG-CBOR (commit, MST nodes, records).
//
//   cbor_bench <sample file> [passes=10]
//
// Sample file: u32-big-endian length ‖ frame bytes, repeated (bench/cbor_vs_js_record.mjs writes it). The
// whole file is read first; each pass decodes every frame once. Prints one JSON line: frames, blocks, the best
// pass's wall seconds and frames/s, the median pass's, and frames per process-CPU second (median pass;
// robust when the machine is busy). Exit 1 when any frame fails to decode (the bench would be
// meaningless), 2 on usage errors.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include "atproto/data/car.hpp"
#include "atproto/data/cbor.hpp"
#include "atproto/data/value.hpp"

namespace {

using plyr::atproto::Value;

struct Counts {
    std::size_t frames = 0;
    std::size_t blocks = 0;
};

std::vector<std::string_view> SplitFrames(std::string_view file) {
    std::vector<std::string_view> frames;
    std::size_t pos = 0;
    while (pos + 4 <= file.size()) {
        const auto* p = reinterpret_cast<const unsigned char*>(file.data() + pos);
        const std::size_t len = (std::size_t{p[0]} << 24) | (std::size_t{p[1]} << 16) | (std::size_t{p[2]} << 8) | p[3];
        pos += 4;
        if (len > file.size() - pos) break;
        frames.push_back(file.substr(pos, len));
        pos += len;
    }
    if (pos != file.size()) frames.clear();  // truncated file: refuse rather than bench a prefix
    return frames;
}

// One frame: false when anything fails to decode or verify.
bool DecodeFrame(std::string_view frame, Counts& counts) {
    std::size_t used = 0;
    auto header = plyr::atproto::DecodeDagCborPrefix(frame, used);
    if (!header) return false;
    auto body = plyr::atproto::DecodeDagCbor(frame.substr(used));
    if (!body) return false;
    ++counts.frames;
    const Value* blocks = body->Find("blocks");
    if (blocks == nullptr || !blocks->IsBytes()) return true;
    auto reader = plyr::atproto::CarReader::Open(blocks->GetBytes().data);
    if (!reader) return false;
    while (true) {
        auto block = reader->Next();  // verifies the block against its CID
        if (!block) return false;
        if (!block->has_value()) break;
        auto value = plyr::atproto::DecodeDagCbor((*block)->data);
        if (!value) return false;
        ++counts.blocks;
    }
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2 || argc > 3) {
        std::fprintf(stderr, "usage: cbor_bench <sample file> [passes=10]\n");
        return 2;
    }
    const int passes = argc == 3 ? std::atoi(argv[2]) : 10;
    if (passes < 1) return 2;
    std::ifstream in(argv[1], std::ios::binary);
    if (!in) {
        std::fprintf(stderr, "cbor_bench: cannot read %s\n", argv[1]);
        return 2;
    }
    const std::string file((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const auto frames = SplitFrames(file);
    if (frames.empty()) {
        std::fprintf(stderr, "cbor_bench: %s holds no (complete) frames\n", argv[1]);
        return 1;
    }

    Counts counts;
    std::vector<double> seconds;
    std::vector<double> cpu_seconds;
    for (int pass = 0; pass <= passes; ++pass) {  // pass 0 warms caches and is not timed
        counts = {};
        const std::clock_t c0 = std::clock();
        const auto t0 = std::chrono::steady_clock::now();
        for (auto frame : frames) {
            if (!DecodeFrame(frame, counts)) {
                std::fprintf(stderr, "cbor_bench: frame %zu does not decode\n", counts.frames);
                return 1;
            }
        }
        const std::chrono::duration<double> dt = std::chrono::steady_clock::now() - t0;
        const double cpu = static_cast<double>(std::clock() - c0) / CLOCKS_PER_SEC;
        if (pass > 0) {
            seconds.push_back(dt.count());
            cpu_seconds.push_back(cpu);
        }
    }
    std::sort(seconds.begin(), seconds.end());
    std::sort(cpu_seconds.begin(), cpu_seconds.end());
    const double best = seconds.front();
    const double median = seconds[seconds.size() / 2];
    const double cpu_median = cpu_seconds[cpu_seconds.size() / 2];
    const auto n = static_cast<double>(counts.frames);
    std::printf(
        "{\"impl\":\"plyr\",\"frames\":%zu,\"blocks\":%zu,\"bytes\":%zu,\"passes\":%d,\"best_s\":%.6f,"
        "\"median_s\":%.6f,\"events_per_s\":%.0f,\"median_events_per_s\":%.0f,\"cpu_median_s\":%.6f,"
        "\"cpu_events_per_s\":%.0f}\n",
        counts.frames, counts.blocks, file.size(), passes, best, median, n / best, n / median, cpu_median,
        n / cpu_median);
    return 0;
}
