import type { ConversationView } from "../protocol.gen";
import { button, h } from "../shared/dom";
import type { RingEvent } from "../shared/wire";

/** What answering a ring does; the desk implements it. */
export interface Answer {
  accept(conversationId: string): void;
  decline(conversationId: string): void;
}

interface Shown {
  el: HTMLElement;
  timer: ReturnType<typeof setInterval>;
  notice: Notification | null;
}

/** Pending rings, each an `alertdialog` named "Incoming chat" with Accept, Decline and a
 * countdown. While any ring is shown a tone repeats; with the tab hidden, a desktop
 * notification appears too. */
export class Rings {
  readonly el = h("div", { class: "rings" });
  readonly sound = new RingTone();
  private readonly shown = new Map<string, Shown>();

  constructor(private readonly answer: Answer) {}

  show({ conversation, timeout_ms }: RingEvent): void {
    const id = conversation.id;
    this.remove(id);
    if (timeout_ms <= 0) return;
    const deadline = Date.now() + timeout_ms;
    const countdown = h("p", { class: "countdown" });
    const tick = () => {
      const left = Math.max(0, Math.ceil((deadline - Date.now()) / 1000));
      countdown.textContent = `Answer within ${left} s`;
      if (!left) this.remove(id);
    };
    const accept = button("Accept", { class: "primary" });
    const decline = button("Decline");
    accept.addEventListener("click", () => this.answer.accept(id));
    decline.addEventListener("click", () => this.answer.decline(id));
    const about = `ring-${id}`;
    const el = h(
      "div",
      { class: "ring", role: "alertdialog", "aria-label": "Incoming chat", "aria-describedby": about },
      h("h2", {}, "Incoming chat"),
      h("p", { id: about }, describe(conversation)),
      countdown,
      h("div", { class: "actions" }, accept, decline),
    );
    this.el.append(el);
    this.shown.set(id, { el, timer: setInterval(tick, 1000), notice: notify(conversation) });
    tick();
    this.sound.start();
    // Don't take the keyboard from someone typing a reply elsewhere.
    if (!(document.activeElement instanceof HTMLTextAreaElement)) accept.focus();
  }

  /** Stop ringing for `conversationId` (answered, cancelled or timed out). */
  remove(conversationId: string): void {
    const shown = this.shown.get(conversationId);
    if (!shown) return;
    clearInterval(shown.timer);
    shown.notice?.close();
    shown.el.remove();
    this.shown.delete(conversationId);
    if (!this.shown.size) this.sound.stop();
  }

  /** Keep only the rings the server says are still pending. */
  retain(ids: Set<string>): void {
    for (const id of [...this.shown.keys()]) if (!ids.has(id)) this.remove(id);
  }

  clear(): void {
    this.retain(new Set());
  }
}

function describe(c: ConversationView): string {
  const who = c.visitor?.name || "A visitor";
  const page = c.visitor?.page_title || c.visitor?.page_url;
  const language = c.language ? ` (${c.language})` : "";
  const wants = { chat: "to chat", video: "a video call", voice: "a voice call", oneway: "a one-way video call" }[c.channel];
  return `${who}${language} wants ${wants}${page ? ` · on ${page}` : ""}`;
}

function notify(c: ConversationView): Notification | null {
  if (!document.hidden || !("Notification" in window) || Notification.permission !== "granted") {
    return null;
  }
  let notice: Notification;
  try {
    notice = new Notification("Incoming chat", {
      body: describe(c),
      tag: `porchlight-ring-${c.id}`,
      requireInteraction: true,
    });
  } catch {
    return null; // page notifications are refused here (Chrome on Android): the ring still shows
  }
  notice.addEventListener("click", () => {
    window.focus();
    notice.close();
  });
  return notice;
}

/** Ask for notification permission; called from a user gesture (choosing Available). */
export function askToNotify(): void {
  if ("Notification" in window && Notification.permission === "default") {
    void Notification.requestPermission();
  }
}

/** A two-tone beep every 2 s made with oscillators (no audio files to fail to load). */
export class RingTone {
  private context: AudioContext | null = null;
  private timer: ReturnType<typeof setInterval> | undefined;

  /** Create or resume the audio context; browsers only allow it after a user gesture. */
  unlock(): void {
    this.context ??= new AudioContext();
    if (this.context.state === "suspended") void this.context.resume();
  }

  start(): void {
    if (this.timer !== undefined) return;
    // Without an earlier gesture the context would start muted and warn in the console.
    if (!this.context && navigator.userActivation?.hasBeenActive) this.unlock();
    this.beep();
    this.timer = setInterval(() => this.beep(), 2000);
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private beep(): void {
    const ctx = this.context;
    if (!ctx || ctx.state !== "running") return;
    [880, 660].forEach((frequency, i) => {
      const at = ctx.currentTime + i * 0.25;
      const tone = ctx.createOscillator();
      const gain = ctx.createGain();
      tone.frequency.value = frequency;
      gain.gain.setValueAtTime(0.0001, at);
      gain.gain.exponentialRampToValueAtTime(0.3, at + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, at + 0.22);
      tone.connect(gain).connect(ctx.destination);
      tone.start(at);
      tone.stop(at + 0.25);
    });
  }
}
