#include "server/metrics/registry.h"

#include <cmath>
#include <cstdio>

#include "absl/strings/str_cat.h"

namespace cairn::metrics {

Histogram::Histogram(std::vector<double> upper_bounds)
    : bounds_(std::move(upper_bounds)), buckets_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  for (size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0, std::memory_order_relaxed);
}

void Histogram::Observe(double value) {
  size_t i = 0;
  while (i < bounds_.size() && value > bounds_[i]) ++i;  // a dozen bounds: a scan beats a search
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  double sum = sum_.load(std::memory_order_relaxed);
  while (!sum_.compare_exchange_weak(sum, sum + value, std::memory_order_relaxed)) {
  }
}

Histogram::Snapshot Histogram::Read() const {
  Snapshot s;
  s.upper_bounds = bounds_;
  s.cumulative.resize(bounds_.size() + 1);
  uint64_t running = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    running += buckets_[i].load(std::memory_order_relaxed);
    s.cumulative[i] = running;
  }
  s.count = running;
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

std::vector<double> ExponentialBuckets(double start, double factor, int count) {
  std::vector<double> bounds;
  double b = start;
  for (int i = 0; i < count; ++i, b *= factor) bounds.push_back(b);
  return bounds;
}

std::string EscapeLabelValue(const std::string& value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string EscapeHelp(const std::string& help) {
  std::string out;
  for (char c : help) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string FormatValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  // Integers print exactly (counters past 2^53 lose nothing they had as doubles anyway).
  if (value == std::floor(value) && std::fabs(value) < 1e15) {
    return absl::StrCat(static_cast<int64_t>(value));
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.17g", value);
  // Prefer the shortest form that reads back to the same double.
  for (int precision = 1; precision < 17; ++precision) {
    char shorter[32];
    std::snprintf(shorter, sizeof(shorter), "%.*g", precision, value);
    if (std::strtod(shorter, nullptr) == value) return shorter;
  }
  return buf;
}

namespace {

const char* TypeName(MetricType type) {
  switch (type) {
    case MetricType::kCounter: return "counter";
    case MetricType::kGauge: return "gauge";
    case MetricType::kHistogram: return "histogram";
  }
  return "untyped";
}

// `extra` (the histogram's le) goes last, as Prometheus' clients print it.
void AppendLabels(std::string* out, const Labels& labels, const char* extra_name = nullptr,
                  const std::string& extra_value = "") {
  if (labels.empty() && extra_name == nullptr) return;
  out->push_back('{');
  bool first = true;
  for (const auto& [name, value] : labels) {
    if (!first) out->push_back(',');
    first = false;
    absl::StrAppend(out, name, "=\"", EscapeLabelValue(value), "\"");
  }
  if (extra_name != nullptr) {
    if (!first) out->push_back(',');
    absl::StrAppend(out, extra_name, "=\"", extra_value, "\"");
  }
  out->push_back('}');
}

void AppendSample(std::string* out, const std::string& name, const Labels& labels, double value) {
  out->append(name);
  AppendLabels(out, labels);
  absl::StrAppend(out, " ", FormatValue(value), "\n");
}

class TextSink final : public SampleSink {
 public:
  TextSink(std::string* out, const std::string& name) : out_(out), name_(name) {}
  void Add(const Labels& labels, double value) override { AppendSample(out_, name_, labels, value); }

 private:
  std::string* out_;
  const std::string& name_;
};

}  // namespace

Registry::Series* Registry::NewSeries(const std::string& name, const std::string& help, MetricType type,
                                      Labels labels) {
  auto [it, inserted] = families_.try_emplace(name);
  if (inserted) {
    it->second.help = help;
    it->second.type = type;
  }
  it->second.series.push_back(std::make_unique<Series>());
  Series* s = it->second.series.back().get();
  s->labels = std::move(labels);
  return s;
}

Counter* Registry::AddCounter(const std::string& name, const std::string& help, Labels labels) {
  std::lock_guard<std::mutex> lock(mu_);
  Series* s = NewSeries(name, help, MetricType::kCounter, std::move(labels));
  s->counter = std::make_unique<Counter>();
  return s->counter.get();
}

Gauge* Registry::AddGauge(const std::string& name, const std::string& help, Labels labels) {
  std::lock_guard<std::mutex> lock(mu_);
  Series* s = NewSeries(name, help, MetricType::kGauge, std::move(labels));
  s->gauge = std::make_unique<Gauge>();
  return s->gauge.get();
}

Histogram* Registry::AddHistogram(const std::string& name, const std::string& help, std::vector<double> upper_bounds,
                                  Labels labels) {
  std::lock_guard<std::mutex> lock(mu_);
  Series* s = NewSeries(name, help, MetricType::kHistogram, std::move(labels));
  s->histogram = std::make_unique<Histogram>(std::move(upper_bounds));
  return s->histogram.get();
}

void Registry::AddFunction(const std::string& name, const std::string& help, MetricType type,
                           std::function<double()> read, Labels labels) {
  std::lock_guard<std::mutex> lock(mu_);
  NewSeries(name, help, type, std::move(labels))->read = std::move(read);
}

void Registry::AddCollector(const std::string& name, const std::string& help, MetricType type,
                            std::function<void(SampleSink*)> collect) {
  std::lock_guard<std::mutex> lock(mu_);
  auto [it, inserted] = families_.try_emplace(name);
  if (inserted) {
    it->second.help = help;
    it->second.type = type;
  }
  it->second.collectors.push_back(std::move(collect));
}

std::string Registry::Render() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out;
  out.reserve(64 << 10);
  for (const auto& [name, family] : families_) {
    absl::StrAppend(&out, "# HELP ", name, " ", EscapeHelp(family.help), "\n# TYPE ", name, " ",
                    TypeName(family.type), "\n");
    for (const auto& s : family.series) {
      if (s->histogram != nullptr) {
        const Histogram::Snapshot snap = s->histogram->Read();
        const std::string bucket = name + "_bucket";
        for (size_t i = 0; i < snap.upper_bounds.size(); ++i) {
          out.append(bucket);
          AppendLabels(&out, s->labels, "le", FormatValue(snap.upper_bounds[i]));
          absl::StrAppend(&out, " ", snap.cumulative[i], "\n");
        }
        out.append(bucket);
        AppendLabels(&out, s->labels, "le", "+Inf");
        absl::StrAppend(&out, " ", snap.count, "\n");
        AppendSample(&out, name + "_sum", s->labels, snap.sum);
        AppendSample(&out, name + "_count", s->labels, static_cast<double>(snap.count));
      } else if (s->counter != nullptr) {
        AppendSample(&out, name, s->labels, static_cast<double>(s->counter->value()));
      } else if (s->gauge != nullptr) {
        AppendSample(&out, name, s->labels, static_cast<double>(s->gauge->value()));
      } else if (s->read) {
        AppendSample(&out, name, s->labels, s->read());
      }
    }
    for (const auto& collect : family.collectors) {
      TextSink sink(&out, name);
      collect(&sink);
    }
  }
  return out;
}

}  // namespace cairn::metrics
