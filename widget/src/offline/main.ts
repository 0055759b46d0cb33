// The offline path, loaded by the frame only when nobody can answer: when the team is back
// (in the customer's own time zone, with Intl) and the leave-a-message form.
import "./offline.css";
import type { ConversationView } from "../protocol.gen";
import { button, h, say, show, uid } from "../shared/dom";

export interface Availability {
  available: boolean;
  open: boolean;
  staffed: boolean;
  next_open: string | null;
  closes_at: string | null;
  timezone: string | null;
  offline: "message" | "hide";
  queue_timeout_s: number | null;
}

/** Why the offline path is offered: outside hours, nobody available (or the last one just
 * went), or waiting past the site's queue timeout. */
export type Reason = "closed" | "nobody" | "slow";

export interface FormOptions {
  siteKey: string;
  token(): string | null;
  page(): { url: string; title: string } | null;
  /** The stored offline conversation. */
  sent(conversation: ConversationView): void;
}

const DAY = 86_400_000;

/** "We're back at 09:00 your time (in 3 hours)", "We're back tomorrow at …", "on Monday at
 * …": the next opening in this browser's time zone and language. */
export function backText(nextOpen: string | null, now = Date.now()): string {
  if (!nextOpen) return "We're closed for now.";
  const at = new Date(nextOpen);
  const time = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" }).format(at);
  const days = Math.round((midnight(at) - midnight(new Date(now))) / DAY);
  const weekday = new Intl.DateTimeFormat(undefined, { weekday: "long" }).format(at);
  const date = new Intl.DateTimeFormat(undefined, { day: "numeric", month: "long" }).format(at);
  const when = days <= 0 ? "" : days === 1 ? " tomorrow" : days < 7 ? ` on ${weekday}` : ` on ${date}`;
  return `We're back${when} at ${time} your time (${relative(at.getTime() - now)})`;
}

function midnight(d: Date): number {
  return new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime();
}

function relative(ms: number): string {
  const rtf = new Intl.RelativeTimeFormat(undefined, { numeric: "always" });
  const minutes = Math.max(1, Math.round(ms / 60_000));
  if (minutes < 60) return rtf.format(minutes, "minute");
  const hours = Math.round(minutes / 60);
  if (hours < 48) return rtf.format(hours, "hour");
  return rtf.format(Math.round(hours / 24), "day");
}

/** The headline for `reason`. */
export function headline(reason: Reason, availability: Availability): string {
  if (reason === "closed") return backText(availability.next_open);
  if (reason === "slow") return "It's taking longer than usual to reach someone.";
  return "Nobody is available to chat right now.";
}

/** The leave-a-message form; `waiting` says the customer may also keep waiting. */
export function messageForm(reason: Reason, availability: Availability, options: FormOptions, waiting: boolean): HTMLElement {
  const title = h("p", { class: "offline-title" }, headline(reason, availability));
  // The site takes no messages: say when to come back, and nothing more.
  if (availability.offline === "hide") return h("section", { class: "offline", "aria-live": "polite" }, title);
  const email = h("input", { id: "offline-email", type: "email", required: true, maxlength: 254, autocomplete: "email", inputmode: "email" });
  const message = h("textarea", { id: "offline-message", required: true, rows: 3, maxlength: 4000 });
  const problem = h("p", { class: "problem", role: "alert", hidden: true });
  const send = h("button", { type: "submit", class: "primary" }, "Send message");
  const form = h(
    "form",
    { class: "offline-form", "aria-label": "Leave a message", novalidate: true },
    h("p", {}, waiting ? "Leave your email and a message and we'll reply, or keep waiting." : "Leave your email and a message, and we'll reply by email."),
    h("label", { for: "offline-email" }, "Your email"),
    email,
    h("label", { for: "offline-message" }, "Message"),
    message,
    problem,
    send,
  );
  const open = button("Leave a message instead", { class: "primary" });
  const box = h("section", { class: "offline", "aria-live": "polite" }, title, waiting ? open : form);
  open.addEventListener("click", () => {
    open.replaceWith(form);
    email.focus();
  });
  const clientMsgId = uid();
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    void submit();
  });
  const fail = (text: string) => {
    say(problem, text);
    show(problem, true);
    send.disabled = false;
  };
  async function submit(): Promise<void> {
    const token = options.token();
    email.setAttribute("aria-invalid", String(!email.value.trim() || !email.validity.valid));
    if (!email.value.trim() || !email.validity.valid) return fail("Please enter an email address we can reply to.");
    if (!message.value.trim()) return fail("Please write your message.");
    if (!token) return fail("Not connected yet. Try again in a moment.");
    send.disabled = true;
    show(problem, false);
    const page = options.page();
    const body: Record<string, string> = { email: email.value.trim(), message: message.value, client_msg_id: clientMsgId };
    if (page) {
      body.page_url = page.url;
      if (page.title) body.page_title = page.title;
    }
    let response: Response;
    try {
      response = await fetch(`/api/v1/sites/${encodeURIComponent(options.siteKey)}/offline-messages`, {
        method: "POST",
        headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
        body: JSON.stringify(body),
      });
    } catch {
      return fail("Couldn't send: check your connection and try again.");
    }
    const reply = (await response.json().catch(() => ({}))) as { conversation?: ConversationView; error?: { code: string; message: string } };
    if (!response.ok || !reply.conversation) {
      const code = reply.error?.code;
      if (code === "email.invalid") return fail("Please enter an email address we can reply to.");
      if (code === "rate.limited") return fail("Too many messages. Please try again in a minute.");
      return fail(reply.error?.message ?? "Couldn't send your message. Please try again.");
    }
    box.replaceChildren(h("p", { class: "offline-title" }, "Thanks, we've got your message."), h("p", {}, `We'll reply to ${body.email} by email.`));
    options.sent(reply.conversation);
  }
  return box;
}
