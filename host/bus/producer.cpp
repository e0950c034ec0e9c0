// The idempotent producer: librdkafka queues and batches, a background thread serves delivery
// reports.
#include <spdlog/spdlog.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

#include "host/bus/internal.h"

namespace gale::bus {

namespace {

constexpr auto kQueueFullWait = std::chrono::seconds(30);
constexpr auto kCloseFlush = std::chrono::seconds(5);

// The per-message opaque.
struct Pending {
  DeliveryCallback callback;
  bool report_to_flush = true;  // ProduceSync reports its own errors
};

}  // namespace

struct Producer::Impl : internal::HandleContext {
  using HandleContext::HandleContext;

  ~Impl() override {
    stop = true;
    if (poller.joinable()) poller.join();
    if (!rk) return;
    rd_kafka_flush(rk.get(), internal::ToMs(kCloseFlush));
    if (int left = rd_kafka_outq_len(rk.get()); left > 0) {
      spdlog::warn("bus {}: dropping {} undelivered message(s) at producer shutdown", brokers(),
                   left);
      rd_kafka_purge(rk.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
      // Serves the purged messages' delivery reports (their callbacks see the error).
      rd_kafka_flush(rk.get(), 1000);
    }
    rk.reset();
  }

  void RecordError(const Status& s) {
    std::lock_guard lock(mu);
    if (!first_error) first_error = s;
  }

  std::optional<Status> TakeError() {
    std::lock_guard lock(mu);
    std::optional<Status> s = std::move(first_error);
    first_error.reset();
    return s;
  }

  static void OnDelivery(rd_kafka_t*, const rd_kafka_message_t* rkm, void* opaque) {
    auto* self = static_cast<Impl*>(static_cast<internal::HandleContext*>(opaque));
    std::unique_ptr<Pending> pending(static_cast<Pending*>(rkm->_private));
    Status status = Status::Ok();
    if (rkm->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      std::string topic = rkm->rkt ? rd_kafka_topic_name(rkm->rkt) : "?";
      status = internal::Error(self->brokers(), "message to " + topic + " not delivered", rkm->err);
      status = Status::Error(status.message() + self->LastErrorSuffix(), status.retryable());
      if (!pending || pending->report_to_flush) self->RecordError(status);
    }
    if (pending && pending->callback) {
      try {
        pending->callback(status, internal::ToMessage(rkm));
      } catch (const std::exception& e) {
        spdlog::error("bus: delivery callback threw: {}", e.what());
      } catch (...) {
        spdlog::error("bus: delivery callback threw");
      }
    }
    self->Delivered();
  }

  // Messages queued and not yet reported, for Flush: rd_kafka_flush() polls the report queue in
  // steps of up to 10 ms, and with the poller thread taking the reports it sleeps those steps
  // out (librdkafka 2.0's rd_kafka_flush), which made every flush of one message cost ~10 ms.
  void Queued() {
    std::lock_guard lock(flush_mu);
    ++in_flight;
  }
  void Delivered() {
    std::lock_guard lock(flush_mu);
    if (--in_flight == 0) all_delivered.notify_all();
  }
  // Whether every message queued so far has been reported, waiting up to `timeout`; `left` is
  // how many have not.
  bool WaitDelivered(std::chrono::milliseconds timeout, int64_t* left) {
    std::unique_lock lock(flush_mu);
    const bool done = all_delivered.wait_for(lock, timeout, [&] { return in_flight <= 0; });
    *left = in_flight;
    return done;
  }

  Status ProduceImpl(const std::string& topic, std::string_view key, std::string_view value,
                     std::unique_ptr<Pending> pending) {
    const auto deadline = std::chrono::steady_clock::now() + kQueueFullWait;
    for (;;) {
      rd_kafka_resp_err_t err;
      Queued();  // before the report can come
      if (signing_key.empty()) {
        err = rd_kafka_producev(rk.get(), RD_KAFKA_V_TOPIC(topic.c_str()),
                                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                RD_KAFKA_V_KEY(key.empty() ? nullptr : key.data(), key.size()),
                                RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
                                RD_KAFKA_V_OPAQUE(pending.get()), RD_KAFKA_V_END);
      } else {
        const std::string signature = internal::Signature(signing_key, topic, key, value);
        err = rd_kafka_producev(rk.get(), RD_KAFKA_V_TOPIC(topic.c_str()),
                                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                RD_KAFKA_V_KEY(key.empty() ? nullptr : key.data(), key.size()),
                                RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
                                RD_KAFKA_V_HEADER(internal::kSignatureHeader, signature.data(),
                                                  static_cast<ssize_t>(signature.size())),
                                RD_KAFKA_V_OPAQUE(pending.get()), RD_KAFKA_V_END);
      }
      if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        pending.release();  // owned by the delivery report now
        return Status::Ok();
      }
      Delivered();  // not queued: no report will come
      if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL && std::chrono::steady_clock::now() < deadline) {
        // The background thread's delivery reports make room.
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
        continue;
      }
      if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char buf[512] = {0};
        rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk.get(), buf, sizeof(buf));
        return internal::Error(brokers(), "cannot produce to " + topic,
                               std::string("producer failed fatally, recreate it: ") + buf + " (" +
                                   rd_kafka_err2name(orig) + ")",
                               false);
      }
      Status s = internal::Error(brokers(), "cannot queue message to " + topic, err);
      return Status::Error(s.message() + LastErrorSuffix(), s.retryable());
    }
  }

  internal::KafkaPtr rk;
  std::string signing_key;  // empty: messages go unsigned
  std::thread poller;
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::optional<Status> first_error;  // since the last Flush()
  std::mutex flush_mu;
  std::condition_variable all_delivered;
  int64_t in_flight = 0;  // guarded by flush_mu
};

Producer::Producer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Producer::~Producer() = default;

Result<std::unique_ptr<Producer>> Producer::Create(const BusConfig& config) {
  auto impl = std::make_unique<Impl>(config.brokers);
  impl->signing_key = config.signing_key;
  GALE_ASSIGN_OR_RETURN(auto conf,
                        internal::MakeConf(config, internal::Role::kProducer, impl.get()));
  rd_kafka_conf_set_dr_msg_cb(conf.get(), &Impl::OnDelivery);
  GALE_ASSIGN_OR_RETURN(auto rk,
                        internal::NewHandle(RD_KAFKA_PRODUCER, std::move(conf), config.brokers));
  impl->rk = std::move(rk);
  Impl* raw = impl.get();
  impl->poller = std::thread([raw] {
    while (!raw->stop) rd_kafka_poll(raw->rk.get(), 50);
  });
  return std::unique_ptr<Producer>(new Producer(std::move(impl)));
}

Status Producer::Produce(const std::string& topic, std::string_view key, std::string_view value,
                         DeliveryCallback on_delivery) {
  std::unique_ptr<Pending> pending;
  if (on_delivery) pending = std::make_unique<Pending>(Pending{std::move(on_delivery), true});
  return impl_->ProduceImpl(topic, key, value, std::move(pending));
}

Status Producer::Flush(std::chrono::milliseconds timeout) {
  // A flush of no time wakes the broker threads to send what lingers now (linger.ms counts as
  // passed while a flush runs); the poller thread serves the reports, which Flush waits for.
  rd_kafka_flush(impl_->rk.get(), 0);
  int64_t left = 0;
  const bool delivered = impl_->WaitDelivered(timeout, &left);
  if (std::optional<Status> first = impl_->TakeError()) return *first;
  if (!delivered) {
    return internal::Error(impl_->brokers(),
                           std::to_string(left) + " message(s) not delivered within " +
                               std::to_string(timeout.count()) + " ms",
                           std::string("timed out") + impl_->LastErrorSuffix(), true);
  }
  return Status::Ok();
}

Result<Message> Producer::ProduceSync(const std::string& topic, std::string_view key,
                                      std::string_view value, std::chrono::milliseconds timeout) {
  struct State {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    Status status;
    Message message;
  };
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto state = std::make_shared<State>();
  auto pending = std::make_unique<Pending>();
  pending->report_to_flush = false;
  pending->callback = [state](const Status& s, const Message& m) {
    std::lock_guard lock(state->mu);
    state->status = s;
    state->message = m;
    state->done = true;
    state->cv.notify_all();
  };
  GALE_TRY(impl_->ProduceImpl(topic, key, value, std::move(pending)));
  std::unique_lock lock(state->mu);
  if (!state->cv.wait_until(lock, deadline, [&] { return state->done; })) {
    return internal::Error(impl_->brokers(),
                           "message to " + topic + " not acknowledged within " +
                               std::to_string(timeout.count()) + " ms",
                           "timed out" + impl_->LastErrorSuffix(), true);
  }
  if (!state->status.ok()) return state->status;
  return state->message;
}

}  // namespace gale::bus
