// Reads a label file, CSV or JSON lines, row by row, for `cairn import
// labels` (docs/labels-import.md).
//
// CSV: a header row is required (RFC 4180 quoting; a quoted field may span
// lines). Columns: `customer_id` (or `user_id`), and either `label` (one
// label per row) or `add` and/or `remove` (labels separated by `;`).
// Header names are matched after trimming spaces; an unknown column or a
// header without the id column is an error for the whole file. Labels are
// trimmed of spaces; empty entries between `;` are ignored.
// JSON lines: one object per line (labels::RowFromJson); blank lines skip.
//
// Every row comes with the 1-based line it starts on (the header is line 1).
// Not thread-safe; one reader per file.
#pragma once

#include <cstdint>
#include <fstream>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "cairn/status.h"
#include "labels/label_rows.h"

namespace cairn::labels {

enum class FileFormat { kCsv, kJsonLines };

// From the file name: .csv -> CSV; .jsonl, .ndjson, .json -> JSON lines.
Result<FileFormat> FormatFromName(const std::string& path);

struct FileRow {
  uint64_t line = 0;
  std::variant<LabelRow, Rejection> row;
};

class LabelFileReader {
 public:
  // Opens `path` and, for CSV, reads and checks the header. NotFound when it
  // cannot be opened; InvalidArgument "PATH:1: ..." for a bad header.
  static Result<std::unique_ptr<LabelFileReader>> Open(const std::string& path, FileFormat format);

  // The next row, valid or rejected; false at the end of the file.
  bool Next(FileRow* out);

  uint64_t size_bytes() const { return size_; }
  uint64_t bytes_read() const { return consumed_; }
  const std::string& path() const { return path_; }

 private:
  LabelFileReader() = default;
  // One physical line without its end; false at the end of the file.
  bool ReadLine(std::string* line);
  // One CSV record (may span lines); false at the end. `*error` is set when
  // the record is malformed (an unterminated quote).
  bool ReadCsvRecord(std::vector<std::string>* fields, std::string* error);
  Status ReadHeader();
  FileRow CsvRow(uint64_t line, const std::vector<std::string>& fields) const;

  std::string path_;
  FileFormat format_ = FileFormat::kCsv;
  std::ifstream in_;
  uint64_t size_ = 0;
  uint64_t consumed_ = 0;
  uint64_t line_ = 0;  // lines read so far
  // CSV columns: index of each, -1 when absent.
  int id_col_ = -1, label_col_ = -1, add_col_ = -1, remove_col_ = -1;
  size_t columns_ = 0;
};

}  // namespace cairn::labels
