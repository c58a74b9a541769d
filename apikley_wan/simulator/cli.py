"""``python -m apikley_wan.simulator serve``: run the simulator in the foreground for manual tests."""

from __future__ import annotations

import argparse
import threading

from .app import Simulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m apikley_wan.simulator",
                                     description="Local fake of the apikley API (wan/2-6-video-to-video).")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the API and result host until Ctrl-C")
    serve.add_argument("--port", type=int, default=8199, help="API port (default 8199; 0 = any)")
    serve.add_argument("--task-seconds", type=float, default=20.0, help="time from create to success")
    serve.add_argument("--null-seconds", type=float, default=1.0, help='"recordInfo is null" window')
    serve.add_argument("--generating-after", type=float, default=None, help="report 'generating' after N s")
    serve.add_argument("--credits", type=float, default=1000.0, help="starting balance")
    serve.add_argument("--api-key", default="sim-key", help="the key clients must send (default sim-key)")
    serve.add_argument("--webhook-hmac-key", default=None, help="sign callbacks with this key")
    serve.add_argument("--creates-per-10s", type=int, default=20, help="createTask rate limit (the API's is 20)")
    args = parser.parse_args(argv)

    sim = Simulator(api_key=args.api_key, task_seconds=args.task_seconds, null_seconds=args.null_seconds,
                    credits=args.credits, webhook_hmac_key=args.webhook_hmac_key,
                    generating_after=args.generating_after, port=args.port,
                    creates_per_10s=args.creates_per_10s)
    with sim:
        print(f"apikley simulator running; Ctrl-C stops.\n"
              f"  APIKLEY_BASE_URL={sim.base_url}\n"
              f"  APIKLEY_API_KEY={args.api_key}\n"
              f"  results are served from {sim.files_base_url}", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            print("stopping", flush=True)
    return 0
