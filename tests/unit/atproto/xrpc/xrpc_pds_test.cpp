// XrpcClient and the repo operations against the REAL reference PDS of the local testnet
// (scripts/testnet.sh, docs/testnet.md). Runs when TESTNET_PDS_URL is set (scripts/test.sh starts the testnet
// and exports it), otherwise every test is skipped. Each test creates its own account, so tests are
// independent of each other and of the seeded accounts.
#include <cstdlib>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "atproto/data/car.hpp"
#include "atproto/data/cbor.hpp"
#include "atproto/xrpc/repo.hpp"
#include "atproto/xrpc/xrpc_client.hpp"
#include "core/encoding.hpp"
#include "core/log.hpp"
#include "local_server.hpp"
#include "support/testnet.hpp"

namespace plyr::atproto::xrpc {
namespace {

using net::testing::TempDir;

constexpr std::string_view kTrack = "fm.plyr.track";

std::string ReadFile(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

Value TrackRecord(std::string_view title) {
    return Value(Value::Map{{"$type", std::string(kTrack)},
                            {"title", title},
                            {"artist", "plyr tests"},
                            {"fileType", "mp3"},
                            {"audioUrl", "https://cdn.example.com/audio/a.mp3"},
                            {"createdAt", "2026-01-01T00:00:00.000Z"}});
}

struct Account {
    std::string handle;
    std::string did;
    std::string access_jwt;
};

class PdsTest : public ::testing::Test {
  protected:
    void SetUp() override {
        auto url = plyr::testing::TestnetPdsUrl();
        if (!url) GTEST_SKIP() << "TESTNET_PDS_URL not set (scripts/testnet.sh start)";
        log::Init(log::Level::kError, log::Format::kJson);
        pds_url_ = *url;
        auto client = plyr::testing::ClientAllowingOnly(pds_url_);
        ASSERT_TRUE(client.has_value()) << client.error().ToString();
        http_ = std::move(*client);
        anonymous_ = std::make_unique<XrpcClient>(pds_url_, *http_, Options());

        account_ = CreateAccount();
        ASSERT_FALSE(account_.did.empty());
        XrpcOptions authed = Options();
        authed.auth = [token = account_.access_jwt](const AuthContext&) -> Result<net::HeaderList> {
            return net::HeaderList{{"Authorization", "Bearer " + token}};
        };
        client_ = std::make_unique<XrpcClient>(pds_url_, *http_, std::move(authed));
    }
    void TearDown() override { log::Init(log::Level::kInfo, log::Format::kJson); }

    static XrpcOptions Options() {
        XrpcOptions options;
        options.timeout = std::chrono::seconds(30);
        options.backoff_base = std::chrono::milliseconds(50);
        return options;
    }

    Account CreateAccount() {
        std::string name = "x" + core::RandomHex(6);
        Account account;
        account.handle = name + ".test";
        Value input(
            Value::Map{{"handle", account.handle}, {"email", name + "@example.com"}, {"password", name + "-pass"}});
        auto output = anonymous_->Procedure("com.atproto.server.createAccount", Body::Json(input));
        EXPECT_TRUE(output.has_value()) << output.error().ToString();
        if (!output) return account;
        account.did = *output->Find("did")->AsString();
        account.access_jwt = *output->Find("accessJwt")->AsString();
        return account;
    }

    WriteResult Create(const Value& record, std::string rkey = {}) {
        auto result = CreateRecord(*client_, CreateRecordInput{account_.did, std::string(kTrack), record, rkey, {}});
        EXPECT_TRUE(result.has_value()) << result.error().ToString();
        return result ? *result : WriteResult{};
    }

    std::string pds_url_;
    std::unique_ptr<net::CurlHttpClient> http_;
    std::unique_ptr<XrpcClient> anonymous_;
    std::unique_ptr<XrpcClient> client_;
    Account account_;
};

TEST_F(PdsTest, CreateGetPutListDeleteATrackRecord) {
    Value record = TrackRecord("first");
    WriteResult created = Create(record);
    ASSERT_FALSE(created.uri.empty());
    // The CID plyr computes for the record is the one the PDS committed.
    EXPECT_EQ(created.cid, CidForDagCbor(EncodeDagCbor(record)));
    EXPECT_TRUE(created.commit.has_value());
    std::string rkey = created.uri.substr(created.uri.rfind('/') + 1);
    EXPECT_EQ(created.uri, fmt::format("at://{}/{}/{}", account_.did, kTrack, rkey));

    auto fetched = GetRecord(*anonymous_, account_.did, kTrack, rkey);
    ASSERT_TRUE(fetched.has_value()) << fetched.error().ToString();
    EXPECT_EQ(fetched->value, record);
    EXPECT_EQ(fetched->cid, created.cid);

    Value updated = TrackRecord("first, remastered");
    auto put = PutRecord(
        *client_,
        PutRecordInput{account_.did, std::string(kTrack), rkey, updated, SwapRecord::MustEqual(created.cid), {}});
    ASSERT_TRUE(put.has_value()) << put.error().ToString();
    EXPECT_EQ(put->cid, CidForDagCbor(EncodeDagCbor(updated)));
    EXPECT_TRUE(put->commit.has_value());

    // The same content again commits nothing.
    auto again = PutRecord(*client_, PutRecordInput{account_.did, std::string(kTrack), rkey, updated, {}, {}});
    ASSERT_TRUE(again.has_value()) << again.error().ToString();
    EXPECT_FALSE(again->commit.has_value());

    // swapRecord null = create-only: the record exists, so InvalidSwap; a stale CID likewise.
    auto create_only = PutRecord(
        *client_, PutRecordInput{account_.did, std::string(kTrack), rkey, record, SwapRecord::MustNotExist(), {}});
    ASSERT_FALSE(create_only.has_value());
    EXPECT_TRUE(create_only.error().Is("InvalidSwap")) << create_only.error().ToString();
    EXPECT_EQ(create_only.error().code, ErrorCode::kConflict);
    auto stale = PutRecord(
        *client_,
        PutRecordInput{account_.did, std::string(kTrack), rkey, record, SwapRecord::MustEqual(created.cid), {}});
    ASSERT_FALSE(stale.has_value());
    EXPECT_TRUE(stale.error().Is("InvalidSwap"));

    for (int i = 0; i < 4; ++i) Create(TrackRecord(fmt::format("more {}", i)));
    auto all = ListAllRecords(*anonymous_, ListRecordsInput{account_.did, std::string(kTrack), 2, {}, false});
    ASSERT_TRUE(all.has_value()) << all.error().ToString();
    ASSERT_EQ(all->size(), 5u);
    for (const RecordEntry& entry : *all) {
        ASSERT_TRUE(entry.cid.has_value());
        EXPECT_EQ(*entry.cid, CidForDagCbor(EncodeDagCbor(entry.value)));
    }
    auto first_page = ListRecords(*anonymous_, ListRecordsInput{account_.did, std::string(kTrack), 2, {}, true});
    ASSERT_TRUE(first_page.has_value());
    ASSERT_EQ(first_page->records.size(), 2u);
    EXPECT_TRUE(first_page->cursor.has_value());
    EXPECT_EQ(first_page->records[0].uri, all->back().uri) << "reverse=true ascends";

    auto deleted = DeleteRecord(*client_, DeleteRecordInput{account_.did, std::string(kTrack), rkey, {}, {}});
    ASSERT_TRUE(deleted.has_value()) << deleted.error().ToString();
    auto gone = GetRecord(*anonymous_, account_.did, kTrack, rkey);
    ASSERT_FALSE(gone.has_value());
    EXPECT_TRUE(gone.error().Is("RecordNotFound")) << gone.error().ToString();
    EXPECT_EQ(gone.error().code, ErrorCode::kNotFound);
}

TEST_F(PdsTest, ApplyWritesCommitsABatchAtomically) {
    WriteResult existing = Create(TrackRecord("to delete"), "todelete");
    ASSERT_FALSE(existing.uri.empty());
    std::string track(kTrack);
    auto result = ApplyWrites(*client_, account_.did,
                              {WriteOp::Create(track, TrackRecord("batch a"), "batcha"),
                               WriteOp::Create(track, TrackRecord("batch b")), WriteOp::Delete(track, "todelete")});
    ASSERT_TRUE(result.has_value()) << result.error().ToString();
    ASSERT_TRUE(result->commit.has_value());
    ASSERT_EQ(result->results.size(), 3u);
    EXPECT_EQ(result->results[0].uri, fmt::format("at://{}/{}/batcha", account_.did, kTrack));
    EXPECT_EQ(result->results[0].cid, CidForDagCbor(EncodeDagCbor(TrackRecord("batch a"))));
    auto all = ListAllRecords(*anonymous_, ListRecordsInput{account_.did, track, 100, {}, false});
    ASSERT_TRUE(all.has_value());
    EXPECT_EQ(all->size(), 2u);

    // A batch that fails (update of a missing record) changes nothing.
    auto failed = ApplyWrites(
        *client_, account_.did,
        {WriteOp::Create(track, TrackRecord("never"), "never"), WriteOp::Update(track, "missing", TrackRecord("x"))});
    ASSERT_FALSE(failed.has_value());
    auto never = GetRecord(*anonymous_, account_.did, kTrack, "never");
    ASSERT_FALSE(never.has_value());
    EXPECT_EQ(never.error().code, ErrorCode::kNotFound);
}

TEST_F(PdsTest, UploadedBlobHasPlyrsCidAndReadsBackIdentically) {
    std::string bytes = core::RandomBytes(150'000);
    TempDir dir;
    auto file = dir.Write("song.mp3", bytes);
    auto blob = UploadBlob(*client_, file, "audio/mpeg");
    ASSERT_TRUE(blob.has_value()) << blob.error().ToString();
    EXPECT_EQ(blob->ref, CidForRaw(bytes));
    EXPECT_EQ(blob->size, static_cast<std::int64_t>(bytes.size()));

    // Referencing it from a record keeps it; then it can be read back by CID.
    Value record = TrackRecord("with blob");
    record.AsMap()->insert_or_assign("audioBlob", Value(*blob));
    WriteResult created = Create(record, "withblob");
    ASSERT_FALSE(created.uri.empty());
    auto fetched = GetRecord(*anonymous_, account_.did, kTrack, "withblob");
    ASSERT_TRUE(fetched.has_value());
    ASSERT_NE(fetched->value.Find("audioBlob"), nullptr);
    EXPECT_EQ(fetched->value.Find("audioBlob")->GetBlob().ref, blob->ref);

    auto destination = dir.path() / "back.mp3";
    auto size = GetBlob(*anonymous_, account_.did, blob->ref, destination, 1 << 20);
    ASSERT_TRUE(size.has_value()) << size.error().ToString();
    EXPECT_EQ(*size, bytes.size());
    EXPECT_EQ(ReadFile(destination), bytes);

    auto missing = GetBlob(*anonymous_, account_.did, CidForRaw("not uploaded"), dir.path() / "missing", 1 << 20);
    ASSERT_FALSE(missing.has_value());
    // The reference PDS answers a missing blob with 400 InvalidRequest "Blob not found" (not the lexicon's
    // BlobNotFound); the error must surface as the PDS sent it and leave no file behind.
    EXPECT_EQ(missing.error().status, 400);
    EXPECT_TRUE(missing.error().Is("InvalidRequest") || missing.error().Is("BlobNotFound"))
        << missing.error().ToString();
    EXPECT_FALSE(std::filesystem::exists(dir.path() / "missing"));
}

TEST_F(PdsTest, RepoCarContainsTheRecordBlock) {
    Value record = TrackRecord("in the repo");
    WriteResult created = Create(record);
    ASSERT_FALSE(created.uri.empty());

    auto car = GetRepo(*anonymous_, account_.did, 64 << 20);
    ASSERT_TRUE(car.has_value()) << car.error().ToString();
    auto parsed = ReadCar(*car);
    ASSERT_TRUE(parsed.has_value()) << parsed.error().ToString();
    ASSERT_EQ(parsed->roots.size(), 1u);
    auto block = parsed->blocks.find(created.cid);
    ASSERT_NE(block, parsed->blocks.end());
    auto decoded = DecodeDagCbor(block->second);
    ASSERT_TRUE(decoded.has_value());
    EXPECT_EQ(*decoded, record);

    TempDir dir;
    auto size = GetRepoToFile(*anonymous_, account_.did, dir.path() / "repo.car", 64 << 20);
    ASSERT_TRUE(size.has_value()) << size.error().ToString();
    auto from_file = ReadCar(ReadFile(dir.path() / "repo.car"));
    ASSERT_TRUE(from_file.has_value());
    EXPECT_EQ(from_file->blocks.count(created.cid), 1u);
}

TEST_F(PdsTest, DescribeRepoAndResolveHandleAgreeWithTheAccount) {
    Create(TrackRecord("describe me"));
    auto description = DescribeRepo(*anonymous_, account_.did);
    ASSERT_TRUE(description.has_value()) << description.error().ToString();
    EXPECT_EQ(description->did, account_.did);
    EXPECT_EQ(description->handle, account_.handle);
    EXPECT_EQ(description->collections, std::vector<std::string>{std::string(kTrack)});
    auto did = ResolveHandle(*anonymous_, account_.handle);
    ASSERT_TRUE(did.has_value()) << did.error().ToString();
    EXPECT_EQ(*did, account_.did);
}

TEST_F(PdsTest, WritesWithoutAuthAreRefusedWithTypedErrors) {
    auto result =
        CreateRecord(*anonymous_, CreateRecordInput{account_.did, std::string(kTrack), TrackRecord("x"), {}, {}});
    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().status, 401);
    EXPECT_EQ(result.error().code, ErrorCode::kPermissionDenied);
    EXPECT_FALSE(result.error().error.empty());

    XrpcOptions bad = Options();
    bad.auth = [](const AuthContext&) -> Result<net::HeaderList> {
        return net::HeaderList{{"Authorization", "Bearer not-a-jwt"}};
    };
    XrpcClient client(pds_url_, *http_, bad);
    auto refused = CreateRecord(client, CreateRecordInput{account_.did, std::string(kTrack), TrackRecord("x"), {}, {}});
    ASSERT_FALSE(refused.has_value());
    EXPECT_EQ(refused.error().code, ErrorCode::kPermissionDenied) << refused.error().ToString();
    auto all = ListAllRecords(*anonymous_, ListRecordsInput{account_.did, std::string(kTrack), 100, {}, false});
    ASSERT_TRUE(all.has_value());
    EXPECT_TRUE(all->empty()) << "nothing was written";
}

}  // namespace
}  // namespace plyr::atproto::xrpc
