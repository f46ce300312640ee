// Validates docs/openapi.yaml with swagger-parser (the OpenAPI 3.0 schema,
// every $ref resolvable, unique operationIds, path parameters declared), and
// checks that broken copies are rejected, so this test can fail.
// Usage: node check.mjs REPO_ROOT
import { readFileSync } from "node:fs";
import { join } from "node:path";
import SwaggerParser from "@apidevtools/swagger-parser";
import YAML from "yaml";

const repo = process.argv[2] ?? "../../..";
const file = join(repo, "docs/openapi.yaml");
const doc = YAML.parse(readFileSync(file, "utf8"));
let failures = 0;

// swagger-parser does not check OpenAPI 3 path parameters: every {name} in
// a path must be declared `in: path` by each of its operations.
function undeclaredPathParams(api) {
  const problems = [];
  for (const [path, item] of Object.entries(api.paths)) {
    const names = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
    for (const [method, op] of Object.entries(item)) {
      if (typeof op !== "object" || !op.responses) continue;
      const declared = [...(item.parameters ?? []), ...(op.parameters ?? [])]
        .filter((p) => p.in === "path")
        .map((p) => p.name);
      for (const n of names) {
        if (!declared.includes(n)) problems.push(`${method.toUpperCase()} ${path}: {${n}} not declared`);
      }
    }
  }
  return problems;
}

async function validate(d) {
  const api = await SwaggerParser.validate(structuredClone(d));
  const problems = undeclaredPathParams(api);
  if (problems.length) throw new Error(problems.join("; "));
  return api;
}

try {
  const api = await validate(doc);
  const ops = Object.values(api.paths).flatMap((p) => Object.keys(p));
  console.log(`ok   ${file}: OpenAPI ${api.openapi}, ${Object.keys(api.paths).length} paths, ${ops.length} operations`);
} catch (e) {
  console.error(`FAIL ${file}: ${e.message}`);
  failures++;
}

// Every operation names its listener and has a 2xx/3xx answer.
for (const [path, item] of Object.entries(doc.paths)) {
  for (const [method, op] of Object.entries(item)) {
    if (!["get", "put", "post", "delete", "patch", "head", "options"].includes(method)) continue;
    if (!["admin", "public"].includes(op["x-cairn-listener"])) {
      console.error(`FAIL ${method.toUpperCase()} ${path}: x-cairn-listener must be admin or public`);
      failures++;
    }
    if (!Object.keys(op.responses ?? {}).some((s) => /^[23]/.test(s))) {
      console.error(`FAIL ${method.toUpperCase()} ${path}: no success response`);
      failures++;
    }
  }
}

// Known-bad copies must be rejected.
const broken = {
  "a dangling $ref": (d) => {
    d.paths["/v1/events"].post.responses["200"].content["application/json"].schema.$ref =
      "#/components/schemas/NoSuchSchema";
  },
  "an undeclared path parameter": (d) => {
    delete d.paths["/v1/tasks/{id}"].get.parameters;
  },
  "an operation without responses": (d) => {
    delete d.paths["/healthz"].get.responses;
  },
  "a misspelt field": (d) => {
    d.paths["/healthz"].get.summry = "typo";
  },
};
for (const [what, mutate] of Object.entries(broken)) {
  const copy = structuredClone(doc);
  mutate(copy);
  try {
    await validate(copy);
    console.error(`FAIL a copy with ${what} was accepted`);
    failures++;
  } catch {
    console.log(`ok   a copy with ${what} is rejected`);
  }
}
process.exit(failures === 0 ? 0 : 1);
