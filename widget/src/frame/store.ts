import type { StoreKey } from "../shared/bridge";
import type { Shelf } from "../shared/outbox";
import type { Pending } from "../shared/thread";
import type { HostLink } from "./host";

const HOST_WAIT_MS = 1500;

/** The frame's storage under `porchlight:{site}:{key}`: its own localStorage when the
 * browser allows it; otherwise (third-party storage blocked) memory mirrored into the host
 * page's storage through the loader. Nothing is stored before the visitor opens the widget,
 * because the frame only exists after that click. */
export class Store {
  private readonly memory = new Map<StoreKey, string>();

  private constructor(
    private readonly site: string,
    private readonly host: HostLink | null,
  ) {}

  /** Open the store; `hostState` is what the host page kept for a frame without storage. */
  static async open(
    site: string,
    host: HostLink,
    hostState: Promise<Partial<Record<StoreKey, string>>>,
  ): Promise<Store> {
    if (ownStorage()) return new Store(site, null);
    const store = new Store(site, host);
    const timeout = new Promise<Partial<Record<StoreKey, string>>>((resolve) =>
      setTimeout(() => resolve({}), HOST_WAIT_MS),
    );
    const state = await Promise.race([hostState, timeout]);
    for (const [key, value] of Object.entries(state)) {
      if (typeof value === "string") store.memory.set(key as StoreKey, value);
    }
    return store;
  }

  get(key: StoreKey): string | null {
    if (this.host) return this.memory.get(key) ?? null;
    return localStorage.getItem(this.name(key));
  }

  set(key: StoreKey, value: string | null): void {
    if (this.host) {
      if (value === null) this.memory.delete(key);
      else this.memory.set(key, value);
      this.host.post({ type: "store", key, value });
    } else if (value === null) {
      localStorage.removeItem(this.name(key));
    } else {
      localStorage.setItem(this.name(key), value);
    }
  }

  /** The outbox, kept as a JSON array; anything unreadable is discarded. */
  shelf(): Shelf {
    return {
      load: () => {
        try {
          const items: unknown = JSON.parse(this.get("outbox") ?? "[]");
          return Array.isArray(items) ? items.filter(isPending) : [];
        } catch {
          return [];
        }
      },
      save: (items) => this.set("outbox", items.length ? JSON.stringify(items) : null),
    };
  }

  private name(key: StoreKey): string {
    return `porchlight:${this.site}:${key}`;
  }
}

// Throws where third-party storage is blocked, e.g. Chrome with third-party cookies off.
function ownStorage(): boolean {
  try {
    localStorage.setItem("porchlight:probe", "1");
    localStorage.removeItem("porchlight:probe");
    return true;
  } catch {
    return false;
  }
}

function isPending(item: unknown): item is Pending {
  const p = item as Partial<Pending> | null;
  return (
    !!p &&
    typeof p.client_msg_id === "string" &&
    typeof p.body === "string" &&
    typeof p.created_at === "number" &&
    (p.conversation_id === null || typeof p.conversation_id === "string")
  );
}
