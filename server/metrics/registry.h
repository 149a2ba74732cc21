// cairn::metrics — counters, gauges and fixed-bucket histograms, rendered in the Prometheus text
// exposition format 0.0.4 (# HELP / # TYPE, histograms as _bucket{le=...} / _sum / _count).
//
// Ownership: one Registry per member. It owns every metric registered on it; the pointers it hands
// out stay valid for the registry's life. Whoever owns a quantity updates its metric (or keeps its own
// counter and registers a function that reads it); the HTTP endpoint only calls Render().
//
// Thread safety: Counter/Gauge/Histogram updates are lock-free relaxed atomics, callable from any
// thread on the hot path (no allocation, no lock, no clock). Registration and Render() take the
// registry's mutex: register at start-up (or rarely), never per request. Functions given to
// AddFunction/AddCollector run under that mutex on the scraping thread: they must be thread-safe
// with respect to their sources and must not call back into the registry.
//
// Errors: registering the same name twice with a different type or help is a programming error; the
// second registration's series join the first family (its help and type win).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace cairn::metrics {

// Label pairs in the order they are printed (callers pass them sorted by name, as Prometheus'
// clients print them).
using Labels = std::vector<std::pair<std::string, std::string>>;

class Counter {
 public:
  void Inc() { value_.fetch_add(1, std::memory_order_relaxed); }
  void Add(uint64_t n) { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

class Gauge {
 public:
  void Set(int64_t v) { value_.store(v, std::memory_order_relaxed); }
  void Add(int64_t n) { value_.fetch_add(n, std::memory_order_relaxed); }
  int64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> value_{0};
};

// Observations fall in the first bucket whose upper bound is >= the value (Prometheus' `le`).
class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);
  void Observe(double value);

  struct Snapshot {
    std::vector<double> upper_bounds;
    std::vector<uint64_t> cumulative;  // one per bound, then +Inf (== count)
    double sum = 0;
    uint64_t count = 0;
  };
  // Consistent enough for monitoring: taken bucket by bucket while observations may land.
  Snapshot Read() const;

 private:
  const std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // bounds_.size() + 1 (the last is +Inf)
  std::atomic<double> sum_{0};
};

// `count` bounds starting at `start`, each `factor` times the previous (Prometheus' ExponentialBuckets).
std::vector<double> ExponentialBuckets(double start, double factor, int count);

enum class MetricType { kCounter, kGauge, kHistogram };

// Receives the series a collector produces at scrape time.
class SampleSink {
 public:
  virtual ~SampleSink() = default;
  virtual void Add(const Labels& labels, double value) = 0;
};

class Registry {
 public:
  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  Counter* AddCounter(const std::string& name, const std::string& help, Labels labels = {});
  Gauge* AddGauge(const std::string& name, const std::string& help, Labels labels = {});
  Histogram* AddHistogram(const std::string& name, const std::string& help, std::vector<double> upper_bounds,
                          Labels labels = {});
  // A counter or gauge whose value is read at scrape time (a quantity another module already keeps).
  void AddFunction(const std::string& name, const std::string& help, MetricType type, std::function<double()> read,
                   Labels labels = {});
  // Series whose label sets are only known at scrape time (one per peer, say).
  void AddCollector(const std::string& name, const std::string& help, MetricType type,
                    std::function<void(SampleSink*)> collect);

  // Families in name order; within a family, series in registration order.
  std::string Render() const;

 private:
  struct Series {
    Labels labels;
    std::unique_ptr<Counter> counter;
    std::unique_ptr<Gauge> gauge;
    std::unique_ptr<Histogram> histogram;
    std::function<double()> read;
  };
  struct Family {
    std::string help;
    MetricType type;
    std::vector<std::unique_ptr<Series>> series;
    std::vector<std::function<void(SampleSink*)>> collectors;
  };
  Series* NewSeries(const std::string& name, const std::string& help, MetricType type, Labels labels);

  mutable std::mutex mu_;
  std::map<std::string, Family> families_;
};

// Formatting helpers, exposed for tests and for callers that build label values.
std::string EscapeLabelValue(const std::string& value);  // backslash, double quote, newline
std::string EscapeHelp(const std::string& help);         // backslash, newline
std::string FormatValue(double value);                   // Go's strconv 'g'-like, +Inf/-Inf/NaN

}  // namespace cairn::metrics
