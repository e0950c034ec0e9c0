// StackStorm's `hash` sensor partitioning: a sensor ref hashes to a 32-bit value (st2's own
// function, so a StackStorm deployment's `hash_ranges` split the same sensors the same way), and
// a node runs the sensors whose hash falls in one of its ranges.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "host/common/result.h"

namespace gale::partition {

// st2reactor's HashPartitioner._hash_sensor_ref: the decimal digits of the ref's MD5 (as one
// 128-bit number), last digit first, folded into 32 bits by a 5-bit rotate-and-xor.
uint32_t St2SensorHash(std::string_view ref);

// Half-open [start, end) over 0 .. 2^32.
struct HashRange {
  uint64_t start = 0;
  uint64_t end = 0;
};

// "min..1024|2048..4096|4096..max": '|' separates ranges, '..' the bounds, `min`/`max` (any case)
// stand for 0 and 2^32, out-of-range numbers are clamped (as StackStorm does). Errors name the
// range: "hash range '5..2': start is after end".
Result<std::vector<HashRange>> ParseHashRanges(std::string_view text);

bool InRanges(const std::vector<HashRange>& ranges, uint32_t hash);

}  // namespace gale::partition
