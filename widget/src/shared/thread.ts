import type { MessageView } from "../protocol.gen";
import { h, linkify } from "./dom";

/** A message typed here that the server has not acknowledged yet. `conversation_id` is null
 * while the conversation it opens is still being started. */
export interface Pending {
  conversation_id: string | null;
  client_msg_id: string;
  body: string;
  created_at: number;
  /** Held, not sent: its conversation ended first, and the customer chooses what happens. */
  stranded?: boolean;
}

/** How a thread speaks for one side of the conversation. */
export interface Voice {
  me: "customer" | "staff";
  /** The other side's name when a message carries none. */
  them: string;
  /** The text of a system note (`joined`, `ended`, `requeued`). */
  note(message: MessageView): string;
}

// Pending rows sort after every committed seq, in the order they were typed.
const PENDING_ORDER = 2 ** 53;

/** The messages of one conversation shown in a `role="log"` element: committed messages
 * merged by seq (each shown once), unacknowledged ones after them marked "Sending…". A
 * pending row becomes the committed row with the same `client_msg_id` in place. */
export class Thread {
  readonly bySeq = new Map<number, MessageView>();
  /** The highest seq held. */
  lastSeq = 0;
  /** The last seq of the run held from 1 without a gap: where a replay resumes. */
  through = 0;
  private readonly rows = new Map<string, HTMLElement>();
  private readonly order = new WeakMap<Element, number>();
  private readonly committedIds = new Set<string>();
  private typed = 0;

  constructor(
    readonly log: HTMLElement,
    private readonly voice: Voice,
  ) {}

  /** Merge a committed message; false if it was already held. */
  add(message: MessageView): boolean {
    if (this.bySeq.has(message.seq)) return false;
    this.bySeq.set(message.seq, message);
    this.lastSeq = Math.max(this.lastSeq, message.seq);
    while (this.bySeq.has(this.through + 1)) this.through++;
    const id = message.client_msg_id;
    if (id) this.committedIds.add(id);
    const pending = id ? this.rows.get(`c${id}`) : undefined;
    if (pending) {
      this.rows.delete(`c${id}`);
      pending.querySelector(".meta")?.replaceWith(stamp(message.created_at));
      this.place(`s${message.seq}`, message.seq, pending);
    } else {
      this.place(`s${message.seq}`, message.seq, this.render(message));
    }
    return true;
  }

  /** Show a message that is not committed yet (once). */
  pend(item: Pending): void {
    const key = `c${item.client_msg_id}`;
    if (this.committedIds.has(item.client_msg_id) || this.rows.has(key)) return;
    const row = bubble(true, "You", item.body, null);
    this.place(key, PENDING_ORDER + this.typed++, row);
    if (item.stranded) this.unsent(item.client_msg_id);
  }

  /** Mark a pending message as held back ("Not sent") instead of "Sending…". */
  unsent(clientMsgId: string): void {
    const meta = this.rows.get(`c${clientMsgId}`)?.querySelector(".meta");
    if (!meta) return;
    meta.textContent = "Not sent";
    meta.classList.add("unsent");
  }

  /** Remove a pending message that will never be sent. */
  drop(clientMsgId: string): void {
    this.rows.get(`c${clientMsgId}`)?.remove();
    this.rows.delete(`c${clientMsgId}`);
  }

  clear(): void {
    this.log.replaceChildren();
    this.bySeq.clear();
    this.rows.clear();
    this.committedIds.clear();
    this.lastSeq = 0;
    this.through = 0;
  }

  /** Keep the newest message in view (the log's parent scrolls) unless the reader has
   * scrolled up, or always when `force`. */
  follow(force = false): void {
    const box = this.log.parentElement;
    if (!box) return;
    const near = box.scrollHeight - box.scrollTop - box.clientHeight < 120;
    if (force || near) box.scrollTop = box.scrollHeight;
  }

  private render(message: MessageView): HTMLElement {
    if (message.kind === "system") return h("p", { class: "note" }, this.voice.note(message));
    const mine = message.sender === this.voice.me;
    const who = mine ? "You" : (message.author_name ?? this.voice.them);
    return bubble(mine, who, message.body, message.created_at);
  }

  private place(key: string, order: number, row: HTMLElement): void {
    this.rows.set(key, row);
    this.order.set(row, order);
    let before: Element | null = null;
    for (let c = this.log.lastElementChild; c; c = c.previousElementSibling) {
      if (c === row) continue;
      if ((this.order.get(c) ?? 0) <= order) break;
      before = c;
    }
    // Only touch the DOM when the row is not already in place: a moved node is re-announced.
    if (row.parentNode !== this.log || row.nextElementSibling !== before) {
      this.log.insertBefore(row, before);
    }
  }
}

function bubble(mine: boolean, who: string, body: string, at: number | null): HTMLElement {
  return h(
    "div",
    { class: mine ? "msg mine" : "msg" },
    h("span", { class: "who", dir: "auto" }, who),
    h("p", { class: "body", dir: "auto" }, linkify(body)),
    at === null ? h("span", { class: "meta" }, "Sending…") : stamp(at),
  );
}

function stamp(at: number): HTMLElement {
  const when = new Date(at);
  const text = when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  return h("time", { class: "meta", datetime: when.toISOString() }, text);
}
