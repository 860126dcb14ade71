"""sandbox/README.md works from any checkout: it names no path of one machine."""

import pathlib
import re

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def test_the_sandbox_readme_names_no_path_of_one_machine():
    text = README.read_text()
    found = re.findall(r"(?:^|[\s`'\"(])(/(?:work|home|root|Users)/\S*)", text, re.M)
    assert found == [], "sandbox/README.md: use paths from the checkout's root, not {0}".format(found)
