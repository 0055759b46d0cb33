/** Asks the server for one replay page after seq `after` and merges it; resolves to whether
 * the server said more follow, or null when the page could not be had (offline, refused). */
export type PageFetch = (after: number) => Promise<boolean | null>;

/** Fills one conversation's thread from its first missing seq, a replay page at a time,
 * until the server says nothing more follows. Resuming from the first gap (the last seq of
 * the run held without a hole, `through`) rather than from the highest seq held means a
 * hole left by lost hints is filled, not kept for good. One run at a time: a call during a
 * run makes it go round once more. */
export class CatchUp {
  private running = false;
  private again = false;

  constructor(
    private readonly through: () => number,
    private readonly fetch: PageFetch,
  ) {}

  async run(): Promise<void> {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    try {
      do {
        this.again = false;
        for (;;) {
          const from = this.through();
          const more = await this.fetch(from);
          if (more === null) return; // the next connect resumes
          // A page that fills nothing would be asked for again forever.
          if (!more || this.through() === from) break;
        }
      } while (this.again);
    } finally {
      this.running = false;
    }
  }
}
