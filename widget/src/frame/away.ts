// When nobody can answer: the frame knows the site's availability (rendered into its config,
// refreshed when the team goes) and loads the offline chunk only to show the offline path.
import type { Availability, FormOptions, Reason } from "../offline/main";
import { h } from "../shared/dom";

type OfflineModule = typeof import("../offline/main");

export type { Availability, Reason };

export class Away {
  private module: Promise<OfflineModule> | null = null;
  private offered: Reason | null = null;
  private slow: ReturnType<typeof setTimeout> | null = null;

  constructor(
    private availability: Availability,
    private readonly siteKey: string,
    private readonly options: FormOptions,
    /** Show `el` in the offline slot (null: none); `blocking` hides the live-chat choices. */
    private readonly mount: (el: HTMLElement | null, blocking: boolean) => void,
  ) {}

  /** Why a customer with no conversation cannot reach anyone now, or null. */
  reason(): Reason | null {
    if (this.availability.available) return null;
    return this.availability.open ? "nobody" : "closed";
  }

  async refresh(): Promise<Reason | null> {
    try {
      const response = await fetch(`/api/v1/sites/${encodeURIComponent(this.siteKey)}/availability`, { cache: "no-store" });
      if (response.ok) this.availability = (await response.json()) as Availability;
    } catch {
      // Keep what we knew; the socket's events say more soon.
    }
    return this.reason();
  }

  /** Offer the offline path; `waiting` keeps the queue (the customer may stay in line). */
  async offer(reason: Reason, waiting: boolean): Promise<void> {
    // One offer at a time: a later reason must not wipe a form the customer is filling in.
    if (this.offered !== null) return;
    this.offered = reason;
    this.module ??= Promise.all([import(document.body.dataset.offlineSrc ?? "") as Promise<OfflineModule>, sheet(document.body.dataset.offlineCss)]).then(([m]) => m);
    const offline = await this.module;
    if (this.offered !== reason) return; // cleared or replaced meanwhile
    this.mount(offline.messageForm(reason, this.availability, this.options, waiting), !waiting);
  }

  /** A customer in line past the site's queue timeout is offered the offline path too. */
  waiting(since: number): void {
    const limit = this.availability.queue_timeout_s;
    if (limit === null || this.slow !== null) return;
    this.slow = setTimeout(() => void this.offer("slow", true), Math.max(0, since + limit * 1000 - Date.now()));
  }

  clear(): void {
    if (this.slow !== null) clearTimeout(this.slow);
    this.slow = null;
    this.offered = null;
    this.mount(null, false);
  }
}

/** The offline path's style sheet (its own file, not the frame's budget), loaded once. */
function sheet(href: string | undefined): Promise<unknown> {
  if (!href) return Promise.resolve();
  const link = h("link", { rel: "stylesheet", href });
  document.head.append(link);
  return new Promise((done) => (link.onload = link.onerror = done));
}
