// Loading a pack's shared library with Boost.DLL: ABI version first, then the factory.
#pragma once

#include <memory>
#include <string>

#include "host/common/result.h"
#include "host/packs/metadata.h"
#include "plugin_api/abi.h"

namespace gale::packs {

// A loaded pack library and the module its factory returned. Objects created through it keep the
// library loaded (their deleters hold a reference), so unloading can never strand a vtable.
class PackLibrary : public std::enable_shared_from_this<PackLibrary> {
 public:
  // Loads `path` with local symbol scope. Errors name the path and the reason: not an ELF shared
  // object (dlerror text), no Gale entry points, ABI version mismatch, factory failure.
  static Result<std::shared_ptr<PackLibrary>> Load(const std::string& path);
  ~PackLibrary();

  const LibraryInfo& info() const { return info_; }

  Result<std::shared_ptr<plugin::SensorInstance>> CreateSensor(const std::string& class_name,
                                                               plugin::SensorServiceAbi& service);
  Result<std::shared_ptr<plugin::ActionInstance>> CreateAction(const std::string& entry_point,
                                                               plugin::ActionServiceAbi& service);

 private:
  struct Impl;
  explicit PackLibrary(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  LibraryInfo info_;
};

}  // namespace gale::packs
