// .npy reader: the header is a Python dict literal, the body raw little-endian data or a pickle.
#include <cstring>
#include <limits>

#include "ndarray.hpp"

namespace strassentile::detail {
namespace {

[[noreturn]] void fail(const std::string& origin, const std::string& why) {
  throw FormatError(origin + ": not a valid .npy array: " + why);
}

// Parser for the header dict, e.g. {'descr': '<i4', 'fortran_order': False, 'shape': (3, 4, 7), }.
class HeaderParser {
 public:
  HeaderParser(std::string text, std::string origin) : text_(std::move(text)), origin_(std::move(origin)) {}

  void parse(std::string& descr, bool& fortran_order, std::vector<std::size_t>& shape) {
    bool have_descr = false, have_order = false, have_shape = false;
    expect('{');
    while (true) {
      skip_space();
      if (peek() == '}') break;
      const std::string key = quoted();
      expect(':');
      if (key == "descr") {
        descr = quoted();
        have_descr = true;
      } else if (key == "fortran_order") {
        fortran_order = boolean();
        have_order = true;
      } else if (key == "shape") {
        shape = int_tuple();
        have_shape = true;
      } else {
        fail(origin_, "unexpected header key '" + key + "'");
      }
      skip_space();
      if (peek() == ',') ++pos_;
    }
    if (!have_descr || !have_order || !have_shape)
      fail(origin_, "header lacks one of 'descr', 'fortran_order', 'shape'");
  }

 private:
  char peek() {
    if (pos_ >= text_.size()) fail(origin_, "header ends early");
    return text_[pos_];
  }
  void skip_space() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t')) ++pos_;
  }
  void expect(char ch) {
    skip_space();
    if (peek() != ch) fail(origin_, std::string("header: expected '") + ch + "'");
    ++pos_;
  }
  std::string quoted() {
    skip_space();
    const char quote = peek();
    if (quote != '\'' && quote != '"') fail(origin_, "header: expected a quoted string");
    const std::size_t end = text_.find(quote, pos_ + 1);
    if (end == std::string::npos) fail(origin_, "header: unterminated string");
    std::string out = text_.substr(pos_ + 1, end - pos_ - 1);
    pos_ = end + 1;
    return out;
  }
  bool boolean() {
    skip_space();
    if (text_.compare(pos_, 4, "True") == 0) return pos_ += 4, true;
    if (text_.compare(pos_, 5, "False") == 0) return pos_ += 5, false;
    fail(origin_, "header: fortran_order must be True or False");
  }
  std::vector<std::size_t> int_tuple() {
    expect('(');
    std::vector<std::size_t> dims;
    while (true) {
      skip_space();
      if (peek() == ')') break;
      std::size_t value = 0;
      bool any = false;
      while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') {
        if (value > (std::numeric_limits<std::size_t>::max() - 9) / 10) fail(origin_, "header: dimension overflows");
        value = value * 10 + static_cast<std::size_t>(text_[pos_++] - '0');
        any = true;
      }
      if (!any) fail(origin_, "header: shape must be a tuple of non-negative integers");
      if (dims.size() >= 8) fail(origin_, "header: more than 8 dimensions");
      dims.push_back(value);
      skip_space();
      if (peek() == ',') ++pos_;
    }
    ++pos_;
    return dims;
  }

  std::string text_;
  std::string origin_;
  std::size_t pos_ = 0;
};

template <class Int>
double read_le(const std::uint8_t* p) {
  Int v;
  std::memcpy(&v, p, sizeof(Int));  // the machines we target are little-endian, like the files
  return static_cast<double>(v);
}

}  // namespace

std::size_t NdArray::element_count() const {
  std::size_t n = 1;
  for (std::size_t d : shape) n *= d;
  return n;
}

std::size_t checked_element_count(const std::vector<std::size_t>& shape, const std::string& origin) {
  std::size_t n = 1;
  for (std::size_t d : shape) {
    if (d != 0 && n > kMaxArrayElements / d) fail(origin, "array has more than 2^24 elements");
    n *= d;
  }
  return n;
}

std::vector<double> decode_numeric(ByteView raw, const std::string& descr, const std::vector<std::size_t>& shape,
                                   bool fortran_order, const std::string& origin) {
  if (descr.size() < 3 || (descr[0] != '<' && descr[0] != '|'))
    fail(origin, "dtype '" + descr + "' is not a little-endian number");
  const std::string code = descr.substr(1);
  std::size_t width = 0;
  double (*read)(const std::uint8_t*) = nullptr;
  if (code == "i1") width = 1, read = read_le<std::int8_t>;
  else if (code == "u1") width = 1, read = read_le<std::uint8_t>;
  else if (code == "i2") width = 2, read = read_le<std::int16_t>;
  else if (code == "i4") width = 4, read = read_le<std::int32_t>;
  else if (code == "i8") width = 8, read = read_le<std::int64_t>;
  else if (code == "f4") width = 4, read = read_le<float>;
  else if (code == "f8") width = 8, read = read_le<double>;
  else fail(origin, "unsupported dtype '" + descr + "' (integers and floats only)");

  const std::size_t count = checked_element_count(shape, origin);
  if (raw.size != count * width)
    fail(origin, "data holds " + std::to_string(raw.size) + " bytes but the shape needs " +
                     std::to_string(count * width));
  std::vector<double> values(count);
  if (!fortran_order || shape.size() < 2) {
    for (std::size_t i = 0; i < count; ++i) values[i] = read(raw.data + i * width);
    return values;
  }
  // Fortran order: the first index varies fastest in the file. Walk C order, computing the file offset.
  std::vector<std::size_t> index(shape.size(), 0);
  for (std::size_t c = 0; c < count; ++c) {
    std::size_t offset = 0, stride = 1;
    for (std::size_t d = 0; d < shape.size(); ++d) offset += index[d] * stride, stride *= shape[d];
    values[c] = read(raw.data + offset * width);
    for (std::size_t d = shape.size(); d-- > 0;) {
      if (++index[d] < shape[d]) break;
      index[d] = 0;
    }
  }
  return values;
}

NdArray parse_npy(ByteView bytes, const std::string& origin) {
  static const std::uint8_t kMagic[] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
  if (bytes.size < 10 || std::memcmp(bytes.data, kMagic, sizeof kMagic) != 0) fail(origin, "missing NUMPY magic");
  const std::uint8_t major = bytes.data[6];
  std::size_t header_len = 0, header_start = 0;
  if (major == 1) {
    header_len = bytes.data[8] | (bytes.data[9] << 8);
    header_start = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size < 12) fail(origin, "truncated header length");
    header_len = static_cast<std::size_t>(bytes.data[8]) | (static_cast<std::size_t>(bytes.data[9]) << 8) |
                 (static_cast<std::size_t>(bytes.data[10]) << 16) | (static_cast<std::size_t>(bytes.data[11]) << 24);
    header_start = 12;
  } else {
    fail(origin, "unsupported format version " + std::to_string(major));
  }
  if (header_len > bytes.size - header_start) fail(origin, "header runs past the end of the data");

  std::string descr;
  bool fortran_order = false;
  NdArray array;
  HeaderParser(std::string(reinterpret_cast<const char*>(bytes.data + header_start), header_len), origin)
      .parse(descr, fortran_order, array.shape);
  const ByteView body{bytes.data + header_start + header_len, bytes.size - header_start - header_len};
  if (descr == "|O") {
    if (fortran_order && array.shape.size() > 1) fail(origin, "Fortran-ordered object arrays are not supported");
    return unpickle_object_array(body, array.shape, origin);
  }
  array.values = decode_numeric(body, descr, array.shape, fortran_order, origin);
  return array;
}

}  // namespace strassentile::detail

namespace strassentile {

Matrix<double> load_npy_matrix(const std::string& path) {
  const std::string bytes = read_file(path);
  const detail::NdArray array =
      detail::parse_npy({reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()}, path);
  if (array.is_object || array.shape.size() != 2)
    throw FormatError(path + ": expected a 2-D numeric array, got " +
                      (array.is_object ? std::string("an object array") : std::to_string(array.shape.size()) + "-D"));
  return Matrix<double>(array.shape[0], array.shape[1], array.values);
}

}  // namespace strassentile
