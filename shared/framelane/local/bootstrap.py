"""Creates the stores a fresh local stack (or a test session) needs: the table and the media bucket."""

from __future__ import annotations

from framelane.services.context import ServiceContext


def bootstrap_stores(ctx: ServiceContext) -> None:
    ctx.store.create_table()
    ctx.blobs.create_bucket()
