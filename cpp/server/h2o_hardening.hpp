// What every H2O configuration of mtd (the tenant port and the admin port)
// turns off, whatever H2O defaults to.
#pragma once
#include <h2o.h>

namespace mtd::server {

inline void harden(h2o_globalconf_t& conf) {
    // HTTP/1.1 only. H2O accepts cleartext HTTP/2 by default (the "PRI *"
    // preface and Upgrade: h2c): that would hand every client Debian 12's
    // H2O 2.2.5 HTTP/2 code (HPACK, stream state; Rapid Reset,
    // CVE-2023-44487, unpatched there) when no client of mtd needs it.
    conf.http1.upgrade_to_http2 = 0;
    // Not "h2o/2.2.5": the library and version tell an attacker what to try.
    conf.server_name = h2o_iovec_init(H2O_STRLIT("mtd"));
}

}  // namespace mtd::server
