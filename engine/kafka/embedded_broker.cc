#include "kafka/embedded_broker.h"

#include <spdlog/spdlog.h>

#include <array>
#include <boost/asio.hpp>
#include <thread>

#include "cairn/host_port.h"

namespace cairn::kafka {
namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

Result<tcp::endpoint> ParseEndpoint(const std::string& addr) {
  auto hp = SplitHostPort(addr);
  if (!hp.ok()) return hp.status();
  boost::system::error_code ec;
  auto ip = asio::ip::make_address(hp->first, ec);
  if (ec) return InvalidArgument("address '" + addr + "': " + ec.message());
  return tcp::endpoint(ip, hp->second);
}

// Relays bytes one way until either side closes, then closes both.
class Relay : public std::enable_shared_from_this<Relay> {
 public:
  Relay(std::shared_ptr<tcp::socket> from, std::shared_ptr<tcp::socket> to)
      : from_(std::move(from)), to_(std::move(to)) {}
  void Start() { Read(); }

 private:
  void Read() {
    from_->async_read_some(asio::buffer(buf_), [self = shared_from_this()](auto ec, size_t n) {
      if (ec) return self->Close();
      asio::async_write(*self->to_, asio::buffer(self->buf_.data(), n), [self](auto ec2, size_t) {
        if (ec2) return self->Close();
        self->Read();
      });
    });
  }
  void Close() {
    boost::system::error_code ignored;
    from_->close(ignored);
    to_->close(ignored);
  }
  std::shared_ptr<tcp::socket> from_, to_;
  std::array<char, 64 * 1024> buf_{};
};

}  // namespace

class EmbeddedBroker::Forwarder {
 public:
  Forwarder(tcp::endpoint listen, tcp::endpoint target) : acceptor_(io_, listen), target_(target) {
    Accept();
    thread_ = std::thread([this] { io_.run(); });
  }
  ~Forwarder() {
    io_.stop();
    thread_.join();
  }
  tcp::endpoint local() const { return acceptor_.local_endpoint(); }

 private:
  void Accept() {
    acceptor_.async_accept([this](boost::system::error_code ec, tcp::socket client) {
      if (ec) return;  // acceptor closed
      auto in = std::make_shared<tcp::socket>(std::move(client));
      auto out = std::make_shared<tcp::socket>(io_);
      out->async_connect(target_, [in, out](boost::system::error_code cec) {
        if (cec) {
          spdlog::warn("embedded kafka: cannot reach mock broker: {}", cec.message());
          boost::system::error_code ignored;
          in->close(ignored);
          return;
        }
        std::make_shared<Relay>(in, out)->Start();
        std::make_shared<Relay>(out, in)->Start();
      });
      Accept();
    });
  }

  asio::io_context io_;
  tcp::acceptor acceptor_;
  tcp::endpoint target_;
  std::thread thread_;
};

Result<std::unique_ptr<EmbeddedBroker>> EmbeddedBroker::Start(
    const EmbeddedBrokerOptions& options) {
  auto listen = ParseEndpoint(options.listen);
  if (!listen.ok()) return listen.status();

  std::unique_ptr<EmbeddedBroker> broker(new EmbeddedBroker());
  auto conf = MakeConf({{"log_level", "3"}});
  if (!conf.ok()) return conf.status();
  char err[512];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf->get(), err, sizeof err);
  if (rk == nullptr) return Internal(std::string("embedded kafka: ") + err);
  (void)conf->release();
  broker->owner_.reset(rk);
  broker->mock_ = rd_kafka_mock_cluster_new(rk, 1);
  if (broker->mock_ == nullptr) return Internal("embedded kafka: cannot create mock cluster");

  for (const auto& topic : options.topics) {
    CAIRN_RETURN_IF_ERROR(broker->CreateTopic(topic, options.partitions));
  }

  // The single mock broker's address is the cluster's bootstrap list.
  auto target = ParseEndpoint(rd_kafka_mock_cluster_bootstraps(broker->mock_));
  if (!target.ok()) return target.status();
  try {
    broker->forwarder_ = std::make_unique<Forwarder>(*listen, *target);
  } catch (const boost::system::system_error& e) {
    return Unavailable("embedded kafka: cannot listen on " + options.listen + ": " + e.what());
  }
  auto local = broker->forwarder_->local();
  broker->address_ = local.address().to_string() + ":" + std::to_string(local.port());
  return broker;
}

EmbeddedBroker::~EmbeddedBroker() {
  forwarder_.reset();
  if (mock_ != nullptr) rd_kafka_mock_cluster_destroy(mock_);
}

std::string EmbeddedBroker::mock_bootstraps() const {
  return rd_kafka_mock_cluster_bootstraps(mock_);
}

Status EmbeddedBroker::CreateTopic(const std::string& topic, int partitions) {
  rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(mock_, topic.c_str(), partitions, 1);
  if (err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) return Status::Ok();
  return KafkaError(err, "create topic " + topic);
}

}  // namespace cairn::kafka
