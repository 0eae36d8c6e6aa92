// The JSON module on the local API's two typical documents: a submit request
// (parsed by allotd per request) and a `ps` reply of 1,000 jobs (dumped by
// allotd, parsed by the client). Prints the median of 7 rounds in
// microseconds per document (docs/benchmarks.md, "JSON").
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <variant>
#include <vector>

#include "json/json.h"

namespace {

template <class F>
double median_us(F f, int per_round) {
  std::vector<double> rounds;
  for (int r = 0; r < 7; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < per_round; ++i) f();
    rounds.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() /
                     per_round);
  }
  std::sort(rounds.begin(), rounds.end());
  return rounds[rounds.size() / 2];
}

}  // namespace

int main() {
  const std::string request =
      R"({"op":"submit","queue":"workspace-b/dlc/default-queue","gpu_milli":2000,"cpu_milli":4000,)"
      R"("memory_mib":16384,"kind":"training","priority":"training","command":["python","train.py","--epochs","10"],)"
      R"("cwd":"/home/bob/run","env":{"PATH":"/usr/bin:/bin","HOME":"/home/bob"}})";
  std::string ps = R"({"ok":true,"jobs":[)";
  for (int i = 0; i < 1000; ++i) {
    ps += (i ? "," : "") + std::string(R"({"id":)") + std::to_string(i) +
          R"(,"queue":"workspace-b/dlc/default-queue","user":"bob","uid":1000,"gid":1000,"groups":[1000,27],)"
          R"("kind":"training","state":"running","gpus":[0,1],"pid":12345,"command":["python","train.py"]})";
  }
  ps += "]}";
  std::size_t sink = 0;
  for (const std::string* doc : {&request, static_cast<const std::string*>(&ps)}) {
    const int n = doc == &request ? 20000 : 30;
    const double parse =
        median_us([&] { sink += std::get<allot::json::Value>(allot::json::parse(*doc)).as_object()->size(); }, n);
    const allot::json::Value value = std::get<allot::json::Value>(allot::json::parse(*doc));
    const double dump = median_us([&] { sink += value.dump().size(); }, n);
    std::printf("%-8s %7zu bytes: parse %9.2f us, dump %9.2f us\n", doc == &request ? "request" : "ps", doc->size(),
                parse, dump);
  }
  return sink == 0;
}
