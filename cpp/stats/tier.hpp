// A tenant's execution tier as the operator sees it (/stats, /metrics, the
// console): how far its serving version has come. The engine moves it along
// (engine/tiers.py); the server only reports it.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace mtd::stats {

enum class Tier : uint8_t {
    None,         // no version loaded (or the unrouted entry)
    Optimising,   // a quick build serves, interpreted; the optimised build runs
    Interpreted,  // the optimised build serves, interpreted
    Translating,  // ... and its translation is being compiled
    Translated,   // ... and requests run its translated code
    Failed,       // the optimised build or the translation failed; the interpreter serves
};

inline constexpr Tier kTiers[] = {Tier::Optimising, Tier::Interpreted, Tier::Translating, Tier::Translated,
                                  Tier::Failed};

inline const char* tier_name(Tier t) {
    switch (t) {
        case Tier::None: return "none";
        case Tier::Optimising: return "optimising";
        case Tier::Interpreted: return "interpreted";
        case Tier::Translating: return "translating";
        case Tier::Translated: return "translated";
        case Tier::Failed: return "failed";
    }
    return "none";
}

inline std::optional<Tier> tier_from_name(std::string_view name) {
    for (Tier t : kTiers)
        if (name == tier_name(t)) return t;
    return std::nullopt;
}

}  // namespace mtd::stats
