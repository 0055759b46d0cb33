// Defect 17: a message typed while away was dropped silently when the conversation had ended.
import assert from "node:assert/strict";
import { test } from "node:test";
import { ErrorCode, type Ack, type MessageView } from "../src/protocol.gen";
import { memoryShelf, Outbox } from "../src/shared/outbox";

type SendAck = Ack<{ message: MessageView }>;
const ended: SendAck = { ok: false, error: { code: ErrorCode.CONVERSATION_ENDED, message: "ended" } };

function typed(id: string, conversation_id: string | null = "c1") {
  return { conversation_id, client_msg_id: id, body: `text ${id}`, created_at: 0 };
}

test("a message typed while away is not dropped when the conversation has ended: it is kept, held", async () => {
  const outbox = new Outbox(memoryShelf());
  outbox.add(typed("a"));
  outbox.add(typed("b"));
  const sent: string[] = [];
  const settled: string[] = [];
  const all = await outbox.drain(
    async (item) => (sent.push(item.client_msg_id), ended),
    (item) => settled.push(item.client_msg_id),
  );
  assert.equal(all, true);
  // The first refusal holds the whole conversation's messages; the second is never sent.
  assert.deepEqual(sent, ["a"]);
  assert.deepEqual(settled, ["a"]);
  assert.deepEqual(
    outbox.all.map((i) => [i.client_msg_id, i.body, i.stranded]),
    [["a", "text a", true], ["b", "text b", true]],
  );
  await outbox.drain(async () => assert.fail("a held message was sent"), () => undefined);
});

test("a message typed while away is not dropped when the conversation has ended: it can go to a new one", async () => {
  const shelf = memoryShelf();
  const outbox = new Outbox(shelf);
  outbox.add(typed("a"));
  outbox.strand("c1");
  assert.equal(new Outbox(shelf).all[0]?.stranded, true, "held across a reload");
  outbox.move("c1", null);
  outbox.move(null, "c2");
  const sent: string[] = [];
  await outbox.drain(
    async (item) => {
      sent.push(`${item.conversation_id}:${item.client_msg_id}`);
      return { ok: true, message: {} as MessageView };
    },
    () => undefined,
  );
  assert.deepEqual(sent, ["c2:a"]);
  assert.deepEqual(outbox.all, []);
});
