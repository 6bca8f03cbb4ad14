"""User tasks: re-encoding uploaded avatars into their sizes."""

from __future__ import annotations

from typing import Any

from jobs.recovery import acknowledge
from jobs.registry import runtime_of, task
from server import outbox
from server.identity.users import avatars
from server.outbox import MEDIA_QUEUE


@task("users.process_avatar", timeout=60, queue=MEDIA_QUEUE)
async def process_avatar(
    ctx: dict[str, Any], *, user_id: int, key: str, outbox_id: int | None = None
) -> str | None:
    """Make the avatar's sizes and switch the user to them; the new URL, or None when there
    was nothing (left) to do. Running twice changes nothing the second time. The job's outbox
    row (`outbox_id`) is acknowledged once nothing is left to do, so until then it is sent again."""
    runtime = runtime_of(ctx)
    storage, settings = runtime.storage, runtime.settings
    try:
        sizes = await avatars.store_sizes(
            storage, user_id=user_id, upload_key=key, max_pixels=settings.avatar_max_pixels
        )
    except (avatars.AvatarUnreadable, avatars.AvatarDimensions):
        async with runtime.db.unit_of_work() as uow:
            avatars.report_failure(uow, user_id=user_id)
            if outbox_id is not None:
                await outbox.acknowledge(uow.session, outbox_id)
        return None
    if sizes is None:
        await acknowledge(runtime, outbox_id)
        return None
    async with runtime.db.unit_of_work() as uow:
        url, unused = await avatars.apply_avatar(
            uow,
            user_id=user_id,
            sizes=sizes,
            base_url=settings.public_base_url,
            now=runtime.clock.now(),
        )
    # Only after commit: a crash before it leaves the upload for the rerun to finish.
    await avatars.discard(storage, [key, *unused])
    await acknowledge(runtime, outbox_id)
    return url


TASKS = (process_avatar,)
