#include "core/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/error.h"
#include "core/mapped_file_watch.h"

namespace strata {

MappedFile::MappedFile(const std::string& path) : path_(path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail("{}: cannot open: {}", path, std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    fail("{}: not a regular file", path);
  }
  size_ = size_t(st.st_size);
  if (size_ > 0) {
    // Populated up front: weights read in place (BF16 matrices, embedding
    // rows) would otherwise fault in page by page during the first forward
    // passes, and an embedding row evicted from the page cache costs a disk
    // read in the middle of a decode step.
    void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
    if (p == MAP_FAILED) {
      int e = errno;
      ::close(fd);
      fail("{}: cannot map: {}", path, std::strerror(e));
    }
    data_ = static_cast<const uint8_t*>(p);
    try {
      watch_mapped_file(data_, size_, path_.c_str());
    } catch (...) {
      ::munmap(p, size_);
      ::close(fd);
      throw;
    }
  }
  ::close(fd);
}

MappedFile::~MappedFile() {
  if (!data_) return;
  unwatch_mapped_file(data_);
  ::munmap(const_cast<uint8_t*>(data_), size_);
}

}  // namespace strata
