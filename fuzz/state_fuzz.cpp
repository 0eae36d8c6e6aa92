// The live state reader (`allot check --state`): parse the state, then prove
// the change from a fixed deployed policy to itself against it.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "compiler/sema/analyze.h"
#include "compiler/syntax/parser.h"
#include "compiler/verify/state.h"

using namespace allot;

namespace {

const char* kPolicy = R"(flavor gpu-8 { gpus = 8, cpu = 64, memory = 512GiB }
pool train-pool {
  type = dedicated
  purpose = training
  billing = subscription { term = 12mo }
  node n1 { flavor = gpu-8, expires = "2027-03-31" }
  node n2 { flavor = gpu-8, expires = "2027-03-31" }
}
priority training = 500
quota team on train-pool {
  gpu = 16
  quota a { gpu = 8 }
  quota b { gpu = 8 }
}
workspace ws on team {
  namespace ns { queue q { priority = training, accepts = [training] } }
}
)";

const model::Policy& deployed() {
  static const model::Policy policy = [] {
    SourceManager sources;
    DiagnosticSink sink;
    const FileId file = sources.add("deployed.allot", kPolicy);
    std::vector<ast::File> files;
    files.push_back(*syntax::parse(sources, file, sink));
    std::optional<model::Policy> p = sema::analyze(sources, files, sink);
    if (!p) __builtin_trap();
    return *p;
  }();
  return policy;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const model::Policy& policy = deployed();
  SourceManager sources;
  DiagnosticSink sink;
  const FileId file = sources.add("state.toml", std::string(reinterpret_cast<const char*>(data), size));
  std::optional<verify::LiveState> state = verify::parse_state(sources, file, "2026-06-01", sink);
  if (state) verify::check_change(policy, policy, *state, sink);
  return 0;
}
