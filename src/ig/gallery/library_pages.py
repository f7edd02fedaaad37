"""The library grid (``/``) and one artifact's page (``/artifacts/{id}``).

The grid's URL is its filter: the API's own query names (``tag``, ``any_tag``, ``not_tag``,
``kind``, ``model``, ``provider``, ``role``, ``nsfw``, ``q``, ``limit``, ``cursor``) plus two
of the page's, ``from`` and ``to``, whole days (UTC) as a date input gives them. A page is the
API's page; ``fragment=1`` answers only its tiles and the link to the next one, which the
page's script appends as the reader scrolls (without the script the link is a plain link)."""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

from ig.api.http import ApiResponse
from ig.errors import FieldError, NotFound, ValidationFailed
from ig.gallery import formats
from ig.gallery.layout import PAGE_HEADERS, PageContext, page, redirect
from ig.gallery.markup import Markup, attrs, html, join
from ig.library import media_types
from ig.library.artifacts import artifact_record, artifact_view, list_artifacts, list_tags
from ig.library.content import filename_for
from ig.library.filters import Filters, parse_filters
from ig.library.lineage import lineage_view
from ig.library.views import job_view
from ig.providers import catalogue
from ig.providers.registry import PROVIDERS

GRID_PAGE = 48
"""Tiles per page unless the URL says ``limit``: a multiple of every column count the grid takes."""
TAG_SUGGESTIONS = 200
TILE_TEXT_BYTES = 320
TEXT_SHOWN_BYTES = 64 * 1024
RAW_RESULT_SHOWN_CHARS = 64 * 1024
RELATED_SHOWN = 48
"""Of an artifact's parents, children and job mates, the most its page shows."""
PROMPT_EXCERPT = 90
PAGE_ONLY = ("fragment", "from", "to")
"""Query names the page reads itself; every other is the API's filter."""
KIND_LABELS = {"image": "Images", "video": "Videos", "audio": "Audio", "text": "Text", "file": "Files"}
FORM_FIELD = {"created_after": "from", "created_before": "to"}
"""The form field a filter error belongs to, where the names differ."""


# --- the grid ------------------------------------------------------------------------------------


async def library(context: PageContext) -> ApiResponse:
    query = context.request.query
    if any(not value.strip() for values in query.values() for value in values):
        # The form sends every field; the URL keeps only the filters that say something.
        return redirect("/" + _query_string(_pairs(query)))
    fragment = context.request.arg("fragment") == "1"
    try:
        filters = page_filters(query)
    except ValidationFailed as failed:
        if fragment:
            return _fragment(html('<p class="error">{}</p>', failed.detail), 422)
        return await _library_page(context, None, failed.errors)
    listing = await list_artifacts(context.deps.db, filters, context.request.base_url)
    if fragment:
        return _fragment(await _page_of_tiles(context, listing))
    return await _library_page(context, listing, [])


def page_filters(query: dict[str, list[str]]) -> Filters:
    """The API's filters for the page's query: ``from`` and ``to`` (days, inclusive) become the
    API's ``created_after`` and ``created_before`` (moments, exclusive), and a page is
    ``GRID_PAGE`` long unless it says otherwise. Bad days are field errors beside the API's."""
    api = {name: values for name, values in query.items() if name not in PAGE_ONLY}
    api.setdefault("limit", [str(GRID_PAGE)])
    errors: list[FieldError] = []
    for field, name, shift in (("from", "created_after", 0), ("to", "created_before", 1)):
        value = (query.get(field) or [None])[-1]
        if value is None:
            continue
        try:
            day = date.fromisoformat(value) + timedelta(days=shift)
        except (ValueError, OverflowError):
            errors.append(FieldError(field, "a day, as YYYY-MM-DD", "invalid_date"))
            continue
        api[name] = [f"{day.isoformat()}T00:00:00Z"]
    try:
        filters = parse_filters(api)
    except ValidationFailed as failed:
        raise ValidationFailed(errors + failed.errors) from None
    if errors:
        raise ValidationFailed(errors)
    return filters


def _pairs(query: dict[str, list[str]], *, without: Iterable[str] = ()) -> list[tuple[str, str]]:
    return [(name, value) for name, values in query.items() if name not in without for value in values if value.strip()]


def _query_string(pairs: list[tuple[str, str]]) -> str:
    return "?" + urlencode(pairs) if pairs else ""


def _fragment(body: Markup, status: int = 200) -> ApiResponse:
    return ApiResponse(status, dict(PAGE_HEADERS), body.encode())


async def _page_of_tiles(context: PageContext, listing: dict[str, Any]) -> Markup:
    """The tiles of one page and what follows them: the same markup in the page and in a fragment."""
    tiles = await _tiles(context, listing["items"])
    cursor = listing["next_cursor"]
    if cursor:
        pairs = [*_pairs(context.request.query, without=("cursor", "fragment")), ("cursor", cursor)]
        pager = html(
            '<a class="button more" href="/{}" data-testid="load-more" rel="next">Load more</a>', _query_string(pairs)
        )
    else:
        pager = html('<p class="muted end" data-testid="end">That is everything.</p>') if listing["items"] else Markup()
    return html('<ul class="grid" data-testid="grid">{}</ul><nav class="pager">{}</nav>', tiles, pager)


async def _library_page(context: PageContext, listing: dict[str, Any] | None, errors: list[FieldError]) -> ApiResponse:
    query = context.request.query
    suggestions = await list_tags(context.deps.db, "", TAG_SUGGESTIONS, None)
    filtered = bool(_pairs(query, without=("cursor", "limit", "fragment")))
    if listing is None:
        results = Markup()
    elif not listing["items"] and not query.get("cursor"):
        results = _empty_state(filtered)
    else:
        results = html('<div id="results">{}</div>', await _page_of_tiles(context, listing))
    body = html(
        '<div class="library-head"><h1>Library</h1>{clear}</div>{form}{problems}{results}',
        clear=html('<a href="/" class="muted" data-testid="clear-filters">Clear filters</a>') if filtered else "",
        form=_filter_form(query, suggestions["items"], errors),
        problems=_filter_errors(errors),
        results=results,
    )
    return page(
        context,
        "Library",
        body,
        active="library",
        styles=("library.css",),
        scripts=("library.js",),
        status=422 if errors else 200,
    )


def _empty_state(filtered: bool) -> Markup:
    if filtered:
        return html(
            '<div class="empty panel" data-testid="empty"><h2>Nothing matches</h2>'
            '<p>No artifact passes these filters. <a href="/">Clear them</a> to see the whole library.</p></div>'
        )
    return html(
        '<div class="empty panel" data-testid="empty"><h2>The library is empty</h2>'
        "<p>Everything ig makes is kept here with where it came from. Make something:</p><ul>"
        '<li>on the <a href="/create">Create</a> page, from a preset or a model;</li>'
        '<li>from the command line: <code>ig generate "a red fox in snow" --model flux-schnell</code>;</li>'
        '<li>through the API: <code>POST /v1/jobs</code> (see <a href="/docs">the API\'s documentation</a>).</li>'
        "</ul></div>"
    )


def _filter_errors(errors: list[FieldError]) -> Markup:
    if not errors:
        return Markup()
    return html(
        '<div class="error panel filter-errors" role="alert" data-testid="filter-errors">'
        "<p>These filters are wrong:</p><ul>{}</ul></div>",
        join(html("<li><strong>{}</strong>: {}</li>", _form_field(e.field), e.message) for e in errors),
    )


def _form_field(error_field: str) -> str:
    name = error_field.split("[")[0]
    return FORM_FIELD.get(name, name)


def _filter_form(query: dict[str, list[str]], tags: list[dict[str, Any]], errors: list[FieldError]) -> Markup:
    wrong = {_form_field(e.field) for e in errors}

    def last(name: str) -> str:
        values = query.get(name)
        return values[-1] if values else ""

    def text(name: str, label: str, **extra: Any) -> Markup:
        return html(
            '<div class="field"><label for="f-{name}">{label}</label><input id="f-{name}" name="{name}"{attrs}></div>',
            name=name,
            label=label,
            attrs=attrs(value=last(name) or None, aria_invalid="true" if name in wrong else None, **extra),
        )

    def choice(name: str, label: str, options: Iterable[tuple[str, str]]) -> Markup:
        chosen = last(name)
        return html(
            '<div class="field"><label for="f-{name}">{label}</label><select id="f-{name}" name="{name}"{invalid}>'
            "{options}</select></div>",
            name=name,
            label=label,
            invalid=attrs(aria_invalid="true" if name in wrong else None),
            options=join(html("<option{}>{}</option>", attrs(value=v, selected=v == chosen), t) for v, t in options),
        )

    def tag_group(name: str, label: str) -> Markup:
        # One input per tag already in the filter and one more for the next: repeated names are
        # the API's form for several tags, and a tag may hold any character, commas too.
        values = [*query.get(name, []), ""]
        return html(
            '<fieldset class="field tags-filter"><legend>{label}</legend>{inputs}</fieldset>',
            label=label,
            inputs=join(
                html(
                    "<input{}>",
                    attrs(
                        name=name,
                        value=value or None,
                        list="tag-suggestions",
                        aria_label=f"{label}: tag {i + 1}",
                        aria_invalid="true" if name in wrong else None,
                        placeholder="tag" if not value else None,
                    ),
                )
                for i, value in enumerate(values)
            ),
        )

    more_set = any(query.get(n) for n in ("any_tag", "not_tag", "model", "provider", "from", "to", "nsfw", "role"))
    limit = last("limit")
    return html(
        '<form class="filters panel" method="get" action="/" role="search" data-testid="filters">'
        '<div class="row">{q}{kind}{tag}<div class="field submit"><button class="primary" type="submit">Filter</button>'
        "</div></div>"
        '<details class="more-filters"{open}><summary>More filters</summary><div class="row">'
        "{any_tag}{not_tag}{model}{provider}{from_}{to}{nsfw}{role}</div></details>"
        "{limit}"
        '{tags}<datalist id="model-suggestions">{models}</datalist>'
        "</form>",
        q=text("q", "Search prompts and text", type="search", placeholder="fox snow*"),
        kind=choice("kind", "Kind", [("", "Any kind"), *KIND_LABELS.items()]),
        tag=tag_group("tag", "With all of these tags"),
        open=attrs(open=more_set or bool(wrong - {"q", "kind", "tag"})),
        any_tag=tag_group("any_tag", "With any of these tags"),
        not_tag=tag_group("not_tag", "Without these tags"),
        model=text("model", "Model or alias", list="model-suggestions", placeholder="flux-schnell"),
        provider=choice("provider", "Provider", [("", "Any provider"), *((p, p) for p in PROVIDERS)]),
        from_=text("from", "Made from (UTC)", type="date"),
        to=text("to", "Made until (UTC)", type="date"),
        nsfw=choice("nsfw", "Flagged NSFW", [("", "Show all"), ("false", "Hide flagged"), ("true", "Only flagged")]),
        role=choice("role", "Source", [("", "Outputs and uploads"), ("output", "Outputs"), ("input", "Uploads")]),
        limit=html('<input type="hidden" name="limit" value="{}">', limit) if limit else "",
        tags=_tag_suggestions(tags),
        models=join(html('<option value="{}">{}</option>', a.name, a.description) for a in catalogue.ALIASES),
    )


# --- tiles: the grid's, and the artifact page's strips of related artifacts ---------------------


async def _tiles(context: PageContext, artifacts: list[dict[str, Any]]) -> Markup:
    return join([await _tile(context, a) for a in artifacts])


async def _tile(context: PageContext, artifact: dict[str, Any]) -> Markup:
    caption = _caption(artifact)
    return html(
        '<li class="tile tile-{kind}"><a href="/artifacts/{id}" data-testid="tile" data-id="{id}" title="{title}">'
        '{preview}{badge}<span class="meta"><span class="caption">{caption}</span>{when}</span></a></li>',
        kind=artifact["kind"],
        id=artifact["id"],
        title=caption,
        preview=await _preview(context, artifact, caption),
        badge=_video_badge(artifact) if artifact["kind"] == "video" and artifact["thumbnail_url"] else "",
        caption=_excerpt(caption, PROMPT_EXCERPT),
        when=formats.moment(artifact["created_at"], seconds=False),
    )


def _video_badge(artifact: dict[str, Any]) -> Markup:
    """A poster looks like any image: the badge says it plays."""
    duration = formats.duration(artifact["duration_seconds"]) if artifact["duration_seconds"] else "Video"
    return html('<span class="badge" aria-label="Video">▶ {}</span>', duration)


async def _preview(context: PageContext, artifact: dict[str, Any], caption: str) -> Markup:
    """The tile's picture: the thumbnail when there is one, else a tile for the kind."""
    artifact_id, kind = artifact["id"], artifact["kind"]
    alt = _excerpt(caption, PROMPT_EXCERPT)
    if artifact["thumbnail_url"]:
        thumbnail = context.ui_path(f"/v1/artifacts/{artifact_id}/thumbnail")
        size = {"width": artifact["width"], "height": artifact["height"]}
        return html("<img{}>", attrs(src=thumbnail, alt=alt, loading="lazy", decoding="async", **size))
    if artifact["content_type"] == "image/svg+xml":
        # Never thumbnailed; as an <img> its scripts never run, and SVGs are small.
        content = context.ui_path(f"/v1/artifacts/{artifact_id}/content")
        return html("<img{}>", attrs(src=content, alt=alt, loading="lazy"))
    if kind == "text":
        start, _ = await _text_start(context, artifact_id, TILE_TEXT_BYTES)
        return html('<span class="kind-tile text-tile"><span class="text-start">{}</span></span>', start)
    label = {
        "image": "Preview on its way",
        "video": "Video",
        "audio": "Audio",
    }.get(kind, _extension(artifact["content_type"]).upper())
    duration = formats.duration(artifact["duration_seconds"]) if artifact["duration_seconds"] else ""
    return html(
        '<span class="kind-tile">{icon}<span class="kind-label">{label}</span>{duration}</span>',
        icon=ICONS.get(kind, ICONS["file"]),
        label=label,
        duration=html('<span class="muted">{}</span>', duration) if duration else "",
    )


ICONS = {
    "image": Markup(
        '<svg class="icon" viewBox="0 0 24 24" aria-hidden="true"><rect x="3" y="4" width="18" height="16" rx="2"/>'
        '<circle cx="9" cy="10" r="2"/><path d="m4 18 5-5 4 4 3-3 4 4"/></svg>'
    ),
    "video": Markup(
        '<svg class="icon" viewBox="0 0 24 24" aria-hidden="true"><circle cx="12" cy="12" r="9"/>'
        '<path d="m10 8 6 4-6 4z" class="fill"/></svg>'
    ),
    "audio": Markup(
        '<svg class="icon" viewBox="0 0 24 24" aria-hidden="true">'
        '<path d="M3 12h2M7 8v8M11 4v16M15 7v10M19 10v4M21 12h0"/></svg>'
    ),
    "file": Markup(
        '<svg class="icon" viewBox="0 0 24 24" aria-hidden="true"><path d="M6 3h8l4 4v14H6z"/>'
        '<path d="M14 3v4h4"/></svg>'
    ),
}


def _tag_suggestions(tags: list[dict[str, Any]]) -> Markup:
    """The library's tags with their counts (``/v1/tags``), for the tag inputs to suggest."""
    options = join(html('<option value="{}">{} ({})</option>', t["tag"], t["tag"], t["artifacts"]) for t in tags)
    return html('<datalist id="tag-suggestions" data-testid="tag-suggestions">{}</datalist>', options)


def _strip(tiles: Markup, testid: str, empty: str) -> Markup:
    if not tiles:
        return html('<p class="muted" data-testid="{}">{}</p>', testid, empty)
    return html('<ul class="grid strip" data-testid="{}">{}</ul>', testid, tiles)


# --- one artifact --------------------------------------------------------------------------------


async def artifact(context: PageContext, artifact_id: str) -> ApiResponse:
    deps, base_url = context.deps, context.request.base_url
    view = await artifact_view(deps.db, artifact_id, base_url)
    if view is None:
        raise NotFound(f"no artifact {artifact_id}")
    lineage = await lineage_view(deps.db, artifact_id, base_url)
    job = await job_view(deps.db, view["job_id"], base_url) if view["job_id"] else None
    mates = [a for a in (job["artifacts"] if job else []) if a["id"] != artifact_id]
    provenance = view["provenance"] or {}
    deleted = view["deleted_at"] is not None
    body = html(
        '<div class="artifact-page">'
        '<section class="viewer viewer-{kind}" data-testid="artifact-media">{media}</section>'
        '<aside class="side">{head}{actions}{tags}{facts}</aside></div>'
        '<div class="details">{params}{timings}</div>'
        '<div class="details"><section><h2>Made from</h2>{parents}</section>'
        "<section><h2>Used to make</h2>{children}</section>{job}</div>{raw}{suggestions}",
        kind="deleted" if deleted else view["kind"],
        media=_tombstone(view) if deleted else await _media(context, view),
        head=html(
            '<h1 class="title">{}</h1><p class="muted summary">{}</p>',
            _excerpt(_caption(view), 140),
            _summary(view),
        ),
        actions=Markup() if deleted else _actions(context, view),
        tags=Markup() if deleted else _tag_editor(view),
        facts=_facts(view, provenance),
        params=_params_table(provenance.get("params")),
        timings=_timings_table(provenance.get("timings")),
        parents=_strip(
            await _tiles(context, lineage["parents"][:RELATED_SHOWN]), "lineage-parents", "No inputs from the library."
        ),
        children=_strip(
            await _tiles(context, lineage["children"][:RELATED_SHOWN]), "lineage-children", "Nothing made from it yet."
        ),
        job=_job_section(job, await _tiles(context, mates[:RELATED_SHOWN])) if job else "",
        raw=_raw_result(provenance.get("result")),
        suggestions=Markup()
        if deleted
        else _tag_suggestions((await list_tags(deps.db, "", TAG_SUGGESTIONS, None))["items"]),
    )
    title = _excerpt(_caption(view), 60)
    return page(context, title, body, active="library", styles=("library.css",), scripts=("library.js",))


def _tombstone(view: dict[str, Any]) -> Markup:
    return html(
        '<div class="tombstone panel" data-testid="tombstone"><h2>Deleted</h2>'
        "<p>This artifact was deleted {}. Its file is gone; what made it is kept below.</p></div>",
        formats.moment(view["deleted_at"]),
    )


async def _media(context: PageContext, view: dict[str, Any]) -> Markup:
    artifact_id, kind, content_type = view["id"], view["kind"], view["content_type"]
    source = context.ui_path(f"/v1/artifacts/{artifact_id}/content")
    if kind == "image":
        # SVG too: in an <img> its scripts never run.
        return html(
            "<img{}>",
            attrs(src=source, alt=_excerpt(_caption(view), 200), width=view["width"], height=view["height"]),
        )
    if kind == "video":
        poster = context.ui_path(f"/v1/artifacts/{artifact_id}/thumbnail") if view["thumbnail_url"] else None
        return html("<video{}></video>", attrs(src=source, controls=True, preload="metadata", poster=poster))
    if kind == "audio":
        return html(
            '<div class="audio-player">{}<audio{}></audio></div>',
            ICONS["audio"],
            attrs(src=source, controls=True, preload="metadata"),
        )
    if kind == "text":
        shown, cut = await _text_start(context, artifact_id, TEXT_SHOWN_BYTES)
        note = (
            html(
                '<p class="muted">The first {} of {}; download it for the rest.</p>',
                formats.size(len(shown.encode())),
                formats.size(view["size"]),
            )
            if cut
            else ""
        )
        return html('<pre class="text-content" data-testid="text-content">{}</pre>{}', shown, note)
    return html(
        '<div class="kind-tile file-tile">{}<p>{} · {}</p>'
        '<p><a class="button" href="{}" download="{}">Download</a></p></div>',
        ICONS["file"],
        content_type,
        formats.size(view["size"]),
        source,
        filename_for(artifact_id, content_type),
    )


async def _text_start(context: PageContext, artifact_id: str, limit: int) -> tuple[str, bool]:
    """The first ``limit`` bytes of a text artifact as text, and whether there is more. A
    character cut in two at the end is left out rather than shown as a replacement."""
    record = await artifact_record(context.deps.db, artifact_id)
    if record is None or record["deleted_at"] is not None or record["size"] == 0:
        return "", False
    length = min(limit, record["size"])
    blob = await context.deps.blobs.get(record["blob_key"], (0, length))
    if blob is None:
        return "", False
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    text = "".join([decoder.decode(chunk) async for chunk in context.deps.blobs.iter_bytes(blob)])
    cut = record["size"] > length
    return text + ("" if cut else decoder.decode(b"", final=True)), cut


def _actions(context: PageContext, view: dict[str, Any]) -> Markup:
    return html(
        '<div class="actions"><a class="button primary" href="{href}" download="{name}" data-testid="download">'
        "Download</a>"
        '<button type="button" class="danger" data-delete-artifact="{id}" data-testid="delete">Delete</button></div>',
        href=context.ui_path(f"/v1/artifacts/{view['id']}/content"),
        name=filename_for(view["id"], view["content_type"]),
        id=view["id"],
    )


def _tag_editor(view: dict[str, Any]) -> Markup:
    chips = join(
        html(
            '<li class="chip"><span>{tag}</span><button type="button" data-remove-tag="{tag}"'
            ' aria-label="Remove tag {tag}" title="Remove">×</button></li>',
            tag=tag,
        )
        for tag in view["tags"]
    )
    return html(
        '<section class="tag-editor" data-testid="tags"><h2>Tags</h2><ul class="chips" id="tag-list">{chips}</ul>'
        '<form id="tag-add" class="tag-add" data-artifact-id="{id}"><input name="tag" list="tag-suggestions"'
        ' aria-label="Add a tag" placeholder="Add a tag" autocomplete="off" required maxlength="128"'
        ' data-testid="tag-input"><button type="submit">Add</button></form></section>',
        chips=chips,
        id=view["id"],
    )


def _facts(view: dict[str, Any], provenance: dict[str, Any]) -> Markup:
    rows: list[tuple[str, Any]] = []
    if view["role"] == "input":
        rows += [("Uploaded", formats.moment(provenance.get("uploaded_at"))), ("File name", provenance.get("filename"))]
    else:
        params = provenance.get("params") or {}
        preset = provenance.get("preset")
        model = provenance.get("model")
        alias = provenance.get("model_alias")
        rows += [
            ("Prompt", _prompt(params)),
            ("Negative prompt", _first_text(params, ("negativePrompt", "negative_prompt"))),
            ("Model", html('{} <span class="muted">({})</span>', alias, model) if alias else model),
            ("Provider", provenance.get("provider")),
            ("Task", provenance.get("task")),
            ("Seed", view["seed"]),
            ("Cost", _cost(view)),
            ("Preset", f"{preset['name']}@{preset['version']}" if preset else None),
            (
                "Job",
                html('<a href="/jobs/{0}" title="{0}">{1}…</a>', view["job_id"], view["job_id"][:8])
                if view["job_id"]
                else None,
            ),
            ("Made", formats.moment(view["created_at"])),
        ]
    rows += [
        ("NSFW", {True: "Flagged by the provider", False: "Checked, not flagged"}.get(view["nsfw"])),
        ("SHA-256", html('<code class="hash">{}</code>', view["sha256"])),
    ]
    return html(
        '<dl class="facts" data-testid="provenance">{}</dl>',
        join(html("<dt>{}</dt><dd>{}</dd>", name, value) for name, value in rows if value not in (None, "")),
    )


def _params_table(params: Any) -> Markup:
    if not params:
        return Markup()
    rows = join(
        html('<tr><th scope="row">{}</th><td>{}</td></tr>', name, formats.value(v)) for name, v in params.items()
    )
    return html('<section><h2>Parameters</h2><table class="params" data-testid="params">{}</table></section>', rows)


TIMINGS = (
    ("job_created_at", "Job created"),
    ("submitted_at", "Sent to the provider"),
    ("result_received_at", "Result received"),
    ("stored_at", "Stored"),
    ("job_completed_at", "Job finished"),
)


def _timings_table(timings: dict[str, Any] | None) -> Markup:
    if not timings or not timings.get("job_created_at"):
        return Markup()
    start = formats.parse_moment(timings["job_created_at"])
    rows = []
    for key, label in TIMINGS:
        moment = timings.get(key)
        if not moment:
            continue
        after = (formats.parse_moment(moment) - start).total_seconds()
        rows.append(
            html(
                '<tr><th scope="row">{}</th><td>{}</td><td class="muted">{}</td></tr>',
                label,
                formats.moment(moment),
                "" if key == "job_created_at" else f"+{formats.duration(after)}",
            )
        )
    return html(
        '<section><h2>Timings</h2><table class="timings" data-testid="timings">{}</table></section>', join(rows)
    )


def _job_section(job: dict[str, Any], mates: Markup) -> Markup:
    return html(
        '<section><h2>Its job</h2><p><a href="/jobs/{id}" data-testid="job-link" title="{id}">Job {short}…</a> '
        '<span class="status status-{status}">{status}</span></p>{mates}</section>',
        id=job["id"],
        short=job["id"][:8],
        status=job["status"],
        mates=_strip(mates, "job-artifacts", "The job made nothing else."),
    )


def _raw_result(result: Any) -> Markup:
    if result is None:
        return Markup()
    text = json.dumps(result, indent=2, ensure_ascii=False)
    cut = len(text) > RAW_RESULT_SHOWN_CHARS
    return html(
        '<details class="raw" data-testid="raw-result"><summary>The provider\'s raw result</summary><pre>{}</pre>{}'
        "</details>",
        text[:RAW_RESULT_SHOWN_CHARS],
        html('<p class="muted">Cut at {} characters.</p>', RAW_RESULT_SHOWN_CHARS) if cut else "",
    )


# --- words and numbers ---------------------------------------------------------------------------


def _first_text(params: dict[str, Any], names: Iterable[str]) -> str | None:
    for name in names:
        if isinstance(params.get(name), str) and params[name].strip():
            return params[name]
    return None


def _prompt(params: dict[str, Any]) -> str | None:
    found = _first_text(params, ("positivePrompt", "prompt", "text"))
    messages = params.get("messages")
    if found is None and isinstance(messages, list):
        said = [m["content"] for m in messages if isinstance(m, dict) and isinstance(m.get("content"), str)]
        found = said[-1] if said else None
    return found


def _caption(artifact: dict[str, Any]) -> str:
    """What a person would call the artifact: its prompt, file name or model."""
    provenance = artifact["provenance"] or {}
    if artifact["role"] == "input":
        return provenance.get("filename") or f"Upload {artifact['id'][:8]}"
    return _prompt(provenance.get("params") or {}) or provenance.get("model") or artifact["kind"]


def _summary(view: dict[str, Any]) -> str:
    parts = [view["kind"], view["content_type"].split(";")[0]]
    if view["width"] and view["height"]:
        parts.append(f"{view['width']}×{view['height']}")
    if view["duration_seconds"]:
        parts.append(formats.duration(view["duration_seconds"]))
    parts.append(formats.size(view["size"]))
    return " · ".join(parts)


def _excerpt(text: str, length: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= length else text[: length - 1].rstrip() + "…"


def _extension(content_type: str) -> str:
    return (media_types.by_content_type(content_type) or media_types.OCTET_STREAM).extension


def _cost(view: dict[str, Any]) -> str | None:
    if view["cost"] is None:
        return None
    source = f" ({view['cost_source']})" if view["cost_source"] else ""
    return formats.money(view["cost"], view["cost_currency"]) + source
