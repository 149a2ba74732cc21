#include "tools/ctl/progress_bar.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "tools/ctl/go_format.h"

namespace cairn::ctl {
namespace {

constexpr auto kRefresh = std::chrono::milliseconds(200);

// pb asks the controlling terminal (or stdin when there is none) for its width; 0 when neither
// is a terminal.
int TerminalWidth() {
  int fd = ::open("/dev/tty", O_RDONLY | O_CLOEXEC);
  winsize ws{};
  int rc = ::ioctl(fd >= 0 ? fd : STDIN_FILENO, TIOCGWINSZ, &ws);
  if (fd >= 0) ::close(fd);
  return rc == 0 ? ws.ws_col : 0;
}

// Every piece of the line is ASCII, so characters are bytes.
int Width(const std::string& s) { return static_cast<int>(s.size()); }

}  // namespace

std::string PbDuration(std::chrono::nanoseconds d) {
  using std::chrono::hours;
  std::string out;
  if (d > hours(24)) {
    out = absl::StrCat(d / hours(24), "d");
    d -= (d / hours(24)) * hours(24);
  }
  if (d > hours(1)) {
    absl::StrAppend(&out, d / hours(1), "h");
    d -= (d / hours(1)) * hours(1);
  }
  int64_t m = d / std::chrono::minutes(1);
  d -= m * std::chrono::minutes(1);
  int64_t s = d / std::chrono::seconds(1);
  return absl::StrFormat("%s%02dm%02ds", out, m, s);
}

std::string ProgressBar::Render(int64_t total, int64_t current, int width, bool finished,
                                std::chrono::nanoseconds since_start, std::chrono::nanoseconds start_to_change,
                                std::chrono::nanoseconds since_change) {
  using std::chrono::nanoseconds;
  using std::chrono::seconds;
  double percent = total > 0 ? static_cast<double>(current) / (static_cast<double>(total) / 100.0)
                             : static_cast<double>(current) / 100.0;
  std::string percent_box = absl::StrFormat(" %6.02f%%", percent);
  std::string counters_box = total > 0 ? absl::StrFormat(" %d / %d ", current, total) : absl::StrFormat(" %d / ? ", current);
  std::string time_box;
  if (finished) {
    time_box = " " + GoDurationString(nanoseconds((since_start / seconds(1)) * seconds(1)).count());
  } else if (current > 0) {
    nanoseconds per_entry = start_to_change / current;
    nanoseconds left = total > 0 ? (total - current) * per_entry - since_change : current * per_entry;
    left = (left / seconds(1)) * seconds(1);
    if (left > nanoseconds(0)) time_box = " " + PbDuration(left);
  }
  std::string bar;
  int size = width - Width(counters_box + "[]" + percent_box + time_box);
  if (size > 0 && total > 0) {
    int cur = static_cast<int>(std::ceil(static_cast<double>(current) / static_cast<double>(total) * size));
    int empty = std::max(0, size - cur);
    cur = std::min(cur, size);
    bar = "[";
    if (empty <= 0) {
      bar += std::string(static_cast<size_t>(cur), '=');
    } else if (cur > 0) {
      bar += std::string(static_cast<size_t>(cur - 1), '=') + ">";
    }
    bar += std::string(static_cast<size_t>(empty), '-') + "]";
  }
  std::string out = counters_box + bar + percent_box + time_box;
  if (Width(out) < width) out += std::string(static_cast<size_t>(width - Width(out)), ' ');
  return out;
}

ProgressBar::~ProgressBar() {
  {
    std::lock_guard<std::mutex> l(mu_);
    finished_ = true;
  }
  cv_.notify_all();
  if (refresher_.joinable()) refresher_.join();
}

void ProgressBar::Start() {
  start_ = changed_ = Clock::now();
  Update();
  refresher_ = std::thread([this] {
    std::unique_lock<std::mutex> l(mu_);
    while (!finished_) {
      if (cv_.wait_for(l, kRefresh, [this] { return finished_; })) break;
      l.unlock();
      Update();
      l.lock();
    }
  });
}

void ProgressBar::Update() {
  {
    std::lock_guard<std::mutex> l(mu_);
    int64_t c = current_.load();
    if (c != previous_) {
      changed_ = Clock::now();
      previous_ = c;
    }
  }
  Draw(false);
}

void ProgressBar::Draw(bool finished) {
  std::lock_guard<std::mutex> l(mu_);
  if (finished_ && !finished) return;
  auto now = Clock::now();
  std::string line = Render(total_, current_.load(), TerminalWidth(), finished, now - start_, changed_ - start_,
                            now - changed_);
  std::fputs(("\r" + line).c_str(), stdout);
  std::fflush(stdout);
}

void ProgressBar::Finish() {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (finished_) return;
    finished_ = true;
  }
  cv_.notify_all();
  if (refresher_.joinable()) refresher_.join();
  Draw(true);
  std::fputs("\n", stdout);
  std::fflush(stdout);
}

}  // namespace cairn::ctl
