#include "loadgen/http_response_parser.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstring>

namespace mtd::loadgen {

namespace {

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() &&
           std::equal(a.begin(), a.end(), b.begin(),
                      [](char x, char y) { return std::tolower(x) == std::tolower(y); });
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
    return s;
}

}  // namespace

bool HttpResponseParser::parse_head(std::string_view head) {
    // "HTTP/1.1 200 OK"
    size_t eol = head.find("\r\n");
    std::string_view status_line = head.substr(0, eol);
    if (status_line.size() < 12 || status_line.substr(0, 5) != "HTTP/") return false;
    auto [_, ec] = std::from_chars(status_line.data() + 9, status_line.data() + 12, status_);
    if (ec != std::errc() || status_ < 100 || status_ > 999) return false;
    keep_alive_ = status_line.substr(5, 3) == "1.1";
    bool has_length = false;
    head.remove_prefix(eol + 2);
    while (!head.empty()) {
        size_t end = head.find("\r\n");
        std::string_view line = head.substr(0, end);
        head.remove_prefix(end == std::string_view::npos ? head.size() : end + 2);
        size_t colon = line.find(':');
        if (colon == std::string_view::npos) continue;
        std::string_view name = line.substr(0, colon), value = trim(line.substr(colon + 1));
        if (iequals(name, "content-length")) {
            auto r = std::from_chars(value.data(), value.data() + value.size(), remaining_);
            if (r.ec != std::errc()) return false;
            has_length = true;
        } else if (iequals(name, "transfer-encoding")) {
            chunked_ = iequals(value, "chunked");
        } else if (iequals(name, "connection")) {
            if (iequals(value, "close")) keep_alive_ = false;
            if (iequals(value, "keep-alive")) keep_alive_ = true;
        }
    }
    // A response without a length or chunking runs to the connection's end;
    // the generator does not expect those from a keep-alive server.
    if (!has_length && !chunked_) {
        bool bodiless = status_ == 204 || status_ == 304 || status_ < 200;
        if (!bodiless) return false;
    }
    return true;
}

size_t HttpResponseParser::feed(std::string_view data) {
    size_t used = 0;
    while (used < data.size() && state_ == State::Incomplete) {
        std::string_view rest = data.substr(used);
        switch (phase_) {
            case Phase::Head: {
                size_t take = std::min(rest.size(), sizeof(head_) - head_len_);
                std::memcpy(head_ + head_len_, rest.data(), take);
                std::string_view head(head_, head_len_ + take);
                // Search from a little before the new bytes: "\r\n\r\n" may straddle.
                size_t from = head_len_ >= 3 ? head_len_ - 3 : 0;
                size_t end = head.find("\r\n\r\n", from);
                if (end == std::string_view::npos) {
                    head_len_ += take;
                    used += take;
                    if (head_len_ == sizeof(head_)) state_ = State::Error;
                    break;
                }
                used += end + 4 - head_len_;
                if (!parse_head(head.substr(0, end + 2))) {
                    state_ = State::Error;
                    break;
                }
                phase_ = chunked_ ? Phase::ChunkSize : Phase::Body;
                if (!chunked_ && remaining_ == 0) state_ = State::Complete;
                break;
            }
            case Phase::Body:
            case Phase::ChunkData: {
                uint64_t take = std::min<uint64_t>(rest.size(), remaining_);
                remaining_ -= take;
                body_bytes_ += take;
                used += take;
                if (remaining_ == 0) {
                    if (phase_ == Phase::Body) state_ = State::Complete;
                    else phase_ = Phase::ChunkDataEnd;
                }
                break;
            }
            case Phase::ChunkSize:
            case Phase::ChunkDataEnd:
            case Phase::Trailer: {
                size_t nl = rest.find('\n');
                size_t take = nl == std::string_view::npos ? rest.size() : nl + 1;
                if (line_len_ + take > sizeof(line_)) {
                    state_ = State::Error;
                    break;
                }
                std::memcpy(line_ + line_len_, rest.data(), take);
                line_len_ += take;
                used += take;
                if (nl == std::string_view::npos) break;
                std::string_view line = trim(std::string_view(line_, line_len_ - 1));
                line_len_ = 0;
                if (phase_ == Phase::ChunkDataEnd) {
                    phase_ = Phase::ChunkSize;  // the CRLF after a chunk's data
                } else if (phase_ == Phase::Trailer) {
                    if (line.empty()) state_ = State::Complete;
                } else {
                    auto r = std::from_chars(line.data(), line.data() + line.size(), remaining_, 16);
                    if (r.ec != std::errc()) {
                        state_ = State::Error;
                        break;
                    }
                    phase_ = remaining_ == 0 ? Phase::Trailer : Phase::ChunkData;
                }
                break;
            }
        }
    }
    return used;
}

}  // namespace mtd::loadgen
