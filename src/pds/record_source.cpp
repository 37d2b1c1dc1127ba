#include "pds/record_source.hpp"

namespace plyr::pds {

void RecordSourceRegistry::Register(std::string entity_type, RecordSource& source) {
    std::lock_guard lock(mutex_);
    sources_[std::move(entity_type)] = &source;
}

RecordSource* RecordSourceRegistry::Find(std::string_view entity_type) const {
    std::lock_guard lock(mutex_);
    auto it = sources_.find(entity_type);
    return it == sources_.end() ? nullptr : it->second;
}

}  // namespace plyr::pds
