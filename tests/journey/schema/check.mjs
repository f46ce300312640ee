// Validates every journeys/*.yaml against journeys/schema/journey.schema.json
// (JSON Schema 2020-12, as editors use it) and checks that known-bad journeys
// are rejected. Usage: node check.mjs REPO_ROOT
import fs from "node:fs";
import path from "node:path";
import Ajv2020 from "ajv/dist/2020.js";
import YAML from "yaml";

const root = path.resolve(process.argv[2] ?? "../../..");
const journeysDir = path.join(root, "journeys");
const schema = JSON.parse(fs.readFileSync(path.join(journeysDir, "schema", "journey.schema.json"), "utf8"));

const ajv = new Ajv2020({ allErrors: true, strict: true, strictRequired: false, allowUnionTypes: true });
const validate = ajv.compile(schema);

let passed = 0;
let failed = 0;
const fail = (what, detail) => {
  failed++;
  console.log(`FAIL ${what}`);
  if (detail) console.log(detail);
};

// 1. Every example journey is valid, and names the schema on its first line.
const files = fs.readdirSync(journeysDir).filter((f) => /\.ya?ml$/.test(f)).sort();
if (files.length === 0) fail("journeys/ has no *.yaml files");
for (const f of files) {
  const text = fs.readFileSync(path.join(journeysDir, f), "utf8");
  const first = text.split("\n", 1)[0];
  if (first !== "# yaml-language-server: $schema=schema/journey.schema.json") {
    fail(`${f}: first line must be the yaml-language-server $schema comment`, `  got: ${first}`);
    continue;
  }
  const doc = YAML.parse(text);
  if (validate(doc)) {
    passed++;
    console.log(`ok   ${f}`);
  } else {
    fail(f, ajv.errorsText(validate.errors, { separator: "\n  ", dataVar: f }));
  }
}

// 2. Known-bad journeys are rejected; the minimal good one is accepted.
const base = `journey: t
version: 1
when: { event: Signed Up }
who: { consent: { email: implied } }
steps:
  - id: hello
    send: { channel: email, template: welcome }
`;
const cases = [
  { name: "minimal journey", ok: true, yaml: base },
  { name: "every step kind", ok: true, yaml: base + `  - id: w
    wait: { for: 2d, at: "10:00" }
  - id: w2
    wait: 1h
  - id: wf
    wait_for: { event: Order Completed, where: "event.properties.total > 0.0", timeout: 1d, lookback: 5m, on_event: done }
  - id: br
    branch:
      - if: "'x' in customer.labels"
        next: done
      - else: sp
  - id: sp
    split:
      - { arm: A, weight: 90, next: up }
      - { arm: control, weight: 10, holdout: true }
  - id: up
    update: { set: { tier: gold }, compute: { seen: now }, add_labels: [a], remove_labels: [b] }
  - id: em
    emit: { event: Done, properties: { n: 1 } }
  - id: again
    goto: { step: w, max: 2 }
  - id: done
    exit: finished
` },
  { name: "unknown top-level key", yaml: base + "priorty: 5\n" },
  { name: "missing steps", yaml: "journey: t\nversion: 1\nwhen: { event: A }\n" },
  { name: "journey name with capitals", yaml: base.replace("journey: t", "journey: Cart_Abandonment") },
  { name: "version as text", yaml: base.replace("version: 1", "version: one") },
  { name: "two triggers", yaml: base.replace("when: { event: Signed Up }", "when: { event: A, absence: B, for: 1d }") },
  { name: "absence without for", yaml: base.replace("when: { event: Signed Up }", "when: { absence: Order Completed }") },
  { name: "where on an absence trigger", yaml: base.replace("when: { event: Signed Up }", "when: { absence: A, for: 1d, where: 'true' }") },
  { name: "bad duration", yaml: base.replace("version: 1", "version: 1\nmax_lifetime: 1 hour") },
  { name: "bad time of day", yaml: base + `  - id: w
    wait: { for: 1d, at: "25:00" }
` },
  { name: "wait with for and until", yaml: base + `  - id: w
    wait: { for: 1d, until: renewal_date }
` },
  { name: "step with two actions", yaml: base + `  - id: two
    send: { channel: email, template: x }
    exit: done
` },
  { name: "step without action", yaml: base + "  - id: nothing\n" },
  { name: "step id with spaces", yaml: base + "  - id: my step\n    exit: done\n" },
  { name: "split arm without next", yaml: base + `  - id: sp
    split:
      - { arm: A, weight: 50, next: hello }
      - { arm: B, weight: 50 }
` },
  { name: "holdout arm with next", yaml: base + `  - id: sp
    split:
      - { arm: A, weight: 90, next: hello }
      - { arm: H, weight: 10, holdout: true, next: hello }
` },
  { name: "branch with next", yaml: base + `  - id: br
    next: hello
    branch:
      - if: "true"
        next: hello
` },
  { name: "consent neither implied nor explicit", yaml: base.replace("email: implied", "email: maybe") },
  { name: "reentry sometimes", yaml: base.replace("version: 1", "version: 1\nentry: { reentry: sometimes }") },
  { name: "params as a list", yaml: base.replace("template: welcome }", "template: welcome, params: [1, 2] }") },
  { name: "wait_for without timeout", yaml: base + `  - id: wf
    wait_for: { event: Order Completed }
` },
  { name: "on_new_version other", yaml: base.replace("version: 1", "version: 1\non_new_version: keep") },
];
for (const c of cases) {
  const doc = YAML.parse(c.yaml);
  const valid = validate(doc);
  const want = c.ok === true;
  if (valid === want) {
    passed++;
    console.log(`ok   ${want ? "accepts" : "rejects"}: ${c.name}`);
  } else {
    fail(`${want ? "should accept" : "should reject"}: ${c.name}`,
         valid ? "" : ajv.errorsText(validate.errors, { separator: "\n  " }));
  }
}

// 3. Profile files (journeys/profile/*.yaml) against profile.schema.json.
const profileSchema = JSON.parse(
  fs.readFileSync(path.join(journeysDir, "schema", "profile.schema.json"), "utf8"));
const validateProfile = ajv.compile(profileSchema);
const profileDir = path.join(journeysDir, "profile");
for (const f of fs.readdirSync(profileDir).filter((x) => /\.ya?ml$/.test(x)).sort()) {
  const text = fs.readFileSync(path.join(profileDir, f), "utf8");
  if (text.split("\n", 1)[0] !== "# yaml-language-server: $schema=../schema/profile.schema.json") {
    fail(`profile/${f}: first line must be the yaml-language-server $schema comment`);
    continue;
  }
  if (validateProfile(YAML.parse(text))) {
    passed++;
    console.log(`ok   profile/${f}`);
  } else {
    fail(`profile/${f}`, ajv.errorsText(validateProfile.errors, { separator: "\n  " }));
  }
}
const profileCases = [
  { name: "a trait with two aggregates", yaml: "traits: { x: { count: A, sum: B, of: t } }" },
  { name: "a trait without an aggregate", yaml: "traits: { x: { of: t } }" },
  { name: "a bad window", yaml: "traits: { x: { count: A, window: soon } }" },
  { name: "three RFM thresholds", yaml: "rfm: { recency: a, frequency: b, monetary: c, thresholds: { recency: [1d, 2d, 3d], frequency: [1, 2, 3, 4], monetary: [1, 2, 3, 4] } }" },
  { name: "a transition without a condition", yaml: "lifecycle: { initial: a, stages: [a, b], transitions: [{ from: a, to: b }] }" },
  { name: "a segment without if", yaml: "segments: { vip: { description: x } }" },
  { name: "an unknown section", yaml: "audiences: {}" },
  { name: "segments short and long form", ok: true, yaml: "segments: { a: \"traits.x > 1\", b: { if: \"true\", description: d } }" },
];
for (const c of profileCases) {
  const valid = validateProfile(YAML.parse(c.yaml));
  const want = c.ok === true;
  if (valid === want) {
    passed++;
    console.log(`ok   profile ${want ? "accepts" : "rejects"}: ${c.name}`);
  } else {
    fail(`profile ${want ? "should accept" : "should reject"}: ${c.name}`);
  }
}

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
