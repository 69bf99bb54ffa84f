#include "engine.h"

#include <omp.h>

namespace ptp {

dnnl::engine& engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

dnnl::stream& stream() {
  static dnnl::stream s(engine());
  return s;
}

static Precision g_precision = Precision::f32;

Precision precision() { return g_precision; }
void set_precision(Precision p) { g_precision = p; }

dnnl::memory::data_type operand_type() {
  return g_precision == Precision::bf16 ? dnnl::memory::data_type::bf16 : dnnl::memory::data_type::f32;
}

int threads() { return omp_get_max_threads(); }
void set_threads(int n) { omp_set_num_threads(n); }

static const char* isa_name(dnnl::cpu_isa isa) {
  switch (isa) {
    case dnnl::cpu_isa::sse41: return "sse41";
    case dnnl::cpu_isa::avx: return "avx";
    case dnnl::cpu_isa::avx2: return "avx2";
    case dnnl::cpu_isa::avx512_core: return "avx512_core";
    case dnnl::cpu_isa::avx512_core_vnni: return "avx512_core_vnni";
    case dnnl::cpu_isa::avx512_core_bf16: return "avx512_core_bf16";
    case dnnl::cpu_isa::avx512_core_amx: return "avx512_core_amx";
    default: return "other";
  }
}

std::string library_info() {
  const dnnl_version_t* v = dnnl_version();
  return "oneDNN " + std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch) +
         " (" + isa_name(dnnl::get_effective_cpu_isa()) + ")";
}

bool bf16_native() {
  const dnnl::cpu_isa isa = dnnl::get_effective_cpu_isa();
  return isa == dnnl::cpu_isa::avx512_core_bf16 || isa == dnnl::cpu_isa::avx512_core_amx;
}

void copy(const dnnl::memory& from, const dnnl::memory& to) {
  dnnl::reorder(from, to).execute(stream(), const_cast<dnnl::memory&>(from), const_cast<dnnl::memory&>(to));
}

dnnl::memory convert(const dnnl::memory& m, const dnnl::memory::desc& want) {
  if (m.get_desc() == want) return m;
  dnnl::memory out(want, engine());
  copy(m, out);
  return out;
}

}  // namespace ptp
