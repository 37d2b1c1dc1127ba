#pragma once
// Catalog: the loaded lexicon documents, keyed by NSID, with def lookup by reference.
//
// What: LoadCatalog(root) reads every `*.json` file under `root` (recursively, in sorted path order, symlinked
// directories not followed) as one lexicon document (schema.hpp: strict parsing) and adds it. Files are
// expected at their NSID path (`fm/plyr/track.json` is `fm.plyr.track`) but this is not enforced: the NSID is
// the document's `id`. References between documents are resolved lazily, so a catalog may reference lexicons
// it does not hold (e.g. app.bsky.embed.record#view → app.bsky.feed.defs); validation reports such a gap only
// when data actually reaches it. UnresolvedRefs() lists the gaps reachable from one lexicon.
//
// Errors: LoadCatalog: kNotFound (root missing or not a directory), kIo (unreadable file), kTooLarge (a file
// over 1 MiB), kInvalidArgument (invalid JSON or lexicon, or two documents with the same NSID); messages name
// the file. Add: kInvalidArgument / kAlreadyExists.
// Thread-safety: build the catalog on one thread; afterwards it is immutable and any number of threads may
// validate against it concurrently.

#include <cstddef>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/value.hpp>

#include "atproto/lexicon/schema.hpp"
#include "core/result.hpp"

namespace plyr::atproto::lexicon {

class Catalog {
  public:
    // Adds a parsed document. kAlreadyExists when a document with the same NSID is present.
    Status Add(Document document);
    // Parses (strictly) and adds. `origin` (a file name, say) prefixes error messages.
    Status AddJson(const boost::json::value& json, std::string_view origin = {});
    Status AddJsonText(std::string_view json_text, std::string_view origin = {});

    // A def by reference: "nsid" (= "nsid#main") or "nsid#name". nullptr when absent.
    const Def* Find(std::string_view ref) const;
    // A whole document by NSID, nullptr when absent.
    const Document* FindDocument(std::string_view nsid) const;

    std::vector<std::string> Nsids() const;  // sorted
    std::size_t size() const { return documents_.size(); }
    bool empty() const { return documents_.empty(); }

    // Fully qualified refs (ref and union targets) reachable from `ref` through refs and unions that this
    // catalog cannot resolve, sorted and unique. Empty means everything `ref` can lead to is loaded.
    std::vector<std::string> UnresolvedRefs(std::string_view ref) const;

  private:
    std::map<std::string, Document, std::less<>> documents_;
};

inline constexpr std::size_t kMaxLexiconFileBytes = 1 << 20;

Result<Catalog> LoadCatalog(const std::filesystem::path& root);

}  // namespace plyr::atproto::lexicon
