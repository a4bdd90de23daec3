#include "npz_writer.hpp"

#include <unistd.h>
#include <zip.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace strassentile::testing {
namespace {

using namespace std::string_literals;

std::string shape_literal(const std::vector<std::size_t>& shape) {
  std::string s = "(";
  for (std::size_t d : shape) s += std::to_string(d) + ", ";
  if (shape.size() > 1) s.erase(s.size() - 2);  // "(3, 4)" but "(3,)"
  else if (shape.size() == 1) s.erase(s.size() - 1);
  return s + ")";
}

std::string le(std::uint64_t v, int width) {
  std::string out;
  for (int i = 0; i < width; ++i) out += static_cast<char>((v >> (8 * i)) & 0xff);
  return out;
}

std::string int64_bytes(const std::vector<std::int64_t>& values) {
  std::string out(values.size() * 8, '\0');
  if (values.empty()) return out;  // memcpy from an empty vector's null data() is UB
  std::memcpy(out.data(), values.data(), out.size());
  return out;
}

// Pickle snippets, following np.save's output for object arrays (see pickletools.dis of one).
std::string binunicode(const std::string& s) { return "X" + le(s.size(), 4) + s; }
std::string binint1(int v) { return "K" + std::string(1, static_cast<char>(v)); }
std::string bytes_op(const std::string& b) {
  return b.size() < 256 ? "C" + std::string(1, static_cast<char>(b.size())) + b : "B" + le(b.size(), 4) + b;
}
std::string shape_tuple(const std::vector<std::size_t>& shape) {
  std::string s = "(";
  for (std::size_t d : shape) s += "J" + le(d, 4);
  return s + "t";
}
const std::string kReconstruct = "cnumpy.core.multiarray\n_reconstruct\nq\x00"s;
std::string empty_array() {
  // _reconstruct(ndarray, (0,), b'b')
  return "h\x00"s + "cnumpy\nndarray\n" + binint1(0) + "\x85" + bytes_op("b") + "\x87R";
}
std::string dtype(const std::string& code, const std::string& order) {
  return std::string("cnumpy\ndtype\n") + binunicode(code) + "\x89\x88\x87R" + "(" + binint1(3) + binunicode(order) +
         "NNN" + "J" + le(0xffffffffu, 4) + "J" + le(0xffffffffu, 4) + binint1(0) + "tb";
}

}  // namespace

std::string npy_raw(const std::string& header_dict, const std::string& body) {
  std::string header = header_dict;
  while ((10 + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  return std::string("\x93NUMPY\x01\x00", 8) + le(header.size(), 2) + header + body;
}

std::string npy_int64(const std::vector<std::size_t>& shape, const std::vector<std::int64_t>& values, bool fortran_order) {
  return npy_raw("{'descr': '<i8', 'fortran_order': " + std::string(fortran_order ? "True" : "False") +
                     ", 'shape': " + shape_literal(shape) + ", }",
                 int64_bytes(values));
}

std::string pickle_object_array(
    const std::vector<std::pair<std::vector<std::size_t>, std::vector<std::int64_t>>>& arrays) {
  std::string p = "\x80\x03"s + kReconstruct;
  // Outer object array.
  p += std::string("cnumpy\nndarray\n") + binint1(0) + "\x85" + bytes_op("b") + "\x87R";
  p += "(" + binint1(1) + shape_tuple({arrays.size()}) + dtype("O8", "|") + "\x89" + "]";
  p += "(";
  for (const auto& [shape, values] : arrays) {
    p += empty_array();
    p += "(" + binint1(1) + shape_tuple(shape) + dtype("i8", "<") + "\x89" + bytes_op(int64_bytes(values)) + "tb";
  }
  p += "e";    // APPENDS
  p += "tb.";  // state tuple, BUILD, STOP
  return p;
}

std::string npy_object_array(
    const std::vector<std::pair<std::vector<std::size_t>, std::vector<std::int64_t>>>& arrays) {
  return npy_raw("{'descr': '|O', 'fortran_order': False, 'shape': (" + std::to_string(arrays.size()) + ",), }",
                 pickle_object_array(arrays));
}

std::string make_zip(const std::vector<std::pair<std::string, std::string>>& entries, bool compress) {
  char path[] = "/tmp/strassentile_test_zip_XXXXXX";
  const int fd = mkstemp(path);
  if (fd < 0) throw std::runtime_error("mkstemp failed");
  close(fd);
  int err = 0;
  zip_t* z = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &err);
  if (z == nullptr) throw std::runtime_error("zip_open failed");
  for (const auto& [name, data] : entries) {
    zip_source_t* src = zip_source_buffer(z, data.data(), data.size(), 0);
    const zip_int64_t idx = zip_file_add(z, name.c_str(), src, ZIP_FL_OVERWRITE);
    if (idx < 0) throw std::runtime_error("zip_file_add failed");
    zip_set_file_compression(z, static_cast<zip_uint64_t>(idx), compress ? ZIP_CM_DEFLATE : ZIP_CM_STORE, 0);
  }
  if (zip_close(z) != 0) throw std::runtime_error("zip_close failed");
  std::ifstream in(path, std::ios::binary);
  std::ostringstream buf;
  buf << in.rdbuf();
  std::remove(path);
  return buf.str();
}

}  // namespace strassentile::testing
