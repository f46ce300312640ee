// Message templates: mustache (kainjow 4.1), one YAML file per template in
// the templates directory beside the journeys (<journeys>/templates/<name>.yaml):
//
//   channel: email                 # the channel it is written for
//   subject: "{{traits.first_name}}, your cart is waiting"
//   text: |  ...                    # email: subject + text and/or html
//   html: |  ... <a href="{{#track}}https://shop.example/cart{{/track}}">
//   # sms: body        push: title, body        webhook/kafka: body (JSON text)
//
// In scope when rendering:
//   traits.*      the customer's traits (profile)
//   customer.*    id
//   event.*       the event that started the journey instance
//   params.*      the send step's params
//   task.*        task_id, journey, version, step, channel
//   links.*       unsubscribe, open_pixel
//   {{#track}}URL{{/track}}   a signed click-tracking link to URL
// docs/templates.md is the reference (escaping per part, validation rules).
//
// Escaping: {{x}} is HTML-escaped in an email's html part, JSON-string-
// escaped in a webhook/kafka body, and left as is in plain-text parts
// (subject, text, sms, push); {{{x}}} and {{&x}} never escape. Numbers and
// booleans render as text ("15", "true"); false, null and [] are falsy for
// sections.
//
// Thread-safety: a loaded TemplateSet is immutable; Render is const.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "cairn/status.h"
#include "dispatch/tracking.h"

namespace cairn::journey {
struct Journey;
}

namespace cairn::dispatch {

struct Template {
  std::string name;
  std::string channel;
  std::string file;
  std::map<std::string, std::string> parts;  // part name -> mustache source
};

// Everything a template may read, as JSON texts (empty = {}).
struct RenderInput {
  std::string traits_json;
  std::string customer_id;
  std::string event_json;   // the instance's entry event
  std::string params_json;  // the step's params
  std::string task_id, journey, step, channel;
  uint32_t version = 0;
  const Tracker* tracker = nullptr;  // null: links render as ""
};

class TemplateSet {
 public:
  // Loads every *.yaml in `dir`. A missing dir is an empty set. Errors carry
  // file:line:col (YAML, unknown part for the channel, mustache syntax).
  static Result<std::shared_ptr<const TemplateSet>> LoadDir(const std::string& dir);
  // Like LoadDir, but keeps every good template and appends one
  // "file:line:col: message" per problem to `problems` (for `cairn
  // validate`). `files`, when set, receives the number of files looked at.
  static std::shared_ptr<const TemplateSet> LoadDirCollecting(const std::string& dir,
                                                              std::vector<std::string>* problems,
                                                              int* files = nullptr);

  const Template* Find(const std::string& name) const;

  // Checks every send step of `journey`: the template exists, is written for
  // the step's channel, and every variable it uses can be provided (known
  // root, params the step sets, known links/task/customer fields). One
  // message per problem, "journeyfile:line:col: ..." at the step.
  std::vector<std::string> Check(const journey::Journey& journey) const;

  // Renders every part. Fails (permanently) on a template error.
  // The webhook/kafka body must be JSON after rendering; a {{#track}} target
  // must be an absolute http(s) URL. With a tracker, an email's html gets the
  // open pixel before </body> unless it already shows links.open_pixel.
  Result<std::map<std::string, std::string>> Render(const Template& t, const RenderInput& in) const;

  const std::string& dir() const { return dir_; }
  bool dir_exists() const { return dir_exists_; }
  size_t size() const { return templates_.size(); }

  // Internal: a part's tags with their place in the template file.
  struct TagRef {
    char type = 0;  // mustache sigil: 'v' variable (any escaping), '#', '^'
    std::string name;
    int line = 0, column = 0;
  };

 private:
  std::string dir_;
  bool dir_exists_ = false;
  std::map<std::string, Template> templates_;
  std::map<std::string, std::pair<int, int>> channel_pos_;                  // name -> line, column
  std::map<std::string, std::map<std::string, std::vector<TagRef>>> tags_;  // name -> part ->
  std::map<std::string, std::map<std::string, std::string>> render_src_;    // name -> part ->
  std::set<std::string> broken_;  // names whose file did not load (already reported)
};

}  // namespace cairn::dispatch
