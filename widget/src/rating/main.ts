// The rating form, loaded by the frame only once a conversation has ended (it stays out of
// the frame's size budget).
import type { ConversationView } from "../protocol.gen";
import { h, say, show } from "../shared/dom";
import type { Actions } from "../frame/view";

/** After the end: five stars and an optional comment, once per conversation (a new rating
 * replaces the old one). */
export class Rating {
  private readonly stars: HTMLInputElement[] = [1, 2, 3, 4, 5].map((n) =>
    h("input", { type: "radio", name: "score", value: n, id: `score-${n}` }),
  );
  private readonly comment = h("textarea", { id: "rating-comment", rows: 2, maxlength: 1000 });
  private readonly send = h("button", { type: "submit", class: "primary" }, "Send rating");
  private readonly thanks = h("p", { class: "thanks", role: "status" });
  private readonly form = h(
    "form",
    { class: "rating", "aria-labelledby": "rating-title" },
    h("p", { id: "rating-title" }, "How was your conversation?"),
    h(
      "fieldset",
      { class: "stars" },
      h("legend", { class: "sr" }, "Your rating"),
      ...this.stars.map((star, i) =>
        h("span", {}, star, h("label", { for: star.id, title: `${i + 1} of 5` }, "★", h("span", { class: "sr" }, `${i + 1} of 5`))),
      ),
    ),
    h("label", { for: "rating-comment" }, "Anything to add? (optional)"),
    this.comment,
    this.send,
  );
  readonly el = h("div", { hidden: true }, this.form, this.thanks);
  private shownFor: string | null = null;

  show(c: ConversationView | null): void {
    show(this.el, !!c);
    if (!c) return;
    if (c.id !== this.shownFor) {
      this.shownFor = c.id;
      this.form.reset();
    }
    const rated = c.rating;
    show(this.form, !rated);
    say(this.thanks, rated ? `Thank you: you rated this conversation ${rated.score} of 5.` : "");
    show(this.thanks, !!rated);
  }

  bind(actions: Actions): void {
    this.form.addEventListener("submit", (e) => {
      e.preventDefault();
      const score = Number(this.stars.find((s) => s.checked)?.value ?? 0);
      if (!score) return void this.stars[0]?.focus();
      this.send.disabled = true;
      void actions.rate(score, this.comment.value.trim()).finally(() => (this.send.disabled = false));
    });
  }
}
