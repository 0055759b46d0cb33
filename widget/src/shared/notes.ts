import type { MessageView } from "../protocol.gen";

const CALLS: Record<string, string> = { video: "Video call", voice: "Voice call", oneway: "One-way video call" };
const SUGGESTED: Record<string, string> = {
  video: "a video call",
  voice: "a voice call",
  oneway: "one-way video",
  chat: "going back to chat",
};
const REASONS: Record<string, string> = {
  media_failed: "connection failed",
  ice_failed: "connection failed",
  permission_denied: "camera or microphone blocked",
  no_device: "no camera or microphone",
};

/** "Video call started", "Video call ended · 1 min 23 s · ended by you", "Sam suggested a
 * voice call", "You declined a voice call" for the call notes of the transcript, or null for
 * other notes. `endedBy` names a side as this reader says it. */
export function callNote(m: MessageView, endedBy: (side: string) => string): string | null {
  const d = (m.detail ?? {}) as {
    channel?: string;
    ended_by?: string;
    reason?: string;
    duration_s?: number | null;
    accepted?: boolean;
  };
  const offer = SUGGESTED[d.channel ?? ""] ?? "a call";
  if (m.body === "call_proposed") return `${capital(endedBy("staff"))} suggested ${offer}`;
  if (m.body === "call_proposal_answered") {
    return `${capital(endedBy("customer"))} ${d.accepted ? "accepted" : "declined"} ${offer}`;
  }
  if (m.body !== "call_started" && m.body !== "call_ended") return null;
  const name = CALLS[d.channel ?? ""] ?? "Call";
  if (m.body === "call_started") return `${name} started`;
  const parts = [`${name} ended`];
  if (typeof d.duration_s === "number") parts.push(duration(d.duration_s));
  if (d.reason === "switched") parts.push("switched");
  else if (d.reason && REASONS[d.reason]) parts.push(REASONS[d.reason]!);
  else if (d.ended_by && d.ended_by !== "system") parts.push(`ended by ${endedBy(d.ended_by)}`);
  return parts.join(" · ");
}

function capital(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function duration(s: number): string {
  const min = Math.floor(s / 60);
  return min ? `${min} min ${s % 60} s` : `${s} s`;
}
