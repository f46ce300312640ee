// Journeys overview: one row per journey with its figures over a time range
// (GET /v1/analytics/journeys); without analytics, the loaded journeys
// (GET /v1/journeys) and a "not available" note.
import { get, withQuery } from "../api";
import { card, h, loading, unavailable } from "../dom";
import { int, money, pct, ratio } from "../format";
import type { Route } from "../main";
import type { CatalogJourney, JourneyFigures, JourneysAnswer } from "../types";

export const overviewColumns: [keyof JourneyFigures, string, (v: number | null) => string][] = [
  ["entered", "Entered", int],
  ["in_step", "In a step", int],
  ["goal", "Goal", int],
  ["conversion_rate", "Conversion", pct],
  ["sent", "Sent", int],
  ["opened", "Opened", int],
  ["clicked", "Clicked", int],
  ["revenue", "Revenue", money],
  ["cost", "Cost", money],
  ["romi", "ROMI", ratio],
];

export function rangeForm(r: Route, page: string): HTMLElement {
  const from = h("input", { name: "from", placeholder: "from (RFC 3339)", value: r.query.get("from") ?? "" });
  const to = h("input", { name: "to", placeholder: "to (RFC 3339)", value: r.query.get("to") ?? "" });
  return h("form", {
    class: "range",
    onsubmit: (e: Event) => {
      e.preventDefault();
      location.hash = withQuery(`#/${page}`, { from: from.value.trim(), to: to.value.trim() });
    },
  }, from, to, h("button", { type: "submit" }, "Apply"));
}

export async function journeysPage(root: HTMLElement, r: Route): Promise<void> {
  root.append(h("h1", {}, "Journeys"), rangeForm(r, "journeys"));
  const body = loading();
  root.append(body);
  const range = { from: r.query.get("from") ?? undefined, to: r.query.get("to") ?? undefined };
  const [a, c] = await Promise.all([
    get<JourneysAnswer>(withQuery("/v1/analytics/journeys", range)),
    get<{ journeys: CatalogJourney[] }>("/v1/journeys"),
  ]);
  const parts: HTMLElement[] = [];
  if (a.ok) {
    const rows = a.data.journeys.map((j) =>
      h("tr", { "data-journey": j.journey },
        h("td", {}, h("a", { href: `#/journey/${encodeURIComponent(j.journey)}` }, j.journey)),
        overviewColumns.map(([k, , f]) =>
          h("td", { class: "num", "data-field": k }, f(j[k] as number | null)))));
    parts.push(card("Overview",
      rows.length === 0 ? h("p", {}, "No journey has figures in this range.") :
        h("table", { class: "grid", "data-test": "journeys-table" },
          h("thead", {}, h("tr", {}, h("th", {}, "Journey"),
            overviewColumns.map(([, label]) => h("th", { class: "num" }, label)))),
          h("tbody", {}, rows))));
  } else {
    parts.push(unavailable("Journey analytics", a.status, a.code, a.message));
  }
  if (c.ok) {
    parts.push(card("Loaded journeys",
      h("table", { class: "grid", "data-test": "catalog-table" },
        h("thead", {}, h("tr", {}, ["Journey", "Version", "Owner", "Steps", "State"].map((t) => h("th", {}, t)))),
        h("tbody", {}, c.data.journeys.map((j) =>
          h("tr", { "data-journey": j.name },
            h("td", {}, h("a", { href: `#/journey/${encodeURIComponent(j.name)}` }, j.name),
              j.description ? h("div", { class: "muted" }, j.description) : null),
            h("td", { class: "num" }, j.version),
            h("td", {}, j.owner),
            h("td", {}, j.steps.join(" → ")),
            h("td", {}, j.paused ? "paused" : "live")))))));
  } else if (a.ok) {
    // The overview already names the journeys; the catalog is a nice-to-have.
  } else {
    parts.push(unavailable("Journey list", c.status, c.code, c.message));
  }
  body.replaceWith(...parts);
}
