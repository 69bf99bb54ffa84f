// Work sharing for the element-wise kernels: a loop over independent units runs on the OpenMP
// threads only when it is large enough to pay for waking them (they wait passively between
// kernels); each unit is computed by one thread, so results never depend on the thread count.
#pragma once
#include <omp.h>

#include <cstdint>

namespace ptp {

// Below this many floats touched, a kernel runs on the calling thread.
constexpr int64_t kParallelMin = 1 << 15;

// f(i) for i in [0, n); `work` estimates the floats touched in all.
template <typename F>
void parallel_for(int64_t n, int64_t work, F f) {
  if (n <= 1 || work < kParallelMin || omp_get_max_threads() == 1) {
    for (int64_t i = 0; i < n; i++) f(i);
    return;
  }
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; i++) f(i);
}

}  // namespace ptp
