#include "runtime/batch_writer.h"

#include <chrono>

namespace cairn::runtime {

BatchWriter::BatchWriter(state::StateStore* store) : store_(store) {
  thread_ = std::thread([this] { Loop(); });
}

BatchWriter::~BatchWriter() {
  (void)Wait();
  {
    std::lock_guard lock(mu_);
    quit_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void BatchWriter::Submit(state::StateStore::Batch* batch) {
  {
    std::lock_guard lock(mu_);
    job_ = batch;
    done_ = false;
  }
  in_flight_ = true;
  cv_.notify_all();
}

Status BatchWriter::Wait() {
  if (!in_flight_) return Status::Ok();
  std::unique_lock lock(mu_);
  cv_.wait(lock, [this] { return done_; });
  in_flight_ = false;
  return result_;
}

void BatchWriter::Loop() {
  std::unique_lock lock(mu_);
  while (true) {
    cv_.wait(lock, [this] { return quit_ || job_ != nullptr; });
    if (job_ == nullptr) return;  // quit with nothing to write
    state::StateStore::Batch* batch = job_;
    lock.unlock();
    const auto start = std::chrono::steady_clock::now();
    Status s = store_->Write(*batch);
    const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
    lock.lock();
    last_write_seconds_ = took.count();
    job_ = nullptr;
    result_ = std::move(s);
    done_ = true;
    cv_.notify_all();
  }
}

}  // namespace cairn::runtime
