// Incremental HTTP/1.1 response parser for the load generator: status line,
// the headers it needs (Content-Length, Transfer-Encoding, Connection) and a
// body that is counted, not kept.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace mtd::loadgen {

class HttpResponseParser {
public:
    enum class State { Incomplete, Complete, Error };

    // Field by field: assigning a fresh parser would zero and copy the 8 KiB
    // head buffer on every request.
    void reset() {
        phase_ = Phase::Head;
        state_ = State::Incomplete;
        head_len_ = 0;
        status_ = 0;
        keep_alive_ = true;
        chunked_ = false;
        remaining_ = 0;
        body_bytes_ = 0;
        line_len_ = 0;
    }

    // Consumes bytes from `data` and returns how many it used; stop feeding
    // once state() is Complete (the rest belongs to the next response).
    size_t feed(std::string_view data);

    State state() const { return state_; }
    int status() const { return status_; }
    bool keep_alive() const { return keep_alive_; }
    uint64_t body_bytes() const { return body_bytes_; }

private:
    enum class Phase { Head, Body, ChunkSize, ChunkData, ChunkDataEnd, Trailer };
    bool parse_head(std::string_view head);

    Phase phase_ = Phase::Head;
    State state_ = State::Incomplete;
    char head_[8192];
    size_t head_len_ = 0;
    int status_ = 0;
    bool keep_alive_ = true;
    bool chunked_ = false;
    uint64_t remaining_ = 0;  // body or current chunk bytes still expected
    uint64_t body_bytes_ = 0;
    char line_[64];          // chunk-size and trailer lines
    size_t line_len_ = 0;
};

}  // namespace mtd::loadgen
