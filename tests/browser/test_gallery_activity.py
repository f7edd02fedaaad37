"""The jobs view, the create form and the usage view in Chromium, against ``ig serve`` with the
mock provider (and, where a provider must fail or keep a job open, the fake Runware): what the
pages show is checked against ig's database and API."""

from __future__ import annotations

import json
import re

from playwright.sync_api import expect

SLOW_MS = 30_000
"""A job on the fake Runware is polled after 2 s, then 2, 3, 5 ... s (no webhooks here)."""


def _with_fake_runware(serve_ig, fake_runware):
    return serve_ig(RUNWARE_API_KEY=fake_runware.api_key, RUNWARE_API_URL=fake_runware.url, IG_MEDIA_HOSTS="127.0.0.1")


def _submit(ig, body: dict) -> str:
    response = ig.api.post("/v1/jobs", json=body)
    assert response.status_code == 202, response.text
    return response.json()["id"]


def _finished(ig, job_id: str) -> dict:
    return ig.api.get(f"/v1/jobs/{job_id}", params={"wait": 20}, timeout=30).json()


def test_the_create_form_makes_one_job_and_shows_its_outputs(serve_ig, open_page):
    ig = serve_ig()
    page = open_page(ig, "/create")
    # Runware has no key here: the form starts on a provider that can run, the mock.
    expect(page.get_by_test_id("create-provider")).to_have_value("mock")
    expect(page.get_by_test_id("create-task")).to_have_text("imageInference")
    page.get_by_test_id("create-prompt").fill("a lighthouse made of glass")
    page.get_by_test_id("create-width").fill("128")
    page.get_by_test_id("create-height").fill("192")
    page.get_by_test_id("create-outputs").fill("2")
    page.get_by_test_id("create-tags").fill("from-form, glass")
    page.get_by_test_id("create-submit").dblclick()  # a double click sends one job

    progress = page.get_by_test_id("create-progress")
    expect(progress).to_have_attribute("data-done", "true", timeout=SLOW_MS)
    expect(progress).to_have_attribute("data-state", "succeeded")
    results = page.get_by_test_id("create-result")
    expect(results).to_have_count(2)
    expect(results.locator("img")).to_have_count(2)  # thumbnails, not placeholders
    for image in results.locator("img").all():
        expect(image).to_have_js_property("complete", True)
        assert 0 < image.evaluate("i => i.naturalWidth") <= 512
    shown = [r.get_attribute("data-artifact-id") for r in results.all()]

    [job] = ig.rows("SELECT id, provider, params FROM jobs WHERE params LIKE ?", ("%lighthouse made of glass%",))
    assert ig.rows("SELECT count(*) AS n FROM jobs")[0]["n"] == 1
    assert job["provider"] == "mock"
    assert json.loads(job["params"])["width"] == 128
    stored = [r["id"] for r in ig.rows("SELECT id FROM artifacts WHERE job_id = ? ORDER BY seq", (job["id"],))]
    assert shown == stored
    assert ig.api.get(f"/v1/jobs/{job['id']}").json()["tags"] == ["from-form", "glass"]
    expect(progress.get_by_role("link", name="Open the job page")).to_have_attribute("href", f"/jobs/{job['id']}")
    results.first.click()
    expect(page).to_have_url(f"{ig.url}/artifacts/{shown[0]}")


def test_a_refused_request_shows_its_problems_beside_the_fields(serve_ig, open_page, page_problems):
    ig = serve_ig()
    page_problems.expected.append("422")  # Chromium logs each refused POST
    preset = {"model": "flux-schnell", "provider": "mock", "params": {"prompt": "a poster of {subject}", "width": 64}}
    assert ig.api.put("/v1/presets/poster", json=preset).status_code in (200, 201)
    page = open_page(ig, "/create")

    page.get_by_test_id("create-width").fill("1")
    page.get_by_test_id("create-submit").click()
    width = page.locator(".field", has=page.get_by_test_id("create-width"))
    expect(width.get_by_role("alert")).to_contain_text("greater than or equal to 64")
    prompt = page.locator(".field", has=page.get_by_test_id("create-prompt"))
    expect(prompt.get_by_role("alert")).to_contain_text("positivePrompt")
    expect(page.get_by_test_id("create-problem")).to_be_hidden()  # every problem found its field

    # From a preset: its variable has an input, and a missing one is named beside it.
    page.get_by_label("a preset").check()
    expect(page.get_by_test_id("create-model")).to_be_hidden()
    expect(page.get_by_test_id("create-preset")).to_have_value("poster")
    page.get_by_test_id("create-width").fill("")
    page.get_by_test_id("create-submit").click()
    subject = page.locator(".field", has=page.get_by_test_id("variable-subject"))
    expect(subject.get_by_role("alert")).to_contain_text("needs this variable")
    expect(width.locator(".field-error")).to_be_empty()  # the earlier problems are gone
    assert ig.rows("SELECT count(*) AS n FROM jobs")[0]["n"] == 0

    page.get_by_test_id("variable-subject").fill("a comet")
    page.get_by_test_id("create-submit").click()
    expect(page.get_by_test_id("create-progress")).to_have_attribute("data-state", "succeeded", timeout=SLOW_MS)
    [job] = ig.rows("SELECT preset, preset_version, params FROM jobs")
    assert (job["preset"], job["preset_version"]) == ("poster", 1)
    assert "a poster of a comet" in job["params"]


def test_the_jobs_view_lists_jobs_and_shows_a_failed_jobs_error(serve_ig, open_page, fake_runware):
    ig = _with_fake_runware(serve_ig, fake_runware)
    tile = {"provider": "mock", "model": "mock", "task": "imageInference", "tags": ["many"]}
    batch = [{**tile, "params": {"prompt": f"tile {i}", "width": 64, "height": 64}} for i in range(25)]
    answer = ig.api.post("/v1/jobs/batch", json={"jobs": batch})
    assert answer.status_code in (200, 202, 207), answer.text
    made = [item["job"]["id"] for item in answer.json()["items"]]
    for job_id in made:
        assert _finished(ig, job_id)["status"] == "succeeded"
    fake_runware.result_error = {"code": "contentPolicyViolation", "message": "Content flagged by the provider"}
    failed_id = _submit(ig, {"model": "flux-schnell", "params": {"prompt": "something refused"}})
    assert _finished(ig, failed_id)["status"] == "failed"

    page = open_page(ig, "/jobs")
    rows = page.get_by_test_id("job-row")
    expect(rows).to_have_count(25)
    first = rows.first
    expect(first).to_have_attribute("data-job-id", failed_id)  # newest first
    expect(first.get_by_test_id("job-status")).to_have_text("failed")
    error = page.get_by_test_id("job-error")
    expect(error).to_have_count(1)
    expect(error).to_contain_text("contentPolicyViolation")
    expect(error).to_contain_text("Content flagged by the provider")
    expect(rows.nth(1).get_by_test_id("job-status")).to_have_text("succeeded")
    expect(rows.nth(1).get_by_test_id("job-artifact").locator("img")).to_have_count(1)

    page.get_by_test_id("older").click()  # the cursor's next page: the rest, no repeats
    expect(page).to_have_url(re.compile(r"/jobs\?cursor="))
    expect(rows).to_have_count(1)
    listed = {failed_id, *made}
    seen = set(page.get_by_test_id("job-row").evaluate_all("rows => rows.map(r => r.dataset.jobId)"))
    assert seen == {made[0]} and seen <= listed

    page.goto("/jobs")
    page.get_by_test_id("filter-status").select_option("failed")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(f"{ig.url}/jobs?status=failed&tag=&model=&provider=&q=")
    expect(rows).to_have_count(1)
    rows.first.get_by_role("link").first.click()

    expect(page).to_have_url(f"{ig.url}/jobs/{failed_id}")
    panel = page.get_by_test_id("job-error")
    expect(panel).to_contain_text("contentPolicyViolation")
    raw = panel.locator("details")
    expect(raw.locator("pre")).to_be_hidden()  # the provider's answer is folded
    raw.locator("summary").click()
    expect(raw.locator("pre")).to_contain_text("Content flagged by the provider")
    expect(page.get_by_test_id("job-live")).to_have_count(0)


def test_a_bad_filter_is_named_beside_its_field(serve_ig, open_page, page_problems):
    ig = serve_ig()
    page_problems.expected.append("422")  # the page answers 422, which Chromium logs
    page = open_page(ig, "/jobs?status=lost")
    form = page.get_by_test_id("job-filters")
    expect(form.get_by_role("alert")).to_contain_text("one of queued, submitted")
    expect(page.get_by_test_id("jobs-table")).to_have_count(0)


def test_the_job_page_follows_an_open_job_until_it_ends(serve_ig, open_page, fake_runware, page_problems):
    ig = _with_fake_runware(serve_ig, fake_runware)
    fake_runware.polls_before_done = 10**6  # processing until the test says otherwise
    job_id = _submit(ig, {"model": "flux-schnell", "params": {"prompt": "slow", "width": 256, "height": 256}})
    page = open_page(ig, f"/jobs/{job_id}")
    expect(page.get_by_test_id("job-live")).to_be_visible()
    expect(page.get_by_test_id("job-status")).to_have_text("submitted")
    fake_runware.polls_before_done = 0  # the next poll finds the result
    expect(page.get_by_test_id("job-status")).to_have_text("succeeded", timeout=SLOW_MS)
    expect(page.get_by_test_id("job-live")).to_have_count(0)
    [artifact] = ig.api.get(f"/v1/jobs/{job_id}").json()["artifacts"]
    expect(page.get_by_test_id("job-artifacts").get_by_test_id("job-artifact")).to_have_attribute(
        "data-artifact-id", artifact["id"]
    )

    # An open job cancelled from its page: the page says so, and so does the API.
    fake_runware.polls_before_done = 10**6
    open_id = _submit(ig, {"model": "flux-schnell", "params": {"prompt": "never mind"}})
    page.goto(f"/jobs/{open_id}")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_test_id("cancel-job").click()
    expect(page.get_by_test_id("job-status")).to_have_text("cancelled")
    expect(page.get_by_test_id("job-live")).to_have_count(0)
    assert ig.api.get(f"/v1/jobs/{open_id}").json()["status"] == "cancelled"


def test_the_usage_view_draws_what_v1_usage_counts(serve_ig, open_page):
    ig = serve_ig()
    for model in ("flux-schnell", "flux-schnell", "flux-dev", "<script>alert(1)</script>"):
        ig.make({"prompt": "usage", "width": 64, "height": 64}, model=model)
    page = open_page(ig, "/usage")
    expect(page.get_by_test_id("usage-period").locator("select")).to_have_value("30")
    expect(page.locator('[data-total="jobs"]')).to_have_text("4")

    for group in ("day", "model", "provider"):
        since = page.locator("time[data-since]").get_attribute("datetime")
        expected = {
            i["key"]: i["jobs"]
            for i in ig.api.get("/v1/usage", params={"group_by": group, "since": since}).json()["items"]
        }
        chart = page.get_by_test_id(f"chart-jobs-{group}").locator("svg[role=img]")
        expect(chart).to_have_attribute("aria-label", f"Jobs by {group}")
        drawn = chart.locator("rect.bar").evaluate_all(
            "bars => bars.map(b => [b.dataset.label, Number(b.dataset.value), b.getBBox().height, b.getBBox().width])"
        )
        counted = {label: value for label, value, _, _ in drawn if value}
        assert counted == expected, group
        # Bars scale with their values: the largest is the longest.
        size = {label: (height if group == "day" else width) for label, _, height, width in drawn}
        biggest = max(expected, key=expected.get)
        assert all(size[biggest] >= size[label] for label in expected)
        table = page.get_by_test_id(f"usage-table-{group}")
        for key, jobs in expected.items():
            row = table.locator("tr", has=page.locator("th", has_text=key))
            expect(row.locator("td").first).to_have_text(str(jobs))

    # A model's name is text in the chart, never markup.
    labels = page.get_by_test_id("chart-jobs-model").locator("text.label").all_text_contents()
    assert "<script>alert(1)</script>" in labels
    assert page.locator("svg script").count() == 0

    page.get_by_test_id("usage-period").locator("select").select_option("7")
    page.get_by_test_id("usage-period").get_by_role("button").click()
    expect(page).to_have_url(f"{ig.url}/usage?days=7")
    expect(page.locator('[data-total="jobs"]')).to_have_text("4")
