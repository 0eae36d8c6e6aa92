#include "runtime/daemon/nvml.h"

#include <dlfcn.h>

#include <algorithm>
#include <cctype>
#include <sstream>
#include <vector>

namespace allot::daemon {

namespace {

// The NVML ABI we use: nvmlReturn_t is an int (0 = success), nvmlDevice_t
// an opaque pointer.
using NvmlInit = int (*)();
using NvmlShutdown = int (*)();
using NvmlDeviceGetCount = int (*)(unsigned int*);
using NvmlDeviceGetHandleByIndex = int (*)(unsigned int, void**);
using NvmlDeviceGetString = int (*)(void*, char*, unsigned int);

std::string lowered_alnum_tokens(const std::string& s) {
  std::string out;
  for (char c : s) out += std::isalnum(static_cast<unsigned char>(c)) ? static_cast<char>(std::tolower(c)) : ' ';
  return out;
}

}  // namespace

GpuDiscovery discover_gpus(const std::string& library) {
  GpuDiscovery d;
  void* handle = ::dlopen(library.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char* why = ::dlerror();
    d.note = "NVML not available (" + std::string(why ? why : library) + ")";
    return d;
  }
  const auto init = reinterpret_cast<NvmlInit>(::dlsym(handle, "nvmlInit_v2"));
  const auto shutdown = reinterpret_cast<NvmlShutdown>(::dlsym(handle, "nvmlShutdown"));
  const auto count = reinterpret_cast<NvmlDeviceGetCount>(::dlsym(handle, "nvmlDeviceGetCount_v2"));
  const auto by_index = reinterpret_cast<NvmlDeviceGetHandleByIndex>(::dlsym(handle, "nvmlDeviceGetHandleByIndex_v2"));
  const auto get_name = reinterpret_cast<NvmlDeviceGetString>(::dlsym(handle, "nvmlDeviceGetName"));
  const auto get_uuid = reinterpret_cast<NvmlDeviceGetString>(::dlsym(handle, "nvmlDeviceGetUUID"));
  if (!init || !shutdown || !count || !by_index || !get_name || !get_uuid) {
    d.note = "NVML library " + library + " lacks a required function";
    ::dlclose(handle);
    return d;
  }
  if (const int rc = init(); rc != 0) {
    d.note = "nvmlInit_v2 failed with NVML error " + std::to_string(rc);
    ::dlclose(handle);
    return d;
  }
  unsigned int n = 0;
  if (const int rc = count(&n); rc != 0) {
    d.note = "nvmlDeviceGetCount_v2 failed with NVML error " + std::to_string(rc);
  } else {
    d.available = true;
    for (unsigned int i = 0; i < n && d.available; ++i) {
      void* device = nullptr;
      char name[256] = {};
      char uuid[256] = {};
      if (by_index(i, &device) != 0 || get_name(device, name, sizeof(name)) != 0 ||
          get_uuid(device, uuid, sizeof(uuid)) != 0) {
        d.available = false;
        d.note = "NVML could not describe GPU " + std::to_string(i);
        d.devices.clear();
        break;
      }
      d.devices.push_back({name, uuid});
    }
  }
  shutdown();
  ::dlclose(handle);
  return d;
}

bool gpu_model_matches(const std::string& device_name, const std::string& plan_model) {
  auto tokens = [](const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(lowered_alnum_tokens(text));
    for (std::string t; in >> t;) out.push_back(t);
    return out;
  };
  const std::vector<std::string> name = tokens(device_name);
  for (const std::string& token : tokens(plan_model)) {
    // Whole tokens only (`a10` is not `a100`); "80g" in a model also
    // matches "80gb" in a device name.
    const bool found =
        std::any_of(name.begin(), name.end(), [&](const std::string& n) { return n == token || n == token + "b"; });
    if (!found) return false;
  }
  return true;
}

}  // namespace allot::daemon
