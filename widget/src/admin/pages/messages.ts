// Messages: what customers left when nobody could answer, newest first, to answer by email.
import "./messages.css";
import { h, link } from "../../shared/dom";
import { shell } from "../shell";

interface Left {
  conversation_id: string;
  site_name: string;
  email: string | null;
  message: string;
  page_url: string | null;
  left_at: number;
}

const when = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

void shell().then(async ({ main, api }) => {
  try {
    const { messages } = await api.get<{ messages: Left[] }>("/api/v1/offline-messages");
    main.append(
      messages.length
        ? h("div", { class: "sites" }, ...messages.map(card))
        : h("p", { class: "card hint" }, "No messages yet. When nobody can answer, what customers leave shows here."),
    );
  } catch (error) {
    main.append(h("p", { class: "problem", role: "alert" }, (error as Error).message));
  }
});

function card(m: Left): HTMLElement {
  const id = `left-${m.conversation_id}`;
  return h(
    "article",
    { class: "card", "aria-labelledby": id },
    h("h2", { id, dir: "auto" }, m.email ?? "No email"),
    h("p", { class: "hint" }, `${m.site_name} · ${when.format(new Date(m.left_at))}`, m.page_url ? " · " : "", m.page_url ? link(m.page_url, m.page_url) : ""),
    h("p", { dir: "auto", class: "left-body" }, m.message),
    m.email ? h("p", {}, h("a", { href: `mailto:${m.email}` }, "Reply by email")) : null,
  );
}
