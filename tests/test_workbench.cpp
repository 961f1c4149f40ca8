// The kernel workbench's FlashInfer-Trace datasets: definitions parse as
// flashinfer-bench's schema does (upstream's own files round-trip), the
// project's dataset in kernels/ is valid and its references run, and bad
// definitions are refused naming the file and the field.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>

#include <fmt/format.h>

#include "core/error.h"
#include "kernels/solution_registry.h"
#include "workbench/dataset.h"

namespace strata {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;
using ::testing::HasSubstr;

// Verbatim from flashinfer-bench (flashinfer_trace/definitions/gemm/gemm_n5120_k2048.json
// and rmsnorm/rmsnorm_h2048.json at ecafa9c2).
constexpr const char* kUpstreamGemm = R"J({
  "name": "gemm_n5120_k2048",
  "description": "General matrix multiply (GEMM) C = A @ B.T. Captured from Qwen 3 30B A3B attn.qkv_proj.",
  "op_type": "gemm",
  "tags": ["status:verified", "model:qwen3-30b-a3b"],
  "axes": {"M": {"type": "var"}, "N": {"type": "const", "value": 5120}, "K": {"type": "const", "value": 2048}},
  "inputs": {"A": {"shape": ["M", "K"], "dtype": "float16"}, "B": {"shape": ["N", "K"], "dtype": "float16"}},
  "outputs": {"C": {"shape": ["M", "N"], "dtype": "float16"}},
  "reference": "import torch\n\ndef run(A, B):\n    C = torch.matmul(A, B.T)\n    return C"
})J";
constexpr const char* kUpstreamRmsnorm = R"J({
  "name": "rmsnorm_h2048",
  "op_type": "rmsnorm",
  "description": "Root Mean Square Normalization with hidden_size=2048. Captured from Qwen3-30B-A3B. Epsilon is fixed at 1e-6.",
  "tags": ["status:verified", "model:qwen3-30b-a3b", "fi_api:flashinfer.norm.rmsnorm"],
  "axes": {"batch_size": {"type": "var"}, "hidden_size": {"type": "const", "value": 2048}},
  "inputs": {"hidden_states": {"shape": ["batch_size", "hidden_size"], "dtype": "bfloat16"},
             "weight": {"shape": ["hidden_size"], "dtype": "bfloat16"}},
  "outputs": {"output": {"shape": ["batch_size", "hidden_size"], "dtype": "bfloat16"}},
  "reference": "import torch\n\n@torch.no_grad()\ndef run(hidden_states, weight):\n    batch_size, hidden_size = hidden_states.shape\n    # Check constants\n    assert hidden_size == 2048\n\n    EPS = 1e-6\n\n    x = hidden_states.to(torch.float32)\n    inv_rms = torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + EPS)\n    y = (x * inv_rms) * weight.to(torch.float32)\n    return y.to(hidden_states.dtype)"
})J";

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(TraceDefinition, UpstreamFilesRoundTrip) {
  for (const char* text : {kUpstreamGemm, kUpstreamRmsnorm}) {
    const Json original = Json::parse(text);
    const Definition d = Definition::from_json(original, "upstream");
    EXPECT_EQ(nlohmann::json::parse(d.to_json().dump()), nlohmann::json::parse(original.dump())) << d.name;
  }
  const Definition gemm = Definition::from_json(Json::parse(kUpstreamGemm), "upstream");
  ASSERT_EQ(gemm.inputs.size(), 2u);
  EXPECT_EQ(gemm.inputs[0].name, "A");  // key order is calling order
  EXPECT_FALSE(gemm.axis("M")->is_const);
  EXPECT_EQ(gemm.axis("N")->value, 5120);
  EXPECT_EQ(gemm.tag("model"), "qwen3-30b-a3b");
  // Unknown keys are ignored, as pydantic's default does.
  Json extra = Json::parse(kUpstreamGemm);
  extra["hardware_id"] = "x";
  EXPECT_FALSE(Definition::from_json(extra, "upstream").to_json().contains("hardware_id"));
}

TEST(TraceDefinition, BadDefinitionsNameTheField) {
  auto edited = [](const std::function<void(Json&)>& edit) {
    Json j = Json::parse(kUpstreamGemm);
    edit(j);
    return error_of([&] { Definition::from_json(j, "f.json"); });
  };
  EXPECT_THAT(edited([](Json& j) { j["inputs"]["A"]["shape"] = {"M", "L"}; }),
              HasSubstr("f.json (gemm_n5120_k2048): inputs.A.shape: axis 'L' is not declared"));
  EXPECT_THAT(edited([](Json& j) { j["inputs"]["B"]["dtype"] = "uint8"; }), HasSubstr("inputs.B.dtype: 'uint8'"));
  EXPECT_THAT(edited([](Json& j) { j["outputs"]["A"] = j["outputs"]["C"]; }), HasSubstr("'A' is both an input and an output"));
  EXPECT_THAT(edited([](Json& j) { j["reference"] = "import torch\n  def run(A, B):\n    return A"; }),
              HasSubstr("no top-level 'def run('"));
  EXPECT_THAT(edited([](Json& j) { j["axes"]["N"].erase("value"); }), HasSubstr("axes.N: missing 'value'"));
  EXPECT_THAT(edited([](Json& j) { j["axes"]["N"]["value"] = -1; }), HasSubstr("axes.N.value: expected an integer >= 0"));
  EXPECT_THAT(edited([](Json& j) { j["axes"]["M"]["type"] = "dynamic"; }), HasSubstr("'dynamic' is neither const nor var"));
  EXPECT_THAT(edited([](Json& j) { j.erase("op_type"); }), HasSubstr("missing 'op_type'"));
  EXPECT_THAT(edited([](Json& j) { j["tags"] = "model:x"; }), HasSubstr("tags: expected a list of strings"));
}

struct TempDataset {
  fs::path root = fs::temp_directory_path() / fmt::format("strata_dataset_{}", getpid());
  TempDataset() { fs::create_directories(root / "definitions"); }
  ~TempDataset() { fs::remove_all(root); }
  void write(const std::string& rel, const std::string& text) const {
    fs::create_directories((root / rel).parent_path());
    std::ofstream(root / rel) << text;
  }
};

TEST(TraceDataset, LayoutProblemsAreAllListed) {
  TempDataset t;
  t.write("definitions/gemm/gemm_n5120_k2048.json", kUpstreamGemm);
  t.write("definitions/norms/rmsnorm_h2048.json", kUpstreamRmsnorm);       // op_type folder is "rmsnorm"
  t.write("definitions/rmsnorm/copy_of_gemm.json", kUpstreamGemm);         // file name is not the name
  t.write("definitions/gemm/broken.json", "{\"name\": ");                   // not JSON
  t.write("workloads/gemm/gemm_n5120_k2048.jsonl", "");                     // fine
  t.write("workloads/gemm/gemm_n1_k1.jsonl", "");                           // no such definition
  t.write("traces/gemm/gemm_n5120_k2048.jsonl", "");                        // author level missing
  const Dataset d = load_dataset(t.root.string());
  EXPECT_EQ(d.definitions.size(), 1u);
  const std::string all = fmt::format("{}", fmt::join(d.errors, "\n"));
  EXPECT_EQ(d.errors.size(), 5u) << all;
  EXPECT_THAT(all, HasSubstr("norms/rmsnorm_h2048.json: expected at definitions/rmsnorm/rmsnorm_h2048.json"));
  EXPECT_THAT(all, HasSubstr("copy_of_gemm.json: expected at definitions/gemm/gemm_n5120_k2048.json"));
  EXPECT_THAT(all, HasSubstr("broken.json: not JSON"));
  EXPECT_THAT(all, HasSubstr("gemm_n1_k1.jsonl: no definition 'gemm_n1_k1'"));
  EXPECT_THAT(all, HasSubstr("traces/gemm/gemm_n5120_k2048.jsonl: expected traces/<author>/<op_type>/<definition>.jsonl"));

  Json twin = Json::parse(kUpstreamGemm);  // a second gemm_n5120_k2048, under another op_type
  twin["op_type"] = "gemm2";
  t.write("definitions/gemm2/gemm_n5120_k2048.json", twin.dump());
  EXPECT_THAT(fmt::format("{}", fmt::join(load_dataset(t.root.string()).errors, "\n")),
              HasSubstr("definition 'gemm_n5120_k2048' is also defined in"));
  EXPECT_THAT(error_of([&] { load_dataset((t.root / "definitions").string()); }), HasSubstr("no definitions/ folder"));
}

// The project's dataset: valid, every reference parses, every one that fits
// in memory on a torch with its dtypes runs and returns what it declares;
// each strata_kernel tag names a registered kernel definition, and each
// kernel the default model and Kimi K2 run has a dataset definition.
TEST(TraceDataset, ProjectDefinitionsAreValidAndTheirReferencesRun) {
  const Dataset d = load_dataset(std::string(STRATA_SOURCE_DIR) + "/kernels");
  EXPECT_THAT(d.errors, ::testing::IsEmpty());
  EXPECT_THAT(d.warnings, ::testing::IsEmpty());
  EXPECT_GE(d.definitions.size(), 30u);
  const auto registered = kernel_definitions();
  std::set<std::string> tagged;
  for (const Definition& def : d.definitions) {
    if (auto k = def.tag("strata_kernel")) {
      EXPECT_NE(std::find(registered.begin(), registered.end(), *k), registered.end()) << def.name << ": " << *k;
      tagged.insert(*k);
    }
  }
  for (const char* k : {"gemm_bf16", "gemm_w4a16_g32", "gemm_fp8_e4m3_block128", "gqa_paged_attention",
                        "mla_paged_attention", "rmsnorm", "rope_neox", "softmax", "silu_mul", "argmax"}) {
    EXPECT_TRUE(tagged.contains(k)) << k;
  }
  int ran = 0;
  for (const ReferenceCheck& c : check_references(d.definitions, true)) {
    SCOPED_TRACE(c.definition + ": " + c.message);
    EXPECT_NE(c.status, ReferenceCheck::Status::Error);
    EXPECT_NE(c.status, ReferenceCheck::Status::Parsed);  // torch imports (scripts/install-deps installs it)
    ran += c.status == ReferenceCheck::Status::Ran;
  }
  EXPECT_GE(ran, 27);
}

TEST(TraceDataset, BrokenReferencesAreReported) {
  // Upstream's bf16 rmsnorm runs on a CPU torch (its gemm, in float16, does not).
  Json wrong_shape = Json::parse(kUpstreamRmsnorm);
  wrong_shape["name"] = "wrong_shape";
  wrong_shape["reference"] = "def run(hidden_states, weight):\n    return hidden_states[:, :5]";
  Json syntax = Json::parse(kUpstreamRmsnorm);
  syntax["name"] = "syntax";
  syntax["reference"] = "import torch\n\ndef run(hidden_states, weight):\n    return (hidden_states @\n";
  Json raises = Json::parse(kUpstreamRmsnorm);
  raises["name"] = "raises";
  raises["reference"] = "def run(hidden_states, weight):\n    raise RuntimeError('boom')";
  std::vector<Definition> defs;
  for (const Json& j : {Json::parse(kUpstreamRmsnorm), wrong_shape, syntax, raises}) defs.push_back(Definition::from_json(j, "t"));
  const std::vector<ReferenceCheck> run = check_references(defs, true);
  ASSERT_EQ(run.size(), 4u);
  EXPECT_EQ(run[0].status, ReferenceCheck::Status::Ran) << run[0].message;
  EXPECT_EQ(run[1].status, ReferenceCheck::Status::Error);
  EXPECT_THAT(run[1].message, HasSubstr("output output has shape [2, 5], expected [2, 2048]"));
  EXPECT_EQ(run[2].status, ReferenceCheck::Status::Error);
  EXPECT_THAT(run[2].message, HasSubstr("SyntaxError"));
  EXPECT_EQ(run[3].status, ReferenceCheck::Status::Error);
  EXPECT_THAT(run[3].message, HasSubstr("RuntimeError: boom"));
  const std::vector<ReferenceCheck> parsed = check_references(defs, false);
  EXPECT_EQ(parsed[1].status, ReferenceCheck::Status::Parsed);
  EXPECT_EQ(parsed[2].status, ReferenceCheck::Status::Error);
}

TEST(TraceDataset, ValidateCommandFailsOnErrors) {
  TempDataset t;
  t.write("definitions/rmsnorm/rmsnorm_h2048.json", kUpstreamRmsnorm);
  auto run = [](const std::string& args) {
    FILE* p = popen(fmt::format("{} kernels validate {} 2>&1", STRATA_BINARY, args).c_str(), "r");
    std::string out;
    char buf[4096];
    while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
    return std::make_pair(pclose(p), out);
  };
  auto [ok_status, ok_out] = run(t.root.string());
  EXPECT_EQ(ok_status, 0) << ok_out;
  EXPECT_THAT(ok_out, HasSubstr("1 definitions; references: 1 ran, 0 parsed only, 0 not run; 0 errors, 0 warnings"));
  t.write("definitions/rmsnorm/bad.json", "[]");
  auto [bad_status, bad_out] = run(t.root.string() + " --no-run");
  EXPECT_NE(bad_status, 0);
  EXPECT_THAT(bad_out, HasSubstr("bad.json: a definition is a JSON object"));
  EXPECT_THAT(bad_out, HasSubstr("1 errors"));
}

}  // namespace
}  // namespace strata
