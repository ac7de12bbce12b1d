// A Program's private read-only copy of its ELF file, so that the loader can
// point the guest's page table at the file's pages instead of copying every
// segment page into the master's arena. Pages nobody touches cost no RSS,
// and the kernel may reclaim them (they are clean page cache of a disk file).
//
// The copy is an unnamed file (O_TMPFILE) whose only descriptor is closed
// once it is mapped: no other process can open, write or truncate it, so
// the mapping can never change under the guest or raise SIGBUS. Nothing
// ever writes through the mapping (PROT_READ); a guest write to one of its
// pages copies the page first (Memory::map_shared).
#pragma once
#include <cstdint>
#include <span>

namespace mtd::sandbox::detail {

class ElfImage {
public:
    ElfImage() = default;
    ~ElfImage();
    ElfImage(const ElfImage&) = delete;
    ElfImage& operator=(const ElfImage&) = delete;

    // Writes `elf` to an unnamed file in $TMPDIR (else /var/tmp, /tmp) and
    // maps it. False if none of that works: the caller then copies pages.
    bool create(std::span<const uint8_t> elf);
    // The mapped bytes (page aligned), empty before create() succeeds.
    std::span<const uint8_t> bytes() const { return {base_, size_}; }
    // Drops this process's mappings of the pages touched so far (what
    // start-up and on_init read); they map again from the page cache when
    // next read. Only the resident set changes, never the contents.
    void release_touched() const;

private:
    const uint8_t* base_ = nullptr;
    uint64_t size_ = 0;
};

}  // namespace mtd::sandbox::detail
