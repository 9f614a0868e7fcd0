"""`carecoord serve`: the web server, optionally with a worker beside it.

Development (default): Django's server on 127.0.0.1:$PORT. Production (--production): uvicorn
serving the ASGI app; run it behind a reverse proxy and run `carecoord worker` separately."""

from __future__ import annotations

import os
import subprocess
import sys

from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Serve carecoord (and optionally run a worker beside it)"

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--with-worker", action="store_true", help="start a worker process too")
        parser.add_argument("--with-feed", action="store_true",
                            help="demo: also run the synthetic SCC feed live (a day of history first)")
        parser.add_argument("--production", action="store_true", help="serve with uvicorn (ASGI)")
        parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")

    def handle(self, *args, **opts):
        children = []
        if opts["with_worker"]:
            children.append(subprocess.Popen([sys.executable, "-m", "carecoord.cli", "worker"], env=os.environ.copy()))
        if opts.get("with_feed"):
            children.append(subprocess.Popen([sys.executable, "-m", "carecoord.cli", "synth", "feed", "--live",
                                              "--hours", "24", "--interval", "30"], env=os.environ.copy()))
        try:
            if opts["production"]:
                import uvicorn

                uvicorn.run("carecoord.config.asgi:application", host=opts["host"], port=opts["port"],
                            workers=opts["workers"], proxy_headers=True)
            else:
                self.stdout.write(f"carecoord is running at http://{opts['host']}:{opts['port']}/")
                call_command("runserver", f"{opts['host']}:{opts['port']}", use_reloader=False)
        finally:
            for child in children:
                child.terminate()
                child.wait(10)
