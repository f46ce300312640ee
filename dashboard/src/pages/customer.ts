// Customer lookup: profile, labels, segments, lifecycle stage, RFM, journey
// instances, a timeline of recent events and the decision trace ("why did or
// didn't this customer get that message") (GET /v1/customers/{id} and
// /v1/customers/{id}/journeys).
import { get, withQuery } from "../api";
import { card, h, loading, unavailable } from "../dom";
import { int } from "../format";
import type { Route } from "../main";
import type { Customer, CustomerJourneys } from "../types";

function show(v: unknown): string {
  return typeof v === "string" ? v : JSON.stringify(v);
}

function kv(obj: Record<string, unknown>, test: string): HTMLElement {
  const keys = Object.keys(obj).sort();
  if (keys.length === 0) return h("p", { class: "muted" }, "none");
  return h("table", { class: "kv", "data-test": test },
    h("tbody", {}, keys.map((k) => h("tr", { "data-key": k }, h("th", {}, k), h("td", {}, show(obj[k]))))));
}

export async function customerPage(root: HTMLElement, r: Route): Promise<void> {
  const id = r.arg;
  const input = h("input", { name: "id", value: id, placeholder: "customer id", size: 32 });
  root.append(h("h1", {}, "Customer"),
    h("form", { class: "range", onsubmit: (e: Event) => {
      e.preventDefault();
      if (input.value.trim()) location.hash = `#/customer/${encodeURIComponent(input.value.trim())}`;
    } }, input, h("button", { type: "submit" }, "Look up")));
  if (!id) {
    root.append(h("p", { class: "muted" }, "Enter a customer id (userId or anonymousId)."));
    return;
  }
  const body = loading();
  root.append(body);
  const enc = encodeURIComponent(id);
  const [c, j] = await Promise.all([
    get<Customer>(withQuery(`/v1/customers/${enc}`, { history: 50 })),
    get<CustomerJourneys>(withQuery(`/v1/customers/${enc}/journeys`, { trace: 100 })),
  ]);
  if (!c.ok) {
    body.replaceWith(c.status === 404 && c.code === "customer_not_found"
      ? h("div", { class: "unavailable", "data-test": "not-found" }, h("strong", {}, "No such customer"), h("p", {}, c.message))
      : unavailable("Customer", c.status, c.code, c.message));
    return;
  }
  const d = c.data;
  const p = d.profile;
  const parts: HTMLElement[] = [];
  parts.push(h("div", { class: "tiles", "data-test": "customer-summary" },
    tile("Events", int(d.events_total), "events_total"),
    tile("First seen", d.first_seen, "first_seen"),
    tile("Last seen", d.last_seen, "last_seen"),
    tile("Stage", p?.stage?.name ?? "–", "stage"),
    tile("RFM", p?.rfm ? `${p.rfm.group} (${p.rfm.r}/${p.rfm.f}/${p.rfm.m})` : "–", "rfm")));
  parts.push(h("div", { class: "columns" },
    card("Traits", kv(d.traits, "traits")),
    card("Profile",
      h("p", {}, "Labels: ", h("span", { "data-test": "labels" }, d.labels.length ? d.labels.join(", ") : "none")),
      h("p", {}, "Segments: ", h("span", { "data-test": "segments" },
        p?.segments.length ? p.segments.flatMap((s, i) => [i ? ", " : "", h("a", { href: `#/segments/${encodeURIComponent(s)}` }, s)]) : "none")),
      p ? kv(p.computed, "computed") : null),
    card("Events by name",
      h("table", { class: "grid compact", "data-test": "event-stats" },
        h("thead", {}, h("tr", {}, h("th", {}, "Event"), h("th", { class: "num" }, "Count"), h("th", {}, "Last"))),
        h("tbody", {}, Object.entries(d.events).sort((a, b) => b[1].count - a[1].count).map(([n, e]) =>
          h("tr", { "data-event": n }, h("td", {}, n), h("td", { class: "num", "data-field": "count" }, int(e.count)), h("td", {}, e.last_at))))))));
  if (j.ok) {
    parts.push(card("Journeys",
      j.data.instances.length === 0 ? h("p", { class: "muted" }, "In no journey.") :
        h("table", { class: "grid", "data-test": "instances" },
          h("thead", {}, h("tr", {}, ["Journey", "Status", "Step", "Since", "Arm", "Goal"].map((t) => h("th", {}, t)))),
          h("tbody", {}, j.data.instances.map((i) => h("tr", { "data-journey": i.journey },
            h("td", {}, h("a", { href: `#/journey/${encodeURIComponent(i.journey)}` }, i.journey), ` v${i.version}`),
            h("td", {}, i.status), h("td", {}, i.step), h("td", {}, i.step_since), h("td", {}, i.arm ?? ""),
            h("td", {}, i.goal ? (i.goal.reached ? "reached" : `open until ${i.goal.window_ends}`) : "")))))));
  } else {
    parts.push(unavailable("Journeys", j.status, j.code, j.message));
  }
  parts.push(card("Timeline",
    h("ol", { class: "timeline", "data-test": "timeline" }, d.recent.map((e) =>
      h("li", {}, h("time", {}, e.timestamp), " ", h("strong", {}, e.event),
        e.type !== "track" ? h("span", { class: "muted" }, ` (${e.type})`) : null,
        e.properties && Object.keys(e.properties).length ?
          h("span", { class: "props" }, " ", JSON.stringify(e.properties)) : null)))));
  if (j.ok) {
    parts.push(card("Decision trace (newest first)",
      j.data.trace.length === 0 ? h("p", { class: "muted" }, "No decision recorded.") :
        h("table", { class: "grid compact", "data-test": "trace" },
          h("thead", {}, h("tr", {}, ["At", "Journey", "Action", "Step", "Channel", "Why"].map((t) => h("th", {}, t)))),
          h("tbody", {}, j.data.trace.map((t) => h("tr", { class: `action-${t.action}` },
            h("td", {}, t.at), h("td", {}, t.journey), h("td", {}, t.action), h("td", {}, t.step ?? ""),
            h("td", {}, t.channel ?? ""), h("td", {}, t.reason ?? (t.template ? `template ${t.template}` : ""))))))));
  }
  body.replaceWith(...parts);
}

function tile(label: string, value: string, field: string): HTMLElement {
  return h("div", { class: "tile", "data-field": field }, h("span", { class: "label" }, label),
    h("span", { class: "value" }, value));
}
