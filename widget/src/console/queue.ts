import type { ConversationView, QueueChange } from "../protocol.gen";
import { h, show } from "../shared/dom";

/** The waiting conversations as a list named "Queue", longest waiting first. `sync` sets it
 * whole; each `queue.changed` then adds, replaces or removes one conversation, unless it is
 * older than the version already seen for that conversation. */
export class QueueList {
  readonly list = h("ul", { class: "queue", "aria-label": "Queue" });
  private readonly empty = h("p", { class: "empty" }, "Nobody is waiting.");
  readonly el = h("aside", { class: "side" }, h("h2", {}, "Queue"), this.list, this.empty);
  private conversations: ConversationView[] = [];
  /** The newest version seen of each conversation, removed ones included: a late upsert
   * must not bring back a conversation that was taken. */
  private readonly versions = new Map<string, number>();
  // Waiting times are relative to now, so refresh them while nothing else changes.
  private readonly timer = setInterval(() => this.render(), 30_000);

  stop(): void {
    clearInterval(this.timer);
  }

  set(conversations: ConversationView[]): void {
    this.versions.clear();
    conversations.forEach((c) => this.versions.set(c.id, c.version));
    this.hold(conversations);
  }

  change({ op, conversation }: QueueChange): void {
    if (conversation.version < (this.versions.get(conversation.id) ?? 0)) return;
    this.versions.set(conversation.id, conversation.version);
    const others = this.conversations.filter((c) => c.id !== conversation.id);
    this.hold(op === "upsert" ? [...others, conversation] : others);
  }

  private hold(conversations: ConversationView[]): void {
    this.conversations = [...conversations].sort((a, b) => a.created_at - b.created_at);
    this.render();
  }

  private render(): void {
    this.list.replaceChildren(...this.conversations.map(item));
    show(this.empty, !this.conversations.length);
  }
}

function item(c: ConversationView): HTMLLIElement {
  const minutes = Math.max(0, Math.floor((Date.now() - c.created_at) / 60_000));
  const page = c.visitor?.page_title || c.visitor?.page_url;
  return h(
    "li",
    {},
    h("strong", {}, c.visitor?.name || "Visitor"),
    h("span", { class: "meta" }, `${c.customer_left_at ? "customer left" : c.status === "ringing" ? "ringing" : "waiting"} · ${minutes} min`),
    c.language ? h("span", { class: "meta" }, c.language) : null,
    page ? h("span", { class: "meta" }, page) : null,
  );
}
