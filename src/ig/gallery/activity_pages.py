"""Recent jobs (``/jobs``, ``/jobs/{id}``), the create form (``/create``) and usage (``/usage``).

Pages read ig's library functions directly and render them; what changes things (cancelling,
submitting) goes through the API from the page's script (``ig.gallery.assets.activity``)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from ig.api.catalogue_lists import model_list
from ig.api.http import ApiResponse
from ig.completion.callbacks import deliveries_view
from ig.errors import FieldError, NotFound, ValidationFailed
from ig.gallery import formats
from ig.gallery.charts import Point, bars, columns
from ig.gallery.layout import PageContext, page
from ig.gallery.markup import Markup, attrs, html, join
from ig.job_states import OPEN_STATUSES, JobStatus
from ig.jobs import placeholders
from ig.jobs.presets import list_presets
from ig.jobs.requests import provider_errors
from ig.library.artifacts import list_jobs
from ig.library.filters import parse_filters
from ig.library.usage import usage_report
from ig.library.views import job_view
from ig.providers import catalogue
from ig.providers.registry import PROVIDERS

ASSETS = {"styles": ("activity.css",), "scripts": ("activity.js",)}
JOBS_PER_PAGE = 25
JOB_FILTERS = ("status", "tag", "model", "provider", "q")
THUMBNAILS_PER_JOB = 6
PERIODS = (7, 30, 90)
DEFAULT_PERIOD = 30
GROUPS_SHOWN = 15
"""Models and providers in a usage chart: the busiest, the others counted in a note."""
SIZED_TASKS = frozenset({"imageInference", "videoInference"})
"""Tasks whose form offers a width and a height."""
DEFAULT_PROVIDER = "runware"


# --- small pieces ---------------------------------------------------------------------------------


def _status(status: str) -> Markup:
    return html('<span class="status status-{0}" data-testid="job-status">{0}</span>', status)


def _tags(tags: Iterable[str]) -> Markup:
    return join(html('<span class="tag">{}</span>', tag) for tag in tags)


def _artifact_tile(context: PageContext, artifact: dict[str, Any]) -> Markup:
    """A link to the artifact's page showing its thumbnail, or, until it has one (or for kinds
    that have none), a tile naming its kind."""
    if artifact.get("thumbnail_url"):
        params = (artifact.get("provenance") or {}).get("params") or {}
        prompt = params.get("positivePrompt") or params.get("prompt")
        inside = html(
            '<img src="{}" alt="{}" loading="lazy">',
            context.ui_path(f"/v1/artifacts/{artifact['id']}/thumbnail"),
            prompt if isinstance(prompt, str) else f"{artifact['kind']} {artifact['id'][:8]}",
        )
    else:
        pending = " (thumbnail pending)" if artifact["kind"] == "image" else ""
        inside = html('<span class="kind-tile kind-{0}" title="{0}{1}">{0}</span>', artifact["kind"], pending)
    return html(
        '<a class="thumb" href="/artifacts/{0}" data-testid="job-artifact" data-artifact-id="{0}">{1}</a>',
        artifact["id"],
        inside,
    )


def _field_problems(errors: list[FieldError], names: Iterable[str]) -> Markup:
    wanted = tuple(names)
    return join(
        html('<span class="field-error" role="alert">{}</span>', e.message)
        for e in errors
        if e.field in wanted or e.field.startswith(tuple(f"{n}[" for n in wanted))
    )


def _options(choices: Iterable[tuple[str, str]], selected: str | None) -> Markup:
    return join(
        html("<option{}>{}</option>", attrs(value=value, selected=value == (selected or "")), label)
        for value, label in choices
    )


# --- jobs -----------------------------------------------------------------------------------------


def _chosen_filters(context: PageContext) -> dict[str, str]:
    """The filters the form sent, blank fields left out (an empty ``q`` is no filter here)."""
    chosen = {}
    for name in JOB_FILTERS:
        value = (context.request.arg(name) or "").strip()
        if value:
            chosen[name] = value
    return chosen


def _filter_form(chosen: dict[str, str], errors: list[FieldError]) -> Markup:
    def text_field(name: str, label: str, placeholder: str, suggestions: str | None = None) -> Markup:
        return html(
            "<label>{label}<input{input}>{problems}</label>",
            label=label,
            input=attrs(
                name=name,
                value=chosen.get(name, ""),
                placeholder=placeholder,
                list=suggestions,
                data_testid=f"filter-{name}",
            ),
            problems=_field_problems(errors, [name]),
        )

    statuses = [("", "any"), *((s.value, s.value) for s in JobStatus)]
    providers = [("", "any"), *((p, p) for p in PROVIDERS)]
    unplaced = [e for e in errors if e.field.split("[")[0] not in JOB_FILTERS]
    return html(
        '<form class="filters panel" method="get" action="/jobs" data-testid="job-filters">'
        '<label>Status<select name="status" data-testid="filter-status">{statuses}</select>{status_problems}</label>'
        "{tag}{model}"
        '<label>Provider<select name="provider" data-testid="filter-provider">{providers}</select>'
        "{provider_problems}</label>{q}"
        '<div class="actions"><button type="submit" class="primary">Filter</button>'
        '<a href="/jobs" class="button">Clear</a></div>{unplaced}'
        '<datalist id="model-aliases">{aliases}</datalist></form>',
        statuses=_options(statuses, chosen.get("status")),
        status_problems=_field_problems(errors, ["status"]),
        tag=text_field("tag", "Tag", "e.g. cats"),
        model=text_field("model", "Model", "alias or model id", "model-aliases"),
        aliases=join(html('<option value="{}">', alias.name) for alias in catalogue.ALIASES),
        providers=_options(providers, chosen.get("provider")),
        provider_problems=_field_problems(errors, ["provider"]),
        q=text_field("q", "Search", "words in the prompt"),
        unplaced=join(html('<p class="field-error" role="alert">{}: {}</p>', e.field, e.message) for e in unplaced),
    )


def _job_row(context: PageContext, job: dict[str, Any]) -> Markup:
    artifacts = job["artifacts"]
    shown = join(_artifact_tile(context, a) for a in artifacts[:THUMBNAILS_PER_JOB])
    more = len(artifacts) - THUMBNAILS_PER_JOB
    if more > 0:
        shown = html('{}<a class="more" href="/jobs/{}">+{}</a>', shown, job["id"], more)
    alias = job["model_alias"]
    row = html(
        '<tr data-testid="job-row" data-job-id="{id}"{failed}><td><a href="/jobs/{id}">{status}</a></td>'
        "<td>{task}</td><td>{model}</td><td>{provider}</td><td>{created}</td><td>{duration}</td>"
        '<td class="number">{cost}</td><td><div class="thumbs">{artifacts}</div></td><td>{tags}</td></tr>',
        id=job["id"],
        failed=attrs(class_="has-error" if job["error"] else None),
        status=_status(job["status"]),
        task=job["task"],
        model=html('{}<div class="muted small">{}</div>', alias, job["model"]) if alias else job["model"],
        provider=job["provider"],
        created=formats.moment(job["created_at"]),
        duration=formats.duration(formats.seconds_between(job["created_at"], job["completed_at"])),
        cost=formats.money(job["cost"], job["cost_currency"]),
        artifacts=shown if artifacts else Markup('<span class="muted">—</span>'),
        tags=_tags(job["tags"]),
    )
    if not job["error"]:
        return row
    return html(
        '{}<tr class="error-row"><td></td><td colspan="8" class="error" data-testid="job-error">'
        "<strong>{}</strong> {}</td></tr>",
        row,
        job["error"].get("code", "error"),
        job["error"].get("message", ""),
    )


async def jobs(context: PageContext) -> ApiResponse:
    chosen = _chosen_filters(context)
    cursor = context.request.arg("cursor")
    query = {name: [value] for name, value in chosen.items()} | {"limit": [str(JOBS_PER_PAGE)]}
    if cursor:
        query["cursor"] = [cursor]
    errors: list[FieldError] = []
    listing: dict[str, Any] = {"items": [], "next_cursor": None}
    try:
        listing = await list_jobs(context.deps.db, parse_filters(query, for_jobs=True), context.request.base_url)
    except ValidationFailed as failure:
        errors = failure.errors
    rows = join(_job_row(context, job) for job in listing["items"])
    if listing["items"]:
        table = html(
            '<div class="table-scroll"><table class="jobs" data-testid="jobs-table"><thead><tr><th>Status</th>'
            "<th>Task</th><th>Model</th><th>Provider</th><th>Created</th><th>Duration</th>"
            '<th class="number">Cost</th><th>Outputs</th><th>Tags</th></tr></thead><tbody>{}</tbody></table></div>',
            rows,
        )
    elif errors:
        table = Markup("")
    else:
        table = html(
            '<p class="empty panel">{}</p>',
            "No jobs match these filters." if chosen else "No jobs yet. Make one on the Create page.",
        )
    pages = []
    if cursor:
        pages.append(html('<a class="button" href="/jobs?{}">Newest</a>', urlencode(chosen)))
    if listing["next_cursor"]:
        older = urlencode({**chosen, "cursor": listing["next_cursor"]})
        pages.append(html('<a class="button" href="/jobs?{}" rel="next" data-testid="older">Older</a>', older))
    body = html(
        '<div class="page-head"><h1>Jobs</h1><a class="button primary" href="/create">New job</a></div>'
        '{form}{table}<nav class="pager">{pages}</nav>',
        form=_filter_form(chosen, errors),
        table=table,
        pages=join(pages),
    )
    return page(context, "Jobs", body, active="jobs", status=422 if errors else 200, **ASSETS)


# --- one job --------------------------------------------------------------------------------------


def _definitions(pairs: Iterable[tuple[str, Any]]) -> Markup:
    return html(
        '<dl class="facts">{}</dl>',
        join(html("<dt>{}</dt><dd>{}</dd>", name, value) for name, value in pairs if value not in (None, "")),
    )


def _request_panel(job: dict[str, Any]) -> Markup:
    preset = job["preset"]
    params = job["params"]
    rows = join(html("<tr><th>{}</th><td>{}</td></tr>", name, formats.value(value)) for name, value in params.items())
    model = html("{} <span class=muted>({})</span>", job["model_alias"], job["model"]) if job["model_alias"] else None
    return html(
        '<section class="panel" data-testid="job-request"><h2>Request</h2>{facts}'
        '<table class="params"><tbody>{rows}</tbody></table></section>',
        facts=_definitions(
            [
                ("Task", job["task"]),
                ("Model", model or job["model"]),
                ("Provider", job["provider"]),
                ("Preset", f"{preset['name']}@{preset['version']}" if preset else None),
                ("Provider's task id", job["provider_task_id"]),
                ("Tags", _tags(job["tags"]) if job["tags"] else None),
                ("Metadata", formats.value(job["metadata"]) if job["metadata"] else None),
            ]
        ),
        rows=rows if params else Markup('<tr><td class="muted">No parameters.</td></tr>'),
    )


def _timing_panel(job: dict[str, Any]) -> Markup:
    tried = job["attempts"]
    attempts = (
        html(
            "<h3>Attempts</h3><ol>{}</ol>",
            join(html("<li>{} · {}</li>", a["provider"], a["outcome"]) for a in tried),
        )
        if len(tried) > 1
        else Markup("")
    )
    return html(
        '<section class="panel" data-testid="job-timings"><h2>Timings and cost</h2>{}{}</section>',
        _definitions(
            [
                ("Created", formats.moment(job["created_at"])),
                ("Submitted", formats.moment(job["submitted_at"]) if job["submitted_at"] else None),
                ("Completed", formats.moment(job["completed_at"]) if job["completed_at"] else None),
                ("Cancelled", formats.moment(job["cancelled_at"]) if job["cancelled_at"] else None),
                ("Deadline", formats.moment(job["deadline_at"]) if job["status"] in OPEN_STATUSES else None),
                ("Took", formats.duration(formats.seconds_between(job["created_at"], job["completed_at"]))),
                ("Cost", formats.money(job["cost"], job["cost_currency"])),
                ("Cost source", job["cost_source"]),
            ]
        ),
        attempts,
    )


def _error_panel(error: dict[str, Any]) -> Markup:
    raw = error.get("provider_error")
    folded = (
        html(
            "<details><summary>The provider's answer</summary><pre>{}</pre></details>",
            json.dumps(raw, indent=2, ensure_ascii=False),
        )
        if raw is not None
        else Markup("")
    )
    parameter = error.get("parameter")
    return html(
        '<section class="panel job-error" data-testid="job-error"><h2>Error</h2>{}{}</section>',
        _definitions(
            [
                ("Code", html("<code>{}</code>", error.get("code", ""))),
                ("Message", error.get("message")),
                ("Parameter", ", ".join(parameter) if isinstance(parameter, list) else parameter),
                ("HTTP status", error.get("http_status")),
            ]
        ),
        folded,
    )


def _deliveries_panel(deliveries: list[dict[str, Any]]) -> Markup:
    if not deliveries:
        return Markup("")
    rows = join(
        html(
            "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            d["event"],
            d["url"],
            d["status"],
            len(d["attempts"]),
            formats.moment(d["delivered_at"]) if d["delivered_at"] else formats.moment(d["next_attempt_at"]),
            next((a["error"] or a["status_code"] for a in reversed(d["attempts"])), ""),
        )
        for d in deliveries
    )
    return html(
        '<section class="panel wide" data-testid="job-deliveries"><h2>Callback deliveries</h2>'
        '<div class="table-scroll"><table><thead><tr><th>Event</th><th>URL</th><th>Status</th><th>Attempts</th>'
        "<th>Delivered (or next try)</th><th>Last answer</th></tr></thead><tbody>{}</tbody></table></div></section>",
        rows,
    )


async def job(context: PageContext, job_id: str) -> ApiResponse:
    view = await job_view(context.deps.db, job_id, context.request.base_url)
    if view is None:
        raise NotFound(f"no job {job_id}")
    is_open = view["status"] in OPEN_STATUSES
    live = (
        html(
            '<div class="live panel" data-testid="job-live" data-job-live="{}"><span class="spinner"></span>'
            "The job is {} — this page updates when it finishes."
            '<button type="button" class="danger" data-cancel-job="{}" data-testid="cancel-job">Cancel job</button>'
            "</div>",
            view["id"],
            view["status"],
            view["id"],
        )
        if is_open
        else Markup("")
    )
    artifacts = view["artifacts"]
    outputs = html(
        '<section class="panel wide" data-testid="job-artifacts"><h2>Outputs ({})</h2><div class="thumbs large">{}'
        "</div></section>",
        len(artifacts),
        join(_artifact_tile(context, a) for a in artifacts)
        if artifacts
        else Markup('<p class="muted">No outputs stored.</p>'),
    )
    deliveries = await deliveries_view(context.deps, job_id)
    body = html(
        '<p class="crumbs"><a href="/jobs">Jobs</a> / <code>{id}</code></p>'
        '<div class="page-head"><h1>Job {status}</h1></div>{live}'
        '<div class="job-grid">{error}{request}{timings}{outputs}{deliveries}</div>',
        id=view["id"],
        status=_status(view["status"]),
        live=live,
        error=_error_panel(view["error"]) if view["error"] else Markup(""),
        request=_request_panel(view),
        timings=_timing_panel(view),
        outputs=outputs,
        deliveries=_deliveries_panel(deliveries["items"]),
    )
    return page(context, f"Job {view['id'][:8]}", body, active="jobs", **ASSETS)


# --- create ---------------------------------------------------------------------------------------


def _field(label: str, control: Markup, fields: Iterable[str], *, extra: str = "", hidden: bool = False) -> Markup:
    """A form field with the request fields whose problems it shows (``params.width``...)."""
    return html(
        '<div{attributes}><label>{label}{control}</label><span class="field-error" role="alert"></span></div>',
        attributes=attrs(class_=f"field {extra}".strip(), data_fields=" ".join(fields), hidden=hidden),
        label=label,
        control=control,
    )


def _runs_on(alias_name: str) -> str:
    """The providers an alias runs on, the mock among them (it stands in for Runware)."""
    alias = catalogue.alias_named(alias_name)
    return " ".join(name for name in PROVIDERS if alias is not None and catalogue.runs_on(alias, name))


def _model_select() -> Markup:
    by_task: dict[str, list[dict[str, Any]]] = {}
    for alias in model_list()["items"]:
        by_task.setdefault(alias["task"], []).append(alias)
    first_image = next((a["name"] for a in by_task.get("imageInference", [])), None)
    groups = join(
        html(
            '<optgroup label="{}">{}</optgroup>',
            task,
            join(
                html(
                    "<option{}>{}</option>",
                    attrs(
                        value=a["name"],
                        data_task=task,
                        data_providers=_runs_on(a["name"]),
                        title=a["description"],
                        selected=a["name"] == first_image,
                    ),
                    a["name"],
                )
                for a in aliases
            ),
        )
        for task, aliases in by_task.items()
    )
    return html('<select name="model" id="create-model" data-testid="create-model">{}</select>', groups)


def _whole_placeholders(params: dict[str, Any]) -> set[str]:
    """Variables that are a parameter's whole value: they keep the JSON type they are given
    (``"{steps}"`` with 20 is the number 20), so the form sends them as JSON when they parse."""
    return {
        name
        for value in params.values()
        if isinstance(value, str)
        for name in placeholders.names_in(value)
        if value == "{" + name + "}"
    }


def _preset_parts(presets: list[dict[str, Any]]) -> tuple[Markup, Markup]:
    """The preset picker and, per preset, its variables' inputs (shown while it is picked)."""
    options = join(
        html(
            "<option{}>{}</option>",
            attrs(value=p["name"], data_task=p.get("task") or _alias_task(p["model"]) or ""),
            f"{p['name']} (v{p['version']})" + (f" — {p['description']}" if p.get("description") else ""),
        )
        for p in presets
    )
    picker = html('<select name="preset" id="create-preset" data-testid="create-preset">{}</select>', options)
    groups = []
    for preset in presets:
        whole = _whole_placeholders(preset["params"])
        inputs = join(
            _field(
                name,
                html(
                    '<input name="variable" data-variable="{0}"{1} data-testid="variable-{0}">',
                    name,
                    attrs(data_json=name in whole),
                ),
                [f"variables.{name}"],
            )
            for name in preset["variables"]
        )
        groups.append(
            html(
                '<div class="preset-variables" data-preset="{}" hidden>{}</div>',
                preset["name"],
                inputs or Markup('<p class="muted">This preset has no variables.</p>'),
            )
        )
    return picker, join(groups)


def _alias_task(model: str) -> str | None:
    alias = catalogue.alias_named(model)
    return alias.task if alias else None


def _provider_select(context: PageContext) -> Markup:
    unavailable = {
        name: problems[0].message for name in PROVIDERS if (problems := provider_errors(name, context.deps.settings))
    }
    usable = [name for name in PROVIDERS if name not in unavailable]
    # ig picks the default provider when none is named; a deployment without its key would refuse
    # every default job, so the form starts on one that can run.
    start = "" if DEFAULT_PROVIDER in usable or not usable else usable[0]
    options = [html("<option{}>ig's default ({})</option>", attrs(value="", selected=start == ""), DEFAULT_PROVIDER)]
    for name in PROVIDERS:
        options.append(
            html(
                "<option{}>{}</option>",
                attrs(value=name, selected=name == start, disabled=name in unavailable, title=unavailable.get(name)),
                name + (" (not configured)" if name in unavailable else ""),
            )
        )
    return html('<select name="provider" id="create-provider" data-testid="create-provider">{}</select>', join(options))


async def create(context: PageContext) -> ApiResponse:
    presets = (await list_presets(context.deps.db))["items"]
    preset_picker, preset_variables = _preset_parts(presets)
    source = (
        html(
            '<fieldset class="source" data-testid="create-source"><legend>Start from</legend>'
            '<label class="inline"><input type="radio" name="source" value="model" checked> a model</label>'
            '<label class="inline"><input type="radio" name="source" value="preset"> a preset ({})</label></fieldset>',
            len(presets),
        )
        if presets
        else Markup("")
    )
    number = 'type="number" inputmode="numeric"'
    form = html(
        '<form id="create-form" class="panel create" data-testid="create-form" novalidate>{source}'
        '<div class="row">{model}{preset}{provider}</div>'
        '<p class="muted small">Task: <output id="create-task" data-testid="create-task"></output>'
        ' <span id="create-about"></span></p>'
        "{variables}{prompt}"
        '<div class="row">{width}{height}{outputs}{seed}</div>{tags}'
        '<div class="form-problem error" role="alert" data-testid="create-problem" hidden></div>'
        '<div class="actions"><button type="submit" class="primary" data-testid="create-submit">Generate</button>'
        "</div></form>",
        source=source,
        model=_field("Model", _model_select(), ["model", "task"], extra="model-choice"),
        preset=_field("Preset", preset_picker, ["preset"], extra="preset-choice", hidden=True)
        if presets
        else Markup(""),
        provider=_field("Provider", _provider_select(context), ["provider"]),
        variables=preset_variables,
        prompt=_field(
            "Prompt",
            Markup('<textarea name="prompt" rows="3" data-testid="create-prompt"></textarea>'),
            ["params.prompt", "params.positivePrompt", "params.text"],
            extra="wide",
        ),
        width=_field(
            "Width",
            Markup(f'<input name="width" {number} step="64" placeholder="default" data-testid="create-width">'),
            ["params.width", "params.image_size"],
            extra="sized",
        ),
        height=_field(
            "Height",
            Markup(f'<input name="height" {number} step="64" placeholder="default" data-testid="create-height">'),
            ["params.height"],
            extra="sized",
        ),
        outputs=_field(
            "Outputs",
            Markup(f'<input name="num_outputs" {number} min="1" placeholder="1" data-testid="create-outputs">'),
            ["params.num_outputs", "params.numberResults", "params.num_images", "params.promptVersions"],
        ),
        seed=_field(
            "Seed",
            Markup(f'<input name="seed" {number} placeholder="random" data-testid="create-seed">'),
            ["params.seed"],
        ),
        tags=_field(
            "Tags (comma-separated)",
            Markup('<input name="tags" placeholder="cats, drafts" data-testid="create-tags">'),
            ["tags"],
            extra="wide",
        ),
    )
    body = html(
        '<div class="page-head"><h1>Create</h1></div>'
        '<noscript><p class="panel error">The create form needs JavaScript: it submits the job through the API '
        "and follows it until it finishes. The API (<code>POST /v1/jobs</code>) works without it.</p></noscript>"
        '<div class="create-layout">{form}'
        '<section class="panel progress" id="create-progress" data-testid="create-progress">'
        "<h2>Job <span data-progress-status></span></h2>"
        '<p class="muted" data-progress-detail>Submit the form: the job\'s progress and its outputs show here.</p>'
        '<p><a data-progress-link href="/jobs" hidden>Open the job page</a></p>'
        '<div class="thumbs large" data-progress-results data-testid="create-results"></div></section></div>',
        form=form,
    )
    return page(context, "Create", body, active="create", **ASSETS)


# --- usage ----------------------------------------------------------------------------------------


def _period(context: PageContext) -> int:
    try:
        days = int(context.request.arg("days") or DEFAULT_PERIOD)
    except ValueError:
        return DEFAULT_PERIOD
    return days if days in PERIODS else DEFAULT_PERIOD


def _count(value: float) -> str:
    return f"{value:,.0f}"


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


def _usage_table(items: list[dict[str, Any]], heading: str, testid: str) -> Markup:
    rows = join(
        html(
            '<tr><th scope="row">{}</th><td class="number">{}</td><td class="number">{}</td>'
            '<td class="number">{}</td><td class="number">{}</td><td class="number">{}</td>'
            '<td class="number">{}</td><td class="number">{}</td></tr>',
            item["key"],
            _count(item["jobs"]),
            _count(item["succeeded"]),
            _count(item["failed"]),
            _percent(item["success_rate"]),
            formats.money(item["cost"]),
            formats.duration(item["p50_seconds"]),
            formats.duration(item["p95_seconds"]),
        )
        for item in items
    )
    return html(
        '<div class="table-scroll"><table class="usage" data-testid="{}"><thead><tr><th>{}</th>'
        '<th class="number">Jobs</th><th class="number">Succeeded</th><th class="number">Failed</th>'
        '<th class="number">Success</th><th class="number">Cost</th><th class="number">p50</th>'
        '<th class="number">p95</th></tr></thead><tbody>{}</tbody></table></div>',
        testid,
        heading,
        rows,
    )


def _pair(chart: Callable[..., Markup], items: list[dict[str, Any]], what: str, empty: str) -> Markup:
    """A chart of job counts and one of cost over the same groups."""
    jobs = [Point(str(i["key"]), i["jobs"]) for i in items]
    cost = [Point(str(i["key"]), i["cost"] or 0.0) for i in items]
    if items and not any(p.value for p in cost):
        cost, empty = [], "No cost reported in this period."
    return html(
        '<div class="chart-pair"><figure class="chart-figure jobs" data-testid="chart-jobs-{what}">'
        "<figcaption>Jobs</figcaption>{jobs}</figure>"
        '<figure class="chart-figure cost" data-testid="chart-cost-{what}"><figcaption>Cost</figcaption>{cost}'
        "</figure></div>",
        what=what,
        jobs=chart(jobs, title=f"Jobs by {what}", describe=_count, empty=empty),
        cost=chart(cost, title=f"Cost by {what}", describe=formats.money, empty=empty),
    )


def _days(since: datetime, days: int, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One item per day of the period, days without jobs as zeros, so the columns are a calendar."""
    by_day = {item["key"]: item for item in items}
    zero = {"jobs": 0, "succeeded": 0, "failed": 0, "success_rate": None, "cost": None}
    zero |= {"p50_seconds": None, "p95_seconds": None}
    out = []
    for offset in range(days):
        day = (since + timedelta(days=offset)).date().isoformat()
        out.append(by_day.get(day) or {"key": day, **zero})
    return out


def _busiest(items: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], Markup]:
    ranked = sorted(items, key=lambda i: (-i["jobs"], -(i["cost"] or 0), str(i["key"])))
    left = len(ranked) - GROUPS_SHOWN
    note = html('<p class="muted small">{} more with fewer jobs are not shown.</p>', left) if left > 0 else Markup("")
    return ranked[:GROUPS_SHOWN], note


async def usage(context: PageContext) -> ApiResponse:
    days = _period(context)
    today = context.deps.clock().replace(hour=0, minute=0, second=0, microsecond=0)
    since = today - timedelta(days=days - 1)
    since_text = since.strftime("%Y-%m-%dT%H:%M:%SZ")
    reports = {
        group: (await usage_report(context.deps.db, {"since": [since_text], "group_by": [group]}))["items"]
        for group in ("day", "model", "provider", "tag")
    }
    by_day = _days(since, days, reports["day"])
    models, models_note = _busiest(reports["model"])
    providers, providers_note = _busiest(reports["provider"])
    tags, tags_note = _busiest(reports["tag"])
    total_jobs = sum(i["jobs"] for i in reports["day"])
    totals = html(
        '<div class="totals" data-testid="usage-totals">'
        '<div class="panel"><span class="muted">Jobs</span><strong data-total="jobs">{}</strong></div>'
        '<div class="panel"><span class="muted">Succeeded</span><strong data-total="succeeded">{}</strong></div>'
        '<div class="panel"><span class="muted">Failed</span><strong data-total="failed">{}</strong></div>'
        '<div class="panel"><span class="muted">Cost</span><strong data-total="cost">{}</strong></div></div>',
        _count(total_jobs),
        _count(sum(i["succeeded"] for i in reports["day"])),
        _count(sum(i["failed"] for i in reports["day"])),
        formats.money(sum(i["cost"] or 0 for i in reports["day"])),
    )
    empty = "No jobs in this period."
    form = html(
        '<form class="period" method="get" action="/usage" data-testid="usage-period"><label>Period '
        '<select name="days">{}</select></label><button type="submit">Show</button></form>',
        _options(((str(d), f"last {d} days") for d in PERIODS), str(days)),
    )
    body = html(
        '<div class="page-head"><h1>Usage</h1>{form}</div>'
        '<p class="muted">Since <time datetime="{since_text}" data-since>{since}</time> (UTC). Cost is what the'
        " providers reported or billed.</p>{totals}"
        '<section class="usage-section panel" data-testid="usage-day"><h2>By day</h2>{day_charts}'
        "<details><summary>The numbers by day</summary>{day_table}</details></section>"
        '<section class="usage-section panel" data-testid="usage-model"><h2>By model</h2>{model_charts}{models_note}'
        "{model_table}</section>"
        '<section class="usage-section panel" data-testid="usage-provider"><h2>By provider</h2>{provider_charts}'
        "{providers_note}{provider_table}</section>"
        '<section class="usage-section panel" data-testid="usage-tag"><h2>By tag</h2>'
        '<p class="muted small">A job counts under each of its tags; untagged jobs are under none.</p>{tag_charts}'
        "{tags_note}{tag_table}</section>",
        form=form,
        since=since.date().isoformat(),
        since_text=since_text,
        totals=totals,
        day_charts=_pair(columns, by_day if total_jobs else [], "day", empty),
        day_table=_usage_table([i for i in by_day if i["jobs"]], "Day", "usage-table-day"),
        model_charts=_pair(bars, models, "model", empty),
        models_note=models_note,
        model_table=_usage_table(models, "Model", "usage-table-model") if models else Markup(""),
        provider_charts=_pair(bars, providers, "provider", empty),
        providers_note=providers_note,
        provider_table=_usage_table(providers, "Provider", "usage-table-provider") if providers else Markup(""),
        tag_charts=_pair(bars, tags, "tag", "No tagged jobs in this period."),
        tags_note=tags_note,
        tag_table=_usage_table(tags, "Tag", "usage-table-tag") if tags else Markup(""),
    )
    return page(context, "Usage", body, active="usage", **ASSETS)
