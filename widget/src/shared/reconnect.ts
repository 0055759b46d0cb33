// Reconnection is ours, not socket.io's: its Manager waits a jittered second before the first
// retry and doubles to its cap, so clients came back 6–10 s after a restart. Here the first
// retry is immediate (a restart or a blip is usually over by then), later ones back off with
// jitter to a cap low enough that a client is back within a few seconds of the server.

import type { ManagerOptions, SocketOptions } from "socket.io-client";

/** socket.io-client options for both apps: websocket only, reconnection driven by `Redial`. */
export const SOCKET_OPTIONS: Partial<ManagerOptions & SocketOptions> = {
  transports: ["websocket"],
  reconnection: false,
};

const FIRST_BACKOFF_MS = 250;
const MAX_BACKOFF_MS = 4000;

/** Milliseconds to wait before reconnect attempt `attempt` (0 for the first after a loss):
 * 0, then 250 ms doubling to 4 s, each scaled by a random factor in [0.5, 1) so that many
 * clients do not come back in lock step. `random` is injectable for tests. */
export function reconnectDelay(attempt: number, random: () => number = Math.random): number {
  if (attempt <= 0) return 0;
  const ceiling = Math.min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS * 2 ** (attempt - 1));
  return ceiling * (0.5 + random() / 2);
}

/** The part of a socket.io socket that `Redial` drives. */
export interface Dialable {
  readonly connected: boolean;
  connect(): unknown;
}

/** Keeps a socket connected on the `reconnectDelay` schedule. Call `lost()` on every failed
 * attempt and every unwanted disconnect (at most one try is pending at a time), `connected()`
 * once the server accepts (the next loss retries at once again), `stop()` on sign-out. */
export class Redial {
  private attempt = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;

  constructor(private readonly socket: Dialable) {}

  lost(): void {
    if (this.timer !== null) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      if (!this.socket.connected) this.socket.connect();
    }, reconnectDelay(this.attempt++));
  }

  connected(): void {
    this.attempt = 0;
  }

  stop(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }
}
