#include "builtin.h"

#include "kafka/kafka_connector.h"
#include "push_fcm/push_fcm.h"
#include "sms_http/sms_http.h"
#include "smtp/smtp_connector.h"
#include "webhook/webhook.h"

namespace cairn::connectors {

void RegisterBuiltinConnectors(ConnectorRegistry& registry) {
  registry.Register(NewSmtpFactory());
  registry.Register(NewSmsHttpFactory());
  registry.Register(NewPushFcmFactory());
  registry.Register(NewWebhookFactory());
  registry.Register(NewKafkaFactory());
}

}  // namespace cairn::connectors
