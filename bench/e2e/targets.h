// Issue 20's targets as one line each, "target N what [bus, store]: met|missed: figures",
// always with the ratio to a limit measured in the same run. bench/run collects every line that
// starts with "target " from every benchmark into its summary.
#pragma once

#include <string>

namespace gale::bench {

// Prints the line inside a ```text fence (so the Markdown keeps one target per line).
void PrintTarget(const std::string& id, const std::string& what, const std::string& setup, bool met,
                 const std::string& figures);

// printf-style formatting into a std::string.
std::string Format(const char* format, ...) __attribute__((format(printf, 1, 2)));

}  // namespace gale::bench
