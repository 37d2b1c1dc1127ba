// IdentityResolver: bidirectional verification and the cache (fakes + ManualClock), then the whole stack
// against the loopback stand-in acting as PLC directory and resolveHandle service.
#include "atproto/identity/identity_resolver.hpp"

#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>

#include "core/clock.hpp"
#include "core/log.hpp"
#include "identity_fixture.hpp"

namespace plyr::atproto::identity {
namespace {

using namespace std::chrono_literals;

constexpr const char* kAlice = "did:plc:ewvi7nxzyoun6zhxrhs64oiz";
constexpr const char* kBob = "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa";
constexpr std::int64_t kSecond = 1'000'000;

class FakeHandles final : public HandleResolver {
  public:
    Result<std::string> Resolve(std::string_view handle) override {
        std::lock_guard lock(mutex_);
        ++calls[std::string(handle)];
        auto it = answers.find(std::string(handle));
        if (it == answers.end()) return Fail(ErrorCode::kNotFound, "handle not found");
        return it->second;
    }
    int Calls(const std::string& handle) {
        std::lock_guard lock(mutex_);
        return calls[handle];
    }
    std::map<std::string, Result<std::string>> answers;
    std::map<std::string, int> calls;

  private:
    std::mutex mutex_;
};

class FakeDids final : public DidResolver {
  public:
    Result<DidDocument> Resolve(std::string_view did) override {
        std::lock_guard lock(mutex_);
        ++calls[std::string(did)];
        auto it = answers.find(std::string(did));
        if (it == answers.end()) return Fail(ErrorCode::kNotFound, "did not found");
        return it->second;
    }
    int Calls(const std::string& did) {
        std::lock_guard lock(mutex_);
        return calls[did];
    }
    std::map<std::string, Result<DidDocument>> answers;
    std::map<std::string, int> calls;

  private:
    std::mutex mutex_;
};

DidDocument Doc(const std::string& did, std::optional<std::string> handle) {
    DidDocument doc;
    doc.did = did;
    doc.handle = std::move(handle);
    doc.pds_endpoint = "https://pds.example.com";
    doc.signing_key =
        VerificationMethod{"#atproto", "Multikey", did, "zQ3shXjHeiBuRCKmM36cuYnm7YEMzhGnCmCyW92sRJ9pribSF"};
    return doc;
}

class IdentityResolverTest : public ::testing::Test {
  protected:
    IdentityResolverTest() {
        handles_.answers.emplace("alice.com", std::string(kAlice));
        dids_.answers.emplace(kAlice, Doc(kAlice, "alice.com"));
    }
    IdentityCacheOptions Options() {
        IdentityCacheOptions options;
        options.stale_after = 3600s;
        options.expire_after = 24h;
        options.negative_ttl = 60s;
        return options;
    }

    FakeHandles handles_;
    FakeDids dids_;
    core::ManualClock clock_;
};

TEST_F(IdentityResolverTest, HandleResolutionVerifiesTheDocumentClaim) {
    IdentityResolver resolver(handles_, dids_, clock_, Options());
    auto identity = resolver.ResolveHandle("Alice.COM");
    ASSERT_TRUE(identity) << identity.error().ToString();
    EXPECT_EQ(identity->did, kAlice);
    EXPECT_EQ(identity->handle, "alice.com");
    EXPECT_TRUE(identity->handle_verified);
    EXPECT_EQ(identity->pds_endpoint, "https://pds.example.com");
    ASSERT_TRUE(identity->signing_key);
    ASSERT_NE(identity->document, nullptr);
    EXPECT_EQ(handles_.Calls("alice.com"), 1);
}

TEST_F(IdentityResolverTest, HandleWhoseDocumentClaimsAnotherHandleIsAMismatch) {
    handles_.answers.emplace("mallory.com", std::string(kAlice));  // points at alice's DID
    IdentityResolver resolver(handles_, dids_, clock_, Options());
    auto identity = resolver.ResolveHandle("mallory.com");
    ASSERT_FALSE(identity);
    EXPECT_EQ(identity.error().code, ErrorCode::kConflict);
    EXPECT_EQ(IdentityErrorName(identity.error()), "handle_mismatch");

    dids_.answers.emplace(kBob, Doc(kBob, std::nullopt));  // no claim at all
    handles_.answers.emplace("bob.com", std::string(kBob));
    identity = resolver.ResolveHandle("bob.com");
    ASSERT_FALSE(identity);
    EXPECT_EQ(IdentityErrorName(identity.error()), "handle_mismatch");
}

TEST_F(IdentityResolverTest, DidResolutionMarksUnverifiedHandlesInvalid) {
    dids_.answers.emplace(kBob, Doc(kBob, "alice.com"));  // bob claims alice's handle
    IdentityResolver resolver(handles_, dids_, clock_, Options());
    auto bob = resolver.ResolveDid(kBob);
    ASSERT_TRUE(bob) << bob.error().ToString();
    EXPECT_EQ(bob->did, kBob);
    EXPECT_EQ(bob->handle, "handle.invalid");
    EXPECT_FALSE(bob->handle_verified);
    EXPECT_EQ(bob->claimed_handle, "alice.com");

    auto alice = resolver.Resolve(kAlice);
    ASSERT_TRUE(alice);
    EXPECT_EQ(alice->handle, "alice.com");
    EXPECT_TRUE(alice->handle_verified);

    dids_.answers.emplace("did:plc:bbbbbbbbbbbbbbbbbbbbbbbb", Doc("did:plc:bbbbbbbbbbbbbbbbbbbbbbbb", "gone.com"));
    auto unresolvable = resolver.ResolveDid("did:plc:bbbbbbbbbbbbbbbbbbbbbbbb");
    ASSERT_TRUE(unresolvable);
    EXPECT_EQ(unresolvable->handle, "handle.invalid");
}

TEST_F(IdentityResolverTest, InvalidInputIsRefusedBeforeAnyLookup) {
    IdentityResolver resolver(handles_, dids_, clock_, Options());
    for (const char* input : {"alice..com", "DID:PLC:EWVI7NXZYOUN6ZHXRHS64OIZ", "did:plc:short", "did:key:zQ3sh"}) {
        auto result = resolver.Resolve(input);
        ASSERT_FALSE(result) << input;
        EXPECT_EQ(IdentityErrorName(result.error()), "invalid_handle") << input;
    }
    EXPECT_TRUE(handles_.calls.empty());
    EXPECT_TRUE(dids_.calls.empty());
}

TEST_F(IdentityResolverTest, SecondCallIsServedFromCache) {
    IdentityResolver resolver(handles_, dids_, clock_, Options());
    ASSERT_TRUE(resolver.ResolveHandle("alice.com"));
    ASSERT_TRUE(resolver.ResolveHandle("ALICE.com"));
    ASSERT_TRUE(resolver.ResolveDid(kAlice));
    EXPECT_EQ(handles_.Calls("alice.com"), 1);
    EXPECT_EQ(dids_.Calls(kAlice), 1);
}

TEST_F(IdentityResolverTest, StaleEntriesAreRefetchedAndExpiredOnesToo) {
    IdentityResolver resolver(handles_, dids_, clock_, Options());
    ASSERT_TRUE(resolver.ResolveDocument(kAlice));
    clock_.Advance(3599 * kSecond);
    ASSERT_TRUE(resolver.ResolveDocument(kAlice));
    EXPECT_EQ(dids_.Calls(kAlice), 1);
    clock_.Advance(2 * kSecond);  // stale: refreshed synchronously without an executor
    ASSERT_TRUE(resolver.ResolveDocument(kAlice));
    EXPECT_EQ(dids_.Calls(kAlice), 2);
    clock_.Advance(25 * 3600 * kSecond);  // expired
    ASSERT_TRUE(resolver.ResolveDocument(kAlice));
    EXPECT_EQ(dids_.Calls(kAlice), 3);
}

TEST_F(IdentityResolverTest, StaleValueIsServedWhenTheRefreshCannotReachTheServer) {
    IdentityResolver resolver(handles_, dids_, clock_, Options());
    ASSERT_TRUE(resolver.ResolveDocument(kAlice));
    dids_.answers.insert_or_assign(kAlice, Fail(ErrorCode::kUnavailable, "down"));
    clock_.Advance(2 * 3600 * kSecond);
    auto doc = resolver.ResolveDocument(kAlice);
    ASSERT_TRUE(doc) << doc.error().ToString();
    EXPECT_EQ((*doc)->did, kAlice);
    // …but not once it has expired.
    clock_.Advance(24 * 3600 * kSecond);
    doc = resolver.ResolveDocument(kAlice);
    ASSERT_FALSE(doc);
    EXPECT_EQ(doc.error().code, ErrorCode::kUnavailable);
}

TEST_F(IdentityResolverTest, StaleWhileRevalidateServesOldValueAndRefreshesInBackground) {
    std::deque<std::function<void()>> queue;
    auto options = Options();
    options.refresh_executor = [&](std::function<void()> task) { queue.push_back(std::move(task)); };
    IdentityResolver resolver(handles_, dids_, clock_, options);
    ASSERT_TRUE(resolver.ResolveDocument(kAlice));
    dids_.answers.insert_or_assign(kAlice, Doc(kAlice, "alice-new.com"));
    clock_.Advance(2 * 3600 * kSecond);

    auto first = resolver.ResolveDocument(kAlice);
    auto second = resolver.ResolveDocument(kAlice);
    ASSERT_TRUE(first && second);
    EXPECT_EQ((*first)->handle, "alice.com");
    EXPECT_EQ((*second)->handle, "alice.com");
    ASSERT_EQ(queue.size(), 1u);  // one refresh in flight per key
    EXPECT_EQ(dids_.Calls(kAlice), 1);

    queue.front()();
    queue.pop_front();
    EXPECT_EQ(dids_.Calls(kAlice), 2);
    auto fresh = resolver.ResolveDocument(kAlice);
    ASSERT_TRUE(fresh);
    EXPECT_EQ((*fresh)->handle, "alice-new.com");
    EXPECT_TRUE(queue.empty());
}

TEST_F(IdentityResolverTest, FailuresAreCachedForTheNegativeTtl) {
    IdentityResolver resolver(handles_, dids_, clock_, Options());
    auto missing = resolver.ResolveHandleToDid("nobody.com");
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
    handles_.answers.emplace("nobody.com", std::string(kBob));  // now it exists…
    clock_.Advance(59 * kSecond);
    EXPECT_FALSE(resolver.ResolveHandleToDid("nobody.com"));  // …but the failure is still cached
    EXPECT_EQ(handles_.Calls("nobody.com"), 1);
    clock_.Advance(2 * kSecond);
    auto found = resolver.ResolveHandleToDid("nobody.com");
    ASSERT_TRUE(found);
    EXPECT_EQ(*found, kBob);
    EXPECT_EQ(handles_.Calls("nobody.com"), 2);

    dids_.answers.emplace(kBob, Fail(ErrorCode::kTimeout, "slow"));
    EXPECT_FALSE(resolver.ResolveDocument(kBob));
    EXPECT_FALSE(resolver.ResolveDocument(kBob));
    EXPECT_EQ(dids_.Calls(kBob), 1);
}

TEST_F(IdentityResolverTest, NoCacheAndMaxAgeBypassOldEntries) {
    IdentityResolver resolver(handles_, dids_, clock_, Options());
    ASSERT_TRUE(resolver.ResolveHandle("alice.com"));
    ASSERT_TRUE(resolver.ResolveHandle("alice.com", ResolveOptions{.no_cache = true, .max_age = std::nullopt}));
    EXPECT_EQ(handles_.Calls("alice.com"), 2);
    EXPECT_EQ(dids_.Calls(kAlice), 2);

    clock_.Advance(11 * 60 * kSecond);
    ASSERT_TRUE(resolver.ResolveHandle("alice.com"));  // fresh for the default 1 h
    EXPECT_EQ(dids_.Calls(kAlice), 2);
    ASSERT_TRUE(
        resolver.ResolveHandle("alice.com", ResolveOptions{.no_cache = false, .max_age = 600s}));  // OAuth: ≤ 10 min
    EXPECT_EQ(dids_.Calls(kAlice), 3);
}

TEST_F(IdentityResolverTest, InvalidateDropsTheDidAndHandlesPointingAtIt) {
    IdentityResolver resolver(handles_, dids_, clock_, Options());
    ASSERT_TRUE(resolver.ResolveHandle("alice.com"));
    resolver.Invalidate(kAlice);
    ASSERT_TRUE(resolver.ResolveHandle("alice.com"));
    EXPECT_EQ(handles_.Calls("alice.com"), 2);
    EXPECT_EQ(dids_.Calls(kAlice), 2);
    resolver.Invalidate("ALICE.com");
    ASSERT_TRUE(resolver.ResolveHandleToDid("alice.com"));
    EXPECT_EQ(handles_.Calls("alice.com"), 3);
}

TEST_F(IdentityResolverTest, CacheKeepsAtMostMaxEntries) {
    auto options = Options();
    options.max_entries = 2;
    IdentityResolver resolver(handles_, dids_, clock_, options);
    for (const char* h : {"a.com", "b.com", "c.com"}) EXPECT_FALSE(resolver.ResolveHandleToDid(h));
    EXPECT_FALSE(resolver.ResolveHandleToDid("c.com"));
    EXPECT_FALSE(resolver.ResolveHandleToDid("b.com"));
    EXPECT_EQ(handles_.Calls("b.com"), 1);
    EXPECT_FALSE(resolver.ResolveHandleToDid("a.com"));  // evicted first
    EXPECT_EQ(handles_.Calls("a.com"), 2);
}

// Blocks every Resolve() until Open(); tells when a given number of calls have started.
class GatedDids final : public DidResolver {
  public:
    Result<DidDocument> Resolve(std::string_view did) override {
        std::unique_lock lock(mutex_);
        ++calls_;
        cv_.notify_all();
        cv_.wait(lock, [&] { return open_; });
        return Doc(std::string(did), "alice.com");
    }
    void WaitForCalls(int n) {
        std::unique_lock lock(mutex_);
        cv_.wait(lock, [&] { return calls_ >= n; });
    }
    void Open() {
        std::lock_guard lock(mutex_);
        open_ = true;
        cv_.notify_all();
    }
    int calls() {
        std::lock_guard lock(mutex_);
        return calls_;
    }

  private:
    std::mutex mutex_;
    std::condition_variable cv_;
    int calls_ = 0;
    bool open_ = false;
};

TEST_F(IdentityResolverTest, ConcurrentMissesShareOneFetchButNoCacheFetchesItself) {
    GatedDids gated;
    std::mutex mutex;
    std::condition_variable joined_cv;
    int joined = 0;
    auto options = Options();
    options.on_join = [&] {
        std::lock_guard lock(mutex);
        ++joined;
        joined_cv.notify_all();
    };
    IdentityResolver resolver(handles_, gated, clock_, options);
    Result<std::shared_ptr<const DidDocument>> first = Fail(ErrorCode::kInternal, "unset");
    Result<std::shared_ptr<const DidDocument>> second = first;
    Result<std::shared_ptr<const DidDocument>> fresh = first;

    std::thread leader([&] { first = resolver.ResolveDocument(kAlice); });
    gated.WaitForCalls(1);
    std::thread follower([&] { second = resolver.ResolveDocument(kAlice); });
    {
        std::unique_lock lock(mutex);
        joined_cv.wait(lock, [&] { return joined == 1; });
    }
    std::thread bypass(
        [&] { fresh = resolver.ResolveDocument(kAlice, ResolveOptions{.no_cache = true, .max_age = {}}); });
    gated.WaitForCalls(2);
    gated.Open();
    leader.join();
    follower.join();
    bypass.join();

    ASSERT_TRUE(first && second && fresh);
    EXPECT_EQ(first->get(), second->get());  // the very same document object
    EXPECT_EQ(gated.calls(), 2);             // leader + the no_cache caller; the follower waited
    EXPECT_EQ(joined, 1);
}

TEST(IdentityErrorNameTest, MapsCodesToProductErrorNames) {
    EXPECT_EQ(IdentityErrorName(Error{ErrorCode::kInvalidArgument, "", ""}), "invalid_handle");
    EXPECT_EQ(IdentityErrorName(Error{ErrorCode::kUnsupported, "", ""}), "invalid_handle");
    EXPECT_EQ(IdentityErrorName(Error{ErrorCode::kConflict, "", ""}), "handle_mismatch");
    EXPECT_EQ(IdentityErrorName(Error{ErrorCode::kProtocol, "", ""}), "invalid_did_document");
    EXPECT_EQ(IdentityErrorName(Error{ErrorCode::kNotFound, "", ""}), "identity_not_found");
    for (auto code :
         {ErrorCode::kUnavailable, ErrorCode::kTimeout, ErrorCode::kPermissionDenied, ErrorCode::kTooLarge}) {
        EXPECT_EQ(IdentityErrorName(Error{code, "", ""}), "identity_unreachable");
    }
}

// ---- the whole stack: SSRF-guarded client → resolvers → cache -----------------------------------------------

TEST(IdentityStackTest, ResolvesTestHandleThroughServiceAndPlcThenServesFromCache) {
    log::Init(log::Level::kError, log::Format::kJson);
    {
        testing::FakeIdentityServer server;
        ASSERT_TRUE(server.ok());
        server.SetServiceHandle("alice.test", kAlice);
        server.SetDidDocument(kAlice, {200, testing::MakeDidDocument(kAlice, "alice.test", server.Origin())});
        server.SetServiceHandle("eve.test", kBob);
        server.SetDidDocument(kBob, {200, testing::MakeDidDocument(kBob, "alice.test", server.Origin())});

        net::CurlHttpClientOptions client_options;
        client_options.policy = *net::PrivateNetworkPolicy::Parse(server.AllowEntry());
        net::CurlHttpClient client(std::move(client_options));
        HandleResolverOptions handle_options;
        handle_options.service_url = server.Origin();
        DefaultHandleResolver handles(client, handle_options);
        DidResolverOptions did_options;
        did_options.plc_url = server.Origin();
        HttpDidResolver dids(client, did_options);
        core::ManualClock clock;
        IdentityResolver resolver(handles, dids, clock);

        auto alice = resolver.Resolve("alice.test");
        ASSERT_TRUE(alice) << alice.error().ToString();
        EXPECT_EQ(alice->did, kAlice);
        EXPECT_EQ(alice->handle, "alice.test");
        EXPECT_TRUE(alice->handle_verified);
        EXPECT_EQ(alice->pds_endpoint, server.Origin());
        EXPECT_EQ(server.service_hits(), 1);
        EXPECT_EQ(server.plc_hits(), 1);

        ASSERT_TRUE(resolver.Resolve("alice.test"));
        ASSERT_TRUE(resolver.Resolve(kAlice));
        EXPECT_EQ(server.service_hits(), 1);  // second call: no request
        EXPECT_EQ(server.plc_hits(), 1);

        auto eve = resolver.Resolve("eve.test");  // eve's DID document claims alice.test
        ASSERT_FALSE(eve);
        EXPECT_EQ(IdentityErrorName(eve.error()), "handle_mismatch");

        auto by_did = resolver.Resolve(kBob);
        ASSERT_TRUE(by_did);
        EXPECT_EQ(by_did->handle, "handle.invalid");
    }
    log::Init(log::Level::kInfo, log::Format::kJson);
}

}  // namespace
}  // namespace plyr::atproto::identity
