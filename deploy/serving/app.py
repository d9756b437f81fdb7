"""HTTP service over a bounded pool of predictors (FastAPI).

    POST /v1/enhance   image bytes (raw body or multipart field 'file') -> PNG (or ?format=jpeg)
    POST /v1/classify  image bytes -> {"topk": [{"index", "score", "label"}, ...]}   (?topk=5)
    GET  /healthz      {"status": "ok", "model": ..., "task": ...}
    GET  /metrics      Prometheus text: requests, latency histogram, errors, busy slots

At most ``pool_size`` requests run and ``queue_size`` wait; one more is answered
503 with Retry-After instead of growing memory. Every bad input gets a 4xx with
the reason.
"""
import hmac
import io
import os
import queue
import sys
import threading
import time
from typing import Optional

import anyio
import cv2
import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from PIL import Image, ImageOps, UnidentifiedImageError
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'python'))
from predictor import DeployError, Predictor, RunOptions  # noqa: E402

FORMATS = ('PNG', 'JPEG', 'BMP', 'TIFF', 'WEBP')


class HTTPError(Exception):
    """An answer other than 200: status, reason, optional headers."""

    def __init__(self, status: int, reason: str, headers: Optional[dict] = None):
        super().__init__(reason)
        self.status, self.reason, self.headers = status, reason, headers or {}


class Limiter:
    """Counts admitted requests (running + waiting); refuses past ``capacity``."""

    def __init__(self, capacity: int):
        self.capacity, self.busy, self._lock = capacity, 0, threading.Lock()

    def try_acquire(self) -> bool:
        with self._lock:
            if self.busy >= self.capacity:
                return False
            self.busy += 1
            return True

    def release(self) -> None:
        with self._lock:
            self.busy -= 1


def _to_array(img: Image.Image) -> np.ndarray:
    """PIL image -> HWC RGB uint8, or uint16 for 16-bit grayscale."""
    if img.mode in ('I;16', 'I;16B', 'I;16L', 'I'):
        gray = np.asarray(img, dtype=np.int64)
        gray = np.clip(gray, 0, 65535).astype(np.uint16)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if img.mode != 'RGB':
        img = img.convert('RGB')  # L, LA, P, RGBA (alpha dropped), CMYK, 1
    return np.asarray(img)


def decode_image(data: bytes, max_pixels: int) -> np.ndarray:
    """Bytes -> HWC RGB array, EXIF orientation applied; HTTPError 400 / 413 with the reason."""
    if not data:
        raise HTTPError(400, 'empty body: send the image bytes (raw body or multipart field "file")')
    try:
        img = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise HTTPError(400, f'not a recognised image; supported formats: {", ".join(FORMATS)}')
    except Image.DecompressionBombError as err:
        raise HTTPError(413, f'image header declares too many pixels: {err}')
    except (OSError, ValueError, SyntaxError) as err:
        raise HTTPError(400, f'corrupt or truncated image header: {err}')
    if img.format not in FORMATS:
        raise HTTPError(400, f'unsupported image format {img.format}; supported: {", ".join(FORMATS)}')
    w, h = img.size
    if w * h > max_pixels:  # checked from the header, before decoding (decompression bombs)
        raise HTTPError(413, f'image is {w}x{h} = {w * h} pixels; the limit is {max_pixels}')
    try:
        img.load()
        img = ImageOps.exif_transpose(img)
        return _to_array(img)
    except (OSError, ValueError, SyntaxError) as err:
        raise HTTPError(400, f'corrupt or truncated {img.format} image: {err}')


def _encode(img: np.ndarray, fmt: str) -> bytes:
    bgr = np.ascontiguousarray((np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)[:, :, ::-1])
    ok, buf = cv2.imencode('.png' if fmt == 'png' else '.jpg', bgr)
    if not ok:
        raise HTTPError(500, 'could not encode the output image')
    return buf.tobytes()


class _Metrics:
    def __init__(self):
        self.registry = CollectorRegistry()
        self.requests = Counter('ppuhd_requests', 'HTTP requests', ['endpoint', 'status'], registry=self.registry)
        self.latency = Histogram('ppuhd_request_seconds', 'request latency', ['endpoint'], registry=self.registry,
                                 buckets=(.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60))
        self.errors = Counter('ppuhd_errors', 'answers other than 200', ['endpoint', 'status'],
                              registry=self.registry)
        self.busy = Gauge('ppuhd_busy_slots', 'requests running or waiting', registry=self.registry)


async def _read_body(request: Request, max_bytes: int) -> bytes:
    length = request.headers.get('content-length')
    if length is not None and length.isdigit() and int(length) > max_bytes:
        raise HTTPError(413, f'upload is {length} bytes; the limit is {max_bytes}')
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise HTTPError(413, f'upload exceeds the limit of {max_bytes} bytes')
        chunks.append(chunk)
    body = b''.join(chunks)
    if request.headers.get('content-type', '').startswith('multipart/form-data'):
        request._body = body  # starlette's form parser reads the cached body
        form = await request.form(max_files=1, max_fields=4)
        upload = form.get('file')
        if upload is None or isinstance(upload, str):
            raise HTTPError(400, 'multipart upload without a file field named "file"')
        return await upload.read()
    return body


def create_app(model_dir: str, opts: Optional[RunOptions] = None, pool_size: int = 1, queue_size: int = 4,
               max_upload_bytes: int = 50 << 20, max_pixels: int = 3840 * 2160, api_key: Optional[str] = None,
               retry_after: int = 2) -> FastAPI:
    """The service app.

    Args:
        model_dir: folder written by tools/export.py.
        opts: predictor options (threads, oneDNN, precision, ...).
        pool_size: predictors, i.e. requests that run at the same time.
        queue_size: requests that may wait for a predictor; beyond that 503.
        max_upload_bytes: larger bodies are refused with 413.
        max_pixels: larger decoded images (width * height from the header) are refused with 413.
        api_key: if set, requests (except /healthz) need ``X-API-Key`` or ``Authorization: Bearer``.
        retry_after: seconds suggested to a client refused with 503.
    """
    pool = queue.Queue()
    for _ in range(pool_size):
        pool.put(Predictor(model_dir, opts))
    first = pool.queue[0]
    limiter, metrics = Limiter(pool_size + queue_size), _Metrics()
    app = FastAPI(title='ppuhd', docs_url=None, redoc_url=None)
    app.state.limiter = limiter

    def check_key(request: Request) -> None:
        if api_key is None:
            return
        given = request.headers.get('x-api-key') or request.headers.get('authorization', '').removeprefix('Bearer ')
        if not hmac.compare_digest(given.encode(), api_key.encode()):
            raise HTTPError(401, 'missing or wrong API key (X-API-Key header)')

    def run_on_pool(fn):
        predictor = pool.get()
        try:
            return fn(predictor)
        finally:
            pool.put(predictor)

    async def handle(endpoint: str, request: Request, work):
        start, status = time.perf_counter(), 200
        try:
            check_key(request)
            if first.task != {'enhance': 'enhancement', 'classify': 'classification'}[endpoint]:
                raise HTTPError(404, f'this service runs a {first.task} model ({first.cfg["model"]}); '
                                     f'/v1/{endpoint} is not available')
            if not limiter.try_acquire():
                raise HTTPError(503, 'server busy: all predictors and queue slots are taken, retry later',
                                {'Retry-After': str(retry_after)})
            metrics.busy.set(limiter.busy)
            try:
                img = decode_image(await _read_body(request, max_upload_bytes), max_pixels)
                return await work(img)
            finally:
                limiter.release()
                metrics.busy.set(limiter.busy)
        except HTTPError as err:
            status = err.status
            return JSONResponse({'error': err.reason}, status_code=err.status, headers=err.headers)
        except DeployError as err:
            status = 400
            return JSONResponse({'error': str(err)}, status_code=400)
        finally:
            metrics.requests.labels(endpoint, str(status)).inc()
            metrics.latency.labels(endpoint).observe(time.perf_counter() - start)
            if status != 200:
                metrics.errors.labels(endpoint, str(status)).inc()

    @app.post('/v1/enhance')
    async def enhance(request: Request, format: str = 'png'):
        async def work(img):
            if format not in ('png', 'jpeg'):
                raise HTTPError(400, f"format must be png or jpeg, got '{format}'")
            out = await anyio.to_thread.run_sync(run_on_pool, lambda p: p.enhance(img))
            return Response(_encode(out, format), media_type=f'image/{format}')
        return await handle('enhance', request, work)

    @app.post('/v1/classify')
    async def classify(request: Request, topk: int = 5):
        async def work(img):
            if not 1 <= topk <= 1000:
                raise HTTPError(400, f'topk must be within 1..1000, got {topk}')
            result = await anyio.to_thread.run_sync(run_on_pool, lambda p: p.classify(img, topk))
            return JSONResponse({'topk': result})
        return await handle('classify', request, work)

    @app.get('/healthz')
    async def healthz():
        return {'status': 'ok', 'model': first.cfg['model'], 'task': first.task, 'pool_size': pool_size,
                'busy': limiter.busy, 'capacity': limiter.capacity}

    @app.get('/metrics')
    async def prometheus(request: Request):
        try:
            check_key(request)
        except HTTPError as err:
            return JSONResponse({'error': err.reason}, status_code=err.status)
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app
