// Which sanitizer instruments this build, the same under GCC (__SANITIZE_ADDRESS__,
// __SANITIZE_THREAD__) and clang (__has_feature). Both runtimes reserve terabytes of shadow
// memory at start, which RLIMIT_AS and RLIMIT_DATA would refuse: instrumented test builds leave
// those limits off, production builds never are instrumented.
#pragma once

#if defined(__SANITIZE_ADDRESS__)
#define GALE_ASAN_BUILD 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define GALE_ASAN_BUILD 1
#endif
#endif

#if defined(__SANITIZE_THREAD__)
#define GALE_TSAN_BUILD 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define GALE_TSAN_BUILD 1
#endif
#endif

#if defined(GALE_ASAN_BUILD) || defined(GALE_TSAN_BUILD)
#define GALE_SHADOW_MEMORY_BUILD 1
#endif
