#include "elf_image.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>

namespace mtd::sandbox::detail {
namespace {

// An unnamed file on a disk-backed file system, or -1. tmpfs would work
// too, but its pages could not be reclaimed.
int unnamed_file() {
    const char* dirs[] = {std::getenv("TMPDIR"), "/var/tmp", "/tmp"};
    for (const char* dir : dirs) {
        if (!dir || !*dir) continue;
        const int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
        if (fd >= 0) return fd;
    }
    return -1;
}

// In page-sized writes: the page cache then holds the file in small folios,
// and a read fault maps a small neighbourhood (fault-around) rather than a
// whole large folio, which would count towards RSS for nothing.
bool write_all(int fd, const uint8_t* p, uint64_t n) {
    while (n) {
        const ssize_t w = write(fd, p, std::min<uint64_t>(n, 4096));
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return false;
        p += w;
        n -= static_cast<uint64_t>(w);
    }
    return true;
}

}  // namespace

ElfImage::~ElfImage() {
    if (base_) munmap(const_cast<uint8_t*>(base_), size_);
}

bool ElfImage::create(std::span<const uint8_t> elf) {
    if (elf.empty()) return false;
    const int fd = unnamed_file();
    if (fd < 0) return false;
    void* m = MAP_FAILED;
    if (write_all(fd, elf.data(), elf.size()))
        m = mmap(nullptr, elf.size(), PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);  // the mapping keeps the file; now nobody can reach it by name or descriptor
    if (m == MAP_FAILED) return false;
    base_ = static_cast<const uint8_t*>(m);
    size_ = elf.size();
    return true;
}

void ElfImage::release_touched() const {
    if (base_) madvise(const_cast<uint8_t*>(base_), size_, MADV_DONTNEED);
}

}  // namespace mtd::sandbox::detail
