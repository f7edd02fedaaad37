"""On the Worker, an output whose length is declared goes from the provider's response into R2
without its bytes entering Python (fetch body -> FixedLengthStream -> R2 put, hashed by
crypto.DigestStream on a tee), and the media probe reads what it needs back from R2 by range.
What is stored must be exactly what the streaming path stores: the bytes, their sha256 and size,
the content type, and the probe's width, height and duration, for formats whose headers sit at
the start, past a large head, or at the end."""

from __future__ import annotations

import hashlib

import pytest
from fixtures import media_samples as samples

from .ig_worker import image_job

MB = 1_000_000
MiB = 1024 * 1024

CASES = {
    # Over 16 MiB: the Python path would have made a multipart upload (etag "-N"); one put means native.
    "mp4-moov-after-20-MB": (samples.mp4(faststart=False, mdat_bytes=20 * MB), "video/mp4", (320, 240, 2.5)),
    "jpeg-150-KB-exif": (samples.jpeg(width=1025, height=769, exif_bytes=150_000), "image/jpeg", (1025, 769, None)),
    "mp3-600-KB-id3": (
        samples.mp3(id3_padding=600_000),
        "audio/mpeg",
        (None, None, round(samples.mp3_duration(), 3)),
    ),
    "ogg-opus-1-h": (samples.ogg_opus(seconds=3600.0), "audio/ogg", (None, None, 3600.0)),
    "wav-18-MB": (samples.wav(seconds=18 * MB / 8000), "audio/wav", (None, None, 18 * MB / 8000)),
}


@pytest.mark.parametrize("name", CASES)
def test_a_download_of_known_length_is_stored_by_the_runtime_and_probed_from_r2(ig, name):
    data, content_type, (width, height, seconds) = CASES[name]
    ig.fake.extra_result_fields = {"imageURL": ig.fake.add_media(f"{name}.bin", data)}
    ig.h.r2_puts()
    job_id = ig.complete_by_webhooks(image_job(1))
    [artifact] = ig.artifacts(job_id)
    # One put of the download's stream, not bytes from Python (nor a multipart upload)
    assert {"key": artifact["blob_key"], "value": "stream"} in ig.h.r2_puts()
    obj = ig.blob(artifact["blob_key"])
    assert obj["body"] == data and obj["size"] == len(data)
    assert "-" not in obj["etag"], obj["etag"]
    assert obj["httpMetadata"] == {"contentType": content_type}
    assert (artifact["size"], artifact["sha256"]) == (len(data), hashlib.sha256(data).hexdigest())
    assert artifact["content_type"] == content_type
    assert (artifact["width"], artifact["height"], artifact["duration_seconds"]) == (width, height, seconds)
    r = ig.fetch("GET", f"/v1/artifacts/{artifact['id']}/content", headers={"range": "bytes=0-99"})
    assert r.status == 206 and r.body == data[:100]


def test_the_same_output_without_a_declared_length_is_stored_through_python_with_the_same_record(ig):
    data, content_type, (width, height, seconds) = CASES["mp4-moov-after-20-MB"]
    ig.fake.media_chunked = True
    ig.fake.extra_result_fields = {"imageURL": ig.fake.add_media("chunked.mp4", data)}
    job_id = ig.complete_by_webhooks(image_job(1))
    [artifact] = ig.artifacts(job_id)
    obj = ig.blob(artifact["blob_key"])
    assert obj["body"] == data and obj["etag"].endswith("-3")  # 8 + 8 + 3.07 MiB parts
    assert (artifact["size"], artifact["sha256"]) == (len(data), hashlib.sha256(data).hexdigest())
    assert (artifact["width"], artifact["height"], artifact["duration_seconds"]) == (width, height, seconds)


def test_a_download_cut_short_stores_nothing_and_is_retried_until_it_arrives_whole(ig):
    data, content_type, _ = CASES["wav-18-MB"]
    ig.fake.media_cut_after = 5 * MiB  # Content-Length says 18 MB; the connection closes after 5 MiB
    ig.fake.extra_result_fields = {"imageURL": ig.fake.add_media("cut.wav", data)}
    job_id = ig.submitted(image_job(1))
    ig.deliver_results(job_id)
    batch = ig.h.queue("ig-jobs", max_batch_size=1)
    [message] = batch["messages"]
    assert message["outcome"] == "retried", message  # not acked: the message comes back
    assert ig.artifacts(job_id) == [] and ig.results(job_id)[0]["stored_at"] is None
    assert [key for key in ig.h.r2_keys() if key.startswith("artifacts/")] == []  # no partial object
    ig.fake.media_cut_after = None
    ig.drain()
    [artifact] = ig.artifacts(job_id)
    assert ig.blob(artifact["blob_key"])["body"] == data
    assert (artifact["size"], artifact["sha256"]) == (len(data), hashlib.sha256(data).hexdigest())
    assert artifact["content_type"] == content_type
