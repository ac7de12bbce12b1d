// What every H2O configuration of mtd (the tenant port and the admin port)
// changes from H2O's defaults.
#pragma once
#include <h2o.h>

namespace mtd::server {

inline void harden(h2o_globalconf_t& conf) {
    // Not "h2o/2.2.5": the library and its version tell an attacker what to try.
    // (Cleartext HTTP/2 stays on: a client that resets its stream stops its
    // parked request at the next slice, test_slicing.py.)
    conf.server_name = h2o_iovec_init(H2O_STRLIT("mtd"));
}

}  // namespace mtd::server
