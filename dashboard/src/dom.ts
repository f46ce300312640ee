// A tiny element builder: text always goes in as text (never as HTML), so
// data from the API cannot inject markup.

type Attrs = Record<string, string | number | boolean | undefined | ((e: Event) => void)>;
type Child = Node | string | number | null | undefined | false;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: (Child | Child[])[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (typeof v === "function") el.addEventListener(k.replace(/^on/, ""), v);
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

// The "this part is not there" box: an endpoint answered 404 (not built into
// this engine), the request was refused, or Cairn is unreachable.
export function unavailable(what: string, status: number, code: string, message: string): HTMLElement {
  const title =
    status === 404 ? `${what}: not available` :
    status === 401 || status === 403 ? `${what}: needs an admin token` :
    status === 0 ? `${what}: Cairn is not reachable` : `${what}: error ${status}`;
  const hint =
    status === 404 && code === "not_found"
      ? "This engine does not serve this endpoint (yet)."
      : message;
  return h("div", { class: "unavailable", "data-test": "unavailable", "data-code": code },
    h("strong", {}, title), h("p", {}, hint));
}

export function loading(): HTMLElement {
  return h("p", { class: "loading" }, "Loading…");
}

export function card(title: string, ...body: (Child | Child[])[]): HTMLElement {
  return h("section", { class: "card" }, h("h2", {}, title), ...body);
}
