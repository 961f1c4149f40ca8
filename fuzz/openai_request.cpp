// The OpenAI request parsers: every body goes to /v1/chat/completions,
// /v1/completions, /tokenize and /detokenize of a tiny synthetic model. The
// server is draining, so a body that passes validation (settings, prompts,
// messages, tools, the chat template's rendering, max_tokens) is refused with
// 503 before anything is generated. Only ApiError and strata::Error (which
// the server answers as 400) may escape; anything else would be a 500.
#include <httplib.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "core/error.h"
#include "engine/engine.h"
#include "model/model.h"
#include "scratch_file.h"
#include "server/openai_protocol.h"
#include "server/request_runner.h"
#include "server/serving_chat.h"
#include "server/serving_completions.h"
#include "server/serving_tokenize.h"
#include "tools/synth.h"

using namespace strata;

namespace {

struct Server {
  std::unique_ptr<Model> model;
  std::unique_ptr<Engine> engine;
  std::unique_ptr<ServingContext> ctx;

  Server() {
    const std::string dir = fuzz::scratch_dir() + "/model";
    std::filesystem::remove_all(dir);
    SynthOptions options;
    options.config = synth_preset("tiny", "qwen3_moe");
    options.tokenizer_dir = default_synth_tokenizer_dir();
    synthesize_model(dir, options);
    model = Model::load(dir);
    EngineConfig config;
    config.num_kv_blocks = 64;
    config.max_model_len = 512;
    engine = std::make_unique<Engine>(*model, config);
    ServingOptions serving;
    serving.served_model_name = "tiny";
    ctx = std::make_unique<ServingContext>(*model, *engine, serving);
    ctx->admission.begin_drain();
  }
};

Server& server() {
  static Server server;
  return server;
}

template <class Handler>
void post(Handler handler, ServingContext& ctx, const httplib::Request& req) {
  httplib::Response res;
  try {
    handler(ctx, req, res);
  } catch (const ApiError&) {
  } catch (const Error&) {
  }
}

}  // namespace

// Builds the model before libFuzzer starts timing inputs, so -timeout does
// not count it against the first one.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  server();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ServingContext& ctx = *server().ctx;
  httplib::Request req;
  req.method = "POST";
  req.body.assign(reinterpret_cast<const char*>(data), size);
  post(serve_chat, ctx, req);
  post(serve_completions, ctx, req);
  post(serve_tokenize, ctx, req);
  post(serve_detokenize, ctx, req);
  return 0;
}
