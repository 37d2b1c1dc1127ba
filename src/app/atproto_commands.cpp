// `plyr atproto …`: operator and debugging tools in the spirit of Bluesky's `goat`. Exit codes: 0 ok,
// 1 invalid input or failed operation, 2 usage (CLI11).
#include <fstream>
#include <optional>
#include <sstream>

#include <fmt/format.h>

#include <boost/json/serialize.hpp>
#include "app/atproto_commands.hpp"
#include "app/exit_codes.hpp"

#include "atproto/crypto/jwt.hpp"
#include "atproto/data/cbor.hpp"
#include "atproto/data/cid.hpp"
#include "atproto/data/json.hpp"
#include "atproto/lexicon/catalog.hpp"
#include "atproto/lexicon/validate.hpp"
#include "atproto/syntax/tid.hpp"
#include "core/clock.hpp"

namespace plyr::app {
namespace {

std::optional<std::string> ReadFile(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return std::nullopt;
    std::stringstream body;
    body << in.rdbuf();
    return body.str();
}

int Failed(std::string_view what, const Error& error) {
    fmt::print(stderr, "plyr: {}: {}\n", what, error.message);
    return kExitRuntime;
}

}  // namespace

int RunAtprotoCid(const std::string& file) {
    auto text = ReadFile(file);
    if (!text) {
        fmt::print(stderr, "plyr: cannot read {}\n", file);
        return kExitRuntime;
    }
    auto value = atproto::ValueFromJsonText(*text);
    if (!value) return Failed("invalid record JSON", value.error());
    fmt::print("{}\n", atproto::CidForDagCbor(atproto::EncodeDagCbor(*value)).ToString());
    return kExitOk;
}

int RunAtprotoVerifyJwt(const std::string& token, const std::string& did_key) {
    auto payload = atproto::crypto::VerifyJwt(token, did_key);
    if (!payload) return Failed("jwt not valid", payload.error());
    fmt::print("{}\n", boost::json::serialize(*payload));
    return kExitOk;
}

int RunAtprotoValidate(const std::string& lexicon_dir, const std::string& nsid, const std::string& file) {
    auto catalog = atproto::lexicon::LoadCatalog(lexicon_dir);
    if (!catalog) return Failed("cannot load lexicons", catalog.error());
    auto text = ReadFile(file);
    if (!text) {
        fmt::print(stderr, "plyr: cannot read {}\n", file);
        return kExitRuntime;
    }
    auto valid = atproto::lexicon::ValidateRecordJson(*catalog, nsid, *text);
    if (!valid) return Failed(fmt::format("invalid {} record", nsid), valid.error());
    fmt::print("valid {} record\n", nsid);
    return kExitOk;
}

int RunAtprotoTid() {
    core::SystemClock clock;
    atproto::syntax::TidGenerator generator(clock, atproto::syntax::RandomTidClockId());
    fmt::print("{}\n", generator.NextString());
    return kExitOk;
}

}  // namespace plyr::app
