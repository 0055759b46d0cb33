import { io, type Socket } from "socket.io-client";
import type { DefaultEventsMap } from "@socket.io/component-emitter";
import {
  CustomerEvent,
  ErrorCode,
  ServerEvent,
  type Ack,
  type ConversationView,
  type MessageView,
  type StartConversation,
} from "../protocol.gen";
import { CatchUp } from "../shared/catchup";
import { isSafeLink, uid } from "../shared/dom";
import { Outbox, retryable } from "../shared/outbox";
import { Redial, SOCKET_OPTIONS } from "../shared/reconnect";
import { Thread, type Pending } from "../shared/thread";
import { TypingSignal } from "../shared/typing";
import {
  caller,
  refusal,
  supersedes,
  type Call,
  type CustomerCalls,
  type CustomerListen,
} from "../shared/wire";
import { FrameCalls } from "./calling";
import type { HostLink } from "./host";
import { noteText } from "./status";
import type { Store } from "./store";
import type { Actions, View } from "./view";

export interface FrameConfig {
  siteKey: string;
  siteName: string;
  greeting: string;
  /** The site's brand colour and the text colour that reads on it. */
  color?: string;
  ink?: string;
  /** The channels the site offers: "chat", "voice", "video", "oneway". */
  channels?: string[];
  /** Show the answering staff member's initials in the header. */
  showStaff?: boolean;
  host: string;
  instance: string;
}

const LANGUAGE = /^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8}){0,2}$/;
const RETRY_MS = 3000;

/** The customer's side of one conversation at a time.
 *
 * States: no conversation (the first message starts one) → queued → ringing → active →
 * ended (then "Start again"). The socket reconnects forever; on every connect the stored
 * conversation is resumed from the last seq held and the outbox is resent in order. */
export class Chat implements Actions {
  private conversation: ConversationView | null = null;
  private readonly socket: Socket<CustomerListen, DefaultEventsMap>;
  private readonly call: Call<CustomerCalls>;
  private readonly outbox: Outbox;
  private readonly thread: Thread;
  private readonly typing: TypingSignal;
  private starting: Promise<ConversationView | null> | null = null;
  private readonly catchUp: CatchUp;
  private page: { url: string; title: string } | null = null;
  private pageSent = "";
  private hostOpen = true;
  private unread = 0;
  private followed = false;
  private readSeq = 0;
  private readonly redial: Redial;
  private wanted: "chat" | "voice" | "video" | "oneway" = "chat";
  private readonly calls: FrameCalls;

  constructor(
    private readonly config: FrameConfig,
    private readonly view: View,
    private readonly host: HostLink,
    private readonly store: Store,
  ) {
    this.thread = new Thread(view.log, {
      me: "customer",
      them: "Staff",
      note: (m) => noteText(m, this.conversation?.assignee?.name),
    });
    this.catchUp = new CatchUp(() => this.thread.through, (after) => this.fetchPage(after));
    this.outbox = new Outbox(store.shelf());
    this.outbox.all.forEach((item) => this.thread.pend(item));
    this.typing = new TypingSignal((typing) => this.signal(typing));
    this.socket = io(`${location.origin}/customer`, {
      ...SOCKET_OPTIONS,
      // A function, so a token stored after the first connect is sent on reconnect.
      auth: (cb) => cb(this.auth()),
    });
    this.redial = new Redial(this.socket);
    this.call = caller<CustomerCalls>(this.socket);
    this.calls = new FrameCalls(this.call, view, () => this.open()?.id ?? null, () => this.conversation?.assignee?.name ?? "The staff member");
    this.calls.listen(this.socket);
    this.listen();
    document.addEventListener("visibilitychange", () => this.markRead());
  }

  // -- actions from the view ---------------------------------------------------------

  send(text: string): void {
    const body = text.trim();
    if (!body) return;
    const item: Pending = {
      conversation_id: this.open()?.id ?? null,
      client_msg_id: uid(),
      body,
      created_at: Date.now(),
    };
    this.outbox.add(item);
    this.thread.pend(item);
    this.thread.follow(true);
    this.typing.stop();
    this.view.error(null);
    void this.flush();
  }

  input(): void {
    if (this.open()) this.typing.input();
  }

  cancel(): void {
    void this.leave();
  }

  end(): void {
    void this.leave();
  }

  async rate(score: number, comment: string): Promise<boolean> {
    const id = this.conversation?.id;
    if (!id) return false;
    const ack = await this.call(CustomerEvent.CONVERSATION_RATE, { conversation_id: id, score, comment });
    if (ack.ok) this.apply(ack.conversation);
    else this.view.error(ack.error.message);
    return ack.ok;
  }

  again(): void {
    this.forget();
    void this.ensureConversation().then(() => this.view.focus());
  }

  resend(): void {
    this.forget(); // the held messages go to the next conversation, which flush() starts
    void this.flush();
  }

  discard(): void {
    const held = this.outbox.all.filter((item) => item.stranded);
    held.forEach((item) => this.thread.drop(item.client_msg_id));
    this.outbox.retain((item) => !item.stranded);
    this.showStranded();
  }

  channel(channel: "chat" | "voice" | "video" | "oneway"): void {
    if (this.open()?.status === "active") return void this.calls.choose(channel);
    if (this.open() || channel === "chat") return;
    this.wanted = channel;
    void this.ensureConversation().then(() => (this.wanted = "chat"));
  }

  precheck(): void {
    const token = this.store.get("token");
    if (!token) return this.view.error("Not connected yet. Try again in a moment.");
    this.calls.precheck({ Authorization: `Bearer ${token}`, "X-Porchlight-Site": this.config.siteKey });
  }

  minimise(): void {
    this.host.post({ type: "close" });
  }

  // -- the host page -------------------------------------------------------------------

  hostPage(url: string, title: string): void {
    this.page = isSafeLink(url) && url.length <= 2048 ? { url, title: title.trim().slice(0, 300) } : null;
    void this.sendPage();
  }

  hostOpened(open: boolean): void {
    this.hostOpen = open;
    if (!open) return;
    this.unread = 0;
    this.host.post({ type: "unread", count: 0 });
    this.thread.follow(true);
    this.markRead();
    this.view.focus();
  }

  // -- socket ----------------------------------------------------------------------------

  private listen(): void {
    const s = this.socket;
    s.on("connect", () => {
      this.redial.connected();
      this.view.online(true);
      void this.resume();
    });
    s.on("disconnect", (reason) => {
      this.view.online(false);
      if (reason !== "io client disconnect") this.redial.lost();
    });
    s.on("connect_error", (err) => this.refused(err));
    s.on(ServerEvent.SESSION, ({ token }) => this.store.set("token", token));
    s.on(ServerEvent.CONVERSATION_STATE, ({ conversation }) => this.apply(conversation));
    s.on(ServerEvent.MESSAGE_NEW, ({ message }) => this.receive(message));
    s.on(ServerEvent.TYPING, (e) => {
      if (e.side !== "staff" || e.conversation_id !== this.conversation?.id) return;
      const name = this.conversation.assignee?.name ?? "Someone";
      this.view.typing.set(e.typing ? `${name} is typing…` : null);
    });
  }

  private auth(): { site: string; host: string; token?: string } {
    const token = this.store.get("token");
    const auth = { site: this.config.siteKey, host: this.config.host };
    return token ? { ...auth, token } : auth;
  }

  private refused(err: Error): void {
    const code = refusal(err)?.code;
    if (code === ErrorCode.ORIGIN_NOT_ALLOWED || code === ErrorCode.SITE_UNKNOWN) {
      this.socket.disconnect();
      this.view.blocked();
      return;
    }
    this.view.online(false);
    if (code === ErrorCode.TOKEN_INVALID || code === ErrorCode.AUTH_REQUIRED) {
      const hadToken = this.store.get("token") !== null;
      this.store.set("token", null);
      if (hadToken) return void this.socket.connect();
    }
    this.redial.lost();
  }

  // -- conversation ------------------------------------------------------------------------

  private async resume(): Promise<void> {
    const id = this.store.get("conversation");
    if (id) {
      const ack = await this.call(CustomerEvent.CONVERSATION_RESUME, {
        conversation_id: id,
        last_seq: this.thread.through,
      });
      if (ack.ok) {
        this.replay(ack.conversation, ack.messages);
        this.calls.resumed(ack.call); // a page cut short (`more`) is followed up by apply()
      } else if (ack.error.code === ErrorCode.CONVERSATION_NOT_FOUND) this.forget();
      else if (retryable(ack)) return void setTimeout(() => this.resume(), RETRY_MS);
    }
    await this.flush();
  }

  private replay(conversation: ConversationView, messages: MessageView[]): void {
    if (supersedes(this.conversation, conversation)) this.conversation = conversation;
    // One read marker for the page, not one per message (events are rate limited).
    let added = false;
    for (const message of messages) added = this.take(message) || added;
    if (added) this.shown();
    this.apply(conversation);
  }

  // One page of the catch-up that fills a gap in seqs (missed hints, a long absence).
  private async fetchPage(after: number): Promise<boolean | null> {
    const id = this.conversation?.id;
    if (!id || !this.socket.connected) return null;
    const ack = await this.call(CustomerEvent.CONVERSATION_RESUME, { conversation_id: id, last_seq: after });
    if (!ack.ok || ack.conversation.id !== this.conversation?.id) return null;
    this.replay(ack.conversation, ack.messages);
    return ack.more ?? false;
  }

  private apply(conversation: ConversationView): void {
    if (conversation.id !== this.store.get("conversation")) return;
    // A late view (emitted before the one shown) would put an accepted customer back in
    // the queue, where the call buttons do nothing.
    if (!supersedes(this.conversation, conversation)) return;
    this.conversation = conversation;
    this.view.state(conversation);
    if (conversation.status === "ended") {
      this.typing.stop();
      this.calls.stop();
      this.outbox.strand(conversation.id);
    }
    this.showStranded();
    if (conversation.last_seq > this.thread.through) void this.catchUp.run();
  }

  private receive(message: MessageView): void {
    if (message.conversation_id !== this.conversation?.id) return;
    if (message.seq > this.thread.through + 1) void this.catchUp.run();
    if (this.take(message)) this.shown();
  }

  /** Merge a message into the thread; false if it was held already. */
  private take(message: MessageView): boolean {
    if (message.conversation_id !== this.conversation?.id || !this.thread.add(message)) return false;
    if (message.sender === "staff" && message.kind === "text") {
      this.view.typing.set(null);
      if (!this.hostOpen) this.host.post({ type: "unread", count: ++this.unread });
    }
    return true;
  }

  private shown(): void {
    // A conversation resumed after a reload opens at its newest message.
    this.thread.follow(!this.followed);
    this.followed = true;
    this.markRead();
  }

  private ensureConversation(): Promise<ConversationView | null> {
    const open = this.open();
    if (open) return Promise.resolve(open);
    this.starting ??= this.start().finally(() => (this.starting = null));
    return this.starting;
  }

  private async start(): Promise<ConversationView | null> {
    const ack = await this.call(CustomerEvent.CONVERSATION_START, this.startPayload());
    if (!ack.ok) {
      if (!retryable(ack)) this.fail(ack, null);
      return null;
    }
    const conversation = ack.conversation;
    this.store.set("conversation", conversation.id);
    this.outbox.move(null, conversation.id);
    this.apply(conversation);
    void this.sendPage();
    return conversation;
  }

  private startPayload(): StartConversation {
    const payload: StartConversation = { channel: this.wanted };
    if (LANGUAGE.test(navigator.language)) payload.language = navigator.language;
    if (this.page) {
      payload.page_url = this.page.url;
      if (this.page.title) payload.page_title = this.page.title;
    }
    return payload;
  }

  private async leave(): Promise<void> {
    const id = this.conversation?.id;
    if (!id) return;
    const ack = await this.call(CustomerEvent.CONVERSATION_END, { conversation_id: id });
    if (ack.ok) this.apply(ack.conversation);
    else this.view.error(ack.error.message);
    // The button pressed is gone now: focus goes to what comes next, not to the page.
    this.view.focus();
  }

  /** Drop the stored conversation and everything shown of it. Messages still unsent go to
   * the next conversation rather than being lost. */
  private forget(): void {
    const id = this.conversation?.id ?? this.store.get("conversation");
    this.store.set("conversation", null);
    this.conversation = null;
    this.thread.clear();
    this.outbox.move(id, null);
    this.outbox.all.forEach((item) => this.thread.pend(item));
    this.readSeq = 0;
    this.pageSent = "";
    this.calls.stop();
    this.view.state(null);
    this.view.stranded(0);
  }

  /** Messages held back because their conversation ended before they were sent: kept on
   * screen as "Not sent", with the offer to send them in a new conversation. */
  private showStranded(): void {
    const id = this.conversation?.id;
    const held = this.outbox.all.filter((item) => item.stranded && item.conversation_id === id);
    held.forEach((item) => this.thread.unsent(item.client_msg_id));
    this.view.stranded(held.length);
  }

  // -- outbox ------------------------------------------------------------------------------

  private async flush(): Promise<void> {
    if (!this.socket.connected || !this.outbox.all.length) return;
    if (this.outbox.all.some((item) => item.conversation_id === null)) {
      if (!(await this.ensureConversation())) return void this.later();
    }
    const sent = await this.outbox.drain(
      (item) =>
        this.call(CustomerEvent.MESSAGE_SEND, {
          conversation_id: item.conversation_id,
          client_msg_id: item.client_msg_id,
          body: item.body,
        }),
      (item, ack) => {
        if (ack.ok) this.receive(ack.message);
        else this.fail(ack, item);
        this.showStranded(); // one held by an end that raced its acknowledgement is gone now
      },
    );
    if (!sent) this.later();
  }

  private later(): void {
    setTimeout(() => void this.flush(), RETRY_MS);
  }

  /** A message (or, for null, a start) was refused for good: say why and drop what can
   * no longer be sent. A message refused because its conversation ended is kept instead
   * (the outbox strands it) for the customer to send in a new conversation. */
  private fail(ack: Ack & { ok: false }, refused: Pending | null): void {
    const conversationId = refused?.conversation_id ?? null;
    const code = ack.error.code;
    if (code === ErrorCode.CONVERSATION_ENDED && conversationId) {
      if (this.conversation?.id === conversationId) this.apply({ ...this.conversation, status: "ended" });
      return;
    }
    if (refused) this.thread.drop(refused.client_msg_id);
    else {
      const dead = (item: Pending) => item.conversation_id === conversationId;
      this.outbox.all.filter(dead).forEach((item) => this.thread.drop(item.client_msg_id));
      this.outbox.retain((item) => !dead(item));
    }
    if (code === ErrorCode.CONVERSATION_NOT_FOUND) {
      this.forget();
      this.later();
    } else {
      this.view.error(ack.error.message);
    }
  }

  // -- small signals -------------------------------------------------------------------

  private signal(typing: boolean): void {
    const id = this.open()?.id;
    if (id) void this.call(CustomerEvent.TYPING, { conversation_id: id, typing });
  }

  private markRead(): void {
    const id = this.conversation?.id;
    const seq = this.thread.lastSeq;
    if (!id || seq <= this.readSeq || !this.hostOpen || document.visibilityState !== "visible") return;
    this.readSeq = seq;
    void this.call(CustomerEvent.READ, { conversation_id: id, seq });
  }

  private async sendPage(): Promise<void> {
    const page = this.page;
    const id = this.open()?.id;
    if (!page || !id) return;
    const key = `${id} ${page.url} ${page.title}`;
    if (key === this.pageSent) return;
    this.pageSent = key;
    const ack = await this.call(CustomerEvent.PAGE_VIEW, { conversation_id: id, ...page });
    if (!ack.ok) this.pageSent = "";
  }

  /** The conversation if it can still be written to. */
  private open(): ConversationView | null {
    return this.conversation?.status === "ended" ? null : this.conversation;
  }
}
