// The oneDNN engine and stream the kernels share, the precision mode (fp32, or bf16 operands
// with fp32 accumulation for convolutions and matmuls) and the thread count.
#pragma once
#include <dnnl.hpp>
#include <string>

namespace ptp {

enum class Precision { f32, bf16 };

dnnl::engine& engine();
dnnl::stream& stream();

Precision precision();
void set_precision(Precision p);
// The data type of conv/matmul operands under the current precision.
dnnl::memory::data_type operand_type();

int threads();
void set_threads(int n);

// "oneDNN 2.6.3 (avx512_core)": the library and the instruction set it dispatches to.
std::string library_info();
// Whether the CPU computes bf16 natively (AVX512-BF16 or AMX); oneDNN emulates it otherwise.
bool bf16_native();

// `m` itself when it already has layout/type `want`, else a reordered copy in new memory.
dnnl::memory convert(const dnnl::memory& m, const dnnl::memory::desc& want);
// Copies `from` into `to` (layouts and types may differ).
void copy(const dnnl::memory& from, const dnnl::memory& to);

}  // namespace ptp
