#include "tools/bench/histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace cairn::bench {
namespace {
// Each power of two is split into kSubBuckets linear buckets, so a bucket spans at most
// 1/kSubBuckets of its value.
constexpr int kSubBits = 7;
constexpr int kSubBuckets = 1 << kSubBits;
constexpr int kHalf = kSubBuckets / 2;
constexpr int kMaxShift = 64 - kSubBits;
constexpr int kBucketCount = (kMaxShift + 2) * kHalf;
}  // namespace

Histogram::Histogram() : buckets_(kBucketCount, 0) {}

int Histogram::IndexOf(uint64_t value) {
  const int msb = 63 - std::countl_zero(value | 1);
  const int shift = std::max(0, msb - (kSubBits - 1));
  const int mantissa = static_cast<int>(value >> shift);  // in [kHalf, kSubBuckets) once shifted
  return shift * kHalf + mantissa;
}

uint64_t Histogram::LowestOf(int index) {
  const int shift = index < kSubBuckets ? 0 : index / kHalf - 1;
  const uint64_t mantissa = index - shift * kHalf;
  return mantissa << shift;
}

uint64_t Histogram::HighestOf(int index) { return LowestOf(index + 1) - 1; }

void Histogram::Record(int64_t value) {
  if (value < 0) value = 0;
  ++buckets_[IndexOf(static_cast<uint64_t>(value))];
  ++count_;
  sum_ += value;
  min_ = std::min(min_, value);
  max_ = std::max(max_, value);
}

void Histogram::Merge(const Histogram& other) {
  for (size_t i = 0; i < buckets_.size(); ++i) buckets_[i] += other.buckets_[i];
  count_ += other.count_;
  sum_ += other.sum_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
}

int64_t Histogram::Percentile(double fraction) const {
  if (count_ == 0) return 0;
  const auto rank = static_cast<int64_t>(std::ceil(std::clamp(fraction, 0.0, 1.0) * count_));
  int64_t seen = 0;
  for (size_t i = 0; i < buckets_.size(); ++i) {
    seen += buckets_[i];
    if (seen >= std::max<int64_t>(rank, 1)) {
      // Report the middle of the bucket, but never outside what was actually recorded.
      const auto mid = static_cast<int64_t>((LowestOf(i) + HighestOf(i)) / 2);
      return std::clamp(mid, min_, max_);
    }
  }
  return max_;
}

std::vector<Histogram::Bin> Histogram::Coarse(int bins) const {
  std::vector<Bin> out;
  if (count_ == 0 || bins <= 0) return out;
  const double lo = std::max<double>(min_, 1);
  const double hi = std::max<double>(max_ + 1, lo + 1);
  const double step = std::pow(hi / lo, 1.0 / bins);
  double edge = lo;
  for (int b = 0; b < bins; ++b) {
    const double next = b + 1 == bins ? hi : edge * step;
    out.push_back({static_cast<int64_t>(edge), static_cast<int64_t>(next), 0});
    edge = next;
  }
  out.front().low = min_;
  for (size_t i = 0; i < buckets_.size(); ++i) {
    if (buckets_[i] == 0) continue;
    const auto mid = static_cast<double>((LowestOf(i) + HighestOf(i)) / 2);
    auto it = std::upper_bound(out.begin(), out.end(), mid,
                               [](double v, const Bin& bin) { return v < bin.high; });
    if (it == out.end()) --it;
    it->count += buckets_[i];
  }
  return out;
}

}  // namespace cairn::bench
