// Audit log: who signed in (or failed to), who changed staff, sites and settings, and every
// export and erasure of personal data. Filters by action, actor and dates (the viewer's
// own days), newest first, a page at a time. The filters live in the address, so a reload
// or a shared link shows the same entries.
import "./audit.css";
import { h } from "../../shared/dom";
import { type Api, guarded, shell } from "../shell";

interface Entry {
  id: number;
  at: string;
  actor: string;
  actor_id: number | null;
  action: string;
  target: string | null;
  details: Record<string, unknown>;
  address: string | null;
}

interface Page {
  entries: Entry[];
  next_cursor: string | null;
}

interface Action {
  action: string;
  description: string;
}

const when = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });
const FIELDS = ["action", "actor", "from", "to"] as const;
type Filters = Record<(typeof FIELDS)[number], string>;

void shell().then(({ main, api }) => guarded(main, async () => {
  const { actions } = await api.get<{ actions: Action[] }>("/api/v1/audit/actions");
  const names = new Map(actions.map((a) => [a.action, a.description]));
  const view = new AuditView(api, names);
  main.append(view.form(actions), view.status, view.table, view.more, view.problem);
  await view.load(filtersFromAddress(), false);
}));

function filtersFromAddress(): Filters {
  const query = new URLSearchParams(location.search);
  return Object.fromEntries(FIELDS.map((f) => [f, query.get(f) ?? ""])) as Filters;
}

/** A local date (yyyy-mm-dd) at the start of that day in the viewer's zone, or the next
 * day's start for an inclusive "to", as ISO 8601 in UTC. */
function dayStart(date: string, next = false): string {
  const [y = 1970, m = 1, d = 1] = date.split("-").map(Number);
  return new Date(y, m - 1, d + (next ? 1 : 0)).toISOString();
}

class AuditView {
  readonly status = h("p", { class: "hint", role: "status", "aria-live": "polite" });
  readonly problem = h("p", { class: "problem", role: "alert" });
  readonly body = h("tbody");
  readonly table = h(
    "div",
    { class: "scroll-x card audit-card" },
    h(
      "table",
      { class: "list audit", "aria-label": "Audit log entries" },
      h(
        "thead",
        {},
        h("tr", {}, ...["When", "Who", "What", "On", "Details"].map((t) => h("th", { scope: "col" }, t))),
      ),
      this.body,
    ),
  );
  readonly more = h("button", { type: "button", hidden: true }, "Show older entries");
  private cursor: string | null = null;
  private filters: Filters = { action: "", actor: "", from: "", to: "" };
  private shown = 0;
  private inputs = {} as Record<(typeof FIELDS)[number], HTMLInputElement | HTMLSelectElement>;

  constructor(
    private readonly api: Api,
    private readonly names: Map<string, string>,
  ) {
    this.more.addEventListener("click", () => void this.page());
  }

  form(actions: Action[]): HTMLElement {
    const action = h(
      "select",
      { id: "audit-action" },
      h("option", { value: "" }, "All actions"),
      ...families(actions).map(([prefix, label]) => h("option", { value: prefix }, label)),
      ...actions.map((a) => h("option", { value: a.action }, a.description)),
    );
    const actor = h("input", {
      type: "text",
      id: "audit-actor",
      "aria-describedby": "audit-actor-hint",
      autocomplete: "off",
    });
    const from = h("input", { type: "date", id: "audit-from" });
    const to = h("input", { type: "date", id: "audit-to" });
    this.inputs = { action, actor, from, to };
    const clear = h("button", { type: "button" }, "Clear");
    const form = h(
      "form",
      { class: "card audit-filters", role: "search", "aria-label": "Filter the audit log" },
      field("audit-action", "Action", action),
      field("audit-actor", "Who", actor, h("span", { class: "hint", id: "audit-actor-hint" }, "An email, or a staff number.")),
      field("audit-from", "From", from),
      field("audit-to", "To", to),
      h("div", { class: "row actions" }, h("button", { type: "submit", class: "primary" }, "Filter"), clear),
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      void this.load(this.read(), true);
    });
    clear.addEventListener("click", () => {
      for (const input of Object.values(this.inputs)) input.value = "";
      void this.load(this.read(), true);
    });
    return form;
  }

  private read(): Filters {
    return Object.fromEntries(FIELDS.map((f) => [f, this.inputs[f].value.trim()])) as Filters;
  }

  async load(filters: Filters, remember: boolean): Promise<void> {
    for (const f of FIELDS) this.inputs[f].value = filters[f];
    this.filters = filters;
    if (remember) {
      const query = new URLSearchParams(Object.entries(filters).filter(([, v]) => v));
      const search = query.toString();
      history.replaceState(null, "", search ? `?${search}` : location.pathname);
    }
    this.cursor = null;
    this.shown = 0;
    this.body.replaceChildren();
    this.problem.textContent = "";
    if (filters.from && filters.to && filters.from > filters.to) {
      this.inputs.to.setAttribute("aria-invalid", "true");
      this.problem.textContent = "“To” is before “From”: choose a later day.";
      this.status.textContent = "";
      this.more.hidden = true;
      return;
    }
    this.inputs.to.removeAttribute("aria-invalid");
    await this.page();
  }

  private async page(): Promise<void> {
    const query = new URLSearchParams({ limit: "50" });
    if (this.filters.action) query.set("action", this.filters.action);
    if (this.filters.actor) query.set("actor", this.filters.actor);
    if (this.filters.from) query.set("since", dayStart(this.filters.from));
    if (this.filters.to) query.set("until", dayStart(this.filters.to, true));
    if (this.cursor) query.set("cursor", this.cursor);
    this.more.disabled = true;
    this.status.textContent = "Loading…";
    try {
      const page = await this.api.get<Page>(`/api/v1/audit?${query}`);
      this.body.append(...page.entries.map((e) => this.row(e)));
      this.shown += page.entries.length;
      this.cursor = page.next_cursor;
      this.more.hidden = page.next_cursor === null;
      this.table.hidden = this.shown === 0;
      this.status.textContent = this.shown
        ? `${this.shown} ${this.shown === 1 ? "entry" : "entries"}, newest first${page.next_cursor ? "; older ones below" : ""}.`
        : "Nothing recorded matches these filters.";
    } catch (error) {
      this.status.textContent = "";
      this.problem.textContent = (error as Error).message;
    } finally {
      this.more.disabled = false;
    }
  }

  private row(entry: Entry): HTMLElement {
    const details = Object.entries(entry.details);
    return h(
      "tr",
      {},
      h("td", { "data-label": "When" }, h("time", { datetime: entry.at }, when.format(new Date(entry.at)))),
      h(
        "td",
        { "data-label": "Who" },
        h(
          "div",
          {},
          h("bdi", {}, entry.actor),
          entry.address ? h("span", { class: "hint block" }, "from ", entry.address) : null,
        ),
      ),
      h(
        "td",
        { "data-label": "What" },
        h("span", { class: outcome(entry.action) }, this.names.get(entry.action) ?? entry.action),
      ),
      h("td", { "data-label": "On" }, entry.target ? h("code", {}, entry.target) : "—"),
      h(
        "td",
        { "data-label": "Details" },
        details.length
          ? h("dl", { class: "details" }, ...details.flatMap(([k, v]) => [h("dt", {}, k.replace(/_/g, " ")), h("dd", {}, h("bdi", {}, text(v)))]))
          : "—",
      ),
    );
  }
}

function field(id: string, label: string, input: HTMLElement, hint?: HTMLElement): HTMLElement {
  return h("div", { class: "field" }, h("label", { for: id }, label), input, hint ?? null);
}

/** "Sign-ins (all)" style entries for each family of actions that has several. */
function families(actions: Action[]): [string, string][] {
  const labels: Record<string, string> = {
    "auth.": "Sign-ins (all)",
    "staff.": "Staff changes (all)",
    "site.": "Site changes (all)",
    "privacy.": "Personal data (all)",
  };
  return Object.entries(labels).filter(([prefix]) => actions.filter((a) => a.action.startsWith(prefix)).length > 1);
}

function outcome(action: string): string {
  return action === "auth.sign_in_failed" ? "refused" : action === "privacy.erased" ? "erased" : "";
}

function text(value: unknown): string {
  if (Array.isArray(value)) return value.map(text).join(", ");
  if (value === null) return "none";
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}
