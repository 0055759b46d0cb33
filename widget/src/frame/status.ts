import type { ConversationView, MessageView } from "../protocol.gen";
import { callNote } from "../shared/notes";

/** The status line for the customer's conversation. */
export function statusText(c: ConversationView): string {
  switch (c.status) {
    case "queued":
      return `${asked(c.channel)}${place(c.queue_position)} · ${wait(c.estimated_wait_s)}`;
    case "ringing":
      return "Connecting you with someone…";
    case "active":
      return `You're talking with ${c.assignee?.name ?? "someone"}`;
    case "ended":
      return "This conversation has ended.";
  }
}

// While waiting, the customer still sees which way they asked to talk.
function asked(channel: string): string {
  if (channel === "video") return "You asked for a video call · ";
  if (channel === "voice") return "You asked for a voice call · ";
  if (channel === "oneway") return "You asked to see the staff member · ";
  return "";
}

function place(position: number | null): string {
  return position ? `You're number ${position} in line` : "You're in line";
}

// Null means nobody is available to give an honest estimate.
function wait(seconds: number | null): string {
  if (seconds === null) return "we'll be with you shortly";
  return `about ${Math.max(1, Math.round(seconds / 60))} min`;
}

/** A system message as the customer reads it; `staff` names the staff member. */
export function noteText(m: MessageView, staff = "them"): string {
  const call = callNote(m, (side) => (side === "customer" ? "you" : staff));
  if (call) return call;
  if (m.body === "joined") return `${m.author_name ?? "Someone"} joined`;
  if (m.body === "ended") return "Conversation ended";
  if (m.body === "requeued") return "We're finding someone else to help you";
  return m.body;
}
