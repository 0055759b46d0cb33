import { ErrorCode, type Ack, type MessageView } from "../protocol.gen";
import type { Pending } from "./thread";

/** Where an outbox keeps its items: localStorage in the frame, memory in the console. */
export interface Shelf {
  load(): Pending[];
  save(items: readonly Pending[]): void;
}

export function memoryShelf(): Shelf {
  let kept: Pending[] = [];
  return { load: () => [...kept], save: (items) => void (kept = [...items]) };
}

type SendAck = Ack<{ message: MessageView }>;

/** Failures worth another try later; any other refusal is final for that message. */
export function retryable(ack: SendAck): boolean {
  return !ack.ok && (ack.error.code === ErrorCode.SERVER_ERROR || ack.error.code === ErrorCode.RATE_LIMITED);
}

/** Messages typed but not yet acknowledged. An item is saved before it is first sent and
 * removed only once the server has committed it (or refused it for good), so nothing typed
 * is lost across reconnects and reloads; the server absorbs resends by `client_msg_id`. */
export class Outbox {
  private items: Pending[];
  private draining = false;
  private again = false;

  constructor(private readonly shelf: Shelf) {
    this.items = shelf.load();
  }

  get all(): readonly Pending[] {
    return this.items;
  }

  add(item: Pending): void {
    this.items.push(item);
    this.shelf.save(this.items);
  }

  /** Keep only the items `keep` accepts. */
  retain(keep: (item: Pending) => boolean): void {
    this.items = this.items.filter(keep);
    this.shelf.save(this.items);
  }

  /** Move the items of conversation `from` to conversation `to` (null: the next one
   * started); moved items are no longer stranded. */
  move(from: string | null, to: string | null): void {
    this.items = this.items.map((i) =>
      i.conversation_id === from ? { ...i, conversation_id: to, stranded: false } : i,
    );
    this.shelf.save(this.items);
  }

  /** Hold the items of an ended conversation: kept, never sent there, until `move` or
   * `retain` decides. */
  strand(conversationId: string): void {
    if (!this.items.some((i) => i.conversation_id === conversationId && !i.stranded)) return;
    this.items = this.items.map((i) => (i.conversation_id === conversationId ? { ...i, stranded: true } : i));
    this.shelf.save(this.items);
  }

  /** Send every item that has a conversation and is not stranded, in order and one at a
   * time. `settle` hears each answer. A `conversation.ended` refusal strands the items of
   * that conversation (the text stays for the customer); any other final answer removes
   * the item. Stops at the first retryable failure; returns whether all went out. */
  async drain(
    send: (item: Pending & { conversation_id: string }) => Promise<SendAck>,
    settle: (item: Pending, ack: SendAck) => void,
  ): Promise<boolean> {
    if (this.draining) {
      this.again = true;
      return true;
    }
    this.draining = true;
    try {
      do {
        this.again = false;
        for (const { client_msg_id } of [...this.items]) {
          // Looked up again: an earlier answer may have removed or stranded it meanwhile.
          const item = this.items.find((i) => i.client_msg_id === client_msg_id);
          const id = item?.conversation_id;
          if (!item || !id || item.stranded) continue;
          const ack = await send({ ...item, conversation_id: id });
          if (retryable(ack)) return false;
          if (!ack.ok && ack.error.code === ErrorCode.CONVERSATION_ENDED) this.strand(id);
          else this.retain((other) => other.client_msg_id !== client_msg_id);
          settle(item, ack);
        }
      } while (this.again);
      return true;
    } finally {
      this.draining = false;
    }
  }
}
