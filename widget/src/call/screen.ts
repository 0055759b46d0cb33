// The call screen shared by the frame and the console: a region named "Call" with both
// videos, the controls and one status line saying who can see and hear whom and how good the
// connection is. It shows a session; it holds no signaling.
import { button, h, say, show } from "../shared/dom";
import {
  receivesVideo,
  sendsVideo,
  type CallPhase,
  type CallSession,
  type CallStats,
  type DeviceKind,
} from "./session";

const STATS_EVERY_MS = 2000;
const WAITING_AFTER_MS = 2500;

export class CallScreen {
  readonly el: HTMLElement;
  private readonly mine = h("video", { "aria-label": "Your camera", autoplay: true, playsinline: true });
  private readonly theirs = h("video", { "aria-label": "Their video", autoplay: true, playsinline: true });
  private readonly waiting = h("p", { class: "waiting", hidden: true }, "Waiting for their video…");
  private readonly status = h("p", { class: "call-status", role: "status" });
  private readonly mute = button("Mute", { "aria-pressed": "false" });
  private readonly camera = button("Camera off", { "aria-pressed": "false" });
  private readonly hangUp = button("End call", { class: "danger" });
  private readonly cameras = h("select", {});
  private readonly microphones = h("select", {});
  private readonly stage: HTMLElement;
  private phase: CallPhase = "starting";
  private quality = "";
  // A device that could not be switched to, said until the next successful choice.
  private deviceProblem = "";
  private muted = false;
  private cameraOn = true;
  private timer: ReturnType<typeof setInterval>;
  private waitTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly session: CallSession,
    onHangUp: () => void,
  ) {
    this.mine.muted = true;
    const id = Math.random().toString(36).slice(2, 8);
    const video = sendsVideo(session.channel, session.role);
    this.stage = h("div", { class: "stage" }, this.theirs, this.waiting, video ? this.mine : null);
    this.el = h(
      "section",
      { class: "call", role: "region", "aria-label": "Call" },
      this.stage,
      this.status,
      h(
        "div",
        { class: "call-controls" },
        this.mute,
        video ? this.camera : null,
        this.hangUp,
      ),
      h(
        "div",
        { class: "devices" },
        video ? h("label", { for: `cam-${id}` }, "Camera") : null,
        video ? Object.assign(this.cameras, { id: `cam-${id}` }) : null,
        h("label", { for: `mic-${id}` }, "Microphone"),
        Object.assign(this.microphones, { id: `mic-${id}` }),
      ),
    );
    // Voice: the element stays (it plays their sound) but shows nothing.
    show(this.stage, receivesVideo(session.channel, session.role) || video);
    this.theirs.classList.toggle("gone", !receivesVideo(session.channel, session.role));
    this.mute.addEventListener("click", () => {
      this.muted = !this.muted;
      session.setMuted(this.muted);
      this.mute.textContent = this.muted ? "Unmute" : "Mute";
      this.mute.setAttribute("aria-pressed", String(this.muted));
      this.render();
    });
    this.camera.addEventListener("click", () => {
      this.cameraOn = !this.cameraOn;
      session.setCameraOn(this.cameraOn);
      this.camera.textContent = this.cameraOn ? "Camera off" : "Camera on";
      this.camera.setAttribute("aria-pressed", String(!this.cameraOn));
      this.render();
    });
    this.hangUp.addEventListener("click", onHangUp);
    const choose = (kind: DeviceKind, select: HTMLSelectElement) =>
      select.addEventListener("change", () => {
        const label = kind === "videoinput" ? "camera" : "microphone";
        session.chooseDevice(kind, select.value).then(
          () => (this.deviceProblem = ""),
          () => {
            this.deviceProblem = `That ${label} can't be used (another app may have it); keeping the current one`;
            // Show the device that is really in use again.
            const stream = this.mine.srcObject;
            if (stream instanceof MediaStream) void this.listDevices(stream);
          },
        ).finally(() => this.render());
      });
    choose("videoinput", this.cameras);
    choose("audioinput", this.microphones);
    this.theirs.addEventListener("playing", () => this.frames());
    this.theirs.addEventListener("resize", () => this.frames());
    this.timer = setInterval(() => void this.measure(), STATS_EVERY_MS);
    this.render();
  }

  local(stream: MediaStream): void {
    if (this.mine.srcObject !== stream) this.mine.srcObject = stream;
    void this.listDevices(stream);
  }

  remote(stream: MediaStream): void {
    if (this.theirs.srcObject !== stream) this.theirs.srcObject = stream;
    // Autoplay with sound can be refused; muted playback never is, and beats a still frame.
    this.theirs.play().catch(() => {
      this.theirs.muted = true;
      void this.theirs.play().catch(() => undefined);
    });
    for (const track of stream.getVideoTracks()) {
      track.onmute = () => this.expectFrames();
      track.onunmute = () => this.expectFrames();
    }
    this.expectFrames();
  }

  state(phase: CallPhase): void {
    this.phase = phase;
    this.render();
  }

  destroy(): void {
    clearInterval(this.timer);
    clearTimeout(this.waitTimer);
    this.mine.srcObject = null;
    this.theirs.srcObject = null;
    this.el.remove();
  }

  // Never a black box: without frames for a moment, say what we are waiting for.
  private expectFrames(): void {
    clearTimeout(this.waitTimer);
    if (!receivesVideo(this.session.channel, this.session.role)) return;
    this.waitTimer = setTimeout(() => this.frames(), WAITING_AFTER_MS);
    this.frames();
  }

  private frames(): void {
    const track = (this.theirs.srcObject as MediaStream | null)?.getVideoTracks()[0];
    const flowing = !!track && !track.muted && this.theirs.videoWidth > 0;
    show(this.waiting, !flowing);
    this.theirs.classList.toggle("blank", !flowing);
  }

  private async measure(): Promise<void> {
    if (this.phase !== "connected") return;
    const stats: CallStats = await this.session.stats();
    this.quality = connectionText(stats);
    this.render();
    if (receivesVideo(this.session.channel, this.session.role)) this.frames();
  }

  private render(): void {
    say(this.status, [this.seeing(), this.quality, this.deviceProblem].filter(Boolean).join(" · "));
  }

  /** Who can see and hear whom, from this side's point of view. */
  private seeing(): string {
    switch (this.phase) {
      case "starting":
        return "Starting your camera and microphone…";
      case "connecting":
        return "Connecting…";
      case "reconnecting":
        return "Connection lost, reconnecting…";
      case "failed":
        return "The call could not connect.";
      case "closed":
        return "Call ended";
    }
    const { channel, role } = this.session;
    const muted = this.muted ? "; you're muted" : "";
    let text: string;
    if (channel === "voice") text = "You can hear each other";
    else if (channel === "oneway") {
      text = role === "offerer" ? "You can see them; they can't see you" : "They can see you; you can't see them";
      if (role === "answerer" && !this.cameraOn) text = "They can't see you (camera off)";
      text += role === "offerer" ? ". They can hear you" : ". You can hear each other";
    } else if (!this.cameraOn) text = "You can see them; they can't see you (camera off)";
    else text = "You can see and hear each other";
    return text + muted;
  }

  private async listDevices(stream: MediaStream): Promise<void> {
    const devices = await navigator.mediaDevices.enumerateDevices().catch(() => []);
    const fill = (select: HTMLSelectElement, kind: DeviceKind, current: MediaStreamTrack | undefined) => {
      const using = current?.getSettings().deviceId;
      select.replaceChildren(
        ...devices
          .filter((d) => d.kind === kind)
          .map((d, i) =>
            h("option", { value: d.deviceId, selected: d.deviceId === using }, d.label || `${kind === "videoinput" ? "Camera" : "Microphone"} ${i + 1}`),
          ),
      );
    };
    fill(this.cameras, "videoinput", stream.getVideoTracks()[0]);
    fill(this.microphones, "audioinput", stream.getAudioTracks()[0]);
  }
}

/** "Connection: good · 45 ms" from the selected pair's round trip and inbound loss. */
export function connectionText(stats: CallStats): string {
  const rtt = stats.rttMs;
  const loss = stats.loss ?? 0;
  if (rtt === null && stats.loss === null) return "";
  const grade = (rtt ?? 0) < 200 && loss < 0.02 ? "good" : (rtt ?? 0) < 500 && loss < 0.08 ? "fair" : "poor";
  return `Connection: ${grade}${rtt === null ? "" : ` · ${rtt} ms`}`;
}
