#include "host/packs/library.h"

#include <boost/dll/shared_library.hpp>
#include <filesystem>
#include <fstream>

namespace gale::packs {

struct PackLibrary::Impl {
  boost::dll::shared_library library;
  // Declared after `library`, so destroyed first: the module's code lives in the library.
  std::unique_ptr<plugin::PackModule> module;
};

namespace {

bool LooksLikeElf(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  in.read(magic, 4);
  return in.gcount() == 4 && magic[0] == 0x7f && magic[1] == 'E' && magic[2] == 'L' &&
         magic[3] == 'F';
}

// Boost wraps dlerror() as "...(dlerror system message: <path>: <reason>): <errno text>"; the
// reason is what a user needs.
std::string DlerrorText(const std::string& what, const std::string& path) {
  const std::string marker = "dlerror system message: ";
  auto begin = what.find(marker);
  auto end = what.rfind("):");
  if (begin == std::string::npos || end == std::string::npos || end < begin) return what;
  std::string text = what.substr(begin + marker.size(), end - begin - marker.size());
  if (text.rfind(path + ": ", 0) == 0) text = text.substr(path.size() + 2);
  return text;
}

}  // namespace

Result<std::shared_ptr<PackLibrary>> PackLibrary::Load(const std::string& path) {
  auto impl = std::make_unique<Impl>();
  try {
    impl->library.load(path, boost::dll::load_mode::rtld_local | boost::dll::load_mode::rtld_now);
  } catch (const std::exception& e) {
    // Boost.DLL's message carries dlerror()'s text ("invalid ELF header", "No such file").
    std::string why = DlerrorText(e.what(), path);
    if (std::filesystem::exists(path) && !LooksLikeElf(path))
      why = "not an ELF shared object (" + why + ")";
    return Status::Error(path + ": cannot load pack library: " + why);
  }
  if (!impl->library.has(plugin::kAbiVersionSymbol) || !impl->library.has(plugin::kFactoryAlias)) {
    return Status::Error(path +
                         ": not a Gale pack library: it does not export gale_pack_abi_version "
                         "and gale_pack_factory (build it with gale_add_pack() and GALE_PACK())");
  }
  // Compare the ABI version before touching any C++ type the pack defines.
  const std::uint32_t abi = impl->library.get<plugin::AbiVersionFn>(plugin::kAbiVersionSymbol)();
  if (abi < plugin::kOldestAbiVersion || abi > plugin::kAbiVersion) {
    return Status::Error(
        path + ": pack built for plugin ABI version " + std::to_string(abi) +
        ", this gale speaks versions " + std::to_string(plugin::kOldestAbiVersion) + " to " +
        std::to_string(plugin::kAbiVersion) + ": rebuild the pack against this Gale");
  }
  auto factory = impl->library.get_alias<plugin::FactoryFn>(plugin::kFactoryAlias);
  impl->module.reset(factory());
  if (!impl->module) {
    std::string why = "its registration threw";
    if (impl->library.has(plugin::kFactoryErrorSymbol)) {
      const char* error = impl->library.get<plugin::FactoryErrorFn>(plugin::kFactoryErrorSymbol)();
      if (error != nullptr && *error != '\0') why += ": " + std::string(error);
    }
    return Status::Error(path + ": the pack's factory failed (" + why + ")");
  }
  std::shared_ptr<PackLibrary> lib(new PackLibrary(std::move(impl)));
  lib->info_.path = path;
  lib->info_.abi_version = abi;
  lib->info_.sensor_classes = lib->impl_->module->sensor_classes();
  lib->info_.actions = lib->impl_->module->actions();
  return lib;
}

PackLibrary::PackLibrary(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PackLibrary::~PackLibrary() = default;

namespace {

template <class Instance>
Result<std::shared_ptr<Instance>> Adopt(std::shared_ptr<PackLibrary> keep_alive,
                                        plugin::CallResult created, Instance* raw,
                                        const std::string& what) {
  if (!created.ok || raw == nullptr) {
    return Status::Error(keep_alive->info().path + ": cannot create " + what + ": " +
                         (created.error.empty() ? "the factory returned nothing" : created.error));
  }
  return std::shared_ptr<Instance>(raw, [keep_alive](Instance* p) { delete p; });
}

}  // namespace

Result<std::shared_ptr<plugin::SensorInstance>> PackLibrary::CreateSensor(
    const std::string& class_name, plugin::SensorServiceAbi& service) {
  plugin::SensorInstance* raw = nullptr;
  plugin::CallResult r = impl_->module->create_sensor(class_name, service, &raw);
  return Adopt(shared_from_this(), r, raw, "sensor " + class_name);
}

Result<std::shared_ptr<plugin::ActionInstance>> PackLibrary::CreateAction(
    const std::string& entry_point, plugin::ActionServiceAbi& service) {
  plugin::ActionInstance* raw = nullptr;
  plugin::CallResult r = impl_->module->create_action(entry_point, service, &raw);
  return Adopt(shared_from_this(), r, raw, "action " + entry_point);
}

}  // namespace gale::packs
