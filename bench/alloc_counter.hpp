// Counts every global operator new in a benchmark binary, so benchmarks can report heap
// allocations per operation as a counter ("zero allocations per span", measured).
#pragma once

#include <cstdint>

namespace spanring::bench {
std::uint64_t allocations() noexcept;
}
