// ctest dashboard_e2e: the dashboard in Debian's chromium (driven by
// playwright-core, headless, loopback only) against `cairn demo --serve` fed
// with the demo stream. Every number checked on a page is compared with the
// API's answer fetched by this test; a screenshot of each page is saved.
//
//   node e2e.mjs --cairn BUILD/engine/app/cairn --source REPO --out DIR
//   node e2e.mjs --url http://127.0.0.1:8080 --source REPO --out DIR
//     (against an engine already serving, e.g. `make demo SERVE=1`)
//
// Bounded: the demo must be serving within 150 s, each page within 20 s, the
// whole test within 200 s; the demo is killed on every way out.
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

import { analyticsExample } from "./analytics-examples.mjs";

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith("--") ? [...acc, [a.slice(2), all[i + 1]]] : acc), []),
);
for (const k of [args.url ? "url" : "cairn", "source", "out"]) {
  if (!args[k]) {
    console.error("usage: node e2e.mjs (--cairn BINARY | --url BASE) --source REPO --out DIR");
    process.exit(2);
  }
}
const CHROMIUM = process.env.CAIRN_CHROMIUM ?? "/usr/bin/chromium";
const require = createRequire(path.join(args.source, "dashboard", "package.json"));
const { chromium } = require("playwright-core");

// ---- the same formatting as dashboard/src/format.ts -------------------------
const int = (n) => (n === null || n === undefined ? "–" : Math.round(n).toLocaleString("en-US"));
const pct = (x) => (x === null || x === undefined ? "–" : `${(x * 100).toFixed(1)}%`);
const money = (x) =>
  x === null || x === undefined ? "–" : x.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
const ratio = (x) => (x === null || x === undefined ? "–" : `${x.toFixed(2)}×`);
const overview = { entered: int, in_step: int, goal: int, conversion_rate: pct, sent: int, opened: int, clicked: int, revenue: money, cost: money, romi: ratio };

// ---- bookkeeping -------------------------------------------------------------
let failures = 0;
let checks = 0;
function check(cond, what) {
  checks++;
  if (!cond) {
    failures++;
    console.error(`FAIL ${what}`);
  }
}
function eq(shown, expected, what) {
  check(shown === expected, `${what}: page shows ${JSON.stringify(shown)}, API says ${JSON.stringify(expected)}`);
}

let demo = null;
function killDemo() {
  if (demo && demo.exitCode === null && demo.signalCode === null) {
    try {
      process.kill(demo.pid, "SIGKILL");
    } catch {}
  }
}
process.on("exit", killDemo);
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => process.exit(1));
const watchdog = setTimeout(() => {
  console.error("FAIL the test took more than 200 s");
  process.exit(1);
}, 200_000);

// ---- start the demo ----------------------------------------------------------
async function startDemo() {
  const dataDir = path.join(args.out, "e2e-data");
  rmSync(dataDir, { recursive: true, force: true });
  mkdirSync(args.out, { recursive: true });
  const smtp = path.join(args.source, ".tools/postfix/usr/sbin/smtp-sink");
  const argv = ["demo", "--data-dir", dataDir, "--customers", "600", "--days", "60", "--seed", "7",
    "--http", "127.0.0.1:0", "--serve", "--journeys", path.join(args.source, "journeys"),
    "--smtp-sink", existsSync(smtp) ? smtp : ""];
  console.log(`starting: ${args.cairn} ${argv.join(" ")}`);
  demo = spawn(args.cairn, argv, { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  demo.stderr.on("data", (d) => process.stderr.write(d));
  return await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the demo did not serve within 150 s:\n${out.slice(-3000)}`)), 150_000);
    demo.stdout.on("data", (d) => {
      out += d.toString();
      const serving = out.match(/Serving on http:\/\/([0-9.]+:\d+) until Ctrl-C/);
      if (serving) {
        clearTimeout(timer);
        const customer = out.match(/look it up: +curl http:\/\/[^/]+\/v1\/customers\/(\S+)/);
        const dash = out.match(/Dashboard: (http:\/\/\S+\/dashboard\/)/);
        resolve({ address: serving[1], customer: customer?.[1] ?? "", dashboard: dash?.[1] ?? "", log: out });
      }
    });
    demo.on("exit", (code, sig) => {
      clearTimeout(timer);
      reject(new Error(`the demo exited (${code ?? sig}) before serving:\n${out.slice(-3000)}`));
    });
  });
}

async function api(base, p) {
  const res = await fetch(base + p);
  let body = null;
  try {
    body = await res.json();
  } catch {}
  return { status: res.status, body };
}

async function main() {
  if (!existsSync(CHROMIUM)) {
    console.error(`FAIL no browser at ${CHROMIUM}: deploy/bootstrap-deps.sh installs Debian's chromium`);
    process.exit(1);
  }
  const t0 = Date.now();
  let d;
  if (args.url) {
    const u = new URL(args.url);
    d = { address: u.host, customer: "", dashboard: `${u.origin}/dashboard/` };
    // Some customer: the first member of the first segment that has one.
    const segs = await api(u.origin, "/v1/segments");
    for (const s of segs.body?.segments ?? []) {
      const one = await api(u.origin, `/v1/segments/${encodeURIComponent(s.name)}?sample=1`);
      if (one.body?.sample?.length) {
        d.customer = one.body.sample[0];
        break;
      }
    }
  } else {
    d = await startDemo();
  }
  const base = `http://${d.address}`;
  console.log(`serving on ${base} after ${((Date.now() - t0) / 1000).toFixed(1)} s; customer ${d.customer}`);
  eq(d.dashboard, `${base}/dashboard/`, "dashboard URL printed by the demo");

  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"],
  });
  const shots = [];
  try {
    const context = await browser.newContext({ viewport: { width: 1400, height: 1000 }, locale: "en-US", timezoneId: "UTC" });
    // Loopback only: any other address is refused (the page must need none).
    const outside = [];
    await context.route("**/*", (route) => {
      const u = new URL(route.request().url());
      if (u.hostname === "127.0.0.1" || u.protocol === "data:") return route.continue();
      outside.push(u.href);
      return route.abort();
    });
    const page = await context.newPage();
    const problems = [];
    page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
    page.on("console", (m) => {
      // 404s of endpoints not built into this engine are expected (shown as "not available"),
      // and so is the 401 this test fakes to open the token box.
      if (m.type() === "error" && !/status of (401|404)/.test(m.text())) problems.push(`console: ${m.text()}`);
    });

    async function open(hash, name) {
      // A fresh document each time (a goto that changes only the hash would not reload).
      await page.goto("about:blank");
      await page.goto(`${base}/dashboard/${hash}`);
      await page.waitForSelector(".page[data-ready]", { timeout: 20_000 });
      const file = path.join(args.out, `dashboard-${name}.png`);
      await page.screenshot({ path: file, fullPage: true });
      shots.push(file);
    }
    const text = async (sel) => (await page.locator(sel).first().textContent())?.trim() ?? null;

    // "/" redirects to the dashboard.
    await page.goto(`${base}/`);
    eq(new URL(page.url()).pathname, "/dashboard/", "/ redirects to");

    // ---- Journeys overview ----
    await open("#/journeys", "journeys");
    const status = await api(base, "/v1/status");
    eq(await text("[data-test=status]"),
      `${int(status.body.events)} events · ${int(status.body.customers)} customers · ${int(status.body.dead_letters)} dead letters`,
      "status line");
    let analytics = await api(base, "/v1/analytics/journeys");
    const catalog = await api(base, "/v1/journeys");
    const names = await page.locator("[data-test=catalog-table] tbody tr").evaluateAll((rows) => rows.map((r) => r.dataset.journey));
    eq(JSON.stringify(names), JSON.stringify(catalog.body.journeys.map((j) => j.name)), "loaded journeys");
    // An engine without analytics: the page says so; then the documented
    // example answers stand in for the analytics API (in the browser and
    // here alike), so the analytics pages are still drawn and checked.
    let examples = false;
    if (analytics.status === 404) {
      check(await page.locator("[data-test=unavailable]").count() > 0, "journeys page shows 'not available' for analytics");
      examples = true;
      console.log("the engine serves no /v1/analytics: checking the analytics pages with docs/analytics.md's examples");
      await context.route("**/v1/analytics/**", (route) => {
        const body = analyticsExample(new URL(route.request().url()));
        return route.fulfill({ status: body ? 200 : 404, contentType: "application/json",
          body: JSON.stringify(body ?? { error: { code: "not_found", message: "no example" } }) });
      });
      analytics = { status: 200, body: analyticsExample(new URL(base + "/v1/analytics/journeys")) };
      await open("#/journeys", "journeys-examples");
    }
    const analyticsApi = async (p) =>
      examples ? { status: 200, body: analyticsExample(new URL(base + p)) } : api(base, p);
    if (analytics.status === 200) {
      check(analytics.body.journeys.length > 0, "analytics lists journeys");
      for (const j of analytics.body.journeys) {
        for (const [k, f] of Object.entries(overview)) {
          eq(await text(`[data-test=journeys-table] tr[data-journey="${j.journey}"] [data-field=${k}]`), f(j[k]), `${j.journey} ${k}`);
        }
      }
    } else {
      check(false, `/v1/analytics/journeys answers 200 or 404, not ${analytics.status}`);
    }

    // ---- One journey ----
    const first = catalog.body.journeys[0]?.name;
    check(Boolean(first), "the demo loads journeys");
    if (first) {
      await open(`#/journey/${encodeURIComponent(first)}`, "journey");
      const one = await analyticsApi(`/v1/analytics/journeys/${encodeURIComponent(first)}`);
      if (one.status === 200) {
        for (const [k, f] of Object.entries(overview)) {
          eq(await text(`[data-test=journey-totals] [data-field=${k}] .value`), f(one.body.totals[k]), `${first} totals ${k}`);
        }
        for (const f of one.body.funnel) {
          eq(await text(`[data-test=funnel-table] tr[data-step="${f.step}"] [data-field=count]`), int(f.count), `${first} funnel ${f.step}`);
          eq(await text(`[data-test=funnel-table] tr[data-step="${f.step}"] [data-field=rate]`), pct(f.rate), `${first} funnel rate ${f.step}`);
        }
        check(await page.locator("[data-test=funnel-chart]").count() === 1, "funnel chart drawn");
        for (const s of one.body.steps) {
          eq(await text(`[data-test=steps-table] tr[data-step="${s.step}"] [data-field=sent]`), int(s.sent), `${first} step ${s.step} sent`);
        }
        for (const u of one.body.uplift) {
          const row = page.locator(`[data-test=uplift-table] tr[data-arm="${u.arm}"]`);
          eq((await row.locator("td").last().textContent())?.trim(), u.significant ? "significant (95%)" : "not significant", `${first} uplift ${u.arm}`);
        }
        for (const a of one.body.arms) {
          eq(await text(`[data-test=arms-table] tr[data-arm="${a.arm}"] [data-field=goal]`), int(a.goal), `${first} arm ${a.arm} goal`);
        }
      } else {
        check(await page.locator("[data-test=unavailable]").count() > 0, "journey page shows 'not available'");
      }
    }

    // ---- Heatmap ----
    await open("#/heatmap?event=Order%20Completed&tz=UTC", "heatmap");
    const hm = await analyticsApi("/v1/analytics/heatmap?event=Order%20Completed&tz=UTC");
    if (hm.status === 200) {
      eq(await text("[data-test=heatmap-total]"), int(hm.body.total), "heatmap total");
      check(await page.locator("[data-test=heatmap-chart]").count() === 1, "heatmap drawn");
    } else {
      check(await page.locator("[data-test=unavailable]").count() > 0, "heatmap shows 'not available'");
    }

    // ---- RFM and lifecycle ----
    await open("#/profiles", "profiles");
    const life = await api(base, "/v1/lifecycle?days=90");
    eq(life.status, 200, "/v1/lifecycle");
    for (const s of life.body?.stages ?? []) {
      eq(await text(`[data-test=lifecycle-table] tr[data-stage="${s.stage}"] [data-field=customers]`), int(s.customers), `lifecycle ${s.stage}`);
    }
    if ((life.body?.history ?? []).length) check(await page.locator("[data-test=lifecycle-chart]").count() === 1, "lifecycle chart drawn");
    const rfm = await analyticsApi("/v1/analytics/distribution?kind=rfm&days=90");
    if (rfm.status === 200 && rfm.body.days.length) {
      check(await page.locator("[data-test=rfm-chart]").count() === 1, "RFM chart drawn");
    } else {
      check(await page.locator("[data-test=unavailable]").count() > 0, "RFM shows 'not available'");
    }

    // ---- Segments ----
    await open("#/segments", "segments");
    const segs = await api(base, "/v1/segments");
    eq(segs.status, 200, "/v1/segments");
    check(segs.body.segments.length > 0, "the demo declares segments");
    for (const s of segs.body.segments) {
      eq(await text(`[data-test=segments-table] tr[data-segment="${s.name}"] [data-field=size]`), int(s.size), `segment ${s.name}`);
    }

    // ---- Customer ----
    check(d.customer !== "", "the demo names a top customer");
    if (d.customer) {
      await open(`#/customer/${encodeURIComponent(d.customer)}`, "customer");
      const c = await api(base, `/v1/customers/${encodeURIComponent(d.customer)}?history=50`);
      const cj = await api(base, `/v1/customers/${encodeURIComponent(d.customer)}/journeys?trace=100`);
      eq(c.status, 200, "customer lookup");
      eq(await text("[data-test=customer-summary] [data-field=events_total] .value"), int(c.body.events_total), "customer events");
      eq(await text("[data-test=customer-summary] [data-field=stage] .value"), c.body.profile?.stage?.name ?? "–", "customer stage");
      eq(await text("[data-test=labels]"), c.body.labels.length ? c.body.labels.join(", ") : "none", "customer labels");
      eq(await text("[data-test=segments]"), c.body.profile?.segments?.length ? c.body.profile.segments.join(", ") : "none", "customer segments");
      for (const [name, e] of Object.entries(c.body.events)) {
        eq(await text(`[data-test=event-stats] tr[data-event="${name}"] [data-field=count]`), int(e.count), `customer ${name} count`);
      }
      eq(await page.locator("[data-test=timeline] li").count(), c.body.recent.length, "timeline entries");
      eq(await page.locator("[data-test=trace] tbody tr").count(), cj.body.trace.length, "decision trace rows");
      eq(await page.locator("[data-test=instances] tbody tr").count(), cj.body.instances.length, "journey instances");
    }
    await open("#/customer/no-such-customer-e2e", "customer-missing");
    check(await page.locator("[data-test=not-found]").count() === 1, "unknown customer shows 'No such customer'");

    // The token box is hidden until the API refuses (a 401 from any call).
    check(!(await page.locator("#token-form").isVisible()), "token box hidden while the API answers");
    await page.route("**/v1/status", (route) => route.fulfill({ status: 401, contentType: "application/json",
      body: JSON.stringify({ error: { code: "unauthorized", message: "a bearer token is needed" } }) }));
    await open("#/segments", "token");
    check(await page.locator("#token-form").isVisible(), "token box shown on 401");
    await page.unroute("**/v1/status");

    eq(JSON.stringify(outside), "[]", "requests outside loopback");
    eq(JSON.stringify(problems), "[]", "browser errors");
  } finally {
    await browser.close();
  }
  for (const s of shots) console.log(`screenshot: ${s}`);
  console.log(`${checks - failures} passed, ${failures} failed`);
  console.log(`dashboard e2e took ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

main()
  .catch((e) => {
    console.error(`FAIL ${e.stack ?? e}`);
    failures++;
  })
  .finally(() => {
    clearTimeout(watchdog);
    if (demo && demo.exitCode === null) {
      demo.kill("SIGTERM");
      setTimeout(() => {
        killDemo();
        process.exit(failures ? 1 : 0);
      }, 5000).unref();
      demo.on("exit", () => process.exit(failures ? 1 : 0));
    } else {
      process.exit(failures ? 1 : 0);
    }
  });
