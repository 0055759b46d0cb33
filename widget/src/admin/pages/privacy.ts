// Personal data: answer a person who asks for their data (export it as a JSON file) or to
// be forgotten (erase it: messages, name and pages go; a tombstone stays in the audit log),
// and choose how long each site keeps ended conversations.
import "./privacy.css";
import { h } from "../../shared/dom";
import { type Api, ApiError, guarded, shell } from "../shell";

interface Site {
  key: string;
  name: string;
  retention_days: number | null;
}

interface ExportDocument {
  subject: { site: string; visitor_id: string };
  conversations: { messages: unknown[] }[];
  erasures: { at: string }[];
}

type Subject = { conversation_id: string } | { site: string; visitor_id: string };

void shell().then(({ main, api }) => guarded(main, async () => {
  const { sites } = await api.get<{ sites: Site[] }>("/api/v1/sites");
  main.append(personForm(api, sites), retention(api, sites));
}));

function personForm(api: Api, sites: Site[]): HTMLElement {
  const how = h(
    "select",
    { id: "person-how" },
    h("option", { value: "conversation" }, "One of their conversations"),
    h("option", { value: "visitor" }, "Their visitor id on a site"),
  );
  const conversation = h("input", {
    type: "text",
    id: "person-conversation",
    autocomplete: "off",
    spellcheck: "false",
    maxlength: 32,
  });
  const site = h("select", { id: "person-site" }, ...sites.map((s) => h("option", { value: s.key }, s.name)));
  const visitor = h("input", { type: "text", id: "person-visitor", autocomplete: "off", spellcheck: "false", maxlength: 64 });
  const byConversation = field("person-conversation", "Conversation id", conversation);
  const byVisitor = h("div", { class: "row wide", hidden: true }, field("person-site", "Site", site), field("person-visitor", "Visitor id", visitor));
  how.addEventListener("change", () => {
    byConversation.hidden = how.value !== "conversation";
    byVisitor.hidden = how.value !== "visitor";
  });
  const status = h("p", { class: "done", role: "status" });
  const problem = h("p", { class: "problem", role: "alert" });
  const exportButton = h("button", { type: "submit", class: "primary" }, "Export their data");
  const eraseButton = h("button", { type: "button", class: "danger" }, "Erase their data…");
  const confirm = h(
    "div",
    { class: "confirm", hidden: true, role: "group", "aria-labelledby": "erase-question" },
    h("p", { id: "erase-question" }, "Erase this person's messages, name and pages from every conversation? This cannot be undone. The audit log keeps a note that it was done, without their data."),
    h("div", { class: "row" }, h("button", { type: "button", class: "danger strong" }, "Erase for good"), h("button", { type: "button" }, "Keep it")),
  );
  const [really, keep] = Array.from(confirm.querySelectorAll("button"));

  function subject(): Subject | null {
    if (how.value === "conversation") {
      const id = conversation.value.trim();
      conversation.setAttribute("aria-invalid", String(!id));
      return id ? { conversation_id: id } : null;
    }
    const id = visitor.value.trim();
    visitor.setAttribute("aria-invalid", String(!id));
    return id && site.value ? { site: site.value, visitor_id: id } : null;
  }

  function start(): Subject | null {
    status.textContent = "";
    problem.textContent = "";
    const found = subject();
    if (!found) problem.textContent = how.value === "conversation" ? "Paste the id of one of their conversations." : "Type their visitor id.";
    return found;
  }

  const form = h(
    "form",
    { class: "card fields", "aria-labelledby": "person-title", novalidate: true },
    h("h2", { id: "person-title" }, "A person's data"),
    h("p", { class: "hint" }, "Find the person by the id of one of their conversations, or by the visitor id their browser holds."),
    field("person-how", "Find them by", how),
    byConversation,
    byVisitor,
    problem,
    h("div", { class: "row" }, exportButton, eraseButton),
    confirm,
    status,
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const found = start();
    if (!found) return;
    exportButton.disabled = true;
    api
      .post<ExportDocument>("/api/v1/privacy/export", found)
      .then((document) => {
        const messages = document.conversations.reduce((n, c) => n + c.messages.length, 0);
        download(document);
        status.textContent =
          `Downloaded ${plural(document.conversations.length, "conversation")} and ${plural(messages, "message")}` +
          (document.erasures.length ? `; their data was erased before (${plural(document.erasures.length, "time")}).` : ".");
      })
      .catch((error: Error) => (problem.textContent = error.message))
      .finally(() => (exportButton.disabled = false));
  });
  eraseButton.addEventListener("click", () => {
    if (!start()) return;
    confirm.hidden = false;
    keep?.focus();
  });
  keep?.addEventListener("click", () => {
    confirm.hidden = true;
    eraseButton.focus();
  });
  really?.addEventListener("click", () => {
    const found = start();
    if (!found) return;
    confirm.hidden = true;
    api
      .post<{ erased: Record<string, number> }>("/api/v1/privacy/erase", found)
      .then(({ erased }) => {
        status.textContent = `Erased: ${plural(erased.messages ?? 0, "message")} from ${plural(erased.conversations ?? 0, "conversation")}.`;
      })
      .catch((error: Error) => {
        problem.textContent = error instanceof ApiError && error.code === "conversation.not_ended" ? "They are still in a conversation. End it first, then erase." : error.message;
      })
      .finally(() => eraseButton.focus());
  });
  return form;
}

function retention(api: Api, sites: Site[]): HTMLElement {
  return h(
    "section",
    { class: "card", "aria-labelledby": "retention-title" },
    h("h2", { id: "retention-title" }, "How long conversations are kept"),
    h("p", { class: "hint" }, "Ended conversations older than this are deleted with everything in them, once an hour."),
    sites.length ? h("div", { class: "retention" }, ...sites.map((s) => siteRetention(api, s))) : h("p", { class: "hint" }, "No sites yet."),
  );
}

function siteRetention(api: Api, site: Site): HTMLElement {
  const id = `keep-${site.key}`;
  const forever = h("input", { type: "checkbox", id: `${id}-forever`, checked: site.retention_days === null });
  const days = h("input", { type: "number", id, min: 1, max: 3650, value: site.retention_days ?? 365, disabled: site.retention_days === null });
  const status = h("span", { class: "done", role: "status" });
  const save = h("button", { type: "submit" }, "Save");
  forever.addEventListener("change", () => (days.disabled = forever.checked));
  const form = h(
    "form",
    { class: "site-retention", "aria-label": site.name, novalidate: true },
    h("h3", { dir: "auto" }, site.name),
    h("div", { class: "row" }, forever, h("label", { for: forever.id }, "Keep forever")),
    h("div", { class: "row" }, h("label", { for: id }, "Delete after"), days, h("span", {}, "days")),
    h("div", { class: "row" }, save, status),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const value = forever.checked ? null : Number(days.value);
    const wrong = value !== null && !(Number.isInteger(value) && value >= 1 && value <= 3650);
    days.setAttribute("aria-invalid", String(wrong));
    if (wrong) {
      status.textContent = "";
      status.className = "problem";
      status.textContent = "Choose 1 to 3650 days.";
      return;
    }
    save.disabled = true;
    api
      .put<{ site: Site }>(`/api/v1/sites/${encodeURIComponent(site.key)}/retention`, { days: value })
      .then(({ site: saved }) => {
        status.className = "done";
        status.textContent = saved.retention_days === null ? "Saved: kept forever." : `Saved: deleted after ${plural(saved.retention_days, "day")}.`;
      })
      .catch((error: Error) => {
        status.className = "problem";
        status.textContent = error.message;
      })
      .finally(() => (save.disabled = false));
  });
  return form;
}

function field(id: string, label: string, input: HTMLElement): HTMLElement {
  return h("div", { class: "field" }, h("label", { for: id }, label), input);
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

function download(document_: ExportDocument): void {
  const blob = new Blob([JSON.stringify(document_, null, 2)], { type: "application/json" });
  const url = URL.createObjectURL(blob);
  const day = new Date().toISOString().slice(0, 10);
  const link = h("a", { href: url, download: `porchlight-export-${day}.json`, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
