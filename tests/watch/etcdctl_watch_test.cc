// Debian's etcdctl 3.4 against the Watch service (in-process, in-memory history): key, --prefix, --rev,
// --prev-kv, interactive mode and the compaction message. The lead's end-to-end tests repeat these
// through cairnd once the service is wired.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "server/watch/watch_service.h"
#include "tests/watch/fake_history.h"

namespace cairn::watch {
namespace {

using testing::FakeHistory;
using testing::TestWriter;

constexpr char kEtcdctl[] = "/usr/bin/etcdctl";

// One etcdctl process with pipes to its stdin and stdout (stderr joins stdout). Killed on destruction.
class Etcdctl {
 public:
  explicit Etcdctl(std::vector<std::string> args) {
    int in[2], out[2];
    if (pipe(in) != 0 || pipe(out) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(in[0], 0);
      dup2(out[1], 1);
      dup2(out[1], 2);
      close(in[1]);
      close(out[0]);
      std::vector<char*> argv;
      argv.push_back(const_cast<char*>(kEtcdctl));
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      setenv("ETCDCTL_API", "3", 1);
      execv(kEtcdctl, argv.data());
      _exit(127);
    }
    close(in[0]);
    close(out[1]);
    stdin_ = in[1];
    stdout_ = out[0];
  }
  ~Etcdctl() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
    }
    if (stdin_ >= 0) close(stdin_);
    if (stdout_ >= 0) close(stdout_);
  }

  void Write(const std::string& text) { ASSERT_EQ(write(stdin_, text.data(), text.size()), ssize_t(text.size())); }

  // Lines printed so far, waiting until there are at least `n` (or the output ends, or a generous limit).
  std::vector<std::string> Lines(size_t n) {
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (lines_.size() < n && !eof_ && std::chrono::steady_clock::now() < give_up) {
      pollfd pfd{stdout_, POLLIN, 0};
      if (poll(&pfd, 1, 100) <= 0) continue;
      char buf[4096];
      ssize_t got = read(stdout_, buf, sizeof(buf));
      if (got <= 0) {
        eof_ = true;
        break;
      }
      partial_.append(buf, static_cast<size_t>(got));
      for (size_t nl; (nl = partial_.find('\n')) != std::string::npos;) {
        lines_.push_back(partial_.substr(0, nl));
        partial_.erase(0, nl + 1);
      }
    }
    return lines_;
  }

 private:
  pid_t pid_ = -1;
  int stdin_ = -1;
  int stdout_ = -1;
  std::string partial_;
  std::vector<std::string> lines_;
  bool eof_ = false;
};

class EtcdctlWatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (access(kEtcdctl, X_OK) != 0) GTEST_SKIP() << "etcdctl not installed";
    hub_ = std::make_unique<WatchHub>(&history_, [](etcdserverpb::ResponseHeader* h) { h->set_cluster_id(1); });
    writer_ = std::make_unique<TestWriter>(&history_, hub_.get());
    service_ = std::make_unique<WatchService>(hub_.get());
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
  }
  void TearDown() override {
    if (server_ == nullptr) return;
    service_->Shutdown();
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
    server_->Wait();
    service_.reset();
    hub_->Shutdown();
  }
  std::string Endpoint() const { return "--endpoints=127.0.0.1:" + std::to_string(port_); }

  FakeHistory history_;
  std::unique_ptr<WatchHub> hub_;
  std::unique_ptr<TestWriter> writer_;
  std::unique_ptr<WatchService> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

using Lines = std::vector<std::string>;

TEST_F(EtcdctlWatchTest, KeyFromRevisionReplaysThenFollows) {
  writer_->Put("a", "1");  // rev 2
  writer_->Put("b", "x");
  writer_->Put("a", "2");  // rev 4
  Etcdctl ctl({Endpoint(), "watch", "--rev=2", "a"});
  EXPECT_EQ(ctl.Lines(6), (Lines{"PUT", "a", "1", "PUT", "a", "2"}));
  writer_->Put("a", "3");
  writer_->Delete("a");
  EXPECT_EQ(ctl.Lines(12), (Lines{"PUT", "a", "1", "PUT", "a", "2", "PUT", "a", "3", "DELETE", "a", ""}));
}

TEST_F(EtcdctlWatchTest, PrefixWithPrevKv) {
  writer_->Put("svc/x", "1");  // rev 2
  writer_->Put("other", "1");
  Etcdctl ctl({Endpoint(), "watch", "--prefix", "--prev-kv", "--rev=2", "svc/"});
  EXPECT_EQ(ctl.Lines(3), (Lines{"PUT", "svc/x", "1"}));
  writer_->Put("svc/x", "2");
  writer_->Delete("svc/x");
  EXPECT_EQ(ctl.Lines(13), (Lines{"PUT", "svc/x", "1", "PUT", "svc/x", "1", "svc/x", "2", "DELETE", "svc/x", "2",
                                  "svc/x", ""}));
}

TEST_F(EtcdctlWatchTest, Interactive) {
  writer_->Put("a", "1");  // rev 2
  writer_->Put("p/1", "x");
  Etcdctl ctl({Endpoint(), "watch", "-i"});
  ctl.Write("watch --rev=2 a\n");
  ctl.Write("watch --rev=2 --prefix p/\n");
  Lines lines = ctl.Lines(6);
  ASSERT_EQ(lines.size(), 6u);
  // Two independent watchers on one stream: each one's lines are in order; their relative order is free.
  std::sort(lines.begin(), lines.end());
  EXPECT_EQ(lines, (Lines{"1", "PUT", "PUT", "a", "p/1", "x"}));
}

TEST_F(EtcdctlWatchTest, CompactedRevisionIsReported) {
  for (int i = 0; i < 5; ++i) writer_->Put("a", std::to_string(i));  // revs 2..6
  writer_->Compact(5);
  Etcdctl ctl({Endpoint(), "watch", "--rev=2", "a"});
  Lines lines = ctl.Lines(1);
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines[0], "watch was canceled (etcdserver: mvcc: required revision has been compacted)");
}

}  // namespace
}  // namespace cairn::watch
