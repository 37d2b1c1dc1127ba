// DID document parsing (atproto/identity/did_document.hpp): indigo's real documents (docs/atproto.md §10
// item 18) and the hostile shapes of product.md §9 row 35.
#include "atproto/identity/did_document.hpp"

#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "atproto/identity/identity_resolver.hpp"

namespace plyr::atproto::identity {
namespace {

constexpr const char* kDid = "did:plc:ewvi7nxzyoun6zhxrhs64oiz";

std::string ReadVector(const std::string& name) {
    std::ifstream in(std::string(PLYR_SOURCE_DIR) + "/tests/data/indigo/atproto/identity/testdata/" + name,
                     std::ios::binary);
    EXPECT_TRUE(in.good()) << name;
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

// A minimal atproto document with a replaceable PDS endpoint.
std::string Doc(std::string_view did, std::string_view endpoint_json, std::string_view extra = "") {
    return std::string(R"({"id":")") + std::string(did) + R"(","alsoKnownAs":["at://Alice.Example.COM"],)" +
           R"("verificationMethod":[{"id":"#atproto","type":"Multikey","controller":")" + std::string(did) +
           R"(","publicKeyMultibase":"zQ3shXjHeiBuRCKmM36cuYnm7YEMzhGnCmCyW92sRJ9pribSF"}],)" +
           R"("service":[{"id":"#atproto_pds","type":"AtprotoPersonalDataServer","serviceEndpoint":)" +
           std::string(endpoint_json) + "}]" + std::string(extra) + "}";
}

void ExpectInvalidDocument(const Result<DidDocument>& result, std::string_view why) {
    ASSERT_FALSE(result.has_value()) << why;
    EXPECT_EQ(result.error().code, ErrorCode::kProtocol) << why;
    EXPECT_EQ(IdentityErrorName(result.error()), "invalid_did_document") << why;
}

TEST(DidDocumentTest, ReadsIndigoPlcDocument) {
    auto doc = ParseDidDocument(ReadVector("did_plc_doc.json"), kDid);
    ASSERT_TRUE(doc) << doc.error().ToString();
    EXPECT_EQ(doc->did, kDid);
    EXPECT_EQ(doc->handle, "atproto.com");
    EXPECT_EQ(doc->pds_endpoint, "https://bsky.social");
    ASSERT_TRUE(doc->signing_key);
    EXPECT_EQ(doc->signing_key->type, "Multikey");
    EXPECT_EQ(doc->signing_key->public_key_multibase, "zQ3shXjHeiBuRCKmM36cuYnm7YEMzhGnCmCyW92sRJ9pribSF");
}

TEST(DidDocumentTest, ReadsLegacyKeyDocumentWithRelativeId) {
    auto doc = ParseDidDocument(ReadVector("did_plc_doc_legacy.json"), kDid);
    ASSERT_TRUE(doc) << doc.error().ToString();
    EXPECT_EQ(doc->handle, "atproto.com");
    EXPECT_EQ(doc->pds_endpoint, "https://bsky.social");
    ASSERT_TRUE(doc->signing_key);
    EXPECT_EQ(doc->signing_key->id, "#atproto");
    EXPECT_EQ(doc->signing_key->type, "EcdsaSecp256k1VerificationKey2019");
    EXPECT_EQ(doc->signing_key->public_key_multibase.substr(0, 8), "zQYEBzXe");
}

TEST(DidDocumentTest, WebFeedGeneratorDocumentIsAnIdentityWithoutRepo) {
    auto doc = ParseDidDocument(ReadVector("did_web_doc.json"), "did:web:discover.bsky.social");
    ASSERT_TRUE(doc) << doc.error().ToString();
    EXPECT_FALSE(doc->handle);
    EXPECT_FALSE(doc->signing_key);
    EXPECT_FALSE(doc->pds_endpoint);
    const Service* fg = doc->FindService("bsky_fg");
    ASSERT_NE(fg, nullptr);
    EXPECT_EQ(fg->type, "BskyFeedGenerator");
    EXPECT_EQ(fg->endpoint, "https://discover.bsky.social");
}

TEST(DidDocumentTest, RejectsIdOtherThanTheRequestedDid) {
    ExpectInvalidDocument(ParseDidDocument(ReadVector("did_plc_doc.json"), "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"),
                          "other did");
    // DIDs are case-sensitive: no folding.
    ExpectInvalidDocument(
        ParseDidDocument(Doc("did:plc:EWVI7NXZYOUN6ZHXRHS64OIZ", R"("https://pds.example.com")"), kDid), "case");
    ExpectInvalidDocument(ParseDidDocument(R"({"alsoKnownAs":[]})", kDid), "missing id");
    ExpectInvalidDocument(ParseDidDocument(R"({"id":42})", kDid), "numeric id");
}

TEST(DidDocumentTest, RejectsHttpPdsUnlessPrivateNetworkIsAllowed) {
    const std::string doc = Doc(kDid, R"("http://pds.example.com")");
    ExpectInvalidDocument(ParseDidDocument(doc, kDid), "http pds");
    DidDocumentOptions dev;
    dev.allow_http_endpoints = true;
    auto parsed = ParseDidDocument(doc, kDid, dev);
    ASSERT_TRUE(parsed) << parsed.error().ToString();
    EXPECT_EQ(parsed->pds_endpoint, "http://pds.example.com");
}

TEST(DidDocumentTest, RejectsPdsEndpointThatIsNotABareOrigin) {
    for (const char* endpoint :
         {R"("https://pds.example.com/xrpc")", R"("https://pds.example.com/a/b/")", R"("https://pds.example.com/?x=1")",
          R"("https://pds.example.com/#frag")", R"("https://user:pw@pds.example.com")", R"("ftp://pds.example.com")",
          R"("pds.example.com")", R"("https://")", R"("")", R"(42)", R"({"uri":"https://pds.example.com"})",
          R"(["https://pds.example.com"])"}) {
        ExpectInvalidDocument(ParseDidDocument(Doc(kDid, endpoint), kDid), endpoint);
    }
}

TEST(DidDocumentTest, NormalisesPdsOrigin) {
    for (auto [endpoint, origin] : std::vector<std::pair<const char*, const char*>>{
             {R"("https://PDS.Example.com/")", "https://pds.example.com"},
             {R"("https://pds.example.com:8443")", "https://pds.example.com:8443"},
             {R"("HTTPS://pds.example.com")", "https://pds.example.com"}}) {
        auto doc = ParseDidDocument(Doc(kDid, endpoint), kDid);
        ASSERT_TRUE(doc) << endpoint << " " << doc.error().ToString();
        EXPECT_EQ(doc->pds_endpoint, origin);
    }
}

TEST(DidDocumentTest, RejectsOversizedDocumentBeforeParsing) {
    std::string padding(2 * 1024 * 1024, ' ');
    ExpectInvalidDocument(ParseDidDocument(Doc(kDid, R"("https://pds.example.com")") + padding, kDid), "2 MB");
    DidDocumentOptions small;
    small.max_bytes = 100;
    ExpectInvalidDocument(ParseDidDocument(Doc(kDid, R"("https://pds.example.com")"), kDid, small), "100 B cap");
}

TEST(DidDocumentTest, MissingServiceLeavesNoPdsButIsStillAnIdentity) {
    std::string doc = std::string(R"({"id":")") + kDid + R"(","alsoKnownAs":["at://alice.example.com"]})";
    auto parsed = ParseDidDocument(doc, kDid);
    ASSERT_TRUE(parsed) << parsed.error().ToString();
    EXPECT_FALSE(parsed->pds_endpoint);
    EXPECT_FALSE(parsed->signing_key);
    EXPECT_EQ(parsed->handle, "alice.example.com");
}

TEST(DidDocumentTest, RejectsMalformedStructure) {
    const std::string did = kDid;
    for (const std::string& text : {
             std::string("[]"),
             std::string("not json"),
             std::string(R"({"id":")") + did + R"(",})",
             std::string(R"({"id":")") + did + R"(","alsoKnownAs":"at://a.com"})",
             std::string(R"({"id":")") + did + R"(","alsoKnownAs":[1]})",
             std::string(R"({"id":")") + did + R"(","verificationMethod":{}})",
             std::string(R"({"id":")") + did + R"(","verificationMethod":["x"]})",
             std::string(R"({"id":")") + did + R"(","verificationMethod":[{"type":"Multikey"}]})",
             std::string(R"({"id":")") + did + R"(","verificationMethod":[{"id":"#atproto","publicKeyMultibase":1}]})",
             std::string(R"({"id":")") + did + R"(","service":"x"})",
             std::string(R"({"id":")") + did + R"(","service":[{"type":"AtprotoPersonalDataServer"}]})",
             std::string(R"({"id":")") + did + R"(","x":)" + std::string(100, '[') + std::string(100, ']') + "}",
             // repeated member names: readers disagree on which one wins
             std::string(R"({"id":")") + did + R"(","id":")" + did + R"("})",
             std::string(R"({"id":")") + did +
                 R"(","service":[{"id":"#atproto_pds","type":"AtprotoPersonalDataServer",)"
                 R"("serviceEndpoint":"https://a.example.com","serviceEndpoint":"https://b.example.com"}]})",
         }) {
        ExpectInvalidDocument(ParseDidDocument(text, kDid), text.substr(0, 80));
    }
}

TEST(DidDocumentTest, HandleClaimIsFirstValidAtUriEntryLowercased) {
    std::string doc = std::string(R"({"id":")") + kDid +
                      R"(","alsoKnownAs":["https://alice.example.com","at://not_a_handle","at://Alice.Example.com",)"
                      R"("at://second.example.com"]})";
    auto parsed = ParseDidDocument(doc, kDid);
    ASSERT_TRUE(parsed);
    EXPECT_EQ(parsed->handle, "alice.example.com");

    std::string none = std::string(R"({"id":")") + kDid + R"(","alsoKnownAs":["at://alice.example.com/app.bsky"]})";
    parsed = ParseDidDocument(none, kDid);
    ASSERT_TRUE(parsed);
    EXPECT_FALSE(parsed->handle);
}

TEST(DidDocumentTest, SigningKeyNeedsMatchingControllerAndKnownType) {
    auto with_key = [](std::string_view id, std::string_view type, std::string_view controller) {
        return std::string(R"({"id":")") + kDid + R"(","verificationMethod":[{"id":")" + std::string(id) +
               R"(","type":")" + std::string(type) + R"(","controller":")" + std::string(controller) +
               R"(","publicKeyMultibase":"zDnaembgSGUhZULN2Caob4HLJPaxBh92N7rtH21TErzqf8HQo"}]})";
    };
    auto ok = ParseDidDocument(with_key(std::string(kDid) + "#atproto", "Multikey", kDid), kDid);
    ASSERT_TRUE(ok);
    EXPECT_TRUE(ok->signing_key);
    ok = ParseDidDocument(with_key("#atproto", "EcdsaSecp256r1VerificationKey2019", kDid), kDid);
    ASSERT_TRUE(ok);
    EXPECT_TRUE(ok->signing_key);
    for (const auto& text : {with_key("#atproto", "Multikey", "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"),
                             with_key("#atproto", "JsonWebKey2020", kDid), with_key("#other", "Multikey", kDid),
                             with_key("did:plc:aaaaaaaaaaaaaaaaaaaaaaaa#atproto", "Multikey", kDid)}) {
        auto parsed = ParseDidDocument(text, kDid);
        ASSERT_TRUE(parsed) << text;
        EXPECT_FALSE(parsed->signing_key) << text;
    }
}

TEST(DidDocumentTest, FirstMatchingServiceWinsAndOtherTypesAreIgnored) {
    std::string doc =
        std::string(R"({"id":")") + kDid + R"(","service":[)" + R"({"id":")" + kDid +
        R"(#atproto_pds","type":"AtprotoPersonalDataServer","serviceEndpoint":"https://one.example.com"},)" +
        R"({"id":"#atproto_pds","type":"AtprotoPersonalDataServer","serviceEndpoint":"https://two.example.com"}]})";
    auto parsed = ParseDidDocument(doc, kDid);
    ASSERT_TRUE(parsed) << parsed.error().ToString();
    EXPECT_EQ(parsed->pds_endpoint, "https://one.example.com");

    std::string other_type = std::string(R"({"id":")") + kDid +
                             R"(","service":[{"id":"#atproto_pds","type":"Other","serviceEndpoint":"x"}]})";
    parsed = ParseDidDocument(other_type, kDid);
    ASSERT_TRUE(parsed);
    EXPECT_FALSE(parsed->pds_endpoint);
}

}  // namespace
}  // namespace plyr::atproto::identity
