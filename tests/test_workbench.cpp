// The kernel workbench's FlashInfer-Trace datasets: definitions parse as
// flashinfer-bench's schema does (upstream's own files round-trip), the
// project's dataset in kernels/ is valid and its references run, and bad
// definitions are refused naming the file and the field.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/dtype.h"
#include "core/error.h"
#include "kernels/solution_registry.h"
#include "kernels/matmul.h"
#include "kernels/ops.h"
#include "kernels/shape_choices.h"
#include "workbench/command_output.h"
#include "workbench/dataset.h"
#include "workbench/definition_templates.h"
#include "workbench/kernel_table.h"
#include "workbench/leaderboard.h"
#include "oracle_fixture.h"
#include "tools/synth.h"

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

// The strata command line with these arguments: exit status and what it printed.
CommandOutput strata_cli(const std::string& args) { return run_command(fmt::format("{} {}", STRATA_BINARY, args)); }

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
  // Copies "<op_type>/<name>" definitions from the project's dataset.
  void copy_project_definitions(const std::vector<std::string>& names) const {
    for (const std::string& n : names) {
      std::ifstream in(std::string(STRATA_SOURCE_DIR) + "/kernels/definitions/" + n + ".json");
      write("definitions/" + n + ".json", std::string(std::istreambuf_iterator<char>(in), {}));
    }
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
  EXPECT_GE(d.definitions.size(), 34u);
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
  EXPECT_GE(ran, 31);
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
    const CommandOutput o = strata_cli("kernels validate " + args);
    return std::make_pair(o.status, o.text);
  };
  auto [ok_status, ok_out] = run(t.root.string());
  EXPECT_EQ(ok_status, 0) << ok_out;
  EXPECT_THAT(ok_out, HasSubstr("1 definitions, 0 workloads, 0 solutions, 0 traces; references: 1 ran, 0 parsed only, 0 not run; 0 errors, 0 warnings"));
  t.write("definitions/rmsnorm/bad.json", "[]");
  auto [bad_status, bad_out] = run(t.root.string() + " --no-run");
  EXPECT_NE(bad_status, 0);
  EXPECT_THAT(bad_out, HasSubstr("bad.json: a definition is a JSON object"));
  EXPECT_THAT(bad_out, HasSubstr("1 errors"));
}

// Verbatim from flashinfer-bench: a workload line (flashinfer_trace/workloads/
// gqa_paged/gqa_paged_decode_h32_kv4_d128_ps1.jsonl at ecafa9c2) and two
// B200 traces (zhang677/AccelOpt selected_traces_triton.jsonl).
constexpr const char* kUpstreamWorkload = R"J({"definition": "gqa_paged_decode_h32_kv4_d128_ps1","solution": null,"workload": {"uuid": "0c2489b2-f878-428b-b1bd-d0c6d4c39338","axes": {"batch_size": 1,"num_pages": 8,"len_indptr": 2,"num_kv_indices": 7},"inputs": {"q": {"type": "random"},"k_cache": {"type": "random"},"v_cache": {"type": "random"},"kv_indptr": {"type": "safetensors","path": "./blob/workloads/gqa_paged/gqa_paged_decode_h32_kv4_d128_ps1/gqa_paged_decode_h32_kv4_d128_ps1_a000801975bf4961bf7ff41476b20ed1.safetensors","tensor_key": "kv_indptr"},"kv_indices": {"type": "safetensors","path": "./blob/workloads/gqa_paged/gqa_paged_decode_h32_kv4_d128_ps1/gqa_paged_decode_h32_kv4_d128_ps1_a000801975bf4961bf7ff41476b20ed1.safetensors","tensor_key": "kv_indices"},"sm_scale": {"type": "scalar","value": 0.0883883461356163}}},"evaluation": null})J";
constexpr const char* kUpstreamTraces[] = {
    R"J({"definition":"gemm_n5120_k2048","workload":{"axes":{"M":16294},"inputs":{"A":{"type":"random"},"B":{"type":"random"}},"uuid":"a9e6fb35-fd26-4eb6-a963-42f5b0021d06"},"solution":"gemini-2.5-pro_triton_5iu7uf","evaluation":{"status":"PASSED","environment":{"hardware":"NVIDIA B200","libs":{"torch":"2.8.0+cu128","triton":"3.4.0","cuda":"12.8"}},"timestamp":"2025-10-16T01:21:39.987070","log":"","correctness":{"max_relative_error":0.0,"max_absolute_error":0.0,"extra":null},"performance":{"latency_ms":0.3454771089531832,"reference_latency_ms":0.13214051904627133,"speedup_factor":0.38248704652723653}}})J",
    R"J({"definition":"gqa_paged_decode_h32_kv4_d128_ps1","workload":{"axes":{"batch_size":64,"num_pages":61535,"len_indptr":65,"num_kv_indices":61519},"inputs":{"q":{"type":"random"},"k_cache":{"type":"random"},"v_cache":{"type":"random"},"kv_indptr":{"type":"safetensors","path":"./blob/workloads/gqa_paged/gqa_paged_decode_h32_kv4_d128_ps1/gqa_paged_decode_h32_kv4_d128_ps1_e8b4070113524d62974186eb7226bab6.safetensors","tensor_key":"kv_indptr"},"kv_indices":{"type":"safetensors","path":"./blob/workloads/gqa_paged/gqa_paged_decode_h32_kv4_d128_ps1/gqa_paged_decode_h32_kv4_d128_ps1_e8b4070113524d62974186eb7226bab6.safetensors","tensor_key":"kv_indices"},"sm_scale":{"type":"scalar","value":0.0883883461356163}},"uuid":"7a7fc288-c6af-40ce-8b64-7a18408d3d25"},"solution":"gpt-5_triton_f88811","evaluation":{"status":"PASSED","environment":{"hardware":"NVIDIA B200","libs":{"torch":"2.8.0+cu128","triton":"3.4.0","cuda":"12.8"}},"timestamp":"2025-10-16T01:44:58.809242","log":"","correctness":{"max_relative_error":0.03796739503741264,"max_absolute_error":0.001953125,"extra":null},"performance":{"latency_ms":0.3778863031368977,"reference_latency_ms":1931.3841552734375,"speedup_factor":5111.019211971149}}})J",
};

TEST(TraceSchema, UpstreamWorkloadAndTracesRoundTrip) {
  for (const char* text : {kUpstreamWorkload, kUpstreamTraces[0], kUpstreamTraces[1]}) {
    const nlohmann::json original = nlohmann::json::parse(text);
    const Trace t = Trace::from_json(original, "upstream");
    EXPECT_EQ(nlohmann::json::parse(t.to_json().dump()), original) << t.definition;
  }
  const Trace w = Trace::from_json(nlohmann::json::parse(kUpstreamWorkload), "upstream");
  EXPECT_FALSE(w.solution.has_value());
  EXPECT_EQ(w.workload.axis("num_kv_indices"), 7);
  const auto sm_scale = std::find_if(w.workload.inputs.begin(), w.workload.inputs.end(),
                                     [](const auto& in) { return in.first == "sm_scale"; });
  ASSERT_NE(sm_scale, w.workload.inputs.end());
  EXPECT_EQ(sm_scale->second.kind, WorkloadInput::Kind::Scalar);
  EXPECT_EQ(sm_scale->second.value, 0.0883883461356163);
  const Trace t = Trace::from_json(nlohmann::json::parse(kUpstreamTraces[1]), "upstream");
  EXPECT_EQ(t.evaluation->performance->speedup_factor, 5111.019211971149);
  // A dumped trace keeps upstream's key order.
  EXPECT_TRUE(t.to_json().dump().starts_with(R"({"definition":"gqa_paged_decode_h32_kv4_d128_ps1","workload":{"axes":)"));
}

TEST(TraceSchema, StatusRulesAndNonFiniteErrors) {
  nlohmann::json j = nlohmann::json::parse(kUpstreamTraces[0]);
  auto error_with = [&](const std::function<void(nlohmann::json&)>& edit) {
    nlohmann::json e = j;
    edit(e);
    return error_of([&] { Trace::from_json(e, "t.jsonl:3"); });
  };
  EXPECT_THAT(error_with([](auto& e) { e["evaluation"]["performance"] = nullptr; }),
              HasSubstr("t.jsonl:3.evaluation: status PASSED requires performance"));
  EXPECT_THAT(error_with([](auto& e) { e["evaluation"]["status"] = "INCORRECT_NUMERICAL"; }),
              HasSubstr("status INCORRECT_NUMERICAL forbids performance"));
  EXPECT_THAT(error_with([](auto& e) {
                e["evaluation"]["status"] = "TIMEOUT";
                e["evaluation"]["performance"] = nullptr;
              }),
              HasSubstr("status TIMEOUT forbids correctness"));
  EXPECT_THAT(error_with([](auto& e) { e["evaluation"]["status"] = "FAST"; }), HasSubstr("'FAST' is not a FlashInfer-Trace status"));
  EXPECT_THAT(error_with([](auto& e) { e["evaluation"] = nullptr; }), HasSubstr("both a solution and an evaluation, or neither"));
  EXPECT_THAT(error_with([](auto& e) { e["workload"]["inputs"]["A"] = {{"type", "file"}}; }),
              HasSubstr("t.jsonl:3.workload.inputs.A.type: 'file'"));

  // INCORRECT_NUMERICAL with a NaN error: written as the string "NaN".
  j["evaluation"]["status"] = "INCORRECT_NUMERICAL";
  j["evaluation"]["performance"] = nullptr;
  j["evaluation"]["correctness"]["max_absolute_error"] = "NaN";
  j["evaluation"]["correctness"]["max_relative_error"] = "Infinity";
  const Trace t = Trace::from_json(j, "t");
  EXPECT_TRUE(std::isnan(t.evaluation->correctness->max_absolute_error));
  EXPECT_EQ(nlohmann::json::parse(t.to_json().dump()), j);
}

constexpr const char* kSolution = R"J({
  "name": "strata_cpp_rmsnorm_scalar", "definition": "rmsnorm_h2048", "author": "strata",
  "spec": {"language": "cpp", "target_hardware": ["x86_64"], "entry_point": "rmsnorm.cpp::run",
           "dependencies": [], "destination_passing_style": true, "binding": null},
  "sources": [{"path": "rmsnorm.cpp", "content": "extern \"C\" int run() { return 0; }"}]
})J";

TEST(TraceSchema, SolutionsRoundTripAndBadOnesAreNamed) {
  const nlohmann::json j = nlohmann::json::parse(kSolution);
  const TraceSolution s = TraceSolution::from_json(j, "s.json");
  EXPECT_EQ(nlohmann::json::parse(s.to_json().dump()), j);
  EXPECT_EQ(s.entry_file(), "rmsnorm.cpp");
  EXPECT_EQ(s.entry_function(), "run");
  auto error_with = [&](const std::function<void(nlohmann::json&)>& edit) {
    nlohmann::json e = j;
    edit(e);
    return error_of([&] { TraceSolution::from_json(e, "s.json"); });
  };
  EXPECT_THAT(error_with([](auto& e) { e["spec"]["language"] = "rust"; }), HasSubstr("spec.language: 'rust'"));
  EXPECT_THAT(error_with([](auto& e) { e["spec"]["entry_point"] = "rmsnorm.cpp:run"; }), HasSubstr("is not '<file>::<function>'"));
  EXPECT_THAT(error_with([](auto& e) { e["spec"]["entry_point"] = "other.cpp::run"; }), HasSubstr("'other.cpp' is not among the sources"));
  EXPECT_THAT(error_with([](auto& e) { e["spec"]["target_hardware"] = nlohmann::json::array(); }), HasSubstr("at least one target"));
  EXPECT_THAT(error_with([](auto& e) { e["sources"][0]["path"] = "../x.cpp"; }), HasSubstr("relative path without '..'"));
  EXPECT_THAT(error_with([](auto& e) { e["sources"].push_back(e["sources"][0]); }), HasSubstr("appears twice"));
  EXPECT_THAT(error_with([](auto& e) { e["spec"]["binding"] = "pybind"; }), HasSubstr("binding"));
}

// Workloads, solutions and traces are checked against their definitions.
TEST(TraceDataset, WorkloadsSolutionsAndTracesAgreeWithTheirDefinitions) {
  TempDataset t;
  t.write("definitions/rmsnorm/rmsnorm_h2048.json", kUpstreamRmsnorm);
  const std::string good_workload =
      R"({"definition":"rmsnorm_h2048","workload":{"axes":{"batch_size":4},"inputs":{"hidden_states":{"type":"random"},"weight":{"type":"random"}},"uuid":"u1"},"solution":null,"evaluation":null})";
  nlohmann::json missing_axis = nlohmann::json::parse(good_workload);
  missing_axis["workload"]["axes"].erase("batch_size");
  nlohmann::json blob = nlohmann::json::parse(good_workload);
  blob["workload"]["inputs"]["weight"] = {{"type", "safetensors"}, {"path", "./blob/workloads/rmsnorm/rmsnorm_h2048/rmsnorm_h2048_u1.safetensors"}, {"tensor_key", "weight"}};
  t.write("workloads/rmsnorm/rmsnorm_h2048.jsonl", good_workload + "\n" + missing_axis.dump() + "\n\n" + blob.dump() + "\n");
  t.write("solutions/strata/rmsnorm/rmsnorm_h2048/strata_cpp_rmsnorm_scalar.json", kSolution);
  t.write("solutions/someone/rmsnorm/rmsnorm_h2048/misplaced.json", kSolution);
  nlohmann::json trace = nlohmann::json::parse(kUpstreamTraces[0]);
  trace["definition"] = "rmsnorm_h2048";
  trace["workload"] = nlohmann::json::parse(good_workload)["workload"];
  trace["solution"] = "strata_cpp_rmsnorm_scalar";
  nlohmann::json unknown = trace;
  unknown["solution"] = "nobody";
  t.write("traces/strata/rmsnorm/rmsnorm_h2048.jsonl", trace.dump() + "\n" + unknown.dump() + "\n");
  const Dataset d = load_dataset(t.root.string());
  const std::string all = fmt::format("{}", fmt::join(d.errors, "\n"));
  EXPECT_EQ(d.workloads.size(), 1u) << all;
  EXPECT_EQ(d.solutions.size(), 1u) << all;
  EXPECT_EQ(d.traces.size(), 1u) << all;
  EXPECT_EQ(d.errors.size(), 4u) << all;
  EXPECT_THAT(all, HasSubstr("rmsnorm_h2048.jsonl:2: var axis 'batch_size' of rmsnorm_h2048 missing"));
  EXPECT_THAT(all, HasSubstr("rmsnorm_h2048.jsonl:4: input 'weight': blob ./blob/workloads/rmsnorm/rmsnorm_h2048/rmsnorm_h2048_u1.safetensors not found"));
  EXPECT_THAT(all, HasSubstr("misplaced.json: expected at solutions/strata/rmsnorm/rmsnorm_h2048/strata_cpp_rmsnorm_scalar.json"));
  EXPECT_THAT(all, HasSubstr("traces/strata/rmsnorm/rmsnorm_h2048.jsonl:2: no solution 'nobody' in solutions/"));
}

// C sources of out-of-tree rmsnorm solutions (rmsnorm_f32_h128, eps 1e-6).
constexpr const char* kRmsnormC = R"C(#include <math.h>
#include "strata_solution.h"
int run(const strata_tensor* in, int32_t n_in, strata_tensor* out, int32_t n_out) {
  const float* x = (const float*)in[0].data;
  const float* w = (const float*)in[1].data;
  float* y = (float*)out[0].data;
  const int64_t rows = in[0].shape[0], dim = in[0].shape[1];
  if (n_in != 2 || n_out != 1) return 1;
  for (int64_t r = 0; r < rows; ++r) {
    float ss = 0;
    for (int64_t i = 0; i < dim; ++i) ss += x[r * dim + i] * x[r * dim + i];
    const float inv = 1.0f / sqrtf(ss / (float)dim + 1e-6f);
    for (int64_t i = 0; i < dim; ++i) y[r * dim + i] = x[r * dim + i] * inv * w[i] * SCALE;
  }
  return 0;
}
)C";

nlohmann::json out_of_tree(const std::string& name, const std::string& source, const std::string& file = "rmsnorm.c") {
  return {{"name", name},
          {"definition", "rmsnorm_f32_h128"},
          {"author", "tester"},
          {"spec", {{"language", "cpp"}, {"target_hardware", {"x86_64"}}, {"entry_point", file + "::run"}}},
          {"sources", {{{"path", file}, {"content", source}}}}};
}

std::string with_scale(const char* scale) { return std::string("#define SCALE ") + scale + "\n" + kRmsnormC; }

// strata's own solutions and out-of-tree ones, run in child processes: the
// correct ones PASS with a speedup against the baseline, a wrong one is
// INCORRECT_NUMERICAL, a crash is RUNTIME_ERROR, a hang TIMEOUT, a syntax
// error COMPILE_ERROR; the runner survives all of them and writes a dataset
// that validates.
TEST(KernelRunner, SolutionsGetTheirStatusAndTheRunnerSurvives) {
  TempDataset t;
  const std::string def_file = std::string(STRATA_SOURCE_DIR) + "/kernels/definitions/rmsnorm/rmsnorm_f32_h128.json";
  std::ifstream def_in(def_file);
  t.write("definitions/rmsnorm/rmsnorm_f32_h128.json", std::string(std::istreambuf_iterator<char>(def_in), {}));
  const std::vector<std::pair<std::string, nlohmann::json>> solutions = {
      {"tester_c_right", out_of_tree("tester_c_right", with_scale("1.0f"))},
      {"tester_c_wrong", out_of_tree("tester_c_wrong", with_scale("1.1f"))},
      {"tester_c_crash", out_of_tree("tester_c_crash", "#include \"strata_solution.h\"\nint run(const strata_tensor* i, int32_t a, strata_tensor* o, int32_t b) { *(volatile int*)0 = 1; return 0; }\n")},
      {"tester_c_hang", out_of_tree("tester_c_hang", "#include \"strata_solution.h\"\nint run(const strata_tensor* i, int32_t a, strata_tensor* o, int32_t b) { volatile int spin = 1; while (spin) {} return 0; }\n")},
      {"tester_cpp_broken", out_of_tree("tester_cpp_broken", "extern \"C\" int run( {", "broken.cpp")},
  };
  for (const auto& [name, j] : solutions) t.write("solutions/tester/rmsnorm/rmsnorm_f32_h128/" + name + ".json", j.dump(2));
  const fs::path out = t.root / "out";
  const CommandOutput bench_run = strata_cli(fmt::format(
      "kernels bench {} --out {} --synthetic-sizes 3 --trials 2 --warmup 1 --iterations 3 --timeout 10 "
      "--max-seconds-per-trial 0.5",
      t.root.string(), out.string()));
  const std::string& log = bench_run.text;
  ASSERT_EQ(bench_run.status, 0) << log;

  const Dataset d = load_dataset(out.string());
  EXPECT_THAT(d.errors, ::testing::IsEmpty());
  std::map<std::string, EvaluationStatus> status;
  for (const Trace& tr : d.traces) status[*tr.solution] = tr.evaluation->status;
  EXPECT_EQ(status["rmsnorm_f32_h128__rmsnorm_scalar"], EvaluationStatus::Passed) << log;
  EXPECT_EQ(status["tester_c_right"], EvaluationStatus::Passed) << log;
  EXPECT_EQ(status["tester_c_wrong"], EvaluationStatus::IncorrectNumerical) << log;
  EXPECT_EQ(status["tester_c_crash"], EvaluationStatus::RuntimeError) << log;
  EXPECT_EQ(status["tester_c_hang"], EvaluationStatus::Timeout) << log;
  EXPECT_EQ(status["tester_cpp_broken"], EvaluationStatus::CompileError) << log;
  for (const Trace& tr : d.traces) {
    // Under a sanitizer, the runner's own handler catches the SIGSEGV first
    // and reports it (then exits with its own status).
    if (*tr.solution == "tester_c_crash") {
      EXPECT_THAT(tr.evaluation->log, HasSubstr(STRATA_SANITIZED ? "SEGV" : "signal 11"));
    }
    if (*tr.solution == "tester_c_wrong") {
      EXPECT_GT(tr.evaluation->correctness->max_absolute_error, 0.01);
      EXPECT_FALSE(tr.evaluation->performance.has_value());
    }
    if (*tr.solution == "tester_c_right") {
      EXPECT_LT(tr.evaluation->correctness->max_absolute_error, 1e-4);
      EXPECT_GT(tr.evaluation->performance->latency_ms, 0);
      EXPECT_TRUE(tr.evaluation->libs.contains("isa"));
    }
  }

  // Apply: one entry for the token bucket, a registry solution that PASSED;
  // never the wrong, crashing or out-of-tree ones.
  std::vector<std::string> notes;
  const KernelTable table = build_kernel_table(d, notes);
  ASSERT_EQ(table.entries.size(), 1u);
  const KernelTableEntry& e = table.entries[0];
  EXPECT_EQ(e.kernel, "rmsnorm");
  EXPECT_EQ(e.shape, std::vector<int64_t>{128});
  EXPECT_EQ(e.max_tokens, 4);  // 3 tokens -> the bucket up to 4
  // The fastest that passed: a registry solution, or the right out-of-tree one with its sources.
  EXPECT_TRUE(e.solution.starts_with("rmsnorm_") || e.solution == "tester_c_right") << e.solution;
  EXPECT_EQ(e.out_of_tree.is_null(), e.solution != "tester_c_right");
  const KernelTable again = KernelTable::from_json(nlohmann::json::parse(table.to_json().dump()), "t");
  EXPECT_EQ(again.entries[0].solution, e.solution);

  // A challenger replaces what serving selects without a table only by the
  // --min-speedup margin: 3% faster keeps the selection, 10% faster wins.
  const std::string incumbent(select("rmsnorm").name);
  auto with_challenger_at = [&](double challenger_ms) {
    Dataset timed = d;
    for (Trace& tr : timed.traces) {
      if (!tr.evaluation->performance) continue;
      tr.evaluation->performance->latency_ms = tr.solution->ends_with("__" + incumbent) ? 1.0
                                               : *tr.solution == "tester_c_right"     ? challenger_ms
                                                                                      : 10.0;
    }
    std::vector<std::string> why;
    const KernelTable t = build_kernel_table(timed, why, 1.05);
    EXPECT_EQ(t.entries.size(), 1u);
    if (t.entries.empty()) return std::make_pair(std::string(), why);
    EXPECT_EQ(t.entries[0].out_of_tree.is_null(), t.entries[0].solution != "tester_c_right");
    return std::make_pair(t.entries[0].solution, why);
  };
  const auto [kept, kept_notes] = with_challenger_at(0.97);
  EXPECT_EQ(kept, incumbent);
  EXPECT_THAT(kept_notes, ::testing::Contains(HasSubstr("kept " + incumbent)));
  EXPECT_EQ(with_challenger_at(0.9).first, "tester_c_right");

  // The leaderboard: the baseline at 1x, failures at 0 and last, a PNG of the
  // fast_p curves (matplotlib comes with scripts/install-deps).
  const std::vector<DefinitionBoard> boards = leaderboard(d);
  ASSERT_EQ(boards.size(), 1u);
  std::map<std::string, LeaderboardRow> rows;
  for (const LeaderboardRow& r : boards[0].rows) rows[r.solution] = r;
  EXPECT_DOUBLE_EQ(rows["rmsnorm_f32_h128__rmsnorm_scalar"].mean_speedup, 1.0);
  EXPECT_GT(rows["tester_c_right"].mean_speedup, 0.0);
  EXPECT_EQ(rows["tester_c_wrong"].mean_speedup, 0.0);
  EXPECT_EQ(rows["tester_c_wrong"].pass_rate, 0.0);
  EXPECT_EQ(rows.count("tester_cpp_broken"), 1u);
  EXPECT_EQ(boards[0].rows.back().mean_speedup, 0.0);
  const std::vector<std::string> files = write_report(boards, (t.root / "report").string());
  EXPECT_TRUE(fs::exists(t.root / "report" / "fast_p.png"));
  std::ifstream md(t.root / "report" / "report.md");
  const std::string text(std::istreambuf_iterator<char>(md), {});
  EXPECT_THAT(text, HasSubstr("## rmsnorm_f32_h128"));
  EXPECT_THAT(text, HasSubstr("| tester_c_wrong | tester | 0.00x | 0% | 0% | 1 |"));
}

// The expected outputs are the definition's Python reference's: a reference
// that says "times 1.1" fails strata's every rmsnorm, which only the scalar
// baseline's own outputs would have passed. A reference that kills Python
// or loops falls back to the baseline, saying why; `--reference python` without a
// Python that imports torch is an error (torch: scripts/install-deps).
TEST(KernelRunner, ExpectedOutputsComeFromThePythonReference) {
  const std::string def_file = std::string(STRATA_SOURCE_DIR) + "/kernels/definitions/rmsnorm/rmsnorm_f32_h128.json";
  std::ifstream def_in(def_file);
  const Json def = Json::parse(std::string(std::istreambuf_iterator<char>(def_in), {}));
  auto bench = [&](const std::string& reference_code, const std::string& flags, const std::string& env = "") {
    TempDataset t;
    Json d = def;
    d["reference"] = reference_code;
    t.write("definitions/rmsnorm/rmsnorm_f32_h128.json", d.dump(2));
    const fs::path out = t.root / "out";
    const CommandOutput run = run_command(fmt::format("{} {} kernels bench {} --out {} --synthetic-sizes 3 --trials 1 "
                                                      "--warmup 0 --iterations 1 {}",
                                                      env, STRATA_BINARY, t.root.string(), out.string(), flags));
    std::vector<Trace> traces;
    if (run.status == 0) traces = load_dataset(out.string()).traces;
    return std::make_pair(run, traces);
  };
  const std::string right = def["reference"];
  const std::string scaled = right.substr(0, right.rfind("return")) + "return hidden_states * inv_rms * weight * 1.1\n";
  ASSERT_NE(scaled, right);

  const auto [ran, traces] = bench(scaled, "");
  ASSERT_EQ(ran.status, 0) << ran.text;
  EXPECT_THAT(ran.text, HasSubstr("expected outputs: the definitions' Python references (python3 torch"));
  ASSERT_GE(traces.size(), 1u);
  for (const Trace& tr : traces) {
    EXPECT_EQ(tr.evaluation->status, EvaluationStatus::IncorrectNumerical) << *tr.solution;
    EXPECT_THAT(tr.evaluation->libs.at("reference"), HasSubstr("python reference (python3 torch")) << *tr.solution;
  }

  const auto [ran_right, traces_right] = bench(right, "--reference python");
  ASSERT_EQ(ran_right.status, 0) << ran_right.text;
  for (const Trace& tr : traces_right) EXPECT_EQ(tr.evaluation->status, EvaluationStatus::Passed) << tr.evaluation->log;

  const auto [ran_baseline, traces_baseline] = bench(scaled, "--reference baseline");
  ASSERT_EQ(ran_baseline.status, 0) << ran_baseline.text;
  for (const Trace& tr : traces_baseline) {
    EXPECT_EQ(tr.evaluation->status, EvaluationStatus::Passed);
    EXPECT_EQ(tr.evaluation->libs.at("reference"), "baseline rmsnorm_scalar");
  }

  const auto [ran_dies, traces_dies] = bench("import os\n\ndef run(hidden_states, weight):\n    os._exit(3)\n", "");
  ASSERT_EQ(ran_dies.status, 0) << ran_dies.text;
  ASSERT_GE(traces_dies.size(), 1u);
  for (const Trace& tr : traces_dies) {
    EXPECT_EQ(tr.evaluation->status, EvaluationStatus::Passed);
    EXPECT_THAT(tr.evaluation->libs.at("reference"),
                HasSubstr("baseline rmsnorm_scalar (the Python reference failed: the Python reference process died"));
  }

  const auto [ran_loops, traces_loops] = bench("def run(hidden_states, weight):\n    while True:\n        pass\n", "--reference-timeout 2");
  ASSERT_EQ(ran_loops.status, 0) << ran_loops.text;
  ASSERT_GE(traces_loops.size(), 1u);
  EXPECT_THAT(traces_loops[0].evaluation->libs.at("reference"), HasSubstr("the Python reference ran past 2 s"));

  const auto [no_python, none] = bench(right, "--reference python", "STRATA_PYTHON=/nonexistent/python3");
  EXPECT_NE(no_python.status, 0);
  EXPECT_THAT(no_python.text, HasSubstr("the Python reference process died"));
  const auto [auto_no_python, baseline_traces] = bench(right, "", "STRATA_PYTHON=/nonexistent/python3");
  ASSERT_EQ(auto_no_python.status, 0) << auto_no_python.text;
  EXPECT_THAT(auto_no_python.text, HasSubstr("expected outputs: the scalar baselines"));
  ASSERT_GE(baseline_traces.size(), 1u);
  EXPECT_EQ(baseline_traces[0].evaluation->libs.at("reference"), "baseline rmsnorm_scalar");
}

// The paged-attention and FP8 definitions run strata's solutions on
// synthetic batches whose page tables (shuffled pages, one unused, partial
// last pages) are blobs of the output dataset; every solution agrees with
// the definition's Python reference (FP8: the scalar reference, where this
// torch has no float8), and the output dataset validates.
TEST(KernelRunner, PagedAttentionAndFp8SolutionsMatchTheReferences) {
  TempDataset t;
  const std::vector<std::string> names = {
      "gqa_paged/gqa_paged_decode_f32_h32_kv4_d128_ps16", "gqa_paged/gqa_paged_prefill_causal_f32_h32_kv4_d128_ps16",
      "mla_paged/mla_paged_decode_f32_h64_ckv512_kpe64_ps16", "mla_paged/mla_paged_prefill_causal_f32_h64_ckv512_kpe64_ps16",
      "gemm/gemm_fp8_e4m3_block128_n1536_k3072"};
  t.copy_project_definitions(names);
  const fs::path out = t.root / "out";
  const CommandOutput run = strata_cli(fmt::format(
      "kernels bench {} --out {} --synthetic-sizes 3,70 --trials 1 --warmup 0 --iterations 1", t.root.string(), out.string()));
  ASSERT_EQ(run.status, 0) << run.text;
  const Dataset d = load_dataset(out.string());
  EXPECT_THAT(d.errors, ::testing::IsEmpty());
  std::map<std::string, int> passed, python_checked;
  for (const Trace& tr : d.traces) {
    EXPECT_EQ(tr.evaluation->status, EvaluationStatus::Passed) << *tr.solution << ": " << tr.evaluation->log;
    passed[tr.definition] += tr.evaluation->status == EvaluationStatus::Passed;
    python_checked[tr.definition] += tr.evaluation->libs.at("reference").starts_with("python reference");
  }
  EXPECT_EQ(passed.size(), names.size());
  for (const auto& [definition, n] : passed) {
    EXPECT_GE(n, 4) << definition;  // the scalar reference and a SIMD solution, two workloads
    if (!definition.starts_with("gemm_fp8")) EXPECT_EQ(python_checked[definition], n) << definition;
  }
  // 70 prefill rows go to two sequences.
  const auto prefill = std::find_if(d.workloads.begin(), d.workloads.end(), [](const Trace& w) {
    return w.definition.starts_with("gqa_paged_prefill") && w.workload.axis("total_q") == 70;
  });
  ASSERT_NE(prefill, d.workloads.end());
  EXPECT_EQ(prefill->workload.axis("batch_size"), 2);
}

// The routers (strata's topk_router, its constants read from the names) and
// the pre-routed INT4 MoE expert FFN (on each exact-path INT4 GEMM solution)
// agree with the definitions' Python references; Kimi K2's MoE layer is
// skipped for its 9 GiB of inputs, saying so.
TEST(KernelRunner, MoeAndRouterSolutionsMatchTheReferences) {
  TempDataset t;
  const std::vector<std::string> names = {"moe/moe_w4a16_g32_precomputed_topk8_e128_h2048_i768",
                                          "moe/moe_w4a16_g32_precomputed_topk8_e384_h7168_i2048",
                                          "moe_router/moe_router_softmax_renorm_topk8_e128",
                                          "moe_router/moe_router_ds_sigmoid_bias_topk8_ng1_kg1_e384_rsf2p827"};
  t.copy_project_definitions(names);
  const fs::path out = t.root / "out";
  const CommandOutput run = strata_cli(fmt::format(
      "kernels bench {} --out {} --synthetic-sizes 2 --trials 1 --warmup 0 --iterations 1", t.root.string(), out.string()));
  ASSERT_EQ(run.status, 0) << run.text;
  EXPECT_THAT(run.text, HasSubstr("moe_w4a16_g32_precomputed_topk8_e384_h7168_i2048: skipped: inputs of 8.9 GiB"));
  const Dataset d = load_dataset(out.string());
  EXPECT_THAT(d.errors, ::testing::IsEmpty());
  std::map<std::string, int> passed;
  for (const Trace& tr : d.traces) {
    EXPECT_EQ(tr.evaluation->status, EvaluationStatus::Passed) << *tr.solution << ": " << tr.evaluation->log;
    EXPECT_THAT(tr.evaluation->libs.at("reference"), HasSubstr("python reference"));
    passed[tr.definition] += tr.evaluation->status == EvaluationStatus::Passed;
  }
  EXPECT_EQ(passed["moe_router_softmax_renorm_topk8_e128"], 1);
  EXPECT_EQ(passed["moe_router_ds_sigmoid_bias_topk8_ng1_kg1_e384_rsf2p827"], 1);
  EXPECT_GE(passed["moe_w4a16_g32_precomputed_topk8_e128_h2048_i768"], 2);  // the scalar reference and SIMD ones
}

// Installed choices serve their shape and bucket; any other call (a miss)
// keeps the selection.
TEST(KernelTable, ChoicesServeTheirShapeAndMissesKeepTheSelection) {
  clear_shape_choices();
  EXPECT_FALSE(any_shape_choices());
  KernelTable t;
  t.entries.push_back({"rmsnorm_f32_h128", "rmsnorm", {128}, 4, "rmsnorm_scalar", 0.01});
  t.entries.push_back({"rmsnorm_f32_h128", "rmsnorm", {128}, 16, std::string(select("rmsnorm").name), 0.02});
  const std::vector<std::string> lines = install_kernel_table(t, "/nonexistent");
  EXPECT_EQ(lines[0], "rmsnorm [128] tokens<=4: rmsnorm_scalar (rmsnorm_f32_h128)");
  const int64_t h128[] = {128}, h64[] = {64};
  EXPECT_EQ(shape_choice("rmsnorm", h128, 3)->name, "rmsnorm_scalar");
  EXPECT_EQ(shape_choice("rmsnorm", h128, 4)->name, "rmsnorm_scalar");
  EXPECT_EQ(shape_choice("rmsnorm", h128, 5)->name, select("rmsnorm").name);
  EXPECT_EQ(shape_choice("rmsnorm", h128, 17), nullptr);
  EXPECT_EQ(shape_choice("rmsnorm", h64, 1), nullptr);
  EXPECT_EQ(shape_choice("softmax", h128, 1), nullptr);

  // The dispatch point runs the choice: bit for bit the scalar reference.
  std::vector<float> x(3 * 128), w(128), y(x.size()), want(x.size());
  for (size_t i = 0; i < x.size(); ++i) x[i] = float(int(i % 17) - 8) * 0.37f;
  for (size_t i = 0; i < w.size(); ++i) w[i] = 0.5f + float(i) / 128.0f;
  rmsnorm(x.data(), w.data(), y.data(), 3, 128, 1e-6f);
  rmsnorm_scalar(x.data(), w.data(), want.data(), 3, 128, 1e-6f);
  EXPECT_EQ(y, want);

  // A table never switches a definition's numeric path (INT4's W4A8 or exact).
  const Solution& int4 = select("gemm_w4a16_g32");
  for (const Solution* other : runnable_solutions("gemm_w4a16_g32")) {
    if (other->path == int4.path) continue;
    KernelTable other_path;
    other_path.entries.push_back({"gemm_w4a16_g32_n768_k2048", "gemm_w4a16_g32", {768, 2048}, 8, std::string(other->name), 0.1});
    EXPECT_THAT(install_kernel_table(other_path, "/nonexistent")[0], HasSubstr("not applied"));
    const int64_t shape[] = {768, 2048};
    EXPECT_EQ(shape_choice("gemm_w4a16_g32", shape, 1), nullptr);
    break;
  }

  EXPECT_THAT(error_of([] { add_shape_choice("rmsnorm", {128}, 4, "no_such_solution"); }), HasSubstr("unknown solution"));
  EXPECT_THAT(error_of([] { add_shape_choice("rmsnorm", {128}, 4, "argmax_scalar"); }), HasSubstr("is of argmax, not rmsnorm"));
  clear_shape_choices();
  EXPECT_EQ(shape_choice("rmsnorm", h128, 3), nullptr);
}

// Out-of-tree entries of a kernel table are compiled, loaded into the
// process and served by the dispatch points for their shape and bucket: an
// rmsnorm that scales by 2 and a GEMM that adds 1 (so that their results
// show they ran), the GEMM called once per output-row range from the
// thread pool; other shapes keep the selection.
TEST(KernelTable, OutOfTreeEntriesServeTheirShape) {
  clear_shape_choices();
  const fs::path build = fs::temp_directory_path() / fmt::format("strata_external_{}", getpid());
  const std::string gemm_c = R"C(#include "strata_solution.h"
#include <string.h>
static float bf16(uint16_t v) { uint32_t u = (uint32_t)v << 16; float f; memcpy(&f, &u, 4); return f; }
int run(const strata_tensor* in, int32_t n_in, strata_tensor* out, int32_t n_out) {
  const float* a = (const float*)in[0].data;
  const uint16_t* b = (const uint16_t*)in[1].data;
  float* c = (float*)out[0].data;
  const int64_t m = in[0].shape[0], k = in[0].shape[1], n = in[1].shape[0];
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      float s = 1.0f;
      for (int64_t x = 0; x < k; ++x) s += a[i * k + x] * bf16(b[j * k + x]);
      c[i * n + j] = s;
    }
  return 0;
}
)C";
  nlohmann::json gemm = out_of_tree("tester_gemm_plus_one", gemm_c, "gemm.c");
  gemm["definition"] = "gemm_f32_bf16_n48_k64";
  KernelTable t;
  t.entries.push_back({"rmsnorm_f32_h128", "rmsnorm", {128}, 4, "tester_c_double", 0.01,
                       out_of_tree("tester_c_double", with_scale("2.0f"))});
  t.entries.push_back({"gemm_f32_bf16_n48_k64", "gemm_bf16", {48, 64}, 4, "tester_gemm_plus_one", 0.01, gemm});
  const std::vector<std::string> lines = install_kernel_table(KernelTable::from_json(t.to_json(), "table"), build.string());
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_THAT(lines[0], HasSubstr("rmsnorm [128] tokens<=4: tester_c_double (rmsnorm_f32_h128; out-of-tree, "));

  std::vector<float> x(3 * 128), w(128), y(x.size()), want(x.size());
  for (size_t i = 0; i < x.size(); ++i) x[i] = float(int(i % 17) - 8) * 0.37f;
  for (size_t i = 0; i < w.size(); ++i) w[i] = 0.5f + float(i) / 128.0f;
  rmsnorm(x.data(), w.data(), y.data(), 3, 128, 1e-6f);
  rmsnorm_scalar(x.data(), w.data(), want.data(), 3, 128, 1e-6f);
  for (size_t i = 0; i < y.size(); ++i) ASSERT_NEAR(y[i], 2 * want[i], 1e-4f * std::fabs(want[i]) + 1e-6f) << i;
  rmsnorm(x.data(), w.data(), y.data(), 3, 64, 1e-6f);  // another shape: the selection
  rmsnorm_scalar(x.data(), w.data(), want.data(), 3, 64, 1e-6f);
  for (size_t i = 0; i < 3 * 64; ++i) ASSERT_NEAR(y[i], want[i], 1e-5f) << i;

  std::vector<uint16_t> weights(48 * 64);
  for (size_t i = 0; i < weights.size(); ++i) weights[i] = f32_to_bf16(float(int(i % 13) - 6) * 0.05f);
  const WeightMatrix bw{DType::BF16, reinterpret_cast<const uint8_t*>(weights.data()), 48, 64, 64 * 2};
  std::vector<float> a(3 * 64), c(3 * 48), ref(3 * 48);
  for (size_t i = 0; i < a.size(); ++i) a[i] = float(int(i % 7) - 3) * 0.25f;
  matmul(a.data(), 3, bw, c.data());
  matmul_scalar(MatmulArgs{a.data(), 3, bw, ref.data()}, 0, 48);
  for (size_t i = 0; i < c.size(); ++i) ASSERT_NEAR(c[i], ref[i] + 1.0f, 1e-4f) << i;
  // N 32: the selection, whatever its numeric path.
  const WeightMatrix other_shape{DType::BF16, bw.data, 32, 64, 64 * 2};
  matmul(a.data(), 3, other_shape, c.data());
  select(kGemmBf16.name).kernel(kGemmBf16)(MatmulArgs{a.data(), 3, other_shape, ref.data()}, 0, 32);
  for (size_t i = 0; i < 3 * 32; ++i) ASSERT_EQ(c[i], ref[i]) << i;
  clear_shape_choices();
  fs::remove_all(build);

  KernelTable broken;
  broken.entries.push_back({"rmsnorm_f32_h128", "rmsnorm", {128}, 4, "tester_cpp_broken", 0.01,
                            out_of_tree("tester_cpp_broken", "extern \"C\" int run( {", "broken.cpp")});
  EXPECT_THAT(error_of([&] { install_kernel_table(broken, build.string()); }), HasSubstr("does not build"));
  fs::remove_all(build);
}

// Capture templates agree with the dataset's files of their families in
// everything but the description and the tags.
TEST(WorkloadCapture, TemplatesAgreeWithTheDatasetFiles) {
  const Dataset d = load_dataset(std::string(STRATA_SOURCE_DIR) + "/kernels");
  int compared = 0;
  for (const Definition& def : d.definitions) {
    const std::optional<std::string> kernel = def.tag("strata_kernel");
    if (!kernel) continue;
    std::vector<int64_t> shape;
    const bool paged = *kernel == "gqa_paged_attention" || *kernel == "mla_paged_attention";
    if (def.op_type == "moe") {
      for (const char* a : {"num_experts", "top_k", "hidden_size", "intermediate_size"}) shape.push_back(def.axis(a)->value);
    } else if (*kernel == "gemm_bf16" || *kernel == "gemm_w4a16_g32") {
      shape = {def.axis("N")->value, def.axis("K")->value};
    } else if (*kernel == "rmsnorm" || *kernel == "fused_add_rmsnorm") {
      shape = {def.axis("hidden_size")->value};
    } else if (*kernel == "gqa_paged_attention") {
      for (const char* a : {"num_qo_heads", "num_kv_heads", "head_dim", "page_size"}) shape.push_back(def.axis(a)->value);
    } else if (*kernel == "mla_paged_attention") {
      for (const char* a : {"num_qo_heads", "head_dim_ckv", "head_dim_kpe", "page_size"}) shape.push_back(def.axis(a)->value);
    } else {
      continue;
    }
    const NumericPath path = def.tag("strata_path") == std::optional<std::string>("w4a8") ? NumericPath::W4A8 : NumericPath::Exact;
    const std::optional<Definition> made =
        paged                  ? paged_definition_for_call(*kernel, shape, def.tag("stage") == std::optional<std::string>("prefill"))
        : def.op_type == "moe" ? moe_definition_for_call(shape)
                               : definition_for_call(*kernel, shape, path);
    ASSERT_TRUE(made.has_value()) << def.name;
    nlohmann::json a = nlohmann::json::parse(made->to_json().dump()), b = nlohmann::json::parse(def.to_json().dump());
    for (nlohmann::json* j : {&a, &b}) {
      j->erase("description");
      j->erase("tags");
    }
    EXPECT_EQ(a, b) << def.name;
    ++compared;
  }
  // gemm_f32_bf16, gemm_w4a16_g32, gemm_w4a8_g32, rmsnorm_f32, fused_add_rmsnorm, gqa_paged, mla_paged and moe files
  EXPECT_EQ(compared, 5 + 4 + 4 + 5 + 1 + 2 + 2 + 2);
  EXPECT_FALSE(definition_for_call("softmax", std::vector<int64_t>{8}, NumericPath::Exact).has_value());
}

std::pair<int, std::string> run_cli(const std::string& args) {
  CommandOutput o = strata_cli(args);
  return {o.status, std::move(o.text)};
}

// The workbench end to end on a tiny model: generate records its kernel
// calls as workloads, the runner benches them, apply picks solutions, and
// generate runs with the table (and without it: the same greedy tokens, as
// exact-path solutions of one definition differ only in rounding).
TEST(WorkloadCapture, CaptureBenchApplyServe) {
  TempDataset t;
  SynthOptions o;
  o.config = synth_preset("tiny", "qwen3_moe");
  o.config.moe_intermediate_size = 64;
  o.format = SynthFormat::HF;
  o.dtype = DType::BF16;
  o.quant = SynthQuant::Int4;
  o.tokenizer_dir = oracle_fixture::kTokenizerDir;
  const fs::path model = t.root / "model", captured = t.root / "captured", benched = t.root / "benched";
  synthesize_model(model.string(), o);
  const std::string gen = fmt::format("generate --model {} --prompt-tokens 12 --max-tokens 3 --temperature 0", model.string());

  auto [cap_status, cap_log] = run_cli(gen + " --trace-workloads " + captured.string());
  ASSERT_EQ(cap_status, 0) << cap_log;
  const Dataset d = load_dataset(captured.string());
  EXPECT_THAT(d.errors, ::testing::IsEmpty());
  std::set<std::string> kinds;
  for (const Trace& w : d.workloads) kinds.insert(w.definition.substr(0, w.definition.find("_n")));
  EXPECT_TRUE(kinds.contains("gemm_f32_bf16")) << cap_log;
  // The INT4 calls belong to the definition of the path serving runs (W4A8 by default).
  EXPECT_TRUE(kinds.contains(select("gemm_w4a16_g32").path == NumericPath::W4A8 ? "gemm_w4a8_g32" : "gemm_w4a16_g32"))
      << cap_log;
  EXPECT_THAT(cap_log, HasSubstr(fmt::format("{} workloads recorded in {}", d.workloads.size(), captured.string())));
  std::set<int64_t> prompt_and_decode;
  for (const Trace& w : d.workloads)
    if (w.definition.starts_with("gemm_f32_bf16")) prompt_and_decode.insert(w.workload.axis("M"));
  EXPECT_EQ(prompt_and_decode, (std::set<int64_t>{1, 12}));  // the prompt, then single-token decode steps

  auto [bench_status, bench_log] = run_cli(fmt::format(
      "kernels bench {} --out {} --trials 1 --warmup 0 --iterations 2 --max-seconds-per-trial 0.2", captured.string(),
      benched.string()));
  ASSERT_EQ(bench_status, 0) << bench_log;
  // Attention: the 12-token prompt as a prefill batch, the decode steps as
  // decode batches, their page tables blobs; these and the MoE experts below
  // are checked against the Python references.
  using Axes = std::map<std::string, int64_t>;
  std::map<std::string, Axes> attention;
  for (const Trace& w : d.workloads)
    if (w.definition.starts_with("gqa_paged_")) attention[w.definition.substr(0, 16)] = Axes(w.workload.axes.begin(), w.workload.axes.end());
  EXPECT_EQ(attention["gqa_paged_prefil"],
            (Axes{{"total_q", 12}, {"batch_size", 1}, {"num_pages", 2}, {"len_indptr", 2}, {"num_kv_indices", 1}}));
  EXPECT_EQ(attention["gqa_paged_decode"], (Axes{{"batch_size", 1}, {"num_pages", 2}, {"len_indptr", 2}, {"num_kv_indices", 1}}));
  // MoE: every layer call's routed experts, the expert ids as routed in a blob.
  int moe_workloads = 0;
  for (const Trace& w : d.workloads) {
    if (!w.definition.starts_with("moe_w4a16_g32_precomputed_")) continue;
    ++moe_workloads;
    for (const auto& [name, in] : w.workload.inputs) {
      EXPECT_EQ(in.kind, name == "topk_ids" ? WorkloadInput::Kind::Safetensors : WorkloadInput::Kind::Random) << name;
    }
  }
  EXPECT_EQ(moe_workloads, 2) << cap_log;  // 12 tokens, then 1 (keep the first per token count)
  const Dataset benched_set = load_dataset(benched.string());
  int attention_checked = 0;
  for (const Trace& tr : benched_set.traces) {
    if (!tr.definition.starts_with("gqa_paged_") && !tr.definition.starts_with("moe_")) continue;
    EXPECT_EQ(tr.evaluation->status, EvaluationStatus::Passed) << *tr.solution << ": " << tr.evaluation->log;
    EXPECT_THAT(tr.evaluation->libs.at("reference"), HasSubstr("python reference"));
    ++attention_checked;
  }
  EXPECT_GE(attention_checked, 8) << bench_log;  // three definitions, the scalar reference and SIMD solutions each
  EXPECT_EQ(benched_set.workloads.size(), d.workloads.size());  // the output stands on its own, blobs included
  // --max-tokens and --workloads-per-bucket narrow the workloads benched.
  const fs::path narrow = t.root / "narrow";
  auto [narrow_status, narrow_log] = run_cli(fmt::format(
      "kernels bench {} --out {} --definitions {} --max-tokens 8 --workloads-per-bucket 1 --trials 1 --warmup 0 "
      "--iterations 2 --max-seconds-per-trial 0.2",
      captured.string(), narrow.string(), d.workloads[0].definition));
  ASSERT_EQ(narrow_status, 0) << narrow_log;
  std::map<uint64_t, std::set<std::string>> uuids_per_bucket;
  for (const Trace& tr : load_dataset(narrow.string()).traces) {
    int64_t tokens = 0;
    for (const auto& [axis, v] : tr.workload.axes) tokens = std::max(tokens, v);
    EXPECT_LE(tokens, 8);
    uuids_per_bucket[std::bit_ceil(uint64_t(tokens))].insert(tr.workload.uuid);
  }
  for (const auto& [bucket, uuids] : uuids_per_bucket) EXPECT_EQ(uuids.size(), 1u) << bucket;

  const std::string table = (t.root / "table.json").string();
  auto [apply_status, apply_log] = run_cli(fmt::format("kernels apply {} --out {}", benched.string(), table));
  ASSERT_EQ(apply_status, 0) << apply_log;
  std::ifstream in(table);
  const KernelTable kt = KernelTable::from_json(nlohmann::json::parse(in), table);
  EXPECT_FALSE(kt.entries.empty()) << apply_log;

  // Greedy tokens with and without the table (the JSON line among the logs).
  auto tokens_of = [](const std::string& args) {
    const CommandOutput o = strata_cli(args + " --json");
    EXPECT_EQ(o.status, 0) << args;
    const size_t json = o.text.find("\n{\"") == std::string::npos ? 0 : o.text.find("\n{\"") + 1;  // the one JSON line
    return nlohmann::json::parse(o.text.substr(json, o.text.find('\n', json) - json))["tokens"];
  };
  auto [applied_status, applied_log] = run_cli(gen + " --kernel-table " + table);
  ASSERT_EQ(applied_status, 0) << applied_log;
  EXPECT_THAT(applied_log, HasSubstr("kernel table: "));
  EXPECT_EQ(tokens_of(gen + " --kernel-table " + table), tokens_of(gen));
}

}  // namespace
}  // namespace strata
