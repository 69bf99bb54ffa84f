// Argument helpers for the N-API entry points: the tensor memory, numbers, integer lists, and
// a wrapper that turns C++ exceptions into JavaScript errors.
#pragma once
#include <node_api.h>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

namespace ptp {

// A kernel or argument error; becomes a JS Error with this message.
struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The memory tensors live in: a Uint8Array over the wasm heap (an ArrayBuffer, or the
// SharedArrayBuffer of the threaded build). Offsets are bytes from its start.
struct Heap {
  uint8_t* base = nullptr;
  size_t bytes = 0;
  // `count` floats at byte `offset`, bounds- and alignment-checked.
  float* f32(int64_t offset, int64_t count, const char* what) const;
};

// A typed array outside the tensor memory (host values).
struct HostArray {
  napi_typedarray_type type;
  size_t length;
  const void* data;
};

// The arguments of one call.
class Args {
 public:
  Args(napi_env env, napi_callback_info info);
  size_t size() const { return v_.size(); }
  Heap heap(size_t i) const;
  HostArray host(size_t i) const;
  int64_t i64(size_t i) const;
  double f64(size_t i) const;
  std::string str(size_t i) const;
  std::vector<int64_t> ints(size_t i) const;
  std::vector<double> doubles(size_t i) const;

 private:
  napi_env env_;
  std::vector<napi_value> v_;
  napi_value at(size_t i) const;
};

// Runs `body`; a thrown exception becomes a JS exception named after `fn`.
napi_value guard(napi_env env, const char* fn, const std::function<napi_value()>& body);

napi_value undefined(napi_env env);
napi_value number(napi_env env, double x);
napi_value string(napi_env env, const std::string& s);

}  // namespace ptp
