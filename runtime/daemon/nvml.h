// GPU discovery through NVML, loaded at run time (dlopen), so that allotd
// builds and runs without the NVIDIA driver. No NVML headers are needed.
#pragma once

#include <string>
#include <vector>

namespace allot::daemon {

struct GpuDevice {
  std::string name;  // e.g. "NVIDIA A100-SXM4-80GB"
  std::string uuid;  // e.g. "GPU-5f3c..."
};

struct GpuDiscovery {
  bool available = false;  // NVML loaded and initialised
  std::vector<GpuDevice> devices;
  std::string note;  // why NVML is not available, for the log
};

GpuDiscovery discover_gpus(const std::string& library = "libnvidia-ml.so.1");

// Does an NVML device name match the plan's gpu_model ("A100-80G")?
// Case-insensitive, ignoring non-alphanumerics: every token of the model
// must be a whole token of the name ("80g" also matches "80gb").
bool gpu_model_matches(const std::string& device_name, const std::string& plan_model);

}  // namespace allot::daemon
