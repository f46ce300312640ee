// Writing JSON text by hand on hot paths (the ingest parser's canonical
// properties, the profile stage's own events), where building a JSON tree
// only to print it would cost more than the rest of the work.
#pragma once

#include <string>
#include <string_view>

namespace cairn {

// Appends `s` as a JSON string literal: quoted, with '"', '\\' and control
// characters escaped (the short forms \n \r \t \b \f, else \u00XX). Bytes
// >= 0x80 are copied as they are (the caller's text is UTF-8).
void AppendJsonString(std::string_view s, std::string& out);

}  // namespace cairn
