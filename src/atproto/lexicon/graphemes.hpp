#pragma once
// Extended grapheme cluster counting (Unicode UAX #29) with ICU's character BreakIterator, for the lexicon
// string constraints minGraphemes/maxGraphemes: an emoji ZWJ sequence or a flag counts as one.
//
// Input is UTF-8; ill-formed sequences count like U+FFFD (callers pass validated data-model strings).
// Errors: none (ICU failures would be a broken installation: CHECK-style abort, never a silent zero).
// Thread-safety: safe from any thread (one cached iterator per thread).

#include <cstddef>
#include <string_view>

namespace plyr::atproto::lexicon {

std::size_t CountGraphemes(std::string_view utf8);

}  // namespace plyr::atproto::lexicon
