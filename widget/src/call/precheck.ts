// "Check my camera and connection": a short call to the server's own peer, once through the
// TURN relay only and once with any route, then one verdict per item with plain advice.
// Talks HTTP to /api/v1/precheck; the caller supplies the headers that prove who it is.
import type { IceConfig } from "../protocol.gen";
import { button, h, say } from "../shared/dom";

type Policy = "all" | "relay";
export type Verdict = "pass" | "warning" | "fail" | "skipped";
// The site sends every call through the relay, so a direct path is not checked.
type RelayOnly = "relay-only";

export interface CheckItem {
  name: "Camera" | "Microphone" | "Direct connection" | "TURN relay" | "Round trip";
  verdict: Verdict;
  advice: string;
}

interface CheckResult {
  state: "connecting" | "connected" | "failed" | "closed";
  video_frames: number;
  video_size: unknown;
  audio_frames: number;
  audio_level: number | null;
  selected_candidate_type: string | null;
  rtt_ms: number | null;
}

export interface PrecheckOptions {
  /** Sent with every request: the visitor token and site, or the staff CSRF token. */
  headers: Record<string, string>;
  /** For each check, how long to wait for media before judging. */
  timeoutMs?: number;
}

const API = "/api/v1/precheck";
/** Below this audio level (RMS, 0..1) the microphone counts as silent. */
const SILENCE = 0.001;

/** Run the relay check, then the direct one, and judge the five items. */
export async function runPrecheck(options: PrecheckOptions): Promise<CheckItem[]> {
  let stream: MediaStream | null = null;
  let deviceError = "";
  try {
    stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
  } catch (err) {
    deviceError = (err as { name?: string }).name ?? "Error";
  }
  try {
    const relay = stream ? await checkOnce("relay", stream, options) : null;
    const direct = stream ? await checkOnce("all", stream, options) : null;
    // (only the "all" check can come back relay-only)
    return judge(relay === "relay-only" ? null : relay, direct, deviceError);
  } finally {
    stream?.getTracks().forEach((t) => t.stop());
  }
}

async function checkOnce(
  policy: Policy,
  stream: MediaStream,
  o: PrecheckOptions,
): Promise<CheckResult | RelayOnly | null> {
  const request = (url: string, init: RequestInit = {}) =>
    fetch(url, { credentials: "same-origin", ...init, headers: { ...o.headers, ...(init.headers ?? {}) } });
  let pc: RTCPeerConnection | null = null;
  let checkId: string | null = null;
  try {
    const iceResponse = await request(`${API}/ice?policy=${policy}`);
    if (!iceResponse.ok) return null;
    const ice = (await iceResponse.json()) as IceConfig & { relay_only?: boolean };
    if (policy === "all" && ice.relay_only) return "relay-only";
    pc = new RTCPeerConnection({
      iceServers: ice.ice_servers.map((s) => ({ urls: s.urls, username: s.username ?? undefined, credential: s.credential ?? undefined })),
      iceTransportPolicy: ice.ice_transport_policy,
    });
    for (const track of stream.getTracks()) pc.addTrack(track, stream);
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc);
    const posted = await request(API, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ sdp: pc.localDescription?.sdp ?? "", policy }),
    });
    if (posted.status !== 201) return null;
    const { check_id, answer_sdp } = (await posted.json()) as { check_id: string; answer_sdp: string };
    checkId = check_id;
    await pc.setRemoteDescription({ type: "answer", sdp: answer_sdp });
    const deadline = Date.now() + (o.timeoutMs ?? 8000);
    let result: CheckResult | null = null;
    while (Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 400));
      const got = await request(`${API}/${check_id}`);
      if (!got.ok) break;
      result = (await got.json()) as CheckResult;
      if (result.state === "failed") break;
      // Listen until a sound is heard or for about two seconds of audio (100 frames of 20 ms):
      // someone silent for the first moment is not a muted microphone.
      const heard = (result.audio_level ?? 0) >= SILENCE || result.audio_frames >= 100;
      if (result.state === "connected" && result.video_frames > 5 && heard && result.rtt_ms !== null) break;
    }
    return result;
  } catch {
    return null;
  } finally {
    pc?.close();
    if (checkId) void request(`${API}/${checkId}`, { method: "DELETE" }).catch(() => undefined);
  }
}

// The server takes the offer whole (no trickle), so wait for gathering, but not forever.
function gathered(pc: RTCPeerConnection): Promise<void> {
  return new Promise((resolve) => {
    if (pc.iceGatheringState === "complete") return resolve();
    const done = () => pc.iceGatheringState === "complete" && resolve();
    pc.addEventListener("icegatheringstatechange", done);
    setTimeout(resolve, 4000);
  });
}

export function judge(
  relay: CheckResult | null,
  checked: CheckResult | RelayOnly | null,
  deviceError = "",
): CheckItem[] {
  const relayOnly = checked === "relay-only";
  const direct = relayOnly ? null : checked;
  const blocked = deviceError === "NotAllowedError" || deviceError === "SecurityError";
  const connected = (r: CheckResult | null) => r?.state === "connected" || (r?.state === "closed" && r.video_frames > 0);
  const best = [relay, direct].filter(connected);
  const video = Math.max(0, ...best.map((r) => r?.video_frames ?? 0));
  const audio = Math.max(0, ...best.map((r) => r?.audio_frames ?? 0));
  const level = Math.max(0, ...best.map((r) => r?.audio_level ?? 0));
  const rtts = best.map((r) => r?.rtt_ms).filter((x): x is number => typeof x === "number");
  const rtt = rtts.length ? Math.min(...rtts) : null;
  const items: CheckItem[] = [];
  const device = (name: "Camera" | "Microphone", frames: number, silent: boolean) => {
    if (deviceError) {
      items.push({ name, verdict: "fail", advice: blocked ? `Your ${name.toLowerCase()} is blocked: allow it in your browser's site settings.` : `No working ${name.toLowerCase()} was found.` });
    } else if (!best.length) {
      items.push({ name, verdict: "warning", advice: "Found, but we couldn't test it without a connection." });
    } else if (!frames) {
      items.push({ name, verdict: "fail", advice: `Your ${name.toLowerCase()} sent nothing; another app may be using it.` });
    } else if (silent) {
      items.push({ name, verdict: "warning", advice: "We hear nothing: check that your microphone isn't muted." });
    } else {
      items.push({ name, verdict: "pass", advice: "Works." });
    }
  };
  device("Camera", video, false);
  device("Microphone", audio, level < SILENCE);
  if (!deviceError) {
    const route = direct?.selected_candidate_type;
    items.push(
      relayOnly
        ? { name: "Direct connection", verdict: "skipped", advice: "Not needed: calls here always go through the relay." }
        : connected(direct) && route && route !== "relay"
        ? { name: "Direct connection", verdict: "pass", advice: "Calls can go straight through your network." }
        : { name: "Direct connection", verdict: "warning", advice: "Your network blocks direct calls; calls will use the relay." },
      connected(relay)
        ? { name: "TURN relay", verdict: "pass", advice: "The relay works, so calls will connect." }
        : { name: "TURN relay", verdict: connected(direct) ? "warning" : "fail", advice: "The relay can't be reached; a firewall may block it." },
      rtt === null
        ? { name: "Round trip", verdict: "fail", advice: "No connection to measure." }
        : { name: "Round trip", verdict: rtt < 150 ? "pass" : rtt < 400 ? "warning" : "fail", advice: `${Math.round(rtt)} ms${rtt < 150 ? ": calls will feel natural." : ": expect some delay."}` },
    );
  }
  return items;
}

/** The check's UI: a region "Pre-call check" with a Start button and the list of items. */
export function precheckPanel(options: PrecheckOptions, onClose: () => void): HTMLElement {
  const status = h("p", { role: "status" }, "Checking your camera, microphone and connection…");
  const list = h("ul", { class: "checks", "aria-label": "Check results" });
  const close = button("Close");
  close.addEventListener("click", onClose);
  const el = h("section", { class: "call-problem", role: "region", "aria-label": "Pre-call check" }, status, list, close);
  void runPrecheck(options).then((items) => {
    list.replaceChildren(...items.map((i) => h("li", { class: i.verdict }, h("strong", {}, `${i.name}: ${i.verdict}`), ` — ${i.advice}`)));
    const failed = items.some((i) => i.verdict === "fail");
    say(status, failed ? "Some things need attention." : "You're ready for a call.");
  });
  return el;
}
