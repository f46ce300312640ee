#include "smtp/smtp_connector.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstring>
#include <fstream>
#include <string>
#include <string_view>
#include <utility>

#include "common/curl.h"
#include "smtp/smtp_message.h"

namespace cairn::connectors {
namespace {

using smtp::Mailbox;

// The validated `connectors.<name>` section, shared read-only by the
// connectors of every worker.
struct SmtpConfig {
  std::string url;  // scheme://host[:port]/helo_domain (libcurl takes the path as EHLO name)
  Mailbox from;
  Mailbox reply_to;  // address empty: none
  curl_usessl use_ssl = CURLUSESSL_TRY;
  std::string username;
  std::string password;
  std::string ca_file;
  bool insecure_skip_verify = false;
  int64_t timeout_ms = 30'000;
  int64_t connect_timeout_ms = 10'000;
  std::string message_id_domain = "cairn.local";
};

// Where the transaction was when a reply or an error came.
enum class Stage {
  kSession,  // greeting, EHLO, STARTTLS, AUTH
  kMail,     // MAIL FROM sent
  kRcpt,     // RCPT TO sent
  kData,     // DATA sent, no 354 yet: the message cannot have been taken
  kBody,     // 354 received: the message data is going out (or went out)
};

const char* StageName(Stage s) {
  switch (s) {
    case Stage::kSession:
      return "session";
    case Stage::kMail:
      return "MAIL FROM";
    case Stage::kRcpt:
      return "RCPT TO";
    case Stage::kData:
      return "DATA";
    case Stage::kBody:
      return "end of data";
  }
  return "?";
}

struct CurlUrlFree {
  void operator()(CURLU* u) const { curl_url_cleanup(u); }
};

// A URL part, "" when absent.
std::string UrlPart(CURLU* u, CURLUPart part) {
  char* v = nullptr;
  if (curl_url_get(u, part, &v, 0) != CURLUE_OK || v == nullptr) return "";
  std::string s(v);
  curl_free(v);
  return s;
}

class SmtpConnector final : public Connector {
 public:
  explicit SmtpConnector(std::shared_ptr<const SmtpConfig> config) : config_(std::move(config)) {
    CURL* h = curl_.get();
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, curl_.error_buffer());
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_URL, config_->url.c_str());
    curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(h, CURLOPT_READFUNCTION, &SmtpConnector::OnRead);
    curl_easy_setopt(h, CURLOPT_READDATA, this);
    // The protocol trace tells which command a reply answers and carries the
    // reply text; nothing of it is logged (AUTH lines hold credentials).
    curl_easy_setopt(h, CURLOPT_VERBOSE, 1L);
    curl_easy_setopt(h, CURLOPT_DEBUGFUNCTION, &SmtpConnector::OnDebug);
    curl_easy_setopt(h, CURLOPT_DEBUGDATA, this);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(config_->timeout_ms));
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(config_->connect_timeout_ms));
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_USE_SSL, static_cast<long>(config_->use_ssl));
    if (!config_->ca_file.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, config_->ca_file.c_str());
    if (config_->insecure_skip_verify) {
      curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
      curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (!config_->username.empty()) {
      curl_easy_setopt(h, CURLOPT_USERNAME, config_->username.c_str());
      curl_easy_setopt(h, CURLOPT_PASSWORD, config_->password.c_str());
    }
    mail_from_ = "<" + config_->from.address + ">";
    curl_easy_setopt(h, CURLOPT_MAIL_FROM, mail_from_.c_str());
  }

  bool ok() const { return curl_.get() != nullptr; }

  SendResult Send(const OutboundMessage& message) override {
    if (message.to.empty() || message.to.front().empty()) {
      return Rejected("no recipient address");
    }
    auto to = smtp::ParseMailbox(message.to.front());
    if (!to.ok()) return Rejected("malformed recipient address: " + to.status().message());

    smtp::EmailParts parts;
    parts.from = config_->from;
    parts.reply_to = config_->reply_to;
    parts.to = std::move(to.value());
    auto field = [&](const char* key, std::string* out) {
      auto it = message.content.find(key);
      if (it == message.content.end()) return false;
      *out = it->second;
      return true;
    };
    field("subject", &parts.subject);
    parts.has_text = field("text", &parts.text);
    parts.has_html = field("html", &parts.html);
    parts.task_id = message.task_id;
    parts.message_id_domain = config_->message_id_domain;
    parts.journey = message.journey;
    parts.step = message.step;
    parts.unsubscribe_url = message.unsubscribe_url;
    parts.date = std::chrono::system_clock::now();
    auto built = smtp::BuildMessage(parts);
    if (!built.ok()) {
      return SendResult::Failed(SendOutcome::kPermanent, 0,
                                "cannot build the email: " + built.status().message());
    }

    body_ = std::move(built.value());
    body_pos_ = 0;
    stage_ = Stage::kSession;
    reply_code_ = 0;
    reply_.clear();
    reply_last_ = false;
    quitting_ = false;
    reply_lines_.clear();
    in_.clear();
    out_.clear();

    CurlHeaders rcpt;  // a curl_slist, as CURLOPT_MAIL_RCPT wants
    rcpt.Append("<" + parts.to.address + ">");
    CURL* h = curl_.get();
    curl_easy_setopt(h, CURLOPT_MAIL_RCPT, rcpt.get());
    curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(body_.size()));
    const CURLcode rc = curl_easy_perform(h);
    curl_easy_setopt(h, CURLOPT_MAIL_RCPT, nullptr);
    long response = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &response);
    return Classify(rc, static_cast<int>(response));
  }

 private:
  static SendResult Rejected(std::string detail) {
    SendResult r = SendResult::Failed(SendOutcome::kPermanent, 0, std::move(detail));
    r.recipient_rejected = true;
    return r;
  }

  // libcurl 7.88, as observed against smtp-sink: a 4xx/5xx to MAIL, RCPT or
  // DATA ends the transfer with CURLE_SEND_ERROR, one to the end of data or
  // to the greeting with CURLE_WEIRD_SERVER_REPLY, and CURLINFO_RESPONSE_CODE
  // holds that reply's code. On a timeout or a dropped connection
  // RESPONSE_CODE still holds the previous (successful) reply, so the code
  // is taken only when a reply was the last thing that happened.
  SendResult Classify(CURLcode rc, int response) {
    const int code = response != 0 ? response : reply_code_;
    if (rc == CURLE_OK) return SendResult::Accepted(code, smtp::QueueIdFromReply(reply_));
    const std::string error = curl_.ErrorText(rc);
    if (reply_last_ && code >= 400 && code < 600) {
      const std::string detail =
          std::string(StageName(stage_)) + " refused: " + (reply_.empty() ? error : reply_);
      if (code < 500) return SendResult::Failed(SendOutcome::kRetryable, code, detail);
      SendResult r = SendResult::Failed(SendOutcome::kPermanent, code, detail);
      r.recipient_rejected = stage_ == Stage::kRcpt;  // a bounce
      return r;
    }
    if (rc == CURLE_LOGIN_DENIED) {
      return SendResult::Failed(SendOutcome::kPermanent, 0,
                                "authentication refused: " + (reply_.empty() ? error : reply_));
    }
    if (CurlNotSent(rc)) {
      return SendResult::Failed(SendOutcome::kRetryable, 0, "not sent: " + error);
    }
    if (stage_ == Stage::kBody) {
      return SendResult::Failed(
          SendOutcome::kUnknown, 0,
          error + " after the message data went out: the server may have taken it");
    }
    return SendResult::Failed(SendOutcome::kRetryable, 0,
                              error + " at " + StageName(stage_) + ", before the message data");
  }

  static size_t OnRead(char* buffer, size_t size, size_t nitems, void* self) {
    auto* c = static_cast<SmtpConnector*>(self);
    const size_t n = std::min(size * nitems, c->body_.size() - c->body_pos_);
    std::memcpy(buffer, c->body_.data() + c->body_pos_, n);
    c->body_pos_ += n;
    return n;
  }

  static int OnDebug(CURL*, curl_infotype type, char* data, size_t size, void* self) {
    auto* c = static_cast<SmtpConnector*>(self);
    if (type == CURLINFO_HEADER_OUT) {
      c->Lines(&c->out_, std::string_view(data, size), &SmtpConnector::OnCommand);
    } else if (type == CURLINFO_HEADER_IN) {
      c->Lines(&c->in_, std::string_view(data, size), &SmtpConnector::OnReplyLine);
    }
    return 0;
  }

  // Calls `fn` for each complete line of `data`, keeping a partial one.
  void Lines(std::string* pending, std::string_view data,
             void (SmtpConnector::*fn)(std::string_view)) {
    pending->append(data);
    size_t start = 0;
    for (size_t nl; (nl = pending->find('\n', start)) != std::string::npos; start = nl + 1) {
      std::string_view line(pending->data() + start, nl - start);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      (this->*fn)(line);
    }
    pending->erase(0, start);
  }

  void OnCommand(std::string_view line) {
    auto is = [&](std::string_view verb) {
      if (line.size() < verb.size()) return false;
      for (size_t i = 0; i < verb.size(); ++i) {
        if (std::toupper(static_cast<unsigned char>(line[i])) != verb[i]) return false;
      }
      return true;
    };
    if (is("QUIT")) {
      // libcurl says goodbye on a connection it drops after a failure: the
      // reply that failed the send stays the one reported.
      quitting_ = true;
      return;
    }
    if (is("MAIL FROM")) {
      stage_ = Stage::kMail;
    } else if (is("RCPT TO")) {
      stage_ = Stage::kRcpt;
    } else if (is("DATA")) {
      stage_ = Stage::kData;
    }
    reply_last_ = false;
    reply_lines_.clear();
  }

  void OnReplyLine(std::string_view line) {
    if (quitting_) return;
    if (!reply_lines_.empty()) reply_lines_ += ' ';
    reply_lines_.append(line.substr(0, 512));
    // "250-..." continues a reply, "250 ..." or "250" ends it.
    if (line.size() >= 4 && line[3] == '-') return;
    reply_code_ = 0;
    for (size_t i = 0; i < 3 && i < line.size(); ++i) {
      if (line[i] < '0' || line[i] > '9') break;
      reply_code_ = reply_code_ * 10 + (line[i] - '0');
    }
    reply_ = std::move(reply_lines_);
    reply_lines_.clear();
    reply_last_ = true;
    if (stage_ == Stage::kData && reply_code_ == 354) stage_ = Stage::kBody;
  }

  std::shared_ptr<const SmtpConfig> config_;
  CurlEasy curl_;
  std::string mail_from_;
  // One send's state.
  std::string body_;
  size_t body_pos_ = 0;
  Stage stage_ = Stage::kSession;
  int reply_code_ = 0;       // of the last complete reply
  std::string reply_;        // its text
  bool reply_last_ = false;  // no command went out after it
  bool quitting_ = false;    // QUIT went out: later replies are not this send's
  std::string reply_lines_;  // a multi-line reply so far
  std::string in_, out_;     // partial trace lines
};

class SmtpFactory final : public ConnectorFactory {
 public:
  std::string_view type() const override { return "smtp"; }

  Result<ConnectorMaker> Configure(ConfigFields& fields,
                                   const ConnectorContext& /*context*/) const override {
    auto config = std::make_shared<SmtpConfig>();

    // url: smtp[s]://host[:port]; the path is where libcurl takes the EHLO name.
    auto url = fields.String("url");
    if (!url.ok()) return url.status();
    std::unique_ptr<CURLU, CurlUrlFree> u(curl_url());
    if (curl_url_set(u.get(), CURLUPART_URL, url->c_str(), 0) != CURLUE_OK) {
      return fields.Invalid("url", "'" + *url + "' is not a URL (smtp://host:port)");
    }
    const std::string scheme = UrlPart(u.get(), CURLUPART_SCHEME);
    if (scheme != "smtp" && scheme != "smtps") {
      return fields.Invalid("url", "the scheme must be smtp:// or smtps://, not '" + scheme + "'");
    }
    if (UrlPart(u.get(), CURLUPART_HOST).empty()) return fields.Invalid("url", "has no host");
    if (!UrlPart(u.get(), CURLUPART_USER).empty() ||
        !UrlPart(u.get(), CURLUPART_PASSWORD).empty()) {
      return fields.Invalid("url", "credentials go in username_file and password_file");
    }
    if (const std::string path = UrlPart(u.get(), CURLUPART_PATH); !path.empty() && path != "/") {
      return fields.Invalid("url", "must have no path (the EHLO name is helo_domain)");
    }
    if (!UrlPart(u.get(), CURLUPART_QUERY).empty() ||
        !UrlPart(u.get(), CURLUPART_FRAGMENT).empty()) {
      return fields.Invalid("url", "must have no query or fragment");
    }

    auto from = fields.String("from");
    if (!from.ok()) return from.status();
    auto from_box = smtp::ParseMailbox(*from);
    if (!from_box.ok()) return fields.Invalid("from", from_box.status().message());
    config->from = std::move(from_box.value());

    auto reply_to = fields.String("reply_to", "");
    if (!reply_to.ok()) return reply_to.status();
    if (!reply_to->empty()) {
      auto box = smtp::ParseMailbox(*reply_to);
      if (!box.ok()) return fields.Invalid("reply_to", box.status().message());
      config->reply_to = std::move(box.value());
    }

    auto tls = fields.String("tls", "");
    if (!tls.ok()) return tls.status();
    if (scheme == "smtps") {
      if (!tls->empty() && *tls != "tls") {
        return fields.Invalid(
            "tls",
            "an smtps:// url is TLS from the start: use tls (or leave it out), not '" + *tls + "'");
      }
      config->use_ssl = CURLUSESSL_ALL;
    } else if (tls->empty() || *tls == "starttls") {
      config->use_ssl = CURLUSESSL_TRY;
    } else if (*tls == "none") {
      config->use_ssl = CURLUSESSL_NONE;
    } else if (*tls == "required_starttls") {
      config->use_ssl = CURLUSESSL_ALL;
    } else if (*tls == "tls") {
      return fields.Invalid("tls", "tls (TLS from the start) needs an smtps:// url");
    } else {
      return fields.Invalid(
          "tls", "must be one of none, starttls, required_starttls, tls; not '" + *tls + "'");
    }

    auto username = fields.Secret("username_file", false);
    if (!username.ok()) return username.status();
    auto password = fields.Secret("password_file", false);
    if (!password.ok()) return password.status();
    if (username->empty() != password->empty()) {
      return fields.Invalid(
          username->empty() ? "username_file" : "password_file",
          "is needed with " + std::string(username->empty() ? "password_file" : "username_file"));
    }
    config->username = std::move(username.value());
    config->password = std::move(password.value());

    auto ca_file = fields.String("ca_file", "");
    if (!ca_file.ok()) return ca_file.status();
    if (!ca_file->empty() && !std::ifstream(*ca_file).good()) {
      return fields.Invalid("ca_file", "cannot read '" + *ca_file + "'");
    }
    config->ca_file = std::move(ca_file.value());
    auto insecure = fields.Bool("insecure_skip_verify", false);
    if (!insecure.ok()) return insecure.status();
    config->insecure_skip_verify = *insecure;

    auto timeout = fields.DurationMs("timeout", 30'000);
    if (!timeout.ok()) return timeout.status();
    if (*timeout <= 0) return fields.Invalid("timeout", "must be more than 0");
    config->timeout_ms = *timeout;
    auto connect_timeout = fields.DurationMs("connect_timeout", 10'000);
    if (!connect_timeout.ok()) return connect_timeout.status();
    if (*connect_timeout <= 0) return fields.Invalid("connect_timeout", "must be more than 0");
    config->connect_timeout_ms = *connect_timeout;

    auto helo = fields.String("helo_domain", "cairn.local");
    if (!helo.ok()) return helo.status();
    if (!smtp::IsValidDomain(*helo)) {
      return fields.Invalid("helo_domain", "'" + *helo + "' is not a host name");
    }
    auto mid = fields.String("message_id_domain", "cairn.local");
    if (!mid.ok()) return mid.status();
    if (!smtp::IsValidDomain(*mid)) {
      return fields.Invalid("message_id_domain", "'" + *mid + "' is not a host name");
    }
    config->message_id_domain = std::move(mid.value());

    if (curl_url_set(u.get(), CURLUPART_PATH, ("/" + *helo).c_str(), 0) != CURLUE_OK) {
      return fields.Invalid("helo_domain", "cannot go in the url");
    }
    config->url = UrlPart(u.get(), CURLUPART_URL);

    std::shared_ptr<const SmtpConfig> shared = std::move(config);
    return ConnectorMaker([shared]() -> Result<std::unique_ptr<Connector>> {
      auto c = std::make_unique<SmtpConnector>(shared);
      if (!c->ok()) return Internal("curl_easy_init failed");
      return std::unique_ptr<Connector>(std::move(c));
    });
  }
};

}  // namespace

std::unique_ptr<cairn::ConnectorFactory> NewSmtpFactory() {
  return std::make_unique<SmtpFactory>();
}

}  // namespace cairn::connectors
