"""Schemathesis hooks for scripts/fuzz.mjs (loaded through SCHEMATHESIS_HOOKS).

Why: Schemathesis generates a `date-time` as a valid RFC 3339 text, and anything else as text
with no shape at all, so it never sent a timestamp with one character changed: the input that
panicked the worker's old timestamp parser (a non-ASCII character at a byte offset it sliced
at) or that it stored past year 9999 (`9999-12-31T23:59:59-23:59`). These strategies add what a
hostile client sends:

- `date-time`: valid times at any offset and fraction (near-future ones, so `scheduledFor` and
  `expiresAt` still succeed), the edges of the accepted range, and mutations of valid times: one
  character replaced by, or one inserted from, non-ASCII of every UTF-8 width and controls.
- `cursor` (a query parameter without a format: the contract calls it opaque): sometimes a forged
  cursor, the hex of such a time and an id, which is what the decoder reads after unhexing.

Everything is drawn through Hypothesis, so `--generation-deterministic` stays deterministic.
"""

from datetime import datetime, timedelta, timezone

import schemathesis
from hypothesis import strategies as st

# Instants are drawn relative to when the run starts, so the near-future ones stay inside the
# API's horizon (1826 days) whatever the date.
NOW = datetime.now(timezone.utc).replace(tzinfo=None)
EPOCH = datetime(1970, 1, 1)
LAST = datetime(9999, 12, 31, 23, 59, 59, 999000)

# Characters that break ASCII grammars: 2-, 3- and 4-byte UTF-8, controls, a full-width digit.
HOSTILE_CHARS = ["é", "٣", "日", "💥", "\u0000", "\u0085", "\u2028", "\ufeff", "\uff11", "+", "-", ":", "Z"]


def text(instant: datetime, offset_minutes: int, digits: int) -> str:
    """`instant` (naive UTC) written in local time at `offset_minutes` east of UTC."""
    try:
        local = instant + timedelta(minutes=offset_minutes)
    except OverflowError:
        return "9999-12-31T23:59:59-23:59"
    if not 1 <= local.year <= 9999:
        return "9999-12-31T23:59:59-23:59"
    frac = f".{local.microsecond:06d}"[: digits + 1] if digits else ""
    sign = "-" if offset_minutes < 0 else "+"
    h, m = divmod(abs(offset_minutes), 60)
    zone = "Z" if offset_minutes == 0 and digits % 2 == 0 else f"{sign}{h:02d}:{m:02d}"
    return (
        f"{local.year:04d}-{local.month:02d}-{local.day:02d}T"
        f"{local.hour:02d}:{local.minute:02d}:{local.second:02d}{frac}{zone}"
    )


offsets = st.one_of(st.just(0), st.integers(-1439, 1439))
digits = st.integers(0, 6)
near_future = st.builds(
    lambda s, o, d: text(NOW + timedelta(seconds=s), o, d),
    st.integers(3600, 4 * 365 * 86400),
    offsets,
    digits,
)
anywhen = st.builds(
    text,
    st.datetimes(min_value=EPOCH, max_value=LAST),
    offsets,
    digits,
)
edges = st.sampled_from(
    [
        "9999-12-31T23:59:59-23:59",
        "9999-12-31T23:59:59.999Z",
        "9999-12-31T23:00:00-01:00",
        "1970-01-01T00:00:00Z",
        "1970-01-01T00:00:00+00:01",
        "1969-12-31T23:59:59.999Z",
    ]
)
valid = st.one_of(near_future, anywhen, edges)


def mutate(s: str, at: int, char: str, insert: bool) -> str:
    i = at % (len(s) + 1)
    return s[:i] + char + s[i + (0 if insert else 1) :]


mutated = st.builds(
    mutate,
    valid,
    st.integers(0, 40),
    st.one_of(st.sampled_from(HOSTILE_CHARS), st.characters()),
    st.booleans(),
)

schemathesis.openapi.format("date-time", st.one_of(near_future, anywhen, edges, mutated, mutated))

# A forged cursor: the hex of "<time>|<id>", the time as above.
ids = st.one_of(st.sampled_from(["ws_0123456789abcdef", "post_x"]), st.text(max_size=20))
forged_cursor = st.builds(lambda t, i: f"{t}|{i}".encode("utf-8", "surrogatepass").hex(), st.one_of(valid, mutated), ids)


@schemathesis.hook
def flatmap_query(ctx, query):
    if not query or "cursor" not in query:
        return st.just(query)
    return st.one_of(st.just(query), forged_cursor.map(lambda c: {**query, "cursor": c}))
