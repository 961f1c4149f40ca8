#include "core/mapped_file_watch.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstring>
#include <mutex>

#include "core/error.h"

namespace strata {
namespace {

struct Watched {
  std::atomic<const uint8_t*> data{nullptr};
  std::atomic<size_t> size{0};
  std::atomic<const char*> path{nullptr};
  struct stat file {};  // as mapped; read under registry_mutex only
};

bool same_file(const struct stat& a, const struct stat& b) { return a.st_dev == b.st_dev && a.st_ino == b.st_ino; }

bool same_contents(const struct stat& a, const struct stat& b) {
  return a.st_size == b.st_size && a.st_mtim.tv_sec == b.st_mtim.tv_sec && a.st_mtim.tv_nsec == b.st_mtim.tv_nsec;
}

// Fixed storage, so the handler reads it without locks or allocation. A
// sharded checkpoint has tens of files; models stay loaded a few at a time.
constexpr size_t kMaxWatched = 1024;
std::array<Watched, kMaxWatched> watched;
std::mutex registry_mutex;  // for changes to the slots and for reading `file`; the handler takes none

// Async-signal-safe output: write(2) of fixed and decimal pieces.
void write_text(const char* text) {
  const ssize_t ignored = ::write(STDERR_FILENO, text, std::strlen(text));
  (void)ignored;
}

void write_number(size_t value) {
  char digits[24];
  size_t n = 0;
  do {
    digits[sizeof digits - 1 - n++] = char('0' + value % 10);
    value /= 10;
  } while (value && n < sizeof digits);
  const ssize_t ignored = ::write(STDERR_FILENO, digits + sizeof digits - n, n);
  (void)ignored;
}

void on_sigbus(int signal_number, siginfo_t* info, void*) {
  const auto* address = static_cast<const uint8_t*>(info->si_addr);
  for (const Watched& w : watched) {
    const uint8_t* data = w.data.load();
    if (!data || address < data || address >= data + w.size.load()) continue;
    write_text("strata: the model file ");
    write_text(w.path.load());
    write_text(" was truncated or replaced in place while mapped (SIGBUS reading offset ");
    write_number(size_t(address - data));
    write_text("); its weights are gone, exiting. Replace model files by renaming a new file into place.\n");
    ::_exit(kMappedFileLostExitCode);
  }
  // Not a model file: the default action, when the faulting read repeats.
  ::signal(signal_number, SIG_DFL);
}

void install_handler() {
  struct sigaction action {};
  action.sa_sigaction = on_sigbus;
  action.sa_flags = SA_SIGINFO;
  sigemptyset(&action.sa_mask);
  sigaction(SIGBUS, &action, nullptr);
}

}  // namespace

void watch_mapped_file(const uint8_t* data, size_t size, const char* path) {
  static std::once_flag installed;
  std::call_once(installed, install_handler);
  std::lock_guard lock(registry_mutex);
  for (Watched& w : watched) {
    if (w.data.load()) continue;
    w.path = path;
    w.size = size;
    if (::stat(path, &w.file) != 0) w.file = {};
    w.data = data;  // last: the handler reads a slot only once data is set
    return;
  }
  fail("{}: more than {} model files mapped at once", path, kMaxWatched);
}

void unwatch_mapped_file(const uint8_t* data) {
  std::lock_guard lock(registry_mutex);
  for (Watched& w : watched) {
    if (w.data.load() == data) w.data = nullptr;
  }
}

std::vector<std::string> changed_mapped_files() {
  std::vector<std::string> changed;
  std::lock_guard lock(registry_mutex);
  for (const Watched& w : watched) {
    struct stat now {};
    if (!w.data.load() || ::stat(w.path.load(), &now) != 0) continue;
    if (same_file(now, w.file) && !same_contents(now, w.file)) changed.emplace_back(w.path.load());
  }
  return changed;
}

}  // namespace strata
