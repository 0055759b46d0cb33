// Messages between the host page (loader) and the frame. Every message carries
// {ns, v, instance, type}; receivers check origin, source and instance before trusting it.

/** What the frame keeps between page loads. */
export type StoreKey = "token" | "conversation" | "outbox";
export const STORE_KEYS: readonly StoreKey[] = ["token", "conversation", "outbox"];

// `stored`/`store` let a frame that may not use its own storage (third-party storage
// blocked) keep its state in the host page's storage instead, after the visitor's click.
export type HostToFrame =
  | { type: "page"; url: string; title: string }
  | { type: "opened" }
  | { type: "closed" }
  | { type: "stored"; state: Partial<Record<StoreKey, string>> };

export type FrameToHost =
  | { type: "ready" }
  | { type: "close" }
  | { type: "unread"; count: number }
  | { type: "store"; key: StoreKey; value: string | null };

type Envelope = { ns: "porchlight"; v: 1; instance: string };

export function wrap<T extends { type: string }>(instance: string, message: T): T & Envelope {
  return { ns: "porchlight", v: 1, instance, ...message };
}

/** The message in `event` if it comes from `origin` and `source` for `instance`. */
export function unwrap<T extends { type: string }>(
  event: MessageEvent,
  origin: string,
  source: MessageEventSource | null,
  instance: string,
): T | null {
  const data: unknown = event.data;
  if (event.origin !== origin || !source || event.source !== source) return null;
  if (!data || typeof data !== "object") return null;
  const m = data as Partial<Envelope> & { type?: unknown };
  if (m.ns !== "porchlight" || m.v !== 1 || m.instance !== instance) return null;
  return typeof m.type === "string" ? (data as T) : null;
}
