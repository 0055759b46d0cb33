// Sites: each website that embeds the widget, its snippet and install check, and one form
// (with a live preview) to add a site or change one.
import "./sites.css";
import { h } from "../../shared/dom";
import { type Api, ApiError, shell } from "../shell";

interface Site {
  key: string;
  name: string;
  allowed_origins: string[];
  greeting: string;
  relay_only: boolean;
  channels: string[];
  brand_color: string;
  launcher_position: "left" | "right";
  launcher_text: string;
  show_staff: boolean;
  seen_origin: string | null;
  seen_at: number | null;
  snippet: string;
}

const CHANNELS: [string, string][] = [
  ["chat", "Chat"],
  ["voice", "Voice calls"],
  ["video", "Video calls"],
  ["oneway", "See the staff member only (one-way video)"],
];
const DEFAULTS = {
  name: "",
  allowed_origins: [] as string[],
  greeting: "Hi! How can we help?",
  relay_only: false,
  channels: CHANNELS.map(([value]) => value),
  brand_color: "#1f3a5f",
  launcher_position: "right" as "left" | "right",
  launcher_text: "Talk to a person",
  show_staff: true,
};
// As the server checks it: scheme and host (and port), nothing after.
const ORIGIN = /^https?:\/\/[^/\s]+\/?$/;

const list = h("div", { class: "sites" });
const editorArea = h("div", {});
let api: Api;

void shell().then(async (ready) => {
  api = ready.api;
  ready.main.append(list, editorArea);
  await refresh();
  editorArea.replaceChildren(editor(null));
});

async function refresh(): Promise<Site[]> {
  try {
    const { sites } = await api.get<{ sites: Site[] }>("/api/v1/sites");
    list.replaceChildren(
      ...(sites.length
        ? sites.map(siteCard)
        : [h("p", { class: "card hint" }, "No sites yet. Add your website below to get its snippet.")]),
    );
    return sites;
  } catch (error) {
    list.replaceChildren(h("p", { class: "problem", role: "alert" }, (error as Error).message));
    return [];
  }
}

function seenText(site: Site): string {
  if (!site.seen_at || !site.seen_origin) {
    return "Not seen yet: paste the snippet, then open one of your pages.";
  }
  const when = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
  return `Working: seen on ${site.seen_origin} at ${when.format(new Date(site.seen_at * 1000))}.`;
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
  const edit = h("button", { type: "button" }, "Edit");
  edit.addEventListener("click", () => {
    editorArea.replaceChildren(editor(site));
    editorArea.querySelector("input")?.focus();
  });
  const remove = h("button", { type: "button", class: "danger" }, "Delete…");
  remove.addEventListener("click", () => card.append(confirmDelete(site, remove)));
  const id = `snippet-${site.key}`;
  const swatch = h("span", { class: "swatch", "aria-hidden": "true" });
  swatch.style.setProperty("background", site.brand_color);
  const offered = CHANNELS.filter(([value]) => site.channels.includes(value)).map(([, name]) => name);
  const card = h(
    "section",
    { class: "card", "aria-labelledby": `site-${site.key}` },
    h("div", { class: "row" }, swatch, h("h2", { id: `site-${site.key}`, dir: "auto" }, site.name)),
    h("p", { class: site.seen_at ? "seen ok" : "seen" }, seenText(site)),
    h("p", { class: "hint" }, "Allowed on: ", site.allowed_origins.join(", ")),
    h("p", { class: "hint" }, "Offers: ", offered.join(", ")),
    site.relay_only ? h("p", { class: "hint" }, "Calls go through the relay only.") : null,
    h("p", { id: `${id}-label` }, "Snippet"),
    h("pre", { class: "snippet", id, tabindex: 0, "aria-labelledby": `${id}-label` }, site.snippet),
    h("div", { class: "row" }, copy, edit, remove, copied),
  );
  return card;
}

function confirmDelete(site: Site, opener: HTMLButtonElement): HTMLElement {
  const field = h("input", { type: "text", id: `delete-${site.key}`, autocomplete: "off" });
  const problem = h("p", { class: "problem", role: "alert" });
  const yes = h("button", { type: "submit", class: "danger" }, "Delete this site");
  const no = h("button", { type: "button" }, "Keep it");
  const box = h(
    "form",
    { class: "confirm", "aria-label": `Delete ${site.name}` },
    h(
      "p",
      {},
      "The widget stops on every page at once, and this snippet never works again. ",
      "Conversations stay until retention removes them.",
    ),
    h("label", { for: `delete-${site.key}` }, `Type the site's name (${site.name}) to confirm`),
    field,
    problem,
    h("div", { class: "row" }, yes, no),
  );
  opener.disabled = true;
  no.addEventListener("click", () => {
    box.remove();
    opener.disabled = false;
    opener.focus();
  });
  box.addEventListener("submit", (event) => {
    event.preventDefault();
    if (field.value.trim() !== site.name) {
      problem.textContent = "The name does not match.";
      field.focus();
      return;
    }
    api
      .del(`/api/v1/sites/${encodeURIComponent(site.key)}`)
      .then(() => refresh())
      .then(() => editorArea.replaceChildren(editor(null)))
      .catch((error: unknown) => (problem.textContent = (error as Error).message));
  });
  queueMicrotask(() => field.focus());
  return box;
}

function field(id: string, label: string, control: HTMLElement, hint?: string): HTMLElement {
  if (hint) control.setAttribute("aria-describedby", `${id}-hint`);
  return h(
    "div",
    { class: "field" },
    h("label", { for: id }, label),
    hint ? h("span", { class: "hint", id: `${id}-hint` }, hint) : null,
    control,
  );
}

/** The WCAG contrast-safe text colour on `color`, for the live preview: the same rule as
 * `ink_for` in server/site_settings.py (the server's is what customers see). */
function inkFor(color: string): string {
  const lum = (hex: string) => {
    const [r, g, b] = [1, 3, 5].map((i) => {
      const c = parseInt(hex.slice(i, i + 2), 16) / 255;
      return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    }) as [number, number, number];
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const ratio = (a: string, b: string) => {
    const [hi, lo] = [lum(a), lum(b)].sort((x, y) => y - x) as [number, number];
    return (hi + 0.05) / (lo + 0.05);
  };
  return ratio(color, "#ffffff") >= ratio(color, "#1d2430") ? "#ffffff" : "#1d2430";
}

function editor(site: Site | null): HTMLElement {
  const v = site ?? { ...DEFAULTS, key: "" };
  const name = h("input", { type: "text", id: "site-name", required: true, maxlength: 120, value: v.name });
  const origins = h("textarea", { id: "site-origins", rows: 3, required: true });
  origins.value = v.allowed_origins.join("\n");
  const greeting = h("input", { type: "text", id: "site-greeting", maxlength: 300, value: v.greeting });
  const color = h("input", { type: "color", id: "site-color", value: v.brand_color });
  const text = h("input", { type: "text", id: "site-launcher", maxlength: 40, required: true, value: v.launcher_text });
  const position = h(
    "select",
    { id: "site-position" },
    h("option", { value: "right" }, "Bottom right"),
    h("option", { value: "left" }, "Bottom left"),
  );
  position.value = v.launcher_position;
  const channelBoxes = CHANNELS.map(([value, label]) => {
    const box = h("input", { type: "checkbox", id: `channel-${value}`, value, checked: v.channels.includes(value) });
    return { box, el: h("div", { class: "row" }, box, h("label", { for: `channel-${value}` }, label)) };
  });
  const staff = h("input", { type: "checkbox", id: "site-staff", checked: v.show_staff });
  const relay = h("input", { type: "checkbox", id: "site-relay", checked: v.relay_only });
  const problem = h("p", { class: "problem", role: "alert" });
  const done = h("p", { class: "done", role: "status" });
  const submit = h("button", { type: "submit", class: "primary" }, site ? "Save changes" : "Add site");
  const cancel = h("button", { type: "button" }, "Cancel");
  cancel.hidden = !site;
  cancel.addEventListener("click", () => editorArea.replaceChildren(editor(null)));

  const preview = livePreview();
  const update = () =>
    preview.show({
      color: color.value,
      text: text.value || DEFAULTS.launcher_text,
      left: position.value === "left",
      name: name.value || "Your site",
      greeting: greeting.value,
      staff: staff.checked,
    });
  const form = h(
    "form",
    { class: "fields", novalidate: true },
    field("site-name", "Name", name, "Your team or shop, shown at the top of the chat."),
    field("site-origins", "Allowed origins", origins, "One per line, such as https://shop.example.com (scheme and host, no path)."),
    field("site-greeting", "Greeting", greeting),
    h(
      "fieldset",
      { class: "field" },
      h("legend", {}, "Offer"),
      ...channelBoxes.map((c) => c.el),
    ),
    h(
      "fieldset",
      { class: "field" },
      h("legend", {}, "Appearance"),
      field("site-color", "Brand colour", color, "The text on it is chosen for contrast."),
      field("site-launcher", "Launcher text", text),
      field("site-position", "Launcher position", position),
      h("div", { class: "row" }, staff, h("label", { for: "site-staff" }, "Show the staff member's initials to customers")),
    ),
    h("div", { class: "row" }, relay, h("label", { for: "site-relay" }, "Send calls through the relay only (neither side learns the other's address)")),
    problem,
    done,
    h("div", { class: "row" }, submit, cancel),
  );
  form.addEventListener("input", update);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    problem.textContent = "";
    done.textContent = "";
    const allowed = origins.value.split(/\s+/).filter(Boolean);
    const wrong = allowed.find((origin) => !ORIGIN.test(origin));
    const channels = channelBoxes.filter((c) => c.box.checked).map((c) => c.box.value);
    origins.setAttribute("aria-invalid", String(Boolean(wrong) || !allowed.length));
    name.setAttribute("aria-invalid", String(!name.value.trim()));
    const complaint = !name.value.trim()
      ? "Give the site a name."
      : !allowed.length
        ? "Add at least one origin the widget may be shown on."
        : wrong
          ? `"${wrong}" is not an origin: write the scheme and host, such as https://shop.example.com.`
          : !channels.length
            ? "Offer at least one way to talk."
            : "";
    if (complaint) {
      problem.textContent = complaint;
      return;
    }
    const body = {
      name: name.value,
      allowed_origins: allowed.map((origin) => origin.replace(/\/$/, "")),
      greeting: greeting.value,
      relay_only: relay.checked,
      channels,
      brand_color: color.value,
      launcher_position: position.value,
      launcher_text: text.value,
      show_staff: staff.checked,
    };
    submit.disabled = true;
    const saved = site
      ? api.patch<{ site: Site }>(`/api/v1/sites/${encodeURIComponent(site.key)}`, body)
      : api.post<{ site: Site }>("/api/v1/sites", body);
    saved
      .then(async ({ site: after }) => {
        await refresh();
        editorArea.replaceChildren(editor(site ? after : null));
        const status = editorArea.querySelector<HTMLElement>(".done");
        if (status) status.textContent = site ? "Saved. Pages pick the change up within a minute." : `${after.name} added: copy its snippet above.`;
        if (!site) list.querySelector<HTMLElement>(`#site-${CSS.escape(after.key)}`)?.closest("section")?.querySelector("button")?.focus();
      })
      .catch((error: unknown) => {
        problem.textContent = error instanceof ApiError ? error.message : String(error);
      })
      .finally(() => (submit.disabled = false));
  });
  update();
  return h(
    "section",
    { class: "card editor", "aria-labelledby": "editor-title" },
    h("h2", { id: "editor-title" }, site ? `Edit ${site.name}` : "Add a site"),
    h("div", { class: "split" }, form, preview.el),
  );
}

interface Look {
  color: string;
  text: string;
  left: boolean;
  name: string;
  greeting: string;
  staff: boolean;
}

/** A picture of the widget as customers will see it, redrawn on every change. */
function livePreview(): { el: HTMLElement; show(look: Look): void } {
  const title = h("strong", {});
  const avatar = h("span", { class: "avatar", "aria-hidden": "true" }, "SL");
  const greeting = h("p", { class: "bubble" });
  const launcher = h("span", { class: "launcher" });
  const page = h(
    "div",
    { class: "page-mock" },
    h("div", { class: "frame-mock" }, h("div", { class: "head" }, avatar, title), greeting),
    launcher,
  );
  const el = h("figure", { class: "preview" }, page, h("figcaption", { class: "hint" }, "Preview"));
  return {
    el,
    show(look) {
      const ink = inkFor(look.color);
      page.style.setProperty("--c", look.color);
      page.style.setProperty("--i", ink);
      page.classList.toggle("left", look.left);
      title.textContent = look.name;
      greeting.textContent = look.greeting;
      launcher.textContent = look.text;
      avatar.hidden = !look.staff;
    },
  };
}
