"""The checks and processing steps on their own: tools that fail, hang or answer nonsense;
damaged images; files missing the stream their kind needs."""

from __future__ import annotations

import io
import stat
from pathlib import Path

import pytest
from PIL import Image

from server.content.media import checks, processing
from server.content.media.checks import MediaBroken, TooManyPixels, UnsupportedType
from server.settings import Settings
from server.storage import LocalStorage
from tests.server.content.media.samples import (
    audio_bytes,
    ffmpeg,
    image_bytes,
    png_claiming,
    video_bytes,
)


def script(tmp_path: Path, body: str) -> str:
    path = tmp_path / "tool"
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


async def test_a_tool_that_is_missing_fails_or_hangs_is_reported(tmp_path: Path) -> None:
    with pytest.raises(MediaBroken, match="cannot run"):
        await checks.run_tool([str(tmp_path / "missing")], time_limit=5)
    with pytest.raises(MediaBroken, match="longer than"):
        await checks.run_tool([script(tmp_path, "sleep 5")], time_limit=0.2)
    with pytest.raises(MediaBroken, match="broken input"):
        await checks.run_tool([script(tmp_path, "echo 'broken input' >&2; exit 1")], time_limit=5)
    with pytest.raises(MediaBroken, match="cannot be decoded"):
        await checks.run_tool([script(tmp_path, "exit 3")], time_limit=5)


async def test_probe_answers_that_make_no_sense_are_refused(tmp_path: Path) -> None:
    with pytest.raises(MediaBroken, match="nonsense"):
        await checks.probe(script(tmp_path, "echo not json"), tmp_path, time_limit=5)
    with pytest.raises(MediaBroken, match="no format"):
        await checks.probe(script(tmp_path, "echo '{}'"), tmp_path, time_limit=5)


def test_durations_and_formats_from_probe_output() -> None:
    assert checks.duration_ms({"format": {}}) is None
    assert checks.duration_ms({"format": {"duration": "1.5"}}) == 1500
    info = {"format": {"format_name": "avi"}, "streams": [{"codec_type": "video"}]}
    assert checks.check_av("video", info, ("mp4",)) is None
    assert checks.display_name(None) == ""


def test_a_damaged_image_is_refused_on_upload_and_fails_processing() -> None:
    good = image_bytes("PNG", (64, 64))
    damaged = good[:40] + bytes(b ^ 0xFF for b in good[40:60]) + good[60:]
    with pytest.raises(UnsupportedType):
        checks.check_image(damaged, formats=("PNG",), max_pixels=10**6)
    with pytest.raises(UnsupportedType):
        checks.check_image(good, formats=("JPEG",), max_pixels=10**6)
    with pytest.raises(MediaBroken):
        processing.render_image(good[: len(good) // 2], 10**6)
    with pytest.raises(MediaBroken):
        processing.render_image(png_claiming(5000, 5000), 10**6)
    with pytest.raises(TooManyPixels):
        checks.open_image(png_claiming(5000, 5000), 10**6)


def test_images_with_an_alpha_channel_are_re_encoded() -> None:
    (width, height), rendered = processing.render_image(
        image_bytes("PNG", (400, 200), mode="RGBA"), 10**6
    )
    assert (width, height) == (400, 200)
    with Image.open(io.BytesIO(rendered["thumb"])) as thumb:
        assert thumb.size == (320, 160)


async def test_processing_needs_the_stream_its_kind_is_about(tmp_path: Path) -> None:
    storage, settings = LocalStorage(tmp_path), Settings(storage_dir=tmp_path)

    async def progress(done: int, total: int, message: str) -> None:
        return None

    await storage.put("media/1/a.mp3", audio_bytes())
    await storage.put("media/1/v.mp4", video_bytes())
    with pytest.raises(MediaBroken, match="no video stream"):
        await processing.process_video(
            storage, settings, key="media/1/a.mp3", extension="mp3", progress=progress
        )
    with pytest.raises(MediaBroken, match="no audio stream"):
        await processing.process_audio(
            storage, settings, key="media/1/v.mp4", extension="mp4", progress=progress
        )
    with pytest.raises(MediaBroken, match="gone"):
        await processing.process(
            storage, settings, kind="audio", key="media/1/none.mp3", progress=progress
        )


def test_audio_without_tags_has_none(tmp_path: Path) -> None:
    wav = tmp_path / "a.wav"
    wav.write_bytes(ffmpeg("-f", "lavfi", "-i", "sine=duration=0.2", suffix=".wav"))
    assert processing.read_tags(wav) == {}
    junk = tmp_path / "junk.mp3"
    junk.write_bytes(b"ID3\x04\x00\x00\x00\x00\x00\x10" + b"\xff" * 20)
    assert processing.read_tags(junk) == {}
