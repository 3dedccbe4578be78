"""The studio's Ray Serve application (the one studio module that imports Ray): two deployments.

- DesignModel loads the three stages once per replica and runs variants through the chain. Variants from every
  request in flight are grouped by Serve's own batching (`@serve.batch`): one pass per stage for a whole batch.
- Studio is the HTTP ingress (FastAPI through `@serve.ingress`): the page, its static files, the JSON API and the
  OpenAPI schema with its documentation page at /docs. A design is a job: POST answers 202 with its id at once, the
  variants are sent to DesignModel concurrently, and each is written to disk as it comes back (the page polls).

Run it with `paint-studio`, `serve run studio.serve_app:build_app checkpoints=runs/demo`, or a Serve config file
(studio/serve_config.yaml). See docs/STUDIO.md.

No `from __future__ import annotations` here: Serve's ingress rebuilds the methods' signatures, and FastAPI must
see `Request` as a class, not a string, to pass the request in.
"""
import asyncio
import time
from pathlib import Path

import torch
from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from ray import serve
from ray.serve import Application
from ray.serve.handle import DeploymentHandle

from paint.data.keypoints import LIMBS
from paint.data.units import PATCH_REGIONS
from design.chain import Variant, VariantRequest, run_variants
from design.designer import Designer, design_result, variant_requests
from design.poses import preset_names, preset_pose
from studio.docs_page import docs_html, docs_asset
from studio.inputs import DesignRequest, InputError, check_request, parse_body
from studio.jobs import JobStore
from studio.settings import StudioSettings

STATIC = Path(__file__).with_name("static")
PAGE_FILES = {"studio.js": "text/javascript", "studio.css": "text/css"}

app = FastAPI(title="PAINT design studio", docs_url=None, redoc_url=None,
              description="A pose and texture photos → multi-view fashion designs (LGN → TSN → AFN). POST a design, "
                          "poll its status, fetch its images, contact sheet and zip.")


@app.exception_handler(InputError)
async def _refused(_request: Request, exc: InputError) -> JSONResponse:
    return JSONResponse({"error": exc.message}, status_code=exc.status)


async def _read_body(request: Request, limit: int) -> bytes:
    """(Defined above the ingress class: Serve pickles the app when the class is decorated.) The body, or 413 when it is longer than `limit` bytes. A longer body is still read to its end (but not
    kept): answering before the client has sent it all would break its connection instead of showing the 413."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size <= limit:
            chunks.append(chunk)
    if size > limit:
        raise InputError(413, f"the request is {size / 2**20:.1f} MiB; at most {limit / 2**20:g} MiB are accepted")
    return b"".join(chunks)


def _preset_poses() -> dict:
    """GET /api/poses: every preset's views and the limbs to draw. (Above the ingress class, as _read_body.)"""
    presets = {}
    for name in preset_names():
        pose = preset_pose(name)
        presets[name] = {"side": pose.side, "description": pose.record.get("description", ""),
                         "views": {view: kp.round(2).tolist() for view, kp in pose.views.items()}}
    return {"presets": presets, "limbs": [list(pair) for pair in LIMBS]}


@serve.deployment
class DesignModel:
    """The three trained stages on one device; `run` takes one variant and is batched across requests."""

    def __init__(self, settings: StudioSettings):
        torch.set_num_threads(max(1, round(settings.cpus_per_replica)))
        self.designer = Designer(settings.checkpoints, settings.device)
        self.settings = settings
        self.batch_sizes: list[int] = []
        self._batch.set_max_batch_size(settings.max_batch_size)
        self._batch.set_batch_wait_timeout_s(settings.batch_wait_s)

    @serve.batch(max_batch_size=8, batch_wait_timeout_s=0.05)
    async def _batch(self, requests: list[VariantRequest]) -> list[Variant]:
        self.batch_sizes.append(len(requests))
        return await asyncio.to_thread(run_variants, self.designer.models, requests, self.designer.device)

    async def run(self, request: VariantRequest) -> Variant:
        return await self._batch(request)

    def info(self) -> dict:
        sizes = self.batch_sizes
        return {"resolution": self.designer.resolution, "device": str(self.designer.device),
                "checkpoints": self.designer.describe(),
                "batching": {"max_batch_size": self.settings.max_batch_size,
                             "batch_wait_s": self.settings.batch_wait_s, "batches": len(sizes),
                             "variants": sum(sizes), "largest": max(sizes, default=0)}}


@serve.deployment
@serve.ingress(app)
class Studio:
    """The page and the JSON API; design jobs run here as asyncio tasks that call DesignModel."""

    def __init__(self, model: DeploymentHandle, settings: StudioSettings):
        self.model, self.settings, self.limits = model, settings, settings.limits
        self.store = JobStore(settings.out_path)
        self.tasks: set[asyncio.Task] = set()
        self._model_info: dict | None = None
        self._poses = _preset_poses()      # shipped files: read once, not per request

    async def _info(self) -> dict:
        if self._model_info is None:
            self._model_info = await self.model.info.remote()
        return self._model_info

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page(self) -> HTMLResponse:
        return HTMLResponse((STATIC / "index.html").read_text(encoding="utf-8"))

    @app.get("/static/{name}", include_in_schema=False)
    def static(self, name: str) -> FileResponse:
        if name not in PAGE_FILES:
            raise InputError(404, f"no static file {name!r}")
        return FileResponse(STATIC / name, media_type=PAGE_FILES[name])

    @app.get("/docs", response_class=HTMLResponse, include_in_schema=False)
    def docs(self) -> HTMLResponse:
        return HTMLResponse(docs_html("/openapi.json", "/docs/assets", app.title))

    @app.get("/docs/assets/{name}", include_in_schema=False)
    def docs_assets(self, name: str) -> Response:
        found = docs_asset(name)
        if found is None:
            raise InputError(404, f"no documentation asset {name!r}")
        return FileResponse(found[0], media_type=found[1])

    @app.get("/api/info", summary="The models, limits, regions and pose presets")
    async def info(self) -> dict:
        model = await self.model.info.remote()     # fresh: batching figures (of the replica that answers)
        return {**model, "limits": self.limits.public(), "regions": list(PATCH_REGIONS), "poses": preset_names()}

    @app.get("/api/poses", summary="Every pose preset's views as [x, y, confidence] × 18 on its square canvas, "
                                    "and the limbs (joint pairs) to draw")
    def poses(self) -> dict:
        return self._poses

    @app.post("/api/designs", status_code=202, summary="Start a design; answers its job id at once",
              openapi_extra={"requestBody": {"required": True, "content": {
                  "application/json": {"schema": DesignRequest.model_json_schema()}}}})
    async def submit(self, request: Request) -> JSONResponse:
        body = await _read_body(request, self.limits.max_request_bytes)
        checked = await asyncio.to_thread(lambda: check_request(parse_body(body, self.limits), self.limits))
        job = self.store.create({"pose": checked.pose.record, "views": checked.views, "variants": checked.variants,
                                 "seed": checked.seed, "textures": {r: t.record for r, t in checked.textures.items()}})
        task = asyncio.create_task(self._run(job, checked))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return JSONResponse({"id": job.id, "status": f"/api/designs/{job.id}"}, status_code=202)

    async def _run(self, job, checked) -> None:
        try:
            info = await self._info()
            resolution = info["resolution"]
            requests = variant_requests(checked.pose, checked.textures, checked.views, checked.variants,
                                        checked.seed, resolution)
            names = [name for name, _ in checked.pose.at(resolution, checked.views)]
            job.start()

            async def one(index: int, variant_request: VariantRequest) -> Variant:
                variant = await self.model.run.remote(variant_request)
                job.add_variant(index, variant, names)     # on the event loop: status.json has one writer
                return variant

            outputs = await asyncio.gather(*(one(k, r) for k, r in enumerate(requests)))
            result = design_result(checked.pose, requests, outputs, resolution, info["checkpoints"], "paint-studio")
            await asyncio.to_thread(job.finish, result)
        except Exception as exc:    # the job records why it failed; the server keeps serving
            job.fail(f"{type(exc).__name__}: {exc}")

    @app.get("/api/designs/{job_id}", summary="A design's state, progress and files")
    def status(self, job_id: str) -> dict:
        job = self._job(job_id)
        status = job.status()
        base = f"/api/designs/{job.id}/files/"
        status["urls"] = {name: base + name for name in status["files"]}
        status["elapsed_s"] = round((status.get("finished") or time.time()) - status["created"], 3)
        return status

    @app.get("/api/designs/{job_id}/files/{name}", summary="One of a design's files (names from its status)")
    def file(self, job_id: str, name: str) -> FileResponse:
        path = self._job(job_id).file(name)
        if path is None:
            raise InputError(404, f"design {job_id} has no file {name!r} (yet)")
        kind = "application/zip" if path.suffix == ".zip" else "image/png" if path.suffix == ".png" \
            else "application/json"
        return FileResponse(path, media_type=kind, filename=path.name if kind == "application/zip" else None)

    def _job(self, job_id: str):
        job = self.store.get(job_id)
        if job is None:
            raise InputError(404, f"no design {job_id!r}")
        return job


def studio_app(settings: StudioSettings) -> Application:
    """The bound application: DesignModel replicas (fixed or autoscaled) behind one Studio ingress."""
    scaling = {"autoscaling_config": settings.autoscaling} if settings.autoscaling else \
        {"num_replicas": settings.replicas}
    gpus = 1 if settings.device.startswith("cuda") else 0
    model = DesignModel.options(
        **scaling, max_ongoing_requests=max(16, 2 * settings.max_batch_size),
        ray_actor_options={"num_cpus": settings.cpus_per_replica, "num_gpus": gpus}).bind(settings)
    return Studio.options(max_ongoing_requests=64, ray_actor_options={"num_cpus": 0}).bind(model, settings)


def build_app(args: dict) -> Application:
    """`serve run studio.serve_app:build_app checkpoints=runs/demo …` and Serve config files' `args`."""
    return studio_app(StudioSettings.from_args(args).resolved())


def serve_forever(settings: StudioSettings, host: str, port: int, address: str | None, announce) -> int:
    """Start Ray (or join `address`) and Serve on host:port, run the studio until Ctrl-C, then shut it down."""
    import signal

    import ray

    def stop(_signum, _frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, stop)     # `kill`, systemd and container stops shut down as Ctrl-C does
    ray.init(address=address, logging_level="WARNING")
    try:
        serve.start(http_options={"host": host, "port": port})
        serve.run(studio_app(settings), name="studio", route_prefix="/", blocking=False)
        announce(f"http://{'127.0.0.1' if host == '0.0.0.0' else host}:{port}/")
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return 0
    finally:
        serve.shutdown()
        ray.shutdown()
