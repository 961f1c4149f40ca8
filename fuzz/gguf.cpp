// GGUF: the header, metadata and tensor table reader, then what the loader
// derives from a file: the model config and the vocabulary (encode/decode).
// Only strata::Error may escape a rejected file.
#include <cstdint>
#include <string>

#include "core/error.h"
#include "formats/gguf.h"
#include "model/config.h"
#include "scratch_file.h"
#include "tokenizer/tokenizer.h"
#include "touch_tensors.h"

using namespace strata;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzz::write_scratch("model.gguf", {reinterpret_cast<const char*>(data), size});
  try {
    GGUFFile gguf(path);
    fuzz::touch_tensors(gguf);
    try {
      ModelConfig::from_gguf(gguf);
    } catch (const Error&) {
    }
    const auto tokenizer = Tokenizer::from_gguf(gguf);
    const auto ids = tokenizer->encode("Hello, world! <|im_end|> 你好 \xff  12345");
    tokenizer->decode(ids);
  } catch (const Error&) {
  }
  return 0;
}
