// Weights packed once into the layout (and type) a oneDNN kernel wants and kept in native
// memory, under a key the JavaScript side gives each weight (a new key whenever its values
// change; -1 = not a packable weight). Later calls with the same key and layout skip the reorder.
#pragma once
#include <dnnl.hpp>
#include <cstdint>

namespace ptp {

// `plain` in layout `want`: the packed copy under `key` made from `plain`'s layout into `want`,
// else a new reordered copy (kept under `key` beside its other layouts when key ≥ 0). `plain` itself
// when it already is in `want` (nothing is kept then: it points into the tensor memory).
dnnl::memory packed_weight(int64_t key, const dnnl::memory& plain, const dnnl::memory::desc& want);

// Frees the packed copy of `key` (no-op when there is none); every copy when key < 0.
void release_packed(int64_t key);

// Packed copies held and their bytes.
int64_t packed_count();
int64_t packed_bytes();

}  // namespace ptp
