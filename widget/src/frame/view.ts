import { MAX_BODY_CHARS, type ConversationView } from "../protocol.gen";
import { button, h, initials, say, show } from "../shared/dom";
import { TypingLine } from "../shared/typing";
import type { Rating } from "../rating/main";
import { statusText } from "./status";

type RatingModule = typeof import("../rating/main");

/** What the visitor can do; the chat controller implements it. */
export interface Actions {
  send(text: string): void;
  input(): void;
  cancel(): void;
  end(): void;
  /** Rate the ended conversation; true once stored. */
  rate(score: number, comment: string): Promise<boolean>;
  again(): void;
  /** Send the messages held back by an ended conversation in a new one. */
  resend(): void;
  /** Drop the messages held back by an ended conversation. */
  discard(): void;
  minimise(): void;
  /** Start or switch to a channel ("chat" ends a running call). */
  channel(channel: "chat" | "voice" | "video" | "oneway"): void;
  precheck(): void;
}

type CallChannel = "voice" | "video" | "oneway";

/** The frame's DOM. It shows state and reports intent; it holds no conversation logic. */
export class View {
  readonly log = h("div", { class: "log", role: "log", "aria-label": "Conversation" });
  readonly typing = new TypingLine(h("p", { class: "typing" }));
  private readonly status = h("p", { class: "status", role: "status" });
  private readonly notice = h("p", { class: "notice", "aria-live": "polite", hidden: true });
  private readonly problem = h("p", { class: "problem", role: "alert", hidden: true });
  private readonly field = h("textarea", {
    id: "message",
    rows: 1,
    maxlength: MAX_BODY_CHARS,
    placeholder: "Type your message…",
    autocomplete: "off",
  });
  private readonly composer = h(
    "form",
    { class: "composer" },
    h("label", { for: "message", class: "sr" }, "Message"),
    this.field,
    h("button", { type: "submit", class: "primary" }, "Send"),
  );
  private readonly cancel = button("Cancel", { class: "quiet", hidden: true });
  private readonly end = button("End chat", { class: "quiet", hidden: true });
  private readonly again = button("Start again", { class: "primary", hidden: true });
  private readonly heldText = h("p", {});
  private readonly resend = button("Send in a new conversation", { class: "primary" });
  private readonly discard = button("Don't send", { class: "quiet" });
  private readonly held = h("div", { class: "held", role: "alert", hidden: true }, this.heldText, h("div", {}, this.resend, this.discard));
  private heldCount = 0;
  // The rating form (its own chunk), loaded when a conversation first ends.
  private rating: Promise<Rating> | null = null;
  private readonly ratingSlot = h("div", {});
  private rated: ConversationView | null = null;
  private actions: Actions | null = null;
  private readonly video = button("Video call");
  private readonly voice = button("Voice call");
  private readonly oneway = button("See them only");
  private readonly chat = button("Back to chat");
  private readonly check = button("Check my camera and connection", { class: "quiet" });
  private readonly channels = h("div", { class: "channels" }, this.video, this.voice, this.oneway, this.chat, this.check);
  private readonly callArea = h("div", { class: "call-area" });
  private readonly callNoteLine = h("p", { class: "call-note", "aria-live": "polite", hidden: true });
  private readonly problemText = h("p", {});
  private readonly byVoice = button("Continue by voice", { class: "primary" });
  private readonly inChat = button("Continue in chat");
  private readonly mediaProblem = h(
    "div",
    { class: "call-problem", role: "alert", hidden: true },
    this.problemText,
    h("div", { class: "channels" }, this.byVoice, this.inChat),
  );
  private readonly dialogs = h("div", {});
  private readonly offlineSlot = h("div", { hidden: true });
  // The offline path stands in for live chat (nobody can answer a new conversation).
  private blocking = false;
  private conversation: ConversationView | null = null;
  private running: CallChannel | null = null;
  private readonly minimise = button("—", {
    class: "minimise",
    "aria-label": "Minimise",
    title: "Minimise",
  });

  private readonly offered: Set<string>;
  private readonly bar = h("div", { class: "bar" }, this.status, this.cancel, this.end);
  private readonly who = h("span", { class: "who", hidden: true });

  constructor(
    siteName: string,
    greeting: string,
    channels: string[] = ["chat", "voice", "video", "oneway"],
    private readonly showStaff = true,
  ) {
    this.offered = new Set(channels);
    document.body.append(
      h("header", { class: "top" }, this.who, h("h1", {}, siteName || "Chat"), this.minimise),
      h(
        "main",
        { class: "body" },
        this.notice,
        this.bar,
        this.offlineSlot,
        this.channels,
        this.dialogs,
        this.mediaProblem,
        this.callNoteLine,
        this.callArea,
        // Focusable, so keyboard users can scroll back through the conversation.
        h(
          "div",
          { class: "scroll", tabindex: 0, role: "region", "aria-label": "Chat history" },
          h("p", { class: "greeting", dir: "auto" }, greeting),
          this.log,
          this.typing.el,
        ),
        this.problem,
        h("div", { class: "foot" }, this.ratingSlot, this.held, this.again, this.composer),
      ),
    );
    // The fresh state until the conversation (if any) is known: no "Back to chat" yet.
    this.showChannels();
  }

  /** Show the conversation's state, or the fresh "say something" state for null. */
  state(c: ConversationView | null): void {
    const waiting = c?.status === "queued" || c?.status === "ringing";
    say(this.status, c ? statusText(c) : "");
    // A fresh widget has nothing to say here: no empty strip under the header.
    show(this.bar, !!c);
    show(this.cancel, waiting);
    show(this.end, c?.status === "active");
    show(this.again, c?.status === "ended" && !this.heldCount);
    // A message left for later ended with nobody answering: nothing to rate.
    this.rate(c?.status === "ended" && !c.offline ? c : null);
    // A site that offers no chat starts conversations with a call only.
    show(this.composer, c ? c.status !== "ended" : this.offered.has("chat") && !this.blocking);
    const staff = c?.status === "active" && this.showStaff ? c.assignee?.name : undefined;
    say(this.who, staff ? initials(staff) : "");
    this.who.title = staff ?? "";
    show(this.who, !!staff);
    if (c?.status === "ended") this.typing.set(null);
    this.conversation = c;
    this.showChannels();
  }

  private rate(c: ConversationView | null): void {
    this.rated = c;
    if (!c && !this.rating) return;
    this.rating ??= (import(document.body.dataset.ratingSrc ?? "") as Promise<RatingModule>).then(({ Rating }) => {
      const form = new Rating();
      if (this.actions) form.bind(this.actions);
      this.ratingSlot.append(form.el);
      return form;
    });
    void this.rating.then((form) => form.show(this.rated));
  }

  /** The offline path (null: none). `blocking`: instead of starting a live conversation. */
  offline(el: HTMLElement | null, blocking: boolean): void {
    this.blocking = !!el && blocking;
    this.offlineSlot.replaceChildren(...(el ? [el] : []));
    show(this.offlineSlot, !!el);
    this.state(this.conversation);
    if (this.blocking) el?.querySelector("input")?.focus();
  }

  /** `count` messages were held back because the conversation ended first: say so, and
   * offer to send them in a new conversation (in place of "Start again") or not at all. */
  stranded(count: number): void {
    this.heldCount = count;
    const what = count > 1 ? "your messages were" : "your message was";
    say(this.heldText, `This conversation ended before ${what} sent.`);
    show(this.held, count > 0);
    show(this.again, this.conversation?.status === "ended" && !count);
  }

  /** The channel of the running call, or null for none. */
  callChannel(channel: CallChannel | null): void {
    this.running = channel;
    if (!channel) this.callArea.replaceChildren();
    this.showChannels();
  }

  showCall(screen: HTMLElement | null): void {
    this.callArea.replaceChildren(...(screen ? [screen] : []));
  }

  callNote(text: string | null): void {
    say(this.callNoteLine, text ?? "");
    show(this.callNoteLine, !!text);
  }

  /** Media could not start: why, and (unless voice failed) the offer to go on by voice. */
  callProblem(text: string | null, voice = true): void {
    say(this.problemText, text ?? "");
    show(this.byVoice, voice && this.offered.has("voice"));
    show(this.mediaProblem, !!text);
  }

  /** The staff member asks to switch; `answer` gets the visitor's choice once. */
  proposal(text: string, answer: (accept: boolean) => void): void {
    const accept = button("Accept", { class: "primary" });
    const decline = button("Decline");
    const dialog = h("div", { class: "call-problem", role: "alertdialog", "aria-label": "Call request" }, h("p", {}, text), h("div", { class: "channels" }, accept, decline));
    const reply = (yes: boolean) => {
      dialog.remove();
      answer(yes);
    };
    accept.addEventListener("click", () => reply(true));
    decline.addEventListener("click", () => reply(false));
    this.dialogs.replaceChildren(dialog);
    accept.focus();
  }

  private showChannels(): void {
    const c = this.conversation;
    const fresh = !c && !this.blocking;
    const active = c?.status === "active";
    const has = (channel: string) => this.offered.has(channel);
    const calls = has("voice") || has("video") || has("oneway");
    show(this.video, has("video") && (fresh || (active && this.running !== "video")));
    show(this.voice, has("voice") && (fresh || (active && this.running !== "voice")));
    show(this.oneway, has("oneway") && fresh);
    show(this.check, calls && (fresh || (active && !this.running)));
    show(this.chat, active && !!this.running);
    show(this.channels, fresh || active);
    if (!active && !fresh) this.dialogs.replaceChildren();
  }

  online(connected: boolean): void {
    say(this.notice, "Reconnecting…");
    show(this.notice, !connected);
  }

  /** The site refused this embedding: say so plainly and offer nothing else. */
  blocked(): void {
    say(this.status, "Chat isn't available on this site.");
    show(this.bar, true);
    for (const el of [this.cancel, this.end, this.again, this.composer, this.notice]) show(el, false);
  }

  error(message: string | null): void {
    say(this.problem, message ?? "");
    show(this.problem, !!message);
  }

  focus(): void {
    if (!this.held.hidden) this.resend.focus();
    else if (!this.composer.hidden) this.field.focus();
    else if (!this.again.hidden) this.again.focus();
  }

  /** Route the visitor's intents to `actions`. */
  bind(actions: Actions): void {
    this.actions = actions;
    this.cancel.addEventListener("click", () => actions.cancel());
    this.end.addEventListener("click", () => actions.end());
    this.again.addEventListener("click", () => actions.again());
    this.resend.addEventListener("click", () => actions.resend());
    this.discard.addEventListener("click", () => actions.discard());
    this.minimise.addEventListener("click", () => actions.minimise());
    const pick = (el: HTMLElement, channel: "chat" | CallChannel) =>
      el.addEventListener("click", () => {
        this.callProblem(null);
        this.callNote(null);
        actions.channel(channel);
      });
    this.check.addEventListener("click", () => actions.precheck());
    pick(this.video, "video");
    pick(this.voice, "voice");
    pick(this.oneway, "oneway");
    pick(this.chat, "chat");
    pick(this.byVoice, "voice");
    pick(this.inChat, "chat");
    this.composer.addEventListener("submit", (e) => {
      e.preventDefault();
      const text = this.field.value;
      if (!text.trim()) return;
      this.field.value = "";
      this.fit();
      actions.send(text);
    });
    this.field.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        this.composer.requestSubmit();
      }
    });
    this.field.addEventListener("input", () => {
      this.fit();
      actions.input();
    });
    document.addEventListener("keydown", (e) => {
      if (e.key === "Escape") actions.minimise();
    });
  }

  // Grow with the text up to a few lines (CSSOM writes are allowed by the CSP).
  private fit(): void {
    this.field.style.height = "auto";
    this.field.style.height = `${Math.min(this.field.scrollHeight, 140)}px`;
  }
}
