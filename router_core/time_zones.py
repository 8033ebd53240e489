"""The time zone after a timestamp's time, read as the route job's Spark session reads it (Spark's
``DateTimeUtils.getZoneId``: Java's ``ZoneId.of`` with its short ids), so that the readers without Spark
date ``2026-11-01 23:30:00 America/New_York`` as the route job does."""

from __future__ import annotations

import datetime
import re
import zoneinfo
from functools import cache

# java.time.ZoneId.SHORT_IDS: three-letter ids Java reads, some of them not what they mean elsewhere
# (BST is Asia/Dhaka, IST Asia/Kolkata); EST, MST and HST are fixed offsets.
JAVA_SHORT_IDS = {
    "ACT": "Australia/Darwin", "AET": "Australia/Sydney", "AGT": "America/Argentina/Buenos_Aires",
    "ART": "Africa/Cairo", "AST": "America/Anchorage", "BET": "America/Sao_Paulo", "BST": "Asia/Dhaka",
    "CAT": "Africa/Harare", "CNT": "America/St_Johns", "CST": "America/Chicago", "CTT": "Asia/Shanghai",
    "EAT": "Africa/Addis_Ababa", "ECT": "Europe/Paris", "IET": "America/Indiana/Indianapolis",
    "IST": "Asia/Kolkata", "JST": "Asia/Tokyo", "MIT": "Pacific/Apia", "NET": "Asia/Yerevan",
    "NST": "Pacific/Auckland", "PLT": "Asia/Karachi", "PNT": "America/Phoenix", "PRT": "America/Puerto_Rico",
    "PST": "America/Los_Angeles", "SST": "Pacific/Guadalcanal", "VST": "Asia/Ho_Chi_Minh",
    "EST": "-05:00", "MST": "-07:00", "HST": "-10:00",
}  # fmt: skip
# ZoneOffset.of: +h, +hh, +hh:mm, +hhmm, +hh:mm:ss, +hhmmss (Spark first pads +h:mm and +hh:m).
_OFFSET = re.compile(r"([+-])(\d{1,2})(?:(:?)(\d{2})(?:\3(\d{2}))?)?")
_PREFIXED = re.compile(r"(UTC|GMT|UT)([+-].*)?")
_REGION = re.compile(r"[A-Za-z][A-Za-z0-9~/._+-]+")


def _offset(text: str) -> datetime.timezone | None:
    text = re.sub(r"^([+-])(\d):", r"\g<1>0\2:", text)
    text = re.sub(r"^([+-]\d\d):(\d)$", r"\1:0\2", text)
    if not (m := _OFFSET.fullmatch(text)) or (len(m[2]) == 1 and m[4]):
        return None
    h, mi, s = int(m[2]), int(m[4] or 0), int(m[5] or 0)
    if mi > 59 or s > 59 or h * 3600 + mi * 60 + s > 18 * 3600:
        return None
    delta = datetime.timedelta(hours=h, minutes=mi, seconds=s)
    return datetime.timezone(-delta if m[1] == "-" else delta)


def java_zone(text: str) -> datetime.tzinfo | None:
    """The zone of "Z", an offset, UTC/GMT/UT with or without one, a short id or a region id; None for
    text Java does not read as a zone."""
    text = JAVA_SHORT_IDS.get(text, text)
    if not text:
        return None
    if text == "Z":
        return datetime.UTC
    if text[:1] in "+-":
        return _offset(text)
    if m := _PREFIXED.fullmatch(text):
        return _offset(m[2]) if m[2] else datetime.UTC
    if not _REGION.fullmatch(text) or text not in _regions():
        return None
    return zoneinfo.ZoneInfo(text)


@cache
def _regions() -> frozenset[str]:
    """The tz database's region ids, without the files "posixrules", "localtime" and "Factory" (no ids
    to Java)."""
    return frozenset(zoneinfo.available_timezones()) - {"Factory", "localtime", "posixrules"}
