// A latency histogram with bounded relative error (< 1 %), cheap enough to record every
// request: one bit scan and one increment, no allocation after construction.
//
// Thread safety: none. Each request loop owns one histogram and records into it from the
// callbacks of its own (never concurrent) requests; Merge() combines them at the end.
#ifndef CAIRN_TOOLS_BENCH_HISTOGRAM_H_
#define CAIRN_TOOLS_BENCH_HISTOGRAM_H_

#include <cstdint>
#include <vector>

namespace cairn::bench {

class Histogram {
 public:
  Histogram();

  void Record(int64_t value);  // negative values count as 0
  void Merge(const Histogram& other);

  int64_t count() const { return count_; }
  int64_t min() const { return count_ ? min_ : 0; }
  int64_t max() const { return max_; }
  double mean() const { return count_ ? static_cast<double>(sum_) / count_ : 0; }
  // The value below which `fraction` (0..1) of the recordings fall, within the bucket error.
  int64_t Percentile(double fraction) const;

  // Counts grouped into `bins` geometrically spaced ranges between min() and max(),
  // for printing. Each bin is [low, high).
  struct Bin {
    int64_t low;
    int64_t high;
    int64_t count;
  };
  std::vector<Bin> Coarse(int bins) const;

 private:
  static int IndexOf(uint64_t value);
  static uint64_t LowestOf(int index);
  static uint64_t HighestOf(int index);

  std::vector<int64_t> buckets_;
  int64_t count_ = 0;
  int64_t sum_ = 0;
  int64_t min_ = INT64_MAX;
  int64_t max_ = 0;
};

}  // namespace cairn::bench

#endif  // CAIRN_TOOLS_BENCH_HISTOGRAM_H_
