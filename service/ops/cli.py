"""Command line: `python -m service COMMAND`.

  serve          run the HTTP service under gunicorn with gunicorn.conf.py (development)
  front          the production front: nginx in front of gunicorn (see service/ops/front.py)
  summarize      summarise a file (or - for stdin), optionally translating the summary
  translate      translate a file (or - for stdin)
  batch          run every item of a JSON Lines file through an operation into a results file
  fetch-models   download the configured models from the Hub into MODELS_DIR
  demo-models    build small random-weight models (meaningless output) for smoke tests

Settings come from the environment, as for the server (see the README's table).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from service.core.config import Settings
from service.core.errors import InvalidRequest, ServiceError, StartupError
from service.ops.front import FrontOptions

if TYPE_CHECKING:
    from service.jobs.store import Item

_ROOT = Path(__file__).resolve().parents[2]


def _read(path: str) -> str:
    return sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")


def _context(settings: Settings, source: str, targets: list[str]):  # noqa: ANN202 - lazy torch
    """A task context over an engine that loads only what the command needs: the summariser
    and the pairs from `source` (every pair from a language auto can find) to `targets`. The
    pairs are checked against every configured one first, so an error lists them."""
    from service.inference.engine import Engine
    from service.tasks import AUTO, TaskContext, TextLimits, resolve_pair, served_languages
    from service.text.language import LanguageDetector

    configured = Engine(settings)
    if source != AUTO:
        for target in targets:
            resolve_pair(configured, source, target)
    wanted = {
        pair.key
        for pair in configured.pairs()
        if pair.target in targets and source in (AUTO, pair.source)
    }
    models = tuple(m for m in settings.translate_models if m[0] in wanted)
    prefixes = tuple(p for p in settings.translate_prefixes if p[0] in wanted)
    engine = Engine(settings.replace(translate_models=models, translate_prefixes=prefixes)).start()
    # A file is one text of any length: the command line has no request limits.
    limits = TextLimits(max_items=1, max_text_chars=2**62)
    # Detect among the configured languages, as the server does, not only the loaded models'.
    languages = served_languages(configured)
    return TaskContext(
        engine, limits, LanguageDetector(), reading_wpm=settings.reading_wpm, languages=languages
    )


def _print(result: dict[str, object], as_json: bool) -> None:
    if as_json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
        return
    for key, value in result.items():
        if isinstance(value, dict):
            for lang, text in value.items():
                print(f"--- {key} [{lang}] ---\n{text}")
        else:
            print(f"--- {key} ---\n{value}")


def cmd_summarize(args: argparse.Namespace, settings: Settings) -> int:
    from service import tasks

    targets = [t for t in (args.translate or "").split(",") if t]
    ctx = _context(settings, args.source, targets)
    try:
        request = tasks.ArticleRequest(
            _read(args.file),
            targets,
            args.source,
            tasks.GenerationOptions(length=args.length),
            targets_field="--translate",
        )
        result = tasks.article(ctx, request)
    finally:
        ctx.engine.close()
    output: dict[str, object] = {"summary": result.summary.text}
    if targets:
        output["translations"] = {k: t.text for k, t in result.translations.items()}
    _print(output, args.json)
    return 0


def cmd_translate(args: argparse.Namespace, settings: Settings) -> int:
    from service import tasks

    ctx = _context(settings, args.source, [args.target])
    try:
        request = tasks.TranslateRequest([_read(args.file)], args.target, args.source)
        result = tasks.translate(ctx, request)
    finally:
        ctx.engine.close()
    _print({"translation": result.translations[0].text}, args.json)
    return 0


def _batch_options(args: argparse.Namespace) -> dict[str, Any]:
    """The batch's options, named as in `POST /v1/jobs`; those of another task are refused."""
    from service import tasks

    given = {"--target": args.target, "--translate-to": args.translate_to}
    given |= {"--length": args.length, "--style": args.style}
    allowed = {
        "summarize": {"--length", "--style"},
        "translate": {"--target"},
        "article": {"--translate-to", "--length", "--style"},
    }[args.task]
    for flag, value in given.items():
        if value is not None and flag not in allowed:
            raise InvalidRequest(f"{flag} is not an option of --task {args.task}")
    if args.task == "translate" and not args.target:
        raise InvalidRequest("--task translate needs --target")
    if args.concurrency is not None and args.concurrency < 1:
        raise InvalidRequest("--concurrency must be 1 or more")
    if args.task != "translate" and args.source != tasks.AUTO:
        tasks.check_summary_language(args.source)
    options = {
        "target": args.target,
        "translate_to": [t for t in (args.translate_to or "").split(",") if t] or None,
        "source": args.source,
        "length": args.length,
        "style": args.style,
        "format": args.format,
    }
    return {name: value for name, value in options.items() if value is not None}


def _read_items(path: str) -> list[Item]:
    """The input's items; a malformed input is refused naming the file and the line."""
    from service.jobs.items import items_from_lines

    data = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    try:
        return items_from_lines(data, max_items=sys.maxsize, max_bytes=sys.maxsize)
    except InvalidRequest as exc:
        raise InvalidRequest(f"{path}: {exc.message}") from None


def cmd_batch(args: argparse.Namespace, settings: Settings) -> int:
    from tqdm import tqdm

    from service.jobs.operations import run_item
    from service.ops.batch import BatchReport, resume, run_batch

    options = _batch_options(args)
    output = Path(args.output)
    if args.input != "-" and output.resolve() == Path(args.input).resolve():
        raise InvalidRequest("OUTPUT must not be the INPUT file")
    items = _read_items(args.input)
    try:  # before any model loads: an OUTPUT that is not ours is refused at once
        resume(output)
    except InvalidRequest as exc:
        raise InvalidRequest(f"{output}: {exc.message}; is it the output of a batch?") from None
    targets = [options["target"]] if args.task == "translate" else options.get("translate_to", [])
    ctx = _context(settings, args.source, targets)
    stop, bars = threading.Event(), []

    def show(report: BatchReport) -> None:
        """A bar on stderr when it is a terminal, starting from the items OUTPUT held."""
        if not bars:
            bars.append(tqdm(total=report.total, initial=report.skipped, unit="item", disable=None))
        bars[0].update(report.in_output - bars[0].n)

    try:
        with _stopped_by_signals(stop):
            report = run_batch(
                lambda text: run_item(ctx, args.task, options, text),
                items,
                output,
                concurrency=args.concurrency or settings.max_batch_size,
                stop=stop,
                progress=show,
            )
    finally:
        for bar in bars:
            bar.close()
        # Items still running when stopped are redone by the next run: do not wait for them.
        ctx.engine.close(timeout=1 if stop.is_set() else None)
    done = f"{report.in_output} of {report.total} items in {output}"
    if report.stopped:
        print(f"stopped: {done}; run the same command again to finish", file=sys.stderr)
        return 130
    print(f"{done} ({report.written} written now, {report.errors} of them errors)", file=sys.stderr)
    return 0


@contextmanager
def _stopped_by_signals(stop: threading.Event) -> Iterator[None]:
    """SIGINT (Ctrl-C) and SIGTERM set `stop`, so the run ends between two lines; a second
    one interrupts at once."""
    import signal

    def handle(signum: int, frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def cmd_fetch_models(args: argparse.Namespace, settings: Settings) -> int:
    from service.ops.fetch import fetch_models

    dest = Path(args.dest or settings.models_dir)
    fetched = fetch_models(settings, dest)
    print("Fetched. Serve them offline with:")
    for line in fetched.env_lines():
        print(f"  export {line}")
    print("  export HF_HUB_OFFLINE=1")
    return 0


def cmd_demo_models(args: argparse.Namespace, settings: Settings) -> int:
    from service.ops.demo_models import build_demo_models
    from service.ops.demo_text import news_corpus

    corpus = []
    if args.arch == "real" and args.corpus.is_dir():
        corpus = news_corpus(args.corpus)
    elif args.arch == "real":
        print(f"No {args.corpus}: the tokenizer will split news too finely.", file=sys.stderr)
    paths = build_demo_models(Path(args.dir), arch=args.arch, corpus=corpus)
    print("Built RANDOM-WEIGHT demo models: their output is meaningless text, for smoke tests.")
    print("Use them with:")
    print(f"  export SUMMARIZE_MODEL={paths['summarize']}")
    print(f"  export TRANSLATE_MODELS=en-fr={paths['en-fr']},en-ar={paths['en-ar']}")
    return 0


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    gunicorn = shutil.which("gunicorn") or str(Path(sys.executable).with_name("gunicorn"))
    argv = [gunicorn, "-c", str(_ROOT / "gunicorn.conf.py"), "--chdir", str(_ROOT)]
    if args.bind:
        argv += ["--bind", args.bind]
    os.execv(gunicorn, [*argv, "service:create_app()"])
    return 0  # not reached


def cmd_front(args: argparse.Namespace, settings: Settings) -> int:
    from service.ops.front import FrontOptions, serve_front

    options = FrontOptions(
        bind=args.bind,
        client_timeout_s=args.client_timeout,
        keepalive_timeout_s=args.keepalive_timeout,
        drain_delay_s=args.drain_delay,
        shutdown_timeout_s=args.shutdown_timeout,
        runtime_dir=args.runtime_dir,
    )
    return serve_front(settings, options)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m service",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="log progress to stderr (JSON lines)"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="run the HTTP service under gunicorn")
    p.add_argument("--bind", help="address:port, default from gunicorn.conf.py (0.0.0.0:8000)")
    p.set_defaults(run=cmd_serve)

    defaults = FrontOptions()
    p = sub.add_parser("front", help="the production front: nginx in front of gunicorn")
    p.add_argument("--bind", default=defaults.bind, help=f"address:port ({defaults.bind})")
    p.add_argument(
        "--client-timeout",
        type=float,
        default=defaults.client_timeout_s,
        help="seconds a client may take to send its header, or pause sending its body or "
        f"reading the answer ({defaults.client_timeout_s:g})",
    )
    p.add_argument(
        "--keepalive-timeout",
        type=float,
        default=defaults.keepalive_timeout_s,
        help=f"seconds an idle connection is kept ({defaults.keepalive_timeout_s:g})",
    )
    p.add_argument(
        "--drain-delay",
        type=float,
        default=defaults.drain_delay_s,
        help="after SIGTERM, seconds /readyz answers 503 while requests are still served "
        f"({defaults.drain_delay_s:g})",
    )
    p.add_argument(
        "--shutdown-timeout",
        type=float,
        help="longest nginx waits for requests in flight when stopping (ITEM_TIMEOUT_S + 10)",
    )
    p.add_argument(
        "--runtime-dir",
        type=Path,
        help="where the socket, nginx.conf and temporary files go (default: a new temp dir)",
    )
    p.set_defaults(run=cmd_front)

    p = sub.add_parser("summarize", help="summarise FILE (- for stdin)")
    p.add_argument("file")
    p.add_argument("--translate", help="also translate the summary, e.g. ar,fr")
    p.add_argument("--source", default="en", help="the article's language, or auto to detect it")
    p.add_argument("--length", choices=["short", "medium", "long"])
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=cmd_summarize, quiet=True)

    p = sub.add_parser("translate", help="translate FILE (- for stdin)")
    p.add_argument("file")
    p.add_argument("--target", required=True)
    p.add_argument("--source", default="en", help="the text's language, or auto to detect it")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=cmd_translate, quiet=True)

    p = sub.add_parser(
        "batch",
        help="run every item of a JSON Lines file through an operation into OUTPUT",
        description='Each INPUT line is an item, {"id": ..., "text": ...} (id: default the '
        'item\'s index), as POST /v1/jobs reads them; each OUTPUT line is {"id", "result"} '
        'or {"id", "error": {"code", "message"}}. Ids already in OUTPUT are skipped: '
        "run the same command again after Ctrl-C or a crash to finish.",
    )
    p.add_argument("input", help="JSON Lines of items (- for stdin)")
    p.add_argument("output", help="JSON Lines of results, appended to")
    p.add_argument("--task", required=True, choices=["summarize", "translate", "article"])
    p.add_argument("--target", help="translate: the language to translate into")
    p.add_argument("--translate-to", help="article: also translate each summary, e.g. ar,fr")
    p.add_argument("--source", default="en", help="the texts' language, or auto to detect each")
    p.add_argument("--length", choices=["short", "medium", "long"], help="summary length")
    p.add_argument("--style", choices=["paragraph", "bullets"], help="summary style")
    p.add_argument("--format", choices=["text", "html"], default="text", help="texts' format")
    p.add_argument(
        "--concurrency",
        type=int,
        help="items run at once, their pieces sharing batches (default MAX_BATCH_SIZE)",
    )
    p.set_defaults(run=cmd_batch, quiet=True)

    p = sub.add_parser("fetch-models", help="download the configured models from the Hub")
    p.add_argument("--dest", help="directory (default: MODELS_DIR, models/)")
    p.set_defaults(run=cmd_fetch_models)

    p = sub.add_parser("demo-models", help="build random-weight demo models into DIR")
    p.add_argument("dir")
    p.add_argument(
        "--arch",
        choices=["tiny", "real"],
        default="tiny",
        help="tiny (fast) or the real models' shapes (for benchmarks)",
    )
    p.add_argument(
        "--corpus",
        type=Path,
        default=_ROOT / "seeds",
        help="English news (*.txt) the real summariser's tokenizer is trained on (default seeds/)",
    )
    p.set_defaults(run=cmd_demo_models)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
        from service.core.logs import configure_logging

        # One-off commands print results, not logs: an error is the one `error:` line below.
        quiet = getattr(args, "quiet", False) and not args.verbose
        configure_logging("CRITICAL" if quiet else settings.log_level)
        return args.run(args, settings)
    except (StartupError, ServiceError) as exc:
        message = exc.message if isinstance(exc, ServiceError) else str(exc)
        print(f"error: {message}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
