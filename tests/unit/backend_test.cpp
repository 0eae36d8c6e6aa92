// Unit tests of the backends' name mapping and host lists.
#include <catch2/catch.hpp>
#include <string>

#include "compiler/backend/kueue.h"
#include "compiler/backend/slurm.h"

using allot::backend::dns_name;
using allot::backend::slurm_hostlist;
using allot::backend::slurm_name;

TEST_CASE("DNS-1123 names: lower case, `-` for other characters, parts trimmed") {
  CHECK(dns_name("Quota1_1", false) == "quota1-1");
  CHECK(dns_name("workspace-b.dlc.default-queue", false) == "workspace-b.dlc.default-queue");
  CHECK(dns_name("workspace-b.dlc", true) == "workspace-b-dlc");
  CHECK(dns_name("_a_._b_", false) == "a.b");
  CHECK(dns_name("Team A", true) == "team-a");
}

TEST_CASE("DNS-1123 names too long or empty stay distinct through a hash") {
  const std::string a(80, 'a');
  const std::string b = a + "b";
  const std::string la = dns_name(a, true), lb = dns_name(b, true);
  CHECK(la.size() <= 63);
  CHECK(lb.size() <= 63);
  CHECK(la != lb);
  CHECK(la.back() != '-');
  CHECK(dns_name("___", false).rfind("x-", 0) == 0);
  CHECK(dns_name("___", false) != dns_name("____", false));
  CHECK(dns_name(std::string(300, 'x'), false).size() <= 253);
}

TEST_CASE("Slurm host lists compress runs of numbered names") {
  CHECK(slurm_hostlist({"pai-pool-0001", "pai-pool-0002"}) == "pai-pool-000[1-2]");
  CHECK(slurm_hostlist({"n-0009", "n-0010", "n-0011"}) == "n-00[09-11]");
  CHECK(slurm_hostlist({"a1", "a3", "b"}) == "a1,a3,b");
  CHECK(slurm_hostlist({"x"}) == "x");
  CHECK(slurm_hostlist({}).empty());
}

TEST_CASE("Slurm folds names to lower case") { CHECK(slurm_name("Quota1_1") == "quota1_1"); }
