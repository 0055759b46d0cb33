"""REST for a site's shift rules: wrap-up after chats and calls, the outcome tags staff pick
from, and the pause after calls in a row. Admins set them; any signed-in staff member may read
them (the console shows the tags)."""

from __future__ import annotations

from typing import Annotated

from aiohttp import web
from pydantic import Field, StringConstraints, field_validator

from server.api_models import Reply
from server.keys import STORE
from server.openapi import operation
from server.rest import Body, error, read_body, reply, require
from signaling.errors import ErrorCode
from signaling.ports import ShiftPolicy

routes = web.RouteTableDef()

Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]


class ShiftRules(Body):
    """A site's shift rules; every field has the default a site starts with."""

    wrapup_chat_s: Annotated[float, Field(ge=0, le=600)] = 0.0
    wrapup_call_s: Annotated[float, Field(ge=0, le=600)] = 30.0
    outcome_tags: Annotated[list[Tag], Field(max_length=30)] = []
    # 0: no cap on calls in a row.
    call_cap: Annotated[int, Field(ge=0, le=100)] = 0
    pause_s: Annotated[float, Field(ge=0, le=3600)] = 120.0

    @field_validator("outcome_tags")
    @classmethod
    def _distinct(cls, tags: list[str]) -> list[str]:
        if len(set(tags)) != len(tags):
            raise ValueError("each tag once")
        return tags

    def policy(self) -> ShiftPolicy:
        return ShiftPolicy(
            wrapup_chat_s=self.wrapup_chat_s,
            wrapup_call_s=self.wrapup_call_s,
            outcome_tags=tuple(self.outcome_tags),
            call_cap=self.call_cap,
            pause_s=self.pause_s,
        )

    @classmethod
    def of(cls, policy: ShiftPolicy) -> ShiftRules:
        return cls(
            wrapup_chat_s=policy.wrapup_chat_s,
            wrapup_call_s=policy.wrapup_call_s,
            outcome_tags=list(policy.outcome_tags),
            call_cap=policy.call_cap,
            pause_s=policy.pause_s,
        )


class ShiftAnswer(Reply):
    """A site's shift rules."""

    shift: ShiftRules


@routes.get("/api/v1/sites/{key}/shift")
@operation(ShiftAnswer, errors=[ErrorCode.SITE_UNKNOWN])
async def get_shift(request: web.Request) -> web.Response:
    """A site's shift rules: wrap-up times, outcome tags, the pause after calls in a row."""
    require(request)
    site = await request.app[STORE].get_site(request.match_info["key"])
    if site is None:
        return error(404, ErrorCode.SITE_UNKNOWN, "No such site.")
    return reply(ShiftAnswer(shift=ShiftRules.of(site.shift)))


@routes.put("/api/v1/sites/{key}/shift")
@operation(ShiftAnswer, body=ShiftRules, roles=["admin"], errors=[ErrorCode.SITE_UNKNOWN])
async def put_shift(request: web.Request) -> web.Response:
    """Set a site's shift rules (every field; defaults for those left out)."""
    require(request, "admin")
    rules = await read_body(request, ShiftRules)
    site = await request.app[STORE].set_shift(request.match_info["key"], rules.policy())
    if site is None:
        return error(404, ErrorCode.SITE_UNKNOWN, "No such site.")
    return reply(ShiftAnswer(shift=ShiftRules.of(site.shift)))
