// Extracts the CEL conformance cases that apply to Cairn's CEL subset from
// @bufbuild/cel-spec (pinned in package-lock.json) into cases.json.
//
//   cd tests/expr/conformance && npm ci && node extract.mjs
//
// A case applies when it needs no protobuf messages, enums, wrappers,
// optionals, containers, declared functions or type-check-only results: plain
// values, simple variable bindings and google.protobuf.Timestamp/Duration
// (which Cairn has as native kinds). Values are written in a small tagged
// form that tests/expr/conformance_test.cc reads:
//   {"int":"-1"} {"uint":"1"} {"double":1.5|"NaN"|"Infinity"|"-Infinity"}
//   {"string":"s"} {"bytes":"<base64>"} {"bool":true} {"null":true}
//   {"list":[V...]} {"map":[[K,V]...]} {"type":"int"}
//   {"timestamp":"<RFC 3339>"} {"duration":"<seconds>s"}
// Types of variables: "int" "uint" "double" "bool" "string" "bytes" "null"
//   "timestamp" "duration" "dyn" {"list":T} {"map":T}
import { readFileSync, writeFileSync } from "node:fs";
import { tests } from "@bufbuild/cel-spec/testdata/conformance.js";

// Core CEL suites; extension libraries are left out except the string
// helpers Cairn implements.
const SUITES = new Set([
  "basic", "comparisons", "conversions", "fields", "fp_math", "integer_math", "lists",
  "logic", "macros", "namespace", "parse", "plumbing", "string", "timestamps",
  "type_deductions", "string_ext/ascii_casing", "string_ext/trim",
]);

class NotApplicable extends Error {}
const na = (why) => { throw new NotApplicable(why); };

const PRIMITIVES = {
  BOOL: "bool", INT64: "int", UINT64: "uint", DOUBLE: "double", STRING: "string", BYTES: "bytes",
};
const WELL_KNOWN = {
  "google.protobuf.Timestamp": "timestamp", "google.protobuf.Duration": "duration",
};

function convertType(t) {
  if (t.primitive) return PRIMITIVES[t.primitive] ?? na("primitive " + t.primitive);
  if (t.messageType) return WELL_KNOWN[t.messageType] ?? na("message type");
  if (t.wellKnown === "TIMESTAMP") return "timestamp";
  if (t.wellKnown === "DURATION") return "duration";
  if ("dyn" in t) return "dyn";
  if ("null" in t) return "null";
  if (t.listType) return { list: convertType(t.listType.elemType ?? { dyn: {} }) };
  if (t.mapType) {
    convertType(t.mapType.keyType ?? { dyn: {} });
    return { map: convertType(t.mapType.valueType ?? { dyn: {} }) };
  }
  return na("type " + JSON.stringify(t).slice(0, 40));
}

function convertValue(v) {
  if ("nullValue" in v) return { null: true };
  if ("boolValue" in v) return { bool: v.boolValue };
  if ("int64Value" in v) return { int: String(v.int64Value) };
  if ("uint64Value" in v) return { uint: String(v.uint64Value) };
  if ("doubleValue" in v) return { double: v.doubleValue };
  if ("stringValue" in v) return { string: v.stringValue };
  if ("bytesValue" in v) return { bytes: v.bytesValue };
  if ("typeValue" in v) {
    if (/TestAllTypes|Enum|google\.protobuf\.(?!Timestamp$|Duration$)/.test(v.typeValue)) {
      na("message type value");
    }
    return { type: v.typeValue };
  }
  if ("listValue" in v) return { list: (v.listValue.values ?? []).map(convertValue) };
  if ("mapValue" in v) {
    return {
      map: (v.mapValue.entries ?? []).map((e) => [convertValue(e.key), convertValue(e.value)]),
    };
  }
  if ("objectValue" in v) {
    const type = v.objectValue["@type"];
    if (type === "type.googleapis.com/google.protobuf.Timestamp") {
      return { timestamp: v.objectValue.value };
    }
    if (type === "type.googleapis.com/google.protobuf.Duration") {
      return { duration: v.objectValue.value };
    }
    return na("message value");
  }
  return na("value " + Object.keys(v).join(","));
}

const MESSAGE_SYNTAX =
  /TestAllTypes|NestedMessage|Enum\b|GlobalEnum|NestedEnum|optional\.|\.\?|\[\?|\{\?|google\.protobuf\.(?!Timestamp\b|Duration\b)|cel\.expr/;

function convertCase(suite, t) {
  const o = t.original;
  if (o.container) na("container");
  if (o.checkOnly) na("check only");
  if (MESSAGE_SYNTAX.test(o.expr)) na("messages, enums or optionals");
  const out = { suite, name: o.name, expr: o.expr };
  if (o.disableCheck) out.disable_check = true;
  if (o.typeEnv?.length) {
    out.env = {};
    for (const decl of o.typeEnv) {
      if (!decl.ident) na("declared function");
      out.env[decl.name] = convertType(decl.ident.type);
    }
  }
  if (o.bindings) {
    out.bindings = {};
    for (const [name, b] of Object.entries(o.bindings)) {
      if (!b.value) na("unknown binding");
      out.bindings[name] = convertValue(b.value);
    }
  }
  if (o.value) out.value = convertValue(o.value);
  else if (o.typedResult?.result) out.value = convertValue(o.typedResult.result);
  else if (o.evalError || o.anyEvalErrors) out.error = true;
  else if (o.unknown || o.anyUnknowns) na("unknown result");
  else out.value = { bool: true };  // cel-spec's default expectation
  return out;
}

const cases = [];
const notApplicable = {};
for (const s of tests.suites) {
  for (const sub of s.suites ?? []) {
    const suite = `${s.name}/${sub.name}`;
    if (!SUITES.has(s.name) && !SUITES.has(suite)) continue;
    for (const t of sub.tests ?? []) {
      try {
        cases.push(convertCase(suite, t));
      } catch (e) {
        if (!(e instanceof NotApplicable)) throw e;
        notApplicable[e.message] = (notApplicable[e.message] ?? 0) + 1;
      }
    }
  }
}

const pkg = JSON.parse(
  readFileSync(new URL("node_modules/@bufbuild/cel-spec/package.json", import.meta.url)),
);
const doc = {
  source: `@bufbuild/cel-spec ${pkg.version} (cel-spec ${pkg.upstreamCelSpecRef}), Apache-2.0`,
  generated_by: "tests/expr/conformance/extract.mjs",
  cases,
};
writeFileSync(new URL("cases.json", import.meta.url), JSON.stringify(doc, null, 1) + "\n");
console.log(`${cases.length} cases written to cases.json`);
console.log("left out (not applicable):", notApplicable);
