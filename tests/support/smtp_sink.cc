#include "smtp_sink.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace cairn::testing {
namespace {

namespace fs = std::filesystem;

std::string ToolsDir() {
  const char* env = std::getenv("CAIRN_TOOLS_DIR");
  if (env != nullptr && *env != '\0') return env;
  return std::string(CAIRN_SOURCE_DIR) + "/.tools";
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The inodes of the IPv4 sockets listening on 127.0.0.1:port.
std::vector<std::string> ListeningInodes(int port) {
  char want[32];
  std::snprintf(want, sizeof want, "0100007F:%04X", port);
  std::vector<std::string> inodes;
  std::ifstream in("/proc/net/tcp");
  std::string line;
  std::getline(in, line);  // the column names
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string sl, local, remote, st, queues, timer, retr, uid, timeout, inode;
    fields >> sl >> local >> remote >> st >> queues >> timer >> retr >> uid >> timeout >> inode;
    if (local == want && st == "0A") inodes.push_back(inode);
  }
  return inodes;
}

// Whether process `pid` holds a socket listening on 127.0.0.1:port. When its
// fds cannot be read, a listener on the port while it runs is taken as its.
bool ListensOn(pid_t pid, int port) {
  const auto inodes = ListeningInodes(port);
  if (inodes.empty()) return false;
  std::error_code ec;
  fs::directory_iterator it(fs::path("/proc") / std::to_string(pid) / "fd", ec);
  if (ec) return true;
  for (const auto& entry : it) {
    const auto target = fs::read_symlink(entry.path(), ec);
    if (ec) continue;
    for (const auto& inode : inodes) {
      if (target.string() == "socket:[" + inode + "]") return true;
    }
  }
  return false;
}

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

// Parses one dump file; false when it is not a complete message.
bool ParseDump(const std::string& text, SmtpSink::Received* out) {
  // A finished dump ends with the message's last line end plus the one of
  // the "." line.
  if (text.size() < 2 || text.compare(text.size() - 2, 2, "\n\n") != 0) return false;
  size_t pos = 0;
  auto next_line = [&](std::string_view* line) {
    if (pos >= text.size()) return false;
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    *line = std::string_view(text).substr(pos, nl - pos);
    pos = nl + 1;
    return true;
  };
  std::string_view line;
  bool received = false;
  // smtp-sink's own records, ended by its three-line Received header.
  while (next_line(&line)) {
    if (StartsWith(line, "X-Helo-Args: ")) {
      out->helo = std::string(line.substr(13));
    } else if (StartsWith(line, "X-Mail-Args: ")) {
      out->mail_from = std::string(line.substr(13));
    } else if (StartsWith(line, "X-Rcpt-Args: ")) {
      out->recipients.emplace_back(line.substr(13));
    } else if (StartsWith(line, "Received: ")) {
      received = true;
      while (pos < text.size() && text[pos] == '\t') next_line(&line);
      break;
    }
  }
  if (!received) return false;  // DATA was refused or never came
  // The message's header, unfolded.
  std::string name, value;
  auto flush = [&] {
    // Whitespace after the colon is not part of the value, even when the
    // value starts on a continuation line.
    value.erase(0, value.find_first_not_of(" \t"));
    if (!name.empty()) out->headers.emplace(name, value);
    name.clear();
    value.clear();
  };
  bool blank = false;
  while (next_line(&line)) {
    if (line.empty()) {
      blank = true;
      break;
    }
    if (line.front() == ' ' || line.front() == '\t') {
      value += line;
      continue;
    }
    flush();
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) return false;
    name = std::string(line.substr(0, colon));
    std::string_view v = line.substr(colon + 1);
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
    value = std::string(v);
  }
  flush();
  if (!blank) return false;
  out->body = text.substr(pos, text.size() - pos - 1);
  return true;
}

}  // namespace

bool CaseInsensitiveLess::operator()(std::string_view a, std::string_view b) const {
  return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    return std::tolower(static_cast<unsigned char>(x)) <
           std::tolower(static_cast<unsigned char>(y));
  });
}

std::string SmtpSink::Received::Header(std::string_view name) const {
  auto it = headers.find(name);
  return it == headers.end() ? std::string() : it->second;
}

std::string SmtpSink::BinaryPath() { return ToolsDir() + "/postfix/usr/sbin/smtp-sink"; }

bool SmtpSink::Available() { return access(BinaryPath().c_str(), X_OK) == 0; }

std::string SmtpSink::NotAvailableMessage() {
  return "postfix's smtp-sink is not at " + BinaryPath() +
         ": run deploy/bootstrap-deps.sh (it unpacks the Debian package postfix there; "
         "CAIRN_TOOLS_DIR moves it)";
}

std::unique_ptr<SmtpSink> SmtpSink::Start(const Options& options) {
  if (!Available()) throw std::runtime_error(NotAvailableMessage());
  std::unique_ptr<SmtpSink> sink(new SmtpSink());  // private constructor
  sink->dir_ = std::make_unique<TempDir>();
  sink->dump_dir_ = sink->dir_->Sub("dump");
  sink->log_path_ = sink->dir_->Sub("smtp-sink.log");
  fs::create_directory(sink->dump_dir_);
  const bool root = geteuid() == 0;
  if (root) {
    // As root smtp-sink must drop to another user (-u), who writes the dumps.
    chmod(sink->dir_->path().c_str(), 0755);
    chmod(sink->dump_dir_.c_str(), 0777);
  }
  const std::string postfix = ToolsDir() + "/postfix";

  std::string last_error;
  for (int attempt = 0; attempt < 5; ++attempt) {
    const std::string address = options.address.empty() ? FreeLoopbackAddress() : options.address;
    const int port = std::stoi(address.substr(address.rfind(':') + 1));
    std::vector<std::string> argv = {
        "/usr/bin/env", "LD_LIBRARY_PATH=" + postfix + "/usr/lib/postfix", BinaryPath()};
    if (root) argv.insert(argv.end(), {"-u", "nobody"});
    if (options.capture) argv.insert(argv.end(), {"-d", sink->dump_dir_ + "/%M."});
    argv.insert(argv.end(), {"-m", "256"});
    argv.insert(argv.end(), options.extra_args.begin(), options.extra_args.end());
    argv.insert(argv.end(), {address, "256"});
    {
      std::ofstream log(sink->log_path_, std::ios::app);
      log << "--- start:";
      for (const auto& a : argv) log << " " << a;
      log << "\n";
    }
    auto process = std::make_unique<ChildProcess>(argv, sink->log_path_);
    const pid_t pid = process->pid();
    const bool up = WaitFor([&] { return !process->running() || ListensOn(pid, port); },
                            std::chrono::seconds(10));
    if (up && process->running()) {
      sink->address_ = address;
      sink->port_ = port;
      sink->process_ = std::move(process);
      return sink;
    }
    process.reset();  // kills it if it still runs
    const std::string log = Tail(sink->log_path_, 5);
    last_error = up ? "smtp-sink exited: " + log : "smtp-sink did not listen within 10 s: " + log;
    const bool port_taken = log.find("in use") != std::string::npos;
    if (!options.address.empty() || !port_taken) break;
  }
  throw std::runtime_error(last_error);
}

SmtpSink::~SmtpSink() { Stop(); }

void SmtpSink::Stop() {
  if (!process_) return;
  if (process_->running()) {
    process_->Kill(SIGTERM);
    if (process_->Wait(std::chrono::seconds(5)) == -1) {
      process_->Kill(SIGKILL);
      process_->Wait(std::chrono::seconds(5));
    }
  }
  process_.reset();
}

bool SmtpSink::running() const { return process_ && process_->running(); }

std::string SmtpSink::LogTail() const { return Tail(log_path_); }

std::vector<SmtpSink::Received> SmtpSink::Messages() const {
  struct Entry {
    fs::file_time_type time;
    std::string path;
  };
  std::vector<Entry> files;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dump_dir_, ec)) {
    if (!entry.is_regular_file(ec)) continue;
    files.push_back({entry.last_write_time(ec), entry.path().string()});
  }
  std::sort(files.begin(), files.end(), [](const Entry& a, const Entry& b) {
    return a.time != b.time ? a.time < b.time : a.path < b.path;
  });
  std::vector<Received> out;
  for (const auto& f : files) {
    Received r;
    r.file = f.path;
    if (ParseDump(ReadFile(f.path), &r)) out.push_back(std::move(r));
  }
  return out;
}

size_t SmtpSink::Count() const { return Messages().size(); }

bool SmtpSink::WaitForCount(size_t n, int timeout_ms) const {
  return WaitFor([&] { return Count() >= n; }, std::chrono::milliseconds(timeout_ms));
}

}  // namespace cairn::testing
