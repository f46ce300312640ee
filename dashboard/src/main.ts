// Cairn dashboard: hash routing (#/page/arg?query), a token box in the
// header, a status line, and one render function per page.
import "./style.css";
import { get, setToken, token, whenUnauthorized } from "./api";
import { destroyCharts } from "./charts";
import { h } from "./dom";
import { int } from "./format";
import { customerPage } from "./pages/customer";
import { heatmapPage } from "./pages/heatmap";
import { journeyPage } from "./pages/journey";
import { journeysPage } from "./pages/journeys";
import { profilesPage } from "./pages/profiles";
import { segmentsPage } from "./pages/segments";
import type { Status } from "./types";

export interface Route { page: string; arg: string; query: URLSearchParams }

function parseHash(): Route {
  const raw = location.hash.replace(/^#\/?/, "");
  const [path, q = ""] = raw.split("?", 2);
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  return { page: parts[0] ?? "journeys", arg: parts.slice(1).join("/"), query: new URLSearchParams(q) };
}

const pages: Record<string, (root: HTMLElement, r: Route) => Promise<void>> = {
  journeys: journeysPage,
  journey: journeyPage,
  heatmap: heatmapPage,
  profiles: profilesPage,
  segments: segmentsPage,
  customer: customerPage,
};

const app = document.getElementById("app")!;
const form = document.getElementById("token-form") as HTMLFormElement;
const input = document.getElementById("token") as HTMLInputElement;
let generation = 0;

function showTokenBox(): void {
  form.hidden = false;
  input.value = token();
  input.focus();
}

whenUnauthorized(() => showTokenBox());
document.getElementById("token-toggle")!.addEventListener("click", () => {
  if (form.hidden) showTokenBox();
  else form.hidden = true;
});
form.addEventListener("submit", (e) => {
  e.preventDefault();
  setToken(input.value.trim());
  form.hidden = true;
  void render();
});

async function renderStatus(): Promise<void> {
  const el = document.getElementById("status")!;
  const s = await get<Status>("/v1/status");
  el.replaceChildren(
    s.ok
      ? `${int(s.data.events)} events · ${int(s.data.customers)} customers · ${int(s.data.dead_letters)} dead letters`
      : s.status === 401 || s.status === 403 ? "token needed" : "status not available",
  );
}

async function render(): Promise<void> {
  const my = ++generation;
  const r = parseHash();
  destroyCharts();
  for (const a of document.querySelectorAll<HTMLAnchorElement>("#nav a")) {
    const page = r.page === "journey" ? "journeys" : r.page;
    a.classList.toggle("active", a.dataset.page === page);
  }
  const root = h("div", { class: "page", "data-page": r.page });
  app.replaceChildren(root);
  const fn = pages[r.page];
  if (!fn) {
    root.append(h("div", { class: "unavailable" }, h("strong", {}, "No such page"),
      h("p", {}, h("a", { href: "#/journeys" }, "Back to the journeys"))));
    return;
  }
  await Promise.all([fn(root, r), renderStatus()]);
  // A newer navigation replaced this page meanwhile: leave its DOM alone.
  if (my === generation) root.dataset.ready = "1";
}

window.addEventListener("hashchange", () => void render());
void render();
