import { CustomerEvent, ServerEvent, type CallView, type EndCall } from "../protocol.gen";
import type { Call, CallState, CustomerCalls, CustomerListen, RunningCall as WireCall } from "../shared/wire";
import type { Socket } from "socket.io-client";
import type { DefaultEventsMap } from "@socket.io/component-emitter";
import type * as CallModule from "../call/main";
import type { View } from "./view";

type Channel = "chat" | CallView["channel"];
type Reason = EndCall["reason"];

interface Current {
  id: string;
  conversationId: string;
  channel: CallView["channel"];
  live: CallModule.RunningCall | null;
  // Signals that arrive while the call code is still loading.
  early: Array<(live: CallModule.RunningCall) => void>;
}

const PROBLEMS: Record<string, string> = {
  permission_denied:
    "Your camera or microphone is blocked. Allow them for this site in your browser's settings, or continue another way.",
  no_device: "We couldn't find a camera or microphone on this device.",
  media_failed: "Your camera or microphone couldn't be started.",
};

/** The customer's calls. The customer always offers; the call code is loaded only when a
 * call starts (its URL is `data-call-src` on the body) and talks to the socket only through
 * the callbacks given here. */
export class FrameCalls {
  private current: Current | null = null;
  private module: Promise<typeof CallModule> | null = null;

  constructor(
    private readonly call: Call<CustomerCalls>,
    private readonly view: View,
    private readonly conversationId: () => string | null,
    private readonly staffName: () => string,
  ) {}

  listen(s: Socket<CustomerListen, DefaultEventsMap>): void {
    s.on(ServerEvent.CALL_STATE, (state) => this.state(state));
    s.on(ServerEvent.CALL_ANSWER, (e) => this.signal(e.call_id, (l) => void l.session.handleAnswer(e.sdp)));
    s.on(ServerEvent.CALL_CANDIDATE, (e) => this.signal(e.call_id, (l) => void l.session.handleCandidate(e.candidate)));
    s.on(ServerEvent.CALL_PROPOSED, (p) => {
      if (p.conversation_id !== this.conversationId()) return;
      const what = p.channel === "chat" ? "end the call and continue in chat" : `switch to ${label(p.channel).toLowerCase()}`;
      this.view.proposal(`${this.staffName()} would like to ${what}.`, (accept) => {
        void this.call(CustomerEvent.CALL_RESPOND, {
          conversation_id: p.conversation_id,
          proposal_id: p.proposal_id,
          accept,
        }).then((ack) => ack.ok && ack.call && this.state(ack.call));
      });
    });
  }

  /** The running call from a resume acknowledgement (null: none runs any more). The same
   * call keeps its peer: a signaling reconnect does not touch media that still flows. */
  resumed(running: WireCall | null | undefined): void {
    if (running) this.state(running);
    else this.stop();
  }

  /** The visitor chose a channel in an active conversation. */
  async choose(channel: Channel): Promise<void> {
    const conversation_id = this.conversationId();
    if (!conversation_id) return;
    this.view.callProblem(null);
    if (channel === "chat") return this.end("hangup");
    const ack = await this.call(CustomerEvent.CALL_START, { conversation_id, channel });
    if (ack.ok) this.state(ack);
    else this.view.error(ack.error.message);
  }

  state({ call, ice }: CallState): void {
    if (call.conversation_id !== this.conversationId()) return;
    if (call.ended_at !== null || !ice) {
      if (this.current?.id === call.id) this.stop();
      return;
    }
    if (this.current?.id === call.id) return;
    this.stop();
    const current: Current = { id: call.id, conversationId: call.conversation_id, channel: call.channel, live: null, early: [] };
    this.current = current;
    this.view.callChannel(call.channel);
    const ids = { conversation_id: current.conversationId, call_id: current.id };
    this.load().then(
      (mod) => {
        if (this.current !== current) return;
        current.live = mod.runCall({
          ice,
          role: "offerer",
          channel: call.channel,
          send: {
            offer: (sdp) => void this.call(CustomerEvent.CALL_OFFER, { ...ids, sdp }),
            answer: () => undefined,
            candidate: (candidate) => void this.call(CustomerEvent.CALL_CANDIDATE, { ...ids, candidate }),
          },
          onHangUp: () => void this.end("hangup"),
          onState: (phase) => phase === "failed" && this.fallback(current),
          onMediaError: (problem) => this.blocked(current, problem),
        });
        this.view.showCall(current.live.screen.el);
        current.early.splice(0).forEach((run) => current.live && run(current.live));
      },
      () => {
        if (this.current === current) void this.end("media_failed");
        this.view.error("The call couldn't start. Please try again.");
      },
    );
  }

  /** The pre-call check, shown where a call would be (the call code brings it). */
  precheck(headers: Record<string, string>): void {
    if (this.current) return;
    this.load().then(
      (mod) => !this.current && this.view.showCall(mod.precheckPanel({ headers }, () => this.view.showCall(null))),
      () => this.view.error("The check couldn't start. Please try again."),
    );
  }

  private load(): Promise<typeof CallModule> {
    this.module ??= import(document.body.dataset.callSrc ?? "") as Promise<typeof CallModule>;
    this.module.catch(() => (this.module = null));
    return this.module;
  }

  /** Close this side of the call (it ended, or the conversation did). */
  stop(): void {
    const current = this.current;
    this.current = null;
    current?.live?.session.close();
    current?.live?.screen.destroy();
    this.view.callChannel(null);
  }

  private signal(callId: string, run: (live: CallModule.RunningCall) => void): void {
    const current = this.current;
    if (current?.id !== callId) return;
    if (current.live) run(current.live);
    else current.early.push(run);
  }

  private async end(reason: Reason): Promise<void> {
    const current = this.current;
    if (!current) return;
    this.stop();
    await this.call(CustomerEvent.CALL_END, {
      conversation_id: current.conversationId,
      call_id: current.id,
      reason,
    });
  }

  /** Camera or microphone refused or missing: say so and offer the ways that remain. */
  private blocked(current: Current, problem: CallModule.MediaProblem): void {
    if (this.current !== current) return;
    void this.end(problem);
    this.view.callProblem(PROBLEMS[problem] ?? PROBLEMS.media_failed!, current.channel !== "voice");
  }

  /** The connection did not come back: video falls back to voice, voice to chat. */
  private fallback(current: Current): void {
    if (this.current !== current) return;
    const voice = current.channel === "video";
    this.view.callNote(voice
      ? "The video connection failed, so we switched to a voice call."
      : "The call couldn't connect, so we're continuing in chat.");
    // Ended as failed rather than switched, so both transcripts say why it stopped.
    void this.end("media_failed").then(() => (voice ? this.choose("voice") : undefined));
  }
}

export function label(channel: Channel): string {
  return { chat: "Chat", video: "Video call", voice: "Voice call", oneway: "One-way video call" }[channel];
}
