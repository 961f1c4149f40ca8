#include "workbench/python_reference.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "workbench/dataset.h"
#include "workbench/python_reference_py.h"

namespace strata {

namespace fs = std::filesystem;
using Json = nlohmann::json;

namespace {

void write_file(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
  if (!out) fail("{}: write failed", path);
}

std::string log_tail(const std::string& path) {
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), {});
  return text.size() > 2000 ? text.substr(text.size() - 2000) : text;
}

}  // namespace

PythonReference::PythonReference(double timeout_seconds) : timeout_seconds_(timeout_seconds) {
  dir_ = (fs::temp_directory_path() / fmt::format("strata_pyref_{}", getpid())).string();
  fs::create_directories(dir_);
  std::ofstream(fs::path(dir_) / "serve.py") << kPythonReferencePy;
  start();
}

PythonReference::~PythonReference() {
  stop();
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

void PythonReference::start() {
  // A write to a Python that died must fail with EPIPE, not kill strata.
  signal(SIGPIPE, SIG_IGN);
  int in[2], out[2];
  if (pipe(in) != 0 || pipe(out) != 0) fail("python reference: pipe failed");
  const std::string python = workbench_python(), script = dir_ + "/serve.py", log = dir_ + "/python.log";
  fflush(nullptr);
  pid_ = fork();
  if (pid_ < 0) fail("python reference: fork failed");
  if (pid_ == 0) {  // only async-signal-safe calls until exec: the parent has threads
    const int log_fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (log_fd < 0) _exit(127);
    dup2(in[0], 0);
    dup2(out[1], 1);
    dup2(log_fd, 2);
    close(in[0]), close(in[1]), close(out[0]), close(out[1]), close(log_fd);
    execlp(python.c_str(), python.c_str(), "-u", script.c_str(), nullptr);
    _exit(127);
  }
  close(in[0]), close(out[1]);
  to_python_ = in[1], from_python_ = out[0];
  pending_.clear();
  // Importing torch takes seconds, more on a loaded machine; that is not the reference's time.
  constexpr double kStartSeconds = 300;
  const Json hello = Json::parse(read_line(kStartSeconds));
  if (hello.contains("error")) fail("{}: {}", python, hello["error"].get<std::string>());
  description_ = fmt::format("{} torch {}", fs::path(python).filename().string(), hello.at("torch").get<std::string>());
}

void PythonReference::stop() {
  if (pid_ <= 0) return;
  close(to_python_), close(from_python_);
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

// One reply line within `seconds`; a dead or stuck process is stopped and reported.
std::string PythonReference::read_line(double seconds) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  for (;;) {
    if (const size_t eol = pending_.find('\n'); eol != std::string::npos) {
      std::string line = pending_.substr(0, eol);
      pending_.erase(0, eol + 1);
      return line;
    }
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    const std::string log = dir_ + "/python.log";
    if (left <= 0) {
      stop();
      fail("the Python reference ran past {} s", seconds);
    }
    pollfd p{from_python_, POLLIN, 0};
    if (poll(&p, 1, int(std::min<long long>(left, 1000))) <= 0) continue;
    char buf[4096];
    const ssize_t n = read(from_python_, buf, sizeof buf);
    if (n <= 0) {
      stop();
      fail("the Python reference process died: {}", log_tail(log));
    }
    pending_.append(buf, size_t(n));
  }
}

std::vector<TensorData> PythonReference::run(const Definition& def, const std::vector<TensorData>& inputs,
                                             std::vector<TensorData> outputs) {
  if (pid_ <= 0) start();
  const std::string call = fmt::format("{}/call{}", dir_, calls_++);
  Json request = {{"name", def.name}, {"reference", def.reference}, {"inputs", Json::array()}, {"outputs", Json::array()}};
  for (size_t i = 0; i < inputs.size(); ++i) {
    const TensorData& t = inputs[i];
    if (!def.inputs[i].shape) {  // a Python scalar
      const bool is_float = t.dtype.rfind("float", 0) == 0;
      request["inputs"].push_back({{"scalar", is_float ? Json(t.value(0)) : Json(int64_t(t.value(0)))}});
      continue;
    }
    const std::string path = fmt::format("{}_in{}", call, i);
    write_file(path, t.bytes);
    request["inputs"].push_back({{"path", path}, {"dtype", t.dtype}, {"shape", t.shape}});
  }
  for (size_t i = 0; i < outputs.size(); ++i) {
    request["outputs"].push_back({{"name", def.outputs[i].name},
                                  {"path", fmt::format("{}_out{}", call, i)},
                                  {"dtype", outputs[i].dtype},
                                  {"shape", outputs[i].shape}});
  }
  struct Cleanup {
    const Json& request;
    ~Cleanup() {
      std::error_code ec;
      for (const char* side : {"inputs", "outputs"})
        for (const Json& s : request[side])
          if (s.contains("path")) fs::remove(s["path"].get<std::string>(), ec);
    }
  } cleanup{request};
  const std::string line = request.dump() + "\n";
  for (size_t done = 0; done < line.size();) {
    const ssize_t n = write(to_python_, line.data() + done, line.size() - done);
    if (n <= 0) {
      stop();
      fail("the Python reference process is gone: {}", log_tail(dir_ + "/python.log"));
    }
    done += size_t(n);
  }
  const Json reply = Json::parse(read_line(timeout_seconds_));
  if (reply.contains("error")) fail("{}'s Python reference: {}", def.name, reply["error"].get<std::string>());
  for (size_t i = 0; i < outputs.size(); ++i) {
    const std::string path = request["outputs"][i]["path"];
    std::ifstream in(path, std::ios::binary);
    in.read(reinterpret_cast<char*>(outputs[i].bytes.data()), std::streamsize(outputs[i].bytes.size()));
    if (!in || in.peek() != std::char_traits<char>::eof()) fail("{}: the Python reference wrote {} wrongly", def.name, path);
  }
  return outputs;
}

}  // namespace strata
