// Marks a function that every request runs. GCC puts such functions in
// .text.hot, which the linker lays out together, so the request path's code
// shares a few pages instead of being spread among the cold code between
// them. Each page is a TLB entry that the kernel's and the event loop's
// code evict between requests, and refilling it in a VM costs a nested page
// walk. (The attribute also tells GCC to optimise the function for speed,
// which it does at -O2 anyway.)
#pragma once

#define MTD_HOT_PATH __attribute__((hot))
