// Segments: every declared segment with its live size as a bar chart and a
// table; one segment with its condition and a sample of members
// (GET /v1/segments, /v1/segments/{name}?sample=N).
import { get, withQuery } from "../api";
import { chart, palette } from "../charts";
import { card, h, loading, unavailable } from "../dom";
import { int } from "../format";
import type { Route } from "../main";
import type { Segment } from "../types";

export async function segmentsPage(root: HTMLElement, r: Route): Promise<void> {
  root.append(h("h1", {}, "Segments"));
  const body = loading();
  root.append(body);
  const all = await get<{ segments: Segment[] }>("/v1/segments");
  if (!all.ok) {
    body.replaceWith(unavailable("Segments", all.status, all.code, all.message));
    return;
  }
  const segs = all.data.segments;
  const canvas = h("canvas", { "data-test": "segments-chart" });
  const parts: HTMLElement[] = [card("Sizes",
    segs.length === 0 ? h("p", { class: "muted" }, "No segment is declared (journeys/profile/*.yaml).") :
      h("div", { class: "chart" }, canvas),
    h("table", { class: "grid", "data-test": "segments-table" },
      h("thead", {}, h("tr", {}, h("th", {}, "Segment"), h("th", { class: "num" }, "Customers"), h("th", {}, "Condition"))),
      h("tbody", {}, segs.map((s) => h("tr", { "data-segment": s.name },
        h("td", {}, h("a", { href: `#/segments/${encodeURIComponent(s.name)}` }, s.name),
          s.description ? h("div", { class: "muted" }, s.description) : null),
        h("td", { class: "num", "data-field": "size" }, int(s.size)),
        h("td", {}, h("code", {}, s.condition)))))))];
  if (r.arg) {
    const one = await get<Segment>(withQuery(`/v1/segments/${encodeURIComponent(r.arg)}`, { sample: 20 }));
    parts.unshift(one.ok ? card(`Segment ${one.data.name}: ${int(one.data.size)} customers`,
      h("p", {}, h("code", {}, one.data.condition)),
      h("p", { "data-test": "segment-sample" }, "Sample: ", (one.data.sample ?? []).flatMap((id, i) =>
        [i ? ", " : "", h("a", { href: `#/customer/${encodeURIComponent(id)}` }, id)])))
      : unavailable(`Segment ${r.arg}`, one.status, one.code, one.message));
  }
  body.replaceWith(...parts);
  if (segs.length) {
    chart(canvas, {
      type: "bar",
      data: { labels: segs.map((s) => s.name),
        datasets: [{ label: "customers", data: segs.map((s) => s.size), backgroundColor: palette[2] }] },
      options: { maintainAspectRatio: false, plugins: { legend: { display: false } }, scales: { y: { beginAtZero: true } } },
    });
  }
}
