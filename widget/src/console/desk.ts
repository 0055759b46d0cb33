import type { DefaultEventsMap } from "@socket.io/component-emitter";
import { io, type Socket } from "socket.io-client";
import {
  ErrorCode,
  ServerEvent,
  StaffEvent,
  type Ack,
  type ConversationView,
  type MessageView,
} from "../protocol.gen";
import { CatchUp } from "../shared/catchup";
import { button, h, say, show, uid } from "../shared/dom";
import { memoryShelf, Outbox } from "../shared/outbox";
import { Redial, SOCKET_OPTIONS } from "../shared/reconnect";
import type { Pending } from "../shared/thread";
import {
  caller,
  refusal,
  supersedes,
  type Call,
  type AwayReason,
  type Presence,
  type StaffCalls,
  type StaffListen,
  type SyncReply,
} from "../shared/wire";
import { logout, logoutEverywhere, outcomeTags, RequestError, type Session } from "./api";
import { ConsoleCalls, mediaReadiness } from "./calls";
import { precheckPanel } from "../call/main";
import { Panel, type PanelActions } from "./panel";
import { QueueList } from "./queue";
import { askToNotify, Rings, type Answer } from "./ring";
import { WrapUpBar, type WrapUpActions } from "./wrapup";

const AWAY_REASONS: [AwayReason, string][] = [
  ["break", "Break"],
  ["lunch", "Lunch"],
  ["training", "Training"],
  ["other", "Other"],
];

type Wanted = { status: "available"; reason: null } | { status: "away"; reason: AwayReason | null };

function asReason(value: string | undefined): AwayReason | null {
  return AWAY_REASONS.find(([reason]) => reason === value)?.[0] ?? null;
}

/** The signed-in console: presence, rings, the queue and the conversations being handled.
 * On every (re)connect it sends `sync` with the last seq of each open panel and rebuilds
 * from the answer; messages typed meanwhile wait in an in-memory outbox. */
export class Desk implements PanelActions, Answer, WrapUpActions {
  readonly el: HTMLElement;
  private readonly socket: Socket<StaffListen, DefaultEventsMap>;
  private readonly call: Call<StaffCalls>;
  private readonly panels = new Map<string, Panel>();
  private readonly catchUps = new Map<string, CatchUp>();
  private readonly grid = h("div", { class: "grid" });
  private readonly rings = new Rings(this);
  private readonly queue = new QueueList();
  private readonly outbox = new Outbox(memoryShelf());
  private readonly notice = h("p", { class: "notice", "aria-live": "polite", hidden: true });
  private readonly problem = h("p", { class: "problem", role: "alert", hidden: true });
  private readonly presence = h(
    "select",
    { id: "presence" },
    h("option", { value: "available" }, "Available"),
    h("option", { value: "away" }, "Away"),
    h(
      "optgroup",
      { label: "Away for" },
      ...AWAY_REASONS.map(([reason, label]) => h("option", { value: `away:${reason}` }, label)),
    ),
  );
  private readonly wrapup = new WrapUpBar(this);
  private readonly tags = new Map<string, Promise<string[]>>();
  private readonly redial: Redial;
  /** A presence chosen but not yet confirmed by the server (e.g. picked while reconnecting). */
  private wanted: Wanted | null = null;
  private readonly calls: ConsoleCalls;

  constructor(
    private readonly session: Session,
    productName: string,
    private readonly signedOut: (notice?: string) => void,
    settingsUrl?: string,
  ) {
    const signOut = button("Sign out");
    signOut.addEventListener("click", () => void this.signOut());
    const everywhere = button("Sign out everywhere", {
      title: "Also signs you out in every other browser and device",
    });
    everywhere.addEventListener("click", () => void this.signOutEverywhere(everywhere));
    const check = button("Check my camera and connection");
    const checkArea = h("div", { class: "checks-area" });
    check.addEventListener("click", () =>
      checkArea.replaceChildren(
        precheckPanel({ headers: { "X-CSRF-Token": session.csrf_token } }, () => checkArea.replaceChildren()),
      ),
    );
    this.presence.addEventListener("change", () => void this.setPresence());
    this.el = h(
      "div",
      { class: "desk" },
      h(
        "header",
        { class: "top" },
        h("h1", {}, productName),
        h("span", { class: "me" }, session.staff.name),
        h("label", { for: "presence" }, "Presence"),
        this.presence,
        check,
        settingsUrl ? h("a", { href: settingsUrl, class: "settings" }, "Settings") : null,
        signOut,
        everywhere,
      ),
      this.wrapup.el,
      checkArea,
      this.notice,
      this.problem,
      this.rings.el,
      h("main", { class: "work" }, this.queue.el, this.grid),
    );
    // Any click is a user gesture that lets the ring tone play later.
    this.el.addEventListener("click", () => this.rings.sound.unlock(), { once: true });
    this.socket = io("/staff", SOCKET_OPTIONS);
    this.redial = new Redial(this.socket);
    this.call = caller<StaffCalls>(this.socket);
    this.calls = new ConsoleCalls(this.call, {
      showCall: (id, screen) => this.panels.get(id)?.showCall(screen),
      note: (id, text) => this.panels.get(id)?.note(text),
    });
    this.calls.listen(this.socket);
    this.listen();
    document.addEventListener("visibilitychange", this.onVisible);
  }

  // -- rings ------------------------------------------------------------------------------

  accept(conversationId: string): void {
    this.rings.remove(conversationId);
    void this.call(StaffEvent.RING_ACCEPT, { conversation_id: conversationId }).then((ack) => {
      if (!ack.ok) return this.say(ack.error.message);
      const panel = this.replay(ack.conversation, ack.messages);
      panel.focus();
      if (ack.more) void this.catchUp(panel);
      if (ack.call) this.calls.state(ack.call);
    });
  }

  decline(conversationId: string): void {
    this.rings.remove(conversationId);
    void this.call(StaffEvent.RING_DECLINE, { conversation_id: conversationId });
  }

  // -- wrap-up -----------------------------------------------------------------------------

  ready(): void {
    void this.call(StaffEvent.WRAPUP_END, {}).then((ack) => {
      if (ack.ok) this.wrapup.show(null);
      else this.say(ack.error.message);
    });
  }

  extend(): void {
    void this.call(StaffEvent.WRAPUP_EXTEND, { seconds: 30 }).then((ack) => {
      if (ack.ok) this.wrapup.show(ack.wrapup);
      else this.say(ack.error.message);
    });
  }

  async tag(conversationId: string, tag: string): Promise<boolean> {
    const ack = await this.call(StaffEvent.CONVERSATION_TAG, { conversation_id: conversationId, tag });
    if (!ack.ok) {
      this.say(ack.error.message);
      return false;
    }
    this.panels.get(conversationId)?.showOutcome(ack.tag);
    this.wrapup.showOutcome(conversationId, ack.tag);
    return true;
  }

  /** Once a panel's conversation has ended, offer its site's outcomes (read once a site). */
  private offerOutcomes(panel: Panel): void {
    if (!panel.ended) return;
    const key = panel.conversation.site_key;
    let tags = this.tags.get(key);
    if (!tags) {
      tags = outcomeTags(key).catch(() => {
        this.tags.delete(key); // asked again for the next panel
        this.say("Couldn't load this site's outcomes; the next conversation asks again.");
        return [];
      });
      this.tags.set(key, tags);
    }
    void tags.then((list) => panel.offerOutcomes(list));
  }

  // -- panel actions -----------------------------------------------------------------------

  send(conversationId: string, body: string): void {
    const item: Pending = {
      conversation_id: conversationId,
      client_msg_id: uid(),
      body,
      created_at: Date.now(),
    };
    this.outbox.add(item);
    this.panels.get(conversationId)?.thread.pend(item);
    void this.flush();
  }

  end(conversationId: string): void {
    void this.call(StaffEvent.CONVERSATION_END, { conversation_id: conversationId }).then((ack) => {
      const panel = this.panels.get(conversationId);
      if (!ack.ok) return panel?.error(ack.error.message);
      panel?.update(ack.conversation);
      if (panel) this.offerOutcomes(panel);
    });
  }

  propose(conversationId: string, channel: "chat" | "voice" | "video"): void {
    void this.calls.propose(conversationId, channel);
  }

  close(conversationId: string): void {
    this.calls.ended(conversationId);
    this.panels.get(conversationId)?.el.remove();
    this.panels.delete(conversationId);
    this.catchUps.delete(conversationId);
  }

  typing(conversationId: string, typing: boolean): void {
    void this.call(StaffEvent.TYPING, { conversation_id: conversationId, typing });
  }

  read(conversationId: string, seq: number): void {
    void this.call(StaffEvent.READ, { conversation_id: conversationId, seq });
  }

  // -- socket ------------------------------------------------------------------------------

  private listen(): void {
    const s = this.socket;
    s.on("connect", () => {
      this.redial.connected();
      show(this.notice, false);
      void this.sync();
    });
    s.on("disconnect", (reason) => {
      if (reason === "io client disconnect") return; // signed out
      this.reconnecting();
      this.redial.lost();
    });
    s.on("connect_error", (err) => {
      const code = refusal(err)?.code;
      if (code === ErrorCode.AUTH_REQUIRED) return this.leave("Please sign in again.");
      this.reconnecting();
      this.redial.lost();
    });
    s.on(ServerEvent.RING, (ring) => this.rings.show(ring));
    s.on(ServerEvent.RING_CANCELLED, ({ conversation_id }) => this.rings.remove(conversation_id));
    s.on(ServerEvent.QUEUE_CHANGED, (change) => this.queue.change(change));
    s.on(ServerEvent.PRESENCE, ({ status, reason }) => this.showPresence(status, reason));
    s.on(ServerEvent.WRAPUP, ({ wrapup }) => this.wrapup.show(wrapup));
    s.on(ServerEvent.CONVERSATION_STATE, ({ conversation }) => this.apply(conversation));
    s.on(ServerEvent.MESSAGE_NEW, ({ message }) => this.receive(message));
    s.on(ServerEvent.TYPING, (e) => {
      if (e.side !== "customer") return;
      this.panels.get(e.conversation_id)?.typing.set(e.typing ? "Customer is typing…" : null);
    });
  }

  private reconnecting(): void {
    say(this.notice, "Reconnecting…");
    show(this.notice, true);
  }

  private async sync(): Promise<void> {
    const last_seqs: Record<string, number> = {};
    for (const panel of this.panels.values()) {
      if (!panel.ended) last_seqs[panel.id] = panel.thread.through;
    }
    const ack = await this.call(StaffEvent.SYNC, { last_seqs });
    if (!ack.ok) {
      this.say(ack.error.message);
      return void setTimeout(() => void this.sync(), 3000);
    }
    this.restore(ack);
    await this.sendPresence();
    await this.flush();
  }

  private restore(state: SyncReply): void {
    if (this.wanted) this.showPresence(this.wanted.status, this.wanted.reason);
    else this.showPresence(state.presence, state.reason);
    this.wrapup.show(state.wrapup ?? null);
    state.conversations.forEach((c) => this.panel(c).update(c));
    for (const panel of this.panels.values()) {
      panel.addAll(state.messages.filter((m) => m.conversation_id === panel.id));
    }
    for (const id of state.more ?? []) {
      const panel = this.panels.get(id);
      if (panel) void this.catchUp(panel);
    }
    this.rings.retain(new Set(state.rings.map((r) => r.conversation.id)));
    state.rings.forEach((r) => this.rings.show(r));
    this.queue.set(state.queue);
    this.calls.synced(state.calls ?? []);
  }

  // -- conversations -----------------------------------------------------------------------

  private apply(conversation: ConversationView): void {
    const mine = String(conversation.assignee?.id) === String(this.session.staff.id);
    const panel = this.panels.get(conversation.id);
    if (panel && !supersedes(panel.conversation, conversation)) return; // a late hint
    if (conversation.status === "ended") this.calls.ended(conversation.id);
    if (panel) {
      panel.update(conversation);
      this.offerOutcomes(panel);
    }
    // Taken in another tab of this staff member: open it here too and fetch its messages.
    else if (mine && conversation.status === "active") void this.catchUp(this.panel(conversation));
    if (panel && conversation.last_seq > panel.thread.through) void this.catchUp(panel);
  }

  private receive(message: MessageView): void {
    const panel = this.panels.get(message.conversation_id);
    if (!panel) return;
    if (message.seq > panel.thread.through + 1) void this.catchUp(panel);
    panel.add(message);
  }

  private replay(conversation: ConversationView, messages: MessageView[]): Panel {
    const panel = this.panel(conversation);
    panel.update(conversation);
    panel.addAll(messages);
    return panel;
  }

  /** Fill the panel's thread from its first missing seq, page after page. */
  private catchUp(panel: Panel): Promise<void> {
    let catchUp = this.catchUps.get(panel.id);
    if (!catchUp) {
      catchUp = new CatchUp(
        () => panel.thread.through,
        async (after) => {
          const ack = await this.call(StaffEvent.CONVERSATION_RESUME, { conversation_id: panel.id, last_seq: after });
          if (!ack.ok) return null;
          this.replay(ack.conversation, ack.messages);
          return ack.more ?? false;
        },
      );
      this.catchUps.set(panel.id, catchUp);
    }
    return catchUp.run();
  }

  /** The panel for `conversation`, created if needed. */
  private panel(conversation: ConversationView): Panel {
    let panel = this.panels.get(conversation.id);
    if (!panel) {
      panel = new Panel(conversation, this);
      this.panels.set(conversation.id, panel);
      this.grid.append(panel.el);
      this.outbox.all
        .filter((item) => item.conversation_id === conversation.id)
        .forEach((item) => panel?.thread.pend(item));
    }
    return panel;
  }

  private async flush(): Promise<void> {
    const sent = await this.outbox.drain(
      (item) =>
        this.call(StaffEvent.MESSAGE_SEND, {
          conversation_id: item.conversation_id,
          client_msg_id: item.client_msg_id,
          body: item.body,
        }),
      (item, ack) => this.settle(item, ack),
    );
    if (!sent && this.socket.connected) setTimeout(() => void this.flush(), 3000);
  }

  private settle(item: Pending, ack: Ack<{ message: MessageView }>): void {
    const panel = item.conversation_id ? this.panels.get(item.conversation_id) : undefined;
    if (ack.ok) return this.receive(ack.message);
    panel?.thread.drop(item.client_msg_id);
    panel?.error(ack.error.message);
    if (ack.error.code === ErrorCode.CONVERSATION_ENDED) {
      this.outbox.retain((other) => other.conversation_id !== item.conversation_id);
      if (panel) void this.catchUp(panel);
    }
  }

  // -- presence and session ----------------------------------------------------------------

  private async setPresence(): Promise<void> {
    const [status, reason] = this.presence.value.split(":");
    this.wanted =
      status === "available" ? { status: "available", reason: null } : { status: "away", reason: asReason(reason) };
    this.rings.sound.unlock();
    if (this.wanted.status === "available") askToNotify();
    await this.sendPresence();
  }

  /** Send the chosen presence; while offline it waits for the next sync. */
  private async sendPresence(): Promise<void> {
    const wanted = this.wanted;
    if (wanted === null || !this.socket.connected) return;
    const { status, reason } = wanted;
    // Calls ring only staff whose camera and microphone are there.
    const media = status === "available" ? await mediaReadiness() : null;
    const ack = await this.call(
      StaffEvent.PRESENCE_SET,
      media ? { status, media } : reason ? { status, reason } : { status },
    );
    if (!ack.ok && !this.socket.connected) return; // lost on the way: sent again on sync
    if (this.wanted === wanted) this.wanted = null;
    if (ack.ok) this.showPresence(ack.presence, ack.reason);
    else this.say(ack.error.message);
  }

  private showPresence(status: Presence, reason?: AwayReason | null): void {
    if (status === "available") this.presence.value = "available";
    else this.presence.value = reason ? `away:${reason}` : "away";
  }

  private say(message: string): void {
    say(this.problem, message);
    show(this.problem, true);
    setTimeout(() => show(this.problem, false), 6000);
  }

  private async signOut(): Promise<void> {
    await logout(this.session.csrf_token).catch(() => undefined);
    this.leave();
  }

  /** Unlike a plain sign-out, a failure is shown: the person must know their other
   * sessions may still be open. */
  private async signOutEverywhere(control: HTMLButtonElement): Promise<void> {
    control.disabled = true;
    try {
      await logoutEverywhere(this.session.csrf_token);
    } catch (err: unknown) {
      control.disabled = false;
      const reason = err instanceof RequestError ? err.message : "Can't reach the server.";
      return this.say(`Not signed out everywhere: ${reason}`);
    }
    this.leave("Signed out on every device.");
  }

  private leave(notice?: string): void {
    this.calls.stop();
    this.wrapup.stop();
    this.redial.stop();
    this.socket.disconnect();
    this.rings.clear();
    this.queue.stop();
    document.removeEventListener("visibilitychange", this.onVisible);
    this.signedOut(notice);
  }

  private readonly onVisible = (): void => {
    for (const panel of this.panels.values()) panel.markRead();
  };
}
