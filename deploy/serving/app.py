"""HTTP service over a bounded pool of predictors (FastAPI).

    POST /v1/enhance   image bytes (raw body or multipart field 'file') -> PNG (or ?format=jpeg), at the model's
                       scale; X-Input-Size / X-Output-Size (WxH) and X-Scale headers
    POST /v1/classify  image bytes -> {"topk": [{"index", "score", "label"}, ...]}   (?topk=5)
    GET  /healthz      {"status": "ok", "model": ..., "task": ...}
    GET  /metrics      Prometheus text: requests by status, latency histogram, errors, busy slots

Against hostile clients (the threat model is in docs/deploy.md):

* the body is read under a deadline (408) and a size limit (413) *before* a predictor slot is
  taken, so slow uploads hold only their connection; the request head has its own deadline in
  ``server.py``; at most ``pool_size`` requests run and ``queue_size`` wait, one more gets 503;
* every upload goes through the project's one image gate (``ppuhd.utils.image_io``): the header's
  pixel count is checked before decoding (413), any decoder failure is a 400 naming the reason;
* every answer other than 200 is ``{"error": "..."}``, and every request is counted in /metrics
  with its real status, including framework errors, 500s and clients that disconnected (499);
* the ``Host`` header must name this server (DNS rebinding), /openapi.json is not served, and with
  an API key every endpoint but /healthz needs it.
"""
import asyncio
import hmac
import logging
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Iterable, Optional

import anyio
import numpy as np
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from python_multipart.multipart import parse_options_header
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import ClientDisconnect

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'python'))
sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..')))
from predictor import DeployError, Predictor, RunOptions  # noqa: E402
from ppuhd.utils.image_io import ImageError, ImageTooLarge, decode_image, encode_image  # noqa: E402

ENDPOINTS = {'/v1/enhance': 'enhance', '/v1/classify': 'classify', '/healthz': 'healthz', '/metrics': 'metrics'}
LOOPBACK_HOSTS = ('127.0.0.1', 'localhost', '::1')
MAX_HEADER_BYTES = 16 << 10  # request line + headers; h11 refuses larger incomplete heads, _CheckHead complete ones
DISCONNECTED = 499  # nginx's code for "the client closed the connection before the answer"
log = logging.getLogger('ppuhd.serving')


class HTTPError(Exception):
    """An answer other than 200: status, reason, optional headers."""

    def __init__(self, status: int, reason: str, headers: Optional[dict] = None):
        super().__init__(reason)
        self.status, self.reason, self.headers = status, reason, headers or {}


class _Disconnected(Exception):
    """The client went away; nobody is left to answer."""


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


class PredictorPool:
    """Predictors, each run by one thread of its own.

    Paddle Inference keeps per-thread state (oneDNN contexts and their primitive caches): a
    predictor called from whichever thread of a shared pool grows that state on every new
    thread (+270 MB over 16 concurrent clients on UHDFour). Pinned to one thread each, memory
    stays that of the predictors. Waiting for a free predictor holds no thread.

    Args:
        predictors: the ``Predictor`` objects to serve with.
    """

    def __init__(self, predictors: Iterable[Predictor] = ()):
        self.predictors = list(predictors)
        self._free: Optional[asyncio.Queue] = None

    async def run(self, fn):
        if self._free is None:  # created in the event loop that serves the requests
            self._free = asyncio.Queue()
            for predictor in self.predictors:
                self._free.put_nowait((predictor, ThreadPoolExecutor(1, thread_name_prefix='predictor')))
        predictor, thread = await self._free.get()
        try:
            # a cancelled wait returns the predictor at once: its single thread still runs jobs one at a time
            return await asyncio.wrap_future(thread.submit(fn, predictor))
        finally:
            self._free.put_nowait((predictor, thread))


def error_response(status: int, reason: str, headers: Optional[dict] = None) -> JSONResponse:
    """The one error body of the service."""
    return JSONResponse({'error': reason}, status_code=status, headers=headers)


def decode_upload(data: bytes, max_pixels: int) -> np.ndarray:
    """Bytes -> HWC RGB array through the image gate, EXIF orientation applied; HTTPError 400 / 413 with the reason."""
    if not data:
        raise HTTPError(400, 'empty body: send the image bytes (raw body or multipart field "file")')
    try:
        return decode_image(data, 'upload', max_pixels, exif=True)
    except ImageTooLarge as err:
        raise HTTPError(413, str(err)) from None
    except ImageError as err:
        raise HTTPError(400, str(err)) from None


def _encode(img: np.ndarray, fmt: str) -> bytes:
    try:
        return encode_image(np.clip(img, 0, 1), '.png' if fmt == 'png' else '.jpg')
    except OSError as err:
        raise HTTPError(500, f'could not encode the output image: {err}') from None


class _Metrics:
    def __init__(self):
        self.registry = CollectorRegistry()
        self.requests = Counter('ppuhd_requests', 'HTTP requests by final status (499: the client disconnected)',
                                ['endpoint', 'status'], registry=self.registry)
        self.latency = Histogram('ppuhd_request_seconds', 'request latency', ['endpoint'], registry=self.registry,
                                 buckets=(.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60))
        self.errors = Counter('ppuhd_errors', 'answers other than 200', ['endpoint', 'status'],
                              registry=self.registry)
        self.busy = Gauge('ppuhd_busy_slots', 'requests running or waiting', registry=self.registry)
        self.refused = Counter('ppuhd_connections_refused', 'connections closed before a request reached the app',
                               ['reason'], registry=self.registry)

    def count(self, endpoint: str, status: int, seconds: float) -> None:
        self.requests.labels(endpoint, str(status)).inc()
        self.latency.labels(endpoint).observe(seconds)
        if status != 200:
            self.errors.labels(endpoint, str(status)).inc()


class _CountEveryRequest:
    """ASGI middleware: every HTTP request is counted with the status it really got.

    It sits outside FastAPI's routing and exception handling, so 404s of unknown paths, 422s of
    bad query values, 500s of unexpected exceptions and client disconnects (499, when no answer
    was sent) are all counted, not only what the endpoints return.

    Args:
        app: the ASGI app inside.
        metrics: where requests are counted.
    """

    def __init__(self, app=None, metrics: Optional[_Metrics] = None):
        self.app, self.metrics = app, metrics

    async def __call__(self, scope, receive, send):
        if scope['type'] != 'http':
            return await self.app(scope, receive, send)
        start, state = time.perf_counter(), {'status': None, 'disconnected': False}

        async def receive_watched():
            message = await receive()
            if message['type'] == 'http.disconnect':
                state['disconnected'] = True
            return message

        async def send_watched(message):
            if message['type'] == 'http.response.start':
                state['status'] = message['status']
            await send(message)

        try:
            await self.app(scope, receive_watched, send_watched)
        except Exception:
            state['status'] = state['status'] or 500
            raise
        finally:
            status = state['status'] or (DISCONNECTED if state['disconnected'] else 500)
            self.metrics.count(ENDPOINTS.get(scope['path'], 'other'), status, time.perf_counter() - start)


def host_of(header: str) -> str:
    """The host name of a Host header, without the port (``[::1]:8000`` -> ``::1``), lower case."""
    header = header.strip().lower()
    if header.startswith('['):
        return header[1:header.find(']')] if ']' in header else header
    return header.rsplit(':', 1)[0] if header.count(':') == 1 else header


class _CheckHead:
    """ASGI middleware: refuse request heads over ``MAX_HEADER_BYTES`` (431), and requests whose Host header
    names another server (DNS rebinding, 400).

    A web page of another origin whose name was re-pointed at this address still sends its own
    name in Host; only the names this server is reached by (``allowed``) are answered.

    Args:
        app: the ASGI app inside.
        allowed: host names (``'*'``: any).
    """

    def __init__(self, app=None, allowed: Iterable[str] = LOOPBACK_HOSTS):
        self.app, self.allowed = app, {h.lower().strip('[]') for h in allowed}

    async def __call__(self, scope, receive, send):
        if scope['type'] != 'http':
            return await self.app(scope, receive, send)
        size = len(scope['raw_path']) + len(scope['query_string']) + sum(len(k) + len(v) + 4
                                                                         for k, v in scope['headers'])
        if size > MAX_HEADER_BYTES:
            return await error_response(431, f'the request head is {size} bytes; the limit is {MAX_HEADER_BYTES}')(
                scope, receive, send)
        header = dict(scope['headers']).get(b'host', b'').decode('latin-1')
        if '*' not in self.allowed and host_of(header) not in self.allowed:
            response = error_response(400, f'Host header {header!r} is not a name of this server (allowed: '
                                           f'{", ".join(sorted(self.allowed))}); start it with --allowed-host NAME '
                                           'to serve another name')
            return await response(scope, receive, send)
        return await self.app(scope, receive, send)


async def _read_body(request: Request, max_bytes: int, timeout: float) -> bytes:
    """The image bytes of the request (raw body, or the multipart field ``file``), read within ``timeout`` s."""
    length = request.headers.get('content-length')
    if length is not None and length.isdigit() and int(length) > max_bytes:
        raise HTTPError(413, f'upload is {length} bytes; the limit is {max_bytes}')
    chunks, size = [], 0
    try:
        with anyio.fail_after(timeout):
            async for chunk in request.stream():
                size += len(chunk)
                if size > max_bytes:
                    raise HTTPError(413, f'upload exceeds the limit of {max_bytes} bytes')
                chunks.append(chunk)
    except TimeoutError:
        raise HTTPError(408, f'the upload did not arrive within {timeout:g} s ({size} bytes received)',
                        {'Connection': 'close'}) from None
    except ClientDisconnect:
        raise _Disconnected() from None
    body = b''.join(chunks)
    media_type, _ = parse_options_header(request.headers.get('content-type', ''))  # lower-cased by the parser
    if media_type != b'multipart/form-data':
        return body

    async def stream():
        yield body
    try:
        form = await MultiPartParser(request.headers, stream(), max_files=1, max_fields=4,
                                     max_part_size=max_bytes).parse()
    except MultiPartException as err:
        raise HTTPError(400, f'malformed multipart upload: {err.message}') from None
    try:
        upload = form.get('file')
        if upload is None or isinstance(upload, str):
            raise HTTPError(400, 'multipart upload without a file field named "file"')
        return await upload.read()
    finally:
        await form.close()


def create_app(model_dir: str, opts: Optional[RunOptions] = None, pool_size: int = 1, queue_size: int = 4,
               max_upload_bytes: int = 50 << 20, max_pixels: int = 3840 * 2160, api_key: Optional[str] = None,
               retry_after: int = 2, body_timeout: float = 60.0,
               allowed_hosts: Iterable[str] = LOOPBACK_HOSTS) -> FastAPI:
    """The service app.

    Args:
        model_dir: folder written by tools/export.py.
        opts: predictor options (threads, oneDNN, precision, ...).
        pool_size: predictors, i.e. requests that run at the same time.
        queue_size: requests that may wait for a predictor; beyond that 503.
        max_upload_bytes: larger bodies are refused with 413.
        max_pixels: larger images (width * height from the header, before decoding) are refused with 413.
        api_key: if set, requests (except /healthz) need ``X-API-Key`` or ``Authorization: Bearer``.
        retry_after: seconds suggested to a client refused with 503.
        body_timeout: seconds a client has to send the whole body once its headers arrived; then 408.
        allowed_hosts: host names the ``Host`` header may carry; ``'*'`` accepts any (no DNS-rebinding check).
    """
    pool = PredictorPool(Predictor(model_dir, opts) for _ in range(pool_size))
    first = pool.predictors[0]
    limiter, metrics = Limiter(pool_size + queue_size), _Metrics()
    app = FastAPI(title='ppuhd', docs_url=None, redoc_url=None, openapi_url=None)
    app.state.limiter, app.state.metrics = limiter, metrics

    def check_key(request: Request) -> None:
        if api_key is None:
            return
        given = request.headers.get('x-api-key') or request.headers.get('authorization', '').removeprefix('Bearer ')
        if not hmac.compare_digest(given.encode(), api_key.encode()):
            raise HTTPError(401, 'missing or wrong API key (X-API-Key header)')

    async def handle(endpoint: str, request: Request, work):
        try:
            check_key(request)
            if first.task != {'enhance': 'enhancement', 'classify': 'classification'}[endpoint]:
                raise HTTPError(404, f'this service runs a {first.task} model ({first.cfg["model"]}); '
                                     f'/v1/{endpoint} is not available')
            busy = HTTPError(503, 'server busy: all predictors and queue slots are taken, retry later',
                             {'Retry-After': str(retry_after)})
            if limiter.busy >= limiter.capacity:  # full already: spare the client its upload
                raise busy
            body = await _read_body(request, max_upload_bytes, body_timeout)  # no slot is held while uploading
            if not limiter.try_acquire():
                raise busy
            metrics.busy.set(limiter.busy)
            try:
                img = await anyio.to_thread.run_sync(decode_upload, body, max_pixels)
                response = await work(img)
            finally:
                limiter.release()
                metrics.busy.set(limiter.busy)
            if await request.is_disconnected():  # nobody will read the answer: count it as such
                raise _Disconnected()
            return response
        except HTTPError as err:
            return error_response(err.status, err.reason, err.headers)
        except DeployError as err:
            return error_response(400, str(err))
        except _Disconnected:
            return Response(status_code=DISCONNECTED)
        except Exception as err:  # noqa: BLE001 - answered here: an exception leaving the app makes uvicorn drop
            log.exception('unexpected error on %s', request.url.path)  # the connection mid-answer
            return error_response(500, f'internal server error ({type(err).__name__}); see the server log')

    @app.exception_handler(StarletteHTTPException)
    async def framework_error(request: Request, err: StarletteHTTPException):
        return error_response(err.status_code, str(err.detail), getattr(err, 'headers', None))

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, err: RequestValidationError):
        problems = '; '.join(f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in err.errors())
        return error_response(422, f'invalid request: {problems}')

    @app.exception_handler(Exception)
    async def internal_error(request: Request, err: Exception):
        log.exception('unexpected error on %s', request.url.path)
        return error_response(500, f'internal server error ({type(err).__name__}); see the server log')

    @app.post('/v1/enhance')
    async def enhance(request: Request, format: str = 'png'):
        async def work(img):
            if format not in ('png', 'jpeg'):
                raise HTTPError(400, f"format must be png or jpeg, got '{format}'")
            h, w = img.shape[:2]
            out_h, out_w = first.output_size(h, w)
            if out_h * out_w > max_pixels:  # super-resolution: the cost is the output's pixels
                raise HTTPError(413, f'the x{first.image_io.scale} result of a {w}x{h} image would be {out_w}x{out_h}'
                                     f' = {out_h * out_w} pixels; the limit is {max_pixels}')
            out = await pool.run(lambda p: p.enhance(img))
            sizes = {'X-Input-Size': f'{w}x{h}', 'X-Output-Size': f'{out_w}x{out_h}',
                     'X-Scale': str(first.image_io.scale)}
            return Response(_encode(out, format), media_type=f'image/{format}', headers=sizes)
        return await handle('enhance', request, work)

    @app.post('/v1/classify')
    async def classify(request: Request, topk: int = 5):
        async def work(img):
            if not 1 <= topk <= 1000:
                raise HTTPError(400, f'topk must be within 1..1000, got {topk}')
            result = await pool.run(lambda p: p.classify(img, topk))
            return JSONResponse({'topk': result})
        return await handle('classify', request, work)

    @app.get('/healthz')
    async def healthz():
        scale = {'scale': first.image_io.scale} if first.image_io else {}
        return {'status': 'ok', 'model': first.cfg['model'], 'task': first.task, **scale, 'pool_size': pool_size,
                'busy': limiter.busy, 'capacity': limiter.capacity}

    @app.get('/metrics')
    async def prometheus(request: Request):
        try:
            check_key(request)
        except HTTPError as err:
            return error_response(err.status, err.reason)
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    app.add_middleware(_CheckHead, allowed=list(allowed_hosts))
    app.add_middleware(_CountEveryRequest, metrics=metrics)  # added last = outermost: sees the host refusals too
    return app
