// Internal: the op library's error checks. STL_CHECK(cond, parts...) is TORCH_CHECK with the message assembled
// here, numbers formatted with std::to_string / snprintf and never through iostreams: inside the CUDA PyTorch
// process of the GPU machine (torch 2.11.0+cu130 wheel, this library built by gcc 13.3), iostream number
// formatting compiled into this library segfaults (benchmarks/probe_error_messages.py: every message with a
// number crashed, string-only messages raised) — the crash the .sms parser met and avoided with from_chars.
#pragma once

#include <ATen/ATen.h>

#include <cstdio>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace strassentile::torch_ops::message_detail {

inline void append(std::string& out, std::string_view s) { out.append(s.data(), s.size()); }
inline void append(std::string& out, const char* s) { out += s; }
inline void append(std::string& out, const std::string& s) { out += s; }
inline void append(std::string& out, char c) { out += c; }
inline void append(std::string& out, bool b) { out += b ? "true" : "false"; }
inline void append(std::string& out, at::ScalarType t) { out += c10::toString(t); }
inline void append(std::string& out, const c10::Device& d) { out += d.str(); }

template <class T, std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool> && !std::is_same_v<T, char>, int> = 0>
void append(std::string& out, T v) {
  out += std::to_string(v);
}

template <class T, std::enable_if_t<std::is_floating_point_v<T>, int> = 0>
void append(std::string& out, T v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", static_cast<double>(v));
  out += buf;
}

// A traced (symbolic) size prints as its value in the failing call where the tracer knows it (messages are built
// only when a check fails, so the guard this adds never outlives the error), else as its expression.
inline void append(std::string& out, const c10::SymInt& v) {
  if (const auto concrete = v.maybe_as_int()) {
    out += std::to_string(*concrete);
    return;
  }
  const c10::SymNode node = v.toSymNode();
  out += node->has_hint() ? std::to_string(node->guard_int(__FILE__, __LINE__)) : node->str();
}

// [a, b, c], as c10 prints sizes.
template <class T>
void append_list(std::string& out, const T* data, std::size_t n) {
  out += '[';
  for (std::size_t i = 0; i < n; ++i) {
    if (i) out += ", ";
    append(out, data[i]);
  }
  out += ']';
}
inline void append(std::string& out, c10::IntArrayRef a) { append_list(out, a.data(), a.size()); }
inline void append(std::string& out, c10::SymIntArrayRef a) { append_list(out, a.data(), a.size()); }
template <class T>
void append(std::string& out, const std::vector<T>& v) {
  append_list(out, v.data(), v.size());
}

}  // namespace strassentile::torch_ops::message_detail

namespace strassentile::torch_ops {

template <class... Parts>
std::string error_message(const Parts&... parts) {
  std::string out;
  (message_detail::append(out, parts), ...);
  return out;
}

}  // namespace strassentile::torch_ops

#define STL_CHECK(cond, ...) TORCH_CHECK(cond, ::strassentile::torch_ops::error_message(__VA_ARGS__))
