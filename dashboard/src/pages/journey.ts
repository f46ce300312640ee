// One journey: totals, the funnel as a bar chart with per-step figures, the
// A/B arms with uplift and significance, and the most frequent paths
// (GET /v1/analytics/journeys/{id} and .../paths).
import { get, withQuery } from "../api";
import { chart, palette } from "../charts";
import { card, h, loading, unavailable } from "../dom";
import { int, money, pct } from "../format";
import type { Route } from "../main";
import type { CatalogJourney, JourneyAnswer, PathsAnswer } from "../types";
import { overviewColumns, rangeForm } from "./journeys";

const stepColumns: [string, string, (v: number) => string][] = [
  ["entered", "Entered", int], ["in_step", "In step", int], ["exited", "Exited", int],
  ["sent", "Sent", int], ["delivered", "Delivered", int], ["opened", "Opened", int],
  ["clicked", "Clicked", int], ["unsubscribed", "Unsub.", int], ["bounced", "Bounced", int],
  ["open_rate", "Open rate", pct], ["click_rate", "CTR", pct],
];

function signed(x: number | null, f: (v: number) => string): string {
  if (x === null || Number.isNaN(x)) return "–";
  return (x > 0 ? "+" : "") + f(x);
}

export async function journeyPage(root: HTMLElement, r: Route): Promise<void> {
  const id = r.arg;
  root.append(h("h1", {}, h("a", { href: "#/journeys", class: "muted" }, "Journeys"), " / ", id),
    rangeForm(r, `journey/${encodeURIComponent(id)}`));
  const body = loading();
  root.append(body);
  const range = { from: r.query.get("from") ?? undefined, to: r.query.get("to") ?? undefined };
  const base = `/v1/analytics/journeys/${encodeURIComponent(id)}`;
  const [a, p] = await Promise.all([
    get<JourneyAnswer>(withQuery(base, range)),
    get<PathsAnswer>(withQuery(`${base}/paths`, { ...range, limit: 10 })),
  ]);
  const parts: HTMLElement[] = [];
  if (!a.ok) {
    parts.push(unavailable("Journey analytics", a.status, a.code, a.message));
    const c = await get<{ journeys: CatalogJourney[] }>("/v1/journeys");
    const j = c.ok ? c.data.journeys.find((x) => x.name === id) : undefined;
    if (j) {
      parts.push(card("Steps", h("p", {}, `Version ${j.version}: ${j.steps.join(" → ")}`)));
    }
    body.replaceWith(...parts);
    return;
  }
  const d = a.data;
  parts.push(h("div", { class: "tiles", "data-test": "journey-totals" },
    overviewColumns.map(([k, label, f]) =>
      h("div", { class: "tile", "data-field": k }, h("span", { class: "label" }, label),
        h("span", { class: "value" }, f(d.totals[k as keyof typeof d.totals] as number | null))))));

  const canvas = h("canvas", { "data-test": "funnel-chart" });
  parts.push(card("Funnel", h("div", { class: "chart" }, canvas),
    h("table", { class: "grid", "data-test": "funnel-table" },
      h("thead", {}, h("tr", {}, h("th", {}, "Step"), h("th", { class: "num" }, "Reached"), h("th", { class: "num" }, "Of entered"))),
      h("tbody", {}, d.funnel.map((f) => h("tr", { "data-step": f.step },
        h("td", {}, f.step), h("td", { class: "num", "data-field": "count" }, int(f.count)),
        h("td", { class: "num", "data-field": "rate" }, pct(f.rate))))))));

  parts.push(card("Steps",
    h("table", { class: "grid", "data-test": "steps-table" },
      h("thead", {}, h("tr", {}, h("th", {}, "Step"), h("th", {}, "Type"),
        stepColumns.map(([, l]) => h("th", { class: "num" }, l)))),
      h("tbody", {}, d.steps.map((s) => h("tr", { "data-step": s.step },
        h("td", {}, s.step), h("td", {}, s.channel ? `${s.type ?? "–"} (${s.channel})` : (s.type ?? "(older version)")),
        stepColumns.map(([k, , f]) => h("td", { class: "num", "data-field": k },
          f((s as unknown as Record<string, number>)[k])))))))));

  if (d.arms.length > 0 || d.holdout) {
    const armRows = d.arms.map((x) => h("tr", { "data-arm": x.arm },
      h("td", {}, x.arm), h("td", { class: "num", "data-field": "entered" }, int(x.entered)),
      h("td", { class: "num", "data-field": "goal" }, int(x.goal)),
      h("td", { class: "num", "data-field": "conversion_rate" }, pct(x.conversion_rate)),
      h("td", { class: "num", "data-field": "revenue" }, money(x.revenue))));
    if (d.holdout) {
      armRows.push(h("tr", { "data-arm": "holdout", class: "muted" }, h("td", {}, "holdout"),
        h("td", { class: "num" }, int(d.holdout.entered)), h("td", { class: "num" }, int(d.holdout.goal)),
        h("td", { class: "num" }, pct(d.holdout.conversion_rate)), h("td", { class: "num" }, "–")));
    }
    const upl = d.uplift.map((u) => h("tr", { "data-arm": u.arm },
      h("td", {}, `${u.arm} vs ${u.vs}`),
      h("td", { class: "num" }, signed(u.absolute * 100, (v) => `${v.toFixed(2)} pp`)),
      h("td", { class: "num" }, signed(u.relative, pct)),
      h("td", { class: "num" }, `[${(u.ci95[0] * 100).toFixed(2)}, ${(u.ci95[1] * 100).toFixed(2)}] pp`),
      h("td", { class: "num" }, u.z.toFixed(2)),
      h("td", { class: "num" }, u.p_value < 0.0001 ? "< 0.0001" : u.p_value.toFixed(4)),
      h("td", { class: u.significant ? "good" : "muted" }, u.significant ? "significant (95%)" : "not significant")));
    parts.push(card("A/B test",
      h("table", { class: "grid", "data-test": "arms-table" },
        h("thead", {}, h("tr", {}, ["Arm", "Entered", "Goal", "Conversion", "Revenue"].map((t, i) =>
          h("th", { class: i ? "num" : "" }, t)))),
        h("tbody", {}, armRows)),
      upl.length === 0 ? null : h("table", { class: "grid", "data-test": "uplift-table" },
        h("thead", {}, h("tr", {}, ["Comparison", "Uplift", "Relative", "95% CI", "z", "p", ""].map((t, i) =>
          h("th", { class: i && i < 6 ? "num" : "" }, t)))),
        h("tbody", {}, upl)),
      h("p", { class: "muted" }, "Two-proportion z-test of the goal conversion of each arm against the control.")));
  } else {
    parts.push(card("A/B test", h("p", { class: "muted" }, "This journey has no split or holdout.")));
  }

  if (p.ok) {
    parts.push(card("Paths",
      p.data.paths.length === 0 ? h("p", { class: "muted" }, "No finished instance yet.") :
        h("table", { class: "grid", "data-test": "paths-table" },
          h("thead", {}, h("tr", {}, h("th", {}, "Path"), h("th", { class: "num" }, "Instances"))),
          h("tbody", {}, p.data.paths.map((x) => h("tr", {},
            h("td", {}, x.path.join(" → ")), h("td", { class: "num" }, int(x.count))))))));
  } else {
    parts.push(unavailable("Paths", p.status, p.code, p.message));
  }
  body.replaceWith(...parts);

  chart(canvas, {
    type: "bar",
    data: {
      labels: d.funnel.map((f) => f.step),
      datasets: [{ label: "reached", data: d.funnel.map((f) => f.count), backgroundColor: palette[0] }],
    },
    options: {
      indexAxis: "y", maintainAspectRatio: false,
      plugins: {
        legend: { display: false },
        tooltip: { callbacks: { label: (c) => `${int(c.parsed.x)} (${pct(d.funnel[c.dataIndex].rate)})` } },
      },
      scales: { x: { beginAtZero: true } },
    },
  });
}
