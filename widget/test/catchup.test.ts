// Defect 16: catch-up stopped at the 500-message replay page and resumed from the highest
// seq held, so a client that missed more than a page between events kept a hole for good.
import assert from "node:assert/strict";
import { test } from "node:test";
import { CatchUp } from "../src/shared/catchup";

const PAGE = 500;

/** A conversation of `total` messages on the server and the seqs one client holds. */
function scene(total: number, held: number[]) {
  const seqs = new Set(held);
  const asked: number[] = [];
  let through = 0;
  const advance = () => {
    while (seqs.has(through + 1)) through++;
  };
  advance();
  const catchUp = new CatchUp(
    () => through,
    async (after) => {
      asked.push(after);
      const page = [];
      for (let seq = after + 1; seq <= Math.min(total, after + PAGE); seq++) page.push(seq);
      page.forEach((seq) => seqs.add(seq));
      advance();
      return after + PAGE < total;
    },
  );
  return { seqs, asked, catchUp, through: () => through };
}

test("catch-up beyond the replay page: a client missing more than a page pages until caught up", async () => {
  const s = scene(1234, [1, 2, 3]);
  await s.catchUp.run();
  assert.deepEqual(s.asked, [3, 503, 1003]);
  assert.equal(s.through(), 1234);
});

test("catch-up beyond the replay page: a hole behind the highest seq held is filled", async () => {
  // Holds 1..10 and 900..950: the hole 11..899 is wider than a page.
  const held = [...Array(10).keys()].map((n) => n + 1);
  for (let seq = 900; seq <= 950; seq++) held.push(seq);
  const s = scene(950, held);
  await s.catchUp.run();
  assert.equal(s.asked[0], 10, "resumes from the first gap, not from the highest seq");
  assert.equal(s.through(), 950);
  for (let seq = 1; seq <= 950; seq++) assert.ok(s.seqs.has(seq), `seq ${seq}`);
});

test("catch-up beyond the replay page: one run at a time, asked again goes round once more", async () => {
  const s = scene(10, [1]);
  const first = s.catchUp.run();
  const second = s.catchUp.run();
  await Promise.all([first, second]);
  assert.deepEqual(s.asked, [1, 10]);
});

test("catch-up beyond the replay page: a failed page stops the run, a page that fills nothing too", async () => {
  let calls = 0;
  await new CatchUp(() => 0, async () => (calls++, null)).run();
  await new CatchUp(() => 0, async () => (calls++, true)).run();
  assert.equal(calls, 2);
});
