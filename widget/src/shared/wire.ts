// Shapes the server sends that the generated protocol file does not cover: server→client
// event payloads and acknowledgement bodies. Keys come from the generated catalogues.
import {
  CustomerEvent,
  ErrorCode,
  ServerEvent,
  StaffEvent,
  type Ack,
  type CallCandidate,
  type CallSdp,
  type CallView,
  type ConversationRef,
  type EndCall,
  type IceConfig,
  type ProposeCall,
  type RespondCall,
  type StartCall,
  type ConversationView,
  type MessageView,
  type PageView,
  type RateConversation,
  type QueueChange,
  type Read,
  type ResumeConversation,
  type SendMessage,
  type SetPresence,
  type ExtendWrapUp,
  type TagConversation,
  type WrapUpView,
  type StartConversation,
  type Sync,
  type Typing,
  type WireError,
} from "../protocol.gen";

export type Side = "customer" | "staff";
export type Presence = "available" | "away" | "offline";
export type AwayReason = NonNullable<SetPresence["reason"]>;

export interface TypingEvent {
  conversation_id: string;
  side: Side;
  typing: boolean;
}

export interface ReadEvent {
  conversation_id: string;
  side: Side;
  seq: number;
}

export interface RingEvent {
  conversation: ConversationView;
  timeout_ms: number;
}

/** A call with this side's ICE configuration (absent once the call has ended). */
export interface CallState {
  call: CallView;
  ice?: IceConfig;
}

export interface CallProposal {
  conversation_id: string;
  proposal_id: string;
  channel: "chat" | "voice" | "video" | "oneway";
}

type CallSignals = {
  [ServerEvent.CALL_STATE]: (event: CallState) => void;
  [ServerEvent.CALL_OFFER]: (event: CallSdp) => void;
  [ServerEvent.CALL_ANSWER]: (event: CallSdp) => void;
  [ServerEvent.CALL_CANDIDATE]: (event: CallCandidate) => void;
};

type StateHandler = (event: { conversation: ConversationView }) => void;
type MessageHandler = (event: { message: MessageView }) => void;

export type CustomerListen = {
  [ServerEvent.SESSION]: (event: { token: string; visitor_id: string }) => void;
  [ServerEvent.CONVERSATION_STATE]: StateHandler;
  [ServerEvent.MESSAGE_NEW]: MessageHandler;
  [ServerEvent.TYPING]: (event: TypingEvent) => void;
  [ServerEvent.READ]: (event: ReadEvent) => void;
  [ServerEvent.CALL_PROPOSED]: (event: CallProposal) => void;
} & CallSignals;

export type StaffListen = {
  [ServerEvent.CONVERSATION_STATE]: StateHandler;
  [ServerEvent.MESSAGE_NEW]: MessageHandler;
  [ServerEvent.TYPING]: (event: TypingEvent) => void;
  [ServerEvent.READ]: (event: ReadEvent) => void;
  [ServerEvent.RING]: (event: RingEvent) => void;
  [ServerEvent.RING_CANCELLED]: (event: { conversation_id: string; reason: string }) => void;
  [ServerEvent.QUEUE_CHANGED]: (event: QueueChange) => void;
  [ServerEvent.PRESENCE]: (event: { status: Presence; reason?: AwayReason | null }) => void;
  [ServerEvent.WRAPUP]: (event: { wrapup: WrapUpView | null }) => void;
  [ServerEvent.CALL_RESPONSE]: (event: { conversation_id: string; proposal_id: string; accepted: boolean }) => void;
} & CallSignals;

/** Whether `next` may replace `held`, the view of the same conversation a client shows.
 * Views are ordered by `version`: an older one is a late hint and is dropped; an equal one
 * has the same state and may carry a newer queue position. */
export function supersedes(held: ConversationView | null | undefined, next: ConversationView): boolean {
  return !held || held.id !== next.id || next.version >= held.version;
}

/** A running call with ICE, as a resume, sync or accept acknowledgement carries it. */
export type RunningCall = { call: CallView; ice: IceConfig };
/** A conversation's state and one page of its messages; `more`: ask again from the last seq
 * then held without a gap. */
type Replay = { conversation: ConversationView; messages: MessageView[]; more?: boolean; call?: RunningCall | null };
type Nothing = Record<never, never>;

/** Client→server events: [payload, body of an ok acknowledgement]. */
export type CustomerCalls = {
  [CustomerEvent.CONVERSATION_START]: [StartConversation, { conversation: ConversationView }];
  [CustomerEvent.CONVERSATION_RESUME]: [ResumeConversation, Replay];
  [CustomerEvent.CONVERSATION_END]: [ConversationRef, { conversation: ConversationView }];
  [CustomerEvent.CONVERSATION_RATE]: [RateConversation, { conversation: ConversationView }];
  [CustomerEvent.MESSAGE_SEND]: [SendMessage, { message: MessageView }];
  [CustomerEvent.TYPING]: [Typing, Nothing];
  [CustomerEvent.READ]: [Read, Nothing];
  [CustomerEvent.PAGE_VIEW]: [PageView, Nothing];
  [CustomerEvent.CALL_START]: [StartCall, RunningCall];
  [CustomerEvent.CALL_RESPOND]: [RespondCall, { call: RunningCall | null }];
  [CustomerEvent.CALL_OFFER]: [CallSdp, Nothing];
  [CustomerEvent.CALL_ANSWER]: [CallSdp, Nothing];
  [CustomerEvent.CALL_CANDIDATE]: [CallCandidate, Nothing];
  [CustomerEvent.CALL_END]: [EndCall, { call: CallView }];
};

export type SyncReply = {
  presence: Presence;
  reason?: AwayReason | null;
  wrapup?: WrapUpView | null;
  conversations: ConversationView[];
  messages: MessageView[];
  rings: RingEvent[];
  queue: ConversationView[];
  calls?: RunningCall[];
  /** Conversations whose replay was cut at the page limit. */
  more?: string[];
};

export type StaffCalls = {
  [StaffEvent.SYNC]: [Sync, SyncReply];
  [StaffEvent.PRESENCE_SET]: [SetPresence, { presence: Presence; reason?: AwayReason | null }];
  [StaffEvent.RING_ACCEPT]: [ConversationRef, Replay];
  [StaffEvent.RING_DECLINE]: [ConversationRef, Nothing];
  [StaffEvent.CONVERSATION_RESUME]: [ResumeConversation, Replay];
  [StaffEvent.CONVERSATION_END]: [ConversationRef, { conversation: ConversationView }];
  [StaffEvent.MESSAGE_SEND]: [SendMessage, { message: MessageView }];
  [StaffEvent.TYPING]: [Typing, Nothing];
  [StaffEvent.READ]: [Read, Nothing];
  [StaffEvent.CALL_PROPOSE]: [ProposeCall, { proposal_id: string }];
  [StaffEvent.CALL_OFFER]: [CallSdp, Nothing];
  [StaffEvent.CALL_ANSWER]: [CallSdp, Nothing];
  [StaffEvent.CALL_CANDIDATE]: [CallCandidate, Nothing];
  [StaffEvent.CALL_END]: [EndCall, { call: CallView }];
  [StaffEvent.WRAPUP_END]: [Nothing, { wrapup: null }];
  [StaffEvent.WRAPUP_EXTEND]: [ExtendWrapUp, { wrapup: WrapUpView | null }];
  [StaffEvent.CONVERSATION_TAG]: [TagConversation, { tag: string }];
};

type CallMap<C> = { [K in keyof C]: [object, object] };
export type Call<C extends CallMap<C>> = <K extends keyof C & string>(
  event: K,
  payload: C[K][0],
) => Promise<Ack<C[K][1]>>;

const ACK_TIMEOUT_MS = 10_000;

/** The part of a socket.io socket that `caller` needs. */
export interface Emitting {
  readonly connected: boolean;
  timeout(ms: number): { emitWithAck(event: string, payload: object): Promise<unknown> };
}

/** A typed request function over `socket`: every event is acknowledged, and a missing
 * acknowledgement (timeout, lost connection) becomes a retryable `server.error`. */
export function caller<C extends CallMap<C>>(socket: Emitting): Call<C> {
  return async (event, payload) => {
    if (!socket.connected) return failure("Not connected.");
    try {
      return (await socket.timeout(ACK_TIMEOUT_MS).emitWithAck(event, payload)) as Ack<never>;
    } catch {
      return failure("No answer from the server.");
    }
  };
}

function failure(message: string): { ok: false; error: WireError } {
  return { ok: false, error: { code: ErrorCode.SERVER_ERROR, message } };
}

/** The coded reason of a refused connection, if the server gave one. */
export function refusal(err: Error): WireError | null {
  const data = (err as Error & { data?: unknown }).data;
  if (data && typeof data === "object" && "code" in data && "message" in data) {
    return data as WireError;
  }
  return null;
}
