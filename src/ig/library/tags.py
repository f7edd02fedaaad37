"""Tags: the one rule for what a tag is (normalised, then checked) and the one limit on how many
a job or an artifact holds, which the database enforces inside the write (migration 0004)."""

from __future__ import annotations

import unicodedata

from ig.errors import FieldError, ValidationFailed
from ig.ports import Database, Statement

MAX_TAGS = 50
MAX_TAG_LENGTH = 128
_NOT_IN_TAGS = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
"""Unicode categories a tag may not hold: control, format (zero-width and bidi marks, BOM) and
surrogate characters, line and paragraph separators; invisible, or able to disguise a tag."""
TAG_RULE = (
    f"1 to {MAX_TAG_LENGTH} characters once normalised to Unicode NFC with surrounding whitespace removed; "
    "no control, format (zero-width, bidi, BOM) or line/paragraph separator characters"
)
TAG_PATTERN = (
    r"^[^\u0000-\u001f\u007f-\u009f\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890-\u0891\u08e2\u180e"
    r"\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb]*$"
)
"""``TAG_RULE``'s refusals within the Basic Multilingual Plane, as a pattern for the API document
(normalising, and the few format characters beyond the BMP, only ``normalize_tag`` does)."""


def normalize_tag(value: str) -> str:
    """The tag as stored and matched (NFC, trimmed), or ``ValueError`` saying what is wrong: so
    "café" typed either way, or with a stray space, is one tag."""
    tag = unicodedata.normalize("NFC", value).strip()
    if not 1 <= len(tag) <= MAX_TAG_LENGTH:
        raise ValueError(f"tags are 1 to {MAX_TAG_LENGTH} characters, not counting surrounding whitespace")
    for char in tag:
        if unicodedata.category(char) in _NOT_IN_TAGS:
            raise ValueError(f"tags may not contain control, format or separator characters (U+{ord(char):04X})")
    return tag


TAG_LIMIT_REACHED = "ig: at most 50 tags"
"""What the tag-limit triggers (migration 0004) abort a write with."""


async def write_tags(db: Database, statements: list[Statement], field: str) -> None:
    """Run a batch that adds tags; the database refuses a 51st tag on a job or an artifact
    inside the write itself (checked before writing, concurrent edits could pass it together)."""
    try:
        await db.batch(statements)
    except Exception as exc:
        if TAG_LIMIT_REACHED not in str(exc):
            raise
        raise ValidationFailed(
            [FieldError(field, f"at most {MAX_TAGS} tags per job or artifact", "too_many")]
        ) from None
