# -*- coding: utf-8 -*-
# Copyright: contributors to the mdl.herd collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Times as AWS gives them (botocore datetimes, epoch seconds, ISO strings) and as modules return them."""

from __future__ import annotations

import datetime
import email.utils


def as_utc(value):
    """An aware UTC datetime from a botocore datetime, POSIX seconds or an ISO 8601 string; None and '' stay None."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            return value.replace(tzinfo=datetime.timezone.utc)
        return value.astimezone(datetime.timezone.utc)
    if isinstance(value, str):
        return as_utc(datetime.datetime.fromisoformat(value.replace("Z", "+00:00")))
    return datetime.datetime.fromtimestamp(float(value), datetime.timezone.utc)


def to_epoch(value):
    """POSIX seconds from anything ``as_utc`` reads; None stays None."""
    value = as_utc(value)
    return None if value is None else value.timestamp()


def iso(value):
    """ISO 8601 in UTC with milliseconds (the return format of every module) from anything ``as_utc`` reads."""
    value = as_utc(value)
    return None if value is None else value.isoformat(timespec="milliseconds")


def when(value):
    """A time for a person: ``2026-12-05 09:10:03 UTC``; None stays None."""
    value = as_utc(value)
    return None if value is None else value.strftime("%Y-%m-%d %H:%M:%S UTC")


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


def aws_date(response):
    """The Date header of an AWS answer (a dict, or a ClientError's ``response``), as an aware datetime, or None.

    AWS's own clock: what the ages of SSM parameters and the start of an invoke are measured with.
    """
    headers = ((response or {}).get("ResponseMetadata") or {}).get("HTTPHeaders") or {}
    value = headers.get("date")
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.timezone.utc)
    return parsed
