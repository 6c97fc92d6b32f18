"""python -m bench [COMMAND] [OPTIONS]: one command per measured thing; throughput by default.

Results (JSON, the throughput plot, server logs, the built models) go to --out, bench/out by
default, which git ignores; bench/RESULTS.md records the runs worth keeping.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from bench.report import OUT


def main(argv: list[str] | None = None) -> int:
    # No Hub access: every model is built locally. Set before transformers is first imported.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from transformers.utils import logging as transformers_logging

    from bench import (
        batching,
        cache,
        document_jobs,
        documents,
        extraction,
        front,
        gil,
        invariance,
        jobs,
        jobs_api,
        jobs_redis,
        office,
        reliability,
        request_path,
        summary,
        throughput,
    )

    commands = {
        "throughput": throughput,
        "batching": batching,
        "invariance": invariance,
        "reliability": reliability,
        "request-path": request_path,
        "front": front,
        "gil": gil,
        "cache": cache,
        "summary": summary,
        "extraction": extraction,
        "jobs": jobs,
        "office": office,
        "documents": documents,
        "jobs-redis": jobs_redis,
        "jobs-api": jobs_api,
        "document-jobs": document_jobs,
    }
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module in commands.items():
        doc = module.__doc__ or ""
        command = subparsers.add_parser(
            name,
            help=doc.splitlines()[0].split(": ", 1)[1].rstrip("."),
            description=doc,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        command.add_argument(
            "--out", type=Path, default=OUT, help="output folder (default bench/out)"
        )
        module.add_arguments(command)
    argv = sys.argv[1:] if argv is None else argv
    if not argv or (argv[0] not in commands and argv[0] not in ("-h", "--help")):
        argv = ["throughput", *argv]
    args = parser.parse_args(argv)
    transformers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()
    return commands[args.command].run(args)


if __name__ == "__main__":
    sys.exit(main())
