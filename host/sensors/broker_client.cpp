#include "host/sensors/broker_client.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "host/sensors/broker_protocol.h"

namespace gale::sensors {
namespace {

using Clock = std::chrono::steady_clock;

int MillisUntil(Clock::time_point deadline) {
  const auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left > 0 ? static_cast<int>(left) : 0;
}

Status Error(const std::string& what) {
  return Status::Error("datastore broker: " + what);
}

}  // namespace

Result<std::unique_ptr<BrokerClient>> BrokerClient::Adopt(int fd) {
  int type = 0;
  socklen_t len = sizeof type;
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0) {
    return Error("descriptor " + std::to_string(fd) + ": " + strerror(errno));
  }
  if (type != SOCK_SEQPACKET) {
    return Error("descriptor " + std::to_string(fd) + " is not a SOCK_SEQPACKET socket");
  }
  fcntl(fd, F_SETFD, FD_CLOEXEC);
  return std::unique_ptr<BrokerClient>(new BrokerClient(fd));
}

BrokerClient::BrokerClient(int fd) : fd_(fd), buffer_(kBrokerMaxMessage + 1) {}

BrokerClient::~BrokerClient() {
  close(fd_);
}

Status BrokerClient::Send(const std::string& message, Clock::time_point deadline) {
  if (message.size() > kBrokerMaxMessage) {
    return Error("request of " + std::to_string(message.size()) + " bytes is over the limit of " +
                 std::to_string(kBrokerMaxMessage));
  }
  while (true) {
    if (send(fd_, message.data(), message.size(), MSG_DONTWAIT | MSG_NOSIGNAL) >= 0) {
      return Status::Ok();
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN) return Error(std::string("send: ") + strerror(errno));
    pollfd p{fd_, POLLOUT, 0};
    if (poll(&p, 1, MillisUntil(deadline)) == 0) return Error("the node is not reading (timeout)");
  }
}

Result<Json> BrokerClient::Call(Json request, std::chrono::milliseconds timeout) {
  std::lock_guard lock(mutex_);
  const auto deadline = Clock::now() + timeout;
  const std::int64_t id = next_id_++;
  request["id"] = id;
  std::string message;
  try {
    message = request.dump();
  } catch (const std::exception& e) {  // a name or value that is not UTF-8
    return Error(e.what());
  }
  GALE_TRY(Send(message, deadline));
  // Answers to earlier calls that timed out may still arrive: skip them by id.
  while (true) {
    pollfd p{fd_, POLLIN, 0};
    const int ready = poll(&p, 1, MillisUntil(deadline));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) return Error("no answer within " + std::to_string(timeout.count()) + " ms");
    const ssize_t n = recv(fd_, buffer_.data(), buffer_.size(), MSG_DONTWAIT | MSG_TRUNC);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      return Error(std::string("recv: ") + strerror(errno));
    }
    if (n == 0) return Error("the node closed the connection");
    if (static_cast<size_t>(n) > kBrokerMaxMessage) continue;  // not ours to read
    Json answer = Json::parse(std::string_view(buffer_.data(), static_cast<size_t>(n)), nullptr,
                              /*allow_exceptions=*/false);
    if (!answer.is_object() || !answer.contains("id") || answer["id"] != id) continue;
    if (answer.contains("ok") && answer["ok"] == true) {
      return answer.contains("value") ? answer["value"] : Json();
    }
    const Json& error = answer.contains("error") ? answer["error"] : Json();
    return Status::Error(error.is_string() ? error.get<std::string>() : "refused by the node");
  }
}

Result<std::optional<std::string>> BrokerClient::Get(const std::string& name) {
  GALE_ASSIGN_OR_RETURN(auto value, Call({{"op", "get"}, {"name", name}}, call_timeout));
  if (value.is_string()) return std::optional<std::string>(value.get<std::string>());
  return std::optional<std::string>();
}

Status BrokerClient::Set(const std::string& name, const std::string& value) {
  auto answer = Call({{"op", "set"}, {"name", name}, {"value", value}}, call_timeout);
  return answer.ok() ? Status::Ok() : answer.status();
}

Status BrokerClient::Counters(std::int64_t dispatched, std::int64_t rejected,
                              std::int64_t undelivered) {
  auto answer = Call({{"op", "counters"},
                      {"dispatched", dispatched},
                      {"rejected", rejected},
                      {"undelivered", undelivered}},
                     std::chrono::seconds(2));
  return answer.ok() ? Status::Ok() : answer.status();
}

}  // namespace gale::sensors
