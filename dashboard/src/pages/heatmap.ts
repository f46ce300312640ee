// When customers act: a weekday × hour heatmap of one event in a chosen time
// zone (GET /v1/analytics/heatmap), and how long from one event to another
// (GET /v1/analytics/intervals).
import type { ScriptableContext } from "chart.js";
import { get, withQuery } from "../api";
import { chart } from "../charts";
import { card, h, loading, unavailable } from "../dom";
import { int, seconds } from "../format";
import type { Route } from "../main";
import type { HeatmapAnswer, IntervalsAnswer } from "../types";

export async function heatmapPage(root: HTMLElement, r: Route): Promise<void> {
  const q = r.query;
  const event = q.get("event") ?? "Order Completed";
  const tz = q.get("tz") ?? Intl.DateTimeFormat().resolvedOptions().timeZone ?? "UTC";
  const fromEvent = q.get("from_event") ?? "Product Added";
  const toEvent = q.get("to_event") ?? "Order Completed";
  const inputs = {
    event: h("input", { name: "event", value: event }),
    tz: h("input", { name: "tz", value: tz }),
    from_event: h("input", { name: "from_event", value: fromEvent }),
    to_event: h("input", { name: "to_event", value: toEvent }),
  };
  const go = (e: Event) => {
    e.preventDefault();
    location.hash = withQuery("#/heatmap", Object.fromEntries(
      Object.entries(inputs).map(([k, el]) => [k, el.value.trim()])));
  };
  root.append(h("h1", {}, "Heatmap"),
    h("form", { class: "range", onsubmit: go },
      h("label", {}, "Event ", inputs.event), h("label", {}, "Time zone ", inputs.tz),
      h("button", { type: "submit" }, "Show")));
  const body = loading();
  root.append(body);
  const [hm, iv] = await Promise.all([
    get<HeatmapAnswer>(withQuery("/v1/analytics/heatmap", { event, tz })),
    get<IntervalsAnswer>(withQuery("/v1/analytics/intervals", { from_event: fromEvent, to_event: toEvent })),
  ]);
  const parts: HTMLElement[] = [];
  const canvas = h("canvas", { "data-test": "heatmap-chart" });
  if (hm.ok) {
    parts.push(card(`${hm.data.event} by weekday and hour (${hm.data.tz})`,
      h("p", {}, "Total ", h("strong", { "data-test": "heatmap-total" }, int(hm.data.total))),
      h("div", { class: "chart tall" }, canvas)));
  } else {
    parts.push(unavailable("Heatmap", hm.status, hm.code, hm.message));
  }
  const ivCanvas = h("canvas", { "data-test": "intervals-chart" });
  const ivForm = h("form", { class: "range", onsubmit: go },
    h("label", {}, "From ", inputs.from_event), h("label", {}, "to ", inputs.to_event),
    h("button", { type: "submit" }, "Show"));
  if (iv.ok) {
    parts.push(card("Time between two events", ivForm,
      h("p", {}, `${int(iv.data.count)} conversions · median ${seconds(iv.data.p50_seconds)} · p90 ${seconds(iv.data.p90_seconds)}`),
      h("div", { class: "chart" }, ivCanvas)));
  } else {
    parts.push(card("Time between two events", ivForm,
      unavailable("Intervals", iv.status, iv.code, iv.message)));
  }
  body.replaceWith(...parts);

  if (hm.ok) {
    const d = hm.data;
    const max = Math.max(1, ...d.cells.flat());
    const data = d.cells.flatMap((row, y) => row.map((v, x) => ({ x, y, v })));
    chart(canvas, {
      type: "matrix",
      data: {
        datasets: [{
          label: d.event,
          data,
          backgroundColor: (c: ScriptableContext<"matrix">) => {
            const v = (c.raw as { v: number } | undefined)?.v ?? 0;
            return `rgba(47, 111, 222, ${0.06 + 0.94 * (v / max)})`;
          },
          borderWidth: 1,
          borderColor: "#fff",
          width: ({ chart: ch }) => (ch.chartArea?.width ?? 0) / 24 - 1,
          height: ({ chart: ch }) => (ch.chartArea?.height ?? 0) / 7 - 1,
        }],
      },
      options: {
        maintainAspectRatio: false,
        plugins: {
          legend: { display: false },
          tooltip: {
            callbacks: {
              title: () => "",
              label: (c) => {
                const v = c.raw as { x: number; y: number; v: number };
                return `${d.weekdays[v.y]} ${String(v.x).padStart(2, "0")}:00 · ${int(v.v)}`;
              },
            },
          },
        },
        scales: {
          // Cells are centred on whole numbers: one tick per hour and per weekday.
          x: { type: "linear", min: -0.5, max: 23.5, grid: { display: false },
            afterBuildTicks: (axis) => { axis.ticks = Array.from({ length: 24 }, (_, i) => ({ value: i })); },
            ticks: { autoSkip: false, callback: (v) => String(v) } },
          y: { type: "linear", min: -0.5, max: 6.5, reverse: true, grid: { display: false },
            afterBuildTicks: (axis) => { axis.ticks = d.weekdays.map((_, i) => ({ value: i })); },
            ticks: { autoSkip: false, callback: (v) => d.weekdays[Number(v)] ?? "" } },
        },
      },
    });
  }
  if (iv.ok) {
    // 27 log buckets (1 s .. 2^25 s, then unbounded): show the span that has counts.
    const b = iv.data.buckets;
    let lo = b.findIndex((x) => x.count > 0);
    let hi = b.length - 1 - [...b].reverse().findIndex((x) => x.count > 0);
    if (lo < 0) [lo, hi] = [0, b.length - 1];
    const shown = b.slice(Math.max(0, lo - 1), Math.min(b.length, hi + 2));
    chart(ivCanvas, {
      type: "bar",
      data: {
        labels: shown.map((x) => (x.le_seconds === null ? "longer" : `≤ ${seconds(x.le_seconds)}`)),
        datasets: [{ label: "conversions", data: shown.map((x) => x.count), backgroundColor: "#2a9d6f" }],
      },
      options: { maintainAspectRatio: false, plugins: { legend: { display: false } } },
    });
  }
}
