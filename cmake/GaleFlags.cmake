# One INTERFACE target carries every warning and sanitizer flag; every Gale target links it
# (osquery's cmake/flags.cmake idea), so a flag is changed in one place. gale_warnings is the
# part without sanitizers, for the few programs that must not carry them.
add_library(gale_warnings INTERFACE)
target_compile_features(gale_warnings INTERFACE cxx_std_20)
target_compile_options(gale_warnings INTERFACE
  -Wall -Wextra -Wnon-virtual-dtor -Woverloaded-virtual -Wno-missing-field-initializers)
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
  # GCC 12 at -O2/-O3 reports std::string concatenation as overlapping memcpy (GCC bug
  # 105329, fixed in 13): a false positive that -Werror would turn into a failed build.
  target_compile_options(gale_warnings INTERFACE -Wno-restrict)
endif()
if(CMAKE_UNITY_BUILD AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  # In a unity file every .cpp but the first is "included", and GCC then reports a class whose
  # member's type is in that .cpp's anonymous namespace as it would in a header. Not a defect
  # here: each such class is defined in that same .cpp. Non-unity builds keep the warning.
  target_compile_options(gale_warnings INTERFACE -Wno-subobject-linkage)
endif()
if(GALE_WERROR)
  target_compile_options(gale_warnings INTERFACE -Werror)
endif()
add_library(gale_flags INTERFACE)
target_link_libraries(gale_flags INTERFACE gale_warnings)
if(GALE_SANITIZE)
  # ASan+UBSan for the whole tree; UBSan findings abort so a test run cannot miss them.
  set(_san -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
  # -O1 -g1 (after the build type's flags, so they win): ASan's recommended level, with line
  # numbers in reports, and a third of -O2 -g's compile time, which CI's cold build pays.
  target_compile_options(gale_flags INTERFACE ${_san} -O1 -g1)
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    # GCC 12 with ASan instrumentation reports libstdc++'s own std::regex/std::function
    # internals as maybe-uninitialized; the Release build keeps the warning.
    target_compile_options(gale_flags INTERFACE -Wno-maybe-uninitialized)
  endif()
  target_link_options(gale_flags INTERFACE ${_san})
endif()
if(GALE_TSAN)
  # Data races in Gale's own threads (consumers, leases, the retention guard, the API). librdkafka
  # and libmongoc are not instrumented: races inside them are not reported, and their atomics
  # are invisible to TSan, so test/tsan.supp names the few false reports they cause.
  target_compile_options(gale_flags INTERFACE -fsanitize=thread -O1 -g1)
  target_link_options(gale_flags INTERFACE -fsanitize=thread)
endif()
if(GALE_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "GALE_FUZZ needs clang (-DCMAKE_CXX_COMPILER=clang++); see scripts/fuzz")
  endif()
  # Libraries get libFuzzer's coverage hooks without its main(); test/fuzz links -fsanitize=fuzzer.
  # -g1: line tables are all a crash report needs, at a fraction of full debug info's cost.
  set(_fuzz -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
            -fno-omit-frame-pointer -g1)
  target_compile_options(gale_flags INTERFACE ${_fuzz})
  target_link_options(gale_flags INTERFACE -fsanitize=address,undefined)
endif()
