#include "push_fcm/push_fcm.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "common/http.h"

namespace cairn::connectors {

namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

struct FcmConfig {
  std::string url;  // {base_url}/v1/projects/{project}/messages:send
  SecretFile token;
  HttpOptions http;
};

// What FCM says about one token's failure.
struct FcmError {
  std::string status;        // error.status: NOT_FOUND, INVALID_ARGUMENT, ...
  std::string error_code;    // details[FcmError].errorCode: UNREGISTERED, ...
  bool token_field = false;  // a BadRequest field violation on message.token
  std::string message;
};

FcmError ParseFcmError(std::string_view body) {
  FcmError e;
  const json j = json::parse(body, nullptr, false);
  if (!j.is_object() || !j.contains("error") || !j["error"].is_object()) return e;
  const json& err = j["error"];
  if (err.contains("status") && err["status"].is_string()) e.status = err["status"];
  if (err.contains("message") && err["message"].is_string()) e.message = err["message"];
  if (err.contains("details") && err["details"].is_array()) {
    for (const json& d : err["details"]) {
      if (!d.is_object()) continue;
      if (d.contains("errorCode") && d["errorCode"].is_string() && e.error_code.empty()) {
        e.error_code = d["errorCode"];
      }
      if (d.contains("fieldViolations") && d["fieldViolations"].is_array()) {
        for (const json& v : d["fieldViolations"]) {
          if (v.is_object() && v.value("field", "") == "message.token") e.token_field = true;
        }
      }
    }
  }
  return e;
}

bool MentionsToken(std::string_view message) {
  std::string lower(message);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lower.find("registration token") != std::string::npos;
}

// Refines the common classification with FCM's error body.
void RefineFcm(const HttpResponse& resp, SendResult* r) {
  if (r->outcome != SendOutcome::kPermanent || resp.status == 0) return;
  const FcmError e = ParseFcmError(resp.body);
  const std::string what = !e.error_code.empty() ? e.error_code : e.status;
  if (!what.empty()) {
    r->detail = "HTTP " + std::to_string(resp.status) + ": " + what;
    const std::string message = BodyErrorMessage(resp.body);
    if (!message.empty()) r->detail += ": " + message;
  }
  // An unregistered token (404 UNREGISTERED), or a 400 INVALID_ARGUMENT
  // about the token itself (not about the payload): the device is gone.
  if (e.error_code == "UNREGISTERED") {
    r->recipient_rejected = true;
  } else if (resp.status == 400 &&
             (e.error_code == "INVALID_ARGUMENT" || e.status == "INVALID_ARGUMENT") &&
             (e.token_field || MentionsToken(e.message))) {
    r->recipient_rejected = true;
  }
}

class PushFcmConnector : public Connector {
 public:
  explicit PushFcmConnector(std::shared_ptr<const FcmConfig> config)
      : config_(std::move(config)), token_(config_->token), client_(config_->http) {}

  SendResult Send(const OutboundMessage& message) override {
    if (message.task_id.empty() || !IsHeaderSafe(message.task_id)) {
      return SendResult::Failed(SendOutcome::kPermanent, 0,
                                "task_id is not usable as an Idempotency-Key");
    }
    std::vector<std::string> tokens;
    for (const auto& t : message.to) {
      if (!t.empty()) tokens.push_back(t);
    }
    if (tokens.empty()) {
      SendResult r = SendResult::Failed(SendOutcome::kPermanent, 0, "no device token");
      r.recipient_rejected = true;
      return r;
    }

    json notification = json::object();
    if (auto it = message.content.find("title"); it != message.content.end()) {
      notification["title"] = it->second;
    }
    if (auto it = message.content.find("body"); it != message.content.end()) {
      notification["body"] = it->second;
    }
    json data = json::object();
    for (const auto& [k, v] : message.data) data[k] = v;
    data["task_id"] = message.task_id;
    data["journey"] = message.journey;
    data["step"] = message.step;

    const std::string bearer = "Bearer " + token_.Get();
    // The whole send keeps to one timeout, however many tokens.
    const auto deadline = Clock::now() + std::chrono::milliseconds(config_->http.timeout_ms);
    std::vector<SendResult> results;
    results.reserve(tokens.size());
    for (size_t i = 0; i < tokens.size(); ++i) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) {
        results.push_back(SendResult::Failed(SendOutcome::kRetryable, 0,
                                             "not sent: the send's timeout was spent"));
        continue;
      }
      json msg = {{"token", tokens[i]}, {"data", data}};
      if (!notification.empty()) msg["notification"] = notification;
      HttpRequest req;
      req.url = config_->url;
      req.idempotency_key =
          tokens.size() == 1 ? message.task_id : message.task_id + "/" + std::to_string(i);
      req.headers = {{"Authorization", bearer},
                     {"Content-Type", "application/json; charset=UTF-8"}};
      req.body = json{{"message", msg}}.dump(-1, ' ', false, json::error_handler_t::replace);
      req.timeout_ms = left;
      const HttpResponse resp = client_.Perform(req);
      SendResult r = ClassifyHttp(resp);
      if (r.outcome == SendOutcome::kAccepted) {
        const json j = json::parse(resp.body, nullptr, false);
        if (j.is_object() && j.contains("name") && j["name"].is_string()) r.provider_id = j["name"];
      } else {
        RefineFcm(resp, &r);
      }
      results.push_back(std::move(r));
    }
    return Combine(results);
  }

 private:
  // One result for the task from one result per token.
  static SendResult Combine(std::vector<SendResult>& results) {
    if (results.size() == 1) return std::move(results.front());
    auto label = [&](size_t i) {
      return "token " + std::to_string(i + 1) + "/" + std::to_string(results.size()) + ": ";
    };
    // Any retryable or unknown: the task goes again (the per-token key makes
    // a resend to an accepting token harmless). Unknown wins over retryable.
    const SendResult* again = nullptr;
    size_t again_index = 0;
    int64_t retry_after = -1;
    for (size_t i = 0; i < results.size(); ++i) {
      const SendResult& r = results[i];
      if (r.outcome != SendOutcome::kRetryable && r.outcome != SendOutcome::kUnknown) continue;
      retry_after = std::max(retry_after, r.retry_after_ms);
      if (again == nullptr ||
          (again->outcome == SendOutcome::kRetryable && r.outcome == SendOutcome::kUnknown)) {
        again = &r;
        again_index = i;
      }
    }
    if (again != nullptr) {
      SendResult out =
          SendResult::Failed(again->outcome, again->code, label(again_index) + again->detail);
      out.retry_after_ms = retry_after;
      return out;
    }
    const SendResult* first_ok = nullptr;
    std::string refused;
    size_t refused_count = 0;
    bool all_rejected = true;
    for (size_t i = 0; i < results.size(); ++i) {
      const SendResult& r = results[i];
      if (r.outcome == SendOutcome::kAccepted) {
        if (first_ok == nullptr) first_ok = &r;
        continue;
      }
      ++refused_count;
      all_rejected = all_rejected && r.recipient_rejected;
      if (refused.empty()) refused = label(i) + r.detail;
    }
    if (first_ok != nullptr) {
      // Delivered to at least one device: accepted; the refused ones are named.
      SendResult out = SendResult::Accepted(first_ok->code, first_ok->provider_id);
      if (refused_count > 0) {
        out.detail = std::to_string(refused_count) + " of " + std::to_string(results.size()) +
                     " device tokens refused; " + refused;
      }
      return out;
    }
    SendResult out = SendResult::Failed(
        SendOutcome::kPermanent, results.front().code,
        "all " + std::to_string(results.size()) + " device tokens refused; " + refused);
    out.recipient_rejected = all_rejected;
    return out;
  }

  std::shared_ptr<const FcmConfig> config_;
  SecretFile token_;
  HttpClient client_;
};

class PushFcmFactory : public ConnectorFactory {
 public:
  std::string_view type() const override { return "push_fcm"; }

  Result<ConnectorMaker> Configure(ConfigFields& fields,
                                   const ConnectorContext& /*context*/) const override {
    auto config = std::make_shared<FcmConfig>();
    auto base = ReadHttpUrl(fields, "base_url", "https://fcm.googleapis.com");
    if (!base.ok()) return base.status();
    auto project = fields.String("project");
    if (!project.ok()) return project.status();
    const std::string& p = project.value();
    const bool project_ok = !p.empty() && std::all_of(p.begin(), p.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '_' || c == '.' ||
             c == ':';
    });
    if (!project_ok) {
      return fields.Invalid("project",
                            "must be a project id (letters, digits, - _ . :), not '" + p + "'");
    }
    config->url = base.value() + "/v1/projects/" + p + "/messages:send";
    auto token = SecretFile::Load(fields, "token_file");
    if (!token.ok()) return token.status();
    config->token = std::move(token).value();
    auto http2 = fields.String("http2", "negotiate");
    if (!http2.ok()) return http2.status();
    auto http = ReadHttpOptions(fields, {"authorization"});
    if (!http.ok()) return http.status();
    config->http = std::move(http).value();
    if (http2.value() == "negotiate") {
      // h2 by ALPN over TLS; plain http stays HTTP/1.1 (no Upgrade: h2c).
      config->http.http_version = CURL_HTTP_VERSION_2TLS;
    } else if (http2.value() == "prior_knowledge") {
      config->http.http_version = CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE;
    } else if (http2.value() == "off") {
      config->http.http_version = CURL_HTTP_VERSION_1_1;
    } else {
      return fields.Invalid(
          "http2", "must be negotiate, prior_knowledge or off, not '" + http2.value() + "'");
    }
    if (http2.value() != "off" &&
        (curl_version_info(CURLVERSION_NOW)->features & CURL_VERSION_HTTP2) == 0) {
      return fields.Invalid("http2", "this libcurl has no HTTP/2; set http2: off");
    }

    ConnectorMaker maker = [config]() -> Result<std::unique_ptr<Connector>> {
      return std::unique_ptr<Connector>(std::make_unique<PushFcmConnector>(config));
    };
    return maker;
  }
};

}  // namespace

std::unique_ptr<ConnectorFactory> NewPushFcmFactory() { return std::make_unique<PushFcmFactory>(); }

}  // namespace cairn::connectors
