// Self-contained SVG charts (no scripts, no external fonts or styles) that a
// browser opens directly: stacked areas over time and a histogram with a
// cumulative line. Output is deterministic (fixed number formatting).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace allot::runtime::sim {

std::string xml_escape(std::string_view text);

struct ChartSeries {
  std::string name;
  std::vector<double> values;  // one per interval
};

// Series stacked over intervals [x_edges[i], x_edges[i+1]), drawn as steps.
struct AreaChart {
  std::string title;
  std::string x_label;
  std::string y_label;
  std::vector<double> x_edges;  // size = intervals + 1, ascending
  std::vector<ChartSeries> series;
  double reference = -1;  // a horizontal line (e.g. capacity) when >= 0
  std::string reference_label;
};
std::string render_area_chart(const AreaChart& chart);

// Bars per bin (counts, left axis) and the cumulative share (0..1, right axis).
struct HistogramChart {
  std::string title;
  std::string x_label;
  std::string y_label;
  std::vector<std::string> bins;
  std::vector<double> counts;
  std::vector<double> cumulative;
};
std::string render_histogram(const HistogramChart& chart);

// Lines over a shared x axis, each with an optional band (low..high) drawn
// behind it, for a mean and its spread over repeated runs.
struct LineSeries {
  std::string name;
  std::vector<double> values;     // one per x
  std::vector<double> low, high;  // empty, or one per x
};
struct LineChart {
  std::string title;
  std::string x_label;
  std::string y_label;
  std::vector<double> x;  // ascending
  std::vector<LineSeries> series;
};
std::string render_line_chart(const LineChart& chart);

}  // namespace allot::runtime::sim
