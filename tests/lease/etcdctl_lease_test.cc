// Debian's etcdctl 3.4 against the in-process Lease service: the lease verbs an operator uses, with
// etcdctl's own output formatting of our answers. Skips when etcdctl is not installed.
#include <gtest/gtest.h>
#include <stdio.h>
#include <unistd.h>

#include <cinttypes>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "tests/lease/service_fixture.h"

namespace cairn::lease {
namespace {

using testing::LeaseServiceTest;

class EtcdctlLeaseTest : public LeaseServiceTest {
 protected:
  void SetUp() override {
    if (access("/usr/bin/etcdctl", X_OK) != 0) GTEST_SKIP() << "etcdctl not installed";
    LeaseServiceTest::SetUp();
  }

  // Runs etcdctl with `args`; returns stdout+stderr and sets *exit_code.
  std::string Etcdctl(const std::string& args, int* exit_code = nullptr) {
    std::string command = absl::StrCat("ETCDCTL_API=3 timeout 30 /usr/bin/etcdctl --dial-timeout=5s --command-timeout=10s ",
                                       "--endpoints=127.0.0.1:", port_, " ", args, " 2>&1");
    FILE* pipe = popen(command.c_str(), "r");
    std::string out;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), pipe)) > 0) out.append(buf, n);
    int status = pclose(pipe);
    if (exit_code != nullptr) *exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return out;
  }

  static std::string Hex(int64_t id) { return absl::StrFormat("%016x", static_cast<uint64_t>(id)); }
};

TEST_F(EtcdctlLeaseTest, GrantTimeToLiveListKeepAliveRevoke) {
  std::string granted = Etcdctl("lease grant 10");
  uint64_t id = 0;
  ASSERT_EQ(sscanf(granted.c_str(), "lease %" SCNx64 " granted with TTL(10s)", &id), 1) << granted;
  const std::string hex = Hex(static_cast<int64_t>(id));
  EXPECT_EQ(granted, "lease " + hex + " granted with TTL(10s)\n");

  ASSERT_TRUE(log_->Put("/services/web/b", "x", static_cast<int64_t>(id)).ok());
  ASSERT_TRUE(log_->Put("/services/web/a", "y", static_cast<int64_t>(id)).ok());
  clock_.Advance(std::chrono::milliseconds(3500));
  EXPECT_EQ(Etcdctl("lease timetolive " + hex),
            "lease " + hex + " granted with TTL(10s), remaining(6s)\n");
  EXPECT_EQ(Etcdctl("lease timetolive --keys " + hex),
            "lease " + hex + " granted with TTL(10s), remaining(6s), attached keys([/services/web/a /services/web/b])\n");

  EXPECT_EQ(Etcdctl("lease list"), "found 1 leases\n" + hex + "\n");
  EXPECT_EQ(Etcdctl("lease keep-alive --once " + hex), "lease " + hex + " keepalived with TTL(10)\n");
  EXPECT_EQ(Etcdctl("lease timetolive " + hex), "lease " + hex + " granted with TTL(10s), remaining(10s)\n");

  EXPECT_EQ(Etcdctl("lease revoke " + hex), "lease " + hex + " revoked\n");
  EXPECT_TRUE(log_->Keys("/services/", "/services0").empty());
  EXPECT_EQ(Etcdctl("lease timetolive " + hex), "lease " + hex + " already expired\n");
  EXPECT_EQ(Etcdctl("lease list"), "found 0 leases\n");
}

// The same texts etcd 3.4's etcdctl prints against a real etcd (checked by hand side by side).
TEST_F(EtcdctlLeaseTest, MinimumTtlAndErrors) {
  std::string granted = Etcdctl("lease grant 1");
  EXPECT_NE(granted.find(" granted with TTL(2s)\n"), std::string::npos) << granted;

  int code = 0;
  std::string huge = Etcdctl("lease grant 9000000001", &code);
  EXPECT_NE(huge.find("Error: failed to grant lease (etcdserver: too large lease TTL)"), std::string::npos) << huge;
  EXPECT_NE(code, 0);

  std::string revoke = Etcdctl("lease revoke 1234", &code);
  EXPECT_NE(revoke.find("Error: failed to revoke lease (etcdserver: requested lease not found)"), std::string::npos)
      << revoke;
  EXPECT_NE(code, 0);

  // The server answers TTL 0; etcdctl turns that into the not-found error, as with etcd.
  std::string keep = Etcdctl("lease keep-alive --once 1234", &code);
  EXPECT_NE(keep.find("Error: etcdserver: requested lease not found"), std::string::npos) << keep;
  EXPECT_NE(code, 0);

  EXPECT_EQ(Etcdctl("lease timetolive 1234"), "lease 0000000000001234 already expired\n");
}

}  // namespace
}  // namespace cairn::lease
