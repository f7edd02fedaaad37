"""The jobs view (``/jobs``, ``/jobs/{id}``), the create form (``/create``) and the usage view
(``/usage``) as ig serves them: the API's jobs rendered newest first with a failed job's provider
error, filters and pages kept in the URL, bad filters answered with a 422 beside the filter, a job's
request, error and callback deliveries laid out, the form offering what this deployment can run,
and usage charts of /v1/usage's numbers. Every page obeys the CSP (no inline script, style or event
handler). The browser tier checks the same pages with their scripts
(tests/browser/test_gallery_activity.py)."""

from __future__ import annotations

import re
from html import unescape
from html.parser import HTMLParser
from typing import Any

from fixtures.callback_receiver import SECRET
from fixtures.payloads import IMAGE_JOB

from ig.gallery.activity_pages import JOBS_PER_PAGE

ROW_ID = re.compile(r'data-testid="job-row" data-job-id="([^"]+)"')
OLDER = re.compile(r'href="(/jobs\?[^"]*)" rel="next" data-testid="older"')
HOSTILE = '<img src=x onerror="alert(1)">'


def mock_job(prompt: str = "a fox", **extra: Any) -> dict[str, Any]:
    return {
        "provider": "mock",
        "model": "mock",
        "task": "imageInference",
        "params": {"positivePrompt": prompt, "width": 64, "height": 64},
        **extra,
    }


async def finished(ig: Any, body: dict[str, Any]) -> dict[str, Any]:
    response = await ig.submit(body)
    assert response.status_code == 202, response.text
    return await ig.wait(response.json()["id"])


class _CspBreaches(HTMLParser):
    """What a strict CSP would refuse on a page: inline scripts, style attributes, event handlers."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {name for name, _ in attrs}
        if tag == "script" and "src" not in names:
            self.found.append("an inline <script>")
        if tag == "style":
            self.found.append("a <style> element")
        self.found += [f"{name}= on <{tag}>" for name in names if name == "style" or name.startswith("on")]


def assert_obeys_the_csp(page: str) -> None:
    breaches = _CspBreaches()
    breaches.feed(page)
    assert breaches.found == []


async def test_the_jobs_view_is_the_apis_list_newest_first_with_a_failed_jobs_provider_error(start_ig, fake_runware):
    ig = await start_ig(fake_runware, webhooks=False)
    made = await finished(ig, mock_job(tags=["fox"]))
    hostile = await finished(ig, mock_job(model=HOSTILE))
    fake_runware.result_error = {"code": "contentPolicyViolation", "message": "Content flagged <b>loudly</b>"}
    failed = await finished(ig, {**IMAGE_JOB, "params": {**IMAGE_JOB["params"], "numberResults": 1}})
    assert failed["status"] == "failed"
    await ig.drained()

    response = await ig.client.get("/jobs")
    assert response.status_code == 200
    page = response.text
    assert_obeys_the_csp(page)
    listed = [j["id"] for j in (await ig.client.get("/v1/jobs")).json()["items"]]
    assert ROW_ID.findall(page) == listed == [failed["id"], hostile["id"], made["id"]]
    assert 'class="status status-failed" data-testid="job-status">failed<' in page
    [error] = re.findall(r'data-testid="job-error">(.*?)</td>', page)
    assert unescape(re.sub(r"<[^>]+>", "", error)) == "contentPolicyViolation Content flagged <b>loudly</b>"
    assert "&lt;b&gt;loudly" in page  # the provider's words are text
    assert HOSTILE not in page and "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in page
    [artifact] = made["artifacts"]
    assert f'href="/artifacts/{artifact["id"]}" data-testid="job-artifact"' in page
    assert '<span class="tag">fox</span>' in page
    assert 'data-testid="older"' not in page


async def test_filters_and_pages_stay_in_the_url_and_blank_fields_filter_nothing(start_ig):
    ig = await start_ig(None, webhooks=False)
    batch = [mock_job(f"tile {i}", tags=["many"]) for i in range(JOBS_PER_PAGE + 1)]
    answer = await ig.client.post("/v1/jobs/batch", json={"jobs": batch})
    ids = [item["job"]["id"] for item in answer.json()["items"]]
    for job_id in ids:
        assert (await ig.wait(job_id))["status"] == "succeeded"
    other = await finished(ig, mock_job("alone"))

    everything = (await ig.client.get("/jobs", params={"status": "", "tag": "", "model": "", "q": ""})).text
    assert ROW_ID.findall(everything)[0] == other["id"]
    first = (await ig.client.get("/jobs", params={"tag": "many"})).text
    assert ROW_ID.findall(first) == ids[::-1][:JOBS_PER_PAGE]
    assert 'value="many"' in first  # the form shows the filter it applied
    [older] = OLDER.findall(first)
    assert "tag=many" in older and "cursor=" in older
    rest = (await ig.client.get(unescape(older))).text
    assert ROW_ID.findall(rest) == [ids[0]]
    assert 'href="/jobs?tag=many">Newest</a>' in rest and 'data-testid="older"' not in rest

    searched = (await ig.client.get("/jobs", params={"q": "alone", "status": "succeeded"})).text
    assert ROW_ID.findall(searched) == [other["id"]]
    nothing = (await ig.client.get("/jobs", params={"status": "failed"})).text
    assert ROW_ID.findall(nothing) == [] and "No jobs match these filters." in nothing


async def test_a_bad_filter_is_a_422_page_naming_the_problem_beside_the_filter(start_ig):
    ig = await start_ig(None, webhooks=False)
    response = await ig.client.get("/jobs", params={"status": "lost", "cursor": "not-a-cursor"})
    assert response.status_code == 422
    assert_obeys_the_csp(response.text)
    status_field = re.search(r"<label>Status.*?</label>", response.text).group(0)
    assert "one of queued, submitted, succeeded, failed, cancelled" in status_field
    assert "cursor: not a cursor this API returned" in response.text
    assert 'data-testid="jobs-table"' not in response.text


async def test_a_jobs_page_shows_its_request_error_and_callback_deliveries(start_ig, fake_runware, receiver):
    ig = await start_ig(fake_runware, callback_secret=SECRET)
    fake_runware.result_error = {"code": "invalidPositivePrompt", "message": "prompt refused by the model"}
    body = {**IMAGE_JOB, "params": {**IMAGE_JOB["params"], "numberResults": 1}, "callback_url": receiver.url}
    failed = await finished(ig, body)
    await receiver.wait_for(1)
    await ig.drained()

    response = await ig.client.get(f"/jobs/{failed['id']}")
    assert response.status_code == 200
    page = response.text
    assert_obeys_the_csp(page)
    assert 'data-testid="job-live"' not in page  # finished: nothing to follow, nothing to cancel
    error = re.search(r'data-testid="job-error">.*?</section>', page, re.S).group(0)
    assert "<code>invalidPositivePrompt</code>" in error and "prompt refused by the model" in error
    assert "<details><summary>The provider's answer</summary><pre>" in error
    request = re.search(r'data-testid="job-request">.*?</section>', page, re.S).group(0)
    assert "<th>positivePrompt</th><td>a red fox in snow</td>" in request
    assert "<th>seed</th><td><code>42</code></td>" in request
    assert '<span class="tag">channel:art</span>' in request
    deliveries = re.search(r'data-testid="job-deliveries">.*?</section>', page, re.S).group(0)
    assert "job.failed" in deliveries and receiver.url in unescape(deliveries)


async def test_an_open_jobs_page_follows_it_and_offers_to_cancel_it(start_ig, fake_runware):
    ig = await start_ig(fake_runware, webhooks=False)
    fake_runware.polls_before_done = 10**6
    job = (await ig.submit({**IMAGE_JOB, "params": {**IMAGE_JOB["params"], "numberResults": 1}})).json()
    page = (await ig.client.get(f"/jobs/{job['id']}")).text
    assert f'data-job-live="{job["id"]}"' in page
    assert f'data-cancel-job="{job["id"]}"' in page
    assert '<script src="/static/activity.js?v=' in page


async def test_an_unknown_job_is_a_404_page(start_ig):
    ig = await start_ig(None, webhooks=False)
    response = await ig.client.get("/jobs/no-such-job")
    assert response.status_code == 404
    assert "no job no-such-job" in response.text


async def test_the_create_form_offers_the_presets_variables_models_by_task_and_usable_providers(start_ig):
    ig = await start_ig(None, webhooks=False)
    preset = {
        "model": "flux-schnell",
        "provider": "mock",
        "params": {"prompt": "{subject} at {hour}", "steps": "{steps}"},
    }
    assert (await ig.client.put("/v1/presets/scene", json=preset)).status_code in (200, 201)
    response = await ig.client.get("/create")
    assert response.status_code == 200
    page = response.text
    assert_obeys_the_csp(page)
    assert "<noscript>" in page
    for task, alias in (("imageInference", "flux-schnell"), ("videoInference", "kling-2.5-turbo")):
        group = re.search(rf'<optgroup label="{task}">(.*?)</optgroup>', page).group(1)
        assert f'value="{alias}" data-task="{task}"' in group
    flux = re.search(r'<option value="flux-schnell"[^>]*>', page).group(0)
    assert 'data-providers="runware fal replicate mock"' in flux and " selected" in flux
    assert '<option value="scene" data-task="imageInference">scene (v1)</option>' in page
    variables = re.search(r'<div class="preset-variables" data-preset="scene" hidden>.*?</span></div></div>', page)
    inputs = re.findall(r"<input [^>]*>", variables.group(0))
    assert [re.search(r'data-variable="(\w+)"', i).group(1) for i in inputs] == ["hour", "steps", "subject"]
    assert ["data-json" in i for i in inputs] == [False, True, False]  # only a whole value keeps its JSON type
    # Without a Runware key, the form starts on a provider that can run the job.
    assert '<option value="runware" disabled title="RUNWARE_API_KEY is not configured' in page
    assert '<option value="mock" selected>mock</option>' in page


async def test_with_the_default_provider_configured_the_form_leaves_the_choice_to_ig(start_ig, fake_runware):
    ig = await start_ig(fake_runware, webhooks=False, mock_provider=False)
    page = (await ig.client.get("/create")).text
    assert '<option value="" selected>ig\'s default (runware)</option>' in page
    assert '<option value="mock" disabled' in page  # IG_MOCK_PROVIDER is off
    assert 'data-testid="create-source"' not in page  # no presets: nothing to choose between


async def test_the_usage_view_charts_the_numbers_of_v1_usage(start_ig):
    ig = await start_ig(None, webhooks=False)
    empty = await ig.client.get("/usage")
    assert empty.status_code == 200
    assert "<svg" not in empty.text and empty.text.count("No jobs in this period.") == 6
    assert empty.text.count("No tagged jobs in this period.") == 2
    for model, tags in (("m-one", ["team:a"]), ("m-one", ["team:a", "draft"]), ("m-two", [])):
        await finished(ig, mock_job(model=model, tags=tags))

    response = await ig.client.get("/usage", params={"days": "7"})
    page = response.text
    assert_obeys_the_csp(page)
    since = re.search(r'<time datetime="([^"]+)" data-since>', page).group(1)
    assert '<option value="7" selected>last 7 days</option>' in page
    for group in ("day", "model", "provider", "tag"):
        usage = (await ig.client.get("/v1/usage", params={"group_by": group, "since": since})).json()["items"]
        figure = re.search(rf'data-testid="chart-jobs-{group}">.*?</figure>', page).group(0)
        assert f'aria-label="Jobs by {group}"' in figure and f"<title>Jobs by {group}</title>" in figure
        drawn = dict(re.findall(r'data-label="([^"]+)" data-value="([^"]+)"', figure))
        assert {k: float(v) for k, v in drawn.items() if float(v)} == {i["key"]: i["jobs"] for i in usage}
        if group == "tag":
            assert {i["key"]: i["jobs"] for i in usage} == {"team:a": 2, "draft": 1}
        cost = re.search(rf'data-testid="chart-cost-{group}">.*?</figure>', page).group(0)
        assert "No cost reported in this period." in cost  # the mock costs nothing
    assert (
        len(re.findall(r'data-label="[^"]+"', page.split('data-testid="chart-jobs-day"')[1].split("</figure>")[0])) == 7
    )

    assert (await ig.client.get("/usage", params={"days": "12"})).status_code == 200  # not offered: the default
    assert '<option value="30" selected>' in (await ig.client.get("/usage", params={"days": "x"})).text
