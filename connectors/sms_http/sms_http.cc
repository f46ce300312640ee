#include "sms_http/sms_http.h"

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <utility>

#include "common/http.h"

namespace cairn::connectors {

namespace {

// Provider error codes that mean the number itself is refused (Twilio:
// 21211 invalid 'To' number, 21614 'To' is not a mobile number).
const std::set<int64_t> kRecipientErrorCodes = {21211, 21614};

bool IsE164(std::string_view s) {
  if (s.size() < 3 || s.size() > 16 || s[0] != '+' || s[1] < '1' || s[1] > '9') return false;
  return std::all_of(s.begin() + 1, s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// An alphanumeric sender id or short code: 1-11 of [A-Za-z0-9 ], not blank.
bool IsSenderId(std::string_view s) {
  if (s.empty() || s.size() > 11 || s.front() == ' ' || s.back() == ' ') return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == ' ';
  });
}

struct SmsConfig {
  std::string url;  // base_url + path, account filled in
  std::string account;
  SecretFile token;
  std::string from;
  bool json = false;
  HttpOptions http;
};

class SmsHttpConnector : public Connector {
 public:
  explicit SmsHttpConnector(std::shared_ptr<const SmsConfig> config)
      : config_(std::move(config)), token_(config_->token), client_(config_->http) {}

  SendResult Send(const OutboundMessage& message) override {
    if (message.task_id.empty() || !IsHeaderSafe(message.task_id)) {
      return SendResult::Failed(SendOutcome::kPermanent, 0,
                                "task_id is not usable as an Idempotency-Key");
    }
    if (message.to.empty() || message.to.front().empty()) {
      SendResult r = SendResult::Failed(SendOutcome::kPermanent, 0, "no phone number");
      r.recipient_rejected = true;
      return r;
    }
    const std::string& to = message.to.front();
    if (!IsE164(to)) {
      SendResult r =
          SendResult::Failed(SendOutcome::kPermanent, 0, "'" + to + "' is not an E.164 number");
      r.recipient_rejected = true;
      return r;
    }
    auto body = message.content.find("body");
    if (body == message.content.end() || body->second.empty()) {
      return SendResult::Failed(SendOutcome::kPermanent, 0, "the message has no body");
    }

    std::vector<std::pair<std::string, std::string>> fields = {
        {"To", to}, {"From", config_->from}, {"Body", body->second}};
    if (!message.status_callback_url.empty()) {
      fields.emplace_back("StatusCallback", message.status_callback_url);
    }
    HttpRequest req;
    req.url = config_->url;
    req.idempotency_key = message.task_id;
    req.basic_user = config_->account;
    req.basic_password = token_.Get();
    if (config_->json) {
      nlohmann::json j = nlohmann::json::object();
      for (const auto& [k, v] : fields) j[k] = v;
      req.body = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      req.headers.emplace_back("Content-Type", "application/json");
    } else {
      for (const auto& [k, v] : fields) {
        if (!req.body.empty()) req.body += '&';
        req.body += k + "=" + UrlEncode(v);
      }
      req.headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
    }
    req.headers.emplace_back("Accept", "application/json");

    const HttpResponse resp = client_.Perform(req);
    SendResult r = ClassifyHttp(resp);
    const nlohmann::json j = nlohmann::json::parse(resp.body, nullptr, false);
    if (r.outcome == SendOutcome::kAccepted) {
      if (j.is_object() && j.contains("sid") && j["sid"].is_string()) {
        r.provider_id = j["sid"].get<std::string>();
      }
      return r;
    }
    if (r.outcome == SendOutcome::kPermanent && j.is_object() && j.contains("code") &&
        j["code"].is_number_integer()) {
      const int64_t code = j["code"].get<int64_t>();
      r.detail = "HTTP " + std::to_string(resp.status) + ": [" + std::to_string(code) + "] " +
                 BodyErrorMessage(resp.body);
      r.recipient_rejected = kRecipientErrorCodes.count(code) != 0;
    }
    return r;
  }

 private:
  std::shared_ptr<const SmsConfig> config_;  // shared by the maker and its connectors
  SecretFile token_;
  HttpClient client_;
};

class SmsHttpFactory : public ConnectorFactory {
 public:
  std::string_view type() const override { return "sms_http"; }

  Result<ConnectorMaker> Configure(ConfigFields& fields,
                                   const ConnectorContext& /*context*/) const override {
    auto config = std::make_shared<SmsConfig>();
    auto base = ReadHttpUrl(fields, "base_url");
    if (!base.ok()) return base.status();
    auto account = fields.String("account");
    if (!account.ok()) return account.status();
    if (account.value().empty()) return fields.Invalid("account", "must not be empty");
    config->account = account.value();
    auto token = SecretFile::Load(fields, "token_file");
    if (!token.ok()) return token.status();
    config->token = std::move(token).value();
    auto from = fields.String("from");
    if (!from.ok()) return from.status();
    if (!IsE164(from.value()) && !IsSenderId(from.value())) {
      return fields.Invalid("from",
                            "must be an E.164 number (+15551234567) or a sender id of "
                            "1 to 11 letters, digits and spaces, not '" +
                                from.value() + "'");
    }
    config->from = from.value();
    auto format = fields.String("format", "form");
    if (!format.ok()) return format.status();
    if (format.value() != "form" && format.value() != "json") {
      return fields.Invalid("format", "must be form or json, not '" + format.value() + "'");
    }
    config->json = format.value() == "json";
    auto path = fields.String("path", "/2010-04-01/Accounts/{account}/Messages.json");
    if (!path.ok()) return path.status();
    std::string p = path.value();
    if (p.empty() || p[0] != '/' || !IsHeaderSafe(p) || p.find(' ') != std::string::npos) {
      return fields.Invalid("path", "must start with '/' and have no spaces");
    }
    for (size_t at = p.find("{account}"); at != std::string::npos; at = p.find("{account}")) {
      p.replace(at, 9, UrlEncode(config->account));
    }
    config->url = base.value() + p;
    auto http = ReadHttpOptions(fields, {"authorization", "accept"});
    if (!http.ok()) return http.status();
    config->http = std::move(http).value();

    ConnectorMaker maker = [config]() -> Result<std::unique_ptr<Connector>> {
      return std::unique_ptr<Connector>(std::make_unique<SmsHttpConnector>(config));
    };
    return maker;
  }
};

}  // namespace

std::unique_ptr<ConnectorFactory> NewSmsHttpFactory() { return std::make_unique<SmsHttpFactory>(); }

}  // namespace cairn::connectors
