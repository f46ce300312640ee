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
// docs/connectors.md is the reference.
//
// Thread-safety: a loaded TemplateSet is immutable; Render is const.
#pragma once

#include <map>
#include <memory>
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

  const Template* Find(const std::string& name) const;

  // Checks every send step of `journey`: the template exists, is written for
  // the step's channel, and every variable it uses can be provided (known
  // root, params the step sets, known links/task/customer fields). One
  // message per problem, "journeyfile:line:col: ..." at the step.
  std::vector<std::string> Check(const journey::Journey& journey) const;

  // Renders every part. Fails (permanently) on a template error.
  Result<std::map<std::string, std::string>> Render(const Template& t, const RenderInput& in) const;

 private:
  std::map<std::string, Template> templates_;
};

}  // namespace cairn::dispatch
