#include "host/runner/native_exec.h"
#include "host/common/input_limits.h"

#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <iterator>

#include "host/common/json.h"
#include "host/packs/library.h"

namespace gale::runner {
namespace {

class ActionService final : public plugin::ActionServiceAbi {
 public:
  ActionService(std::string config, std::string action)
      : config_(std::move(config)), action_(std::move(action)) {}
  std::string config_json() const noexcept override { return config_; }
  void log(plugin::LogLevel level, std::string_view message) noexcept override {
    static constexpr const char* kNames[] = {"debug", "info", "warning", "error"};
    const char* name = kNames[static_cast<int>(level) & 3];
    std::fprintf(stderr, "[%s] %s: %.*s\n", name, action_.c_str(), static_cast<int>(message.size()),
                 message.data());
  }

 private:
  std::string config_;
  std::string action_;
};

int WriteResult(int fd, const Json& doc, int exit_code) {
  const std::string text = doc.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n";
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = write(fd, text.data() + done, text.size() - done);
    if (n <= 0) return 1;
    done += static_cast<size_t>(n);
  }
  return exit_code;
}

int Fail(int fd, const std::string& error) {
  return WriteResult(fd, {{"status", "failed"}, {"result", {{"error", error}}}}, 1);
}

}  // namespace

int RunNativeAction(const std::string& library, const std::string& entry_point) {
  // The result owns the real stdout; everything the action prints lands in stderr.
  const int result_fd = dup(STDOUT_FILENO);
  if (result_fd < 0 || dup2(STDERR_FILENO, STDOUT_FILENO) < 0) {
    std::perror("gale exec native: redirecting stdout");
    return 1;
  }
  std::string input{std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>()};
  Json request = Json::parse(input, nullptr, /*allow_exceptions=*/false);
  if (!request.is_object()) return Fail(result_fd, "gale exec native: stdin is not a JSON object");
  const Json params = request.value("parameters", Json::object());
  const Json config = request.value("config", Json::object());
  const std::string action = request.value("action", entry_point);

  auto lib = packs::PackLibrary::Load(library);
  if (!lib.ok()) return Fail(result_fd, lib.message());
  ActionService service(config.dump(), action);
  auto instance = (*lib)->CreateAction(entry_point, service);
  if (!instance.ok()) return Fail(result_fd, instance.message());
  plugin::ActionOutcome outcome = (*instance)->run(params.dump());
  std::fflush(stdout);
  auto parsed = ParseUntrustedJson(outcome.result_json, "the action's result");
  if (!parsed.ok()) return Fail(result_fd, parsed.message());
  Json result = std::move(parsed).value();
  Json doc = {
      {"status", outcome.status == plugin::ActionStatus::kSucceeded ? "succeeded" : "failed"},
      {"result", result}};
  if (outcome.status == plugin::ActionStatus::kRetryable) doc["retryable"] = true;
  return WriteResult(result_fd, doc, 0);
}

}  // namespace gale::runner
