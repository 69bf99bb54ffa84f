#include "packed.h"

#include <unordered_map>
#include <vector>

#include "engine.h"

namespace ptp {
namespace {

// A packed copy and the plain layout it was made from. One weight is read in several layouts
// (b and bᵀ in a backward pass; a square matrix asks for the same packed desc from either data
// order), so a copy is reused only for the plain layout it came from, and each layout is kept.
struct Entry {
  dnnl::memory::desc from;
  dnnl::memory packed;
};

std::unordered_map<int64_t, std::vector<Entry>>& cache() {
  static std::unordered_map<int64_t, std::vector<Entry>> c;
  return c;
}

}  // namespace

dnnl::memory packed_weight(int64_t key, const dnnl::memory& plain, const dnnl::memory::desc& want) {
  if (plain.get_desc() == want) return plain;
  if (key < 0) return convert(plain, want);
  auto& copies = cache()[key];
  for (const Entry& e : copies) {
    if (e.from == plain.get_desc() && e.packed.get_desc() == want) return e.packed;
  }
  dnnl::memory m = convert(plain, want);
  copies.push_back(Entry{plain.get_desc(), m});
  return m;
}

void release_packed(int64_t key) {
  if (key < 0) cache().clear();
  else cache().erase(key);
}

int64_t packed_count() {
  int64_t n = 0;
  for (const auto& [key, copies] : cache()) n += int64_t(copies.size());
  return n;
}

int64_t packed_bytes() {
  int64_t n = 0;
  for (const auto& [key, copies] : cache()) {
    for (const Entry& e : copies) n += int64_t(e.packed.get_desc().get_size());
  }
  return n;
}

}  // namespace ptp
