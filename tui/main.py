"""`mtd-console`: the operations console, or with --no-tui the same engine
headless, one stats line per second; `mtd-console bench` runs the built-in
load generator against the embedded engine."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mtd.engine import EngineConfig


def count(text: str) -> int:
    """argparse type: a whole number, 0 or more."""
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {value}")
    return value


def add_engine_arguments(parser: argparse.ArgumentParser, default_port: int) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to serve on (default: %(default)s)")
    parser.add_argument("--port", type=int, default=default_port,
                        help="port to serve on; 0 picks a free one (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=0,
                        help="server worker threads (default: one per core)")
    parser.add_argument("--tenants", type=Path, default=Path("tenants"), metavar="DIR",
                        help="folder with one sub-folder per tenant (default: %(default)s)")
    parser.add_argument("--cache-dir", type=Path, default=None, metavar="DIR",
                        help="where built tenants are cached (default: ~/.cache/mtd/builds)")
    parser.add_argument("--no-vanilla", action="store_true",
                        help="do not serve /_mtd/vanilla, the unsandboxed comparison page")
    parser.add_argument("--request-timeout", type=float, default=10.0, metavar="SECONDS",
                        help="a connection has this long to send a whole request head, and may "
                             "stay idle this long between requests (default: %(default)s)")
    parser.add_argument("--max-parked", type=count, default=EngineConfig.max_parked, metavar="N",
                        help="per worker thread: requests longer than one time slice (~100 µs) "
                             "continued between other requests; more get 503. 0 turns time "
                             "slicing off (default: %(default)s)")
    parser.add_argument("--max-parked-per-tenant", type=count, default=EngineConfig.max_parked_per_tenant, metavar="N",
                        help="of those, how many one tenant may hold (default: %(default)s)")


def console_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mtd-console",
        description="Multi-tenant HTTP server: every request runs in its own RISC-V sandbox. "
                    "`mtd-console bench --help` for the load test command.")
    add_engine_arguments(parser, default_port=8080)
    parser.add_argument("--admin-port", type=int, default=8081,
                        help="loopback port for /metrics and /stats; 0 picks a free one, "
                             "-1 turns it off (default: %(default)s)")
    parser.add_argument("--no-translate", action="store_true",
                        help="serve every tenant on the interpreter: no translation to host code")
    parser.add_argument("--no-quick-build", action="store_true",
                        help="build each tenant version once, optimised, before it serves "
                             "(slower reloads, half the build work)")
    parser.add_argument("--no-watch", action="store_true",
                        help="do not rebuild tenants when their files change")
    parser.add_argument("--no-tui", action="store_true", help="run headless: one stats line per second")
    parser.add_argument("--json", action="store_true", help="with --no-tui: JSON lines instead of text")
    return parser


def bench_parser() -> argparse.ArgumentParser:
    from .bench import add_arguments
    parser = argparse.ArgumentParser(
        prog="mtd-console bench",
        description="Load-test the embedded engine with the built-in generator.")
    add_engine_arguments(parser, default_port=0)
    add_arguments(parser)
    return parser


def config_from_args(args: argparse.Namespace) -> EngineConfig:
    config = EngineConfig(host=args.host, port=args.port, threads=args.threads,
                          tenants_dir=args.tenants, vanilla=not args.no_vanilla,
                          request_timeout=args.request_timeout, max_parked=args.max_parked,
                          max_parked_per_tenant=args.max_parked_per_tenant,
                          translate=not getattr(args, "no_translate", False),
                          quick_builds=not getattr(args, "no_quick_build", False))
    if args.cache_dir is not None:
        config.cache_dir = args.cache_dir
    admin_port = getattr(args, "admin_port", -1)  # bench has no admin listener
    config.admin_port = None if admin_port < 0 else admin_port
    return config


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    bench = bool(argv) and argv[0] == "bench"
    args = bench_parser().parse_args(argv[1:]) if bench else console_parser().parse_args(argv)
    if not args.tenants.is_dir():
        print(f"mtd-console: tenants directory '{args.tenants}' not found "
              f"(use --tenants DIR)", file=sys.stderr)
        return 2
    config = config_from_args(args)
    if bench:
        from .bench import run_bench_command
        return run_bench_command(config, args)
    if not args.no_tui and not (sys.stdout.isatty() and sys.stdin.isatty()):
        # Piped or redirected (`mtd-console | tee log`): Textual would draw
        # into the pipe at 80x24 without a word. Say so and do what a pipe
        # wants: log lines.
        print("mtd-console: standard output (or input) is not a terminal, so the console "
              "cannot draw; running headless as with --no-tui (--json for JSON lines). "
              "Run it in a terminal, without a pipe, for the console.", file=sys.stderr, flush=True)
        args.no_tui = True
    if args.no_tui:
        from .headless import run_headless
        return run_headless(config, json_lines=args.json, watch=not args.no_watch)
    from .app import run_console
    return run_console(config, watch=not args.no_watch)


if __name__ == "__main__":
    sys.exit(main())
