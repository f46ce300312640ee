#include "kafka/handles.h"

namespace cairn::kafka {

Result<ConfHandle> MakeConf(const KafkaProperties& props) {
  ConfHandle conf(rd_kafka_conf_new());
  char err[512];
  for (const auto& [key, value] : props) {
    if (rd_kafka_conf_set(conf.get(), key.c_str(), value.c_str(), err, sizeof err) !=
        RD_KAFKA_CONF_OK) {
      return InvalidArgument("kafka property '" + key + "': " + err);
    }
  }
  return conf;
}

Status KafkaError(rd_kafka_resp_err_t err, const std::string& what) {
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return Status::Ok();
  StatusCode code = StatusCode::kUnavailable;
  switch (err) {
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
      code = StatusCode::kDeadlineExceeded;
      break;
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
      code = StatusCode::kInvalidArgument;
      break;
    case RD_KAFKA_RESP_ERR__QUEUE_FULL:
      code = StatusCode::kResourceExhausted;
      break;
    case RD_KAFKA_RESP_ERR__FATAL:
      code = StatusCode::kInternal;
      break;
    default:
      break;
  }
  return {code, what + ": " + rd_kafka_err2str(err)};
}

}  // namespace cairn::kafka
