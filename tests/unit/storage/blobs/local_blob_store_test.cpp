// Local-disk backend: the shared behavioural suite plus what only local storage has (safe join against
// symlinks, temp files, atomic rename, disk full, LocalPath).

#include "storage/blobs/local/local_blob_store.hpp"

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>

#include <gtest/gtest.h>

#include "blob_store_suite.hpp"
#include "blob_test_util.hpp"
#include "core/config.hpp"

namespace plyr::storage::blobs {
namespace {

using testing::CountEntries;
using testing::Fetched;
using testing::GetAll;
using testing::PatternBytes;
using testing::ReadFile;
using testing::TempDir;
using testing::WriteFile;

struct LocalBackend {
    std::string SetUp() {
        auto opened = LocalBlobStore::Open(LocalOptions{.root = dir.path() / "media"});
        if (!opened) return "cannot open local store: " + opened.error().ToString();
        store_ = std::move(*opened);
        return {};
    }
    BlobStore& store() { return *store_; }
    std::string Key(std::string_view name) { return std::string(name); }

    TempDir dir;
    std::unique_ptr<LocalBlobStore> store_;
};

}  // namespace

namespace testing {
INSTANTIATE_TYPED_TEST_SUITE_P(Local, BlobStoreBehaviour, ::testing::Types<LocalBackend>);
}  // namespace testing

namespace {

class LocalBlobStoreTest : public ::testing::Test {
  protected:
    void SetUp() override {
        auto opened = LocalBlobStore::Open(LocalOptions{.root = root()});
        ASSERT_TRUE(opened) << opened.error().ToString();
        store_ = std::move(*opened);
    }
    std::filesystem::path root() const { return dir_.path() / "media"; }
    std::filesystem::path outside() const { return dir_.path() / "outside"; }
    int TempFiles() const { return CountEntries(store_->temp_dir()); }

    TempDir dir_;
    std::unique_ptr<LocalBlobStore> store_;
};

TEST_F(LocalBlobStoreTest, ObjectsAreFilesUnderTheRootWithTheKeyAsPath) {
    ASSERT_TRUE(store_->PutBytes("audio/0123456789abcdef.mp3", "id3-bytes", "audio/mpeg"));
    EXPECT_EQ(ReadFile(root() / "audio" / "0123456789abcdef.mp3"), "id3-bytes");
    auto path = store_->LocalPath("audio/0123456789abcdef.mp3");
    ASSERT_TRUE(path);
    EXPECT_EQ(*path, root() / "audio" / "0123456789abcdef.mp3");
    EXPECT_TRUE(path->is_absolute());
    EXPECT_EQ(TempFiles(), 0) << "no temp file stays behind after a successful put";
}

TEST_F(LocalBlobStoreTest, LocalPathOfAnAbsentObjectIsStillItsPath) {
    auto path = store_->LocalPath("audio/none/yet.mp3");
    ASSERT_TRUE(path);
    EXPECT_EQ(*path, root() / "audio" / "none" / "yet.mp3");
}

TEST_F(LocalBlobStoreTest, UrlIsNotAvailableForLocalObjects) {
    ASSERT_TRUE(store_->PutBytes("images/a.png", "png", "image/png"));
    EXPECT_FALSE(store_->Url("images/a.png", std::chrono::seconds(60)));
}

TEST_F(LocalBlobStoreTest, SymlinkedDirectoryInsideTheRootIsNeverFollowed) {
    std::filesystem::create_directories(outside());
    WriteFile(outside() / "victim.mp3", "outside bytes");
    std::filesystem::create_directory_symlink(outside(), root() / "audio");

    auto put = store_->PutBytes("audio/new.mp3", "attack", "audio/mpeg");
    ASSERT_FALSE(put);
    EXPECT_EQ(put.error().code, ErrorCode::kPermissionDenied);
    EXPECT_FALSE(std::filesystem::exists(outside() / "new.mp3")) << "nothing may be written outside the root";

    Fetched got = GetAll(*store_, "audio/victim.mp3");
    ASSERT_FALSE(got.info);
    EXPECT_EQ(got.info.error().code, ErrorCode::kPermissionDenied);
    EXPECT_TRUE(got.bytes.empty());
    auto head = store_->Head("audio/victim.mp3");
    ASSERT_FALSE(head);
    EXPECT_EQ(head.error().code, ErrorCode::kPermissionDenied);
    EXPECT_FALSE(store_->Delete("audio/victim.mp3"));
    EXPECT_TRUE(std::filesystem::exists(outside() / "victim.mp3"));
    EXPECT_FALSE(store_->LocalPath("audio/victim.mp3"));
    EXPECT_EQ(TempFiles(), 0);
}

TEST_F(LocalBlobStoreTest, SymlinkedObjectFileIsNotReadAndDeleteRemovesOnlyTheLink) {
    std::filesystem::create_directories(outside());
    WriteFile(outside() / "secret", "do not serve");
    std::filesystem::create_directories(root() / "audio");
    std::filesystem::create_symlink(outside() / "secret", root() / "audio" / "link.mp3");

    Fetched got = GetAll(*store_, "audio/link.mp3");
    ASSERT_FALSE(got.info);
    EXPECT_EQ(got.info.error().code, ErrorCode::kPermissionDenied);
    EXPECT_FALSE(store_->LocalPath("audio/link.mp3"));
    ASSERT_TRUE(store_->Delete("audio/link.mp3"));
    EXPECT_FALSE(std::filesystem::is_symlink(root() / "audio" / "link.mp3"));
    EXPECT_EQ(ReadFile(outside() / "secret"), "do not serve");
}

TEST_F(LocalBlobStoreTest, PutOverASymlinkedObjectReplacesTheLinkNotItsTarget) {
    std::filesystem::create_directories(outside());
    WriteFile(outside() / "target", "original");
    std::filesystem::create_directories(root() / "images");
    std::filesystem::create_symlink(outside() / "target", root() / "images" / "x.png");
    ASSERT_TRUE(store_->PutBytes("images/x.png", "new", "image/png"));
    EXPECT_EQ(ReadFile(outside() / "target"), "original");
    EXPECT_FALSE(std::filesystem::is_symlink(root() / "images" / "x.png"));
    EXPECT_EQ(ReadFile(root() / "images" / "x.png"), "new");
}

TEST_F(LocalBlobStoreTest, SymlinkAboveTheRootIsFollowed) {
    // Operators may point DATA_DIR/media at another disk; only links below the root are refused.
    std::filesystem::path real = dir_.path() / "real-media";
    std::filesystem::create_directories(real);
    std::filesystem::path linked = dir_.path() / "linked-media";
    std::filesystem::create_directory_symlink(real, linked);
    auto opened = LocalBlobStore::Open(LocalOptions{.root = linked});
    ASSERT_TRUE(opened) << opened.error().ToString();
    ASSERT_TRUE((*opened)->PutBytes("audio/a.mp3", "ok", "audio/mpeg"));
    EXPECT_EQ(ReadFile(real / "audio" / "a.mp3"), "ok");
}

TEST_F(LocalBlobStoreTest, PutThatFailsAfterWritingLeavesNoObjectAndNoTempFile) {
    // "a" is a directory of other objects, so publishing an object named "a" fails at the rename, after the
    // data was written and fsynced to the temp file.
    ASSERT_TRUE(store_->PutBytes("a/b", "child", "text/plain"));
    auto put = store_->PutFile(
        "a",
        [&] {
            std::filesystem::path source = dir_.path() / "source";
            WriteFile(source, PatternBytes(100000));
            return source;
        }(),
        "application/octet-stream");
    ASSERT_FALSE(put);
    EXPECT_EQ(put.error().code, ErrorCode::kConflict);
    EXPECT_TRUE(std::filesystem::is_directory(root() / "a"));
    EXPECT_EQ(ReadFile(root() / "a" / "b"), "child");
    EXPECT_EQ(TempFiles(), 0);
}

TEST_F(LocalBlobStoreTest, KeyBelowAnExistingObjectIsAConflictForPutsAndAbsentForReads) {
    ASSERT_TRUE(store_->PutBytes("a", "file", "text/plain"));
    auto put = store_->PutBytes("a/b", "child", "text/plain");
    ASSERT_FALSE(put);
    EXPECT_EQ(put.error().code, ErrorCode::kConflict);
    auto head = store_->Head("a/b");
    ASSERT_FALSE(head);
    EXPECT_EQ(head.error().code, ErrorCode::kNotFound);
    EXPECT_TRUE(store_->Delete("a/b"));
    EXPECT_EQ(ReadFile(root() / "a"), "file");
    EXPECT_EQ(TempFiles(), 0);
}

TEST_F(LocalBlobStoreTest, ADirectoryIsNotAnObject) {
    ASSERT_TRUE(store_->PutBytes("audio/x/y.mp3", "y", "audio/mpeg"));
    auto head = store_->Head("audio/x");
    ASSERT_FALSE(head);
    EXPECT_EQ(head.error().code, ErrorCode::kNotFound);
    EXPECT_TRUE(store_->Delete("audio/x"));
    EXPECT_TRUE(std::filesystem::exists(root() / "audio" / "x" / "y.mp3"));
}

TEST_F(LocalBlobStoreTest, ReaderKeepsTheOldContentWhileAPutReplacesTheObject) {
    std::string old_bytes = PatternBytes(2 * 1024 * 1024, 1);
    std::string new_bytes = PatternBytes(1024 * 1024, 2);
    ASSERT_TRUE(store_->PutBytes("audio/swap.mp3", old_bytes, "audio/mpeg"));
    std::string read;
    bool replaced = false;
    auto info = store_->Get("audio/swap.mp3", std::nullopt, [&](std::string_view chunk) -> Status {
        read.append(chunk);
        if (!replaced) {
            replaced = true;
            PLYR_TRY_STATUS(store_->PutBytes("audio/swap.mp3", new_bytes, "audio/mpeg"));
        }
        return Ok();
    });
    ASSERT_TRUE(info) << info.error().ToString();
    ASSERT_TRUE(replaced);
    EXPECT_TRUE(read == old_bytes) << "the reader saw a mix of old and new bytes";
    Fetched now = GetAll(*store_, "audio/swap.mp3");
    ASSERT_TRUE(now.info);
    EXPECT_TRUE(now.bytes == new_bytes);
}

TEST_F(LocalBlobStoreTest, ContentTypeIsStoredWithTheObject) {
    ASSERT_TRUE(store_->PutBytes("staging/upload-7", "bytes", "audio/flac"));
    auto info = store_->Head("staging/upload-7");
    ASSERT_TRUE(info);
    // The key has no extension, so this can only come from the stored attribute.
    EXPECT_EQ(info->content_type, "audio/flac");
}

TEST_F(LocalBlobStoreTest, EtagIsStableAcrossReadsAndOpens) {
    ASSERT_TRUE(store_->PutBytes("audio/e.mp3", "etag", "audio/mpeg"));
    auto first = store_->Head("audio/e.mp3");
    auto again = store_->Head("audio/e.mp3");
    ASSERT_TRUE(first && again);
    EXPECT_EQ(first->etag, again->etag);
    auto reopened = LocalBlobStore::Open(LocalOptions{.root = root()});
    ASSERT_TRUE(reopened);
    auto third = (*reopened)->Head("audio/e.mp3");
    ASSERT_TRUE(third);
    EXPECT_EQ(third->etag, first->etag);
    EXPECT_EQ(first->etag.size(), 32u);
}

TEST_F(LocalBlobStoreTest, OpenRemovesStaleTempFilesButKeepsFreshOnes) {
    WriteFile(store_->temp_dir() / "stale.tmp", "left by a crash");
    WriteFile(store_->temp_dir() / "fresh.tmp", "being written");
    struct timespec times[2] = {{1000000000, 0}, {1000000000, 0}};  // 2001
    ASSERT_EQ(::utimensat(AT_FDCWD, (store_->temp_dir() / "stale.tmp").c_str(), times, 0), 0);
    auto reopened = LocalBlobStore::Open(LocalOptions{.root = root()});
    ASSERT_TRUE(reopened);
    EXPECT_FALSE(std::filesystem::exists(store_->temp_dir() / "stale.tmp"));
    EXPECT_TRUE(std::filesystem::exists(store_->temp_dir() / "fresh.tmp"));
}

TEST_F(LocalBlobStoreTest, OpenCreatesTheRootAndRejectsAnEmptyOne) {
    auto nested = LocalBlobStore::Open(LocalOptions{.root = dir_.path() / "x" / "y" / "media"});
    ASSERT_TRUE(nested) << nested.error().ToString();
    EXPECT_TRUE(std::filesystem::is_directory(dir_.path() / "x" / "y" / "media"));
    auto empty = LocalBlobStore::Open(LocalOptions{});
    ASSERT_FALSE(empty);
    EXPECT_EQ(empty.error().code, ErrorCode::kConfig);
}

TEST_F(LocalBlobStoreTest, OpenFailsWhenTheRootIsAFile) {
    WriteFile(dir_.path() / "file", "x");
    auto opened = LocalBlobStore::Open(LocalOptions{.root = dir_.path() / "file"});
    ASSERT_FALSE(opened);
    EXPECT_EQ(opened.error().code, ErrorCode::kIo);
}

TEST_F(LocalBlobStoreTest, FactoryOpensLocalStorageUnderDataDirMedia) {
    core::Config config;
    config.storage_kind = core::StorageKind::kLocal;
    config.data_dir = dir_.path() / "data";
    for (Bucket bucket : {Bucket::kAudio, Bucket::kPrivate, Bucket::kImages}) {
        auto store = Open(config, bucket);
        ASSERT_TRUE(store) << store.error().ToString();
        auto path = (*store)->LocalPath("audio/x.mp3");
        ASSERT_TRUE(path);
        EXPECT_EQ(*path, std::filesystem::absolute(dir_.path() / "data" / "media" / "audio" / "x.mp3"));
    }
}

// Disk full, for real: a child process gets a private mount namespace (as root, or through a user
// namespace) with a 256 KiB tmpfs, and puts 1 MiB into it. The mount disappears with the child.
TEST_F(LocalBlobStoreTest, DiskFullIsStorageFullAndLeavesNoTempFileOrObject) {
    TempDir mount_point;
    std::filesystem::path source = dir_.path() / "big-source";
    WriteFile(source, PatternBytes(1024 * 1024));
    enum Outcome : int { kPassed = 0, kNoNamespace = 10, kNoMount, kOpenFailed, kWrongResult, kLeftovers };
    pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        uid_t uid = ::getuid();
        gid_t gid = ::getgid();
        if (::unshare(CLONE_NEWNS) != 0) {
            if (::unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) ::_exit(kNoNamespace);
            auto write_file = [](const char* path, const std::string& text) {
                int fd = ::open(path, O_WRONLY);
                if (fd < 0) return false;
                bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
                ::close(fd);
                return ok;
            };
            if (!write_file("/proc/self/setgroups", "deny") ||
                !write_file("/proc/self/uid_map", "0 " + std::to_string(uid) + " 1") ||
                !write_file("/proc/self/gid_map", "0 " + std::to_string(gid) + " 1")) {
                ::_exit(kNoNamespace);
            }
        }
        // Private propagation first, so the tmpfs can never show up in the parent's namespace.
        if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) ::_exit(kNoMount);
        if (::mount("tmpfs", mount_point.path().c_str(), "tmpfs", 0, "size=256k") != 0) ::_exit(kNoMount);
        auto store = LocalBlobStore::Open(LocalOptions{.root = mount_point.path() / "media"});
        if (!store) ::_exit(kOpenFailed);
        if (!(*store)->PutBytes("audio/keep.mp3", "previous", "audio/mpeg")) ::_exit(kOpenFailed);
        auto put = (*store)->PutFile("audio/big.mp3", source, "audio/mpeg");
        auto overwrite = (*store)->PutFile("audio/keep.mp3", source, "audio/mpeg");
        if (put || put.error().code != ErrorCode::kStorageFull || overwrite ||
            overwrite.error().code != ErrorCode::kStorageFull) {
            ::_exit(kWrongResult);
        }
        auto previous = (*store)->Head("audio/keep.mp3");
        bool leftovers = CountEntries((*store)->temp_dir()) != 0 ||
                         std::filesystem::exists(mount_point.path() / "media" / "audio" / "big.mp3") || !previous ||
                         previous->size != 8;
        ::_exit(leftovers ? kLeftovers : kPassed);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status)) << "child crashed";
    int code = WEXITSTATUS(status);
    if (code == kNoNamespace || code == kNoMount) {
        GTEST_SKIP() << "cannot create a private mount namespace with a tmpfs here (code " << code << ")";
    }
    EXPECT_NE(code, kOpenFailed) << "could not use the store on the small tmpfs";
    EXPECT_NE(code, kWrongResult) << "a put on a full disk did not fail with kStorageFull";
    EXPECT_NE(code, kLeftovers) << "a failed put left a temp file or partial object, or lost the previous object";
    EXPECT_EQ(code, kPassed);
}

TEST_F(LocalBlobStoreTest, CheckFailsWhenTheTempDirectoryIsGone) {
    ASSERT_TRUE(store_->Check());
    std::filesystem::remove_all(store_->temp_dir());
    auto check = store_->Check();
    ASSERT_FALSE(check);
    EXPECT_EQ(check.error().code, ErrorCode::kIo);
}

}  // namespace
}  // namespace plyr::storage::blobs
