#include "regions.hpp"

#include <algorithm>
#include <map>
#include <numeric>
#include <set>

namespace mtd::sandbox::translate {
namespace {

// A unit is the smallest piece a region is made of: a function (it starts
// at a call's target), or a piece of a long one.
constexpr size_t kUnitInstructions = kRegionInstructions / 2;
// A function copied into a region that calls it is at most this long, and
// a region takes at most this much of such copies.
constexpr size_t kCopyUnit = 128;
constexpr size_t kCopyInstructions = kRegionInstructions / 2;

struct UnionFind {
    std::vector<uint32_t> parent;
    std::vector<size_t> size;
    uint32_t find(uint32_t a) {
        while (parent[a] != a) a = parent[a] = parent[parent[a]];
        return a;
    }
};

}  // namespace

Regions form_regions(const std::vector<uint64_t>& slots, const std::vector<detail::Decoded>& recs, uint64_t nslots) {
    const size_t n = slots.size();
    auto position = [&](uint64_t slot) -> std::ptrdiff_t {
        const auto it = std::lower_bound(slots.begin(), slots.end(), slot);
        return it != slots.end() && *it == slot && slot < nslots ? it - slots.begin() : -1;
    };
    std::set<uint64_t> called;
    for (size_t k = 0; k < n; ++k)
        each_target(slots, recs, k, [&](uint64_t target, bool call) {
            if (call) called.insert(target);
        });
    // Units: cut where no instruction before runs on into one after, and a
    // function starts, or at a gap, or where a long one has run on. Two
    // decodings of the same bytes (a jump into the middle of an
    // instruction) interleave in slot order, so an instruction's successor
    // is not always the next slot: `reach` is the furthest successor of
    // any instruction so far that does not end its block.
    std::vector<size_t> start{0};
    uint64_t reach = 0;
    for (size_t k = 1; k < n; ++k) {
        if (!detail::ends_block(recs[k - 1])) reach = std::max(reach, slots[k - 1] + recs[k - 1].len());
        const bool free = reach < slots[k];
        const bool contiguous = slots[k - 1] + recs[k - 1].len() == slots[k];
        if (free && (!contiguous || called.count(slots[k]) || k - start.back() >= kUnitInstructions))
            start.push_back(k);
    }
    const uint32_t units = static_cast<uint32_t>(start.size());
    start.push_back(n);
    std::vector<uint32_t> unit_of(n);
    for (uint32_t u = 0; u < units; ++u)
        for (size_t k = start[u]; k < start[u + 1]; ++k) unit_of[k] = u;
    // Edges between units, weighted by how many jumps join them; a call
    // counts twice (its return comes back the same way).
    std::map<std::pair<uint32_t, uint32_t>, uint32_t> weight;
    for (size_t k = 0; k < n; ++k)
        each_target(slots, recs, k, [&](uint64_t target, bool call) {
            const std::ptrdiff_t at = position(target);
            if (at < 0 || unit_of[at] == unit_of[k]) return;
            const auto key = std::minmax(unit_of[k], unit_of[at]);
            weight[{key.first, key.second}] += call ? 2 : 1;
        });
    // Greedy merging: the heaviest edges first, and among equals the
    // smallest pair (a small function called from one place joins it).
    UnionFind uf{std::vector<uint32_t>(units), std::vector<size_t>(units)};
    std::iota(uf.parent.begin(), uf.parent.end(), 0u);
    for (uint32_t u = 0; u < units; ++u) uf.size[u] = start[u + 1] - start[u];
    struct Edge {
        uint32_t a, b, w;
        size_t size;
    };
    std::vector<Edge> edges;
    for (const auto& [key, w] : weight)
        edges.push_back({key.first, key.second, w, uf.size[key.first] + uf.size[key.second]});
    std::sort(edges.begin(), edges.end(), [](const Edge& x, const Edge& y) {
        return x.w != y.w ? x.w > y.w : x.size != y.size ? x.size < y.size : std::tie(x.a, x.b) < std::tie(y.a, y.b);
    });
    for (const Edge& e : edges) {
        const uint32_t a = uf.find(e.a), b = uf.find(e.b);
        if (a == b || uf.size[a] + uf.size[b] > kRegionInstructions) continue;
        uf.parent[b] = a;
        uf.size[a] += uf.size[b];
    }
    // Regions numbered in the order of their lowest address.
    Regions out;
    out.of.resize(n);
    std::map<uint32_t, uint32_t> region_of_root;
    std::vector<std::vector<uint32_t>> region_units;
    for (uint32_t u = 0; u < units; ++u) {
        const uint32_t root = uf.find(u);
        const auto [it, fresh] = region_of_root.emplace(root, static_cast<uint32_t>(region_of_root.size()));
        if (fresh) region_units.emplace_back();
        region_units[it->second].push_back(u);
        for (size_t k = start[u]; k < start[u + 1]; ++k) out.of[k] = it->second;
    }
    // Small functions that a region calls but another holds are copied in
    // too (and what they call, within a budget): the call and its return
    // then stay in the region. They are what most code calls from
    // everywhere (memchr, strlen, a locale's facets), which no one region
    // could hold for all its callers.
    out.members.resize(region_units.size());
    for (uint32_t r = 0; r < region_units.size(); ++r) {
        std::set<uint32_t> held(region_units[r].begin(), region_units[r].end());
        std::vector<uint32_t> work(region_units[r]);
        size_t budget = kCopyInstructions;
        while (!work.empty()) {
            const uint32_t u = work.back();
            work.pop_back();
            for (size_t k = start[u]; k < start[u + 1]; ++k)
                each_target(slots, recs, k, [&](uint64_t target, bool call) {
                    const std::ptrdiff_t at = position(target);
                    if (!call || at < 0) return;
                    const uint32_t callee = unit_of[at];
                    const size_t size = start[callee + 1] - start[callee];
                    if (held.count(callee) || start[callee] != static_cast<size_t>(at) || size > kCopyUnit || size > budget)
                        return;
                    held.insert(callee);
                    work.push_back(callee);
                    budget -= size;
                });
        }
        for (uint32_t u : held)  // ascending, so the positions are too
            for (size_t k = start[u]; k < start[u + 1]; ++k) out.members[r].push_back(k);
    }
    return out;
}

}  // namespace mtd::sandbox::translate
