"""Media processing end to end: upload, a real arq worker on the media queue, the variants,
the events; a broken upload fails with a reason; a second run changes nothing."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import mutagen
import pytest
from PIL import Image
from sqlalchemy import update

from jobs.media import process_media
from jobs.sinks import ArqJobSink, queue_names
from models.content.media import Media
from server.content.media.checks import probe
from server.runtime import Runtime
from server.settings import Settings
from tests.helpers.media import upload
from tests.helpers.people import call, person
from tests.jobs.test_worker import RecordingEvents, run_burst
from tests.server.content.media.samples import SECRET, audio_bytes, jpeg_with_exif, video_bytes

# arq's Worker.close() still calls redis-py's deprecated close().
pytestmark = pytest.mark.filterwarnings("ignore:Call to deprecated close:DeprecationWarning")


@pytest.fixture
async def worker_runtime(settings: Settings) -> AsyncIterator[tuple[Runtime, RecordingEvents]]:
    """The runtime a media worker builds, with its events recorded."""
    runtime = await Runtime.open(settings)
    events = RecordingEvents()
    assert runtime.redis is not None
    runtime.attach(jobs=ArqJobSink(runtime.redis, settings), events=events)
    yield runtime, events
    await runtime.close()


async def run_media_worker(settings: Settings, runtime: Runtime) -> Any:
    return await run_burst(
        settings, {"runtime": runtime}, queue_name=queue_names(settings)["media"], job_timeout=120
    )


def stored(runtime: Runtime, key: str) -> Path:
    path = runtime.storage.path(key)
    assert path is not None and path.is_file(), key
    return path


async def variant_keys(runtime: Runtime, media_id: int) -> dict[str, str]:
    async with runtime.db.read() as session:
        row = await session.get(Media, media_id)
        assert row is not None
        return dict(row.variants)


async def processed(client: Any, settings: Settings, runtime: Runtime, who: Any, media_id: int):
    await run_media_worker(settings, runtime)
    return await call(client, "GET", f"/media/{media_id}", who, 200)


async def test_an_image_becomes_clean_webp_sizes_on_the_media_worker(
    client, settings, worker_runtime
) -> None:
    runtime, events = worker_runtime
    creator = await person(client, "creator")
    big = io.BytesIO()
    Image.new("RGB", (2000, 1000), (10, 120, 200)).save(big, "PNG")
    media = await upload(client, creator, big.getvalue())
    data = await processed(client, settings, runtime, creator, media["id"])
    assert data["status"] == "ready" and data["variants"] == ["large", "thumb"]
    keys = await variant_keys(runtime, media["id"])
    for name, width in (("thumb", 320), ("large", 1280)):
        with Image.open(stored(runtime, keys[name])) as image:
            assert image.format in ("WEBP", "JPEG") and image.size == (width, width // 2)
    ready = [event for event in events.sent if event.type == "media.ready"]
    assert [event.data["id"] for event in ready] == [media["id"]]
    progress = [event.data for event in events.sent if event.type == "job.progress"]
    assert progress[0]["percent"] == 0 and progress[-1]["percent"] == 100
    assert {p["job"] for p in progress} == {"media.process"}


async def test_a_video_gets_a_poster_a_thumbnail_and_a_small_h264_rendition(
    client, settings, worker_runtime
) -> None:
    runtime, _events = worker_runtime
    creator = await person(client, "creator")
    media = await upload(client, creator, video_bytes(), kind="video", filename="clip.mp4")
    data = await processed(client, settings, runtime, creator, media["id"])
    assert data["status"] == "ready", data
    assert data["variants"] == ["original", "poster", "rendition", "thumb"]
    assert 1900 <= data["duration_ms"] <= 2100 and (data["width"], data["height"]) == (160, 120)
    keys = await variant_keys(runtime, media["id"])
    with Image.open(stored(runtime, keys["poster"])) as poster:
        assert poster.format == "JPEG" and poster.size == (160, 120)
    info = await probe("ffprobe", stored(runtime, keys["rendition"]), time_limit=30)
    codecs = {stream["codec_type"]: stream["codec_name"] for stream in info["streams"]}
    assert codecs == {"video": "h264", "audio": "aac"}
    assert SECRET not in str(info["format"].get("tags", {})), "metadata is not copied"
    link = await call(client, "GET", f"/media/{media['id']}/url", creator, 200)
    assert "-480p.mp4" in link["url"]
    link = await call(client, "GET", f"/media/{media['id']}/url?variant=original", creator, 200)
    assert media["id"] and link["url"].split("?")[0].endswith(".mp4")


async def test_audio_gets_its_duration_tags_and_an_aac_rendition(
    client, settings, worker_runtime
) -> None:
    runtime, _events = worker_runtime
    creator = await person(client, "creator")
    media = await upload(client, creator, audio_bytes(), kind="audio", filename="song.mp3")
    data = await processed(client, settings, runtime, creator, media["id"])
    assert data["status"] == "ready", data
    assert data["tags"] == {"title": "Sine Song", "artist": "Test Band"}
    assert 900 <= data["duration_ms"] <= 1200
    keys = await variant_keys(runtime, media["id"])
    rendition = mutagen.File(stored(runtime, keys["rendition"]))
    assert rendition is not None and 0.9 <= rendition.info.length <= 1.2


async def test_an_upload_that_cannot_be_decoded_fails_with_a_reason(
    client, settings, worker_runtime
) -> None:
    runtime, events = worker_runtime
    creator = await person(client, "creator")
    media = await upload(client, creator, video_bytes(), kind="video")
    # Damaged after it was accepted (a disk error, a truncated copy).
    path = stored(runtime, await key_of(runtime, media["id"]))
    path.write_bytes(path.read_bytes()[:600])
    data = await processed(client, settings, runtime, creator, media["id"])
    assert data["status"] == "failed" and data["error"]
    assert [event.type for event in events.sent if event.type.startswith("media.")] == [
        "media.failed"
    ]
    await call(client, "GET", f"/media/{media['id']}/url", creator, 409)


async def key_of(runtime: Runtime, media_id: int) -> str:
    async with runtime.db.read() as session:
        row = await session.get(Media, media_id)
        assert row is not None
        return row.storage_key


async def test_processing_twice_changes_nothing_and_a_vanished_upload_fails(
    client, settings, worker_runtime
) -> None:
    runtime, events = worker_runtime
    creator = await person(client, "creator")
    media = await upload(client, creator, jpeg_with_exif())
    ctx = {"runtime": runtime, "job_id": "media:test"}
    assert await process_media(ctx, media_id=media["id"]) == "ready"
    assert await process_media(ctx, media_id=media["id"]) is None
    assert await process_media(ctx, media_id=999_999_999) is None
    # A job that crashed midway left "processing": a rerun finishes it.
    async with runtime.db.unit_of_work() as uow:
        await uow.session.execute(
            update(Media).where(Media.id == media["id"]).values(status="processing")
        )
    assert await process_media(ctx, media_id=media["id"]) == "ready"

    gone = await upload(client, creator, jpeg_with_exif())
    await runtime.storage.delete(await key_of(runtime, gone["id"]))
    assert await process_media(ctx, media_id=gone["id"]) == "failed"
    assert len([e for e in events.sent if e.type == "media.ready"]) == 2
