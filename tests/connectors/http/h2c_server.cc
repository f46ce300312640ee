#include "h2c_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nghttp2/nghttp2.h>
#include <poll.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <stdexcept>

namespace cairn::testing {

std::string H2Request::Header(std::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (n.size() == name.size() && strncasecmp(n.data(), name.data(), n.size()) == 0) return v;
  }
  return {};
}

namespace {

struct SessionDel {
  void operator()(nghttp2_session* s) const { nghttp2_session_del(s); }
};
struct CallbacksDel {
  void operator()(nghttp2_session_callbacks* c) const { nghttp2_session_callbacks_del(c); }
};

// One connection's state, the user_data of its nghttp2 session.
struct Conn {
  H2cServer* server = nullptr;
  int fd = -1;
  uint64_t id = 0;
  struct Stream {
    H2Request request;
    std::string out;  // the response body being sent
    size_t sent = 0;
    std::vector<std::string> header_store;  // keeps nv names/values alive
  };
  std::map<int32_t, Stream> streams;
};

std::string_view View(const uint8_t* p, size_t n) { return {reinterpret_cast<const char*>(p), n}; }

ssize_t OnSend(nghttp2_session* /*session*/, const uint8_t* data, size_t length, int /*flags*/,
               void* user) {
  auto* c = static_cast<Conn*>(user);
  size_t done = 0;
  while (done < length) {
    const ssize_t n = ::send(c->fd, data + done, length - done, MSG_NOSIGNAL);
    if (n <= 0) return NGHTTP2_ERR_CALLBACK_FAILURE;
    done += static_cast<size_t>(n);
  }
  return static_cast<ssize_t>(length);
}

int OnBeginHeaders(nghttp2_session* /*session*/, const nghttp2_frame* frame, void* user) {
  auto* c = static_cast<Conn*>(user);
  if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
    auto& s = c->streams[frame->hd.stream_id];
    s.request.connection = c->id;
    s.request.stream_id = frame->hd.stream_id;
  }
  return 0;
}

int OnHeader(nghttp2_session* /*session*/, const nghttp2_frame* frame, const uint8_t* name,
             size_t namelen, const uint8_t* value, size_t valuelen, uint8_t /*flags*/, void* user) {
  auto* c = static_cast<Conn*>(user);
  auto it = c->streams.find(frame->hd.stream_id);
  if (it == c->streams.end()) return 0;
  H2Request& r = it->second.request;
  const std::string_view n = View(name, namelen);
  std::string v(View(value, valuelen));
  if (n == ":method") {
    r.method = std::move(v);
  } else if (n == ":path") {
    r.path = std::move(v);
  } else if (n == ":scheme") {
    r.scheme = std::move(v);
  } else if (n == ":authority") {
    r.authority = std::move(v);
  } else {
    r.headers.emplace_back(std::string(n), std::move(v));
  }
  return 0;
}

int OnData(nghttp2_session* /*session*/, uint8_t /*flags*/, int32_t stream_id, const uint8_t* data,
           size_t len, void* user) {
  auto* c = static_cast<Conn*>(user);
  auto it = c->streams.find(stream_id);
  if (it != c->streams.end()) it->second.request.body.append(View(data, len));
  return 0;
}

ssize_t ReadBody(nghttp2_session* /*session*/, int32_t /*stream_id*/, uint8_t* buf, size_t length,
                 uint32_t* data_flags, nghttp2_data_source* source, void* /*user*/) {
  auto* s = static_cast<Conn::Stream*>(source->ptr);
  const size_t n = std::min(length, s->out.size() - s->sent);
  std::memcpy(buf, s->out.data() + s->sent, n);
  s->sent += n;
  if (s->sent == s->out.size()) *data_flags |= NGHTTP2_DATA_FLAG_EOF;
  return static_cast<ssize_t>(n);
}

nghttp2_nv Nv(const std::string& name, const std::string& value) {
  nghttp2_nv nv;
  nv.name = reinterpret_cast<uint8_t*>(const_cast<char*>(name.data()));
  nv.namelen = name.size();
  nv.value = reinterpret_cast<uint8_t*>(const_cast<char*>(value.data()));
  nv.valuelen = value.size();
  nv.flags = NGHTTP2_NV_FLAG_NONE;
  return nv;
}

int OnFrameRecv(nghttp2_session* session, const nghttp2_frame* frame, void* user) {
  auto* c = static_cast<Conn*>(user);
  if ((frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) ||
      (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) == 0) {
    return 0;
  }
  auto it = c->streams.find(frame->hd.stream_id);
  if (it == c->streams.end()) return 0;
  Conn::Stream& s = it->second;
  H2Response resp = c->server->Answer(s.request);
  s.out = std::move(resp.body);
  s.header_store.push_back(":status");
  s.header_store.push_back(std::to_string(resp.status));
  for (auto& [n, v] : resp.headers) {
    std::string lower = n;
    for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    s.header_store.push_back(std::move(lower));
    s.header_store.push_back(v);
  }
  std::vector<nghttp2_nv> nva;
  for (size_t i = 0; i + 1 < s.header_store.size(); i += 2) {
    nva.push_back(Nv(s.header_store[i], s.header_store[i + 1]));
  }
  nghttp2_data_provider provider;
  provider.source.ptr = &s;
  provider.read_callback = &ReadBody;
  return nghttp2_submit_response(session, frame->hd.stream_id, nva.data(), nva.size(), &provider);
}

int OnStreamClose(nghttp2_session* /*session*/, int32_t stream_id, uint32_t /*error_code*/,
                  void* user) {
  static_cast<Conn*>(user)->streams.erase(stream_id);
  return 0;
}

}  // namespace

H2cServer::~H2cServer() { Stop(); }

void H2cServer::Start() {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) throw std::runtime_error("socket failed");
  const int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listen_fd_, 16) != 0) {
    ::close(listen_fd_);
    listen_fd_ = -1;
    throw std::runtime_error("bind/listen failed");
  }
  socklen_t len = sizeof addr;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  thread_ = std::thread([this] { Loop(); });
}

void H2cServer::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  if (listen_fd_ >= 0) ::close(listen_fd_);
  listen_fd_ = -1;
}

void H2cServer::Loop() {
  while (!stop_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    Serve(fd, ++connections_);
    ::close(fd);
  }
}

void H2cServer::Serve(int fd, uint64_t id) {
  Conn conn;
  conn.server = this;
  conn.fd = fd;
  conn.id = id;
  nghttp2_session_callbacks* raw_cb = nullptr;
  if (nghttp2_session_callbacks_new(&raw_cb) != 0) return;
  std::unique_ptr<nghttp2_session_callbacks, CallbacksDel> cb(raw_cb);
  nghttp2_session_callbacks_set_send_callback(cb.get(), &OnSend);
  nghttp2_session_callbacks_set_on_begin_headers_callback(cb.get(), &OnBeginHeaders);
  nghttp2_session_callbacks_set_on_header_callback(cb.get(), &OnHeader);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb.get(), &OnData);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cb.get(), &OnFrameRecv);
  nghttp2_session_callbacks_set_on_stream_close_callback(cb.get(), &OnStreamClose);
  nghttp2_session* raw = nullptr;
  if (nghttp2_session_server_new(&raw, cb.get(), &conn) != 0) return;
  std::unique_ptr<nghttp2_session, SessionDel> session(raw);

  const nghttp2_settings_entry settings[] = {{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 100}};
  if (nghttp2_submit_settings(session.get(), NGHTTP2_FLAG_NONE, settings, 1) != 0) return;
  if (nghttp2_session_send(session.get()) != 0) return;
  uint8_t buf[16384];
  while (!stop_) {
    if (nghttp2_session_want_read(session.get()) == 0 &&
        nghttp2_session_want_write(session.get()) == 0) {
      return;
    }
    pollfd p{fd, POLLIN, 0};
    const int ready = ::poll(&p, 1, 50);
    if (ready < 0) return;
    if (ready > 0) {
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) return;
      if (nghttp2_session_mem_recv(session.get(), buf, static_cast<size_t>(n)) < 0) return;
    }
    if (nghttp2_session_send(session.get()) != 0) return;
  }
}

H2Response H2cServer::Answer(H2Request request) {
  std::lock_guard<std::mutex> lock(mu_);
  requests_.push_back(std::move(request));
  if (!script_.empty()) {
    H2Response r = std::move(script_.front());
    script_.pop_front();
    return r;
  }
  H2Response r;
  r.headers.emplace_back("content-type", "application/json");
  r.body = R"({"name":"projects/p/messages/)" + std::to_string(requests_.size()) + R"("})";
  return r;
}

void H2cServer::Script(H2Response response) {
  std::lock_guard<std::mutex> lock(mu_);
  script_.push_back(std::move(response));
}

std::vector<H2Request> H2cServer::Requests() const {
  std::lock_guard<std::mutex> lock(mu_);
  return requests_;
}

size_t H2cServer::Count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return requests_.size();
}

}  // namespace cairn::testing
