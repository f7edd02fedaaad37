"""The library grid and the artifact page in Chromium: thumbnails that load, filters that narrow the
grid and live in the URL, scrolling through every page once, the provenance shown, tags edited in
place, deleting after a confirmation (and not without), audio and text played and shown, and a text
holding a script shown as text. Each action is checked where it lands: the API's answers and ig's
database."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page, expect

TOKEN = "library-test-token"


def tile_ids(page: Page) -> list[str]:
    return page.locator("[data-testid=grid] [data-testid=tile]").evaluate_all("tiles => tiles.map(t => t.dataset.id)")


def api_ids(ig: Any, **query: Any) -> list[str]:
    return [a["id"] for a in ig.api.get("/v1/artifacts", params={"limit": 500, **query}).json()["items"]]


def artifact_tags(ig: Any, artifact_id: str) -> list[str]:
    sql = "SELECT tag FROM artifact_tags WHERE artifact_seq = (SELECT seq FROM artifacts WHERE id = ?) ORDER BY tag"
    return [r["tag"] for r in ig.rows(sql, (artifact_id,))]


def test_the_grid_shows_the_thumbnails_of_made_images_newest_first(serve_ig, open_page):
    ig = serve_ig()
    for seed, (width, height) in enumerate([(1024, 768), (300, 600), (640, 640), (900, 200), (200, 120)]):
        ig.make({"positivePrompt": f"a fox {seed}", "width": width, "height": height, "seed": seed})
    ig.thumbnails_made(5)
    page = open_page(ig, "/")
    expect(page.locator("[data-testid=tile] img")).to_have_count(5)
    assert tile_ids(page) == api_ids(ig)
    page.wait_for_function("[...document.querySelectorAll('[data-testid=tile] img')].every(i => i.complete)")
    sizes = page.locator("[data-testid=tile] img").evaluate_all(
        "images => images.map(i => [i.naturalWidth, i.naturalHeight, new URL(i.src).pathname])"
    )
    for width, height, path in sizes:
        assert 0 < width <= 512 and 0 < height <= 512, (width, height)
        assert path.startswith("/ui/v1/artifacts/") and path.endswith("/thumbnail")
    # The largest side of each thumbnail is the original's, up to 512: nothing is upscaled.
    assert sorted(max(w, h) for w, h, _ in sizes) == [200, 512, 512, 512, 512]


def test_filters_narrow_the_grid_live_in_the_url_and_survive_a_reload(serve_ig, open_page):
    ig = serve_ig()
    [fox] = ig.make({"positivePrompt": "a fox in snow", "width": 64, "height": 64}, tags=["animal", "winter"])[
        "artifacts"
    ]
    [owl] = ig.make({"positivePrompt": "an owl at night", "width": 64, "height": 64}, tags=["animal"])["artifacts"]
    text_job = {"task": "promptEnhance"}
    [poem] = ig.make({"prompt": "a poem about a fox", "promptMaxLength": 60}, tags=["words"], **text_job)["artifacts"]
    page = open_page(ig, "/")
    expect(page.locator("[data-testid=tile]")).to_have_count(3)
    suggested = page.locator("#tag-suggestions option").evaluate_all("options => options.map(o => o.value)")
    assert suggested == [t["tag"] for t in ig.api.get("/v1/tags").json()["items"]] == ["animal", "winter", "words"]

    page.get_by_label("With all of these tags: tag 1").fill("animal")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(f"{ig.url}/?tag=animal")
    assert tile_ids(page) == [owl["id"], fox["id"]] == api_ids(ig, tag="animal")

    page.get_by_label("With all of these tags: tag 2").fill("winter")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(f"{ig.url}/?tag=animal&tag=winter")
    assert tile_ids(page) == [fox["id"]]

    page.goto("/")
    page.get_by_label("Search prompts and text").fill("fox")
    page.get_by_label("Kind").select_option("text")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(f"{ig.url}/?q=fox&kind=text")
    assert tile_ids(page) == [poem["id"]] == api_ids(ig, q="fox", kind="text")
    page.reload()
    assert tile_ids(page) == [poem["id"]]
    expect(page.get_by_label("Search prompts and text")).to_have_value("fox")

    page.goto("/")
    page.get_by_text("More filters").click()
    page.get_by_label("Without these tags: tag 1").fill("winter")
    page.get_by_label("Source").select_option("output")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(f"{ig.url}/?not_tag=winter&role=output")
    assert tile_ids(page) == [poem["id"], owl["id"]]


def test_scrolling_loads_every_page_once_and_stops_at_the_end(serve_ig, open_page):
    ig = serve_ig()
    ig.make({"positivePrompt": "a fox", "width": 64, "height": 64, "numberResults": 20})
    fragments: list[str] = []
    page = open_page(ig, "/?limit=9", viewport={"width": 800, "height": 600})
    page.on("request", lambda request: fragments.append(request.url) if "fragment=1" in request.url else None)
    page.wait_for_load_state("networkidle")
    assert tile_ids(page) == api_ids(ig)[:9] and fragments == []  # the next page waits for the reader
    page.get_by_test_id("load-more").scroll_into_view_if_needed()
    expect(page.locator("[data-testid=tile]")).to_have_count(18)
    page.get_by_test_id("load-more").scroll_into_view_if_needed()
    expect(page.get_by_test_id("end")).to_be_visible()
    expect(page.get_by_test_id("load-more")).to_have_count(0)
    ids = tile_ids(page)
    assert ids == api_ids(ig) and len(set(ids)) == 20
    assert len(fragments) == 2 and len(set(fragments)) == 2
    assert page.url == f"{ig.url}/?limit=9"  # loaded in place, not by following the link


def test_the_artifact_page_shows_the_provenance_and_edits_tags_in_place(serve_ig, open_page, page_problems):
    ig = serve_ig(token=TOKEN)
    params = {"positivePrompt": "a lighthouse at dusk", "negativePrompt": "blurry", "width": 96, "height": 64}
    [made] = ig.make({**params, "seed": 4242}, tags=["old", "sea"])["artifacts"]
    page = open_page(ig, f"/artifacts/{made['id']}")
    facts = page.get_by_test_id("provenance")
    for shown in ("a lighthouse at dusk", "blurry", "mock", "imageInference", "4242"):
        expect(facts).to_contain_text(shown)
    expect(page.get_by_test_id("params")).to_contain_text("negativePrompt")
    expect(page.get_by_test_id("artifact-media").locator("img")).to_have_js_property("naturalWidth", 96)
    expect(page.get_by_test_id("job-link")).to_have_attribute("href", f"/jobs/{made['job_id']}")

    page.get_by_test_id("tag-input").fill("keeper")
    page.get_by_test_id("tag-input").press("Enter")
    expect(page.locator("#tag-list .chip span")).to_have_text(["keeper", "old", "sea"])
    expect(page.get_by_test_id("tag-input")).to_have_value("")
    page.get_by_role("button", name="Remove tag old").click()
    expect(page.locator("#tag-list .chip span")).to_have_text(["keeper", "sea"])
    assert ig.api.get(f"/v1/artifacts/{made['id']}").json()["tags"] == ["keeper", "sea"]
    assert artifact_tags(ig, made["id"]) == ["keeper", "sea"]

    page_problems.expected.append("422")  # the refused edit, as Chromium logs it
    page.get_by_test_id("tag-input").fill("zero\u200bwidth")
    page.get_by_test_id("tag-input").press("Enter")
    expect(page.locator("#notice .error")).to_contain_text(
        "tags may not contain control, format or separator characters"
    )
    expect(page.locator("#tag-list .chip span")).to_have_text(["keeper", "sea"])
    assert artifact_tags(ig, made["id"]) == ["keeper", "sea"]


def test_delete_asks_first_and_deletes_only_when_confirmed(serve_ig, open_page):
    ig = serve_ig(token=TOKEN)
    [made] = ig.make({"positivePrompt": "a paper boat", "width": 64, "height": 64})["artifacts"]
    page = open_page(ig, f"/artifacts/{made['id']}")
    asked: list[str] = []

    def dismiss(dialog: Any) -> None:
        asked.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", dismiss)
    page.get_by_test_id("delete").click()
    expect(page.get_by_test_id("delete")).to_be_enabled()
    assert asked and "Delete this artifact?" in asked[0]
    assert page.url == f"{ig.url}/artifacts/{made['id']}"
    assert ig.api.get(f"/v1/artifacts/{made['id']}/content").status_code == 200
    assert ig.rows("SELECT deleted_at FROM artifacts WHERE id = ?", (made["id"],)) == [{"deleted_at": None}]

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_test_id("delete").click()
    expect(page).to_have_url(f"{ig.url}/")
    expect(page.locator("#notice")).to_contain_text("The artifact was deleted.")
    assert ig.api.get(f"/v1/artifacts/{made['id']}/content").status_code == 410
    [row] = ig.rows("SELECT deleted_at FROM artifacts WHERE id = ?", (made["id"],))
    assert row["deleted_at"] is not None
    assert tile_ids(page) == []
    page.goto(f"/artifacts/{made['id']}")
    expect(page.get_by_test_id("tombstone")).to_be_visible()
    expect(page.get_by_test_id("provenance")).to_contain_text("a paper boat")


def test_audio_plays_and_text_is_shown_as_text_even_when_it_holds_a_script(serve_ig, open_page):
    ig = serve_ig()
    [audio] = ig.make({"positivePrompt": "a beat"}, task="audioInference")["artifacts"]
    script = "<script>window.ranScript = true</script><b>bold</b>"
    [text] = ig.make({"prompt": script, "promptMaxLength": 100}, task="promptEnhance")["artifacts"]

    page = open_page(ig, f"/artifacts/{audio['id']}")
    player = page.get_by_test_id("artifact-media").locator("audio[controls]")
    expect(player).to_have_attribute("src", f"/ui/v1/artifacts/{audio['id']}/content")
    page.wait_for_function("document.querySelector('audio').readyState >= 1")  # the WAV's header was read
    assert page.evaluate("document.querySelector('audio').duration") == audio["duration_seconds"]

    page.goto(f"/artifacts/{text['id']}")
    shown = page.get_by_test_id("text-content")
    expect(shown).to_contain_text(script)
    assert shown.locator("script, b").count() == 0
    page.goto("/")
    expect(page.locator(".text-start")).to_contain_text(script)
    assert page.locator("main script, main b").count() == 0
    assert page.evaluate("window.ranScript") is None
