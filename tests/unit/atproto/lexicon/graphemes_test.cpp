#include "atproto/lexicon/graphemes.hpp"

#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace plyr::atproto::lexicon {
namespace {

TEST(Graphemes, CountsExtendedGraphemeClustersNotBytesOrCodePoints) {
    EXPECT_EQ(CountGraphemes(""), 0u);
    EXPECT_EQ(CountGraphemes("abc"), 3u);
    EXPECT_EQ(CountGraphemes("e\xCC\x81"), 1u);                                         // e + combining acute
    EXPECT_EQ(CountGraphemes("👩‍👩‍👦‍👦"), 1u);                         // ZWJ family: 7 code points
    EXPECT_EQ(CountGraphemes("🇩🇪🏳️‍🌈"), 2u);                            // flag + rainbow flag sequence
    EXPECT_EQ(CountGraphemes("a~öñ©⽘☎𓋓😀👨‍👩‍👧‍👧"), 10u);  // the data-model fixture string
    EXPECT_EQ(CountGraphemes("\r\n"), 1u);
}

TEST(Graphemes, SafeFromManyThreads) {
    std::vector<std::thread> threads;
    std::vector<std::size_t> counts(8);
    for (std::size_t t = 0; t < counts.size(); ++t) {
        threads.emplace_back([&counts, t] {
            for (int i = 0; i < 200; ++i) counts[t] = CountGraphemes("🇩🇪🏳️‍🌈x");
        });
    }
    for (auto& thread : threads) thread.join();
    for (std::size_t c : counts) EXPECT_EQ(c, 3u);
}

}  // namespace
}  // namespace plyr::atproto::lexicon
