#pragma once
// atproto::xrpc repository operations (docs/atproto.md §3.3) on a user's PDS, as typed calls over XrpcClient.
//
// Contract
// - BLOCKING like XrpcClient (callers Offload). Errors as XrpcClient (XrpcError with the XRPC name:
//   RecordNotFound, InvalidSwap, …).
// - Inputs are checked before anything is sent → kInvalidArgument: repo is a DID or handle, collection an
//   NSID, rkeys valid record keys, records maps whose `$type` (when present) equals the collection, at most
//   kMaxApplyWrites writes.
// - `validate` is never sent: the reference PDS only knows Bluesky's lexicons and `validate: true` fails for
//   ours, so plyr validates its records itself (lexicon/) and lets the PDS treat them as unknown.
// - Retries: putRecord, deleteRecord, uploadBlob and every read are idempotent and retried on transport
//   errors / 5xx; createRecord and applyWrites never are (a lost response could mean the write happened).
// - Outputs are checked: URIs must be AT-URIs and CIDs valid, else kProtocol.
// - GetBlob verifies the downloaded bytes against the CID (sha2-256) before the file appears.
// Thread-safety: free functions; as thread-safe as the XrpcClient.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "atproto/data/cid.hpp"
#include "atproto/data/value.hpp"
#include "atproto/xrpc/xrpc_client.hpp"

namespace plyr::atproto::xrpc {

inline constexpr std::size_t kMaxApplyWrites = 200;  // the reference PDS rejects larger batches

struct CommitMeta {
    Cid cid;
    std::string rev;
};

struct WriteResult {
    std::string uri;
    Cid cid;
    std::optional<CommitMeta> commit;  // absent: putRecord found an identical record (nothing committed)
    std::string validation_status;     // "valid" | "unknown" | "" (absent)
};

// putRecord / deleteRecord `swapRecord`: succeed only if the current record has this CID, or (expected
// empty) only if no record exists yet — sent as JSON null.
struct SwapRecord {
    std::optional<Cid> expected;
    static SwapRecord MustNotExist() { return {}; }
    static SwapRecord MustEqual(Cid cid) { return SwapRecord{std::move(cid)}; }
};

struct CreateRecordInput {
    std::string repo;  // the user's DID
    std::string collection;
    Value record;
    std::string rkey;  // empty: the PDS mints a TID
    std::optional<Cid> swap_commit;
};
XrpcResult<WriteResult> CreateRecord(const XrpcClient& client, const CreateRecordInput& input);

struct PutRecordInput {
    std::string repo;
    std::string collection;
    std::string rkey;
    Value record;
    std::optional<SwapRecord> swap_record;  // nullopt: no check
    std::optional<Cid> swap_commit;
};
XrpcResult<WriteResult> PutRecord(const XrpcClient& client, const PutRecordInput& input);

struct DeleteRecordInput {
    std::string repo;
    std::string collection;
    std::string rkey;
    std::optional<Cid> swap_record;
    std::optional<Cid> swap_commit;
};
// The commit, when the PDS reports one (deleting a missing record is not an error on the reference PDS).
XrpcResult<std::optional<CommitMeta>> DeleteRecord(const XrpcClient& client, const DeleteRecordInput& input);

struct RecordEntry {
    std::string uri;
    std::optional<Cid> cid;  // always present in listRecords; optional in getRecord's output schema
    Value value;
};
XrpcResult<RecordEntry> GetRecord(const XrpcClient& client, std::string_view repo, std::string_view collection,
                                  std::string_view rkey, const std::optional<Cid>& cid = std::nullopt);

struct ListRecordsInput {
    std::string repo;
    std::string collection;
    int limit = 50;      // 1..100
    std::string cursor;  // empty: first page
    bool reverse = false;
};
struct RecordPage {
    std::vector<RecordEntry> records;
    std::optional<std::string> cursor;  // absent: last page
};
XrpcResult<RecordPage> ListRecords(const XrpcClient& client, const ListRecordsInput& input);

// Pages through the whole collection (input.cursor is the starting point). Stops when a page has no cursor;
// a cursor that does not advance is kProtocol, more than max_records records is kTooLarge.
XrpcResult<std::vector<RecordEntry>> ListAllRecords(const XrpcClient& client, ListRecordsInput input,
                                                    std::size_t max_records = 100'000);

struct WriteOp {
    enum class Kind { kCreate, kUpdate, kDelete };
    Kind kind = Kind::kCreate;
    std::string collection;
    std::string rkey;  // optional for kCreate
    Value value;       // kCreate / kUpdate
    static WriteOp Create(std::string collection, Value value, std::string rkey = {});
    static WriteOp Update(std::string collection, std::string rkey, Value value);
    static WriteOp Delete(std::string collection, std::string rkey);
};
struct WriteOpResult {
    WriteOp::Kind kind = WriteOp::Kind::kCreate;
    std::string uri;         // create/update
    std::optional<Cid> cid;  // create/update
    std::string validation_status;
};
struct ApplyWritesResult {
    std::optional<CommitMeta> commit;
    std::vector<WriteOpResult> results;  // one per write, in order
};
XrpcResult<ApplyWritesResult> ApplyWrites(const XrpcClient& client, std::string_view repo,
                                          const std::vector<WriteOp>& writes,
                                          const std::optional<Cid>& swap_commit = std::nullopt);

// Streams `file` as the request body. The returned ref goes verbatim into a record.
XrpcResult<BlobRef> UploadBlob(const XrpcClient& client, const std::filesystem::path& file, std::string_view mime_type);

// com.atproto.sync.getBlob into `destination` (atomically; only after the bytes match the CID). Returns
// the size. Over max_bytes → kTooLarge; bytes not matching the CID → kProtocol.
XrpcResult<std::uint64_t> GetBlob(const XrpcClient& client, std::string_view did, const Cid& cid,
                                  const std::filesystem::path& destination, std::uint64_t max_bytes);

struct RepoDescription {
    std::string handle;
    std::string did;
    Value did_doc;
    std::vector<std::string> collections;
    bool handle_is_correct = false;
};
XrpcResult<RepoDescription> DescribeRepo(const XrpcClient& client, std::string_view repo);

// com.atproto.sync.getRepo: the repository as a CAR v1 (read it with atproto/data/car.hpp).
XrpcResult<std::string> GetRepo(const XrpcClient& client, std::string_view did, std::uint64_t max_bytes);
XrpcResult<std::uint64_t> GetRepoToFile(const XrpcClient& client, std::string_view did,
                                        const std::filesystem::path& destination, std::uint64_t max_bytes);

// com.atproto.identity.resolveHandle on this service: the DID (syntax-checked). The caller still verifies
// it bidirectionally (identity/).
XrpcResult<std::string> ResolveHandle(const XrpcClient& client, std::string_view handle);

}  // namespace plyr::atproto::xrpc
