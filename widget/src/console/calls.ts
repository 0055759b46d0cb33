import { ServerEvent, StaffEvent, type CallView, type EndCall } from "../protocol.gen";
import type { Socket } from "socket.io-client";
import type { DefaultEventsMap } from "@socket.io/component-emitter";
import { runCall, type RunningCall } from "../call/main";
import type { Call, CallState, RunningCall as WireCall, StaffCalls, StaffListen } from "../shared/wire";

/** Where a call is shown: the conversation's panel. */
export interface CallHost {
  showCall(conversationId: string, screen: HTMLElement | null): void;
  note(conversationId: string, text: string): void;
}

interface Current {
  id: string;
  conversationId: string;
  live: RunningCall;
}

/** The staff member's call (one at a time). The console answers the customer's offers; the
 * call code gets callbacks, never the socket. */
export class ConsoleCalls {
  private current: Current | null = null;

  constructor(
    private readonly call: Call<StaffCalls>,
    private readonly host: CallHost,
  ) {}

  listen(s: Socket<StaffListen, DefaultEventsMap>): void {
    s.on(ServerEvent.CALL_STATE, (state) => this.state(state));
    s.on(ServerEvent.CALL_OFFER, (e) => {
      if (this.current?.id === e.call_id) void this.current.live.session.handleOffer(e.sdp);
    });
    s.on(ServerEvent.CALL_CANDIDATE, (e) => {
      if (this.current?.id === e.call_id) void this.current.live.session.handleCandidate(e.candidate);
    });
    s.on(ServerEvent.CALL_RESPONSE, (e) => {
      if (!e.accepted) this.host.note(e.conversation_id, "The customer declined.");
    });
  }

  /** The calls the server says are running (sync): keep the same call's peer, drop others. */
  synced(calls: WireCall[]): void {
    if (this.current && !calls.some((c) => c.call.id === this.current?.id)) this.stop();
    calls.forEach((c) => this.state(c));
  }

  state({ call, ice }: CallState): void {
    if (call.ended_at !== null || !ice) {
      if (this.current?.id === call.id) this.stop();
      return;
    }
    if (this.current?.id === call.id) return;
    this.stop();
    const ids = { conversation_id: call.conversation_id, call_id: call.id };
    const live = runCall({
      ice,
      role: "answerer",
      channel: call.channel,
      send: {
        offer: () => undefined,
        answer: (sdp) => void this.call(StaffEvent.CALL_ANSWER, { ...ids, sdp }),
        candidate: (candidate) => void this.call(StaffEvent.CALL_CANDIDATE, { ...ids, candidate }),
      },
      onHangUp: () => void this.end("hangup"),
      // The customer restarts and falls back on their side; failing here means they are gone.
      onState: (phase) => {
        if (phase !== "failed" || this.current?.id !== call.id) return;
        this.host.note(call.conversation_id, "The customer's connection was lost, so the call ended.");
        void this.end("media_failed");
      },
      onMediaError: (problem) => {
        this.host.note(call.conversation_id, problem === "permission_denied"
          ? "Your camera or microphone is blocked; allow them for this site."
          : "Your camera or microphone couldn't be started.");
        void this.end(problem);
      },
    });
    this.current = { id: call.id, conversationId: call.conversation_id, live };
    this.host.showCall(call.conversation_id, live.screen.el);
  }

  /** Propose a channel to the customer ("chat" ends the call once they agree). */
  async propose(conversationId: string, channel: "chat" | CallView["channel"]): Promise<void> {
    const ack = await this.call(StaffEvent.CALL_PROPOSE, { conversation_id: conversationId, channel });
    this.host.note(conversationId, ack.ok ? "Waiting for the customer to answer…" : ack.error.message);
  }

  /** Conversation ended or left: close its call here. */
  ended(conversationId: string): void {
    if (this.current?.conversationId === conversationId) this.stop();
  }

  stop(): void {
    const current = this.current;
    this.current = null;
    if (!current) return;
    current.live.session.close();
    current.live.screen.destroy();
    this.host.showCall(current.conversationId, null);
  }

  private async end(reason: EndCall["reason"]): Promise<void> {
    const current = this.current;
    if (!current) return;
    this.stop();
    await this.call(StaffEvent.CALL_END, { conversation_id: current.conversationId, call_id: current.id, reason });
  }
}

/** Which devices this console has, for `presence.set`. A device whose label is empty (no
 * permission yet) still counts: it will most likely work once the call asks for it. */
export async function mediaReadiness(): Promise<{ camera: boolean; microphone: boolean }> {
  const devices = await navigator.mediaDevices?.enumerateDevices().catch(() => []) ?? [];
  const blocked = async (name: string) => {
    try {
      return (await navigator.permissions.query({ name } as unknown as PermissionDescriptor)).state === "denied";
    } catch {
      return false;
    }
  };
  return {
    camera: devices.some((d) => d.kind === "videoinput") && !(await blocked("camera")),
    microphone: devices.some((d) => d.kind === "audioinput") && !(await blocked("microphone")),
  };
}
