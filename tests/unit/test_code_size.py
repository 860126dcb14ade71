# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every function in plugins/ stays short enough to read: at most 80 lines of code, counted with ast
without docstrings, comments and blank lines. Every module's DOCUMENTATION stays under 700 words."""

from __future__ import annotations

import ast
import io
import os
import tokenize

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PLUGINS = os.path.join(ROOT, "plugins")
MAX_FUNCTION_LINES = 80
MAX_DOCUMENTATION_WORDS = 700


def python_files(top=PLUGINS):
    for folder, _dirs, names in sorted(os.walk(top)):
        for name in sorted(names):
            if name.endswith(".py"):
                yield os.path.join(folder, name)


def _string_lines(tree):
    """Lines taken by docstrings and by the module docs (DOCUMENTATION, EXAMPLES, RETURN)."""
    lines = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) \
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
            lines.update(range(body[0].lineno, body[0].end_lineno + 1))
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str) \
                and any(isinstance(t, ast.Name) and t.id in ("DOCUMENTATION", "EXAMPLES", "RETURN") for t in node.targets):
            lines.update(range(node.lineno, node.end_lineno + 1))
    return lines


def code_lines(source):
    """The numbers of the lines that hold code: not blank, not only a comment, not a docstring or module doc."""
    tree = ast.parse(source)
    code = set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
                          tokenize.ENDMARKER, tokenize.ENCODING):
            continue
        code.update(range(token.start[0], token.end[0] + 1))
    return code - _string_lines(tree), tree


def function_sizes(path):
    """[(qualified name, lines of code)] of every function and method in the file at ``path``."""
    with open(path, encoding="utf-8") as f:
        source = f.read()
    code, tree = code_lines(source)
    sizes = []

    def visit(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                name = prefix + child.name
                span = range(min([d.lineno for d in child.decorator_list] + [child.lineno]), child.end_lineno + 1)
                sizes.append((name, len(code.intersection(span))))
                visit(child, name + ".")
            elif isinstance(child, ast.ClassDef):
                visit(child, prefix + child.name + ".")
            else:
                visit(child, prefix)

    visit(tree, "")
    return sizes


def file_size(path):
    with open(path, encoding="utf-8") as f:
        return len(code_lines(f.read())[0])


def documentation_words(path):
    """Words of the module's DOCUMENTATION string, or None when it has none."""
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "DOCUMENTATION" for t in node.targets):
            return len(node.value.value.split())
    return None


def test_the_counter_sees_code_only():
    source = ('def f(x):\n    """Doc\n    string."""\n    # a comment\n\n    y = (x +\n         1)  # trailing\n'
              '    return y\n')
    code, _tree = code_lines(source)
    assert sorted(code) == [1, 6, 7, 8]


def test_no_function_in_plugins_is_over_80_lines_of_code():
    long_ones = ["{0}::{1} has {2} lines of code".format(os.path.relpath(path, ROOT), name, size)
                 for path in python_files() for name, size in function_sizes(path) if size > MAX_FUNCTION_LINES]
    assert not long_ones, "Split these (at most {0} lines of code each): {1}".format(MAX_FUNCTION_LINES, "; ".join(long_ones))


MODULES = sorted(p for p in python_files(os.path.join(PLUGINS, "modules")) if not p.endswith("__init__.py"))


@pytest.mark.parametrize("path", MODULES, ids=os.path.basename)
def test_module_documentation_is_under_700_words(path):
    words = documentation_words(path)
    assert words is not None, "{0} has no DOCUMENTATION".format(path)
    assert words < MAX_DOCUMENTATION_WORDS, "{0}'s DOCUMENTATION has {1} words; keep it under {2} and move the rest to docs/".format(
        os.path.basename(path), words, MAX_DOCUMENTATION_WORDS)


if __name__ == "__main__":  # a report: the largest files and the longest functions
    files = sorted(((file_size(p), os.path.relpath(p, ROOT)) for p in python_files()), reverse=True)
    functions = sorted(((size, os.path.relpath(p, ROOT) + "::" + name) for p in python_files() for name, size in function_sizes(p)),
                       reverse=True)
    for size, name in files[:5]:
        print("file {0:5d} {1}".format(size, name))
    for size, name in functions[:8]:
        print("function {0:4d} {1}".format(size, name))
    for path in MODULES:
        print("DOCUMENTATION {0:5d} words {1}".format(documentation_words(path), os.path.basename(path)))
