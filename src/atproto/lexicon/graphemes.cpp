#include "atproto/lexicon/graphemes.hpp"

#include <cstdio>
#include <cstdlib>
#include <memory>

#include <unicode/brkiter.h>
#include <unicode/locid.h>
#include <unicode/utext.h>

namespace plyr::atproto::lexicon {
namespace {

[[noreturn]] void IcuFailure(const char* what, UErrorCode status) {
    // Only a broken ICU installation (missing data) gets here; counting 0 would silently pass maxGraphemes.
    std::fprintf(stderr, "plyr: ICU %s failed: %s\n", what, u_errorName(status));
    std::abort();
}

icu::BreakIterator& ThreadIterator() {
    // Creating a BreakIterator loads rule data (slow); one per thread keeps counting cheap and race-free.
    thread_local std::unique_ptr<icu::BreakIterator> iterator = [] {
        UErrorCode status = U_ZERO_ERROR;
        std::unique_ptr<icu::BreakIterator> it(
            icu::BreakIterator::createCharacterInstance(icu::Locale::getRoot(), status));
        if (U_FAILURE(status) || !it) IcuFailure("createCharacterInstance", status);
        return it;
    }();
    return *iterator;
}

}  // namespace

std::size_t CountGraphemes(std::string_view utf8) {
    if (utf8.empty()) return 0;
    UErrorCode status = U_ZERO_ERROR;
    UText text = UTEXT_INITIALIZER;
    utext_openUTF8(&text, utf8.data(), static_cast<int64_t>(utf8.size()), &status);
    if (U_FAILURE(status)) IcuFailure("utext_openUTF8", status);
    icu::BreakIterator& it = ThreadIterator();
    it.setText(&text, status);
    if (U_FAILURE(status)) {
        utext_close(&text);
        IcuFailure("setText", status);
    }
    std::size_t count = 0;
    it.first();
    while (it.next() != icu::BreakIterator::DONE) ++count;
    utext_close(&text);
    return count;
}

}  // namespace plyr::atproto::lexicon
