// Sites: each website that embeds the widget, its snippet to paste, and a form for a new one.
import { h } from "../../shared/dom";
import { type Api, ApiError, shell } from "../shell";

interface Site {
  key: string;
  name: string;
  allowed_origins: string[];
  greeting: string;
  relay_only: boolean;
  snippet: string;
}

const list = h("div", { class: "sites" });
// As the server checks it: scheme and host (and port), nothing after.
const ORIGIN = /^https?:\/\/[^/\s]+\/?$/;

void shell().then(async ({ main, api }) => {
  main.append(list, newSiteForm(api));
  await refresh(api);
});

async function refresh(api: Api): Promise<void> {
  try {
    const { sites } = await api.get<{ sites: Site[] }>("/api/v1/sites");
    list.replaceChildren(
      ...(sites.length
        ? sites.map(siteCard)
        : [h("p", { class: "card hint" }, "No sites yet. Add your website below to get its snippet.")]),
    );
  } catch (error) {
    list.replaceChildren(h("p", { class: "problem", role: "alert" }, (error as Error).message));
  }
}

function siteCard(site: Site): HTMLElement {
  const copied = h("span", { class: "done", role: "status" });
  const copy = h("button", { type: "button" }, "Copy snippet");
  copy.addEventListener("click", () => {
    navigator.clipboard.writeText(site.snippet).then(
      () => (copied.textContent = "Copied. Paste it before </body> on every page."),
      () => (copied.textContent = "Select the snippet and copy it (the clipboard is blocked)."),
    );
  });
  const id = `snippet-${site.key}`;
  return h(
    "section",
    { class: "card", "aria-labelledby": `site-${site.key}` },
    h("h2", { id: `site-${site.key}`, dir: "auto" }, site.name),
    h("p", { class: "hint" }, "Allowed on: ", site.allowed_origins.join(", ")),
    h("p", { dir: "auto" }, "Greeting: ", site.greeting),
    site.relay_only ? h("p", { class: "hint" }, "Calls go through the relay only.") : null,
    h("label", { for: id }, "Snippet"),
    h("pre", { class: "snippet", id, tabindex: 0 }, site.snippet),
    h("div", { class: "row" }, copy, copied),
  );
}

function newSiteForm(api: Api): HTMLElement {
  const name = h("input", { type: "text", id: "site-name", required: true, maxlength: 120 });
  const origins = h("textarea", {
    id: "site-origins",
    rows: 3,
    required: true,
    "aria-describedby": "site-origins-hint",
  });
  const greeting = h("input", {
    type: "text",
    id: "site-greeting",
    maxlength: 300,
    value: "Hi! How can we help?",
  });
  const relay = h("input", { type: "checkbox", id: "site-relay" });
  const problem = h("p", { class: "problem", role: "alert" });
  const submit = h("button", { type: "submit", class: "primary" }, "Add site");
  const form = h(
    "form",
    { class: "fields", novalidate: true },
    h("div", { class: "field" }, h("label", { for: "site-name" }, "Name"), name),
    h(
      "div",
      { class: "field" },
      h("label", { for: "site-origins" }, "Allowed origins"),
      h(
        "span",
        { class: "hint", id: "site-origins-hint" },
        "One per line, such as https://shop.example.com (scheme and host, no path).",
      ),
      origins,
    ),
    h("div", { class: "field" }, h("label", { for: "site-greeting" }, "Greeting"), greeting),
    h("div", { class: "row" }, relay, h("label", { for: "site-relay" }, "Send calls through the relay only")),
    problem,
    h("div", { class: "row" }, submit),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    problem.textContent = "";
    submit.disabled = true;
    const allowed = origins.value.split(/\s+/).filter(Boolean);
    const wrong = allowed.find((origin) => !ORIGIN.test(origin));
    origins.setAttribute("aria-invalid", String(Boolean(wrong) || !allowed.length));
    name.setAttribute("aria-invalid", String(!name.value.trim()));
    const complaint = !name.value.trim()
      ? "Give the site a name."
      : !allowed.length
        ? "Add at least one origin the widget may be shown on."
        : wrong
          ? `"${wrong}" is not an origin: write the scheme and host, such as https://shop.example.com.`
          : "";
    if (complaint) {
      problem.textContent = complaint;
      submit.disabled = false;
      return;
    }
    const body = {
      name: name.value,
      allowed_origins: allowed.map((origin) => origin.replace(/\/$/, "")),
      greeting: greeting.value,
      relay_only: relay.checked,
    };
    api
      .post<{ site: Site }>("/api/v1/sites", body)
      .then(async () => {
        form.reset();
        greeting.value = "Hi! How can we help?";
        await refresh(api);
        list.lastElementChild?.querySelector("button")?.focus();
      })
      .catch((error: unknown) => {
        problem.textContent = error instanceof ApiError ? error.message : String(error);
      })
      .finally(() => (submit.disabled = false));
  });
  return h("section", { class: "card", "aria-labelledby": "new-site" }, h("h2", { id: "new-site" }, "Add a site"), form);
}
