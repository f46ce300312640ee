// RFM groups and lifecycle stages over time: stacked bars per day
// (GET /v1/analytics/distribution?kind=rfm, GET /v1/lifecycle?days=N).
import { get, withQuery } from "../api";
import { chart, palette } from "../charts";
import { card, h, loading, unavailable } from "../dom";
import { int } from "../format";
import type { Route } from "../main";
import type { DistributionAnswer, Lifecycle } from "../types";

function stacked(canvas: HTMLCanvasElement, days: string[], series: Map<string, number[]>): void {
  chart(canvas, {
    type: "bar",
    data: {
      labels: days,
      datasets: [...series.entries()].map(([name, data], i) => ({
        label: name, data, backgroundColor: palette[i % palette.length], stack: "s",
      })),
    },
    options: {
      maintainAspectRatio: false,
      scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true } },
      plugins: { legend: { position: "bottom" } },
    },
  });
}

// One series per name: those in `order` first (e.g. the declared stages),
// then any other name seen, sorted.
function seriesOf(days: { counts: Record<string, number> }[], order: string[] = []): Map<string, number[]> {
  const names = new Set<string>();
  for (const d of days) for (const k of Object.keys(d.counts)) names.add(k);
  const rest = [...names].filter((n) => !order.includes(n)).sort();
  const out = new Map<string, number[]>();
  for (const n of [...order.filter((x) => names.has(x)), ...rest]) out.set(n, days.map((d) => d.counts[n] ?? 0));
  return out;
}

export async function profilesPage(root: HTMLElement, r: Route): Promise<void> {
  const days = Number(r.query.get("days") ?? 90) || 90;
  root.append(h("h1", {}, "RFM and lifecycle"),
    h("p", { class: "muted" }, `Customers per group and stage, day by day, over the last ${days} days of the stream.`));
  const body = loading();
  root.append(body);
  const [rfm, life] = await Promise.all([
    get<DistributionAnswer>(withQuery("/v1/analytics/distribution", { kind: "rfm", days })),
    get<Lifecycle>(withQuery("/v1/lifecycle", { days })),
  ]);
  const parts: HTMLElement[] = [];
  const lifeCanvas = h("canvas", { "data-test": "lifecycle-chart" });
  if (life.ok) {
    parts.push(card("Lifecycle stages",
      h("table", { class: "grid compact", "data-test": "lifecycle-table" },
        h("thead", {}, h("tr", {}, h("th", {}, "Stage"), h("th", { class: "num" }, "Customers now"))),
        h("tbody", {}, life.data.stages.map((s) => h("tr", { "data-stage": s.stage },
          h("td", {}, s.stage), h("td", { class: "num", "data-field": "customers" }, int(s.customers)))))),
      life.data.history.length ? h("div", { class: "chart" }, lifeCanvas) :
        h("p", { class: "muted" }, "No daily history yet.")));
  } else {
    parts.push(unavailable("Lifecycle", life.status, life.code, life.message));
  }
  const rfmCanvas = h("canvas", { "data-test": "rfm-chart" });
  if (rfm.ok) {
    parts.push(card("RFM groups", rfm.data.days.length ? h("div", { class: "chart" }, rfmCanvas) :
      h("p", { class: "muted" }, "No daily figures yet.")));
  } else {
    parts.push(unavailable("RFM groups", rfm.status, rfm.code, rfm.message));
  }
  body.replaceWith(...parts);
  if (life.ok && life.data.history.length) {
    const h2 = life.data.history.map((x) => ({ day: x.day, counts: x.stages }));
    stacked(lifeCanvas, h2.map((x) => x.day), seriesOf(h2, life.data.stages.map((x) => x.stage)));
  }
  if (rfm.ok && rfm.data.days.length) {
    stacked(rfmCanvas, rfm.data.days.map((x) => x.day), seriesOf(rfm.data.days));
  }
}
