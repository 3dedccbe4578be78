"""A design job's files: everything the studio writes goes into <out>/<job id>/, nowhere else.

    <id>/status.json       state (queued, running, done, failed), variants done of total, the files so far
    <id>/live/…png         each variant's views, written as soon as that variant is ready (the page's grid)
    <id>/design/           when every variant is ready: what paint-design writes (images, layouts, patches,
                           sheet.png, design.json)
    <id>/design.zip        that folder in one download

Job ids are 32 hex digits drawn here; a file is served only under a name status.json lists, mapped to a path this
module built — no name from a request ever becomes a path. Every file is written under a temporary name and
renamed, so a reader never sees half of one.
"""
from __future__ import annotations

import json
import re
import time
import uuid
import zipfile
from pathlib import Path

from PIL import Image

from paint.io import atomic_path, write_text_atomic
from design.chain import Variant
from design.designer import DesignResult

JOB_ID = re.compile(r"^[0-9a-f]{32}$")
STATUS, LIVE, DESIGN, ZIP = "status.json", "live", "design", "design.zip"


class Job:
    """One design request's folder and status."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.id = folder.name

    def status(self) -> dict:
        return json.loads((self.folder / STATUS).read_text())

    def _write(self, status: dict) -> None:
        write_text_atomic(self.folder / STATUS, json.dumps(status, indent=1) + "\n")

    def _update(self, **changes) -> dict:
        status = {**self.status(), **changes}
        self._write(status)
        return status

    def start(self) -> None:
        self._update(state="running", started=time.time())

    def add_variant(self, index: int, variant: Variant, view_names: list[str]) -> None:
        """Write one variant's views into live/ and list them."""
        status = self.status()
        (self.folder / LIVE).mkdir(exist_ok=True)
        images = {}
        for view, name in enumerate(view_names):
            file = f"variant{index}_{name}.png"
            with atomic_path(self.folder / LIVE / file) as tmp:
                Image.fromarray(variant.images[view]).save(tmp, format="PNG")
            status["files"][file] = f"{LIVE}/{file}"
            images[name] = file
        status["variants"][index] = {"variant": index, "code_seed": variant.code_seed, "images": images,
                                     "patches": variant.patch_notes}
        status["done"] = sum(v is not None for v in status["variants"])
        self._write(status)

    def finish(self, result: DesignResult) -> None:
        """Write the whole design (paint-design's folder) and its zip; the job is done."""
        folder = result.save(self.folder / DESIGN)
        names = json.loads((folder / "design.json").read_text())["files"]
        with atomic_path(self.folder / ZIP) as tmp:
            with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
                for name in names:
                    archive.write(folder / name, arcname=name)
        status = self.status()
        status["files"].update({name: f"{DESIGN}/{name}" for name in names})
        status["files"][ZIP] = ZIP
        self._write({**status, "state": "done", "finished": time.time(), "zip": ZIP, "sheet": "sheet.png"})

    def fail(self, message: str) -> None:
        self._update(state="failed", error=" ".join(message.split()), finished=time.time())

    def file(self, name: str) -> Path | None:
        """The file listed under `name`, or None (never a path built from `name` itself)."""
        relative = self.status()["files"].get(name)
        if relative is None:
            return None
        path = (self.folder / relative).resolve()
        return path if path.is_file() and path.is_relative_to(self.folder.resolve()) else None


class JobStore:
    """Jobs under one output folder."""

    def __init__(self, root: str | Path):
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def create(self, request: dict) -> Job:
        """A new job for a checked request (`request`: what status.json records about it)."""
        job = Job(self.root / uuid.uuid4().hex)
        job.folder.mkdir()
        variants = request["variants"]
        job._write({"id": job.id, "state": "queued", "done": 0, "total": variants, "created": time.time(),
                    "request": request, "variants": [None] * variants, "files": {}, "error": None})
        return job

    def get(self, job_id: str) -> Job | None:
        if not JOB_ID.fullmatch(job_id):
            return None
        folder = self.root / job_id
        return Job(folder) if (folder / STATUS).is_file() else None
