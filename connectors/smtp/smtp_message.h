// The email itself: mailbox parsing and the MIME message the SMTP connector
// sends (RFC 5322 headers, RFC 2047 encoded words, RFC 2045 quoted-printable
// and base64, RFC 8058 one-click unsubscribe). Pure functions, no I/O; any
// thread.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "cairn/status.h"

namespace cairn::connectors::smtp {

// An RFC 5322 mailbox. Addresses are ASCII only (no SMTPUTF8): a non-ASCII
// domain must arrive as punycode (xn--).
struct Mailbox {
  std::string name;     // display name, UTF-8; may be empty
  std::string address;  // local@domain
};

// "local@domain": a dot-atom local part (at most 64 octets) and a host name
// of letters, digits and hyphens (at most 253 octets).
bool IsValidAddress(std::string_view address);
bool IsValidDomain(std::string_view domain);

// Parses `Name <local@domain>`, `"Quoted, Name" <local@domain>` or
// `local@domain`. InvalidArgument saying what is wrong when malformed.
Result<Mailbox> ParseMailbox(std::string_view text);

// The mailbox as a header value: `addr`, `Name <addr>`, `"Q, Name" <addr>`
// or `=?UTF-8?B?...?= <addr>`. `prefix_len` as for EncodeHeaderText.
std::string FormatMailbox(const Mailbox& mailbox, size_t prefix_len = 6);

// An unstructured header value (Subject, X-...), CR/LF/TAB turned into
// spaces. Printable ASCII is folded at spaces to keep lines within 78
// octets where it can; anything else becomes RFC 2047 "B" encoded words
// (at most 76 octets a line). `prefix_len` is the length of "Name: " that
// precedes the value on its first line.
std::string EncodeHeaderText(std::string_view text, size_t prefix_len);

// RFC 2045 quoted-printable of UTF-8 text. Line breaks (LF, CRLF or CR)
// become CRLF; lines are at most 76 octets; a leading "." is encoded.
std::string QuotedPrintable(std::string_view text);
// Base64 (RFC 4648), a CRLF every `line_len` output octets (0: one line).
std::string Base64(std::string_view bytes, size_t line_len = 0);

// "Mon, 2 Jan 2006 15:04:05 +0000" (RFC 5322 date-time, UTC).
std::string Rfc5322Date(std::chrono::system_clock::time_point time);

// The left part of the Message-ID for a task id: the id itself when it is
// made of atext (task ids are hex), every other octet as %XX. "" for "".
std::string MessageIdLocalPart(std::string_view task_id);

// The queue id in a reply to the end of DATA, "" when it has none:
// "250 2.0.0 Ok: queued as 4F3xQ" (Postfix, SendGrid) -> "4F3xQ",
// "250 OK id=1rAbCd-000Ef-Gh" (Exim) -> "1rAbCd-000Ef-Gh".
std::string QueueIdFromReply(std::string_view reply);

// Everything one message is built from.
struct EmailParts {
  Mailbox from;
  Mailbox reply_to;  // address empty: no Reply-To
  Mailbox to;
  std::string subject;
  std::string text;  // used when has_text
  std::string html;  // used when has_html
  bool has_text = false;
  bool has_html = false;
  std::string task_id;  // Message-ID <id@message_id_domain>, X-Cairn-Task-Id
  std::string message_id_domain;
  std::string journey;          // X-Cairn-Journey
  std::string step;             // X-Cairn-Step
  std::string unsubscribe_url;  // List-Unsubscribe (+ -Post) when not empty
  std::chrono::system_clock::time_point date;
};

// The message as sent after DATA: CRLF line ends, every line at most 998
// octets, 7-bit only. multipart/alternative (text/plain, then text/html)
// when both bodies are there, else a single part. InvalidArgument when
// neither body is there, the task id is empty, or the unsubscribe URL
// cannot go in a header.
Result<std::string> BuildMessage(const EmailParts& parts);

}  // namespace cairn::connectors::smtp
