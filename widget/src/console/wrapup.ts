import type { WrapUpView } from "../protocol.gen";
import { button, h, say, show } from "../shared/dom";

/** What the wrap-up bar's controls do; the desk implements it. */
export interface WrapUpActions {
  ready(): void;
  extend(): void;
  tag(conversationId: string, tag: string): Promise<boolean>;
}

/** The wrap-up bar: after a conversation ends, no ring comes for a while. It shows the time
 * left (or that this is the pause after calls in a row), "Ready now", "+30 s", and the
 * outcome to pick from the site's list. Hidden while there is no wrap-up. */
export class WrapUpBar {
  readonly el: HTMLElement;
  private readonly left = h("span", { class: "left" });
  private readonly outcome = h("select", { id: "wrapup-outcome" });
  private readonly outcomeField: HTMLElement;
  private readonly saved = h("span", { class: "saved", "aria-live": "polite" });
  private readonly title = h("strong", {}, "Wrap-up");
  private view: WrapUpView | null = null;
  private deadline = 0;
  private timer: ReturnType<typeof setInterval> | null = null;

  constructor(private readonly actions: WrapUpActions) {
    const ready = button("Ready now", { class: "primary", title: "Take the next conversation now" });
    const more = button("+30 s", { "aria-label": "30 more seconds", title: "30 more seconds" });
    ready.addEventListener("click", () => this.actions.ready());
    more.addEventListener("click", () => this.actions.extend());
    this.outcome.addEventListener("change", () => void this.pick());
    this.outcomeField = h(
      "span",
      { class: "field" },
      h("label", { for: "wrapup-outcome" }, "Outcome"),
      this.outcome,
      this.saved,
    );
    this.el = h(
      "section",
      { class: "wrapup", "aria-label": "Wrap-up", hidden: true },
      h("p", { class: "what" }, this.title, " ", this.left),
      this.outcomeField,
      h("span", { class: "actions" }, ready, more),
    );
  }

  /** Show the server's view of the wrap-up (null: it is over). */
  show(view: WrapUpView | null): void {
    const fresh = view?.conversation_id !== this.view?.conversation_id;
    this.view = view;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    show(this.el, view !== null);
    if (!view) return;
    this.deadline = Date.now() + view.remaining_ms;
    say(this.title, view.pause ? "A short pause after several calls in a row" : "Wrap-up");
    if (fresh) this.fillOutcomes(view);
    this.tick();
    this.timer = setInterval(() => this.tick(), 1000);
  }

  private fillOutcomes(view: WrapUpView): void {
    const choices = [h("option", { value: "" }, "Choose…")];
    for (const tag of view.tags) choices.push(h("option", { value: tag }, tag));
    this.outcome.replaceChildren(...choices);
    this.outcome.value = view.outcome ?? "";
    say(this.saved, "");
    show(this.outcomeField, view.tags.length > 0);
  }

  private tick(): void {
    const seconds = Math.max(0, Math.ceil((this.deadline - Date.now()) / 1000));
    const time = `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`;
    say(this.left, `· next ring in ${time}`);
    // The server ends it (and says so); this only stops counting below zero.
    if (!seconds && this.timer) clearInterval(this.timer);
  }

  private async pick(): Promise<void> {
    const view = this.view;
    const tag = this.outcome.value;
    if (!view || !tag) return;
    say(this.saved, "");
    await this.actions.tag(view.conversation_id, tag);
  }

  /** An outcome was saved for `conversationId` (here or in its panel). */
  showOutcome(conversationId: string, tag: string): void {
    if (this.view?.conversation_id !== conversationId) return;
    this.outcome.value = tag;
    say(this.saved, "Saved");
  }

  stop(): void {
    this.show(null);
  }
}
