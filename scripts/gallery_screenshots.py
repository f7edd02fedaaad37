"""Screenshots of the gallery for the README (docs/gallery-*.png): ``ig serve`` with the mock
provider in a temporary directory, a small library made through the API, then Chromium at
1280x800. Run ``uv run python scripts/gallery_screenshots.py`` after changing how a page looks.

The mock makes every job today and at no cost, so for the usage view the script gives a month of
small mock jobs made through the API a spread of days and reported costs, written into the
database directly: the one place it goes around ig.

Needs a Chromium as the browser tests do (tests/browser/conftest.py)."""

from __future__ import annotations

import io
import os
import random
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from PIL import Image, ImageDraw
from playwright.sync_api import sync_playwright

DOCS = Path(__file__).resolve().parents[1] / "docs"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
PROMPTS = [
    ("a red fox in fresh snow, golden hour", 768, 512, ["animals", "user:42"]),
    ("lighthouse on a cliff in a storm, oil painting", 512, 768, ["landscapes"]),
    ("isometric cozy cabin interior, soft light", 512, 512, ["interiors", "user:42"]),
    ("a koi pond seen from above, watercolor", 640, 512, ["animals"]),
    ("neon city street at night in the rain", 512, 640, ["cities", "user:7"]),
    ("portrait of an astronaut with flowers", 512, 512, ["portraits"]),
    ("a bowl of ramen, studio photo", 768, 512, ["food", "user:7"]),
    ("mountain lake at dawn, mist", 768, 432, ["landscapes"]),
    ("paper-cut style forest with deer", 512, 512, ["animals", "user:42"]),
    ("retro robot toy on a wooden desk", 512, 704, ["objects"]),
    ("aerial view of terraced rice fields", 704, 512, ["landscapes"]),
    ("a cat wearing a tiny wizard hat", 512, 512, ["animals", "user:7"]),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _scene(seed: int, size: tuple[int, int]) -> bytes:
    """A landscape drawn from a seed (sky, sun, ridges), to upload beside the mock's banded images."""
    rng = random.Random(seed)
    width, height = size
    top, bottom = [tuple(rng.randrange(40, 255) for _ in range(3)) for _ in range(2)]
    image = Image.new("RGB", size)
    draw = ImageDraw.Draw(image)
    for y in range(height):
        t = y / height
        draw.line([(0, y), (width, y)], fill=tuple(int(a + (b - a) * t) for a, b in zip(top, bottom, strict=True)))
    sun = rng.randrange(width // 8, width - width // 8), rng.randrange(height // 6, height // 2)
    radius = rng.randrange(height // 14, height // 7)
    draw.ellipse([sun[0] - radius, sun[1] - radius, sun[0] + radius, sun[1] + radius], fill=(255, 236, 190))
    for layer in range(4):
        shade = tuple(max(0, int(c * (0.75 - layer * 0.17))) for c in bottom)
        base = height * (0.5 + layer * 0.12)
        points = [(0, height)]
        for x in range(0, width + 40, 40):
            points.append((x, base - rng.randrange(0, int(height * 0.18))))
        points.append((width, height))
        draw.polygon(points, fill=shade)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def _make_library(api: httpx.Client) -> str:
    """The library the screenshots show; returns the artifact the detail page shows."""
    shown = ""
    for index, (prompt, width, height, tags) in enumerate(PROMPTS):
        for model in ("mock", "mock-xl") if index % 3 == 0 else ("mock",):
            body = {
                "provider": "mock",
                "model": model,
                "task": "imageInference",
                "params": {"positivePrompt": prompt, "width": width, "height": height, "seed": 1000 + index},
                "tags": tags,
            }
            job = api.post("/v1/jobs", json=body).json()
            finished = api.get(f"/v1/jobs/{job['id']}", params={"wait": 30}).json()
            shown = shown or finished["artifacts"][0]["id"]
    for seed in range(8):
        size = (768, 512) if seed % 2 else (512, 640)
        tags = "&".join(f"tag={t}" for t in ("scenes", f"user:{seed % 3}"))
        api.post(f"/v1/uploads?{tags}", content=_scene(seed, size), headers={"content-type": "image/png"})
    speech = {"provider": "mock", "model": "mock", "task": "audioInference", "params": {"positivePrompt": "rain"}}
    api.get(f"/v1/jobs/{api.post('/v1/jobs', json=speech).json()['id']}", params={"wait": 30})
    return shown


def _month_of_usage(api: httpx.Client, data: Path) -> None:
    rng = random.Random(7)
    ids = []
    for _ in range(3):
        jobs = [
            {
                "provider": "mock",
                "model": rng.choice(("flux-schnell", "flux-dev", "sdxl", "mock")),
                "task": "imageInference",
                "params": {"positivePrompt": "usage", "width": 64, "height": 64},
            }
            for _ in range(40)
        ]
        answer = api.post("/v1/jobs/batch", json={"jobs": jobs})
        ids += [item["job"]["id"] for item in answer.json()["items"]]
    for job_id in ids:
        api.get(f"/v1/jobs/{job_id}", params={"wait": 30})
    db = sqlite3.connect(data / "ig.sqlite3")
    with db:
        models = sorted({row[0] for row in db.execute("SELECT DISTINCT model FROM jobs")})
        unit = {model: 0.0013 * (index + 1) for index, model in enumerate(models)}
        for job_id in ids:
            shift = f"-{int(rng.triangular(0, 29, 3))} days"
            db.execute(
                "UPDATE jobs SET created_at = strftime('%Y-%m-%dT%H:%M:%fZ', created_at, ?1),"
                " completed_at = strftime('%Y-%m-%dT%H:%M:%fZ', completed_at, ?1) WHERE id = ?2",
                (shift, job_id),
            )
            [model] = db.execute("SELECT model FROM jobs WHERE id = ?", (job_id,)).fetchone()
            db.execute(
                "UPDATE results SET cost = ?1, cost_currency = 'USD', cost_source = 'reported' WHERE job_id = ?2",
                (round(unit[model] * rng.uniform(0.8, 1.2), 6), job_id),
            )
    db.close()


def _save(png: bytes, name: str) -> None:
    image = Image.open(io.BytesIO(png)).convert("RGB")
    out = DOCS / f"gallery-{name}.png"
    image.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(out, "PNG", optimize=True)
    print(f"{out.relative_to(DOCS.parent)}: {out.stat().st_size // 1024} KiB")


def main() -> None:
    port = _free_port()
    data = Path(tempfile.mkdtemp(prefix="ig-screenshots-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IG_", "RUNWARE_", "FAL_", "REPLICATE_"))}
    command = [sys.executable, "-m", "ig.adapters.local.cli", "--port", str(port), "--data-dir", str(data)]
    server = subprocess.Popen(
        command, env={**env, "IG_MOCK_PROVIDER": "1"}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=url, timeout=60) as api:
            for _ in range(300):
                try:
                    api.get("/healthz")
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            detail = _make_library(api)
            _month_of_usage(api, data)
            while any(
                a["thumbnail_url"] is None for a in api.get("/v1/artifacts", params={"kind": "image"}).json()["items"]
            ):
                time.sleep(0.1)  # the last images' thumbnails are on their way
        executable = os.environ.get("IG_TEST_CHROMIUM") or shutil.which("chromium")
        with sync_playwright() as driver:
            browser = driver.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
            page = browser.new_page(base_url=url, viewport={"width": 1280, "height": 800}, color_scheme="light")
            for name, path in (("library", "/"), ("detail", f"/artifacts/{detail}"), ("usage", "/usage")):
                page.goto(path)
                page.wait_for_load_state("networkidle")
                _save(page.screenshot(), name)
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
