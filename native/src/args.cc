#include "args.h"

namespace ptp {

#define NAPI_OK(call)                                              \
  do {                                                             \
    if ((call) != napi_ok) throw Error(std::string(#call) + " failed"); \
  } while (0)

float* Heap::f32(int64_t offset, int64_t count, const char* what) const {
  const int64_t end = offset + count * int64_t(sizeof(float));
  if (offset < 0 || count < 0 || size_t(end) > bytes) {
    throw Error(std::string(what) + ": " + std::to_string(count) + " floats at byte " + std::to_string(offset) +
                " lie outside the " + std::to_string(bytes) + "-byte tensor memory");
  }
  if (offset % sizeof(float)) throw Error(std::string(what) + ": misaligned offset " + std::to_string(offset));
  return reinterpret_cast<float*>(base + offset);
}

Args::Args(napi_env env, napi_callback_info info) : env_(env) {
  size_t argc = 16;
  v_.resize(argc);
  NAPI_OK(napi_get_cb_info(env, info, &argc, v_.data(), nullptr, nullptr));
  v_.resize(argc);
}

napi_value Args::at(size_t i) const {
  if (i >= v_.size()) throw Error("missing argument " + std::to_string(i));
  return v_[i];
}

Heap Args::heap(size_t i) const {
  bool is = false;
  NAPI_OK(napi_is_typedarray(env_, at(i), &is));
  if (!is) throw Error("argument " + std::to_string(i) + " must be the Uint8Array of the tensor memory");
  napi_typedarray_type type;
  size_t length = 0;
  void* data = nullptr;
  // Works for views of a SharedArrayBuffer too (the threaded wasm heap).
  NAPI_OK(napi_get_typedarray_info(env_, at(i), &type, &length, &data, nullptr, nullptr));
  if (type != napi_uint8_array) throw Error("the tensor memory must be a Uint8Array");
  if (!data && length) throw Error("the tensor memory has no data pointer");
  return Heap{static_cast<uint8_t*>(data), length};
}

HostArray Args::host(size_t i) const {
  bool is = false;
  NAPI_OK(napi_is_typedarray(env_, at(i), &is));
  if (!is) throw Error("argument " + std::to_string(i) + " must be a typed array");
  HostArray h{};
  void* data = nullptr;
  NAPI_OK(napi_get_typedarray_info(env_, at(i), &h.type, &h.length, &data, nullptr, nullptr));
  if (!data && h.length) throw Error("argument " + std::to_string(i) + " has no data pointer");
  h.data = data;
  return h;
}

int64_t Args::i64(size_t i) const {
  double x = f64(i);
  if (x != double(int64_t(x))) throw Error("argument " + std::to_string(i) + " must be an integer");
  return int64_t(x);
}

double Args::f64(size_t i) const {
  double x = 0;
  if (napi_get_value_double(env_, at(i), &x) != napi_ok) throw Error("argument " + std::to_string(i) + " must be a number");
  return x;
}

std::string Args::str(size_t i) const {
  size_t n = 0;
  if (napi_get_value_string_utf8(env_, at(i), nullptr, 0, &n) != napi_ok) {
    throw Error("argument " + std::to_string(i) + " must be a string");
  }
  std::string s(n, '\0');
  NAPI_OK(napi_get_value_string_utf8(env_, at(i), s.data(), n + 1, &n));
  return s;
}

std::vector<double> Args::doubles(size_t i) const {
  bool is = false;
  NAPI_OK(napi_is_array(env_, at(i), &is));
  if (!is) throw Error("argument " + std::to_string(i) + " must be an array of numbers");
  uint32_t n = 0;
  NAPI_OK(napi_get_array_length(env_, at(i), &n));
  std::vector<double> out(n);
  for (uint32_t k = 0; k < n; k++) {
    napi_value e;
    NAPI_OK(napi_get_element(env_, at(i), k, &e));
    if (napi_get_value_double(env_, e, &out[k]) != napi_ok) {
      throw Error("argument " + std::to_string(i) + "[" + std::to_string(k) + "] must be a number");
    }
  }
  return out;
}

std::vector<int64_t> Args::ints(size_t i) const {
  const std::vector<double> d = doubles(i);
  std::vector<int64_t> out(d.size());
  for (size_t k = 0; k < d.size(); k++) {
    if (d[k] != double(int64_t(d[k]))) throw Error("argument " + std::to_string(i) + "[" + std::to_string(k) + "] must be an integer");
    out[k] = int64_t(d[k]);
  }
  return out;
}

napi_value guard(napi_env env, const char* fn, const std::function<napi_value()>& body) {
  try {
    return body();
  } catch (const std::exception& e) {
    napi_throw_error(env, nullptr, (std::string("native ") + fn + ": " + e.what()).c_str());
    return nullptr;
  }
}

napi_value undefined(napi_env env) {
  napi_value v;
  napi_get_undefined(env, &v);
  return v;
}

napi_value number(napi_env env, double x) {
  napi_value v;
  napi_create_double(env, x, &v);
  return v;
}

napi_value string(napi_env env, const std::string& s) {
  napi_value v;
  napi_create_string_utf8(env, s.data(), s.size(), &v);
  return v;
}

}  // namespace ptp
