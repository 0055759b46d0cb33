// Tiny DOM helpers. Text only ever enters the page as text nodes; there is no innerHTML.

type Attr = string | number | boolean | null | undefined;
type Child = Node | string | null | undefined | false;

/** Create `tag` with attributes (`class` included; `true` sets a boolean attribute, `false`
 * or null leaves it out) and children (strings become text nodes). */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, Attr> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === true) el.setAttribute(name, "");
    else if (value !== false && value != null) el.setAttribute(name, String(value));
  }
  el.append(...children.filter((c): c is Node | string => c != null && c !== false));
  return el;
}

/** "Sam Lee" → "SL" (first and last word): shown in place of a photo. */
export function initials(name: string): string {
  const words = name.trim().split(/\s+/).filter(Boolean);
  const letters = words.length > 1 ? [words[0] ?? "", words[words.length - 1] ?? ""] : words;
  return letters.map((w) => Array.from(w)[0]?.toUpperCase() ?? "").join("");
}

/** A plain (non-submit) button labelled `label`. */
export function button(label: string, attrs: Record<string, Attr> = {}): HTMLButtonElement {
  return h("button", { type: "button", ...attrs }, label);
}

/** Show or hide with the `hidden` attribute. */
export function show(el: HTMLElement, visible: boolean): void {
  el.hidden = !visible;
}

/** Set an element's text only when it changed, so live regions don't re-announce. */
export function say(el: HTMLElement, text: string): void {
  if (el.textContent !== text) el.textContent = text;
}

const LINK = /\bhttps?:\/\/[^\s<>"']+/gi;
const TRAILING = /[.,;:!?)\]}'"]+$/;

/** `text` as nodes, with http(s) URLs turned into links that open safely in a new tab. */
export function linkify(text: string): DocumentFragment {
  const out = document.createDocumentFragment();
  let at = 0;
  for (const match of text.matchAll(LINK)) {
    const url = match[0].replace(TRAILING, "");
    const start = match.index ?? 0;
    out.append(text.slice(at, start), link(url, url));
    at = start + url.length;
  }
  out.append(text.slice(at));
  return out;
}

/** A link to `url` if it is http(s), otherwise plain text. */
export function link(url: string, label: string): HTMLAnchorElement | Text {
  if (!isSafeLink(url)) return document.createTextNode(label);
  return h("a", { href: url, target: "_blank", rel: "noopener noreferrer" }, label);
}

export function isSafeLink(url: string | null | undefined): url is string {
  return !!url && /^https?:\/\//i.test(url);
}

/** A random id; crypto.randomUUID only exists in secure contexts. */
export function uid(): string {
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
