// Hours: when each site's team is open (in the site's time zone), closures and holidays, and
// what a customer gets when nobody can answer.
import "./hours.css";
import { h } from "../../shared/dom";
import { type Api, ApiError, guarded, shell } from "../shell";

interface Site {
  key: string;
  name: string;
}

type Range = [string, string];

interface Closure {
  start: string;
  end: string;
  hours: Range[];
  note: string;
}

interface HoursBody {
  hours: { timezone: string; week: Record<string, Range[]>; closures: Closure[] } | null;
  offline: "message" | "hide";
  queue_timeout_s: number | null;
}

const DAYS: [string, string][] = [
  ["mon", "Monday"], ["tue", "Tuesday"], ["wed", "Wednesday"], ["thu", "Thursday"],
  ["fri", "Friday"], ["sat", "Saturday"], ["sun", "Sunday"],
];

void shell().then(({ main, api }) => guarded(main, async () => {
  const { sites } = await api.get<{ sites: Site[] }>("/api/v1/sites");
  if (!sites.length) {
    main.append(h("p", { class: "card hint" }, "Add a site first (Sites), then set its hours here."));
    return;
  }
  const pick = h("select", { id: "hours-site" }, ...sites.map((s) => h("option", { value: s.key }, s.name)));
  const slot = h("div", {});
  const load = async () => slot.replaceChildren(await editor(api, pick.value));
  pick.addEventListener("change", () => void guarded(slot, load));
  main.append(h("div", { class: "field" }, h("label", { for: "hours-site" }, "Site"), pick), slot);
  await load();
}));

// Every IANA zone this browser knows (Intl.supportedValuesOf is newer than TypeScript's lib).
function zoneNames(): string[] {
  const intl = Intl as unknown as { supportedValuesOf?: (key: string) => string[] };
  return intl.supportedValuesOf?.("timeZone") ?? [];
}

function input(attrs: Record<string, string | number | boolean>): HTMLInputElement {
  return h("input", attrs);
}

async function editor(api: Api, key: string): Promise<HTMLElement> {
  const path = `/api/v1/sites/${encodeURIComponent(key)}/hours`;
  const current = await api.get<HoursBody>(path);
  const hours = current.hours;
  const enabled = input({ type: "checkbox", id: "hours-on", checked: !!hours });
  const zones = h("datalist", { id: "zones" }, ...zoneNames().map((z) => h("option", { value: z })));
  const zone = input({
    type: "text", id: "hours-zone", list: "zones", required: true, spellcheck: false,
    value: hours?.timezone ?? Intl.DateTimeFormat().resolvedOptions().timeZone,
  });
  const days = DAYS.map(([day, label]) => {
    const range = hours?.week[day]?.[0];
    const open = input({ type: "checkbox", id: `open-${day}`, checked: hours ? !!range : !["sat", "sun"].includes(day) });
    const from = input({ type: "time", id: `from-${day}`, value: range?.[0] ?? "09:00", "aria-label": `${label} opens` });
    const to = input({ type: "time", id: `to-${day}`, value: range?.[1] === "24:00" ? "23:59" : range?.[1] ?? "17:00", "aria-label": `${label} closes` });
    // Further ranges (set through the API) are kept as they are; this form edits the first.
    const extra = hours?.week[day]?.slice(1) ?? [];
    const more = extra.length ? h("span", { class: "hint" }, ` and ${extra.map(([a, b]) => `${a}–${b}`).join(", ")}`) : null;
    const row = h("tr", {}, h("td", {}, h("div", { class: "choice" }, open, h("label", { for: `open-${day}` }, label))), h("td", {}, from), h("td", {}, to, more));
    return { day, open, from, to, extra, row };
  });
  const closures = h("tbody", {});
  const addClosure = (c?: Closure) => closures.append(closureRow(c));
  (hours?.closures ?? []).forEach(addClosure);
  const add = h("button", { type: "button" }, "Add a closure or holiday");
  add.addEventListener("click", () => {
    addClosure();
    closures.lastElementChild?.querySelector("input")?.focus();
  });
  const message = input({ type: "radio", name: "offline", id: "offline-message", value: "message", checked: current.offline === "message" });
  const hide = input({ type: "radio", name: "offline", id: "offline-hide", value: "hide", checked: current.offline === "hide" });
  const timeout = input({ type: "number", id: "queue-timeout", min: 1, max: 1440, step: 1, value: current.queue_timeout_s ? Math.round(current.queue_timeout_s / 60) : "" });
  const problem = h("p", { class: "problem", role: "alert" });
  const done = h("p", { class: "done", role: "status" });
  const save = h("button", { type: "submit", class: "primary" }, "Save hours");
  const form = h(
    "form",
    { class: "fields card", novalidate: true, "aria-label": "Hours" },
    h("div", { class: "row" }, enabled, h("label", { for: "hours-on" }, "Open only during these hours (otherwise always open)")),
    h("div", { class: "field" }, h("label", { for: "hours-zone" }, "Time zone"), zone, zones,
      h("span", { class: "hint" }, "Hours are in this zone; customers see them in their own.")),
    h("div", { class: "scroll-x" }, h("table", { class: "list" },
      h("thead", {}, h("tr", {}, h("th", {}, "Day"), h("th", {}, "Opens"), h("th", {}, "Closes"))),
      h("tbody", {}, ...days.map((d) => d.row)))),
    h("h2", {}, "Closures and holidays"),
    h("p", { class: "hint" }, "Closed all day, or open only between the times given (a short day)."),
    h("div", { class: "scroll-x" }, h("table", { class: "list" },
      h("thead", {}, h("tr", {}, h("th", {}, "From"), h("th", {}, "To"), h("th", {}, "Open from"), h("th", {}, "Open until"), h("th", {}, "Note"), h("th", {}, ""))),
      closures)),
    h("div", { class: "row" }, add),
    h("fieldset", { class: "field" }, h("legend", {}, "When nobody can answer"),
      h("div", { class: "choice" }, message, h("label", { for: "offline-message" }, "Customers leave their email and a message")),
      h("div", { class: "choice" }, hide, h("label", { for: "offline-hide" }, "Hide the launcher"))),
    h("div", { class: "field" }, h("label", { for: "queue-timeout" }, "Offer that after waiting (minutes)"), timeout,
      h("span", { class: "hint" }, "Leave empty to offer it only when nobody is available or outside hours.")),
    problem,
    h("div", { class: "row" }, save, done),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    problem.textContent = "";
    done.textContent = "";
    const week: Record<string, Range[]> = {};
    for (const d of days) week[d.day] = d.open.checked ? [[d.from.value, d.to.value === "23:59" ? "24:00" : d.to.value], ...d.extra] : [];
    const minutes = timeout.value ? Number(timeout.value) : null;
    const body: HoursBody = {
      hours: enabled.checked ? { timezone: zone.value.trim(), week, closures: [...closures.children].map(readClosure) } : null,
      offline: hide.checked ? "hide" : "message",
      queue_timeout_s: minutes === null ? null : minutes * 60,
    };
    save.disabled = true;
    api
      .put<HoursBody>(path, body)
      .then(() => (done.textContent = "Saved."))
      .catch((error: unknown) => (problem.textContent = error instanceof ApiError ? error.message : String(error)))
      .finally(() => (save.disabled = false));
  });
  return form;
}

let closureCount = 0;

function closureRow(c?: Closure): HTMLTableRowElement {
  const n = closureCount++;
  const today = new Date().toISOString().slice(0, 10);
  const start = input({ type: "date", value: c?.start ?? today, "aria-label": "Closed from", class: "c-start" });
  const end = input({ type: "date", value: c?.end ?? c?.start ?? today, "aria-label": "Closed until", class: "c-end" });
  const from = input({ type: "time", value: c?.hours[0]?.[0] ?? "", "aria-label": "Open from (short day)", class: "c-from" });
  const to = input({ type: "time", value: c?.hours[0]?.[1] ?? "", "aria-label": "Open until (short day)", class: "c-to" });
  const note = input({ type: "text", value: c?.note ?? "", maxlength: 120, "aria-label": "Note", class: "c-note", id: `closure-${n}` });
  const remove = h("button", { type: "button", "aria-label": "Remove closure" }, "Remove");
  const row = h("tr", {}, ...[start, end, from, to, note, remove].map((el) => h("td", {}, el)));
  remove.addEventListener("click", () => row.remove());
  return row;
}

function readClosure(row: Element): Closure {
  const value = (cls: string) => (row.querySelector(`.${cls}`) as HTMLInputElement).value;
  const from = value("c-from");
  const to = value("c-to");
  return { start: value("c-start"), end: value("c-end") || value("c-start"), hours: from && to ? [[from, to]] : [], note: value("c-note") };
}
