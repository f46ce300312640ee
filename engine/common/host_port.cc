#include "cairn/host_port.h"

namespace cairn {

Result<std::pair<std::string, unsigned short>> SplitHostPort(const std::string& addr) {
  auto colon = addr.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return InvalidArgument("address '" + addr + "': want HOST:PORT");
  }
  std::string host = addr.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host == "localhost") host = "127.0.0.1";
  const std::string port_text = addr.substr(colon + 1);
  if (port_text.empty() || port_text.size() > 5 ||
      port_text.find_first_not_of("0123456789") != std::string::npos ||
      std::stoi(port_text) > 65535) {
    return InvalidArgument("address '" + addr + "': bad port");
  }
  return std::make_pair(host, static_cast<unsigned short>(std::stoi(port_text)));
}

}  // namespace cairn
