"""The two socket.io audiences. One method per event: decode, authorise, call the domain,
acknowledge. ``ProtocolNamespace.trigger_event`` does the decoding and turns every failure
into a coded refusal, so a bad payload never reaches a handler and never changes anything.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Literal

import socketio

from signaling.calls import Calls
from signaling.conversations import Conversations
from signaling.dispatch import CLIENT_ADDRESS, ProtocolNamespace, refuse
from signaling.errors import ErrorCode, ProtocolError
from signaling.events import CustomerEvent, ServerEvent, StaffEvent
from signaling.outbound import CUSTOMER_NS, STAFF_NS, Outbound
from signaling.ports import (
    Auth,
    Conversation,
    Counted,
    CustomerIdentity,
    LimitKind,
    Limits,
    Side,
    StaffMember,
)
from signaling.protocol import (
    CUSTOMER_PAYLOADS,
    STAFF_PAYLOADS,
    CallCandidate,
    CallSdp,
    ConversationRef,
    CustomerAuth,
    EndCall,
    ExtendWrapUp,
    PageView,
    Payload,
    ProposeCall,
    RateConversation,
    Read,
    RespondCall,
    ResumeConversation,
    SendMessage,
    SetPresence,
    StartCall,
    StartConversation,
    Sync,
    TagConversation,
    Typing,
    decode,
    ok,
)
from signaling.routing import Router
from signaling.shift import reason_of
from signaling.views import call_view, message_view

log = logging.getLogger(__name__)


class CallHandlers:
    """``call.*`` events, the same for both audiences: find the caller's conversation, then
    let ``Calls`` decide. ``side`` and ``conversation_for`` come from the namespace."""

    side: Side
    calls: Calls

    async def conversation_for(self, sid: str, conversation_id: str) -> Conversation:
        raise NotImplementedError

    async def running_call(self, conversation: Conversation) -> dict[str, Any] | None:
        """The conversation's running call with this side's ICE configuration, for a client
        catching up after a reconnect (a signaling reconnect does not end a call)."""
        call = await self.calls.running(conversation.id)
        if call is None:
            return None
        return {
            "call": call_view(call).to_wire(),
            "ice": await self.calls.ice_for(conversation, call, self.side),
        }

    async def on_call_offer(self, sid: str, request: CallSdp) -> dict[str, Any]:
        return await self._relay(sid, ServerEvent.CALL_OFFER, request)

    async def on_call_answer(self, sid: str, request: CallSdp) -> dict[str, Any]:
        return await self._relay(sid, ServerEvent.CALL_ANSWER, request)

    async def on_call_candidate(self, sid: str, request: CallCandidate) -> dict[str, Any]:
        return await self._relay(sid, ServerEvent.CALL_CANDIDATE, request)

    async def _relay(
        self,
        sid: str,
        event: Literal[ServerEvent.CALL_OFFER, ServerEvent.CALL_ANSWER, ServerEvent.CALL_CANDIDATE],
        request: CallSdp | CallCandidate,
    ) -> dict[str, Any]:
        conversation = await self.conversation_for(sid, request.conversation_id)
        await self.calls.relay(conversation, self.side, event, request.model_dump(mode="json"))
        return ok()

    async def on_call_end(self, sid: str, request: EndCall) -> dict[str, Any]:
        conversation = await self.conversation_for(sid, request.conversation_id)
        call = await self.calls.end(conversation, request.call_id, self.side, request.reason)
        return ok(call=call_view(call).to_wire())


class CustomerNamespace(CallHandlers, ProtocolNamespace):
    """``/customer``: one socket per open widget frame."""

    catalogue = CustomerEvent
    payloads = CUSTOMER_PAYLOADS
    limited: dict[CustomerEvent, LimitKind] = {
        CustomerEvent.CONVERSATION_START: "conversation",
        CustomerEvent.MESSAGE_SEND: "message",
        CustomerEvent.TYPING: "typing",
    }
    side: Side = "customer"

    def __init__(
        self,
        auth: Auth,
        conversations: Conversations,
        router: Router,
        calls: Calls,
        outbound: Outbound,
        limits: Limits,
    ) -> None:
        super().__init__(CUSTOMER_NS, limits)
        self.auth = auth
        self.conversations = conversations
        self.router = router
        self.calls = calls
        self.outbound = outbound
        self._customers: dict[str, CustomerIdentity] = {}

    async def on_connect(self, sid: str, environ: Mapping[str, Any], auth: Any) -> None:
        address = environ.get(CLIENT_ADDRESS)
        try:
            # The address first: a flood of connections costs no token check or site lookup.
            await self.limit("connection", Counted(address=address))
            claim = decode(CustomerAuth, auth)
            customer = await self.auth.customer_from_auth(
                claim.site, claim.host, claim.token, environ
            )
            await self.limit(
                "connection", Counted(visitor=customer.visitor_id, site=customer.site.key)
            )
        except ProtocolError as error:
            log.info("customer connection refused: %s", error.code)
            raise refuse(error) from None
        self._customers[sid] = customer
        self.count_as(
            sid, Counted(visitor=customer.visitor_id, address=address, site=customer.site.key)
        )
        # Sent before the connect completes; socket.io clients buffer it until then.
        await self.emit(
            str(ServerEvent.SESSION),
            {"token": customer.token, "visitor_id": customer.visitor_id},
            to=sid,
        )

    async def on_disconnect(self, sid: str, reason: Any = None) -> None:
        self._customers.pop(sid, None)

    def customer(self, sid: str) -> CustomerIdentity:
        customer = self._customers.get(sid)
        if customer is None:
            raise ProtocolError(ErrorCode.AUTH_REQUIRED, "Not connected.")
        return customer

    async def conversation_for(self, sid: str, conversation_id: str) -> Conversation:
        return await self.conversations.for_customer(self.customer(sid), conversation_id)

    async def on_conversation_start(self, sid: str, request: StartConversation) -> dict[str, Any]:
        async def join(conversation_id: str) -> None:
            await self.outbound.join_conversation(sid, conversation_id)

        conversation = await self.conversations.start(self.customer(sid), request, join)
        view = await self.router.current_view(conversation, for_staff=False)
        return ok(conversation=view.to_wire())

    async def on_conversation_resume(self, sid: str, request: ResumeConversation) -> dict[str, Any]:
        customer = self.customer(sid)
        conversation = await self.conversations.for_customer(customer, request.conversation_id)
        await self.outbound.join_conversation(sid, conversation.id)
        page = await self.conversations.replay(conversation, request.last_seq)
        view = await self.router.current_view(conversation, for_staff=False)
        return ok(
            conversation=view.to_wire(),
            messages=[message_view(m).to_wire() for m in page.messages],
            more=page.more,
            call=await self.running_call(conversation),
        )

    async def on_call_start(self, sid: str, request: StartCall) -> dict[str, Any]:
        conversation = await self.conversation_for(sid, request.conversation_id)
        call = await self.calls.start(conversation, self.side, request.channel)
        return ok(
            call=call_view(call).to_wire(),
            ice=await self.calls.ice_for(conversation, call, self.side),
        )

    async def on_call_respond(self, sid: str, request: RespondCall) -> dict[str, Any]:
        conversation = await self.conversation_for(sid, request.conversation_id)
        await self.calls.respond(conversation, request.proposal_id, request.accept)
        return ok(call=await self.running_call(conversation))

    async def on_conversation_end(self, sid: str, request: ConversationRef) -> dict[str, Any]:
        conversation = await self.conversations.for_customer(
            self.customer(sid), request.conversation_id
        )
        self.conversations.writable(conversation)
        ended = await self.router.end(conversation, "customer")
        return ok(conversation=self.router.view(ended, for_staff=False).to_wire())

    async def on_conversation_rate(self, sid: str, request: RateConversation) -> dict[str, Any]:
        conversation = await self.conversation_for(sid, request.conversation_id)
        rated = await self.conversations.rate(conversation, request.score, request.comment)
        return ok(conversation=self.router.view(rated, for_staff=False).to_wire())

    async def on_message_send(self, sid: str, request: SendMessage) -> dict[str, Any]:
        message = await self.conversations.send_as_customer(self.customer(sid), request, sid)
        return ok(message=message)

    async def on_typing(self, sid: str, request: Typing) -> dict[str, Any]:
        conversation = await self.conversations.for_customer(
            self.customer(sid), request.conversation_id
        )
        await self.conversations.typing(conversation, "customer", request.typing)
        return ok()

    async def on_read(self, sid: str, request: Read) -> dict[str, Any]:
        conversation = await self.conversations.for_customer(
            self.customer(sid), request.conversation_id
        )
        await self.conversations.read(conversation, "customer", request.seq)
        return ok()

    async def on_page_view(self, sid: str, request: PageView) -> dict[str, Any]:
        conversation = await self.conversations.for_customer(
            self.customer(sid), request.conversation_id
        )
        await self.conversations.page_view(conversation, request.url, request.title)
        return ok()


class StaffNamespace(CallHandlers, ProtocolNamespace):
    """``/staff``: the console. Every event requires a signed-in staff member."""

    catalogue = StaffEvent
    payloads = STAFF_PAYLOADS
    limited: dict[StaffEvent, LimitKind] = {
        StaffEvent.MESSAGE_SEND: "message",
        StaffEvent.TYPING: "typing",
    }
    roles = frozenset({"admin", "supervisor", "agent"})
    side: Side = "staff"

    def __init__(
        self,
        auth: Auth,
        conversations: Conversations,
        router: Router,
        calls: Calls,
        outbound: Outbound,
        limits: Limits,
    ) -> None:
        super().__init__(STAFF_NS, limits)
        self.auth = auth
        self.conversations = conversations
        self.router = router
        self.calls = calls
        self.outbound = outbound
        self._staff: dict[str, StaffMember] = {}

    async def on_connect(self, sid: str, environ: Mapping[str, Any], auth: Any) -> None:
        try:
            await self.limit("connection", Counted(address=environ.get(CLIENT_ADDRESS)))
            member = await self.auth.staff_from_environ(environ)
        except ProtocolError as error:
            raise refuse(error) from None
        if member is None:
            raise refuse(ProtocolError(ErrorCode.AUTH_REQUIRED, "Please sign in."))
        if member.role not in self.roles:
            raise refuse(ProtocolError(ErrorCode.AUTH_FORBIDDEN, "Your role cannot answer."))
        self._staff[sid] = member
        # Staff are counted per person only: a call centre shares one address.
        self.count_as(sid, Counted(visitor=f"staff:{member.id}"))
        await self.outbound.join_staff(sid, member.id)
        await self.router.staff_connected(member, sid)
        log.info("staff %s connected", member.id)

    async def on_disconnect(self, sid: str, reason: Any = None) -> None:
        member = self._staff.pop(sid, None)
        if member is not None:
            log.info("staff %s disconnected", member.id)
            await self.router.staff_disconnected(sid)

    def member(self, sid: str) -> StaffMember:
        member = self._staff.get(sid)
        if member is None:
            raise ProtocolError(ErrorCode.AUTH_REQUIRED, "Please sign in.")
        if member.role not in self.roles:
            raise ProtocolError(ErrorCode.AUTH_FORBIDDEN, "Your role cannot do this.")
        return member

    async def conversation_for(self, sid: str, conversation_id: str) -> Conversation:
        """Acting in a conversation (calls, typing, read markers, ending it) is for the staff
        member handling it, admins included; reading is ``Conversations.for_staff``."""
        return await self.conversations.for_assignee(self.member(sid), conversation_id)

    async def on_sync(self, sid: str, request: Sync) -> dict[str, Any]:
        member = self.member(sid)
        presence = await self.router.staff.presence(member)
        conversations: list[dict[str, Any]] = []
        messages: list[dict[str, Any]] = []
        calls: list[dict[str, Any]] = []
        more: list[str] = []  # replays cut at the page limit: the console pages them
        for conversation in await self.router.routing.assigned_to(member.id):
            conversations.append(self.router.view(conversation, for_staff=True).to_wire())
            after = request.last_seqs.get(conversation.id, 0)
            page = await self.conversations.replay(conversation, after)
            messages.extend(message_view(m).to_wire() for m in page.messages)
            if page.more:
                more.append(conversation.id)
            running = await self.running_call(conversation)
            if running is not None:
                calls.append(running)
        return ok(
            presence=presence.shown,
            reason=reason_of(presence),
            wrapup=await self.router.shift.view(member.id),
            conversations=conversations,
            messages=messages,
            rings=await self.router.rings_for(member.id),
            queue=await self.router.queue.staff_list(),
            calls=calls,
            more=more,
        )

    async def on_presence_set(self, sid: str, request: SetPresence) -> dict[str, Any]:
        media = None
        if request.media is not None:
            ready = {"camera": request.media.camera, "microphone": request.media.microphone}
            media = frozenset(device for device, works in ready.items() if works)
        presence = await self.router.set_presence(
            self.member(sid), request.status, media, request.reason
        )
        return ok(presence=presence.shown, reason=reason_of(presence))

    async def on_wrapup_end(self, sid: str, request: Payload) -> dict[str, Any]:
        await self.router.shift.ready(self.member(sid))
        return ok(wrapup=None)

    async def on_wrapup_extend(self, sid: str, request: ExtendWrapUp) -> dict[str, Any]:
        member = self.member(sid)
        await self.router.shift.extend(member, request.seconds)
        return ok(wrapup=await self.router.shift.view(member.id))

    async def on_conversation_tag(self, sid: str, request: TagConversation) -> dict[str, Any]:
        tagged = await self.router.shift.tag(self.member(sid), request.conversation_id, request.tag)
        return ok(tag=tagged.outcome)

    async def on_ring_accept(self, sid: str, request: ConversationRef) -> dict[str, Any]:
        """Take the conversation; one that asked for a call starts it right away."""
        conversation = await self.router.accept(self.member(sid), request.conversation_id)
        if conversation.channel in ("voice", "video", "oneway"):
            await self.calls.start(conversation, "customer", conversation.channel)  # type: ignore[arg-type]
            conversation = (
                await self.conversations.store.get_conversation(conversation.id) or conversation
            )
        page = await self.conversations.replay(conversation, 0)
        return ok(
            conversation=self.router.view(conversation, for_staff=True).to_wire(),
            messages=[message_view(m).to_wire() for m in page.messages],
            more=page.more,
            call=await self.running_call(conversation),
        )

    async def on_call_propose(self, sid: str, request: ProposeCall) -> dict[str, Any]:
        conversation = await self.conversation_for(sid, request.conversation_id)
        proposal = await self.calls.propose(conversation, request.channel, self.member(sid).name)
        return ok(proposal_id=proposal)

    async def on_ring_decline(self, sid: str, request: ConversationRef) -> dict[str, Any]:
        await self.router.decline(self.member(sid), request.conversation_id)
        return ok()

    async def on_conversation_resume(self, sid: str, request: ResumeConversation) -> dict[str, Any]:
        conversation = await self.conversations.for_staff(self.member(sid), request.conversation_id)
        page = await self.conversations.replay(conversation, request.last_seq)
        return ok(
            conversation=self.router.view(conversation, for_staff=True).to_wire(),
            messages=[message_view(m).to_wire() for m in page.messages],
            more=page.more,
            call=await self.running_call(conversation),
        )

    async def on_conversation_end(self, sid: str, request: ConversationRef) -> dict[str, Any]:
        conversation = await self.conversation_for(sid, request.conversation_id)
        self.conversations.writable(conversation)
        ended = await self.router.end(conversation, "staff")
        return ok(conversation=self.router.view(ended, for_staff=True).to_wire())

    async def on_message_send(self, sid: str, request: SendMessage) -> dict[str, Any]:
        message = await self.conversations.send_as_staff(self.member(sid), request, sid)
        return ok(message=message)

    async def on_typing(self, sid: str, request: Typing) -> dict[str, Any]:
        conversation = await self.conversation_for(sid, request.conversation_id)
        await self.conversations.typing(conversation, "staff", request.typing)
        return ok()

    async def on_read(self, sid: str, request: Read) -> dict[str, Any]:
        conversation = await self.conversation_for(sid, request.conversation_id)
        await self.conversations.read(conversation, "staff", request.seq)
        return ok()


class Signaling:
    """The real-time domain, assembled: mount it on a socket.io server."""

    def __init__(
        self,
        router: Router,
        conversations: Conversations,
        calls: Calls,
        auth: Auth,
        outbound: Outbound,
        limits: Limits,
    ) -> None:
        self.router = router
        self.conversations = conversations
        self.calls = calls
        self.outbound = outbound
        self.customer = CustomerNamespace(auth, conversations, router, calls, outbound, limits)
        self.staff = StaffNamespace(auth, conversations, router, calls, outbound, limits)

    def mount(self, sio: socketio.AsyncServer) -> None:
        sio.register_namespace(self.customer)
        sio.register_namespace(self.staff)

    async def sign_out(self, staff_id: int) -> None:
        """Close a staff member's console sockets (their session is gone)."""
        await self.outbound.disconnect_consoles(await self.router.routing.sockets_of(staff_id))
