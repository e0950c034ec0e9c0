// The bench pack's action: prints the wall clock (CLOCK_REALTIME, ns) the moment its process
// runs main(), so that the benchmark can subtract the sensor's send time. Nothing else: any work
// here would be counted as Gale's latency.
#include <time.h>

#include <cstdio>

int main() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  std::printf("%lld\n", static_cast<long long>(ts.tv_sec) * 1000000000LL + ts.tv_nsec);
  return 0;
}
