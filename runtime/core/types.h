// Basic vocabulary of the scheduling core: identifiers, amounts, resource
// vectors. Plain values only; nothing here knows about the compiler.
#pragma once

#include <array>
#include <cstdint>
#include <limits>

namespace allot::runtime {

// Amounts are integers in a resource's base unit so that sums are exact:
// gpu and cpu in milli-units (0.5 GPU is 500), memory in MiB.
using Amount = std::int64_t;
inline constexpr Amount kUnlimited = std::numeric_limits<Amount>::max() / 4;
inline constexpr Amount kMilliPerGpu = 1000;

// Time is whatever the caller's clock says (milliseconds by convention). The
// core never reads a clock; it only orders and stores these values.
using Time = std::int64_t;

using JobId = std::uint64_t;
using ScopeId = std::uint32_t;     // index into Cluster::scopes
using NodeId = std::uint32_t;      // index into Cluster::nodes
using PriorityId = std::uint32_t;  // index into Cluster::priorities
inline constexpr std::uint32_t kNone = 0xffffffffu;

enum class Resource : std::uint8_t { gpu = 0, cpu = 1, memory = 2 };
inline constexpr std::array<Resource, 3> kAllResources = {Resource::gpu, Resource::cpu, Resource::memory};

// A request or a usage: one amount per resource.
struct Resources {
  Amount gpu_milli = 0;
  Amount cpu_milli = 0;
  Amount memory_mib = 0;

  Amount& operator[](Resource r) {
    return r == Resource::gpu ? gpu_milli : r == Resource::cpu ? cpu_milli : memory_mib;
  }
  Amount operator[](Resource r) const {
    return r == Resource::gpu ? gpu_milli : r == Resource::cpu ? cpu_milli : memory_mib;
  }
  Resources& operator+=(const Resources& o) {
    gpu_milli += o.gpu_milli;
    cpu_milli += o.cpu_milli;
    memory_mib += o.memory_mib;
    return *this;
  }
  Resources& operator-=(const Resources& o) {
    gpu_milli -= o.gpu_milli;
    cpu_milli -= o.cpu_milli;
    memory_mib -= o.memory_mib;
    return *this;
  }
  friend Resources operator+(Resources a, const Resources& b) { return a += b; }
  friend Resources operator-(Resources a, const Resources& b) { return a -= b; }
  friend bool operator==(const Resources&, const Resources&) = default;
};

const char* to_string(Resource r);

// A physical GPU: the `index`-th GPU of node `node`.
struct GpuRef {
  NodeId node = 0;
  std::uint32_t index = 0;
  friend bool operator==(const GpuRef&, const GpuRef&) = default;
  friend auto operator<=>(const GpuRef&, const GpuRef&) = default;
};

// A share of one GPU held by a job: 1000 milli for a whole GPU, less for a
// fractional job on a gpu_sharing queue.
struct GpuSlice {
  GpuRef gpu;
  Amount milli = kMilliPerGpu;
  friend bool operator==(const GpuSlice&, const GpuSlice&) = default;
};

}  // namespace allot::runtime
