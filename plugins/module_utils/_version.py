# -*- coding: utf-8 -*-
# Copyright: contributors to the mdl.herd collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How HERD versions compare: Maven's ordering, so that 0.9.0 < 0.10.0 and 0.176.0-SNAPSHOT < 0.176.0.

HERD is released as Maven artifacts, so its build numbers follow Maven's rules:

* numbers compare as numbers (``0.9.0 < 0.10.0``), and trailing zeros do not count
  (``0.176 == 0.176.0``);
* ``.`` and ``-`` separate items, and so does a switch between letters and digits
  (``1.0rc1`` is ``1.0-rc-1``);
* qualifiers rank ``alpha`` (``a``) < ``beta`` (``b``) < ``milestone`` (``m``) < ``rc`` (``cr``)
  < ``snapshot`` < the release itself (``""``, ``ga``, ``final``, ``release``) < ``sp``,
  and any other word ranks after those, alphabetically; letters are compared ignoring case;
* a number ranks above any qualifier (``1.0.1 > 1.0-sp``), and an item after ``-`` ranks
  below one after ``.`` (``1.0-1 < 1.0.1``).

Written from Maven's documented rules (``ComparableVersion``), without depending on Java.

Maven ranks any text, but only a version of HERD's grammar (``_stack.VERSION_RE``) ranks where a
person expects it: ``garbage`` and ``${buildNumber}`` (a build whose version was never filled in)
rank below every release, ``0.176.0 (build 7)`` above 0.176.0. ``comparable`` tells them apart,
and ``compare_strict`` refuses to order them (:class:`IncomparableVersion`).
"""

from __future__ import annotations

from ansible_collections.mdl.herd.plugins.module_utils._stack import VERSION_GRAMMAR, is_version

COMPARE_CHOICES = ("equal", "at_least")

# Known qualifiers in their order; "" is the release itself.
_QUALIFIERS = ("alpha", "beta", "milestone", "rc", "snapshot", "", "sp")
_ALIASES = {"ga": "", "final": "", "release": "", "cr": "rc"}
_SHORT = {"a": "alpha", "b": "beta", "m": "milestone"}
_RELEASE_RANK = str(_QUALIFIERS.index(""))

# Item kinds, in the order Maven ranks mixed kinds when it meets them at the same position:
# a qualifier < a sub-list (after "-") < a number.
_STRING, _LIST, _INT = 0, 1, 2


def _qualifier_rank(word):
    """A string that sorts qualifiers the way Maven does (known ones first, then any other word)."""
    if word in _QUALIFIERS:
        return str(_QUALIFIERS.index(word))
    return "{0}-{1}".format(len(_QUALIFIERS), word)


def _string_item(word, followed_by_digit):
    if followed_by_digit and len(word) == 1 and word in _SHORT:
        word = _SHORT[word]
    word = _ALIASES.get(word, word)
    return (_STRING, _qualifier_rank(word))


def _parse_item(is_digit, text):
    if is_digit:
        return (_INT, int(text))
    return _string_item(text, False)


def _is_null(item):
    kind, value = item
    if kind == _INT:
        return value == 0
    if kind == _STRING:
        return value == _RELEASE_RANK
    return not value


def _normalize(items):
    """Drop trailing null items (0, release qualifiers, empty lists), as Maven does."""
    i = len(items) - 1
    while i >= 0:
        if _is_null(items[i]):
            del items[i]
        elif items[i][0] != _LIST:
            break
        i -= 1


def _sublist(current, stack):
    """Open a sublist in ``current`` (Maven: a "-", or a change between digits and letters, starts one)."""
    sub = []
    current.append((_LIST, sub))
    stack.append(sub)
    return sub


def parse(version):
    """The comparable form of a version: a nested list of (kind, value) items."""
    text = str(version).strip().lower()
    root = []
    stack = [root]
    current = root
    is_digit = False
    start = 0
    for i, char in enumerate(text):
        if char in ".-":
            current.append((_INT, 0) if i == start else _parse_item(is_digit, text[start:i]))
            start = i + 1
            if char == "-":
                current = _sublist(current, stack)
            is_digit = False
        elif char.isdigit() and char.isascii():
            if not is_digit and i > start:
                current.append(_string_item(text[start:i], True))
                start = i
                current = _sublist(current, stack)
            is_digit = True
        else:
            if is_digit and i > start:
                current.append(_parse_item(True, text[start:i]))
                start = i
                current = _sublist(current, stack)
            is_digit = False
    if len(text) > start:
        current.append(_parse_item(is_digit, text[start:]))
    while stack:
        _normalize(stack.pop())
    return root


def _cmp(a, b):
    return (a > b) - (a < b)


def _compare_item(item, other):
    """Compare one item with another item, or with None (nothing at that position)."""
    kind, value = item
    if other is None:
        if kind == _INT:
            return _cmp(value, 0)
        if kind == _STRING:
            return _cmp(value, _RELEASE_RANK)
        return 0 if not value else _compare_item(value[0], None)
    other_kind, other_value = other
    if kind != other_kind:
        return _cmp(kind, other_kind)
    if kind == _LIST:
        return _compare_lists(value, other_value)
    return _cmp(value, other_value)


def _compare_lists(left, right):
    for i in range(max(len(left), len(right))):
        a = left[i] if i < len(left) else None
        b = right[i] if i < len(right) else None
        if a is None:
            result = 0 if b is None else -_compare_item(b, None)
        else:
            result = _compare_item(a, b)
        if result:
            return result
    return 0


def compare(left, right):
    """-1, 0 or 1 as version ``left`` ranks below, equal to or above version ``right``."""
    return _compare_lists(parse(left), parse(right))


class IncomparableVersion(ValueError):
    """A version that is not of HERD's grammar, so that no order with another version means anything."""

    def __init__(self, version):
        super(IncomparableVersion, self).__init__(
            "{0!r} is not a HERD version ({1}): whether another version is older or newer cannot be told".format(
                version, VERSION_GRAMMAR))
        self.version = version


def comparable(version):
    """True when ``version`` is text of HERD's version grammar, which ``compare`` orders as a person would."""
    return is_version(version)


def compare_strict(left, right):
    """``compare(left, right)``, or IncomparableVersion naming the first of them that is not of HERD's grammar."""
    for version in (left, right):
        if not comparable(version):
            raise IncomparableVersion(version)
    return compare(left, right)


def satisfies(actual, expected, how="equal"):
    """True when version ``actual`` is ``expected`` (``how='equal'``) or at least it (``'at_least'``)."""
    if how not in COMPARE_CHOICES:
        raise ValueError("compare must be one of {0}; got {1!r}".format(", ".join(COMPARE_CHOICES), how))
    result = compare(actual, expected)
    return result == 0 if how == "equal" else result >= 0
