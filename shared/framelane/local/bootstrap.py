"""Creates the stores a fresh local stack (or a test session) needs: the table and the media bucket."""

from __future__ import annotations

from framelane.services.context import ServiceContext

# The console is served by the local API on loopback, on whatever port it was given.
LOCAL_CONSOLE_ORIGINS = ["http://127.0.0.1:*", "http://localhost:*"]


def bootstrap_stores(ctx: ServiceContext) -> None:
    ctx.store.create_table()
    ctx.blobs.create_bucket()
    ctx.blobs.allow_browser_access(LOCAL_CONSOLE_ORIGINS)
