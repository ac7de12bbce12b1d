#include "tenants/registry.hpp"

#include <algorithm>

namespace mtd::tenants {

std::string_view normalize_host(std::string_view host, std::string& buf) {
    if (!host.empty() && host.front() == '[') {
        // IPv6 literal: keep through the closing bracket, drop ":port".
        size_t close = host.find(']');
        if (close != std::string_view::npos) host = host.substr(0, close + 1);
    } else {
        size_t colon = host.find(':');
        // Exactly one colon means name:port; more is a bare IPv6 address.
        if (colon != std::string_view::npos && host.find(':', colon + 1) == std::string_view::npos)
            host = host.substr(0, colon);
        if (!host.empty() && host.back() == '.') host.remove_suffix(1);
    }
    buf.resize(host.size());
    for (size_t i = 0; i < host.size(); ++i) {
        char c = host[i];
        buf[i] = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    }
    return buf;
}

const Tenant* RoutingTable::find(std::string_view host) const {
    auto it = by_host_.find(host);
    return it == by_host_.end() ? nullptr : it->second;
}

Registry::Registry(size_t worker_count)
    : worker_count_(worker_count ? worker_count : 1), table_(std::make_shared<RoutingTable>()) {}

namespace {

std::vector<std::string> normalized_hosts(const std::vector<std::string>& hosts) {
    std::vector<std::string> out;
    std::string buf;
    for (const auto& h : hosts) {
        std::string n(normalize_host(h, buf));
        if (!n.empty()) out.push_back(std::move(n));
    }
    return out;
}

}  // namespace

void Registry::check_routes(const std::string& name, const std::vector<std::string>& hosts, bool is_default) const {
    const std::vector<std::string> normalized = normalized_hosts(hosts);
    std::lock_guard lock(mu_);
    check_routes_locked(name, normalized, is_default);
}

void Registry::check_routes_locked(const std::string& name, const std::vector<std::string>& normalized,
                                   bool is_default) const {
    for (const auto& [other, t] : tenants_) {
        if (other == name) continue;
        for (const auto& h : normalized)
            if (std::find(t->hosts.begin(), t->hosts.end(), h) != t->hosts.end())
                throw RoutingConflict("host '" + h + "' is already served by tenant '" + other + "'");
    }
    if (is_default && !default_name_.empty() && default_name_ != name)
        throw RoutingConflict("tenant '" + default_name_ + "' is already the default");
}

void Registry::publish(const std::string& name, const std::vector<std::string>& hosts, bool is_default,
                       std::shared_ptr<const sandbox::Program> program) {
    auto t = std::make_shared<Tenant>();
    t->name = name;
    t->hosts = normalized_hosts(hosts);
    t->program = std::move(program);

    std::lock_guard lock(mu_);
    check_routes_locked(name, t->hosts, is_default);  // again: another load may have won meanwhile
    TenantState state = state_for_locked(name);
    pending_.erase(name);
    t->stats = std::move(state.stats);
    t->log_limiter = std::move(state.log_limiter);
    tenants_[name] = std::move(t);
    if (is_default)
        default_name_ = name;
    else if (default_name_ == name)
        default_name_.clear();
    rebuild_locked();
}

TenantState Registry::state_for(const std::string& name) {
    std::lock_guard lock(mu_);
    return state_for_locked(name);
}

TenantState Registry::state_for_locked(const std::string& name) {
    if (auto it = tenants_.find(name); it != tenants_.end()) return {it->second->stats, it->second->log_limiter};
    auto [it, fresh] = pending_.try_emplace(name);
    if (fresh)
        it->second = {std::make_shared<stats::TenantStats>(worker_count_), std::make_shared<LogLimiter>()};
    return it->second;
}

bool Registry::remove(const std::string& name) {
    std::lock_guard lock(mu_);
    pending_.erase(name);
    if (tenants_.erase(name) == 0) return false;
    if (default_name_ == name) default_name_.clear();
    rebuild_locked();
    return true;
}

std::shared_ptr<const sandbox::Program> Registry::program(const std::string& name) const {
    std::lock_guard lock(mu_);
    const auto it = tenants_.find(name);
    return it == tenants_.end() ? nullptr : it->second->program;
}

std::shared_ptr<const RoutingTable> Registry::table() const {
    std::lock_guard lock(mu_);
    return table_;
}

std::vector<std::pair<std::string, stats::Snapshot>> Registry::stats(const std::vector<std::string>* names) const {
    // Copy the pointers under the lock, merge outside it: a load or swap
    // never waits for a stats read.
    std::vector<std::shared_ptr<const Tenant>> list;
    {
        std::lock_guard lock(mu_);
        if (names) {
            for (const auto& name : *names)
                if (auto it = tenants_.find(name); it != tenants_.end()) list.push_back(it->second);
        } else {
            list.reserve(tenants_.size());
            for (const auto& [name, t] : tenants_) list.push_back(t);
        }
    }
    std::vector<std::pair<std::string, stats::Snapshot>> out;
    out.reserve(list.size());
    for (const auto& t : list) {
        stats::Snapshot s = t->stats->snapshot();
        s.log_dropped = t->log_limiter->dropped_bytes();
        out.emplace_back(t->name, s);
    }
    return out;
}

void Registry::rebuild_locked() {
    auto table = std::make_shared<RoutingTable>();
    for (const auto& [name, t] : tenants_) {
        table->tenants_.push_back(t);
        for (const auto& h : t->hosts) table->by_host_.emplace(h, t.get());  // one tenant per host: publish checks
        if (name == default_name_) table->default_ = t.get();
    }
    table->generation_ = generation_.load(std::memory_order_relaxed) + 1;
    table_ = std::move(table);
    // Release: a worker that sees the new generation also sees table_ (it
    // reads table_ under mu_ anyway; the ordering keeps the intent obvious).
    generation_.store(table_->generation_, std::memory_order_release);
}

}  // namespace mtd::tenants
