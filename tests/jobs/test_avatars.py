"""The avatar pipeline end to end: upload, a real worker run, the public sizes, the event."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import FormData
from PIL import Image

from jobs.sinks import ArqJobSink, queue_names
from jobs.tasks import FUNCTIONS
from server.app import create_app
from server.keys import JOB_RUNNER, RUNTIME
from server.runtime import Runtime
from server.settings import Settings
from tests.helpers.env import migrated_embedded_settings
from tests.helpers.profiles import Person, column, json_of, set_columns, sign_up
from tests.jobs.test_worker import RecordingEvents, run_burst
from tests.server.identity.users.images import PHP, SECRET, image_bytes, jpeg_with_exif

# arq's Worker.close() still calls redis-py's deprecated close().
pytestmark = pytest.mark.filterwarnings("ignore:Call to deprecated close:DeprecationWarning")

TASK = "users.process_avatar"


@pytest.fixture
async def worker_runtime(settings: Settings) -> AsyncIterator[tuple[Runtime, RecordingEvents]]:
    """The runtime a media worker builds, with its events recorded."""
    runtime = await Runtime.open(settings)
    events = RecordingEvents()
    assert runtime.redis is not None
    runtime.attach(jobs=ArqJobSink(runtime.redis, settings), events=events)
    yield runtime, events
    await runtime.close()


async def upload(client: Any, person: Person, data: bytes) -> None:
    body = FormData()
    body.add_field("file", data, filename="me.jpg", content_type="image/jpeg")
    response = await client.post("/api/v1/me/avatar", data=body, headers=person.headers)
    assert await json_of(response, 202) == {"status": "processing"}


async def run_media_worker(settings: Settings, runtime: Runtime) -> Any:
    return await run_burst(
        settings, {"runtime": runtime}, queue_name=queue_names(settings)["media"]
    )


async def avatar_url(client: Any, person: Person) -> str | None:
    me = await json_of(await client.get("/api/v1/me", headers=person.headers), 200)
    url: str | None = me["avatar_url"]
    return url


def files_of(client: Any, folder: str) -> list[Path]:
    root = client.app[RUNTIME].storage.root / folder
    return sorted(path for path in root.rglob("*") if path.is_file()) if root.exists() else []


async def fetch(client: Any, url: str, settings: Settings) -> Any:
    path = url.removeprefix(settings.public_base_url)
    response = await client.get(path)
    assert response.status == 200
    return response


async def test_an_uploaded_photo_becomes_clean_square_public_sizes(
    client, settings, worker_runtime
) -> None:
    runtime, events = worker_runtime
    ann = await sign_up(client, "Ann")
    photo = jpeg_with_exif() + PHP
    await upload(client, ann, photo)
    [original] = files_of(client, f"uploads/avatars/{ann.id}")

    worker = await run_media_worker(settings, runtime)
    assert (worker.jobs_complete, worker.jobs_failed) == (1, 0)

    url = await avatar_url(client, ann)
    assert url is not None
    token = original.name
    assert url == f"{settings.public_base_url}/files/public/avatars/{ann.id}/{token}-256.webp"
    response = await fetch(client, url, settings)
    assert response.headers["Content-Type"] == "image/webp"
    assert response.headers["Cache-Control"].startswith("public")
    served = await response.read()
    image = Image.open(io.BytesIO(served))
    assert (image.format, image.size) == ("WEBP", (256, 256))
    # No metadata and no smuggled payload survive re-encoding.
    assert len(image.getexif()) == 0 and "exif" not in image.info
    assert SECRET.encode() not in served and b"SecretCam" not in served and b"<?php" not in served
    # The EXIF orientation was applied: the top-left block of the stored pixels is now top-right.
    rgb = image.convert("RGB")
    assert rgb.getpixel((250, 5))[2] > 150 and rgb.getpixel((5, 5))[0] > 150

    small = Image.open(
        io.BytesIO(await (await fetch(client, url.replace("-256.", "-64."), settings)).read())
    )
    assert small.size == (64, 64)
    # The original is gone; only the two public sizes remain.
    assert files_of(client, f"uploads/avatars/{ann.id}") == []
    assert [p.name for p in files_of(client, f"public/avatars/{ann.id}")] == [
        f"{token}-256.webp",
        f"{token}-64.webp",
    ]
    [event] = [e for e in events.sent if e.type == "user.updated"]
    assert event.user_ids == (ann.id,)
    assert event.data == {"id": ann.id, "nickname": "Ann", "avatar_url": url}


async def test_the_job_running_twice_changes_nothing_the_second_time(
    client, settings, worker_runtime
) -> None:
    runtime, events = worker_runtime
    ann = await sign_up(client, "Ann")
    await upload(client, ann, image_bytes("PNG", mode="RGBA"))
    [original] = files_of(client, f"uploads/avatars/{ann.id}")
    key = f"uploads/avatars/{ann.id}/{original.name}"
    ctx = {"runtime": runtime, "job_id": f"avatar:{key}"}

    first = await FUNCTIONS[TASK].coroutine(ctx, user_id=ann.id, key=key)
    sent = len(events.sent)
    second = await FUNCTIONS[TASK].coroutine(ctx, user_id=ann.id, key=key)

    assert first == await avatar_url(client, ann) and second is None
    assert len(events.sent) == sent
    assert len(files_of(client, f"public/avatars/{ann.id}")) == 2


async def test_a_rerun_after_a_crash_before_cleanup_keeps_the_same_avatar(
    client, settings, worker_runtime
) -> None:
    runtime, events = worker_runtime
    ann = await sign_up(client, "Ann")
    png = image_bytes("PNG")
    await upload(client, ann, png)
    [original] = files_of(client, f"uploads/avatars/{ann.id}")
    key = f"uploads/avatars/{ann.id}/{original.name}"
    ctx = {"runtime": runtime}
    url = await FUNCTIONS[TASK].coroutine(ctx, user_id=ann.id, key=key)
    await runtime.storage.put(key, png)  # as if the worker died before deleting the upload

    assert await FUNCTIONS[TASK].coroutine(ctx, user_id=ann.id, key=key) == url
    assert [e.type for e in events.sent].count("user.updated") == 1
    assert len(files_of(client, f"public/avatars/{ann.id}")) == 2
    assert files_of(client, f"uploads/avatars/{ann.id}") == []


async def test_a_new_avatar_replaces_the_old_files(client, settings, worker_runtime) -> None:
    runtime, _ = worker_runtime
    ann = await sign_up(client, "Ann")
    await upload(client, ann, image_bytes("PNG"))
    await run_media_worker(settings, runtime)
    first = await avatar_url(client, ann)
    await upload(client, ann, image_bytes("WEBP"))
    await run_media_worker(settings, runtime)
    second = await avatar_url(client, ann)

    assert first and second and first != second
    names = [p.name for p in files_of(client, f"public/avatars/{ann.id}")]
    assert len(names) == 2 and all(second.rsplit("/", 1)[1].split("-")[0] in n for n in names)
    assert (await client.get(first.removeprefix(settings.public_base_url))).status == 404


async def test_an_image_that_fails_to_decode_tells_the_user_and_keeps_the_old_avatar(
    client, settings, worker_runtime
) -> None:
    runtime, events = worker_runtime
    ann = await sign_up(client, "Ann")
    truncated = jpeg_with_exif()[:2000]  # the header is fine, the pixels end early
    await upload(client, ann, truncated)

    worker = await run_media_worker(settings, runtime)

    assert (worker.jobs_complete, worker.jobs_failed) == (1, 0)  # no retries of a hopeless job
    assert await avatar_url(client, ann) is None
    assert files_of(client, f"uploads/avatars/{ann.id}") == []
    assert files_of(client, f"public/avatars/{ann.id}") == []
    assert [(e.type, e.user_ids) for e in events.sent] == [("user.avatar_failed", (ann.id,))]


async def test_an_account_deleted_before_the_job_runs_gets_no_avatar(
    client, settings, worker_runtime
) -> None:
    runtime, events = worker_runtime
    ann = await sign_up(client, "Ann")
    await upload(client, ann, image_bytes("PNG"))
    await set_columns(client, ann.id, status="deleted")

    await run_media_worker(settings, runtime)

    assert await column(client, ann.id, "avatar_url") is None
    assert files_of(client, f"public/avatars/{ann.id}") == []
    assert files_of(client, f"uploads/avatars/{ann.id}") == []
    assert events.sent == []


async def test_in_the_embedded_mode_the_in_process_runner_makes_the_avatar(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    settings = await migrated_embedded_settings(tmp_path)
    embedded = await aiohttp_client(create_app(settings))
    ann = await sign_up(embedded, "Ann")

    await upload(embedded, ann, image_bytes("GIF", mode="P"))
    await embedded.app[JOB_RUNNER].drain()

    url = await avatar_url(embedded, ann)
    assert url is not None and url.endswith("-256.webp")
    served = await (await fetch(embedded, url, settings)).read()
    assert Image.open(io.BytesIO(served)).size == (256, 256)
