#pragma once
// `plyr atproto …` subcommands. Each returns a process exit code: 0 ok, 1 invalid/failed.

#include <string>

namespace plyr::app {

// DAG-CBOR CID of a JSON record ($link/$bytes/blob conventions), printed as a base32 CID string.
int RunAtprotoCid(const std::string& file);
// Verifies a compact JWT (ES256/ES256K) with a did:key and its time claims; prints the payload JSON.
int RunAtprotoVerifyJwt(const std::string& token, const std::string& did_key);
// Validates a JSON record against `nsid` from the lexicons under lexicon_dir.
int RunAtprotoValidate(const std::string& lexicon_dir, const std::string& nsid, const std::string& file);
// Network commands (identity settings from the configuration; exit 3 on invalid configuration):
// resolve prints {did, handle, handle_verified, pds, signing_key, also_known_as} as JSON.
int RunAtprotoResolve(const std::string& identifier);
// get prints {uri, cid, value} of one record (exit 4 when the PDS has no such record).
int RunAtprotoGet(const std::string& at_uri);
// ls prints one {uri, cid, value} line per record of a collection.
int RunAtprotoLs(const std::string& repo, const std::string& collection);
// A fresh TID.
int RunAtprotoTid();

}  // namespace plyr::app
