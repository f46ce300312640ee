// The example answers of docs/analytics.md (the analytics API's documented
// shapes). dashboard_e2e serves them in the browser only when the engine
// under test answers 404 for /v1/analytics (built without analytics), so
// the analytics pages are still rendered and checked number by number.
const figures = (journey, k) => ({
  journey, entered: 412 * k, in_step: 37, exited: 375, goal: 96 * k, conversion_rate: 0.233,
  sent: 540 * k, delivered: 120, opened: 201, clicked: 64, unsubscribed: 2, bounced: 3,
  open_rate: 0.372, click_rate: 0.118, revenue: 8412.5 * k, cost: 4.71, romi: k === 1 ? 1786.1 : null,
});

const step = (name, type, channel, entered, sent, opened, clicked) => ({
  step: name, type, channel, entered, in_step: 0, exited: entered, sent, delivered: 0, opened, clicked,
  unsubscribed: 0, bounced: 0, open_rate: sent ? opened / sent : 0, click_rate: sent ? clicked / sent : 0,
});

// url: a URL of /v1/analytics/...; returns the example answer, or null (404).
export function analyticsExample(url) {
  const p = url.pathname;
  if (p === "/v1/analytics/journeys") {
    return { from: "1970-01-01T00:00:00.000Z", to: "2026-12-08T00:00:00.000Z",
      journeys: [figures("cart-abandonment", 1), figures("welcome-series", 2)] };
  }
  if (/^\/v1\/analytics\/journeys\/[^/]+\/paths$/.test(p)) {
    return { paths: [{ path: ["pick", "email_a", "pause", "text", "done"], count: 120 }, { path: ["pick", "email_b"], count: 7 }] };
  }
  const one = p.match(/^\/v1\/analytics\/journeys\/([^/]+)$/);
  if (one) {
    const journey = decodeURIComponent(one[1]);
    return {
      journey, from: "1970-01-01T00:00:00.000Z", to: "2026-12-08T00:00:00.000Z",
      totals: figures(journey, 1),
      steps: [step("pick", "split", null, 300, 0, 0, 0), step("email_a", "send", "email", 131, 131, 40, 9)],
      funnel: [{ step: "pick", count: 300, rate: 1 }, { step: "email_a", count: 131, rate: 0.437 }],
      arms: [{ arm: "A", entered: 131, goal: 60, conversion_rate: 0.458, revenue: 600 },
        { arm: "B", entered: 139, goal: 59, conversion_rate: 0.424, revenue: 590 }],
      holdout: { entered: 30, goal: 12, conversion_rate: 0.4 },
      uplift: [{ arm: "A", vs: "holdout", absolute: 0.058, relative: 0.145, ci95: [-0.136, 0.252], z: 0.58, p_value: 0.56, significant: false },
        { arm: "B", vs: "holdout", absolute: 0.024, relative: null, ci95: [-0.1, 0.2], z: 2.1, p_value: 0.03, significant: true }],
    };
  }
  if (p === "/v1/analytics/heatmap") {
    return { event: url.searchParams.get("event"), tz: url.searchParams.get("tz") ?? "UTC",
      weekdays: ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"],
      cells: Array.from({ length: 7 }, (_, d) => Array.from({ length: 24 }, (_, h) => (d * 7 + h * 3) % 11)), total: 1234 };
  }
  if (p === "/v1/analytics/intervals") {
    return { from_event: url.searchParams.get("from_event"), to_event: url.searchParams.get("to_event"), count: 200,
      buckets: Array.from({ length: 27 }, (_, i) => ({ le_seconds: i === 26 ? null : 2 ** i, count: i > 8 && i < 18 ? 20 + i : 0 })),
      p50_seconds: 7431.2, p90_seconds: 152000.8 };
  }
  if (p === "/v1/analytics/distribution") {
    return { kind: url.searchParams.get("kind") ?? "lifecycle",
      days: [{ day: "2026-12-01", counts: { prime: 120, regular: 340 } }, { day: "2026-12-02", counts: { prime: 125, regular: 338, sleeping: 4 } }] };
  }
  return null;
}
