"""Start the HTTP service on a model exported by tools/export.py.

    python deploy/serving/server.py --model-dir export/uhdfour [--host 127.0.0.1 --port 8000 --pool 1 --queue 4]
    curl --data-binary @dark.png -H 'Content-Type: image/png' http://127.0.0.1:8000/v1/enhance -o enhanced.png

Binds 127.0.0.1 unless --host says otherwise. Set PPUHD_API_KEY to require an X-API-Key header.
Limits and the threat model (what this process defends against, what a proxy in front must do): docs/deploy.md.
"""
import argparse
import ipaddress
import json
import logging
import os
import sys
from typing import List, Optional

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'python'))

from app import LOOPBACK_HOSTS, MAX_HEADER_BYTES, create_app  # noqa: E402
from predictor import DeployError, RunOptions  # noqa: E402
log = logging.getLogger('ppuhd.serving')


def _raw_error(status: int, reason: str, message: str) -> bytes:
    """A complete HTTP/1.1 error response in the service's body shape, for connections no request reached."""
    body = json.dumps({'error': message}).encode()
    return (f'HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n'
            'connection: close\r\n\r\n').encode() + body


def guarded_protocol(header_timeout: float, max_connections: int, on_refused=None) -> type:
    """uvicorn's h11 protocol with a deadline on every request head and a cap on open connections.

    uvicorn closes idle keep-alive connections but has no deadline for a request line and headers
    that arrive a byte at a time, and any byte restarts its keep-alive timer. Here every connection
    must deliver a complete head within ``header_timeout`` s of opening (or of its previous answer),
    else it gets 408 and is closed; connections beyond ``max_connections`` get 503 and are closed
    at once; a head h11 cannot parse (or over ``MAX_HEADER_BYTES``) gets 400. All three answer in the
    service's ``{"error": ...}`` shape and are counted by ``on_refused(reason)`` (``ppuhd_connections_refused``).
    """
    class GuardedH11Protocol(H11Protocol):
        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            self._head_deadline = None
            if len(self.connections) > max_connections:
                self._refuse('too_many_connections', 503, 'Service Unavailable',
                             f'more than {max_connections} open connections; retry later')
                return
            self._arm()

        def _arm(self) -> None:
            self._disarm()
            self._head_deadline = self.loop.call_later(header_timeout, self._head_late)

        def _disarm(self) -> None:
            if getattr(self, '_head_deadline', None) is not None:
                self._head_deadline.cancel()
                self._head_deadline = None

        def _refuse(self, reason: str, status: int, phrase: str, message: str) -> None:
            if on_refused is not None:
                on_refused(reason)
            if not self.transport.is_closing():
                self.transport.write(_raw_error(status, phrase, message))
                self.transport.close()

        def _head_late(self) -> None:
            self._head_deadline = None
            if self.cycle is None or self.cycle.response_complete:  # no request in flight: its head is late
                self._refuse('header_timeout', 408, 'Request Timeout',
                             f'the request line and headers did not arrive within {header_timeout:g} s')

        def handle_events(self) -> None:
            cycle = self.cycle
            super().handle_events()
            if self.cycle is not cycle:  # a complete request head arrived
                self._disarm()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing() and (self.cycle is None or self.cycle.response_complete):
                self._arm()  # the next request on this keep-alive connection

        def send_400_response(self, msg: str) -> None:  # h11 refused the request head (malformed, over 16 KiB)
            self._disarm()
            self._refuse('invalid_request', 400, 'Bad Request', f'invalid HTTP request head (malformed, or over '
                                                                f'{MAX_HEADER_BYTES} bytes)')

        def connection_lost(self, exc) -> None:
            self._disarm()
            super().connection_lost(exc)

    return GuardedH11Protocol


def server_config(app, host: str = '127.0.0.1', port: int = 8000, header_timeout: float = 10.0,
                  keep_alive: int = 5, max_connections: int = 64, log_level: str = 'info') -> uvicorn.Config:
    """The uvicorn configuration of the service: h11 with head deadlines and a connection cap, no websockets."""
    metrics = getattr(app.state, 'metrics', None)
    on_refused = (lambda reason: metrics.refused.labels(reason).inc()) if metrics is not None else None
    return uvicorn.Config(app, host=host, port=port, log_level=log_level, ws='none',
                          http=guarded_protocol(header_timeout, max_connections, on_refused),
                          h11_max_incomplete_event_size=MAX_HEADER_BYTES, timeout_keep_alive=keep_alive,
                          timeout_graceful_shutdown=10, backlog=max(128, 2 * max_connections))


def is_loopback(host: str) -> bool:
    if host == 'localhost':
        return True
    try:
        return ipaddress.ip_address(host.strip('[]')).is_loopback
    except ValueError:
        return False


def startup_warnings(host: str, api_key: Optional[str], allowed_hosts: List[str]) -> List[str]:
    """What an operator must hear before exposing the service beyond this machine."""
    warnings = []
    if not is_loopback(host) and not api_key:
        warnings.append(f'binding {host} (reachable from other machines) without an API key: anyone who can reach '
                        'this port can use the model. Set PPUHD_API_KEY, and put a TLS proxy in front (docs/deploy.md)')
    if '*' in allowed_hosts:
        warnings.append('--allowed-host *: any Host header is answered, so a web page can reach this service by '
                        'DNS rebinding; name the host names clients use instead')
    return warnings


def default_allowed_hosts(host: str) -> List[str]:
    """Loopback names, plus the bound address when it is a specific one (not 0.0.0.0 / ::)."""
    wildcard = host in ('0.0.0.0', '::', '')
    return list(LOOPBACK_HOSTS) + ([] if wildcard or host in LOOPBACK_HOSTS else [host])


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--model-dir', required=True, help='folder written by tools/export.py')
    p.add_argument('--host', default='127.0.0.1', help='interface to bind (default: loopback only)')
    p.add_argument('--port', type=int, default=8000)
    p.add_argument('--pool', type=int, default=1, help='predictors (requests running at once)')
    p.add_argument('--queue', type=int, default=4, help='requests that may wait; more get 503')
    p.add_argument('--threads', type=int, default=os.cpu_count() or 1, help='CPU threads per predictor')
    p.add_argument('--precision', default='fp32', help='fp32 | bf16 (CPU oneDNN) | fp16 (GPU)')
    p.add_argument('--device', default='cpu', help='cpu | gpu')
    p.add_argument('--reuse-memory', action='store_true',
                   help='keep freed memory for the next tensors (glibc): faster on UHD images, higher peak memory')
    p.add_argument('--max-upload-mb', type=float, default=50)
    p.add_argument('--max-pixels', type=int, default=3840 * 2160,
                   help='largest image (width * height, read from its header before decoding)')
    p.add_argument('--header-timeout', type=float, default=10.0,
                   help='seconds a connection has to send its request line and headers (then 408)')
    p.add_argument('--body-timeout', type=float, default=60.0, help='seconds to upload the body (then 408)')
    p.add_argument('--keep-alive', type=int, default=5, help='seconds an idle keep-alive connection stays open')
    p.add_argument('--max-connections', type=int, default=64, help='open connections; more are refused with 503')
    p.add_argument('--allowed-host', action='append', default=None, metavar='NAME',
                   help='a host name clients reach the service by (repeatable; default: loopback names and --host; '
                        "'*' disables the DNS-rebinding check)")
    args = p.parse_args(argv)
    opts = RunOptions(device=args.device, threads=args.threads, precision=args.precision,
                      reuse_memory=args.reuse_memory)
    api_key = os.environ.get('PPUHD_API_KEY') or None
    allowed = args.allowed_host or default_allowed_hosts(args.host)
    for warning in startup_warnings(args.host, api_key, allowed):
        print(f'WARNING: {warning}', file=sys.stderr)
    try:
        app = create_app(args.model_dir, opts, pool_size=args.pool, queue_size=args.queue,
                         max_upload_bytes=int(args.max_upload_mb * (1 << 20)), max_pixels=args.max_pixels,
                         api_key=api_key, body_timeout=args.body_timeout, allowed_hosts=allowed)
    except (DeployError, OSError) as err:
        sys.exit(f'error: {err}')
    uvicorn.Server(server_config(app, args.host, args.port, args.header_timeout, args.keep_alive,
                                 args.max_connections)).run()


if __name__ == '__main__':
    main()
