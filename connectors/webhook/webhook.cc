#include "webhook/webhook.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <strings.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>

#include "common/http.h"

namespace cairn::connectors {

std::string WebhookSignature(std::string_view secret, int64_t unix_seconds, std::string_view body) {
  const std::string t = std::to_string(unix_seconds);
  std::string signed_payload;
  signed_payload.reserve(t.size() + 1 + body.size());
  signed_payload.append(t).append(".").append(body);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(signed_payload.data()), signed_payload.size(), mac,
       &mac_len);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "t=" + t + ",v1=";
  for (unsigned int i = 0; i < mac_len; ++i) {
    out.push_back(kHex[mac[i] >> 4]);
    out.push_back(kHex[mac[i] & 0xF]);
  }
  return out;
}

namespace {

struct WebhookConfig {
  std::string url;
  SecretFile secret;
  HttpOptions http;
};

class WebhookConnector : public Connector {
 public:
  explicit WebhookConnector(std::shared_ptr<const WebhookConfig> config)
      : config_(std::move(config)), secret_(config_->secret), client_(config_->http) {}

  SendResult Send(const OutboundMessage& message) override {
    if (message.task_id.empty() || !IsHeaderSafe(message.task_id)) {
      return SendResult::Failed(SendOutcome::kPermanent, 0,
                                "task_id is not usable as an Idempotency-Key");
    }
    HttpRequest req;
    if (auto it = message.content.find("body"); it != message.content.end()) {
      if (!nlohmann::json::accept(it->second)) {
        return SendResult::Failed(SendOutcome::kPermanent, 0, "the rendered body is not JSON");
      }
      req.body = it->second;
    } else if (!message.task_json.empty()) {
      req.body = message.task_json;
    } else {
      return SendResult::Failed(SendOutcome::kPermanent, 0, "nothing to send: no body, no task");
    }
    // A fresh timestamp on every attempt: a retry is signed anew, with the
    // same Idempotency-Key.
    const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    req.url = config_->url;
    req.idempotency_key = message.task_id;
    req.headers = {
        {"Content-Type", "application/json"},
        {"X-Cairn-Timestamp", std::to_string(now)},
        {"X-Cairn-Signature", WebhookSignature(secret_.Get(), now, req.body)},
        {"X-Cairn-Task-Id", message.task_id},
    };
    const HttpResponse resp = client_.Perform(req);
    SendResult r = ClassifyHttp(resp);
    if (r.outcome == SendOutcome::kAccepted) {
      if (auto id = resp.Header("x-request-id"); id && IsHeaderSafe(*id)) r.provider_id = *id;
    }
    return r;
  }

 private:
  std::shared_ptr<const WebhookConfig> config_;
  SecretFile secret_;
  HttpClient client_;
};

class WebhookFactory : public ConnectorFactory {
 public:
  std::string_view type() const override { return "webhook"; }

  Result<ConnectorMaker> Configure(ConfigFields& fields,
                                   const ConnectorContext& /*context*/) const override {
    auto config = std::make_shared<WebhookConfig>();
    auto url = ReadHttpUrl(fields, "url");
    if (!url.ok()) return url.status();
    config->url = url.value();
    auto secret = SecretFile::Load(fields, "secret_file");
    if (!secret.ok()) return secret.status();
    config->secret = std::move(secret).value();
    auto method = fields.String("method", "POST");
    if (!method.ok()) return method.status();
    if (method.value() != "POST") {
      return fields.Invalid("method", "only POST is supported, not '" + method.value() + "'");
    }
    auto http =
        ReadHttpOptions(fields, {"x-cairn-timestamp", "x-cairn-signature", "x-cairn-task-id"});
    if (!http.ok()) return http.status();
    for (const auto& [name, value] : http->headers) {
      if (name.size() >= 8 && strncasecmp(name.c_str(), "x-cairn-", 8) == 0) {
        return fields.Invalid("headers", "'" + name + "': X-Cairn-* headers are the connector's");
      }
    }
    config->http = std::move(http).value();

    ConnectorMaker maker = [config]() -> Result<std::unique_ptr<Connector>> {
      return std::unique_ptr<Connector>(std::make_unique<WebhookConnector>(config));
    };
    return maker;
  }
};

}  // namespace

std::unique_ptr<ConnectorFactory> NewWebhookFactory() { return std::make_unique<WebhookFactory>(); }

}  // namespace cairn::connectors
