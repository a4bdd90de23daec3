// A pickle *reader*, not an interpreter: it understands exactly the opcodes and the three NumPy globals that
// `np.save` emits for an object array of numeric arrays, and builds plain data from them. Anything else is a
// FormatError. (Python's own pickle would execute arbitrary callables; this cannot.)
#include <cstring>
#include <map>
#include <memory>

#include "ndarray.hpp"

namespace strassentile::detail {
namespace {

struct Value;
using ValuePtr = std::shared_ptr<Value>;

struct Value {
  enum class Kind { None, Bool, Int, Bytes, Str, Tuple, List, Global, Array, Dtype, Mark };
  Kind kind = Kind::None;
  long long integer = 0;            // Bool, Int
  std::string text;                 // Bytes, Str, Global ("module name"), Dtype (descr)
  std::vector<ValuePtr> items;      // Tuple, List
  std::shared_ptr<NdArray> array;   // Array (filled in by BUILD)
};

ValuePtr make(Value::Kind kind) {
  auto v = std::make_shared<Value>();
  v->kind = kind;
  return v;
}

class Unpickler {
 public:
  Unpickler(ByteView bytes, std::string origin) : in_(bytes), origin_(std::move(origin)) {}

  ValuePtr run() {
    while (true) {
      const std::uint8_t op = byte();
      switch (op) {
        case 0x80: byte(); break;                                   // PROTO n
        case 0x95: take(8); break;                                  // FRAME len (framing is advisory)
        case '.': return pop_result();                              // STOP
        case '(': push(make(Value::Kind::Mark)); break;             // MARK
        case 'N': push(make(Value::Kind::None)); break;             // NONE
        case 0x88: push(boolean(true)); break;                      // NEWTRUE
        case 0x89: push(boolean(false)); break;                     // NEWFALSE
        case 'K': push(integer(byte())); break;                     // BININT1
        case 'M': push(integer(uint_le(2))); break;                 // BININT2
        case 'J': push(integer(static_cast<std::int32_t>(uint_le(4)))); break;  // BININT
        case 'C': push(blob(Value::Kind::Bytes, byte())); break;    // SHORT_BINBYTES
        case 'B': push(blob(Value::Kind::Bytes, uint_le(4))); break;  // BINBYTES
        case 0x8e: push(blob(Value::Kind::Bytes, uint_le(8))); break;  // BINBYTES8
        case 0x8c: push(blob(Value::Kind::Str, byte())); break;     // SHORT_BINUNICODE
        case 'X': push(blob(Value::Kind::Str, uint_le(4))); break;  // BINUNICODE
        case ')': push(make(Value::Kind::Tuple)); break;            // EMPTY_TUPLE
        case 0x85: push(tuple_of(1)); break;                        // TUPLE1
        case 0x86: push(tuple_of(2)); break;                        // TUPLE2
        case 0x87: push(tuple_of(3)); break;                        // TUPLE3
        case 't': push(tuple_from_mark()); break;                   // TUPLE
        case ']': push(make(Value::Kind::List)); break;             // EMPTY_LIST
        case 'a': append(1); break;                                 // APPEND
        case 'e': append(0); break;                                 // APPENDS (to mark)
        case 'c': push(global_from_line()); break;                  // GLOBAL "module\nname\n"
        case 0x93: push(stack_global()); break;                     // STACK_GLOBAL
        case 'q': memo_put(byte()); break;                          // BINPUT
        case 'r': memo_put(uint_le(4)); break;                      // LONG_BINPUT
        case 0x94: memo_put(memo_.size()); break;                   // MEMOIZE
        case 'h': push(memo_get(byte())); break;                    // BINGET
        case 'j': push(memo_get(uint_le(4))); break;                // LONG_BINGET
        case 'R': reduce(); break;                                  // REDUCE
        case 'b': build(); break;                                   // BUILD
        default:
          fail("unsupported pickle opcode 0x" + hex(op) + " (only NumPy array pickles are read)");
      }
    }
  }

 private:
  [[noreturn]] void fail(const std::string& why) const {
    throw FormatError(origin_ + ": object array pickle: " + why);
  }
  static std::string hex(std::uint8_t v) {
    const char* digits = "0123456789abcdef";
    return {digits[v >> 4], digits[v & 15]};
  }

  // ---- input ----
  std::uint8_t byte() {
    if (pos_ >= in_.size) fail("truncated");
    return in_.data[pos_++];
  }
  const std::uint8_t* take(std::size_t n) {
    if (n > in_.size - pos_) fail("truncated");
    const std::uint8_t* p = in_.data + pos_;
    pos_ += n;
    return p;
  }
  std::size_t uint_le(int width) {
    const std::uint8_t* p = take(static_cast<std::size_t>(width));
    std::uint64_t v = 0;
    for (int i = width - 1; i >= 0; --i) v = (v << 8) | p[i];
    if (v > kMaxEntryBytes && width == 8) fail("length too large");
    return static_cast<std::size_t>(v);
  }

  // ---- stack ----
  void push(ValuePtr v) {
    if (stack_.size() > 4096) fail("stack too deep");
    stack_.push_back(std::move(v));
  }
  ValuePtr pop() {
    if (stack_.empty() || stack_.back()->kind == Value::Kind::Mark) fail("stack underflow");
    ValuePtr v = std::move(stack_.back());
    stack_.pop_back();
    return v;
  }
  std::vector<ValuePtr> pop_to_mark() {
    std::vector<ValuePtr> items;
    while (true) {
      if (stack_.empty()) fail("no MARK on the stack");
      ValuePtr v = std::move(stack_.back());
      stack_.pop_back();
      if (v->kind == Value::Kind::Mark) break;
      items.push_back(std::move(v));
    }
    return {items.rbegin(), items.rend()};
  }
  ValuePtr pop_result() {
    ValuePtr v = pop();
    if (!stack_.empty()) fail("values left on the stack at STOP");
    return v;
  }

  // ---- constructors ----
  static ValuePtr boolean(bool b) {
    auto v = make(Value::Kind::Bool);
    v->integer = b;
    return v;
  }
  static ValuePtr integer(long long i) {
    auto v = make(Value::Kind::Int);
    v->integer = i;
    return v;
  }
  ValuePtr blob(Value::Kind kind, std::size_t n) {
    auto v = make(kind);
    const std::uint8_t* p = take(n);
    v->text.assign(reinterpret_cast<const char*>(p), n);
    return v;
  }
  ValuePtr tuple_of(std::size_t n) {
    auto t = make(Value::Kind::Tuple);
    t->items.resize(n);
    for (std::size_t i = n; i-- > 0;) t->items[i] = pop();
    return t;
  }
  ValuePtr tuple_from_mark() {
    auto t = make(Value::Kind::Tuple);
    t->items = pop_to_mark();
    return t;
  }
  void append(std::size_t count) {
    std::vector<ValuePtr> items = count == 1 ? std::vector<ValuePtr>{pop()} : pop_to_mark();
    ValuePtr list = pop();
    if (list->kind != Value::Kind::List) fail("APPEND to something that is not a list");
    for (auto& item : items) {
      // Lists only ever hold arrays here; refusing containers also rules out reference cycles.
      if (item->kind == Value::Kind::List || item->kind == Value::Kind::Tuple) fail("nested containers in a list");
      if (list->items.size() >= kMaxArrayElements) fail("list too long");
      list->items.push_back(std::move(item));
    }
    push(std::move(list));
  }
  ValuePtr global(const std::string& module, const std::string& name) {
    const std::string full = module + " " + name;
    if (full != "numpy.core.multiarray _reconstruct" && full != "numpy._core.multiarray _reconstruct" &&
        full != "numpy ndarray" && full != "numpy dtype")
      fail("refusing global '" + module + "." + name + "'");
    auto v = make(Value::Kind::Global);
    v->text = full;
    return v;
  }
  ValuePtr global_from_line() {
    const std::string module = line(), name = line();
    return global(module, name);
  }
  std::string line() {
    std::string out;
    while (true) {
      const char ch = static_cast<char>(byte());
      if (ch == '\n') return out;
      if (out.size() > 256) fail("GLOBAL name too long");
      out += ch;
    }
  }
  ValuePtr stack_global() {
    ValuePtr name = pop(), module = pop();
    if (name->kind != Value::Kind::Str || module->kind != Value::Kind::Str) fail("STACK_GLOBAL needs two strings");
    return global(module->text, name->text);
  }

  // ---- memo ----
  void memo_put(std::size_t key) {
    if (stack_.empty()) fail("memoizing an empty stack");
    if (memo_.size() > 65536) fail("memo too large");
    memo_[key] = stack_.back();
  }
  ValuePtr memo_get(std::size_t key) {
    auto it = memo_.find(key);
    if (it == memo_.end()) fail("memo key " + std::to_string(key) + " was never stored");
    return it->second;
  }

  // ---- the three callables ----
  void reduce() {
    ValuePtr args = pop(), callable = pop();
    if (callable->kind != Value::Kind::Global || args->kind != Value::Kind::Tuple)
      fail("REDUCE needs a known global and an argument tuple");
    if (callable->text == "numpy dtype") {
      // dtype(descr, align, copy): the byte order arrives later through BUILD.
      if (args->items.empty() || args->items[0]->kind != Value::Kind::Str) fail("dtype() needs a type string");
      auto dtype = make(Value::Kind::Dtype);
      dtype->text = "|" + args->items[0]->text;
      push(std::move(dtype));
    } else if (callable->text == "numpy ndarray") {
      fail("ndarray() called directly");
    } else {
      // _reconstruct(ndarray, (0,), b'b'): an empty array whose state comes through BUILD.
      if (args->items.empty() || args->items[0]->kind != Value::Kind::Global ||
          args->items[0]->text != "numpy ndarray")
        fail("_reconstruct of something other than ndarray");
      auto array = make(Value::Kind::Array);
      array->array = std::make_shared<NdArray>();
      push(std::move(array));
    }
  }

  void build() {
    ValuePtr state = pop();
    ValuePtr target = pop();
    if (state->kind != Value::Kind::Tuple) fail("BUILD state must be a tuple");
    if (target->kind == Value::Kind::Dtype) {
      // (version, byteorder, subarray, names, fields, elsize, alignment, flags)
      if (state->items.size() < 2 || state->items[1]->kind != Value::Kind::Str) fail("dtype state lacks byte order");
      const std::string order = state->items[1]->text;
      if (order != "<" && order != "|" && order != "=")
        fail("dtype byte order '" + order + "' is not little-endian");
      target->text = (order == "=" ? "<" : order) + target->text.substr(1);
    } else if (target->kind == Value::Kind::Array) {
      build_array(*target->array, *state);
    } else {
      fail("BUILD on an unsupported object");
    }
    push(std::move(target));
  }

  // ndarray state: (version, shape, dtype, is_fortran, data) with data raw bytes or a list of objects.
  void build_array(NdArray& array, const Value& state) {
    if (state.items.size() != 5) fail("ndarray state must have 5 fields");
    const Value& shape = *state.items[1];
    const Value& dtype = *state.items[2];
    const Value& fortran = *state.items[3];
    const Value& data = *state.items[4];
    if (shape.kind != Value::Kind::Tuple || dtype.kind != Value::Kind::Dtype || fortran.kind != Value::Kind::Bool)
      fail("malformed ndarray state");
    if (!array.shape.empty() || !array.values.empty() || array.is_object) fail("ndarray built twice");
    for (const auto& d : shape.items) {
      if (d->kind != Value::Kind::Int || d->integer < 0) fail("ndarray shape must hold non-negative integers");
      if (array.shape.size() >= 8) fail("more than 8 dimensions");
      array.shape.push_back(static_cast<std::size_t>(d->integer));
    }
    if (dtype.text == "|O8" || dtype.text == "|O") {
      if (data.kind != Value::Kind::List) fail("object array data must be a list");
      if (data.items.size() != checked_element_count(array.shape, origin_)) fail("object array size mismatch");
      array.is_object = true;
      for (const auto& item : data.items) {
        if (item->kind != Value::Kind::Array || item->array->is_object || item->array.get() == &array)
          fail("object arrays may only hold numeric arrays");
        array.objects.push_back(item->array);
      }
    } else {
      if (data.kind != Value::Kind::Bytes) fail("numeric array data must be bytes");
      const ByteView raw{reinterpret_cast<const std::uint8_t*>(data.text.data()), data.text.size()};
      array.values = decode_numeric(raw, dtype.text, array.shape, fortran.integer != 0, origin_);
    }
  }

  ByteView in_;
  std::string origin_;
  std::size_t pos_ = 0;
  std::vector<ValuePtr> stack_;
  std::map<std::size_t, ValuePtr> memo_;
};

}  // namespace

NdArray unpickle_object_array(ByteView bytes, const std::vector<std::size_t>& shape, const std::string& origin) {
  ValuePtr root = Unpickler(bytes, origin).run();
  if (root->kind != Value::Kind::Array || !root->array->is_object)
    throw FormatError(origin + ": object array pickle does not hold an object array");
  if (root->array->shape != shape)
    throw FormatError(origin + ": pickled array shape differs from the .npy header");
  return *root->array;
}

}  // namespace strassentile::detail
