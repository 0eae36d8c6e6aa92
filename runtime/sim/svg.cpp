#include "runtime/sim/svg.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace allot::runtime::sim {

std::string xml_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        // Control characters are not allowed in XML 1.0; drop them.
        if (static_cast<unsigned char>(c) >= 0x20 || c == '\t' || c == '\n') out += c;
    }
  }
  return out;
}

namespace {

constexpr double kWidth = 960, kHeight = 480;
constexpr double kLeft = 72, kRight = 230, kTop = 44, kBottom = 56;
constexpr double kPlotW = kWidth - kLeft - kRight, kPlotH = kHeight - kTop - kBottom;

// Twelve distinguishable colours (Tableau 10 plus two), then grey for "other".
constexpr const char* kPalette[] = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948",
                                    "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac", "#1f77b4", "#8c564b"};
constexpr std::size_t kPaletteSize = sizeof(kPalette) / sizeof(kPalette[0]);

std::string num(double v) { return fmt::format("{:.2f}", v); }

// A step of 1, 2 or 5 times a power of ten giving about `ticks` ticks.
double nice_step(double max, int ticks) {
  if (max <= 0) return 1;
  const double raw = max / ticks;
  const double p = std::pow(10.0, std::floor(std::log10(raw)));
  for (const double m : {1.0, 2.0, 5.0, 10.0})
    if (raw <= m * p) return m * p;
  return 10 * p;
}

std::string tick_label(double v) {
  if (std::fabs(v - std::round(v)) < 1e-9) return fmt::format("{}", static_cast<long long>(std::llround(v)));
  return fmt::format("{:.2g}", v);
}

void header(std::string& out, std::string_view title) {
  out += fmt::format(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" "
      "font-family=\"sans-serif\" font-size=\"12\">\n"
      "<title>{2}</title>\n"
      "<rect x=\"0\" y=\"0\" width=\"{0}\" height=\"{1}\" fill=\"#ffffff\"/>\n"
      "<text x=\"{3}\" y=\"24\" font-size=\"16\" font-weight=\"bold\">{2}</text>\n",
      kWidth, kHeight, xml_escape(title), kLeft);
}

// Horizontal grid lines with their labels on the left axis, for y in [0, y_max].
void y_grid(std::string& out, double y_max) {
  const double y_step = nice_step(y_max, 5);
  for (double v = 0; v <= y_max + 1e-9; v += y_step) {
    const double y = kTop + kPlotH - v / y_max * kPlotH;
    out += fmt::format("<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#e0e0e0\"/>\n", num(kLeft), num(y),
                       num(kLeft + kPlotW), num(y));
    out += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\n", num(kLeft - 6), num(y + 4),
                       tick_label(v));
  }
}

// Axes, grid and labels for x in [0, x_max] and y in [0, y_max].
void axes(std::string& out, double x_min, double x_max, double y_max, std::string_view x_label,
          std::string_view y_label) {
  y_grid(out, y_max);
  const double span = x_max - x_min;
  const double x_step = nice_step(span, 8);
  for (double v = std::ceil(x_min / x_step) * x_step; v <= x_max + 1e-9; v += x_step) {
    const double x = kLeft + (v - x_min) / span * kPlotW;
    out += fmt::format("<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#888888\"/>\n", num(x),
                       num(kTop + kPlotH), num(x), num(kTop + kPlotH + 5));
    out += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n", num(x), num(kTop + kPlotH + 18),
                       tick_label(v));
  }
  out += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" stroke=\"#333333\"/>\n", num(kLeft), num(kTop),
                     num(kTop + kPlotH));
  out += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\" stroke=\"#333333\"/>\n", num(kLeft),
                     num(kTop + kPlotH), num(kLeft + kPlotW));
  out += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n", num(kLeft + kPlotW / 2),
                     num(kHeight - 14), xml_escape(x_label));
  out += fmt::format("<text x=\"18\" y=\"{0}\" text-anchor=\"middle\" transform=\"rotate(-90 18 {0})\">{1}</text>\n",
                     num(kTop + kPlotH / 2), xml_escape(y_label));
}

void legend_entry(std::string& out, std::size_t row, std::string_view colour, std::string_view name, bool line,
                  double x_offset = 16) {
  const double x = kLeft + kPlotW + x_offset, y = kTop + 8 + static_cast<double>(row) * 18;
  if (line)
    out += fmt::format("<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{}\" stroke-width=\"2\"/>\n", num(x),
                       num(y + 5), num(x + 12), num(y + 5), colour);
  else
    out += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"12\" height=\"10\" fill=\"{}\"/>\n", num(x), num(y), colour);
  std::string shown(name);
  if (shown.size() > 30) shown = "…" + shown.substr(shown.size() - 29);
  out += fmt::format("<text x=\"{}\" y=\"{}\">{}</text>\n", num(x + 18), num(y + 10), xml_escape(shown));
}

}  // namespace

std::string render_area_chart(const AreaChart& chart) {
  std::string out;
  header(out, chart.title);
  const std::size_t n = chart.x_edges.size() < 2 ? 0 : chart.x_edges.size() - 1;
  std::vector<double> top(n, 0);
  double y_max = std::max(chart.reference, 0.0);
  for (const ChartSeries& s : chart.series)
    for (std::size_t i = 0; i < n && i < s.values.size(); ++i) top[i] += std::max(0.0, s.values[i]);
  for (double v : top) y_max = std::max(y_max, v);
  y_max = y_max <= 0 ? 1 : y_max * 1.05;
  const double x_min = n > 0 ? chart.x_edges.front() : 0;
  const double x_max = n > 0 && chart.x_edges.back() > x_min ? chart.x_edges.back() : x_min + 1;
  axes(out, x_min, x_max, y_max, chart.x_label, chart.y_label);
  auto px = [&](double x) { return kLeft + (x - x_min) / (x_max - x_min) * kPlotW; };
  auto py = [&](double y) { return kTop + kPlotH - y / y_max * kPlotH; };
  std::vector<double> base(n, 0);
  for (std::size_t k = 0; k < chart.series.size(); ++k) {
    const ChartSeries& s = chart.series[k];
    const char* colour = k < kPaletteSize ? kPalette[k] : "#999999";
    std::string points;
    for (std::size_t i = 0; i < n; ++i) {
      const double y = base[i] + (i < s.values.size() ? std::max(0.0, s.values[i]) : 0.0);
      points +=
          fmt::format("{},{} {},{} ", num(px(chart.x_edges[i])), num(py(y)), num(px(chart.x_edges[i + 1])), num(py(y)));
    }
    for (std::size_t i = n; i-- > 0;)
      points += fmt::format("{},{} {},{} ", num(px(chart.x_edges[i + 1])), num(py(base[i])), num(px(chart.x_edges[i])),
                            num(py(base[i])));
    if (!points.empty()) points.pop_back();
    out += fmt::format(
        "<polygon points=\"{}\" fill=\"{}\" fill-opacity=\"0.85\" stroke=\"none\"><title>{}</title></polygon>\n",
        points, colour, xml_escape(s.name));
    for (std::size_t i = 0; i < n; ++i) base[i] += i < s.values.size() ? std::max(0.0, s.values[i]) : 0.0;
    legend_entry(out, k, colour, s.name, false);
  }
  if (chart.reference >= 0) {
    out += fmt::format(
        "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#000000\" stroke-width=\"1.5\" "
        "stroke-dasharray=\"6 4\"/>\n",
        num(kLeft), num(py(chart.reference)), num(kLeft + kPlotW), num(py(chart.reference)));
    legend_entry(out, chart.series.size(), "#000000", chart.reference_label, true);
  }
  out += "</svg>\n";
  return out;
}

std::string render_line_chart(const LineChart& chart) {
  std::string out;
  header(out, chart.title);
  const std::size_t n = chart.x.size();
  double y_max = 0;
  for (const LineSeries& s : chart.series) {
    for (double v : s.values) y_max = std::max(y_max, v);
    for (double v : s.high) y_max = std::max(y_max, v);
  }
  y_max = y_max <= 0 ? 1 : y_max * 1.05;
  const double x_min = n > 0 ? chart.x.front() : 0;
  const double x_max = n > 1 && chart.x.back() > x_min ? chart.x.back() : x_min + 1;
  axes(out, x_min, x_max, y_max, chart.x_label, chart.y_label);
  auto px = [&](double x) { return kLeft + (x - x_min) / (x_max - x_min) * kPlotW; };
  auto py = [&](double y) { return kTop + kPlotH - std::max(0.0, y) / y_max * kPlotH; };
  for (std::size_t k = 0; k < chart.series.size(); ++k) {
    const LineSeries& s = chart.series[k];
    const char* colour = k < kPaletteSize ? kPalette[k] : "#999999";
    if (s.low.size() == n && s.high.size() == n && n > 0) {
      std::string band;
      for (std::size_t i = 0; i < n; ++i) band += fmt::format("{},{} ", num(px(chart.x[i])), num(py(s.high[i])));
      for (std::size_t i = n; i-- > 0;) band += fmt::format("{},{} ", num(px(chart.x[i])), num(py(s.low[i])));
      band.pop_back();
      out += fmt::format("<polygon points=\"{}\" fill=\"{}\" fill-opacity=\"0.2\" stroke=\"none\"/>\n", band, colour);
    }
    std::string points;
    for (std::size_t i = 0; i < n && i < s.values.size(); ++i)
      points += fmt::format("{},{} ", num(px(chart.x[i])), num(py(s.values[i])));
    if (!points.empty()) points.pop_back();
    out += fmt::format(
        "<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\"><title>{}</title></polyline>\n", points,
        colour, xml_escape(s.name));
    legend_entry(out, k, colour, s.name, false);
  }
  out += "</svg>\n";
  return out;
}

std::string render_histogram(const HistogramChart& chart) {
  std::string out;
  header(out, chart.title);
  const std::size_t n = chart.bins.size();
  double y_max = 0;
  for (double c : chart.counts) y_max = std::max(y_max, c);
  y_max = y_max <= 0 ? 1 : y_max * 1.1;
  y_grid(out, y_max);
  for (int pct = 0; pct <= 100; pct += 25) {  // right axis: cumulative share
    const double y = kTop + kPlotH - pct / 100.0 * kPlotH;
    out += fmt::format("<text x=\"{}\" y=\"{}\">{}%</text>\n", num(kLeft + kPlotW + 6), num(y + 4), pct);
  }
  const double slot = n > 0 ? kPlotW / static_cast<double>(n) : kPlotW;
  std::string cdf;
  for (std::size_t i = 0; i < n; ++i) {
    const double c = i < chart.counts.size() ? chart.counts[i] : 0;
    const double h = c / y_max * kPlotH;
    const double x = kLeft + static_cast<double>(i) * slot;
    out += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\"><title>{}: {}</title></rect>\n",
                       num(x + slot * 0.1), num(kTop + kPlotH - h), num(slot * 0.8), num(h), kPalette[0],
                       xml_escape(chart.bins[i]), tick_label(c));
    out += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n", num(x + slot / 2),
                       num(kTop + kPlotH + 18), xml_escape(chart.bins[i]));
    const double share = i < chart.cumulative.size() ? chart.cumulative[i] : 0;
    cdf += fmt::format("{},{} ", num(x + slot / 2), num(kTop + kPlotH - share * kPlotH));
  }
  if (!cdf.empty()) {
    cdf.pop_back();
    out += fmt::format("<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\"/>\n", cdf, kPalette[1]);
  }
  out += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" stroke=\"#333333\"/>\n", num(kLeft), num(kTop),
                     num(kTop + kPlotH));
  out += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\" stroke=\"#333333\"/>\n", num(kLeft),
                     num(kTop + kPlotH), num(kLeft + kPlotW));
  out += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n", num(kLeft + kPlotW / 2),
                     num(kHeight - 14), xml_escape(chart.x_label));
  out += fmt::format("<text x=\"18\" y=\"{0}\" text-anchor=\"middle\" transform=\"rotate(-90 18 {0})\">{1}</text>\n",
                     num(kTop + kPlotH / 2), xml_escape(chart.y_label));
  legend_entry(out, 0, kPalette[0], "jobs per bin", false, 56);
  legend_entry(out, 1, kPalette[1], "cumulative share", true, 56);
  out += "</svg>\n";
  return out;
}

}  // namespace allot::runtime::sim
