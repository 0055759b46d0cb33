// One call's media: local devices, one RTCPeerConnection, its negotiation and ICE recovery.
// No socket here (CONVENTIONS 4): what must reach the other side leaves through `send`, and
// what arrives from it comes in through handleOffer/handleAnswer/handleCandidate.
import type { CallView, IceCandidate, IceConfig } from "../protocol.gen";

export type CallChannel = CallView["channel"];
/** The customer is always the offerer; the staff console answers. */
export type CallRole = "offerer" | "answerer";
/** `starting` (devices) → `connecting` → `connected` ⇄ `reconnecting` → `failed` | `closed`. */
export type CallPhase = "starting" | "connecting" | "connected" | "reconnecting" | "failed" | "closed";
/** Why local media could not start; the same words as `call.end` reasons. */
export type MediaProblem = "permission_denied" | "no_device" | "media_failed";
export type DeviceKind = "audioinput" | "videoinput";

export interface CallOptions {
  ice: IceConfig;
  role: CallRole;
  channel: CallChannel;
  send: {
    offer(sdp: string): void;
    answer(sdp: string): void;
    /** null: this side finished gathering. */
    candidate(candidate: IceCandidate | null): void;
  };
  onLocalStream?(stream: MediaStream): void;
  /** Called again whenever a remote track is added or removed. */
  onRemoteStream(stream: MediaStream): void;
  onState(phase: CallPhase): void;
  /** Local media could not start; the call is closed. */
  onMediaError(problem: MediaProblem): void;
  /** How long the offerer tries to (re)connect before giving up with `failed`. The answerer
   * waits `ANSWERER_PATIENCE` times as long: the offerer's restarts and fallback come first,
   * so the answerer gives up only when the other side is gone. */
  connectTimeoutMs?: number;
}

/** What getStats says, summed over the call. `loss` is the inbound packet loss since the
 * previous `stats()` call (0…1), null before any packet. */
export interface CallStats {
  rttMs: number | null;
  loss: number | null;
  candidateType: string | null;
  audio: { packetsReceived: number; packetsSent: number };
  video: { framesDecoded: number; framesSent: number };
}

export interface CallSession {
  readonly channel: CallChannel;
  readonly role: CallRole;
  readonly phase: CallPhase;
  handleOffer(sdp: string): Promise<void>;
  handleAnswer(sdp: string): Promise<void>;
  handleCandidate(candidate: IceCandidate | null): Promise<void>;
  setMuted(muted: boolean): void;
  setCameraOn(on: boolean): void;
  chooseDevice(kind: DeviceKind, deviceId: string): Promise<void>;
  stats(): Promise<CallStats>;
  close(): void;
}

/** What this side sends: always a microphone; a camera in video calls, and in one-way calls
 * only on the staff (answerer) side. */
export function sendsVideo(channel: CallChannel, role: CallRole): boolean {
  return channel === "video" || (channel === "oneway" && role === "answerer");
}

export function receivesVideo(channel: CallChannel, role: CallRole): boolean {
  return channel === "video" || (channel === "oneway" && role === "offerer");
}

const RESTART_AFTER_DISCONNECT_MS = 2000;
const ANSWERER_PATIENCE = 3;

/** Start a call's media. Returns at once; devices are requested in the background and
 * signaling that arrives meanwhile waits for them. */
export function startCall(options: CallOptions): CallSession {
  return new Session(options);
}

class Session implements CallSession {
  readonly channel: CallChannel;
  readonly role: CallRole;
  phase: CallPhase = "starting";
  private local: MediaStream | null = null;
  private readonly remote = new MediaStream();
  private readonly pc: RTCPeerConnection;
  /** The first offer is set and sent (offerer); the answerer's is already resolved. */
  private offered: Promise<void> = Promise.resolve();
  private pending: RTCIceCandidateInit[] = [];
  private answered = false;
  private giveUp: ReturnType<typeof setTimeout> | undefined;
  private restartTimer: ReturnType<typeof setTimeout> | undefined;
  private lost = 0;
  private received = 0;

  constructor(private readonly o: CallOptions) {
    this.channel = o.channel;
    this.role = o.role;
    this.pc = new RTCPeerConnection({
      iceServers: o.ice.ice_servers.map((s) => ({
        urls: s.urls,
        ...(s.username ? { username: s.username } : {}),
        ...(s.credential ? { credential: s.credential } : {}),
      })),
      iceTransportPolicy: o.ice.ice_transport_policy,
    });
    this.pc.addEventListener("icecandidate", ({ candidate: c }) => {
      if (this.phase === "closed") return;
      o.send.candidate(c ? { candidate: c.candidate, sdp_mid: c.sdpMid, sdp_mline_index: c.sdpMLineIndex } : null);
    });
    this.pc.addEventListener("track", ({ track }) => {
      this.remote.addTrack(track);
      track.addEventListener("ended", () => {
        this.remote.removeTrack(track);
        o.onRemoteStream(this.remote);
      });
      o.onRemoteStream(this.remote);
    });
    this.pc.addEventListener("iceconnectionstatechange", () => this.iceChanged());
    if (this.role === "answerer") this.armGiveUp();
    void this.open().catch((err: unknown) => this.failMedia(err));
  }

  /** Read through a getter so that checks after an await are not narrowed away. */
  private get closed(): boolean {
    return this.phase === "closed";
  }

  /** The devices could not be had or used: end the attempt and say why. */
  private failMedia(err: unknown): void {
    if (this.phase === "closed") return;
    this.close();
    this.o.onMediaError(problemOf(err));
  }

  /** Ask for the devices and negotiate at the same time: the offer (or answer) declares what
   * this side will send, and each track joins its transceiver when the devices deliver it
   * (replaceTrack, no renegotiation). The camera's start-up overlaps signaling, ICE and DTLS
   * instead of coming before them. */
  private async open(): Promise<void> {
    const video = sendsVideo(this.channel, this.role);
    const devices = navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: true, noiseSuppression: true },
      video: video ? { width: { ideal: 640 }, height: { ideal: 480 } } : false,
    });
    if (this.role === "offerer") {
      this.pc.addTransceiver("audio", { direction: "sendrecv" });
      if (video || receivesVideo(this.channel, this.role)) {
        this.pc.addTransceiver("video", { direction: video ? "sendrecv" : "recvonly" });
      }
      // An offer that cannot be made fails the call now (the screen says so and the customer
      // falls back), not silently at the give-up timer.
      this.offered = this.offer(false).catch(() => {
        if (!this.closed) this.set("failed");
      });
    }
    try {
      this.local = await devices;
    } catch (err) {
      return this.failMedia(err);
    }
    if (this.phase === "closed") return stop(this.local);
    this.o.onLocalStream?.(this.local);
    if (this.phase === "starting") this.set("connecting");
    await this.attach();
  }

  /** Put each local track on the transceiver of its kind that sends nothing yet. Runs when
   * the devices deliver and after the first description, whichever comes last does it. */
  private async attach(): Promise<void> {
    const local = this.local;
    if (!local || this.phase === "closed") return;
    for (const track of local.getTracks()) {
      if (this.closed) return;
      if (this.pc.getSenders().some((x) => x.track === track)) continue;
      const t = this.pc
        .getTransceivers()
        .find((x) => x.receiver.track.kind === track.kind && !x.sender.track && x.currentDirection !== "stopped");
      if (!t || (this.role === "answerer" && t.mid === null)) continue;
      try {
        await t.sender.replaceTrack(track);
        if (!this.closed) t.sender.setStreams?.(local);
      } catch (err) {
        if (this.closed) return; // the call ended meanwhile: nothing to attach to
        throw err;
      }
    }
  }

  async handleOffer(sdp: string): Promise<void> {
    if (this.phase === "closed" || this.role !== "answerer") return;
    await this.answer(sdp).catch((err: unknown) => {
      if (!this.closed) throw err; // a call that ended meanwhile has nothing to answer
    });
  }

  private async answer(sdp: string): Promise<void> {
    await this.pc.setRemoteDescription({ type: "offer", sdp });
    if (!this.answered) {
      // Answer at once on the transceivers the offer created, saying what this side sends;
      // the tracks join them when the devices deliver.
      const kinds = sendsVideo(this.channel, this.role) ? ["audio", "video"] : ["audio"];
      for (const t of this.pc.getTransceivers()) {
        if (t.mid !== null && kinds.includes(t.receiver.track.kind)) t.direction = "sendrecv";
      }
    }
    this.answered = true;
    await this.pc.setLocalDescription(await this.pc.createAnswer());
    await this.flushCandidates();
    if (this.pc.localDescription) this.o.send.answer(this.pc.localDescription.sdp);
    await this.attach();
  }

  async handleAnswer(sdp: string): Promise<void> {
    await this.offered;
    if (this.phase === "closed" || this.role !== "offerer" || this.pc.signalingState !== "have-local-offer") return;
    try {
      await this.pc.setRemoteDescription({ type: "answer", sdp });
      await this.flushCandidates();
    } catch (err) {
      if (!this.closed) throw err; // a call that ended meanwhile has nothing to take
    }
  }

  async handleCandidate(candidate: IceCandidate | null): Promise<void> {
    const init: RTCIceCandidateInit = candidate
      ? { candidate: candidate.candidate, sdpMid: candidate.sdp_mid ?? null, sdpMLineIndex: candidate.sdp_mline_index ?? null }
      : { candidate: "" };
    // Candidates may overtake the description they belong to: keep them until it is set.
    if (!this.pc.remoteDescription) return void this.pending.push(init);
    await this.pc.addIceCandidate(init).catch(() => undefined);
  }

  setMuted(muted: boolean): void {
    this.local?.getAudioTracks().forEach((t) => (t.enabled = !muted));
  }

  setCameraOn(on: boolean): void {
    this.local?.getVideoTracks().forEach((t) => (t.enabled = on));
  }

  /** Switch to another camera or microphone without renegotiating. */
  async chooseDevice(kind: DeviceKind, deviceId: string): Promise<void> {
    const local = this.local;
    const audio = kind === "audioinput";
    const old = audio ? local?.getAudioTracks()[0] : local?.getVideoTracks()[0];
    if (!local || !old) return;
    const fresh = await navigator.mediaDevices.getUserMedia(
      audio ? { audio: { deviceId: { exact: deviceId } } } : { video: { deviceId: { exact: deviceId } } },
    );
    const track = fresh.getTracks()[0];
    if (!track) return;
    track.enabled = old.enabled;
    const sender = this.pc.getSenders().find((s) => s.track === old);
    try {
      await sender?.replaceTrack(track);
    } catch (err) {
      track.stop(); // the old track stays in use
      throw err;
    }
    local.removeTrack(old);
    old.stop();
    local.addTrack(track);
    this.o.onLocalStream?.(local);
  }

  async stats(): Promise<CallStats> {
    const out: CallStats = {
      rttMs: null,
      loss: null,
      candidateType: null,
      audio: { packetsReceived: 0, packetsSent: 0 },
      video: { framesDecoded: 0, framesSent: 0 },
    };
    if (this.phase === "closed") return out;
    const report = await this.pc.getStats();
    let lost = 0;
    let received = 0;
    let pairId: string | undefined;
    report.forEach((s: Record<string, unknown> & { type: string }) => {
      if (s.type === "transport" && typeof s.selectedCandidatePairId === "string") pairId = s.selectedCandidatePairId;
    });
    report.forEach((s: Record<string, unknown> & { type: string; id: string }) => {
      const n = (key: string) => (typeof s[key] === "number" ? (s[key] as number) : 0);
      if (s.type === "candidate-pair" && (s.id === pairId || (!pairId && s.nominated && s.state === "succeeded"))) {
        if (typeof s.currentRoundTripTime === "number") out.rttMs = Math.round(s.currentRoundTripTime * 1000);
        const local = report.get(String(s.localCandidateId)) as { candidateType?: string } | undefined;
        out.candidateType = local?.candidateType ?? null;
      } else if (s.type === "inbound-rtp") {
        lost += n("packetsLost");
        received += n("packetsReceived");
        if (s.kind === "audio") out.audio.packetsReceived += n("packetsReceived");
        else out.video.framesDecoded += n("framesDecoded");
      } else if (s.type === "outbound-rtp") {
        if (s.kind === "audio") out.audio.packetsSent += n("packetsSent");
        else out.video.framesSent += n("framesSent") || n("framesEncoded");
      }
    });
    const dLost = Math.max(0, lost - this.lost);
    const dReceived = Math.max(0, received - this.received);
    if (dLost + dReceived > 0) out.loss = dLost / (dLost + dReceived);
    this.lost = lost;
    this.received = received;
    return out;
  }

  close(): void {
    if (this.phase === "closed") return;
    this.set("closed");
    clearTimeout(this.giveUp);
    clearTimeout(this.restartTimer);
    stop(this.local);
    this.pc.close();
  }

  // -- negotiation and recovery (offerer) --------------------------------------------------

  private async offer(iceRestart: boolean): Promise<void> {
    if (this.phase === "closed") return;
    this.armGiveUp();
    await this.pc.setLocalDescription(await this.pc.createOffer({ iceRestart }));
    if (this.pc.localDescription) this.o.send.offer(this.pc.localDescription.sdp);
  }

  private iceChanged(): void {
    const state = this.pc.iceConnectionState;
    if (this.phase === "closed") return;
    if (state === "connected" || state === "completed") {
      clearTimeout(this.giveUp);
      clearTimeout(this.restartTimer);
      this.giveUp = undefined;
      this.set("connected");
    } else if (state === "disconnected" || state === "failed") {
      if (this.phase === "connected") this.set("reconnecting");
      this.armGiveUp();
      if (this.role !== "offerer") return;
      // "disconnected" often heals by itself; restart only if it does not.
      clearTimeout(this.restartTimer);
      const wait = state === "failed" ? 0 : RESTART_AFTER_DISCONNECT_MS;
      this.restartTimer = setTimeout(() => {
        const now = this.pc.iceConnectionState;
        if ((now === "failed" || now === "disconnected") && this.pc.signalingState === "stable") {
          void this.offer(true).catch(() => undefined);
        }
      }, wait);
    }
  }

  private armGiveUp(): void {
    if (this.giveUp !== undefined) return;
    const patience = this.role === "offerer" ? 1 : ANSWERER_PATIENCE;
    this.giveUp = setTimeout(() => {
      this.giveUp = undefined;
      if (this.phase !== "connected" && this.phase !== "closed") this.set("failed");
    }, (this.o.connectTimeoutMs ?? 10_000) * patience);
  }

  private async flushCandidates(): Promise<void> {
    const queued = this.pending.splice(0);
    for (const c of queued) await this.pc.addIceCandidate(c).catch(() => undefined);
  }

  private set(phase: CallPhase): void {
    if (this.phase === phase) return;
    this.phase = phase;
    this.o.onState(phase);
  }
}

function stop(stream: MediaStream | null): void {
  stream?.getTracks().forEach((t) => t.stop());
}

function problemOf(err: unknown): MediaProblem {
  const name = (err as { name?: string } | null)?.name;
  if (name === "NotAllowedError" || name === "SecurityError") return "permission_denied";
  if (name === "NotFoundError" || name === "OverconstrainedError") return "no_device";
  return "media_failed";
}
