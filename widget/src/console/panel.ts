import { MAX_BODY_CHARS, type ConversationView, type MessageView } from "../protocol.gen";
import { button, h, link, say, show } from "../shared/dom";
import { callNote } from "../shared/notes";
import { Thread } from "../shared/thread";
import { TypingLine, TypingSignal } from "../shared/typing";
import { supersedes } from "../shared/wire";

/** What a staff member can do in a conversation panel; the desk implements it. */
export interface PanelActions {
  send(conversationId: string, body: string): void;
  end(conversationId: string): void;
  close(conversationId: string): void;
  typing(conversationId: string, typing: boolean): void;
  read(conversationId: string, seq: number): void;
  propose(conversationId: string, channel: "chat" | "voice" | "video"): void;
  tag(conversationId: string, tag: string): Promise<boolean>;
}

const clock = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });

/** One accepted conversation: a `region` named "Conversation with {visitor}" holding the
 * visitor's current page, the message log, a reply box and "End conversation". Once ended
 * it says "Ended", offers the site's outcomes to pick from, and "Close", which removes the
 * panel. */

export class Panel {
  readonly el: HTMLElement;
  readonly thread: Thread;
  readonly typing = new TypingLine(h("p", { class: "typing" }));
  private readonly title = h("h2", {});
  private readonly state = h("span", { class: "state" });
  private readonly page = h("p", { class: "page" });
  private readonly gone = h("p", { class: "gone", role: "status", hidden: true });
  private readonly rating = h("p", { class: "rating", hidden: true });
  private readonly proposeChat: HTMLButtonElement;
  private readonly problem = h("p", { class: "problem", role: "alert", hidden: true });
  private readonly reply: HTMLTextAreaElement;
  private readonly composer: HTMLFormElement;
  private readonly endButton = button("End conversation", { class: "danger" });
  private readonly closeButton = button("Close", { hidden: true });
  private readonly endRow = h("div", { class: "actions" }, this.endButton);
  private readonly callArea = h("div", { class: "call-area" });
  private readonly callNote = h("p", { class: "call-note", "aria-live": "polite" });
  private readonly proposeRow: HTMLElement;
  private readonly outcome: HTMLSelectElement;
  private readonly outcomeRow: HTMLElement;
  private readonly outcomeSaved = h("span", { class: "saved", "aria-live": "polite" });
  private readonly signal: TypingSignal;
  private readSeq = 0;
  private pageKey: string | null = null;

  constructor(
    public conversation: ConversationView,
    private readonly actions: PanelActions,
  ) {
    const id = conversation.id;
    const log = h("div", { class: "log", role: "log", "aria-label": "Messages" });
    this.thread = new Thread(log, { me: "staff", them: "Visitor", note: noteText });
    this.signal = new TypingSignal((typing) => actions.typing(id, typing));
    this.reply = h("textarea", { id: `reply-${id}`, rows: 2, maxlength: MAX_BODY_CHARS });
    this.composer = h(
      "form",
      { class: "composer" },
      h("label", { for: `reply-${id}` }, "Reply"),
      this.reply,
      h("button", { type: "submit", class: "primary" }, "Send"),
    );
    const propose = (label: string, channel: "chat" | "voice" | "video") => {
      const b = button(label);
      b.addEventListener("click", () => actions.propose(id, channel));
      return b;
    };
    this.proposeRow = h(
      "div",
      { class: "channels" },
      propose("Propose video", "video"),
      propose("Propose voice", "voice"),
      // Back to chat only means something during a call.
      (this.proposeChat = propose("Propose chat", "chat")),
    );
    this.proposeChat.hidden = true;
    this.outcome = h("select", { id: `outcome-${id}` });
    this.outcomeRow = h(
      "p",
      { class: "outcome", hidden: true },
      h("label", { for: `outcome-${id}` }, "Outcome"),
      this.outcome,
      this.outcomeSaved,
    );
    this.el = h(
      "section",
      { class: "panel", role: "region" },
      h("header", {}, this.title, this.state, this.closeButton),
      this.gone,
      this.page,
      this.rating,
      this.proposeRow,
      this.callNote,
      this.callArea,
      h("div", { class: "scroll" }, log, this.typing.el),
      this.problem,
      this.outcomeRow,
      this.composer,
      this.endRow,
    );
    this.bind();
    this.update(conversation);
  }

  get id(): string {
    return this.conversation.id;
  }

  get ended(): boolean {
    return this.conversation.status === "ended";
  }

  update(conversation: ConversationView): void {
    if (!supersedes(this.conversation, conversation)) return;
    this.conversation = conversation;
    const left = conversation.customer_left_at;
    say(this.gone, left ? `The customer has left (closed the chat at ${clock.format(new Date(left))}). They may not see replies.` : "");
    show(this.gone, !!left && !this.ended);
    const name = conversation.visitor?.name || "Visitor";
    this.el.setAttribute("aria-label", `Conversation with ${name}`);
    say(this.title, name);
    say(this.state, this.ended ? "Ended" : conversation.status === "active" ? "Active" : "Waiting");
    this.showPage(conversation);
    show(this.composer, !this.ended);
    show(this.endRow, !this.ended);
    show(this.closeButton, this.ended);
    show(this.proposeRow, conversation.status === "active");
    const rated = conversation.rating;
    say(this.rating, rated ? `Rated ${rated.score} of 5${rated.comment ? `: “${rated.comment}”` : ""}` : "");
    this.rating.setAttribute("dir", "auto");
    show(this.rating, !!rated);
    show(this.outcomeRow, this.ended && this.outcome.options.length > 0);
    if (this.ended) {
      this.typing.set(null);
      this.signal.stop();
    }
  }

  /** Offer the site's outcome tags (once ended; none: nothing to pick). */
  offerOutcomes(tags: readonly string[]): void {
    if (!tags.length || this.outcome.options.length) return;
    this.outcome.append(h("option", { value: "" }, "Choose…"), ...tags.map((t) => h("option", { value: t }, t)));
    this.outcome.value = this.conversation.outcome ?? "";
    show(this.outcomeRow, this.ended);
  }

  /** The outcome was saved (here or in the wrap-up bar). */
  showOutcome(tag: string): void {
    if (this.outcome.options.length) this.outcome.value = tag;
    say(this.outcomeSaved, "Saved");
  }

  /** Show the running call's screen here, or none. */
  showCall(screen: HTMLElement | null): void {
    this.callArea.replaceChildren(...(screen ? [screen] : []));
    show(this.proposeChat, !!screen);
    if (screen) say(this.callNote, "");
  }

  note(text: string): void {
    say(this.callNote, text);
  }

  add(message: MessageView): void {
    this.addAll([message]);
  }

  /** Merge messages (a replay page): one scroll and one read marker for all of them. */
  addAll(messages: readonly MessageView[]): void {
    const added = messages.filter((m) => this.thread.add(m));
    if (!added.length) return;
    if (added.some((m) => m.sender === "customer")) this.typing.set(null);
    this.thread.follow();
    this.markRead();
  }

  error(message: string | null): void {
    say(this.problem, message ?? "");
    show(this.problem, !!message);
  }

  /** Tell the server what this staff member has seen (only while the tab is visible). */
  markRead(): void {
    const seq = this.thread.lastSeq;
    if (seq <= this.readSeq || document.visibilityState !== "visible" || this.ended) return;
    this.readSeq = seq;
    this.actions.read(this.id, seq);
  }

  focus(): void {
    this.reply.focus();
  }

  private bind(): void {
    this.composer.addEventListener("submit", (e) => {
      e.preventDefault();
      const body = this.reply.value.trim();
      if (!body) return;
      this.reply.value = "";
      this.signal.stop();
      this.error(null);
      this.actions.send(this.id, body);
      this.thread.follow(true);
    });
    this.reply.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        this.composer.requestSubmit();
      }
    });
    this.reply.addEventListener("input", () => this.signal.input());
    this.endButton.addEventListener("click", () => this.actions.end(this.id));
    this.closeButton.addEventListener("click", () => this.actions.close(this.id));
    this.outcome.addEventListener("change", () => {
      say(this.outcomeSaved, "");
      if (this.outcome.value) void this.actions.tag(this.id, this.outcome.value);
    });
  }

  private showPage(c: ConversationView): void {
    const url = c.visitor?.page_url;
    const label = c.visitor?.page_title || url;
    const language = c.language ? ` · ${c.language}` : "";
    const key = `${url} ${label} ${language}`;
    if (key === this.pageKey) return;
    this.pageKey = key;
    this.page.replaceChildren(url && label ? "On " : "Page unknown", url && label ? link(url, label) : "", language);
  }
}

function noteText(m: MessageView): string {
  const call = callNote(m, (side) => (side === "staff" ? "you" : "the customer"));
  if (call) return call;
  if (m.body === "joined") return `${m.author_name ?? "Someone"} joined`;
  if (m.body === "ended") return "Conversation ended";
  if (m.body === "requeued") return "Returned to the queue";
  return m.body;
}
