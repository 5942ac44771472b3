#include "server/store/sqlite_event_log.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/core/errors.h"
#include "server/core/event_normalizer.h"
#include "server/core/proto_time.h"
#include "tests/testing/event_log_testing.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/server_process.h"
#include "tests/testing/sqlite_file.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_data.h"

namespace paradym::webhooks {
namespace {

namespace v1 = ::paradym::webhooks::v1;
using ::paradym::webhooks::testing::AppendAndWait;
using ::paradym::webhooks::testing::ExecSql;
using ::paradym::webhooks::testing::FakeClock;
using ::paradym::webhooks::testing::HasReason;
using ::paradym::webhooks::testing::InsertRows;
using ::paradym::webhooks::testing::IsOk;
using ::paradym::webhooks::testing::MakeTempDir;
using ::paradym::webhooks::testing::SqlRows;
using ::paradym::webhooks::testing::SqlValue;
using ::paradym::webhooks::testing::StatusIs;
using ::paradym::webhooks::testing::UniqueBody;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

const absl::Time kStart = absl::FromUnixSeconds(1718184600);

std::shared_ptr<StoredEvent> MakeEvent(const std::string& body,
                                       absl::Time received = kStart,
                                       const std::string& project = "p1") {
  v1::Event event;
  event.set_event_type("workflowExecution.completed");
  event.set_project_id(project);
  event.set_workflow_id("w1");
  event.set_workflow_execution_id("e1");
  event.set_body(body);
  event.mutable_receive_time()->set_seconds(absl::ToUnixSeconds(received));
  return StoredEvent::Create(event);
}

// What WebhookIngestor stores for the n-th distinct webhook.
std::shared_ptr<StoredEvent> MakeIngested(int n, absl::Time received = kStart) {
  EventNormalizer::EncodedEvent normalized;
  EXPECT_THAT(EventNormalizer().Encode(UniqueBody(n), {"default", received},
                                       normalized),
              IsOk());
  absl::StatusOr<std::shared_ptr<StoredEvent>> stored =
      StoredEvent::FromNormalized(normalized.encoding);
  EXPECT_THAT(stored, IsOk());
  return *std::move(stored);
}

std::string Encoded(const StoredEvent& event) {
  std::string bytes;
  event.AppendEncoded(bytes);
  return bytes;
}

std::vector<std::uint64_t> Sequences(const std::vector<EventPtr>& events) {
  std::vector<std::uint64_t> sequences;
  for (const auto& e : events) sequences.push_back(e->sequence());
  return sequences;
}

class SqliteEventLogTest : public ::testing::Test {
 protected:
  SqliteEventLog::Options Options() {
    SqliteEventLog::Options options;
    options.directory = dir_;
    return options;
  }

  std::unique_ptr<SqliteEventLog> Open(SqliteEventLog::Options options) {
    absl::StatusOr<std::unique_ptr<SqliteEventLog>> log =
        SqliteEventLog::Open(std::move(options), clock_);
    EXPECT_THAT(log, IsOk());
    return log.ok() ? std::move(log).value() : nullptr;
  }

  std::unique_ptr<SqliteEventLog> Open() { return Open(Options()); }

  std::vector<EventPtr> ReadAll(const EventLog& log, std::uint64_t after = 0) {
    std::vector<EventPtr> out;
    const absl::Status status = log.ReadAfter(after, ~0ull, 1 << 20, out);
    EXPECT_THAT(status, IsOk());
    return out;
  }

  std::string path() const { return dir_ + "/events.db"; }

  const std::string dir_ = MakeTempDir() + "/data";
  FakeClock clock_{kStart};
};

TEST_F(SqliteEventLogTest, AnEmptyStoreStartsAtSequenceOne) {
  auto log = Open();
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(log->Range().oldest, 1u);
  EXPECT_EQ(log->Range().last, 0u);
  EXPECT_TRUE(std::filesystem::exists(path()));
  // A directory it creates is the owner's only: events carry personal data.
  EXPECT_EQ(std::filesystem::status(dir_).permissions(),
            std::filesystem::perms::owner_all);
  for (std::uint64_t i = 1; i <= 3; ++i) {
    absl::StatusOr<EventPtr> stored = AppendAndWait(*log, MakeEvent("x"));
    ASSERT_THAT(stored, IsOk());
    EXPECT_EQ((*stored)->sequence(), i);
  }
  EXPECT_EQ(log->Range().oldest, 1u);
  EXPECT_EQ(log->Range().last, 3u);
}

// The database and the files SQLite makes beside it are the owner's alone,
// whatever the umask, and a looser file from before is tightened.
TEST_F(SqliteEventLogTest, StoreFilesAreTheOwnersOnly) {
  const mode_t old_umask = ::umask(0);
  std::filesystem::create_directories(dir_);
  ::close(::open(path().c_str(), O_WRONLY | O_CREAT, 0666));
  {
    auto log = Open();
    ASSERT_NE(log, nullptr);
    ASSERT_THAT(AppendAndWait(*log, MakeEvent("x")), IsOk());
    for (const char* suffix : {"", "-wal", "-shm"}) {
      SCOPED_TRACE(suffix);
      const std::string file = path() + suffix;
      ASSERT_TRUE(std::filesystem::exists(file));
      EXPECT_EQ(std::filesystem::status(file).permissions(),
                std::filesystem::perms::owner_read |
                    std::filesystem::perms::owner_write);
    }
  }
  ::umask(old_umask);
}

TEST_F(SqliteEventLogTest, ReadsBackExactlyWhatWasStored) {
  auto log = Open();
  ASSERT_NE(log, nullptr);
  std::vector<std::string> written;
  for (int i = 0; i < 5; ++i) {
    auto stored =
        AppendAndWait(*log, MakeEvent(std::string(100 * i, 'a' + i), kStart,
                                      absl::StrCat("project-", i)));
    ASSERT_THAT(stored, IsOk());
    written.push_back(Encoded(**stored));
  }
  std::vector<EventPtr> read = ReadAll(*log);
  ASSERT_EQ(read.size(), 5u);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(read[i]->sequence(), static_cast<std::uint64_t>(i + 1));
    EXPECT_EQ(Encoded(*read[i]), written[i]);
    EXPECT_EQ(read[i]->project_id(), absl::StrCat("project-", i));
    EXPECT_EQ(read[i]->event_type(), "workflowExecution.completed");
    EXPECT_EQ(read[i]->receive_time_micros(), absl::ToUnixMicros(kStart));
  }
  // Windows and limits as ReadAfter promises.
  std::vector<EventPtr> out;
  ASSERT_THAT(log->ReadAfter(1, 4, 100, out), IsOk());
  EXPECT_THAT(Sequences(out), ElementsAre(2, 3, 4));
  out.clear();
  ASSERT_THAT(log->ReadAfter(0, 100, 2, out), IsOk());
  EXPECT_THAT(Sequences(out), ElementsAre(1, 2));
  out.clear();
  ASSERT_THAT(log->ReadAfter(5, 100, 10, out), IsOk());
  EXPECT_TRUE(out.empty());
}

TEST_F(SqliteEventLogTest, SurvivesARestartAndContinuesTheSequence) {
  std::vector<std::string> written;
  {
    auto log = Open();
    ASSERT_NE(log, nullptr);
    for (int i = 0; i < 4; ++i) {
      auto stored = AppendAndWait(*log, MakeEvent(absl::StrCat("body ", i)));
      ASSERT_THAT(stored, IsOk());
      written.push_back(Encoded(**stored));
    }
  }
  auto log = Open();
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(log->Range().oldest, 1u);
  EXPECT_EQ(log->Range().last, 4u);
  std::vector<EventPtr> read = ReadAll(*log);
  ASSERT_EQ(read.size(), 4u);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(Encoded(*read[i]), written[i]);
  auto next = AppendAndWait(*log, MakeEvent("after restart"));
  ASSERT_THAT(next, IsOk());
  EXPECT_EQ((*next)->sequence(), 5u);
}

TEST_F(SqliteEventLogTest, ConcurrentAppendsAreGroupedAndCalledBackInOrder) {
  auto log = Open();
  ASSERT_NE(log, nullptr);
  constexpr int kThreads = 4;
  constexpr int kPerThread = 250;
  absl::Mutex mu;
  std::vector<std::uint64_t> called_back;  // in callback order
  int answered = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        log->Append(MakeEvent(absl::StrCat(t, "/", i)),
                    [&](absl::StatusOr<EventPtr> stored) {
                      absl::MutexLock lock(&mu);
                      ++answered;
                      if (stored.ok()) {
                        called_back.push_back((*stored)->sequence());
                      } else {
                        ADD_FAILURE() << stored.status();
                      }
                    });
      }
    });
  }
  for (auto& thread : threads) thread.join();
  {
    absl::MutexLock lock(&mu);
    ASSERT_TRUE(mu.AwaitWithTimeout(
        absl::Condition(
            +[](int* n) { return *n == kThreads * kPerThread; }, &answered),
        absl::Seconds(60)));
    ASSERT_EQ(called_back.size(), kThreads * kPerThread);
    for (std::size_t i = 0; i < called_back.size(); ++i) {
      ASSERT_EQ(called_back[i], i + 1) << "callbacks out of sequence order";
    }
  }
  EXPECT_EQ(log->stats().committed_events.load(), 1000u);
  // 1000 events in far fewer transactions: the commits were grouped.
  EXPECT_LT(log->stats().commits.load(), 500u);
  EXPECT_EQ(ReadAll(*log).size(), 1000u);
}

TEST_F(SqliteEventLogTest, CloseCommitsWhatIsWaitingThenRefuses) {
  auto log = Open();
  ASSERT_NE(log, nullptr);
  std::vector<absl::StatusOr<EventPtr>> results(50);
  for (int i = 0; i < 50; ++i) {
    log->Append(MakeEvent("x"), [&results, i](absl::StatusOr<EventPtr> s) {
      results[i] = std::move(s);
    });
  }
  log->Close();
  for (int i = 0; i < 50; ++i) {
    ASSERT_THAT(results[i], IsOk()) << i;
    EXPECT_EQ((*results[i])->sequence(), static_cast<std::uint64_t>(i + 1));
  }
  absl::StatusOr<EventPtr> late = AppendAndWait(*log, MakeEvent("late"));
  EXPECT_THAT(late, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(late, HasReason(kShuttingDown));
  // Reads still work after Close.
  EXPECT_EQ(ReadAll(*log).size(), 50u);
}

TEST_F(SqliteEventLogTest, MaxEventsDeletesTheOldest) {
  SqliteEventLog::Options options = Options();
  options.max_events = 3;
  auto log = Open(options);
  ASSERT_NE(log, nullptr);
  for (int i = 0; i < 10; ++i) {
    ASSERT_THAT(AppendAndWait(*log, MakeEvent("x")), IsOk());
  }
  ASSERT_THAT(log->EnforceRetentionForTest(), IsOk());
  EXPECT_EQ(log->Range().oldest, 8u);
  EXPECT_EQ(log->Range().last, 10u);
  EXPECT_EQ(log->stats().deleted_events.load(), 7u);
  std::vector<EventPtr> out;
  const absl::Status too_old = log->ReadAfter(0, 100, 10, out);
  EXPECT_THAT(too_old, StatusIs(absl::StatusCode::kOutOfRange));
  EXPECT_THAT(too_old, HasReason(kSequenceTooOld));
  EXPECT_EQ(ErrorMetadata(too_old, "oldest_sequence"), "8");
  EXPECT_TRUE(out.empty());
  EXPECT_THAT(Sequences(ReadAll(*log, 7)), ElementsAre(8, 9, 10));
}

TEST_F(SqliteEventLogTest, RetentionDeletesByAgeInChunksAndKeepsTheSequence) {
  SqliteEventLog::Options options = Options();
  options.retention = absl::Hours(24 * 7);
  options.retention_chunk = 4;  // several transactions in one pass
  {
    auto log = Open(options);
    ASSERT_NE(log, nullptr);
    for (int i = 0; i < 10; ++i) {
      ASSERT_THAT(AppendAndWait(*log, MakeEvent("old", kStart)), IsOk());
    }
    for (int i = 0; i < 3; ++i) {
      ASSERT_THAT(
          AppendAndWait(*log, MakeEvent("new", kStart + absl::Hours(48))),
          IsOk());
    }
    // Not yet a week old: nothing goes.
    clock_.Advance(absl::Hours(24 * 7 - 1));
    ASSERT_THAT(log->EnforceRetentionForTest(), IsOk());
    EXPECT_EQ(log->Range().oldest, 1u);
    // The first ten are now older than a week.
    clock_.Advance(absl::Hours(2));
    ASSERT_THAT(log->EnforceRetentionForTest(), IsOk());
    EXPECT_EQ(log->Range().oldest, 11u);
    EXPECT_EQ(log->Range().last, 13u);
    EXPECT_THAT(Sequences(ReadAll(*log, 10)), ElementsAre(11, 12, 13));
    // And then everything.
    clock_.Advance(absl::Hours(72));
    ASSERT_THAT(log->EnforceRetentionForTest(), IsOk());
    EXPECT_EQ(log->Range().oldest, 14u);
    EXPECT_EQ(log->Range().last, 13u);
  }
  // An emptied store still continues the sequence after a restart.
  auto log = Open(options);
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(log->Range().oldest, 14u);
  EXPECT_EQ(log->Range().last, 13u);
  auto next = AppendAndWait(*log, MakeEvent("x", clock_.Now()));
  ASSERT_THAT(next, IsOk());
  EXPECT_EQ((*next)->sequence(), 14u);
}

TEST_F(SqliteEventLogTest, ARetentionPassLeavesReadersConsistent) {
  // A replay that started before retention deleted its start is told so,
  // never handed a gap.
  SqliteEventLog::Options options = Options();
  options.max_events = 5;
  auto log = Open(options);
  ASSERT_NE(log, nullptr);
  for (int i = 0; i < 20; ++i) {
    ASSERT_THAT(AppendAndWait(*log, MakeEvent("x")), IsOk());
  }
  ASSERT_THAT(log->EnforceRetentionForTest(), IsOk());
  for (std::uint64_t after : {0ull, 5ull, 14ull}) {
    std::vector<EventPtr> out;
    const absl::Status status = log->ReadAfter(after, 20, 100, out);
    EXPECT_THAT(status, HasReason(kSequenceTooOld)) << after;
    EXPECT_TRUE(out.empty());
  }
  EXPECT_THAT(Sequences(ReadAll(*log, 15)), ElementsAre(16, 17, 18, 19, 20));
}

TEST_F(SqliteEventLogTest, ASecondProcessOnTheSameDirectoryIsRefused) {
  auto first = Open();
  ASSERT_NE(first, nullptr);
  absl::StatusOr<std::unique_ptr<SqliteEventLog>> second =
      SqliteEventLog::Open(Options(), clock_);
  EXPECT_THAT(second, StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(second.status().message(), HasSubstr("in use by another"));
}

TEST_F(SqliteEventLogTest, GarbageInsteadOfAStoreIsAClearError) {
  std::filesystem::create_directories(dir_);
  {
    std::ofstream out(path(), std::ios::binary);
    out << std::string(8192, 'z');
  }
  absl::StatusOr<std::unique_ptr<SqliteEventLog>> log =
      SqliteEventLog::Open(Options(), clock_);
  EXPECT_THAT(log, StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_THAT(log.status().message(), HasSubstr(path()));
  EXPECT_THAT(log.status().message(), HasSubstr("is corrupt"));
  // The file is left as it was, for whoever investigates.
  EXPECT_EQ(std::filesystem::file_size(path()), 8192u);
}

TEST_F(SqliteEventLogTest, ADamagedPageIsFoundAtStartup) {
  {
    auto log = Open();
    ASSERT_NE(log, nullptr);
    for (int i = 0; i < 200; ++i) {
      ASSERT_THAT(AppendAndWait(*log, MakeEvent(std::string(300, 'q'))),
                  IsOk());
    }
  }  // closing checkpoints the WAL into events.db
  const auto size = std::filesystem::file_size(path());
  ASSERT_GT(size, 16u * 4096);
  {
    // Overwrite the middle of a table page deep in the file.
    std::fstream file(path(), std::ios::binary | std::ios::in | std::ios::out);
    file.seekp(static_cast<std::streamoff>(size / 2 / 4096 * 4096));
    const std::string junk(4096, '\xA5');
    file.write(junk.data(), junk.size());
  }
  absl::StatusOr<std::unique_ptr<SqliteEventLog>> log =
      SqliteEventLog::Open(Options(), clock_);
  EXPECT_THAT(log, StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_THAT(log.status().message(), HasSubstr("is corrupt"));
}

TEST_F(SqliteEventLogTest, AnotherSqliteDatabaseIsNotTakenOver) {
  std::filesystem::create_directories(dir_);
  ASSERT_THAT(ExecSql(path(), "CREATE TABLE orders (id INTEGER)"), IsOk());
  absl::StatusOr<std::unique_ptr<SqliteEventLog>> log =
      SqliteEventLog::Open(Options(), clock_);
  EXPECT_THAT(log, StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(log.status().message(),
              HasSubstr("is not a paradym-webhooks event store"));
}

TEST_F(SqliteEventLogTest, ADataDirectoryThatIsAFileIsAClearError) {
  std::filesystem::create_directories(
      std::filesystem::path(dir_).parent_path());
  { std::ofstream out(dir_); }
  absl::StatusOr<std::unique_ptr<SqliteEventLog>> log =
      SqliteEventLog::Open(Options(), clock_);
  EXPECT_THAT(log, StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(log.status().message(), HasSubstr(dir_));
}

// Refusals at startup carry a reason too: STORE_FAILED for a directory or
// file that cannot be used as it is, STORE_CORRUPT for a damaged file.
TEST_F(SqliteEventLogTest, RefusalsAtStartCarryAReason) {
  std::filesystem::create_directories(dir_);
  const int lock =
      ::open((dir_ + "/events.lock").c_str(), O_RDWR | O_CREAT, 0600);
  ASSERT_EQ(::flock(lock, LOCK_EX | LOCK_NB), 0);
  absl::StatusOr<std::unique_ptr<SqliteEventLog>> locked =
      SqliteEventLog::Open(Options(), clock_);
  EXPECT_THAT(locked, StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(locked, HasReason(kStoreFailed));
  ::close(lock);

  ASSERT_NE(Open(), nullptr);  // makes the store, and closes it
  ASSERT_THAT(ExecSql(path(), "PRAGMA user_version=99"), IsOk());
  absl::StatusOr<std::unique_ptr<SqliteEventLog>> newer =
      SqliteEventLog::Open(Options(), clock_);
  EXPECT_THAT(newer, StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(newer, HasReason(kStoreFailed));
  EXPECT_THAT(newer.status().message(), HasSubstr("has format 99"));

  std::filesystem::remove_all(dir_);
  std::filesystem::create_directories(dir_);
  testing::WriteFileWithMode(path(), std::string(8192, 'z'), 0600);
  absl::StatusOr<std::unique_ptr<SqliteEventLog>> garbage =
      SqliteEventLog::Open(Options(), clock_);
  EXPECT_THAT(garbage, StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_THAT(garbage, HasReason(kStoreCorrupt));
}

TEST_F(SqliteEventLogTest, MetricsCountCommits) {
  auto log = Open();
  ASSERT_NE(log, nullptr);
  ASSERT_THAT(AppendAndWait(*log, MakeEvent("x")), IsOk());
  PrometheusText text;
  log->AddMetrics(text);
  EXPECT_THAT(text.str(),
              HasSubstr("paradym_webhooks_store_committed_events_total 1\n"));
  EXPECT_THAT(text.str(),
              HasSubstr("paradym_webhooks_store_commits_total 1\n"));
  EXPECT_THAT(text.str(),
              HasSubstr("paradym_webhooks_store_failed_commits_total 0\n"));
}

// Under steady load the WAL keeps starting over: its file stays at a few
// MB however much is written, and everything is in the database file.
TEST_F(SqliteEventLogTest, TheWalStaysSmallUnderSteadyLoad) {
  SqliteEventLog::Options options = Options();
  options.sync = SqliteEventLog::Sync::kNormal;  // the same WAL, faster
  auto log = Open(options);
  ASSERT_NE(log, nullptr);
  // One event a group: about three new WAL frames (4 KiB pages) each, so
  // some 60 MB of WAL if it never started over.
  constexpr int kEvents = 5000;
  std::uintmax_t largest_wal = 0;
  for (int i = 0; i < kEvents; ++i) {
    ASSERT_THAT(AppendAndWait(*log, MakeIngested(i)), IsOk());
    if (i % 100 == 99) {
      largest_wal =
          std::max(largest_wal, std::filesystem::file_size(path() + "-wal"));
    }
  }
  EXPECT_GT(log->stats().checkpoints.load(), 0u);
  EXPECT_LT(largest_wal, std::uintmax_t{9} << 20);
  EXPECT_EQ(ReadAll(*log).size(), static_cast<std::size_t>(kEvents));
}

TEST_F(SqliteEventLogTest, TheLargestStartReadsNothingRatherThanTooOld) {
  auto log = Open();
  ASSERT_NE(log, nullptr);
  ASSERT_THAT(AppendAndWait(*log, MakeEvent("x")), IsOk());
  std::vector<EventPtr> out;
  EXPECT_THAT(log->ReadAfter(~0ull, ~0ull, 10, out), IsOk());
  EXPECT_TRUE(out.empty());
}

TEST_F(SqliteEventLogTest, AnnouncesEachEventInOrderBeforeItsCallback) {
  auto log = Open();
  ASSERT_NE(log, nullptr);
  absl::Mutex mu;
  std::vector<std::uint64_t> heard;
  log->SetListener([&](EventPtr event) {
    absl::MutexLock lock(&mu);
    heard.push_back(event->sequence());
  });
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<EventPtr> stored = AppendAndWait(*log, MakeEvent("x"));
    ASSERT_THAT(stored, IsOk());
    absl::MutexLock lock(&mu);
    // Announced before the callback that answered it.
    EXPECT_EQ(heard.back(), (*stored)->sequence());
  }
  log->SetListener(nullptr);
  absl::MutexLock lock(&mu);
  EXPECT_THAT(heard, ElementsAre(1, 2, 3));
}

TEST_F(SqliteEventLogTest, ACopyKeepsTheSequencesItIsGiven) {
  SqliteEventLog::Options options = Options();
  options.assign_sequences = false;
  auto log = Open(options);
  ASSERT_NE(log, nullptr);
  for (std::uint64_t sequence : {1, 2, 3}) {
    std::shared_ptr<StoredEvent> event = MakeEvent("x");
    event->set_sequence(sequence);
    absl::StatusOr<EventPtr> stored = AppendAndWait(*log, std::move(event));
    ASSERT_THAT(stored, IsOk());
    EXPECT_EQ((*stored)->sequence(), sequence);
  }
  // A gap nobody announced is refused: it would lose events.
  std::shared_ptr<StoredEvent> event = MakeEvent("ten");
  event->set_sequence(10);
  absl::StatusOr<EventPtr> gap = AppendAndWait(*log, event);
  EXPECT_THAT(gap, StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(gap, HasReason(kStoreFailed));
  EXPECT_EQ(log->Range().last, 3u);

  // The source no longer has 4..9: everything before 10 goes, as there.
  log->SkipTo(10);
  ASSERT_THAT(AppendAndWait(*log, std::move(event)), IsOk());
  EXPECT_EQ(log->Range().oldest, 10u);
  EXPECT_EQ(log->Range().last, 10u);
  EXPECT_THAT(Sequences(ReadAll(*log, 9)), ElementsAre(10));
  std::vector<EventPtr> out;
  const absl::Status old = log->ReadAfter(2, 10, 10, out);
  EXPECT_THAT(old, StatusIs(absl::StatusCode::kOutOfRange));
  EXPECT_THAT(old, HasReason(kSequenceTooOld));

  // A sequence that is not after the last is refused, and nothing changes.
  event = MakeEvent("again");
  event->set_sequence(10);
  absl::StatusOr<EventPtr> again = AppendAndWait(*log, std::move(event));
  EXPECT_THAT(again, StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(again, HasReason(kStoreFailed));
  EXPECT_EQ(log->Range().last, 10u);

  log.reset();
  log = Open(options);
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(log->Range().oldest, 10u);
  EXPECT_EQ(log->Range().last, 10u);
}

TEST_F(SqliteEventLogTest, ReleasedEventsGoAndTheBookmarkSurvivesARestart) {
  SqliteEventLog::Options options = Options();
  options.retention = absl::InfiniteDuration();
  auto log = Open(options);
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(log->released().through, 0u);
  EXPECT_EQ(log->released().bookmark, 0u);
  for (int i = 0; i < 5; ++i)
    ASSERT_THAT(AppendAndWait(*log, MakeEvent("x")), IsOk());
  log->Release(3, 777);
  ASSERT_THAT(log->EnforceRetentionForTest(), IsOk());
  EXPECT_EQ(log->Range().oldest, 4u);
  EXPECT_THAT(Sequences(ReadAll(*log, 3)), ElementsAre(4, 5));
  EXPECT_EQ(log->released().through, 3u);
  EXPECT_EQ(log->released().bookmark, 777u);

  // Released beyond what is held: everything goes, and the sequence goes on.
  log->Release(9, 778);
  ASSERT_THAT(log->EnforceRetentionForTest(), IsOk());
  EXPECT_EQ(log->Range().oldest, 6u);
  EXPECT_EQ(log->Range().last, 5u);
  log.reset();

  log = Open(options);
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(log->released().through, 9u);
  EXPECT_EQ(log->released().bookmark, 778u);
  absl::StatusOr<EventPtr> next = AppendAndWait(*log, MakeEvent("y"));
  ASSERT_THAT(next, IsOk());
  EXPECT_EQ((*next)->sequence(), 6u);
}

std::shared_ptr<StoredEvent> MakeWebhook(const std::string& body,
                                         absl::Time received = kStart) {
  v1::Event event;
  event.set_event_type("workflowExecution.completed");
  event.set_endpoint("default");
  event.set_body(body);
  event.mutable_receive_time()->set_seconds(absl::ToUnixSeconds(received));
  return StoredEvent::Create(event);
}

ReplayDigest DigestOf(const std::string& body) {
  return ComputeReplayDigest("default", body);
}

TEST_F(SqliteEventLogTest, FindsReplaysAlsoAfterARestart) {
  {
    auto log = Open();
    ASSERT_NE(log, nullptr);
    EXPECT_EQ(log->FindReplay(DigestOf("a")), std::nullopt);
    ASSERT_THAT(AppendAndWait(*log, MakeWebhook("a")), IsOk());
    ASSERT_THAT(AppendAndWait(*log, MakeWebhook("b")), IsOk());
    EXPECT_EQ(log->FindReplay(DigestOf("a")), 1u);
    EXPECT_EQ(log->FindReplay(DigestOf("b")), 2u);
    EXPECT_EQ(log->replay_digests(), 2u);
  }
  auto log = Open();
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(log->FindReplay(DigestOf("a")), 1u);
  EXPECT_EQ(log->FindReplay(DigestOf("b")), 2u);
  EXPECT_EQ(log->FindReplay(DigestOf("c")), std::nullopt);
  // Another endpoint's identical body is another webhook.
  EXPECT_EQ(log->FindReplay(ComputeReplayDigest("shop", "a")), std::nullopt);
  // Events read back carry their digest.
  std::vector<EventPtr> events = ReadAll(*log);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_TRUE(events[0]->has_replay_digest());
  EXPECT_EQ(events[0]->replay_digest(), DigestOf("a"));
}

TEST_F(SqliteEventLogTest, RetentionForgetsTheDigestsOfWhatItDeletes) {
  SqliteEventLog::Options options = Options();
  options.retention = absl::Hours(24 * 7);
  {
    auto log = Open(options);
    ASSERT_NE(log, nullptr);
    ASSERT_THAT(AppendAndWait(*log, MakeWebhook("old", kStart)), IsOk());
    ASSERT_THAT(
        AppendAndWait(*log, MakeWebhook("new", kStart + absl::Hours(48))),
        IsOk());
    clock_.Advance(absl::Hours(24 * 7 + 1));
    ASSERT_THAT(log->EnforceRetentionForTest(), IsOk());
    ASSERT_EQ(log->Range().oldest, 2u);
    EXPECT_EQ(log->FindReplay(DigestOf("old")), std::nullopt);
    EXPECT_EQ(log->FindReplay(DigestOf("new")), 2u);
    EXPECT_EQ(log->replay_digests(), 1u);
  }
  auto log = Open(options);
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(log->FindReplay(DigestOf("old")), std::nullopt);
  EXPECT_EQ(log->FindReplay(DigestOf("new")), 2u);
}

TEST_F(SqliteEventLogTest, AVersion1StoreIsMigratedAndItsEventsFound) {
  // A store as the first format wrote it: no digest column.
  std::filesystem::create_directories(dir_);
  const std::shared_ptr<StoredEvent> old = MakeWebhook("from v1");
  const std::string schema = absl::StrCat(
      "PRAGMA journal_mode=WAL; BEGIN;"
      "CREATE TABLE events (sequence INTEGER PRIMARY KEY, receive_time_us "
      "INTEGER NOT NULL, event_type TEXT NOT NULL, project_id TEXT NOT NULL, "
      "workflow_id TEXT NOT NULL, workflow_execution_id TEXT NOT NULL, event "
      "BLOB NOT NULL);"
      "CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) "
      "WITHOUT ROWID;"
      "PRAGMA application_id=",
      0x50574831, "; PRAGMA user_version=1; COMMIT;");
  ASSERT_THAT(ExecSql(path(), schema), IsOk());
  ASSERT_THAT(InsertRows(path(),
                         "INSERT INTO events VALUES (1, ?1, 'workflowExecution."
                         "completed', '', '', '', ?2)",
                         {{old->receive_time_micros(),
                           std::string(old->encoding_without_sequence())}}),
              IsOk());

  for (int open = 0; open < 2; ++open) {
    SCOPED_TRACE(open == 0 ? "migrating" : "migrated");
    auto log = Open();
    ASSERT_NE(log, nullptr);
    EXPECT_EQ(log->FindReplay(DigestOf("from v1")), 1u);
    std::vector<EventPtr> events = ReadAll(*log);
    ASSERT_EQ(events.size(), static_cast<std::size_t>(1 + open));
    EXPECT_EQ(Encoded(*events[0]), Encoded(*old->WithSequence(1)));
    EXPECT_EQ(events[0]->replay_digest(), DigestOf("from v1"));
    if (open == 0) {
      absl::StatusOr<EventPtr> next = AppendAndWait(*log, MakeWebhook("v2"));
      ASSERT_THAT(next, IsOk());
      EXPECT_EQ((*next)->sequence(), 2u);
    }
    EXPECT_EQ(log->FindReplay(DigestOf("v2")), 2u);
  }
  EXPECT_THAT(SqlRows(path(), "PRAGMA user_version"), ElementsAre("3"));
}

// An ingested webhook's row holds its receive time, endpoint and body, and
// nothing derived from them; anything else is kept whole. Both read back
// byte for byte, also after a restart.
TEST_F(SqliteEventLogTest, IngestedEventsAreKeptLeanAndReadBackExactly) {
  const absl::Time received = kStart + absl::Nanoseconds(123456789);
  std::vector<std::string> written;
  {
    auto log = Open();
    ASSERT_NE(log, nullptr);
    for (const std::shared_ptr<StoredEvent>& event :
         {MakeIngested(1, received), MakeEvent("not derived"),
          MakeIngested(2, received)}) {
      absl::StatusOr<EventPtr> stored = AppendAndWait(*log, event);
      ASSERT_THAT(stored, IsOk());
      written.push_back(Encoded(**stored));
    }
    std::vector<EventPtr> read = ReadAll(*log);
    ASSERT_EQ(read.size(), 3u);
    for (int i = 0; i < 3; ++i) EXPECT_EQ(Encoded(*read[i]), written[i]);
  }
  EXPECT_THAT(
      SqlRows(path(),
              "SELECT sequence, receive_time_us, receive_time_extra_ns, "
              "endpoint, body = CAST(?1 AS BLOB), length(body), event IS NULL "
              "FROM events ORDER BY sequence"),
      ElementsAre(
          absl::StrCat("1|", absl::ToUnixMicros(received), "|789|default|NULL|",
                       UniqueBody(1).size(), "|1"),
          absl::StrCat("2|", absl::ToUnixMicros(kStart), "|0|NULL|NULL|NULL|0"),
          absl::StrCat("3|", absl::ToUnixMicros(received), "|789|default|NULL|",
                       UniqueBody(2).size(), "|1")));
  auto log = Open();
  ASSERT_NE(log, nullptr);
  std::vector<EventPtr> read = ReadAll(*log);
  ASSERT_EQ(read.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(Encoded(*read[i]), written[i]);
    EXPECT_EQ(read[i]->receive_time_micros(),
              absl::ToUnixMicros(i == 1 ? kStart : received));
  }
  EXPECT_TRUE(read[0]->derived_from_body());
  EXPECT_EQ(read[0]->event_type(), "workflowExecution.started");
  EXPECT_EQ(read[0]->workflow_execution_id(),
            MakeIngested(1)->workflow_execution_id());
  EXPECT_EQ(log->FindReplay(ComputeReplayDigest("default", UniqueBody(1))), 1u);
  EXPECT_EQ(log->FindReplay(ComputeReplayDigest("default", UniqueBody(2))), 3u);
}

// Should a lean row's body no longer give an event (a damaged row), the
// event is still served, with what the row holds.
TEST_F(SqliteEventLogTest, ALeanRowWhoseBodyGivesNoEventIsServedWithItsBody) {
  {
    auto log = Open();
    ASSERT_NE(log, nullptr);
    ASSERT_THAT(AppendAndWait(*log, MakeIngested(1)), IsOk());
  }
  EXPECT_THAT(
      SqlRows(path(), "UPDATE events SET body = CAST('{broken' AS BLOB)"),
      ::testing::IsEmpty());
  auto log = Open();
  ASSERT_NE(log, nullptr);
  std::vector<EventPtr> read = ReadAll(*log);
  ASSERT_EQ(read.size(), 1u);
  v1::Event event;
  ASSERT_TRUE(read[0]->Decode(event));
  EXPECT_EQ(event.sequence(), 1u);
  EXPECT_EQ(event.body(), "{broken");
  EXPECT_EQ(event.endpoint(), "default");
  EXPECT_EQ(ToTime(event.receive_time()), kStart);
  EXPECT_EQ(event.event_type(), "");
}

// A store as format 2 wrote it (every field beside the whole encoding, and
// the replay digest) opens, reads back every event as it was, and takes
// new events.
TEST_F(SqliteEventLogTest, AVersion2StoreIsMigratedAndReadBackIdentically) {
  std::filesystem::create_directories(dir_);
  const std::string schema = absl::StrCat(
      "PRAGMA journal_mode=WAL; BEGIN;"
      "CREATE TABLE events (sequence INTEGER PRIMARY KEY, receive_time_us "
      "INTEGER NOT NULL, event_type TEXT NOT NULL, project_id TEXT NOT NULL, "
      "workflow_id TEXT NOT NULL, workflow_execution_id TEXT NOT NULL, event "
      "BLOB NOT NULL, digest BLOB);"
      "CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) "
      "WITHOUT ROWID;"
      "INSERT INTO meta VALUES ('deleted_through', 9);"
      "PRAGMA application_id=",
      0x50574831, "; PRAGMA user_version=2; COMMIT;");
  ASSERT_THAT(ExecSql(path(), schema), IsOk());
  // Sequences 10 to 12 (9 and before were deleted): an ingested webhook, an
  // event that is not one, and a message that is no event at all.
  StoredEvent::Parts opaque;
  const std::string opaque_bytes("\xff\xff\x01", 3);
  opaque.encoding_without_sequence = opaque_bytes;
  const std::vector<std::shared_ptr<StoredEvent>> old = {
      MakeIngested(7), MakeWebhook("from v2"), StoredEvent::FromParts(opaque)};
  std::vector<std::vector<SqlValue>> rows;
  std::vector<std::string> written;
  for (std::size_t i = 0; i < old.size(); ++i) {
    const StoredEvent& event = *old[i];
    rows.push_back(
        {static_cast<std::int64_t>(10 + i), event.receive_time_micros(),
         std::string(event.event_type()), std::string(event.project_id()),
         std::string(event.workflow_id()),
         std::string(event.workflow_execution_id()),
         std::string(event.encoding_without_sequence())});
    if (event.has_replay_digest()) {
      const ReplayDigest& digest = event.replay_digest();
      rows.back().push_back(std::string(digest.begin(), digest.end()));
    } else {
      rows.back().push_back(nullptr);
    }
    written.push_back(Encoded(*event.WithSequence(10 + i)));
  }
  ASSERT_THAT(InsertRows(path(),
                         "INSERT INTO events VALUES (?1, ?2, ?3, ?4, ?5, ?6, "
                         "?7, ?8)",
                         rows),
              IsOk());

  for (int open = 0; open < 2; ++open) {
    SCOPED_TRACE(open == 0 ? "migrating" : "migrated");
    auto log = Open();
    ASSERT_NE(log, nullptr);
    EXPECT_EQ(log->Range().oldest, 10u);
    EXPECT_EQ(log->FindReplay(ComputeReplayDigest("default", UniqueBody(7))),
              10u);
    EXPECT_EQ(log->FindReplay(DigestOf("from v2")), 11u);
    EXPECT_EQ(log->replay_digests(), 2u + open);
    std::vector<EventPtr> events = ReadAll(*log, 9);
    ASSERT_EQ(events.size(), 3u + open);
    for (std::size_t i = 0; i < old.size(); ++i) {
      SCOPED_TRACE(i);
      EXPECT_EQ(Encoded(*events[i]), written[i]);
      EXPECT_EQ(events[i]->event_type(), old[i]->event_type());
      EXPECT_EQ(events[i]->receive_time_micros(),
                old[i]->receive_time_micros());
    }
    EXPECT_EQ(events[2]->event_type(), "");
    EXPECT_FALSE(events[2]->has_replay_digest());
    if (open == 0) {
      absl::StatusOr<EventPtr> next = AppendAndWait(*log, MakeIngested(8));
      ASSERT_THAT(next, IsOk());
      EXPECT_EQ((*next)->sequence(), 13u);
      written.push_back(Encoded(**next));
    } else {
      EXPECT_EQ(Encoded(*events[3]), written[3]);
    }
    EXPECT_EQ(log->FindReplay(ComputeReplayDigest("default", UniqueBody(8))),
              13u);
  }
  // The new event went into the migrated table lean.
  EXPECT_THAT(SqlRows(path(),
                      "SELECT event_type, length(event), length(body), "
                      "(SELECT user_version FROM pragma_user_version) FROM "
                      "events WHERE sequence = 13"),
              ElementsAre(absl::StrCat("|0|", UniqueBody(8).size(), "|3")));
}

}  // namespace
}  // namespace paradym::webhooks
