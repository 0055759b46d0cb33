"""REST for the analytics page (admins and supervisors): ``GET /api/v1/analytics`` answers
the report as JSON, ``GET /api/v1/analytics.csv`` the figures per period as a CSV download.

Query parameters, all optional: ``from`` and ``to`` (local dates, inclusive; the last 30
days by default), ``tz`` (an IANA zone, UTC by default), ``group`` (``day`` or ``week``),
``sla`` (the service level's threshold in seconds, 30 by default) and ``site`` (a site id).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from server.analytics import Query
from server.analytics_report import AnalyticsReader, csv_rows, report
from server.analytics_time import window
from server.keys import SETTINGS, STORE
from server.openapi import operation
from server.rest import refuse, require
from signaling.errors import ErrorCode
from signaling.ports import OVERSEERS
from signaling.protocol import describe

routes = web.RouteTableDef()

READER = web.AppKey("analytics_reader", AnalyticsReader)
MAX_DAYS = 366
DEFAULT_DAYS = 30


class Params(BaseModel):
    """The query string, validated."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    start: date | None = Field(None, alias="from")
    end: date | None = Field(None, alias="to")
    tz: Annotated[str, Field(min_length=1, max_length=64)] = "UTC"
    group: Literal["day", "week"] = "day"
    sla: Annotated[int, Field(ge=1, le=3600)] = 30
    site: Annotated[int, Field(ge=1)] | None = None

    @model_validator(mode="after")
    def _known_zone(self) -> Params:
        try:
            ZoneInfo(self.tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {self.tz!r}") from None
        if self.start and self.end and self.start > self.end:
            raise ValueError("'from' is after 'to'")
        first, last = self.dates()
        if (last - first).days >= MAX_DAYS:
            raise ValueError(f"a range is at most {MAX_DAYS} days")
        return self

    def dates(self) -> tuple[date, date]:
        """The range, filling in what is missing: to today (in the zone), 30 days long."""
        last = self.end or (
            self.start + timedelta(days=DEFAULT_DAYS - 1)
            if self.start
            else datetime.now(ZoneInfo(self.tz)).date()
        )
        first = self.start or last - timedelta(days=DEFAULT_DAYS - 1)
        return first, last

    def query(self) -> Query:
        first, last = self.dates()
        return Query(window(first, last, ZoneInfo(self.tz)), self.group, self.sla, self.site)


class Figures(BaseModel):
    conversations: int
    answered: int
    abandoned: int
    abandonment_pct: float | None
    service_level_pct: float | None
    wait_p50_s: float | None
    wait_p90_s: float | None
    wait_avg_s: float | None
    missed_rings: int
    handle_avg_s: float | None
    transfers: int
    ratings: int
    csat_pct: float | None


class Period(Figures):
    period: date  # the period's first local date


class Named(Figures):
    id: int | None  # None: conversations nobody answered
    name: str


class TagCount(BaseModel):
    tag: str
    conversations: int


class Range(BaseModel):
    start: date = Field(serialization_alias="from")
    end: date = Field(serialization_alias="to")
    tz: str
    group: Literal["day", "week"]
    sla_s: int
    site: int | None


class Report(BaseModel):
    """The analytics report."""

    range: Range
    summary: Figures
    series: list[Period]
    sites: list[Named]
    agents: list[Named]
    # Conversations per channel for each local hour of the day, 0 to 23.
    by_hour: dict[str, list[int]]
    tags: list[TagCount]


def _params(request: web.Request) -> Params:
    require(request, *OVERSEERS)
    try:
        return Params.model_validate(dict(request.query))
    except ValidationError as exc:
        raise refuse(400, ErrorCode.PAYLOAD_INVALID, describe(exc)) from None


async def _names(request: web.Request) -> tuple[dict[int, str], dict[int, str]]:
    store = request.app[STORE]
    sites = {site.id: site.name for site in await store.list_sites()}
    staff = {member.id: member.name for member in await store.list_staff()}
    return sites, staff


@routes.get("/api/v1/analytics")
@operation(Report, query=Params, roles=sorted(OVERSEERS))
async def analytics(request: web.Request) -> web.Response:
    """The team's figures for a date range in the viewer's time zone.

    Conversations by channel and hour, waits (p50, p90), service level, abandonment, missed
    rings, handling time, transfers, CSAT and outcome tags, per site and per staff member."""
    params = _params(request)
    query = params.query()
    figures = await request.app[READER].run(lambda conn: report(conn, query))
    sites, staff = await _names(request)
    first, last = params.dates()
    body = Report(
        range=Range(
            start=first,
            end=last,
            tz=params.tz,
            group=params.group,
            sla_s=params.sla,
            site=params.site,
        ),
        summary=Figures(**figures["summary"]),
        series=[Period(**row) for row in figures["series"]],
        sites=[Named(name=sites.get(row["id"], ""), **row) for row in figures["sites"]],
        agents=[_agent(row, staff) for row in figures["agents"]],
        by_hour=figures["by_hour"],
        tags=[TagCount(**row) for row in figures["tags"]],
    )
    return web.json_response(
        body.model_dump(mode="json", by_alias=True), headers={"Cache-Control": "no-store"}
    )


def _agent(row: dict[str, Any], staff: dict[int, str]) -> Named:
    agent = row["id"]
    return Named(name="(unanswered)" if agent is None else staff.get(agent, ""), **row)


@routes.get("/api/v1/analytics.csv")
async def analytics_csv(request: web.Request) -> web.Response:
    params = _params(request)
    query = params.query()
    sites, staff = await _names(request)
    text = await request.app[READER].run(lambda conn: csv_rows(conn, query, sites, staff))
    first, last = params.dates()
    return web.Response(
        text=text,
        content_type="text/csv",
        charset="utf-8",
        headers={
            "Content-Disposition": (
                f'attachment; filename="porchlight-analytics-{first}-{last}-{params.group}.csv"'
            ),
            "Cache-Control": "no-store",
        },
    )


async def analytics_runtime(app: web.Application) -> AsyncIterator[None]:
    """``cleanup_ctx``, after the store is open: the reader for the analytics queries."""
    reader = AnalyticsReader(app[STORE], app[SETTINGS].database_url)
    app[READER] = reader
    yield
    reader.close()
