#include "packed.h"

#include <unordered_map>

#include "engine.h"

namespace ptp {
namespace {

std::unordered_map<int64_t, dnnl::memory>& cache() {
  static std::unordered_map<int64_t, dnnl::memory> c;
  return c;
}

}  // namespace

dnnl::memory packed_weight(int64_t key, const dnnl::memory& plain, const dnnl::memory::desc& want) {
  if (plain.get_desc() == want) return plain;
  if (key < 0) return convert(plain, want);
  auto& c = cache();
  auto it = c.find(key);
  if (it != c.end() && it->second.get_desc() == want) return it->second;
  dnnl::memory m = convert(plain, want);
  c.insert_or_assign(key, m);
  return m;
}

void release_packed(int64_t key) {
  if (key < 0) cache().clear();
  else cache().erase(key);
}

int64_t packed_count() { return int64_t(cache().size()); }

int64_t packed_bytes() {
  int64_t n = 0;
  for (const auto& [key, m] : cache()) n += int64_t(m.get_desc().get_size());
  return n;
}

}  // namespace ptp
