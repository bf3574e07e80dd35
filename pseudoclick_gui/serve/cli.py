"""``pseudoclick serve``: the model as a Label Studio ML backend (masks and the proposed pseudo click).

Flask and waitress are imported only when the server starts, so the other subcommands work without the
``serve`` extra (``pip install "pseudoclick-gui[serve]"``).
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import sys
from pathlib import Path

from .settings import ServeSettings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = ServeSettings()
    a = parser.add_argument
    a("--host", default=d.host, help="address to listen on (default 127.0.0.1: this machine only)")
    a("--port", type=int, default=d.port, help="port (default 9090, Label Studio's usual backend port)")
    a("--workers", type=int, default=d.workers,
      help="engine processes, tasks routed by id (default 1: the engine runs in the server process)")
    a("--engine-threads", type=int, default=d.engine_threads,
      help="with --workers 1: predictions run at once, each in a thread (default 2)")
    a("--torch-threads", type=int, default=None,
      help="torch threads per engine process (default: CPU cores / (workers x engine threads))")
    a("--image-root", type=Path, default=None,
      help="local images (paths, /data/local-files/?d=...) are read only under this folder")
    a("--allow-remote", action="store_true", help="fetch http(s) image URLs other than Label Studio's")
    a("--label-studio-url", default=None,
      help="Label Studio's address, for uploaded images (default $LABEL_STUDIO_URL)")
    a("--api-key", default=None,
      help="Label Studio API token for uploaded images (default $LABEL_STUDIO_API_KEY; prefer the variable)")
    a("--basic-auth", metavar="USER:PASSWORD", default=None,
      help="require HTTP basic auth (default $PSEUDOCLICK_SERVE_AUTH; prefer the variable: the command line "
           "is visible to other users)")
    a("--max-pixels", type=int, default=d.max_pixels, help=f"largest image, in pixels (default {d.max_pixels})")
    a("--max-image-mb", type=float, default=d.max_image_bytes / 2**20, help="largest image file (default 64)")
    a("--max-request-mb", type=float, default=d.max_request_bytes / 2**20, help="largest request (default 16)")
    a("--max-clicks", type=int, default=d.max_clicks, help="keypoints per object at most (default 200)")
    a("--timeout", type=float, default=d.timeout, help="seconds a request may wait for its answer (default 60)")
    a("--cache-size", type=int, default=d.cache_size, help="engine sessions kept per process (default 64)")
    a("--cache-mb", type=int, default=d.cache_mb, help="estimated memory for them per process (default 2048)")
    a("--proposal-rule", choices=("paper",), default=None,
      help="'paper': the paper's rule (largest error region, no extra network pass; faster); "
           "default: the checkpoint's rule")
    a("--device", default=None, help="torch device (default: CUDA when available, else CPU)")
    a("--no-warm-up", dest="warm_up", action="store_false", help="skip the warm-up prediction at start")


def settings_from_args(args: argparse.Namespace) -> ServeSettings:
    return ServeSettings.from_env(
        host=args.host, port=args.port, workers=max(1, args.workers), engine_threads=max(1, args.engine_threads),
        torch_threads=args.torch_threads, image_root=args.image_root, allow_remote=args.allow_remote or None,
        label_studio_url=args.label_studio_url, api_key=args.api_key, basic_auth=args.basic_auth,
        max_pixels=args.max_pixels, max_image_bytes=int(args.max_image_mb * 2**20),
        max_request_bytes=int(args.max_request_mb * 2**20), max_clicks=args.max_clicks, timeout=args.timeout, cache_size=args.cache_size,
        cache_mb=args.cache_mb, proposal_rule=args.proposal_rule, device=args.device, warm_up=args.warm_up)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run(args: argparse.Namespace) -> int:
    try:
        import waitress

        from .app import create_app
    except ModuleNotFoundError as exc:
        print(f"pseudoclick serve: {exc.name} is missing; install the server with "
              "pip install \"pseudoclick-gui[serve]\"", file=sys.stderr)
        return 2
    from .pool import make_pool

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    settings = settings_from_args(args)
    if settings.basic_auth and ":" not in settings.basic_auth:
        print("pseudoclick serve: --basic-auth must be USER:PASSWORD", file=sys.stderr)
        return 2
    if settings.image_root is not None and not settings.image_root.is_dir():
        print(f"pseudoclick serve: --image-root {settings.image_root} is not a folder", file=sys.stderr)
        return 2
    if not _is_loopback(settings.host) and not settings.basic_auth:
        print(f"pseudoclick serve: warning: listening on {settings.host} without --basic-auth: anyone who can "
              "reach this port can use the model and read images under --image-root", file=sys.stderr)
    print(f"loading the model and warming up ({settings.workers} engine process(es))...", file=sys.stderr)
    pool = make_pool(settings)
    app = create_app(settings, pool)
    print(f"pseudoclick serve: {pool.model_version} on http://{settings.host}:{settings.port} "
          f"(image root: {settings.image_root or 'none'}; remote URLs: "
          f"{'allowed' if settings.allow_remote else 'refused'}; auth: {'on' if settings.basic_auth else 'off'})",
          file=sys.stderr, flush=True)
    try:
        waitress.serve(app, host=settings.host, port=settings.port, threads=max(8, settings.max_queue // 8),
                       connection_limit=max(100, settings.max_queue), channel_timeout=max(120, settings.timeout),
                       max_request_body_size=settings.max_request_bytes, ident="pseudoclick")
    finally:
        pool.close()
    return 0
