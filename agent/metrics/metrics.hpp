// The agent's own counters, gauges and histograms, rendered as Prometheus text exposition
// 0.0.4 (SPEC §9). Sized for a single-threaded agent: a metric is a plain number, updating it
// is one add, and nothing here locks. Threading contract for everything in this header: one
// thread (the agent's io_context thread), or external synchronisation.
//
// Metrics are registered once (by name, help and label values) and then updated through the
// returned reference, which stays valid for the registry's lifetime, so the drain loop never
// looks anything up:
//
//   Counter& dropped = registry.counter("spanring_spans_dropped", "Spans dropped by the agent.",
//                                       {{"service", "llm-engine"}, {"reason", "queue_full"}});
//   dropped.inc(3);
//   → spanring_spans_dropped_total{service="llm-engine",reason="queue_full"} 3
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace spanring::agent {

// Label name/value pairs, rendered in the order given. The same names in another order are the
// same series.
using Labels = std::vector<std::pair<std::string, std::string>>;

// Seconds; from 5 ms (a local collector) to 10 s (the default export timeout).
inline constexpr std::array<double, 11> kExportLatencyBuckets = {
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

class Counter {
 public:
  void inc(std::uint64_t n = 1) noexcept { value_ += n; }
  // Mirrors a count kept elsewhere (a stage's own counters, read at scrape time): moves up to
  // `total`, never down, so the series stays a counter if the source restarts from zero.
  void mirror(std::uint64_t total) noexcept {
    if (total > value_) value_ = total;
  }
  std::uint64_t value() const noexcept { return value_; }

 private:
  std::uint64_t value_ = 0;
};

class Gauge {
 public:
  void set(double v) noexcept { value_ = v; }
  void add(double v) noexcept { value_ += v; }
  double value() const noexcept { return value_; }

 private:
  double value_ = 0;
};

class Histogram {
 public:
  // `bounds`: strictly increasing, finite upper bounds; +Inf is implicit.
  explicit Histogram(std::span<const double> bounds);

  // A value equal to a bound counts in that bucket (Prometheus `le` is inclusive). NaN counts
  // only in +Inf, and makes the sum NaN, as the Go client does.
  void observe(double v) noexcept;

  std::span<const double> bounds() const noexcept { return bounds_; }
  // Observations <= bounds()[i]; i == bounds().size() means +Inf, i.e. count().
  std::uint64_t cumulative_count(std::size_t i) const noexcept;
  std::uint64_t count() const noexcept { return count_; }
  double sum() const noexcept { return sum_; }

 private:
  std::vector<double> bounds_;
  std::vector<std::uint64_t> counts_;  // per bucket, not cumulative; last is (bound_max, +Inf)
  std::uint64_t count_ = 0;
  double sum_ = 0;
};

class Registry {
 public:
  Registry();
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Each returns the series for (name, labels), creating it at zero on first use; calling
  // again with the same arguments returns the same object. A counter's name gets "_total"
  // appended unless it already ends in it.
  //
  // Throws std::invalid_argument on a programming error: an invalid metric or label name
  // (SPEC §9), a repeated label name, a name registered before with another type, help text
  // or histogram bounds, or a histogram label named "le".
  Counter& counter(std::string_view name, std::string_view help, const Labels& labels = {});
  Gauge& gauge(std::string_view name, std::string_view help, const Labels& labels = {});
  // A counter whose value is a real number kept elsewhere (process_cpu_seconds_total): set() it
  // from its source, which only grows; rendered as a counter, with "_total" like counter().
  Gauge& real_counter(std::string_view name, std::string_view help, const Labels& labels = {});
  Histogram& histogram(std::string_view name, std::string_view help, const Labels& labels = {},
                       std::span<const double> bounds = kExportLatencyBuckets);

  // Appends the exposition of every metric: families in registration order, series in
  // registration order within a family. Ends in a newline unless nothing is registered.
  void render(std::string& out) const;
  std::string render() const;

 private:
  enum class Type { kCounter, kGauge, kHistogram, kRealCounter };
  struct Series {
    std::string label_text;  // escaped `a="x",b="y"`, rendered once at registration
    std::variant<Counter*, Gauge*, Histogram*> metric;  // the alternative matches Family::type
  };
  struct Family {
    std::string name;
    std::string help;
    Type type;
    std::vector<double> bounds;                    // histograms only
    std::vector<Series> series;                    // registration order
    std::map<std::string, std::size_t> by_labels;  // canonical (sorted) labels → series index
  };

  Series& find_or_add(Type type, std::string name, std::string_view help, const Labels& labels,
                    std::span<const double> bounds);

  // std::deque never moves its elements, so the references handed out stay valid.
  std::deque<Counter> counters_;
  std::deque<Gauge> gauges_;
  std::deque<Histogram> histograms_;
  std::vector<Family> families_;
  std::map<std::string, std::size_t, std::less<>> family_by_name_;
};

}  // namespace spanring::agent
