// The snippet's script: a launcher button in a shadow root, and on first click an iframe to
// the frame app. No socket, cookie or storage here; the only request before a click is an
// idle-time availability check.
import { STORE_KEYS, unwrap, wrap, type FrameToHost, type HostToFrame } from "./shared/bridge";
import { h, uid } from "./shared/dom";

declare global {
  interface Window {
    Porchlight?: (command: "open" | "close") => void;
  }
}

const CSS = `:host{all:initial}
[hidden]{display:none!important}
.l{position:fixed;right:20px;bottom:20px;z-index:2147483000;display:flex;align-items:center;gap:10px;padding:12px 18px;border:0;border-radius:999px;background:var(--porchlight-c,#1f3a5f);color:var(--porchlight-i,#fff);font:600 15px/1.25 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;text-align:start;cursor:pointer;box-shadow:0 4px 14px rgba(0,0,0,.25);transition:transform .15s}
.l:hover{transform:translateY(-2px)}
.l:focus-visible{outline:3px solid #1d2430;outline-offset:2px;box-shadow:0 0 0 2px #fff,0 4px 14px rgba(0,0,0,.25)}
.d{width:10px;height:10px;border-radius:50%;background:#9aa5b1;flex:none}
.on .d{background:#3ddc84}
.h{display:block;font-weight:400;font-size:12px;opacity:.85}
.b{position:absolute;top:-6px;right:-6px;min-width:20px;height:20px;padding:0 6px;box-sizing:border-box;border-radius:10px;background:#d93025;color:#fff;font:700 12px/20px system-ui,sans-serif;text-align:center}
.s{position:absolute;width:1px;height:1px;overflow:hidden;clip-path:inset(50%);white-space:nowrap}
.left .l,.left iframe{right:auto;left:20px}
iframe{position:fixed;right:20px;bottom:88px;z-index:2147483001;width:380px;height:600px;max-width:calc(100vw - 40px);max-height:calc(100vh - 108px);border:0;border-radius:16px;background:#fff;box-shadow:0 12px 40px rgba(0,0,0,.3)}
@media (max-width:479px){iframe{inset:0;width:100%;height:100%;max-width:none;max-height:none;border-radius:0}}
@media (prefers-reduced-motion:reduce){.l{transition:none}.l:hover{transform:none}}`;

function main(): void {
  // Read synchronously: currentScript is only set while this script first runs.
  const script = document.currentScript;
  const site = script instanceof HTMLScriptElement ? script.dataset.site : undefined;
  if (!script || !site) return;
  const server = new URL((script as HTMLScriptElement).src).origin;
  const start = () => mount(server, site);
  if (document.body) start();
  else document.addEventListener("DOMContentLoaded", start);
}

interface Availability {
  available?: boolean;
  look?: { color: string; ink: string; position: "left" | "right"; text: string };
}

function mount(server: string, site: string): void {
  const instance = uid();
  const host = document.createElement("porchlight-widget");
  const root = host.attachShadow({ mode: "open" });
  style(root);

  const hint = h("span", { class: "h", "aria-hidden": "true" });
  const badge = h("span", { class: "b", "aria-hidden": "true", hidden: true });
  const about = h("span", { class: "s", id: "d" });
  const label = h("span", {}, "Talk to a person");
  // Hidden until the site's look is known, so it never flashes in the wrong colour.
  const launcher = h(
    "button",
    { type: "button", class: "l", "aria-expanded": "false", "aria-describedby": "d", hidden: true },
    h("span", { class: "d", "aria-hidden": "true" }),
    h("span", {}, label, hint),
    badge,
  );
  const box = h("div", {}, launcher, about);
  root.append(box);
  document.body.append(host);

  let frame: HTMLIFrameElement | null = null;
  let ready = false;
  let open = false;
  let unread = 0;
  const queue: HostToFrame[] = [];

  const describe = () => {
    badge.textContent = String(unread);
    badge.hidden = !unread;
    about.textContent = [hint.textContent, unread ? `${unread} unread` : ""]
      .filter(Boolean)
      .join(", ");
  };
  const post = (message: HostToFrame) => {
    if (ready) frame?.contentWindow?.postMessage(wrap(instance, message), server);
    else queue.push(message);
  };
  const toggle = (next: boolean) => {
    if (next === open) return;
    open = next;
    frame ??= createFrame(box, server, site, instance);
    frame.hidden = !open;
    launcher.setAttribute("aria-expanded", String(open));
    // While open, the launcher is the close button.
    label.textContent = open ? "Close chat" : text;
    hint.hidden = open;
    if (open) {
      unread = 0;
      describe();
      post({ type: "opened" });
      post({ type: "page", url: location.href, title: document.title });
      frame.focus();
    } else {
      post({ type: "closed" });
      launcher.focus();
    }
  };

  launcher.addEventListener("click", () => toggle(!open));
  document.addEventListener("keydown", (e) => {
    if (open && e.key === "Escape") toggle(false);
  });
  addEventListener("message", (e) => {
    const m = unwrap<FrameToHost>(e, server, frame?.contentWindow ?? null, instance);
    if (m?.type === "ready") {
      ready = true;
      post({ type: "stored", state: stored(site) });
      queue.splice(0).forEach(post);
    } else if (m?.type === "store" && STORE_KEYS.includes(m.key)) {
      store(site, m.key, m.value);
    } else if (m?.type === "close") {
      toggle(false);
    } else if (m?.type === "unread") {
      unread = open ? 0 : m.count;
      describe();
    }
  });
  window.Porchlight = (command) => toggle(command === "open");

  let text = "Talk to a person";
  // The first check may come from the cache; later ones ask the server (a cheap answer).
  const check = (cache: RequestCache = "default") =>
    fetch(`${server}/api/v1/sites/${encodeURIComponent(site)}/availability`, { credentials: "omit", cache })
      .then((r) => (r.ok ? (r.json() as Promise<Availability>) : null))
      .then((a) => {
        if (!a) return;
        const look = a.look;
        if (look) {
          host.style.setProperty("--porchlight-c", look.color);
          host.style.setProperty("--porchlight-i", look.ink);
          box.classList.toggle("left", look.position === "left");
          text = look.text;
          if (!open) label.textContent = text;
        }
        launcher.classList.toggle("on", !!a.available);
        hint.textContent = a.available ? "online" : "leave a message";
        describe();
      })
      .catch(() => undefined)
      .finally(() => (launcher.hidden = false));
  // Kept live without a socket: when the page comes back into view, and every minute while
  // it is in view (the answer is cacheable for 15 s).
  idle(() => void check());
  document.addEventListener("visibilitychange", () => document.hidden || void check("no-cache"));
  setInterval(() => document.hidden || void check("no-cache"), 60_000);
}

function createFrame(
  root: HTMLElement,
  server: string,
  site: string,
  instance: string,
): HTMLIFrameElement {
  const query = new URLSearchParams({ site, host: location.origin, instance });
  const frame = h("iframe", {
    src: `${server}/w/frame?${query}`,
    title: "Porchlight chat",
    allow: "camera; microphone; autoplay; display-capture",
  });
  root.append(frame);
  return frame;
}

// Constructed sheets are not subject to the host page's style-src; <style> is the fallback.
function style(root: ShadowRoot): void {
  try {
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(CSS);
    root.adoptedStyleSheets = [sheet];
  } catch {
    root.append(h("style", {}, CSS));
  }
}

// Host-page storage for a frame that can't use its own; only ever touched after a click.
function stored(site: string): Partial<Record<string, string>> {
  const state: Record<string, string> = {};
  try {
    for (const key of STORE_KEYS) {
      const value = localStorage.getItem(`porchlight:${site}:${key}`);
      if (value !== null) state[key] = value;
    }
  } catch {
    // Storage disabled here too: the frame falls back to memory.
  }
  return state;
}

function store(site: string, key: string, value: string | null): void {
  try {
    if (value === null) localStorage.removeItem(`porchlight:${site}:${key}`);
    else localStorage.setItem(`porchlight:${site}:${key}`, value);
  } catch {
    // As above.
  }
}

function idle(task: () => void): void {
  if ("requestIdleCallback" in window) requestIdleCallback(task, { timeout: 4000 });
  else setTimeout(task, 1000);
}

main();
