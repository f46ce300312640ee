#include "labels/label_file.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <system_error>

namespace cairn::labels {
namespace {

std::string Trim(std::string_view s) {
  const auto b = s.find_first_not_of(" \t");
  if (b == std::string_view::npos) return "";
  const auto e = s.find_last_not_of(" \t");
  return std::string(s.substr(b, e - b + 1));
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// "vip; gold;;" -> {vip, gold}
void SplitLabels(std::string_view cell, std::set<std::string>* out) {
  size_t start = 0;
  while (start <= cell.size()) {
    size_t end = cell.find(';', start);
    if (end == std::string_view::npos) end = cell.size();
    std::string l = Trim(cell.substr(start, end - start));
    if (!l.empty()) out->insert(std::move(l));
    start = end + 1;
  }
}

// A CSV record can hold a quoted newline; stop a runaway quote here.
constexpr size_t kMaxRecordBytes = 1 << 20;

}  // namespace

Result<FileFormat> FormatFromName(const std::string& path) {
  const std::string ext = Lower(std::filesystem::path(path).extension().string());
  if (ext == ".csv") return FileFormat::kCsv;
  if (ext == ".jsonl" || ext == ".ndjson" || ext == ".json") return FileFormat::kJsonLines;
  return InvalidArgument(path +
                         ": cannot tell the format from the name (.csv, .jsonl); use --format");
}

Result<std::unique_ptr<LabelFileReader>> LabelFileReader::Open(const std::string& path,
                                                               FileFormat format) {
  std::unique_ptr<LabelFileReader> r(new LabelFileReader());
  r->path_ = path;
  r->format_ = format;
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) return InvalidArgument(path + ": is a directory");
  r->in_.open(path, std::ios::binary);
  if (!r->in_) return NotFound(path + ": cannot open");
  const auto size = std::filesystem::file_size(path, ec);
  r->size_ = ec ? 0 : size;
  // A UTF-8 byte order mark is not part of the first field.
  char bom[3] = {};
  r->in_.read(bom, 3);
  if (r->in_.gcount() == 3 && bom[0] == '\xEF' && bom[1] == '\xBB' && bom[2] == '\xBF') {
    r->consumed_ = 3;
  } else {
    r->in_.clear();
    r->in_.seekg(0);
  }
  if (format == FileFormat::kCsv) CAIRN_RETURN_IF_ERROR(r->ReadHeader());
  return r;
}

bool LabelFileReader::ReadLine(std::string* line) {
  if (!std::getline(in_, *line)) return false;
  consumed_ += line->size() + (in_.eof() ? 0 : 1);
  if (!line->empty() && line->back() == '\r') line->pop_back();
  ++line_;
  return true;
}

bool LabelFileReader::ReadCsvRecord(std::vector<std::string>* fields, std::string* error) {
  fields->clear();
  error->clear();
  std::string line;
  if (!ReadLine(&line)) return false;
  std::string field;
  bool quoted = false;  // inside a quoted field
  size_t bytes = line.size();
  for (;;) {
    for (size_t i = 0; i < line.size(); ++i) {
      const char c = line[i];
      if (quoted) {
        if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
          field += '"';
          ++i;
        } else if (c == '"') {
          quoted = false;
        } else {
          field += c;
        }
      } else if (c == '"') {
        quoted = true;
      } else if (c == ',') {
        fields->push_back(std::move(field));
        field.clear();
      } else {
        field += c;
      }
    }
    if (!quoted) break;
    // The quoted field goes on on the next line.
    if (bytes > kMaxRecordBytes || !ReadLine(&line)) {
      *error = "unterminated quoted field";
      return true;
    }
    field += '\n';
    bytes += line.size();
  }
  fields->push_back(std::move(field));
  return true;
}

Status LabelFileReader::ReadHeader() {
  std::vector<std::string> header;
  std::string error;
  if (!ReadCsvRecord(&header, &error)) return InvalidArgument(path_ + ":1: empty file, no header");
  if (!error.empty()) return InvalidArgument(path_ + ":1: header: " + error);
  columns_ = header.size();
  for (size_t i = 0; i < header.size(); ++i) {
    const std::string name = Lower(Trim(header[i]));
    int* col = nullptr;
    if (name == "customer_id" || name == "user_id") {
      col = &id_col_;
    } else if (name == "label") {
      col = &label_col_;
    } else if (name == "add") {
      col = &add_col_;
    } else if (name == "remove") {
      col = &remove_col_;
    } else {
      return InvalidArgument(fmt::format(
          "{}:1: unknown column \"{}\" (expected customer_id or user_id, and label or add/remove)",
          path_, name));
    }
    if (*col >= 0)
      return InvalidArgument(fmt::format("{}:1: column \"{}\" given twice", path_, name));
    *col = static_cast<int>(i);
  }
  if (id_col_ < 0) return InvalidArgument(path_ + ":1: no customer_id (or user_id) column");
  if (label_col_ < 0 && add_col_ < 0 && remove_col_ < 0) {
    return InvalidArgument(path_ + ":1: no label, add or remove column");
  }
  if (label_col_ >= 0 && (add_col_ >= 0 || remove_col_ >= 0)) {
    return InvalidArgument(path_ + ":1: use either a label column or add/remove columns");
  }
  return Status::Ok();
}

FileRow LabelFileReader::CsvRow(uint64_t line, const std::vector<std::string>& fields) const {
  if (fields.size() != columns_) {
    return {line, Rejection{std::string(kColumnCount),
                            fmt::format("{} columns, the header has {}", fields.size(), columns_)}};
  }
  LabelRow row;
  row.customer_id = fields[static_cast<size_t>(id_col_)];
  if (label_col_ >= 0) {
    // One label per row: an empty cell is an invalid label, not "no labels".
    row.add.insert(Trim(fields[static_cast<size_t>(label_col_)]));
  }
  if (add_col_ >= 0) SplitLabels(fields[static_cast<size_t>(add_col_)], &row.add);
  if (remove_col_ >= 0) SplitLabels(fields[static_cast<size_t>(remove_col_)], &row.remove);
  if (auto r = ValidateRow(row)) return {line, std::move(*r)};
  return {line, std::move(row)};
}

bool LabelFileReader::Next(FileRow* out) {
  if (format_ == FileFormat::kJsonLines) {
    std::string text;
    for (;;) {
      if (!ReadLine(&text)) return false;
      if (Trim(text).empty()) continue;
      *out = {line_, RowFromJsonText(text)};
      return true;
    }
  }
  std::vector<std::string> fields;
  std::string error;
  for (;;) {
    const uint64_t start = line_ + 1;
    if (!ReadCsvRecord(&fields, &error)) return false;
    if (!error.empty()) {
      *out = {start, Rejection{std::string(kBadRow), error}};
      return true;
    }
    if (fields.size() == 1 && Trim(fields[0]).empty()) continue;  // a blank line
    *out = CsvRow(start, fields);
    return true;
  }
}

}  // namespace cairn::labels
