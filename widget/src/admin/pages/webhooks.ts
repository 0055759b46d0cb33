// Webhooks: a site's endpoints (what they subscribe to, their signing secret), each one's
// delivery log with "Send again", and a form for a new endpoint.
import "./webhooks.css";
import { button, h } from "../../shared/dom";
import { type Api, ApiError, shell } from "../shell";

interface Site {
  key: string;
  name: string;
}
interface Kind {
  kind: string;
  description: string;
}
interface Endpoint {
  id: number;
  site: string;
  url: string;
  description: string;
  kinds: string[];
  enabled: boolean;
  created_at: number;
  secret: string | null;
  previous_secret_until: number | null;
}
interface Delivery {
  id: number;
  webhook_id: string;
  kind: string;
  body: string;
  status: "pending" | "delivered" | "failed";
  attempts: number;
  created_at: number;
  next_attempt_at: number | null;
  last_attempt_at: number | null;
  response_status: number | null;
  last_error: string | null;
}
interface DeliveryPage {
  deliveries: Delivery[];
  next_cursor: number | null;
}

const STATUS_TEXT = { pending: "Retrying", delivered: "Delivered", failed: "Failed" };
const when = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });
const time = (at: number | null): string => (at == null ? "—" : when.format(new Date(at * 1000)));
const pretty = (body: string): string => {
  try {
    return JSON.stringify(JSON.parse(body), null, 2);
  } catch {
    return body;
  }
};
const message = (error: unknown): string => (error instanceof Error ? error.message : String(error));

const sitePicker = h("select", { id: "hook-site" });
const endpoints = h("div", { class: "hooks" });
const secretBox = h("div", { class: "secret-box", role: "status", hidden: true });
const logPanel = h("section", { class: "card", "aria-labelledby": "log-title", hidden: true });
let kinds: Kind[] = [];

void shell().then(async ({ main, api }) => {
  const problem = h("p", { class: "problem", role: "alert" });
  main.append(problem);
  try {
    const [{ sites }, catalogue] = await Promise.all([
      api.get<{ sites: Site[] }>("/api/v1/sites"),
      api.get<{ kinds: Kind[] }>("/api/v1/webhooks/kinds"),
    ]);
    kinds = catalogue.kinds;
    if (!sites.length) {
      main.append(h("p", { class: "card hint" }, "Add a site first: webhooks belong to a site."));
      return;
    }
    sitePicker.replaceChildren(...sites.map((s) => h("option", { value: s.key }, s.name)));
    sitePicker.addEventListener("change", () => void refresh(api));
    main.append(
      h(
        "div",
        { class: "field", hidden: sites.length < 2 },
        h("label", { for: "hook-site" }, "Site"),
        sitePicker,
      ),
      secretBox,
      endpoints,
      logPanel,
      newEndpointForm(api),
    );
    await refresh(api);
  } catch (error) {
    problem.textContent = message(error);
  }
});

async function refresh(api: Api): Promise<void> {
  try {
    const { webhooks } = await api.get<{ webhooks: Endpoint[] }>(
      `/api/v1/sites/${encodeURIComponent(sitePicker.value)}/webhooks`,
    );
    endpoints.replaceChildren(
      ...(webhooks.length
        ? webhooks.map((e) => endpointCard(api, e))
        : [h("p", { class: "card hint" }, "No endpoints yet. Add the URL that should hear about conversations below.")]),
    );
  } catch (error) {
    endpoints.replaceChildren(h("p", { class: "problem", role: "alert" }, message(error)));
  }
}

function showSecret(endpoint: Endpoint, rotated: boolean): void {
  if (!endpoint.secret) return;
  const secret = endpoint.secret;
  const copied = h("span", { class: "done", role: "status" });
  const copy = button("Copy secret");
  const done = button("Done", { class: "quiet" });
  done.addEventListener("click", () => {
    secretBox.hidden = true;
    secretBox.replaceChildren();
  });
  copy.addEventListener("click", () => {
    navigator.clipboard.writeText(secret).then(
      () => (copied.textContent = "Copied."),
      () => (copied.textContent = "Select the secret and copy it (the clipboard is blocked)."),
    );
  });
  secretBox.replaceChildren(
    h("h2", {}, rotated ? "New signing secret" : "Signing secret"),
    h(
      "p",
      {},
      rotated
        ? "Deliveries are signed with this secret and, for 24 hours, with the old one too. "
        : "Verify each delivery's webhook-signature with this secret (Standard Webhooks). ",
      h("strong", {}, "Copy it now: it is not shown again."),
    ),
    h("pre", { class: "snippet", tabindex: 0, "aria-label": "Signing secret" }, secret),
    h("div", { class: "row" }, copy, done, copied),
  );
  secretBox.hidden = false;
  copy.focus();
}

function endpointCard(api: Api, endpoint: Endpoint): HTMLElement {
  const titleId = `hook-${endpoint.id}`;
  const problem = h("p", { class: "problem", role: "alert" });
  const act = (work: () => Promise<unknown>) => () => {
    problem.textContent = "";
    work().catch((error: unknown) => (problem.textContent = message(error)));
  };
  const toggle = button(endpoint.enabled ? "Pause" : "Resume");
  toggle.addEventListener(
    "click",
    act(async () => {
      await api.patch(`/api/v1/webhooks/${endpoint.id}`, { enabled: !endpoint.enabled });
      await refresh(api);
    }),
  );
  const rotate = button("Rotate secret");
  rotate.addEventListener(
    "click",
    act(async () => {
      if (!confirm("Make a new signing secret? The current one keeps working for 24 hours.")) return;
      showSecret(await api.post<Endpoint>(`/api/v1/webhooks/${endpoint.id}/rotate-secret`), true);
      await refresh(api);
    }),
  );
  const remove = button("Delete", { class: "danger" });
  remove.addEventListener(
    "click",
    act(async () => {
      if (!confirm(`Delete the endpoint ${endpoint.url} and its delivery log?`)) return;
      await api.del(`/api/v1/webhooks/${endpoint.id}`);
      logPanel.hidden = true;
      await refresh(api);
    }),
  );
  const log = button("Delivery log", { class: "primary" });
  log.addEventListener("click", act(() => openLog(api, endpoint)));
  return h(
    "section",
    { class: "card", "aria-labelledby": titleId },
    h(
      "div",
      { class: "row spread" },
      h("h2", { id: titleId, class: "url" }, endpoint.url),
      h("span", { class: endpoint.enabled ? "badge on" : "badge off" }, endpoint.enabled ? "Active" : "Paused"),
    ),
    endpoint.description ? h("p", { dir: "auto" }, endpoint.description) : null,
    h("ul", { class: "chips", "aria-label": "Subscribed to" }, ...endpoint.kinds.map((k) => h("li", {}, k))),
    endpoint.previous_secret_until
      ? h("p", { class: "hint" }, `The previous secret also signs until ${time(endpoint.previous_secret_until)}.`)
      : null,
    h("div", { class: "row" }, log, toggle, rotate, remove),
    problem,
  );
}

async function openLog(api: Api, endpoint: Endpoint): Promise<void> {
  const filter = h(
    "select",
    { id: "log-status" },
    h("option", { value: "" }, "All"),
    h("option", { value: "failed" }, "Failed"),
    h("option", { value: "pending" }, "Retrying"),
    h("option", { value: "delivered" }, "Delivered"),
  );
  const rows = h("tbody");
  const more = button("Show older");
  const reload = button("Refresh");
  const problem = h("p", { class: "problem", role: "alert" });
  let cursor: number | null = null;
  const load = async (append: boolean): Promise<void> => {
    problem.textContent = "";
    const query = new URLSearchParams();
    if (filter.value) query.set("status", filter.value);
    if (append && cursor != null) query.set("before", String(cursor));
    try {
      const page = await api.get<DeliveryPage>(`/api/v1/webhooks/${endpoint.id}/deliveries?${query}`);
      cursor = page.next_cursor;
      const made = page.deliveries.map((d) => deliveryRow(api, endpoint, d, () => load(false), problem));
      if (append) rows.append(...made);
      else rows.replaceChildren(...made);
      if (!rows.childElementCount) {
        rows.append(h("tr", {}, h("td", { colspan: 7, class: "hint" }, "Nothing delivered yet.")));
      }
      more.hidden = cursor == null;
    } catch (error) {
      problem.textContent = message(error);
    }
  };
  filter.addEventListener("change", () => void load(false));
  reload.addEventListener("click", () => void load(false));
  more.addEventListener("click", () => void load(true));
  logPanel.replaceChildren(
    h("h2", { id: "log-title", tabindex: -1 }, "Deliveries to ", h("span", { class: "url" }, endpoint.url)),
    h("div", { class: "row" }, h("label", { for: "log-status" }, "Show"), filter, reload),
    h("p", { class: "hint" }, "Failed deliveries are retried with growing pauses for 24 hours. Each keeps its webhook-id, so a receiver can ignore repeats."),
    problem,
    h(
      "div",
      { class: "scroll-x" },
      h(
        "table",
        { class: "list" },
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            ...["Event", "Status", "Attempts", "Response", "Last attempt", "Next attempt", ""].map((t) =>
              h("th", { scope: "col" }, t),
            ),
          ),
        ),
        rows,
      ),
    ),
    more,
  );
  logPanel.hidden = false;
  await load(false);
  logPanel.querySelector<HTMLElement>("#log-title")?.focus();
}

function deliveryRow(
  api: Api,
  endpoint: Endpoint,
  d: Delivery,
  reload: () => Promise<void>,
  problem: HTMLElement,
): HTMLElement {
  const again = button("Send again", { "aria-label": `Send ${d.kind} again` });
  again.addEventListener("click", () => {
    again.disabled = true;
    api
      .post(`/api/v1/webhooks/${endpoint.id}/deliveries/${d.id}/resend`)
      .then(reload)
      .catch((error: unknown) => {
        again.disabled = false;
        problem.textContent = message(error);
      });
  });
  const response = d.response_status != null ? String(d.response_status) : (d.last_error ?? "—");
  // data-label: on a phone each row is a card, and each cell says what it is.
  return h(
    "tr",
    {},
    h(
      "td",
      { "data-label": "Event" },
      h("code", {}, d.kind),
      h("div", { class: "hint" }, d.webhook_id),
      h("details", {}, h("summary", {}, "Payload"), h("pre", { class: "snippet" }, pretty(d.body))),
    ),
    h("td", { "data-label": "Status" }, h("span", { class: `badge ${d.status}` }, STATUS_TEXT[d.status])),
    h("td", { "data-label": "Attempts" }, String(d.attempts)),
    h("td", { "data-label": "Response", title: d.last_error ?? "" }, response),
    h("td", { "data-label": "Last attempt" }, time(d.last_attempt_at)),
    h("td", { "data-label": "Next attempt" }, d.status === "pending" ? time(d.next_attempt_at) : "—"),
    h("td", { class: "actions" }, again),
  );
}

function newEndpointForm(api: Api): HTMLElement {
  const url = h("input", {
    type: "url",
    id: "hook-url",
    required: true,
    maxlength: 2000,
    placeholder: "https://crm.example.com/porchlight",
    "aria-describedby": "hook-url-hint",
  });
  const description = h("input", { type: "text", id: "hook-description", maxlength: 200 });
  const boxes = kinds.map((k) => {
    const id = `kind-${k.kind.replace(/\W/g, "-")}`;
    const box = h("input", { type: "checkbox", id, value: k.kind, "aria-describedby": `${id}-hint` });
    return {
      box,
      row: h(
        "div",
        { class: "kind" },
        box,
        h("label", { for: id }, h("code", {}, k.kind)),
        h("span", { class: "hint", id: `${id}-hint` }, k.description),
      ),
    };
  });
  const problem = h("p", { class: "problem", role: "alert" });
  const submit = h("button", { type: "submit", class: "primary" }, "Add endpoint");
  const form = h(
    "form",
    { class: "fields", novalidate: true },
    h(
      "div",
      { class: "field" },
      h("label", { for: "hook-url" }, "Endpoint URL"),
      h("span", { class: "hint", id: "hook-url-hint" }, "An https address on the internet; we sign every delivery."),
      url,
    ),
    h("div", { class: "field" }, h("label", { for: "hook-description" }, "Description (optional)"), description),
    h("fieldset", { class: "field kinds" }, h("legend", {}, "Events to send"), ...boxes.map((b) => b.row)),
    problem,
    h("div", { class: "row" }, submit),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    problem.textContent = "";
    const chosen = boxes.filter((b) => b.box.checked).map((b) => b.box.value);
    url.setAttribute("aria-invalid", String(!url.value.trim()));
    const complaint = !url.value.trim()
      ? "Enter the URL that should receive the events."
      : !chosen.length
        ? "Choose at least one event to send."
        : "";
    if (complaint) {
      problem.textContent = complaint;
      return;
    }
    submit.disabled = true;
    api
      .post<Endpoint>(`/api/v1/sites/${encodeURIComponent(sitePicker.value)}/webhooks`, {
        url: url.value.trim(),
        description: description.value,
        kinds: chosen,
      })
      .then(async (made) => {
        form.reset();
        url.removeAttribute("aria-invalid");
        await refresh(api);
        showSecret(made, false);
      })
      .catch((error: unknown) => {
        if (error instanceof ApiError && error.code === "webhook.url_refused") url.setAttribute("aria-invalid", "true");
        problem.textContent = message(error);
      })
      .finally(() => (submit.disabled = false));
  });
  return h("section", { class: "card", "aria-labelledby": "new-hook" }, h("h2", { id: "new-hook" }, "Add an endpoint"), form);
}
