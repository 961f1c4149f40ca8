// GGUF, safetensors and Hugging Face folders: writer -> reader round trips,
// one test per kind of bad file (each error must name the file, and the
// tensor when there is one), and deterministic header mutations that must
// either load or throw strata::Error.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/mman.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/mapped_file.h"
#include "core/mapped_file_watch.h"
#include "formats/gguf.h"
#include "formats/hf_folder.h"
#include "formats/safetensors.h"
#include "formats/sharded_safetensors_writer.h"

using namespace strata;
using ::testing::HasSubstr;
namespace fs = std::filesystem;

namespace {

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "strata_formats_XXXXXX").string();
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), std::streamsize(bytes.size()));
}

// Runs `f`, expects strata::Error, and returns its message.
std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected strata::Error";
  return "";
}

// Deterministic bytes for a tensor of `n` bytes.
std::string pattern(size_t n, int seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = char((i * 131 + seed * 17 + 7) & 0xff);
  return s;
}

std::string view_bytes(const TensorView& t) {
  return std::string(reinterpret_cast<const char*>(t.data), t.nbytes);
}

// ---------------------------------------------------------------------------
// Hand-built GGUF files, for cases the writer refuses to produce.

struct Bytes {
  std::string b;
  template <typename T>
  Bytes& put(T v) {
    b.append(reinterpret_cast<const char*>(&v), sizeof(T));
    return *this;
  }
  Bytes& str(const std::string& s) {
    put<uint64_t>(s.size());
    b += s;
    return *this;
  }
};

struct RawTensor {
  std::string name;
  std::vector<uint64_t> ne;  // innermost first, as stored
  uint32_t type = 0;
  uint64_t offset = 0;
};

std::string raw_gguf(const std::string& kvs, uint64_t n_kv, const std::vector<RawTensor>& tensors,
                     size_t data_bytes, uint32_t version = 3) {
  Bytes h;
  h.b = "GGUF";
  h.put<uint32_t>(version).put<uint64_t>(tensors.size()).put<uint64_t>(n_kv);
  h.b += kvs;
  for (const RawTensor& t : tensors) {
    h.str(t.name).put<uint32_t>(uint32_t(t.ne.size()));
    for (uint64_t d : t.ne) h.put<uint64_t>(d);
    h.put<uint32_t>(t.type).put<uint64_t>(t.offset);
  }
  h.b.append((32 - h.b.size() % 32) % 32, '\0');
  h.b.append(data_bytes, '\0');
  return h.b;
}

// A small valid GGUF from the writer, and where its data section starts.
struct SmallGGUF {
  std::string bytes;
  size_t data_start;
};

SmallGGUF small_gguf(const TempDir& dir) {
  const std::string path = dir.file("small.gguf");
  GGUFWriter w(path);
  w.set_string("general.architecture", "qwen3moe");
  w.set_u32("qwen3moe.block_count", 2);
  w.set_f32("qwen3moe.rope.freq_base", 1e6f);
  w.set_strings("tokenizer.ggml.tokens", {"a", "bb", "ccc"});
  w.set_i32s("tokenizer.ggml.token_type", {1, 1, 3});
  w.add_tensor("token_embd.weight", DType::F16, {3, 8});
  w.add_tensor("blk.0.ffn_down.weight", DType::Q8_0, {2, 32});
  w.write_data(pattern(48, 1).data(), 48);
  w.write_data(pattern(68, 2).data(), 68);
  w.finish();
  std::string bytes = read_bytes(path);
  return {bytes, bytes.size() - 64 - 96};  // padded sizes of the two tensors
}

}  // namespace

// ---------------------------------------------------------------------------
// GGUF round trips

TEST(GGUF, WriterRoundTrip) {
  TempDir dir;
  const std::string path = dir.file("model.gguf");
  struct Spec {
    std::string name;
    DType dtype;
    std::vector<int64_t> shape;
  };
  const std::vector<Spec> specs = {
      {"f32", DType::F32, {3, 5}},      {"f16", DType::F16, {2, 4}},
      {"bf16", DType::BF16, {7}},       {"q8", DType::Q8_0, {2, 64}},
      {"q4", DType::Q4_0, {3, 32}},     {"i8", DType::I8, {5}},
      {"i16", DType::I16, {1, 1, 3}},   {"i32", DType::I32, {2, 2}},
      {"i64", DType::I64, {1, 2, 1, 3}},
  };
  std::vector<std::string> data;
  {
    GGUFWriter w(path);
    w.set_u32("u32", 4000000000u);
    w.set_i32("i32", -7);
    w.set_u64("u64", 1ull << 40);
    w.set_f32("f32", 0.25f);
    w.set_bool("yes", true);
    w.set_bool("no", false);
    w.set_string("str", "héllo");
    w.set_strings("strs", {"", "x", "yz"});
    w.set_i32s("ints", {-1, 0, 2147483647});
    w.set_f32s("floats", {1.5f, -2.0f});
    for (size_t i = 0; i < specs.size(); ++i) {
      w.add_tensor(specs[i].name, specs[i].dtype, specs[i].shape);
      int64_t numel = std::accumulate(specs[i].shape.begin(), specs[i].shape.end(), int64_t(1),
                                      std::multiplies<>());
      data.push_back(pattern(size_t(dtype_bytes(specs[i].dtype, numel)), int(i)));
    }
    for (const std::string& d : data) {  // in two pieces, to exercise partial writes
      w.write_data(d.data(), d.size() / 2);
      w.write_data(d.data() + d.size() / 2, d.size() - d.size() / 2);
    }
    w.finish();
  }
  EXPECT_FALSE(fs::exists(path + ".partial"));

  GGUFFile f(path);
  EXPECT_EQ(f.get_int("u32"), 4000000000);
  EXPECT_EQ(f.get_int("i32"), -7);
  EXPECT_EQ(f.get_int("u64"), int64_t(1) << 40);
  EXPECT_EQ(f.get_float("f32"), 0.25);
  EXPECT_TRUE(f.get_bool("yes", false));
  EXPECT_FALSE(f.get_bool("no", true));
  EXPECT_EQ(f.get_string("str"), "héllo");
  EXPECT_EQ(f.get_strings("strs"), (std::vector<std::string>{"", "x", "yz"}));
  EXPECT_EQ(f.get_ints("ints"), (std::vector<int64_t>{-1, 0, 2147483647}));
  EXPECT_EQ(f.get_floats("floats"), (std::vector<double>{1.5, -2.0}));
  EXPECT_EQ(f.metadata().at("u32").type, 4u);
  EXPECT_EQ(f.metadata().at("strs").type, 8u);
  EXPECT_TRUE(f.metadata().at("strs").is_array);
  EXPECT_EQ(f.get_int("absent", 42), 42);
  EXPECT_EQ(f.get_string("absent", "dflt"), "dflt");
  EXPECT_EQ(f.get_float("absent", 1.5), 1.5);

  ASSERT_EQ(f.tensors().size(), specs.size());
  for (size_t i = 0; i < specs.size(); ++i) {
    const TensorView& t = f.get(specs[i].name, specs[i].shape);
    EXPECT_EQ(t.dtype, specs[i].dtype) << t.name;
    EXPECT_EQ(view_bytes(t), data[i]) << t.name;
    EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data) % 32, 0u) << t.name;
    EXPECT_EQ(t.file, path);
  }
  EXPECT_EQ(f.get("i64").shape_str(), "[1, 2, 1, 3]");
  EXPECT_EQ(f.get("i64").numel(), 6);
}

TEST(GGUF, ReadsEveryMetadataType) {
  TempDir dir;
  Bytes kv;
  kv.str("u8").put<uint32_t>(0).put<uint8_t>(200);
  kv.str("i8").put<uint32_t>(1).put<int8_t>(-5);
  kv.str("u16").put<uint32_t>(2).put<uint16_t>(60000);
  kv.str("i16").put<uint32_t>(3).put<int16_t>(-30000);
  kv.str("u32").put<uint32_t>(4).put<uint32_t>(4000000000u);
  kv.str("i32").put<uint32_t>(5).put<int32_t>(-2000000000);
  kv.str("f32").put<uint32_t>(6).put<float>(0.5f);
  kv.str("bool").put<uint32_t>(7).put<uint8_t>(1);
  kv.str("str").put<uint32_t>(8).str("text");
  kv.str("u64").put<uint32_t>(10).put<uint64_t>(1ull << 50);
  kv.str("i64").put<uint32_t>(11).put<int64_t>(-1000000000000);
  kv.str("f64").put<uint32_t>(12).put<double>(3.141592653589793);
  kv.str("a_u8").put<uint32_t>(9).put<uint32_t>(0).put<uint64_t>(2).put<uint8_t>(1).put<uint8_t>(255);
  kv.str("a_i16").put<uint32_t>(9).put<uint32_t>(3).put<uint64_t>(1).put<int16_t>(-3);
  kv.str("a_i64").put<uint32_t>(9).put<uint32_t>(11).put<uint64_t>(1).put<int64_t>(-9);
  kv.str("a_f64").put<uint32_t>(9).put<uint32_t>(12).put<uint64_t>(2).put<double>(0.125).put<double>(-1);
  kv.str("a_bool").put<uint32_t>(9).put<uint32_t>(7).put<uint64_t>(3).put<uint8_t>(1).put<uint8_t>(0).put<uint8_t>(1);
  kv.str("a_str").put<uint32_t>(9).put<uint32_t>(8).put<uint64_t>(2).str("p").str("qr");
  kv.str("a_empty").put<uint32_t>(9).put<uint32_t>(5).put<uint64_t>(0);
  const std::string path = dir.file("types.gguf");
  write_bytes(path, raw_gguf(kv.b, 19, {}, 0));

  GGUFFile f(path);
  EXPECT_EQ(f.get_int("u8"), 200);
  EXPECT_EQ(f.get_int("i8"), -5);
  EXPECT_EQ(f.get_int("u16"), 60000);
  EXPECT_EQ(f.get_int("i16"), -30000);
  EXPECT_EQ(f.get_int("u32"), 4000000000);
  EXPECT_EQ(f.get_int("i32"), -2000000000);
  EXPECT_EQ(f.get_float("f32"), 0.5);
  EXPECT_TRUE(f.get_bool("bool", false));
  EXPECT_EQ(f.get_string("str"), "text");
  EXPECT_EQ(f.get_int("u64"), int64_t(1) << 50);
  EXPECT_EQ(f.get_int("i64"), -1000000000000);
  EXPECT_EQ(f.get_float("f64"), 3.141592653589793);
  EXPECT_EQ(f.get_ints("a_u8"), (std::vector<int64_t>{1, 255}));
  EXPECT_EQ(f.get_ints("a_i16"), (std::vector<int64_t>{-3}));
  EXPECT_EQ(f.get_ints("a_i64"), (std::vector<int64_t>{-9}));
  EXPECT_EQ(f.get_floats("a_f64"), (std::vector<double>{0.125, -1}));
  EXPECT_EQ(std::get<std::vector<bool>>(std::get<GGUFValue::Array>(f.metadata().at("a_bool").value)),
            (std::vector<bool>{true, false, true}));
  EXPECT_EQ(f.get_strings("a_str"), (std::vector<std::string>{"p", "qr"}));
  EXPECT_TRUE(f.get_ints("a_empty").empty());
  EXPECT_EQ(f.metadata().at("u16").type, 2u);
  EXPECT_EQ(f.metadata().at("a_f64").type, 12u);
  EXPECT_TRUE(f.tensors().empty());
}

TEST(GGUF, MetadataGetterErrorsNameFileAndKey) {
  TempDir dir;
  SmallGGUF g = small_gguf(dir);
  const std::string path = dir.file("small.gguf");
  GGUFFile f(path);
  std::string msg = error_of([&] { f.get_int("nope"); });
  EXPECT_THAT(msg, HasSubstr(path));
  EXPECT_THAT(msg, HasSubstr("'nope'"));
  msg = error_of([&] { f.get_int("general.architecture"); });
  EXPECT_THAT(msg, HasSubstr(path));
  EXPECT_THAT(msg, HasSubstr("'general.architecture'"));
  EXPECT_THAT(error_of([&] { f.get_strings("tokenizer.ggml.token_type"); }),
              HasSubstr("'tokenizer.ggml.token_type'"));
  EXPECT_THAT(error_of([&] { f.get_bool("qwen3moe.block_count", false); }), HasSubstr(path));
}

TEST(GGUF, CustomAlignment) {
  TempDir dir;
  const std::string path = dir.file("a64.gguf");
  GGUFWriter w(path);
  w.set_u32("general.alignment", 64);
  w.add_tensor("a", DType::F32, {3});
  w.add_tensor("b", DType::F32, {5});
  w.write_data(pattern(12, 1).data(), 12);
  w.write_data(pattern(20, 2).data(), 20);
  w.finish();
  GGUFFile f(path);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(f.get("b").data) % 64, 0u);
  EXPECT_EQ(f.get("b").data - f.get("a").data, 64);
  EXPECT_EQ(view_bytes(f.get("b")), pattern(20, 2));
}

TEST(GGUF, WriterChecksBytesAndCleansUp) {
  TempDir dir;
  const std::string path = dir.file("w.gguf");
  {
    GGUFWriter w(path);
    w.add_tensor("t", DType::F32, {4});
    w.write_data(pattern(8, 0).data(), 8);
    std::string msg = error_of([&] { w.finish(); });
    EXPECT_THAT(msg, HasSubstr(path));
    EXPECT_THAT(msg, HasSubstr("'t'"));
    EXPECT_TRUE(fs::exists(path + ".partial"));
  }
  EXPECT_FALSE(fs::exists(path + ".partial"));
  EXPECT_FALSE(fs::exists(path));
  {
    GGUFWriter w(path);
    w.add_tensor("t", DType::F32, {1});
    EXPECT_THAT(error_of([&] { w.write_data(pattern(8, 0).data(), 8); }), HasSubstr(path));
  }
  GGUFWriter w(path);
  EXPECT_THAT(error_of([&] { w.add_tensor("q", DType::Q4_0, {2, 16}); }), HasSubstr("'q'"));
  EXPECT_THAT(error_of([&] { w.add_tensor("u", DType::U8, {2}); }), HasSubstr("'u'"));
  EXPECT_THAT(error_of([&] { w.add_tensor(std::string(64, 'n'), DType::F32, {2}); }),
              HasSubstr(path));
  w.set_i32("k", 1);
  EXPECT_THAT(error_of([&] { w.set_i32("k", 2); }), HasSubstr("'k'"));
  EXPECT_THAT(error_of([&] { w.set_u32("general.alignment", 48); }), HasSubstr("alignment"));
}

// ---------------------------------------------------------------------------
// GGUF bad files

TEST(GGUFBad, Truncated) {
  TempDir dir;
  SmallGGUF g = small_gguf(dir);
  const std::string path = dir.file("cut.gguf");
  const size_t cuts[] = {0, 3, 4, 7, 10, 16, 20, 24, 30, 60, g.data_start / 2, g.data_start - 1,
                         g.data_start, g.data_start + 40, g.bytes.size() - 1 - 28};
  for (size_t cut : cuts) {
    write_bytes(path, g.bytes.substr(0, cut));
    EXPECT_THAT(error_of([&] { GGUFFile f(path); }), HasSubstr(path)) << "cut at " << cut;
  }
  // Cut inside the data of the last tensor: the error names it.
  write_bytes(path, g.bytes.substr(0, g.bytes.size() - 30));
  EXPECT_THAT(error_of([&] { GGUFFile f(path); }), HasSubstr("'blk.0.ffn_down.weight'"));
}

// Truncated before loading, a file is refused by the checks above; truncated
// while mapped, reading its lost pages ends the process naming the file
// rather than with a bare SIGBUS. Other SIGBUS keep their default action.
TEST(MappedFileDeathTest, TruncatedWhileMappedNamesTheFile) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  TempDir dir;
  const std::string path = dir.file("weights.bin");
  write_bytes(path, std::string(3 * 4096, 'w'));
  EXPECT_EXIT(
      {
        MappedFile file(path);
        fs::resize_file(path, 4096);
        volatile uint8_t lost = file.data()[2 * 4096 + 5];
        (void)lost;
      },
      ::testing::ExitedWithCode(kMappedFileLostExitCode),
      "model file .*weights.bin was truncated or replaced in place while mapped \\(SIGBUS reading offset 8197\\)");

  const std::string other = dir.file("other.bin");
  write_bytes(other, std::string(2 * 4096, 'o'));
  EXPECT_EXIT(
      {
        MappedFile model(path);  // the handler is installed
        write_bytes(other, std::string(2 * 4096, 'o'));
        const int fd = ::open(other.c_str(), O_RDONLY);
        auto* data = static_cast<const volatile uint8_t*>(::mmap(nullptr, 2 * 4096, PROT_READ, MAP_PRIVATE, fd, 0));
        fs::resize_file(other, 0);
        volatile uint8_t lost = data[4096];
        (void)lost;
      },
      ::testing::KilledBySignal(SIGBUS), "");
}

TEST(GGUFBad, BadMagic) {
  TempDir dir;
  std::string bytes = small_gguf(dir).bytes;
  bytes[0] = 'X';
  const std::string path = dir.file("magic.gguf");
  write_bytes(path, bytes);
  std::string msg = error_of([&] { GGUFFile f(path); });
  EXPECT_THAT(msg, HasSubstr(path));
  EXPECT_THAT(msg, HasSubstr("magic"));
}

TEST(GGUFBad, WrongVersion) {
  TempDir dir;
  const std::string path = dir.file("v2.gguf");
  write_bytes(path, raw_gguf("", 0, {}, 0, 2));
  std::string msg = error_of([&] { GGUFFile f(path); });
  EXPECT_THAT(msg, HasSubstr(path));
  EXPECT_THAT(msg, HasSubstr("version 2"));
}

TEST(GGUFBad, OffsetPastEnd) {
  TempDir dir;
  const std::string path = dir.file("past.gguf");
  write_bytes(path, raw_gguf("", 0, {{"w", {8}, 0, 1ull << 40}}, 64));
  std::string msg = error_of([&] { GGUFFile f(path); });
  EXPECT_THAT(msg, HasSubstr(path));
  EXPECT_THAT(msg, HasSubstr("(tensor 'w')"));
  // Offset near 2^64, where a careless sum would wrap around.
  write_bytes(path, raw_gguf("", 0, {{"w", {8}, 0, ~uint64_t(31)}}, 64));
  EXPECT_THAT(error_of([&] { GGUFFile f(path); }), HasSubstr("(tensor 'w')"));
}

TEST(GGUFBad, OverlappingTensors) {
  TempDir dir;
  const std::string path = dir.file("overlap.gguf");
  write_bytes(path, raw_gguf("", 0, {{"a", {16}, 0, 0}, {"b", {4}, 0, 32}}, 128));
  std::string msg = error_of([&] { GGUFFile f(path); });
  EXPECT_THAT(msg, HasSubstr(path));
  EXPECT_THAT(msg, HasSubstr("'a'"));
  EXPECT_THAT(msg, HasSubstr("'b'"));
}

TEST(GGUFBad, MisalignedTensor) {
  TempDir dir;
  const std::string path = dir.file("misaligned.gguf");
  write_bytes(path, raw_gguf("", 0, {{"m", {4}, 0, 4}}, 64));
  std::string msg = error_of([&] { GGUFFile f(path); });
  EXPECT_THAT(msg, HasSubstr(path));
  EXPECT_THAT(msg, HasSubstr("(tensor 'm')"));
  EXPECT_THAT(msg, HasSubstr("alignment"));
}

TEST(GGUFBad, AbsurdDimensions) {
  TempDir dir;
  const std::string path = dir.file("dims.gguf");
  const std::vector<std::vector<uint64_t>> bad = {
      {1u << 30, 1u << 30, 1u << 30},  // 2^90 elements
      {uint64_t(1) << 63, 2},          // negative when read as int64
      {0, 4},                          // empty dimension
      {1, 1, 1, 1, 1},                 // five dimensions
      {},                              // none
  };
  for (const auto& ne : bad) {
    write_bytes(path, raw_gguf("", 0, {{"big", ne, 0, 0}}, 64));
    std::string msg = error_of([&] { GGUFFile f(path); });
    EXPECT_THAT(msg, HasSubstr(path));
    EXPECT_THAT(msg, HasSubstr("(tensor 'big')"));
  }
}

TEST(GGUFBad, HugeStringAndArrayLengths) {
  TempDir dir;
  const std::string path = dir.file("huge.gguf");
  Bytes kv;
  kv.put<uint64_t>(uint64_t(1) << 62);  // key length
  write_bytes(path, raw_gguf(kv.b, 1, {}, 0));
  std::string msg = error_of([&] { GGUFFile f(path); });
  EXPECT_THAT(msg, HasSubstr(path));
  EXPECT_THAT(msg, HasSubstr("string length"));

  kv = {};
  kv.str("arr").put<uint32_t>(9).put<uint32_t>(8).put<uint64_t>(uint64_t(1) << 60);
  write_bytes(path, raw_gguf(kv.b, 1, {}, 0));
  msg = error_of([&] { GGUFFile f(path); });
  EXPECT_THAT(msg, HasSubstr(path));
  EXPECT_THAT(msg, HasSubstr("'arr'"));

  kv = {};
  kv.str("s").put<uint32_t>(8).put<uint64_t>(~uint64_t(0));
  write_bytes(path, raw_gguf(kv.b, 1, {}, 0));
  EXPECT_THAT(error_of([&] { GGUFFile f(path); }), HasSubstr("'s'"));

  write_bytes(path, raw_gguf("", 0, {{"x", {4}, 0, 0}}, 64));  // tensor name length below
  std::string bytes = read_bytes(path);
  uint64_t huge = uint64_t(1) << 61;
  std::memcpy(bytes.data() + 24, &huge, 8);
  write_bytes(path, bytes);
  EXPECT_THAT(error_of([&] { GGUFFile f(path); }), HasSubstr("string length"));
}

TEST(GGUFBad, UnknownTypes) {
  TempDir dir;
  const std::string path = dir.file("types.gguf");
  write_bytes(path, raw_gguf("", 0, {{"q41", {32}, 3, 0}}, 64));  // Q4_1
  std::string msg = error_of([&] { GGUFFile f(path); });
  EXPECT_THAT(msg, HasSubstr(path));
  EXPECT_THAT(msg, HasSubstr("(tensor 'q41')"));
  EXPECT_THAT(msg, HasSubstr("type 3"));

  Bytes kv;
  kv.str("weird").put<uint32_t>(13).put<uint32_t>(0);
  write_bytes(path, raw_gguf(kv.b, 1, {}, 0));
  msg = error_of([&] { GGUFFile f(path); });
  EXPECT_THAT(msg, HasSubstr("'weird'"));

  kv = {};
  kv.str("nested").put<uint32_t>(9).put<uint32_t>(9).put<uint64_t>(1);
  write_bytes(path, raw_gguf(kv.b, 1, {}, 0));
  EXPECT_THAT(error_of([&] { GGUFFile f(path); }), HasSubstr("'nested'"));
}

TEST(GGUFBad, PartialQuantBlock) {
  TempDir dir;
  const std::string path = dir.file("q8.gguf");
  write_bytes(path, raw_gguf("", 0, {{"q", {16, 2}, 8, 0}}, 64));  // rows of 16 in Q8_0
  std::string msg = error_of([&] { GGUFFile f(path); });
  EXPECT_THAT(msg, HasSubstr(path));
  EXPECT_THAT(msg, HasSubstr("(tensor 'q')"));
}

TEST(GGUFBad, DuplicatesAndBadAlignment) {
  TempDir dir;
  const std::string path = dir.file("dup.gguf");
  Bytes kv;
  kv.str("k").put<uint32_t>(4).put<uint32_t>(1);
  kv.str("k").put<uint32_t>(4).put<uint32_t>(2);
  write_bytes(path, raw_gguf(kv.b, 2, {}, 0));
  EXPECT_THAT(error_of([&] { GGUFFile f(path); }), HasSubstr("'k'"));

  write_bytes(path, raw_gguf("", 0, {{"t", {4}, 0, 0}, {"t", {4}, 0, 32}}, 64));
  EXPECT_THAT(error_of([&] { GGUFFile f(path); }), HasSubstr("(tensor 't')"));

  kv = {};
  kv.str("general.alignment").put<uint32_t>(4).put<uint32_t>(48);
  write_bytes(path, raw_gguf(kv.b, 1, {}, 0));
  EXPECT_THAT(error_of([&] { GGUFFile f(path); }), HasSubstr("general.alignment"));
}

// ---------------------------------------------------------------------------
// TensorSource lookups

TEST(TensorSource, GetErrors) {
  TempDir dir;
  small_gguf(dir);
  const std::string path = dir.file("small.gguf");
  GGUFFile f(path);
  EXPECT_EQ(f.find("missing"), nullptr);
  EXPECT_NE(f.find("token_embd.weight"), nullptr);
  std::string msg = error_of([&] { f.get("missing"); });
  EXPECT_EQ(msg, path + ": missing tensor 'missing'");
  msg = error_of([&] { f.get("token_embd.weight", {8, 3}); });
  EXPECT_THAT(msg, HasSubstr(path));
  EXPECT_THAT(msg, HasSubstr("'token_embd.weight'"));
  EXPECT_THAT(msg, HasSubstr("[3, 8]"));
  EXPECT_THAT(msg, HasSubstr("[8, 3]"));
  EXPECT_EQ(f.get("token_embd.weight", {3, 8}).nbytes, 48u);
}

// ---------------------------------------------------------------------------
// safetensors

namespace {

// A safetensors file from a JSON header and a data section.
std::string raw_safetensors(const std::string& header, size_t data_bytes) {
  Bytes b;
  b.put<uint64_t>(header.size());
  b.b += header;
  b.b.append(data_bytes, '\0');
  return b.b;
}

}  // namespace

TEST(Safetensors, WriterRoundTrip) {
  TempDir dir;
  const std::string path = dir.file("model.safetensors");
  struct Spec {
    std::string name;
    DType dtype;
    std::vector<int64_t> shape;
  };
  const std::vector<Spec> specs = {
      {"w.f32", DType::F32, {3, 5}}, {"w.f16", DType::F16, {4}},   {"w.bf16", DType::BF16, {2, 3}},
      {"i8", DType::I8, {3}},        {"i16", DType::I16, {2, 1}},  {"i32", DType::I32, {2}},
      {"i64", DType::I64, {1}},      {"u8", DType::U8, {5}},       {"mask", DType::BOOL, {2, 2}},
      {"empty", DType::F32, {0, 3}}, {"scalar", DType::F32, {}},
  };
  std::vector<std::string> data;
  {
    SafetensorsWriter w(path);
    for (size_t i = 0; i < specs.size(); ++i) {
      w.add_tensor(specs[i].name, specs[i].dtype, specs[i].shape);
      int64_t numel = std::accumulate(specs[i].shape.begin(), specs[i].shape.end(), int64_t(1),
                                      std::multiplies<>());
      data.push_back(pattern(size_t(dtype_bytes(specs[i].dtype, numel)), int(i)));
    }
    std::string all;
    for (const std::string& d : data) all += d;
    w.write_data(all.data(), 7);  // pieces that straddle tensor boundaries
    w.write_data(all.data() + 7, all.size() - 7);
    w.finish();
  }
  EXPECT_FALSE(fs::exists(path + ".partial"));
  const std::string bytes = read_bytes(path);
  uint64_t header_len;
  std::memcpy(&header_len, bytes.data(), 8);
  EXPECT_EQ(header_len % 8, 0u);

  SafetensorsFile f(path);
  ASSERT_EQ(f.tensors().size(), specs.size());
  for (size_t i = 0; i < specs.size(); ++i) {
    const TensorView& t = f.get(specs[i].name, specs[i].shape);
    EXPECT_EQ(t.dtype, specs[i].dtype) << t.name;
    EXPECT_EQ(view_bytes(t), data[i]) << t.name;
    EXPECT_EQ(t.file, path);
  }
}

TEST(Safetensors, WriterRejects) {
  TempDir dir;
  const std::string path = dir.file("w.safetensors");
  {
    SafetensorsWriter w(path);
    EXPECT_THAT(error_of([&] { w.add_tensor("q", DType::Q8_0, {32}); }), HasSubstr("'q'"));
    w.add_tensor("a", DType::F32, {2});
    EXPECT_THAT(error_of([&] { w.add_tensor("a", DType::F32, {2}); }), HasSubstr("'a'"));
    w.write_data(pattern(4, 0).data(), 4);
    EXPECT_THAT(error_of([&] { w.finish(); }), HasSubstr("'a'"));
  }
  EXPECT_FALSE(fs::exists(path + ".partial"));
  EXPECT_FALSE(fs::exists(path));
}

TEST(SafetensorsBad, HeaderJson) {
  TempDir dir;
  const std::string path = dir.file("bad.safetensors");
  for (const std::string& header : {std::string("{not json"), std::string("[1, 2]"),
                                    std::string("{\"t\": 5}")}) {
    write_bytes(path, raw_safetensors(header, 0));
    EXPECT_THAT(error_of([&] { SafetensorsFile f(path); }), HasSubstr(path)) << header;
  }
  write_bytes(path, raw_safetensors(R"({"t": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}})", 4));
  EXPECT_THAT(error_of([&] { SafetensorsFile f(path); }), HasSubstr("(tensor 't')"));
  write_bytes(path, raw_safetensors(R"({"t": {"dtype": "F32", "shape": [1], "data_offsets": [0]}})", 4));
  EXPECT_THAT(error_of([&] { SafetensorsFile f(path); }), HasSubstr("(tensor 't')"));
  write_bytes(path, raw_safetensors(R"({"t": {"shape": [1], "data_offsets": [0, 4]}})", 4));
  EXPECT_THAT(error_of([&] { SafetensorsFile f(path); }), HasSubstr("(tensor 't')"));
}

TEST(SafetensorsBad, HeaderLength) {
  TempDir dir;
  const std::string path = dir.file("len.safetensors");
  write_bytes(path, "abc");
  EXPECT_THAT(error_of([&] { SafetensorsFile f(path); }), HasSubstr(path));
  std::string bytes = raw_safetensors("{}", 0);
  uint64_t len = 1000;
  std::memcpy(bytes.data(), &len, 8);
  write_bytes(path, bytes);
  std::string msg = error_of([&] { SafetensorsFile f(path); });
  EXPECT_THAT(msg, HasSubstr(path));
  EXPECT_THAT(msg, HasSubstr("header length 1000"));
  len = ~uint64_t(0);
  std::memcpy(bytes.data(), &len, 8);
  write_bytes(path, bytes);
  EXPECT_THAT(error_of([&] { SafetensorsFile f(path); }), HasSubstr(path));
}

TEST(SafetensorsBad, UnsupportedDtype) {
  TempDir dir;
  const std::string path = dir.file("f64.safetensors");
  write_bytes(path, raw_safetensors(R"({"d": {"dtype": "F64", "shape": [1], "data_offsets": [0, 8]}})", 8));
  std::string msg = error_of([&] { SafetensorsFile f(path); });
  EXPECT_THAT(msg, HasSubstr(path));
  EXPECT_THAT(msg, HasSubstr("'F64'"));
  EXPECT_THAT(msg, HasSubstr("(tensor 'd')"));
}

TEST(SafetensorsBad, SizeMismatch) {
  TempDir dir;
  const std::string path = dir.file("size.safetensors");
  write_bytes(path, raw_safetensors(R"({"s": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 20]}})", 24));
  std::string msg = error_of([&] { SafetensorsFile f(path); });
  EXPECT_THAT(msg, HasSubstr(path));
  EXPECT_THAT(msg, HasSubstr("(tensor 's')"));
  EXPECT_THAT(msg, HasSubstr("[2, 3]"));
}

TEST(SafetensorsBad, OffsetsPastEndAndOverlap) {
  TempDir dir;
  const std::string path = dir.file("off.safetensors");
  write_bytes(path, raw_safetensors(R"({"p": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})", 8));
  std::string msg = error_of([&] { SafetensorsFile f(path); });
  EXPECT_THAT(msg, HasSubstr(path));
  EXPECT_THAT(msg, HasSubstr("(tensor 'p')"));
  write_bytes(path, raw_safetensors(R"({"p": {"dtype": "F32", "shape": [2], "data_offsets": [8, 4]}})", 16));
  EXPECT_THAT(error_of([&] { SafetensorsFile f(path); }), HasSubstr("(tensor 'p')"));
  write_bytes(path, raw_safetensors(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                                        "b": {"dtype": "I32", "shape": [2], "data_offsets": [4, 12]}})", 16));
  msg = error_of([&] { SafetensorsFile f(path); });
  EXPECT_THAT(msg, HasSubstr(path));
  EXPECT_THAT(msg, HasSubstr("overlap"));
  EXPECT_THAT(msg, HasSubstr("'b'"));
}

// ---------------------------------------------------------------------------
// Hugging Face folders

namespace {

void write_safetensors(const std::string& path, const std::vector<std::string>& names, int seed) {
  SafetensorsWriter w(path);
  for (const std::string& n : names) w.add_tensor(n, DType::BF16, {2, 2});
  for (size_t i = 0; i < names.size(); ++i) w.write_data(pattern(8, seed + int(i)).data(), 8);
  w.finish();
}

void write_index(const std::string& dir, const nlohmann::json& weight_map) {
  write_bytes(dir + "/model.safetensors.index.json",
              nlohmann::json{{"metadata", {{"total_size", 0}}}, {"weight_map", weight_map}}.dump());
}

}  // namespace

// Modules in declaration order fill shards up to the limit; a module's
// tensors stay together, one larger than the limit gets a shard of its own;
// the folder reads back through its index with every byte in place.
TEST(ShardedSafetensors, ModulesFillShardsAndTheFolderReadsBack) {
  TempDir dir;
  write_bytes(dir.file("config.json"), "{}");
  // (name, bytes): a.* 24 bytes, b 16, c.* 40 (over the 32-byte limit), d 8.
  const std::vector<std::pair<std::string, int64_t>> specs = {
      {"a.weight", 16}, {"a.bias", 8}, {"b.weight", 16}, {"c.weight_packed", 32}, {"c.weight_scale", 8}, {"d.w", 8}};
  std::string all;
  {
    ShardedSafetensorsWriter w(dir.path(), 32);
    for (size_t i = 0; i < specs.size(); ++i) {
      w.add_tensor(specs[i].first, DType::U8, {specs[i].second});
      all += pattern(size_t(specs[i].second), int(i));
    }
    w.write_data(all.data(), 20);  // pieces that straddle tensors and shards
    w.write_data(all.data() + 20, 30);
    w.write_data(all.data() + 50, all.size() - 50);
    w.finish();
  }
  const std::string f1 = "model-00001-of-00004.safetensors", f2 = "model-00002-of-00004.safetensors",
                    f3 = "model-00003-of-00004.safetensors", f4 = "model-00004-of-00004.safetensors";
  const nlohmann::json index = nlohmann::json::parse(read_bytes(dir.file("model.safetensors.index.json")));
  EXPECT_EQ(index["metadata"]["total_size"], all.size());
  EXPECT_EQ(index["weight_map"], nlohmann::json({{"a.weight", f1}, {"a.bias", f1}, {"b.weight", f2},
                                                 {"c.weight_packed", f3}, {"c.weight_scale", f3}, {"d.w", f4}}));
  HFFolder h(dir.path());
  size_t offset = 0;
  for (size_t i = 0; i < specs.size(); ++i) {
    EXPECT_EQ(view_bytes(h.get(specs[i].first)), all.substr(offset, size_t(specs[i].second))) << specs[i].first;
    offset += size_t(specs[i].second);
  }
}

TEST(ShardedSafetensors, OneShardIsModelSafetensorsAndMissingDataIsAnError) {
  TempDir dir;
  {
    ShardedSafetensorsWriter w(dir.path(), 1 << 20);
    w.add_tensor("x", DType::F32, {2});
    w.write_data(pattern(8, 0).data(), 8);
    w.finish();
  }
  EXPECT_TRUE(fs::exists(dir.file("model.safetensors")));
  EXPECT_FALSE(fs::exists(dir.file("model.safetensors.index.json")));
  ShardedSafetensorsWriter short_of_data(dir.path() + "/sub", 1 << 20);
  fs::create_directory(dir.path() + "/sub");
  short_of_data.add_tensor("y", DType::F32, {2});
  short_of_data.add_tensor("z", DType::F32, {2});
  short_of_data.write_data(pattern(8, 0).data(), 8);
  EXPECT_THAT(error_of([&] { short_of_data.finish(); }), HasSubstr("'z'"));
  EXPECT_THAT(error_of([&] { short_of_data.write_data(pattern(16, 0).data(), 16); }), HasSubstr("more data"));
}

TEST(HFFolder, SingleFile) {
  TempDir dir;
  write_bytes(dir.file("config.json"), R"({"model_type": "qwen3", "hidden_size": 8})");
  write_bytes(dir.file("generation_config.json"), R"({"temperature": 0.6})");
  write_safetensors(dir.file("model.safetensors"), {"a", "b"}, 0);
  HFFolder h(dir.path());
  EXPECT_EQ(h.config()["hidden_size"], 8);
  EXPECT_EQ(h.generation_config()["temperature"], 0.6);
  EXPECT_TRUE(h.tokenizer_config().is_null());
  EXPECT_EQ(h.tokenizer_json_path(), dir.path() + "/tokenizer.json");
  EXPECT_EQ(h.tensors().size(), 2u);
  EXPECT_EQ(view_bytes(h.get("b", {2, 2})), pattern(8, 1));
  EXPECT_EQ(h.get("a").file, dir.file("model.safetensors"));
}

TEST(HFFolder, Sharded) {
  TempDir dir;
  write_bytes(dir.file("config.json"), "{}");
  write_bytes(dir.file("tokenizer_config.json"), R"({"eos_token": "<|im_end|>"})");
  write_safetensors(dir.file("model-00001-of-00002.safetensors"), {"x", "y"}, 0);
  write_safetensors(dir.file("model-00002-of-00002.safetensors"), {"z"}, 10);
  write_index(dir.path(), {{"x", "model-00001-of-00002.safetensors"},
                           {"y", "model-00001-of-00002.safetensors"},
                           {"z", "model-00002-of-00002.safetensors"}});
  HFFolder h(dir.path());
  EXPECT_EQ(h.tokenizer_config()["eos_token"], "<|im_end|>");
  EXPECT_TRUE(h.generation_config().is_null());
  ASSERT_EQ(h.tensors().size(), 3u);
  EXPECT_EQ(view_bytes(h.get("y")), pattern(8, 1));
  EXPECT_EQ(view_bytes(h.get("z")), pattern(8, 10));
  EXPECT_EQ(h.get("z").file, dir.file("model-00002-of-00002.safetensors"));
  EXPECT_EQ(error_of([&] { h.get("w"); }), dir.path() + ": missing tensor 'w'");
}

TEST(HFFolderBad, MissingOrBrokenConfig) {
  TempDir dir;
  write_safetensors(dir.file("model.safetensors"), {"a"}, 0);
  EXPECT_THAT(error_of([&] { HFFolder h(dir.path()); }), HasSubstr(dir.file("config.json")));
  write_bytes(dir.file("config.json"), "{\"a\": ");
  EXPECT_THAT(error_of([&] { HFFolder h(dir.path()); }), HasSubstr(dir.file("config.json")));
  write_bytes(dir.file("config.json"), "{}");
  write_bytes(dir.file("generation_config.json"), "nope");
  EXPECT_THAT(error_of([&] { HFFolder h(dir.path()); }),
              HasSubstr(dir.file("generation_config.json")));
  EXPECT_THAT(error_of([&] { HFFolder h(dir.file("absent")); }), HasSubstr(dir.file("absent")));
}

TEST(HFFolderBad, NoWeights) {
  TempDir dir;
  write_bytes(dir.file("config.json"), "{}");
  EXPECT_THAT(error_of([&] { HFFolder h(dir.path()); }), HasSubstr(dir.path()));
}

TEST(HFFolderBad, BrokenIndex) {
  TempDir dir;
  write_bytes(dir.file("config.json"), "{}");
  write_safetensors(dir.file("s1.safetensors"), {"x", "dup"}, 0);
  write_safetensors(dir.file("s2.safetensors"), {"y", "dup"}, 5);
  const std::string index = dir.file("model.safetensors.index.json");

  write_bytes(index, "{\"weight_map\": ");
  EXPECT_THAT(error_of([&] { HFFolder h(dir.path()); }), HasSubstr(index));
  write_bytes(index, "{\"metadata\": {}}");
  EXPECT_THAT(error_of([&] { HFFolder h(dir.path()); }), HasSubstr(index));

  write_index(dir.path(), {{"x", "s1.safetensors"}, {"ghost", "s1.safetensors"}});
  std::string msg = error_of([&] { HFFolder h(dir.path()); });
  EXPECT_THAT(msg, HasSubstr("s1.safetensors"));
  EXPECT_THAT(msg, HasSubstr("'ghost'"));

  write_index(dir.path(), {{"x", "s1.safetensors"}, {"y", "s2.safetensors"}});
  msg = error_of([&] { HFFolder h(dir.path()); });
  EXPECT_THAT(msg, HasSubstr("'dup'"));
  EXPECT_THAT(msg, HasSubstr("s1.safetensors"));
  EXPECT_THAT(msg, HasSubstr("s2.safetensors"));

  write_index(dir.path(), {{"x", "missing.safetensors"}});
  EXPECT_THAT(error_of([&] { HFFolder h(dir.path()); }), HasSubstr(dir.file("missing.safetensors")));
  write_index(dir.path(), {{"x", "../s1.safetensors"}});
  EXPECT_THAT(error_of([&] { HFFolder h(dir.path()); }), HasSubstr(index));
  write_index(dir.path(), {{"x", 3}});
  EXPECT_THAT(error_of([&] { HFFolder h(dir.path()); }), HasSubstr(index));
}

// ---------------------------------------------------------------------------
// Mutated headers: every outcome must be a loaded file or a strata::Error.

namespace {

// Applies one deterministic mutation, mostly inside the first `header_bytes`.
std::string mutate(const std::string& good, size_t header_bytes, std::mt19937_64& rng) {
  std::string bytes = good;
  auto pick = [&](size_t n) { return size_t(rng() % n); };
  switch (pick(5)) {
    case 0:  // flip one bit
      bytes[pick(header_bytes)] ^= char(1 << pick(8));
      break;
    case 1:  // a few random bytes
      for (int i = 0, n = 1 + int(pick(4)); i < n; ++i) bytes[pick(header_bytes)] = char(rng());
      break;
    case 2: {  // an interesting 8-byte or 4-byte value at a random place
      static const uint64_t values[] = {0, 1, 31, 32, 0x7fffffff, 0xffffffff, 1ull << 32,
                                        1ull << 40, 1ull << 62, ~0ull, good.size(), good.size() - 8};
      uint64_t v = values[pick(std::size(values))];
      size_t width = pick(2) ? 8 : 4;
      size_t at = pick(header_bytes - width);
      std::memcpy(bytes.data() + at, &v, width);
      break;
    }
    case 3:  // truncate
      bytes.resize(pick(bytes.size()));
      break;
    default:  // delete a run of bytes from the header
      bytes.erase(pick(header_bytes), 1 + pick(16));
      break;
  }
  return bytes;
}

// Every tensor view of a loaded file must lie inside it: its bytes are read
// (an unmapped address crashes) and must occur in the file's own bytes (a
// view past the end would read the mapping's zero padding or other memory).
void expect_views_inside(const TensorSource& s, const std::string& file_bytes, int mutation) {
  for (const auto& [name, t] : s.tensors()) {
    const std::string_view view(reinterpret_cast<const char*>(t.data), t.nbytes);
    ASSERT_NE(file_bytes.find(view), std::string::npos) << "mutation " << mutation << ", tensor " << name;
  }
}

template <typename Reader>
void fuzz(const std::string& good, size_t header_bytes, const std::string& path, uint64_t seed) {
  std::mt19937_64 rng(seed);
  int loaded = 0, rejected = 0;
  for (int i = 0; i < 2500; ++i) {
    const std::string bytes = mutate(good, header_bytes, rng);
    write_bytes(path, bytes);
    try {
      Reader r(path);
      expect_views_inside(r, bytes, i);
      ++loaded;
    } catch (const Error& e) {
      ASSERT_THAT(std::string(e.what()), HasSubstr(path)) << "mutation " << i;
      ++rejected;
    }
  }
  EXPECT_GT(rejected, 100);
  EXPECT_GT(loaded, 10);
}

}  // namespace

TEST(Fuzz, MutatedGGUFHeaders) {
  TempDir dir;
  SmallGGUF g = small_gguf(dir);
  fuzz<GGUFFile>(g.bytes, g.data_start, dir.file("fuzz.gguf"), 1);
}

TEST(Fuzz, MutatedSafetensorsHeaders) {
  TempDir dir;
  const std::string good_path = dir.file("good.safetensors");
  {
    SafetensorsWriter w(good_path);
    w.add_tensor("model.embed_tokens.weight", DType::BF16, {4, 3});
    w.add_tensor("model.norm.weight", DType::F32, {3});
    w.add_tensor("mask", DType::BOOL, {2});
    w.write_data(pattern(24 + 12 + 2, 3).data(), 38);
    w.finish();
  }
  const std::string good = read_bytes(good_path);
  fuzz<SafetensorsFile>(good, good.size() - 38, dir.file("fuzz.safetensors"), 2);
}
