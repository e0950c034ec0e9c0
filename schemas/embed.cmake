# Writes OUT: a C++ file holding every JSON schema under SRC as a string, keyed by relative path
# without ".json" ("pack/action"). Schemas ship inside the binary: no path to find at run time.
file(GLOB_RECURSE files RELATIVE ${SRC} ${SRC}/*.json)
list(SORT files)
set(body "#include \"schemas/embedded.h\"\n\nnamespace gale::schemas {\n\nstd::string_view Find(std::string_view name) {\n")
foreach(f IN LISTS files)
  file(READ ${SRC}/${f} text)
  string(REGEX REPLACE "\\.json$" "" key ${f})
  string(APPEND body "  if (name == \"${key}\") return R\"gale_schema(${text})gale_schema\";\n")
endforeach()
string(APPEND body "  return {};\n}\n\n}  // namespace gale::schemas\n")
file(WRITE ${OUT}.tmp "${body}")
file(COPY_FILE ${OUT}.tmp ${OUT} ONLY_IF_DIFFERENT)
