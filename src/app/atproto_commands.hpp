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
// A fresh TID.
int RunAtprotoTid();

}  // namespace plyr::app
