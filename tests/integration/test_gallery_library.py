"""The library grid (``/``) and the artifact page (``/artifacts/{id}``) as ig serves them: the grid
is the API's list (order, filters, pages by cursor) rendered as tiles, its URL keeps only the filters
that say something, bad filters are listed with a 422, and the artifact page shows what made the
artifact, text as text, and a tombstone once it is deleted. The browser tier checks the same pages
with their scripts (tests/browser/test_gallery_library.py)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html import unescape
from typing import Any

TILE_ID = re.compile(r'data-testid="tile" data-id="([^"]+)"')
NEXT_PAGE = re.compile(r'href="(/\?[^"]*)" data-testid="load-more"')


def mock_job(task: str = "imageInference", **params: Any) -> dict[str, Any]:
    return {"provider": "mock", "model": "mock", "task": task, "params": params}


async def make(ig: Any, body: dict[str, Any], tags: list[str] | None = None) -> list[dict[str, Any]]:
    job = (await ig.submit({**body, **({"tags": tags} if tags else {})})).json()
    finished = await ig.wait(job["id"])
    assert finished["status"] == "succeeded", finished
    return finished["artifacts"]


def tile_ids(page: str) -> list[str]:
    return TILE_ID.findall(page)


async def test_the_grid_is_the_apis_list_newest_first_with_a_link_and_a_picture_per_artifact(start_ig):
    ig = await start_ig(None, webhooks=False)
    for seed in range(3):
        await make(ig, mock_job(positivePrompt=f"a fox number {seed}", width=640, height=384, seed=seed))
    await make(ig, mock_job("audioInference", positivePrompt="a beat"))
    await ig.drained()
    listed = (await ig.client.get("/v1/artifacts")).json()["items"]
    response = await ig.client.get("/")
    assert response.status_code == 200
    assert "script-src 'self'" in response.headers["content-security-policy"]
    page = response.text
    assert tile_ids(page) == [a["id"] for a in listed]
    for artifact in listed:
        assert f'href="/artifacts/{artifact["id"]}"' in page
    image = next(a for a in listed if a["kind"] == "image")
    assert re.search(
        rf'<img src="/ui/v1/artifacts/{image["id"]}/thumbnail" alt="a fox number \d" loading="lazy"'
        r' decoding="async" width="640" height="384">',
        page,
    )
    assert 'class="tile tile-audio"' in page and "Audio" in page
    assert 'data-testid="end"' in page and 'data-testid="load-more"' not in page


async def test_an_empty_library_says_how_to_make_something_and_a_filter_that_matches_nothing_says_so(start_ig):
    ig = await start_ig(None, webhooks=False)
    empty = (await ig.client.get("/")).text
    assert 'data-testid="empty"' in empty and 'href="/create"' in empty and "ig generate" in empty
    await make(ig, mock_job(positivePrompt="a fox"))
    nothing = (await ig.client.get("/", params={"q": "walrus"})).text
    assert "Nothing matches" in nothing and tile_ids(nothing) == []


async def test_filters_are_the_apis_and_empty_fields_leave_the_url(start_ig):
    ig = await start_ig(None, webhooks=False)
    [fox] = await make(ig, mock_job(positivePrompt="a fox in snow"), tags=["animal", "winter"])
    [owl] = await make(ig, mock_job(positivePrompt="an owl at night"), tags=["animal"])
    [text] = await make(ig, mock_job("promptEnhance", prompt="a fox poem", promptMaxLength=50), tags=["words"])

    # What a submitted form sends: every field, most of them empty.
    form = "/?q=&kind=image&tag=animal&tag=&any_tag=&not_tag=winter&not_tag=&model=&provider=&from=&to=&nsfw=&role="
    redirected = await ig.client.get(form)
    assert redirected.status_code == 303
    assert redirected.headers["location"] == "/?kind=image&tag=animal&not_tag=winter"
    assert tile_ids((await ig.client.get(redirected.headers["location"])).text) == [owl["id"]]

    cases = {
        "q=fox": [text["id"], fox["id"]],
        "kind=text": [text["id"]],
        "tag=animal&tag=winter": [fox["id"]],
        "any_tag=winter&any_tag=words": [text["id"], fox["id"]],
        "role=input": [],
        "nsfw=false&provider=mock&model=mock": [text["id"], owl["id"], fox["id"]],
    }
    for query, expected in cases.items():
        assert tile_ids((await ig.client.get(f"/?{query}")).text) == expected, query
        api = (await ig.client.get(f"/v1/artifacts?{query}")).json()["items"]
        assert [a["id"] for a in api] == expected, query

    page = (await ig.client.get("/?tag=animal&tag=winter&q=fox")).text
    assert 'value="animal"' in page and 'value="winter"' in page and 'value="fox"' in page
    assert '<option value="animal">animal (2)</option>' in page  # the suggestions are /v1/tags


async def test_from_and_to_are_whole_days_in_utc(start_ig):
    ig = await start_ig(None, webhooks=False)
    [made] = await make(ig, mock_job(positivePrompt="a fox"))
    today = datetime.fromisoformat(made["created_at"].replace("Z", "+00:00")).astimezone(UTC).date()
    yesterday, tomorrow = today - timedelta(days=1), today + timedelta(days=1)
    cases = {
        f"from={today}&to={today}": [made["id"]],
        f"from={yesterday}&to={yesterday}": [],
        f"from={tomorrow}": [],
        f"to={today}": [made["id"]],
    }
    for query, expected in cases.items():
        assert tile_ids((await ig.client.get(f"/?{query}")).text) == expected, query


async def test_bad_filters_are_listed_by_field_with_a_422(start_ig):
    ig = await start_ig(None, webhooks=False)
    response = await ig.client.get("/?kind=sculpture&from=2026-02-30&nsfw=maybe&tag=ok")
    assert response.status_code == 422
    errors = unescape(response.text.split('data-testid="filter-errors"')[1].split("</div>")[0])
    for field in ("kind", "from", "nsfw"):
        assert f"<strong>{field}</strong>" in errors
    assert 'value="sculpture"' not in response.text  # a select offers only the kinds there are
    assert 'id="f-from" name="from" value="2026-02-30" aria-invalid="true"' in response.text
    fragment = await ig.client.get("/?kind=sculpture&fragment=1")
    assert fragment.status_code == 422 and "<html" not in fragment.text


async def test_pages_follow_the_cursor_without_repeats_and_a_fragment_is_only_tiles_and_the_next_link(start_ig):
    ig = await start_ig(None, webhooks=False)
    await make(ig, mock_job(positivePrompt="a fox", width=64, height=64, numberResults=7), tags=["batch"])
    listed = [a["id"] for a in (await ig.client.get("/v1/artifacts")).json()["items"]]
    first = (await ig.client.get("/?tag=batch&limit=3")).text
    seen = tile_ids(first)
    link = NEXT_PAGE.search(first)
    fragments = 0
    while link:
        href = unescape(link.group(1))
        assert "tag=batch" in href and "limit=3" in href and "fragment" not in href
        fragment = await ig.client.get(href + "&fragment=1")
        assert fragment.status_code == 200 and fragment.headers["content-type"].startswith("text/html")
        assert fragment.text.startswith('<ul class="grid"') and "<html" not in fragment.text
        seen += tile_ids(fragment.text)
        link = NEXT_PAGE.search(fragment.text)
        fragments += 1
    assert fragments == 2
    assert seen == listed and len(set(seen)) == 7
    # Without the script, the link is a plain page.
    second = (await ig.client.get(unescape(NEXT_PAGE.search(first).group(1)))).text
    assert "<html" in second and tile_ids(second) == listed[3:6]


async def test_the_artifact_page_shows_its_provenance_its_job_and_its_lineage(start_ig):
    ig = await start_ig(None, webhooks=False)
    params = {"positivePrompt": "a fox in snow", "negativePrompt": "blurry", "width": 320, "height": 200, "seed": 7}
    first, second = await make(ig, mock_job(**params, numberResults=2), tags=["fox"])
    [child] = await make(ig, mock_job("upscale", inputs={"image": f"artifact:{first['id']}"}, upscaleFactor=2))
    page = (await ig.client.get(f"/artifacts/{first['id']}")).text
    facts = page.split('data-testid="provenance"')[1].split("</dl>")[0]
    for shown in ("a fox in snow", "blurry", "mock", "imageInference", "<dd>7</dd>", "$0 (reported)"):
        assert shown in facts, shown
    assert f'<img src="/ui/v1/artifacts/{first["id"]}/content"' in page
    assert f'href="/ui/v1/artifacts/{first["id"]}/content" download="{first["id"]}.png"' in page
    assert '<li class="chip"><span>fox</span>' in page
    assert f'href="/jobs/{first["job_id"]}"' in page
    assert tile_ids(page.split('data-testid="job-artifacts"')[1].split("</ul>")[0]) == [second["id"]]
    assert tile_ids(page.split('data-testid="lineage-children"')[1].split("</ul>")[0]) == [child["id"]]
    assert "&quot;seed&quot;: 7" in page.split('data-testid="raw-result"')[1]  # the provider's result, escaped
    child_page = (await ig.client.get(f"/artifacts/{child['id']}")).text
    assert tile_ids(child_page.split('data-testid="lineage-parents"')[1].split("</ul>")[0]) == [first["id"]]


async def test_a_text_artifact_is_shown_as_text_never_as_markup(start_ig):
    ig = await start_ig(None, webhooks=False)
    [text] = await make(
        ig, mock_job("promptEnhance", prompt="<script>alert(1)</script><b>bold</b>", promptMaxLength=80)
    )
    page = (await ig.client.get(f"/artifacts/{text['id']}")).text
    shown = page.split('data-testid="text-content">')[1].split("</pre>")[0]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;b&gt;bold&lt;/b&gt;" in shown
    assert "<script>alert" not in page and "<b>bold" not in page
    grid = (await ig.client.get("/")).text
    assert "&lt;script&gt;alert(1)" in grid and "<script>alert" not in grid


async def test_a_deleted_artifact_is_a_tombstone_with_its_provenance_and_an_unknown_one_is_a_404(start_ig):
    ig = await start_ig(None, webhooks=False)
    [made] = await make(ig, mock_job(positivePrompt="a fox in snow", seed=3))
    assert (await ig.client.delete(f"/v1/artifacts/{made['id']}")).status_code == 204
    page = (await ig.client.get(f"/artifacts/{made['id']}")).text
    assert 'data-testid="tombstone"' in page and "a fox in snow" in page
    assert "/content" not in page and 'data-testid="delete"' not in page and 'id="tag-add"' not in page
    missing = await ig.client.get("/artifacts/no-such-artifact")
    assert missing.status_code == 404 and "no artifact no-such-artifact" in missing.text
