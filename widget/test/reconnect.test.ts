// Defect 14: reconnect was slower than it needed to be (a jittered second before the first
// retry, doubling to 10 s).
import assert from "node:assert/strict";
import { mock, test } from "node:test";
import { reconnectDelay, Redial } from "../src/shared/reconnect";

test("reconnect is not slower than it needs to be: the first retry is immediate", () => {
  assert.equal(reconnectDelay(0, () => 0.99), 0);
});

test("reconnect is not slower than it needs to be: later retries back off with jitter to 4 s", () => {
  const low = [1, 2, 3, 4, 5, 9, 50].map((n) => reconnectDelay(n, () => 0));
  const high = [1, 2, 3, 4, 5, 9, 50].map((n) => reconnectDelay(n, () => 0.999999));
  assert.deepEqual(low, [125, 250, 500, 1000, 2000, 2000, 2000]);
  high.forEach((ms, i) => assert.ok(ms > low[i]! * 1.99 && ms <= 4000, `${ms}`));
  for (let n = 1; n < 12; n++) assert.ok(reconnectDelay(n) <= 4000);
});

test("reconnect is not slower than it needs to be: Redial retries at once, backs off, starts over", () => {
  mock.timers.enable({ apis: ["setTimeout"] });
  try {
    const socket = { connected: false, attempts: 0, connect: () => socket.attempts++ };
    const redial = new Redial(socket);
    redial.lost();
    redial.lost(); // a second report of the same loss does not add a try
    mock.timers.tick(0);
    assert.equal(socket.attempts, 1);
    redial.lost();
    mock.timers.tick(124);
    assert.equal(socket.attempts, 1);
    mock.timers.tick(126);
    assert.equal(socket.attempts, 2);
    socket.connected = true;
    redial.connected();
    socket.connected = false;
    redial.lost();
    mock.timers.tick(0);
    assert.equal(socket.attempts, 3);
    redial.lost();
    redial.stop();
    mock.timers.tick(10_000);
    assert.equal(socket.attempts, 3);
  } finally {
    mock.timers.reset();
  }
});
