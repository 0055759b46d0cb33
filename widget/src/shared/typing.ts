const RESEND_MS = 2000;
const IDLE_MS = 3000;

/** Turns keystrokes into typing signals: `true` at most every 2 s while typing, `false`
 * after 3 s without input or when `stop` is called (on send). */
export class TypingSignal {
  private since = 0;
  private idle: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly emit: (typing: boolean) => void) {}

  input(): void {
    const now = Date.now();
    if (now - this.since > RESEND_MS) {
      this.since = now;
      this.emit(true);
    }
    clearTimeout(this.idle);
    this.idle = setTimeout(() => this.stop(), IDLE_MS);
  }

  stop(): void {
    clearTimeout(this.idle);
    if (this.since) {
      this.since = 0;
      this.emit(false);
    }
  }
}

/** A "… is typing" line that clears itself if the stop signal never arrives. */
export class TypingLine {
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(readonly el: HTMLElement) {
    el.hidden = true;
  }

  set(text: string | null): void {
    clearTimeout(this.timer);
    this.el.textContent = text ?? "";
    this.el.hidden = !text;
    if (text) this.timer = setTimeout(() => this.set(null), 8000);
  }
}
