// Where the running gale binary finds what ships beside it.
#pragma once

#include <string>

namespace gale::cli {

// The running gale binary (/proc/self/exe).
std::string GaleBinary();
// <dir of the gale binary>/../packs: build/packs in a build tree.
std::string DefaultPacksDir();
// <dir of the gale binary>/../lib/cmake/Gale when it exists (build tree or install), else "".
std::string GaleCMakeDir();

}  // namespace gale::cli
