#include "atproto/xrpc/repo.hpp"

#include <fstream>
#include <set>

#include <fmt/format.h>

#include "atproto/syntax/syntax.hpp"
#include "core/encoding.hpp"

namespace plyr::atproto::xrpc {
namespace {

constexpr std::string_view kCreateRecord = "com.atproto.repo.createRecord";
constexpr std::string_view kPutRecord = "com.atproto.repo.putRecord";
constexpr std::string_view kDeleteRecord = "com.atproto.repo.deleteRecord";
constexpr std::string_view kGetRecord = "com.atproto.repo.getRecord";
constexpr std::string_view kListRecords = "com.atproto.repo.listRecords";
constexpr std::string_view kApplyWrites = "com.atproto.repo.applyWrites";
constexpr std::string_view kUploadBlob = "com.atproto.repo.uploadBlob";
constexpr std::string_view kDescribeRepo = "com.atproto.repo.describeRepo";
constexpr std::string_view kGetBlob = "com.atproto.sync.getBlob";
constexpr std::string_view kGetRepo = "com.atproto.sync.getRepo";
constexpr std::string_view kResolveHandle = "com.atproto.identity.resolveHandle";

tl::unexpected<XrpcError> Invalid(std::string message, std::string_view value) {
    return XrpcFail(ErrorCode::kInvalidArgument, std::move(message), std::string(value));
}

tl::unexpected<XrpcError> Malformed(std::string_view nsid, std::string_view what) {
    return XrpcFail(ErrorCode::kProtocol, "malformed xrpc output", fmt::format("xrpc {}: {}", nsid, what));
}

XrpcResult<void> CheckRepo(std::string_view repo) {
    if (!syntax::IsValidAtIdentifier(repo)) return Invalid("invalid repo (expected a DID or handle)", repo);
    return {};
}

XrpcResult<void> CheckCollection(std::string_view collection) {
    if (!syntax::IsValidNsid(collection)) return Invalid("invalid collection NSID", collection);
    return {};
}

XrpcResult<void> CheckRkey(std::string_view rkey) {
    if (!syntax::IsValidRecordKey(rkey)) return Invalid("invalid record key", rkey);
    return {};
}

// The PDS would insert a missing $type but rejects a different one; catching it here saves a round trip and
// keeps a record of one collection from being written into another.
XrpcResult<void> CheckRecord(const Value& record, std::string_view collection) {
    if (!record.IsMap()) return Invalid("record must be an object", collection);
    if (const Value* type = record.Find("$type")) {
        const std::string* name = type->AsString();
        if (name == nullptr || *name != collection)
            return Invalid("record $type must equal the collection", collection);
    }
    return {};
}

#define PLYR_XRPC_TRY(expr)                                                      \
    do {                                                                         \
        auto plyr_xrpc_try_ = (expr);                                            \
        if (!plyr_xrpc_try_) return XrpcFail(std::move(plyr_xrpc_try_.error())); \
    } while (false)

const std::string* StringField(const Value& object, std::string_view key) {
    const Value* field = object.Find(key);
    return field == nullptr ? nullptr : field->AsString();
}

XrpcResult<Cid> CidField(std::string_view nsid, const Value& object, std::string_view key) {
    const std::string* text = StringField(object, key);
    if (text == nullptr) return Malformed(nsid, fmt::format("missing {}", key));
    auto cid = ParseCid(*text);
    if (!cid) return Malformed(nsid, fmt::format("invalid {}: {}", key, cid.error().ToString()));
    return std::move(*cid);
}

XrpcResult<std::string> UriField(std::string_view nsid, const Value& object) {
    const std::string* uri = StringField(object, "uri");
    if (uri == nullptr || !syntax::IsValidAtUri(*uri)) return Malformed(nsid, "missing or invalid uri");
    return *uri;
}

XrpcResult<std::optional<CommitMeta>> CommitField(std::string_view nsid, const Value& object) {
    const Value* commit = object.Find("commit");
    if (commit == nullptr || commit->IsNull()) return std::optional<CommitMeta>();
    if (!commit->IsMap()) return Malformed(nsid, "commit is not an object");
    auto cid = CidField(nsid, *commit, "cid");
    if (!cid) return XrpcFail(std::move(cid.error()));
    const std::string* rev = StringField(*commit, "rev");
    if (rev == nullptr) return Malformed(nsid, "commit without rev");
    return std::optional<CommitMeta>(CommitMeta{std::move(*cid), *rev});
}

XrpcResult<WriteResult> ParseWriteResult(std::string_view nsid, const Value& output) {
    if (!output.IsMap()) return Malformed(nsid, "output is not an object");
    WriteResult result;
    auto uri = UriField(nsid, output);
    if (!uri) return XrpcFail(std::move(uri.error()));
    result.uri = std::move(*uri);
    auto cid = CidField(nsid, output, "cid");
    if (!cid) return XrpcFail(std::move(cid.error()));
    result.cid = std::move(*cid);
    auto commit = CommitField(nsid, output);
    if (!commit) return XrpcFail(std::move(commit.error()));
    result.commit = std::move(*commit);
    if (const std::string* status = StringField(output, "validationStatus")) result.validation_status = *status;
    return result;
}

XrpcResult<RecordEntry> ParseRecordEntry(std::string_view nsid, const Value& object, bool cid_required) {
    if (!object.IsMap()) return Malformed(nsid, "record entry is not an object");
    RecordEntry entry;
    auto uri = UriField(nsid, object);
    if (!uri) return XrpcFail(std::move(uri.error()));
    entry.uri = std::move(*uri);
    if (cid_required || object.Find("cid") != nullptr) {
        auto cid = CidField(nsid, object, "cid");
        if (!cid) return XrpcFail(std::move(cid.error()));
        entry.cid = std::move(*cid);
    }
    const Value* value = object.Find("value");
    if (value == nullptr || !value->IsMap()) return Malformed(nsid, "record value missing or not an object");
    entry.value = *value;
    return entry;
}

Status VerifyFileMatchesCid(const std::filesystem::path& path, const Cid& cid) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return Fail(ErrorCode::kIo, "could not read the download", path.string());
    core::Sha256Stream hash;
    std::string buffer(64 * 1024, '\0');
    while (in) {
        in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
        auto got = in.gcount();
        if (got > 0) hash.Update(std::string_view(buffer.data(), static_cast<std::size_t>(got)));
    }
    if (in.bad()) return Fail(ErrorCode::kIo, "could not read the download", path.string());
    if (core::DigestToString(hash.Finish()) != cid.digest) {
        return Fail(ErrorCode::kProtocol, "blob does not match its cid", cid.ToString());
    }
    return Ok();
}

}  // namespace

XrpcResult<WriteResult> CreateRecord(const XrpcClient& client, const CreateRecordInput& input) {
    PLYR_XRPC_TRY(CheckRepo(input.repo));
    PLYR_XRPC_TRY(CheckCollection(input.collection));
    if (!input.rkey.empty()) PLYR_XRPC_TRY(CheckRkey(input.rkey));
    PLYR_XRPC_TRY(CheckRecord(input.record, input.collection));

    Value::Map body{{"repo", input.repo}, {"collection", input.collection}, {"record", input.record}};
    if (!input.rkey.empty()) body.emplace("rkey", input.rkey);
    if (input.swap_commit) body.emplace("swapCommit", input.swap_commit->ToString());
    auto output = client.Procedure(kCreateRecord, Body::Json(Value(std::move(body))), CallOptions{false, {}});
    if (!output) return XrpcFail(std::move(output.error()));
    return ParseWriteResult(kCreateRecord, *output);
}

XrpcResult<WriteResult> PutRecord(const XrpcClient& client, const PutRecordInput& input) {
    PLYR_XRPC_TRY(CheckRepo(input.repo));
    PLYR_XRPC_TRY(CheckCollection(input.collection));
    PLYR_XRPC_TRY(CheckRkey(input.rkey));
    PLYR_XRPC_TRY(CheckRecord(input.record, input.collection));

    Value::Map body{
        {"repo", input.repo}, {"collection", input.collection}, {"rkey", input.rkey}, {"record", input.record}};
    if (input.swap_record) {
        body.emplace("swapRecord",
                     input.swap_record->expected ? Value(input.swap_record->expected->ToString()) : Value());
    }
    if (input.swap_commit) body.emplace("swapCommit", input.swap_commit->ToString());
    // Idempotent: repeating the same put yields the same record (a no-op the second time).
    auto output = client.Procedure(kPutRecord, Body::Json(Value(std::move(body))), CallOptions{true, {}});
    if (!output) return XrpcFail(std::move(output.error()));
    return ParseWriteResult(kPutRecord, *output);
}

XrpcResult<std::optional<CommitMeta>> DeleteRecord(const XrpcClient& client, const DeleteRecordInput& input) {
    PLYR_XRPC_TRY(CheckRepo(input.repo));
    PLYR_XRPC_TRY(CheckCollection(input.collection));
    PLYR_XRPC_TRY(CheckRkey(input.rkey));

    Value::Map body{{"repo", input.repo}, {"collection", input.collection}, {"rkey", input.rkey}};
    if (input.swap_record) body.emplace("swapRecord", input.swap_record->ToString());
    if (input.swap_commit) body.emplace("swapCommit", input.swap_commit->ToString());
    auto output = client.Procedure(kDeleteRecord, Body::Json(Value(std::move(body))), CallOptions{true, {}});
    if (!output) return XrpcFail(std::move(output.error()));
    if (output->IsNull()) return std::optional<CommitMeta>();
    if (!output->IsMap()) return Malformed(kDeleteRecord, "output is not an object");
    return CommitField(kDeleteRecord, *output);
}

XrpcResult<RecordEntry> GetRecord(const XrpcClient& client, std::string_view repo, std::string_view collection,
                                  std::string_view rkey, const std::optional<Cid>& cid) {
    PLYR_XRPC_TRY(CheckRepo(repo));
    PLYR_XRPC_TRY(CheckCollection(collection));
    PLYR_XRPC_TRY(CheckRkey(rkey));
    Params params{{"repo", std::string(repo)}, {"collection", std::string(collection)}, {"rkey", std::string(rkey)}};
    if (cid) params.emplace_back("cid", cid->ToString());
    auto output = client.Query(kGetRecord, params);
    if (!output) return XrpcFail(std::move(output.error()));
    return ParseRecordEntry(kGetRecord, *output, false);
}

XrpcResult<RecordPage> ListRecords(const XrpcClient& client, const ListRecordsInput& input) {
    PLYR_XRPC_TRY(CheckRepo(input.repo));
    PLYR_XRPC_TRY(CheckCollection(input.collection));
    if (input.limit < 1 || input.limit > 100) return Invalid("limit must be 1..100", std::to_string(input.limit));
    Params params{{"repo", input.repo}, {"collection", input.collection}, {"limit", std::to_string(input.limit)}};
    if (!input.cursor.empty()) params.emplace_back("cursor", input.cursor);
    if (input.reverse) params.emplace_back("reverse", "true");
    auto output = client.Query(kListRecords, params);
    if (!output) return XrpcFail(std::move(output.error()));
    if (!output->IsMap()) return Malformed(kListRecords, "output is not an object");
    const Value* records = output->Find("records");
    if (records == nullptr || !records->IsArray()) return Malformed(kListRecords, "records missing");
    RecordPage page;
    for (const Value& item : records->GetArray()) {
        auto entry = ParseRecordEntry(kListRecords, item, true);
        if (!entry) return XrpcFail(std::move(entry.error()));
        page.records.push_back(std::move(*entry));
    }
    if (const Value* cursor = output->Find("cursor"); cursor != nullptr && !cursor->IsNull()) {
        const std::string* text = cursor->AsString();
        if (text == nullptr) return Malformed(kListRecords, "cursor is not a string");
        if (!text->empty()) page.cursor = *text;
    }
    return page;
}

XrpcResult<std::vector<RecordEntry>> ListAllRecords(const XrpcClient& client, ListRecordsInput input,
                                                    std::size_t max_records) {
    std::vector<RecordEntry> all;
    std::set<std::string> seen_cursors;
    for (;;) {
        auto page = ListRecords(client, input);
        if (!page) return XrpcFail(std::move(page.error()));
        if (all.size() + page->records.size() > max_records) {
            return XrpcFail(ErrorCode::kTooLarge, "too many records", std::to_string(max_records));
        }
        for (auto& record : page->records) all.push_back(std::move(record));
        if (!page->cursor) return all;
        // An empty page with a cursor is allowed (keep going); a cursor seen before would loop forever.
        if (!seen_cursors.insert(*page->cursor).second) {
            return Malformed(kListRecords, fmt::format("cursor did not advance: {}", *page->cursor));
        }
        input.cursor = *page->cursor;
    }
}

WriteOp WriteOp::Create(std::string collection, Value value, std::string rkey) {
    return WriteOp{Kind::kCreate, std::move(collection), std::move(rkey), std::move(value)};
}
WriteOp WriteOp::Update(std::string collection, std::string rkey, Value value) {
    return WriteOp{Kind::kUpdate, std::move(collection), std::move(rkey), std::move(value)};
}
WriteOp WriteOp::Delete(std::string collection, std::string rkey) {
    return WriteOp{Kind::kDelete, std::move(collection), std::move(rkey), Value()};
}

XrpcResult<ApplyWritesResult> ApplyWrites(const XrpcClient& client, std::string_view repo,
                                          const std::vector<WriteOp>& writes, const std::optional<Cid>& swap_commit) {
    PLYR_XRPC_TRY(CheckRepo(repo));
    if (writes.empty()) return Invalid("no writes", repo);
    if (writes.size() > kMaxApplyWrites) return Invalid("too many writes (max 200)", std::to_string(writes.size()));
    Value::Array ops;
    for (const WriteOp& write : writes) {
        PLYR_XRPC_TRY(CheckCollection(write.collection));
        Value::Map op{{"collection", write.collection}};
        switch (write.kind) {
            case WriteOp::Kind::kCreate:
                op.emplace("$type", "com.atproto.repo.applyWrites#create");
                if (!write.rkey.empty()) {
                    PLYR_XRPC_TRY(CheckRkey(write.rkey));
                    op.emplace("rkey", write.rkey);
                }
                PLYR_XRPC_TRY(CheckRecord(write.value, write.collection));
                op.emplace("value", write.value);
                break;
            case WriteOp::Kind::kUpdate:
                op.emplace("$type", "com.atproto.repo.applyWrites#update");
                PLYR_XRPC_TRY(CheckRkey(write.rkey));
                op.emplace("rkey", write.rkey);
                PLYR_XRPC_TRY(CheckRecord(write.value, write.collection));
                op.emplace("value", write.value);
                break;
            case WriteOp::Kind::kDelete:
                op.emplace("$type", "com.atproto.repo.applyWrites#delete");
                PLYR_XRPC_TRY(CheckRkey(write.rkey));
                op.emplace("rkey", write.rkey);
                break;
        }
        ops.emplace_back(std::move(op));
    }
    Value::Map body{{"repo", std::string(repo)}, {"writes", std::move(ops)}};
    if (swap_commit) body.emplace("swapCommit", swap_commit->ToString());
    auto output = client.Procedure(kApplyWrites, Body::Json(Value(std::move(body))), CallOptions{false, {}});
    if (!output) return XrpcFail(std::move(output.error()));
    if (!output->IsMap()) return Malformed(kApplyWrites, "output is not an object");

    ApplyWritesResult result;
    auto commit = CommitField(kApplyWrites, *output);
    if (!commit) return XrpcFail(std::move(commit.error()));
    result.commit = std::move(*commit);
    const Value* results = output->Find("results");
    if (results == nullptr) return result;  // older PDS versions return only the commit
    if (!results->IsArray() || results->GetArray().size() != writes.size()) {
        return Malformed(kApplyWrites, "results do not match the writes");
    }
    for (std::size_t i = 0; i < writes.size(); ++i) {
        const Value& item = results->GetArray()[i];
        if (!item.IsMap()) return Malformed(kApplyWrites, "result is not an object");
        WriteOpResult op;
        op.kind = writes[i].kind;
        if (op.kind != WriteOp::Kind::kDelete) {
            auto uri = UriField(kApplyWrites, item);
            if (!uri) return XrpcFail(std::move(uri.error()));
            op.uri = std::move(*uri);
            auto cid = CidField(kApplyWrites, item, "cid");
            if (!cid) return XrpcFail(std::move(cid.error()));
            op.cid = std::move(*cid);
        }
        if (const std::string* status = StringField(item, "validationStatus")) op.validation_status = *status;
        result.results.push_back(std::move(op));
    }
    return result;
}

XrpcResult<BlobRef> UploadBlob(const XrpcClient& client, const std::filesystem::path& file,
                               std::string_view mime_type) {
    if (mime_type.empty() || mime_type.find_first_of("\r\n") != std::string_view::npos) {
        return Invalid("invalid mime type", mime_type);
    }
    std::error_code ec;
    if (!std::filesystem::is_regular_file(file, ec)) return Invalid("blob file is not a readable file", file.string());
    // Idempotent: uploading the same bytes again yields the same CID.
    auto output = client.Procedure(kUploadBlob, Body::File(file, std::string(mime_type)), CallOptions{true, {}});
    if (!output) return XrpcFail(std::move(output.error()));
    const Value* blob = output->Find("blob");
    if (blob == nullptr || !blob->IsBlob()) return Malformed(kUploadBlob, "blob ref missing");
    return blob->GetBlob();
}

XrpcResult<std::uint64_t> GetBlob(const XrpcClient& client, std::string_view did, const Cid& cid,
                                  const std::filesystem::path& destination, std::uint64_t max_bytes) {
    if (!syntax::IsValidDid(did)) return Invalid("invalid did", did);
    if (cid.hash_code != kHashSha256 || cid.digest.size() != kSha256Length) {
        return XrpcFail(ErrorCode::kUnsupported, "unsupported blob cid", cid.ToString());
    }
    FileVerifier verify = [&cid](const std::filesystem::path& path) { return VerifyFileMatchesCid(path, cid); };
    return client.QueryToFile(kGetBlob, Params{{"did", std::string(did)}, {"cid", cid.ToString()}}, destination,
                              max_bytes, verify);
}

XrpcResult<RepoDescription> DescribeRepo(const XrpcClient& client, std::string_view repo) {
    PLYR_XRPC_TRY(CheckRepo(repo));
    auto output = client.Query(kDescribeRepo, Params{{"repo", std::string(repo)}});
    if (!output) return XrpcFail(std::move(output.error()));
    if (!output->IsMap()) return Malformed(kDescribeRepo, "output is not an object");
    RepoDescription description;
    const std::string* handle = StringField(*output, "handle");
    const std::string* did = StringField(*output, "did");
    if (handle == nullptr || did == nullptr || !syntax::IsValidDid(*did)) {
        return Malformed(kDescribeRepo, "handle or did missing");
    }
    description.handle = *handle;
    description.did = *did;
    if (const Value* doc = output->Find("didDoc")) description.did_doc = *doc;
    if (const Value* collections = output->Find("collections"); collections != nullptr && collections->IsArray()) {
        for (const Value& collection : collections->GetArray()) {
            if (const std::string* name = collection.AsString()) description.collections.push_back(*name);
        }
    }
    if (const Value* correct = output->Find("handleIsCorrect"); correct != nullptr && correct->IsBool()) {
        description.handle_is_correct = correct->GetBool();
    }
    return description;
}

XrpcResult<std::string> GetRepo(const XrpcClient& client, std::string_view did, std::uint64_t max_bytes) {
    if (!syntax::IsValidDid(did)) return Invalid("invalid did", did);
    return client.QueryBytes(kGetRepo, Params{{"did", std::string(did)}}, max_bytes);
}

XrpcResult<std::uint64_t> GetRepoToFile(const XrpcClient& client, std::string_view did,
                                        const std::filesystem::path& destination, std::uint64_t max_bytes) {
    if (!syntax::IsValidDid(did)) return Invalid("invalid did", did);
    return client.QueryToFile(kGetRepo, Params{{"did", std::string(did)}}, destination, max_bytes);
}

XrpcResult<std::string> ResolveHandle(const XrpcClient& client, std::string_view handle) {
    if (!syntax::IsValidHandle(handle)) return Invalid("invalid handle", handle);
    auto output = client.Query(kResolveHandle, Params{{"handle", std::string(handle)}});
    if (!output) return XrpcFail(std::move(output.error()));
    const std::string* did = StringField(*output, "did");
    if (did == nullptr || !syntax::IsValidDid(*did)) return Malformed(kResolveHandle, "did missing or invalid");
    return *did;
}

}  // namespace plyr::atproto::xrpc
