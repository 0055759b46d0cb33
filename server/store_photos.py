"""Staff photos in SQL: the ``staff_photos`` half of ``SqlStore``."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from server.tables import staff_photos

T = TypeVar("T")


class PhotoStore:
    """One photo per staff member; each method is one transaction."""

    async def _run(self, work: Callable[[Connection], T]) -> T:
        raise NotImplementedError

    async def set_photo(self, staff_id: int, content_type: str, data: bytes, now: float) -> None:
        """Replace the member's photo."""

        def work(conn: Connection) -> None:
            conn.execute(sa.delete(staff_photos).where(staff_photos.c.staff_id == staff_id))
            conn.execute(
                sa.insert(staff_photos).values(
                    staff_id=staff_id, content_type=content_type, data=data, updated_at=now
                )
            )
            conn.commit()

        await self._run(work)

    async def photo(self, staff_id: int) -> tuple[str, bytes, float] | None:
        """(content type, bytes, updated_at), or None."""
        statement = sa.select(
            staff_photos.c.content_type, staff_photos.c.data, staff_photos.c.updated_at
        ).where(staff_photos.c.staff_id == staff_id)
        row = await self._run(lambda conn: conn.execute(statement).first())
        return (row[0], bytes(row[1]), row[2]) if row is not None else None

    async def photo_versions(self) -> dict[int, float]:
        """Each member with a photo and when it changed (for its URL)."""
        statement = sa.select(staff_photos.c.staff_id, staff_photos.c.updated_at)
        rows = await self._run(lambda conn: conn.execute(statement).all())
        return {row[0]: row[1] for row in rows}

    async def delete_photo(self, staff_id: int) -> bool:
        statement = sa.delete(staff_photos).where(staff_photos.c.staff_id == staff_id)

        def work(conn: Connection) -> int:
            count = conn.execute(statement).rowcount
            conn.commit()
            return count

        return await self._run(work) > 0
