// Program internals shared by program.cpp and machine.cpp: the decoded text
// and the sealed master machine that every request forks.
#pragma once
#include <atomic>
#include <memory>
#include <mutex>
#include <vector>

#include "arena.hpp"
#include "core.hpp"
#include "decoder.hpp"
#include "elf_image.hpp"
#include "sandbox/program.hpp"
#include "translate/translation.hpp"

namespace mtd::sandbox {

struct Program::State {
    detail::ElfImage image;   // file pages the master maps (elf_image.hpp)
    detail::Arena arena;      // owns every master page and leaf
    detail::Text text;
    detail::Core master;      // sealed at READY: read-only from then on
    uint64_t id = 0;          // unique per load, lets a Machine skip full re-forks
    uint64_t init_instructions = 0;
    // Per text slot, how often the warm-up request entered a block there.
    std::vector<uint8_t> profile;
    // The second tier, attached once; forks read it at each start().
    std::mutex translation_mu;
    std::unique_ptr<translate::Translation> translation_owner;
    std::atomic<const translate::Translation*> translation{nullptr};
};

namespace detail {
inline uint64_t next_program_id() {
    static std::atomic<uint64_t> counter{0};
    return ++counter;
}
}  // namespace detail

}  // namespace mtd::sandbox
