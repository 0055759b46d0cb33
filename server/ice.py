"""ICE configuration for call participants: coturn as STUN and TURN, with credentials minted
per participant (see ``server.turn``). Implements the domain's ``IceProvider`` port."""

from __future__ import annotations

from typing import Any

from server.settings import Settings
from server.store import SqlStore
from server.turn import ice_servers


class TurnIce:
    """Each participant gets their own short-lived TURN credential. The policy is ``relay``
    (both sides' addresses stay hidden from each other) when the site asks for it or the
    server is configured so; otherwise ``all``."""

    def __init__(self, settings: Settings, store: SqlStore) -> None:
        self.settings = settings
        self.store = store

    async def config_for(self, site_key: str, participant_id: str) -> dict[str, Any]:
        site = await self.store.get_site(site_key)
        relay = self.settings.ice_transport_policy == "relay" or bool(site and site.relay_only)
        return {
            "ice_servers": ice_servers(self.settings, participant_id),
            "ice_transport_policy": "relay" if relay else "all",
        }
