// The call bundle (call-[hash].js, an ES module): the frame imports it on demand when a call
// starts; the console bundles it statically. Everything here takes callbacks, never a socket.
import { CallScreen } from "./screen";
import { startCall, type CallOptions, type CallPhase, type CallSession, type MediaProblem } from "./session";

export { CallScreen, connectionText } from "./screen";
export { receivesVideo, sendsVideo, startCall } from "./session";
export { precheckPanel, runPrecheck } from "./precheck";
export type * from "./session";

export interface RunningCall {
  session: CallSession;
  screen: CallScreen;
}

export interface RunCallOptions extends Omit<CallOptions, "onRemoteStream" | "onState" | "onMediaError" | "onLocalStream"> {
  onHangUp(): void;
  onState?(phase: CallPhase): void;
  onMediaError(problem: MediaProblem): void;
}

/** A session with its screen wired to it: the common case for both the frame and the console. */
export function runCall(options: RunCallOptions): RunningCall {
  let screen: CallScreen | null = null;
  const session = startCall({
    ...options,
    onLocalStream: (stream) => screen?.local(stream),
    onRemoteStream: (stream) => screen?.remote(stream),
    onState: (phase) => {
      screen?.state(phase);
      options.onState?.(phase);
    },
  });
  screen = new CallScreen(session, options.onHangUp);
  // Tests read decoding stats through this; it exists only when a test asked for it.
  const w = window as { __porchlightTest?: boolean; __porchlightCall?: CallSession };
  if (w.__porchlightTest) w.__porchlightCall = session;
  return { session, screen };
}
