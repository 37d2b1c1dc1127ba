#include "core/json_strict.hpp"

#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include <boost/json/basic_parser_impl.hpp>

namespace plyr::core {
namespace {

// SAX handler that only looks for an object with the same member name twice.
class DuplicateKeyFinder {
  public:
    static constexpr std::size_t max_object_size = std::size_t(-1);
    static constexpr std::size_t max_array_size = std::size_t(-1);
    static constexpr std::size_t max_key_size = std::size_t(-1);
    static constexpr std::size_t max_string_size = std::size_t(-1);

    bool found = false;

    bool on_document_begin(boost::json::error_code&) { return true; }
    bool on_document_end(boost::json::error_code&) { return true; }
    bool on_object_begin(boost::json::error_code&) {
        keys_.emplace_back();
        return true;
    }
    bool on_object_end(std::size_t, boost::json::error_code&) {
        keys_.pop_back();
        return true;
    }
    bool on_array_begin(boost::json::error_code&) { return true; }
    bool on_array_end(std::size_t, boost::json::error_code&) { return true; }
    bool on_key_part(boost::json::string_view part, std::size_t, boost::json::error_code&) {
        key_.append(part.data(), part.size());
        return true;
    }
    bool on_key(boost::json::string_view part, std::size_t, boost::json::error_code& ec) {
        key_.append(part.data(), part.size());
        bool inserted = keys_.back().insert(std::move(key_)).second;
        key_.clear();
        if (inserted) return true;
        found = true;
        ec = boost::json::error::syntax;
        return false;
    }
    bool on_string_part(boost::json::string_view, std::size_t, boost::json::error_code&) { return true; }
    bool on_string(boost::json::string_view, std::size_t, boost::json::error_code&) { return true; }
    bool on_number_part(boost::json::string_view, boost::json::error_code&) { return true; }
    bool on_int64(std::int64_t, boost::json::string_view, boost::json::error_code&) { return true; }
    bool on_uint64(std::uint64_t, boost::json::string_view, boost::json::error_code&) { return true; }
    bool on_double(double, boost::json::string_view, boost::json::error_code&) { return true; }
    bool on_bool(bool, boost::json::error_code&) { return true; }
    bool on_null(boost::json::error_code&) { return true; }
    bool on_comment_part(boost::json::string_view, boost::json::error_code&) { return true; }
    bool on_comment(boost::json::string_view, boost::json::error_code&) { return true; }

  private:
    std::vector<std::set<std::string, std::less<>>> keys_;
    std::string key_;
};

}  // namespace

bool JsonHasDuplicateKeys(std::string_view json, const boost::json::parse_options& options) {
    boost::json::basic_parser<DuplicateKeyFinder> parser(options);
    boost::json::error_code ec;
    parser.write_some(false, json.data(), json.size(), ec);
    return parser.handler().found;
}

bool JsonNumbersFinite(const boost::json::value& value) {
    switch (value.kind()) {
        case boost::json::kind::double_:
            return std::isfinite(value.get_double());
        case boost::json::kind::array:
            for (const auto& item : value.get_array()) {
                if (!JsonNumbersFinite(item)) return false;
            }
            return true;
        case boost::json::kind::object:
            for (const auto& member : value.get_object()) {
                if (!JsonNumbersFinite(member.value())) return false;
            }
            return true;
        default:
            return true;
    }
}

}  // namespace plyr::core
