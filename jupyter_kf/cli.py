"""``jupyter kf``: the same API from a terminal (``jupyter kf jobs | logs | cancel | results | delete``)."""
from __future__ import annotations

import argparse
import json
import sys

from jupyter_kf.errors import KfError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jupyter kf", description="Jobs, notebook servers, models and pipelines from Jupyter."
    )
    parser.add_argument("--backend", help="local or kubernetes (default: config, else auto)")
    sub = parser.add_subparsers(dest="command", required=True)
    jobs = sub.add_parser("jobs", help="list jobs, newest first")
    jobs.add_argument("--json", action="store_true", help="machine-readable output (every job unless --limit)")
    jobs.add_argument("--limit", type=int, default=None, help="the newest N jobs (the table's default: 20)")
    jobs.add_argument("--all", action="store_true", help="every job in the table")
    logs = sub.add_parser("logs", help="print a job's output")
    logs.add_argument("name")
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing until the job ends")
    for verb, text in (("cancel", "stop a job (logs and partial results are kept)"),
                       ("delete", "remove a job with its logs and results"),
                       ("status", "one job's status as JSON")):
        sub.add_parser(verb, help=text).add_argument("name")
    results = sub.add_parser("results", help="names and types of a finished job's results")
    results.add_argument("name")
    from jupyter_kf.pipeline.cli import add_parser as add_pipeline_parser

    add_pipeline_parser(sub)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "pipeline":
        from jupyter_kf.pipeline.cli import run_cli

        return run_cli(args)
    from jupyter_kf.training import api
    from jupyter_kf.training.backends import resolve_name
    from jupyter_kf.training.display import JobTable

    try:
        if args.command == "jobs":
            limit = args.limit if args.limit is not None else None if args.json or args.all else api.JOBS_SHOWN
            total, statuses = api.newest_jobs(limit if limit is None else max(limit, 0), backend=args.backend)
            print(
                json.dumps([s.to_dict() for s in statuses], indent=1)
                if args.json
                else repr(JobTable(statuses, resolve_name(args.backend), hidden=total - len(statuses),
                                   more="jupyter kf jobs --all shows every job, --limit N the newest N"))
            )
        elif args.command == "logs":
            for line in api.job(args.name, backend=args.backend).logs(follow=args.follow):
                print(line, flush=args.follow)
        elif args.command == "cancel":
            print(f"job {args.name}: {api.job(args.name, backend=args.backend).cancel().phase}")
        elif args.command == "delete":
            api.job(args.name, backend=args.backend).delete()
            print(f"job {args.name} deleted")
        elif args.command == "status":
            print(json.dumps(api.job(args.name, backend=args.backend).status().to_dict(), indent=1))
        elif args.command == "results":
            for name, value in api.job(args.name, backend=args.backend).results().items():
                print(f"{name}: {type(value).__name__}")
    except KfError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
