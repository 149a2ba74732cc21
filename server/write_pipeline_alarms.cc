// WritePipeline: the replicated alarm set it owns (server/alarms): loaded with the store, changed
// only by applied Alarm entries (ApplyChecked), published for the gRPC threads, and the NOSPACE
// alarm this member raises for itself.
#include <cstdio>
#include <memory>

#include "server/write_pipeline.h"

namespace cairn::server {

AlarmSet WritePipeline::Alarms() const {
  std::lock_guard<std::mutex> lock(alarms_mu_);
  return published_alarms_;
}

void WritePipeline::RaiseNoSpace(std::function<void()> done) {
  const uint64_t self = options_.header.member_id;
  if ((NoSpaceAlarm() && Alarms().Contains(self, etcdserverpb::NOSPACE)) || nospace_raise_in_flight_.exchange(true)) {
    if (done) done();
    return;
  }
  PendingWrite write;
  *write.request.mutable_alarm() = AlarmActivation(self, etcdserverpb::NOSPACE);
  auto response = std::make_shared<etcdserverpb::AlarmResponse>();
  write.response = response.get();
  write.done = [this, response, done = std::move(done)](absl::Status status) {
    if (!status.ok()) std::fprintf(stderr, "cairnd: raising the NOSPACE alarm failed: %s\n", status.ToString().c_str());
    nospace_raise_in_flight_ = false;
    if (done) done();
  };
  Submit(std::move(write));
}

absl::Status WritePipeline::LoadAlarms() {
  auto blob = store_->Alarms();
  if (!blob.ok()) return blob.status();
  auto set = AlarmSet::Decode(*blob);
  if (!set.ok()) return set.status();
  alarms_ = std::move(*set);
  PublishAlarms();
  return absl::OkStatus();
}

void WritePipeline::PublishAlarms() {
  {
    std::lock_guard<std::mutex> lock(alarms_mu_);
    published_alarms_ = alarms_;
  }
  alarm_mask_.store(alarms_.ActiveMask(), std::memory_order_release);
}

}  // namespace cairn::server
