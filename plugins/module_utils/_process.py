# -*- coding: utf-8 -*-
# Copyright: contributors to the mdl.herd collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A module's own process, and Python's garbage collector.

A module of this collection that calls AWS imports ansible-core's module_utils, boto3, botocore, requests and the
collection's code: hundreds of thousands of objects that live as long as the process. Python's collector runs every few
hundred allocations, and each of its full passes walks all of them again, while botocore loads its service models and
the module does its work. Measured on herd_upgrade_invoke with nothing to do (docs/benchmarks-profile.md, "A tenth
look"): about 0.09 s of its 0.53 s.

So such a module, run by Ansible (as ``__main__``), turns the collector off as its first statement after its
documentation, before its imports, and ``main()`` calls ``imports_loaded()`` first: what is loaded by then is moved out
of the collector's sight (``gc.freeze()``: reference counting still frees them, the collector no longer walks them,
and a cycle among them, if any, lives as long as the process) and the collector runs again, for what the run itself
creates. Imported any other way (unit tests), a module leaves the collector alone, and ``imports_loaded()`` does
nothing.
"""

from __future__ import annotations

import gc


def imports_loaded():
    """The module's imports are done: the collector runs again, without walking what they loaded."""
    if gc.isenabled():  # not turned off by the module (imported, not run by Ansible): nothing to do
        return
    gc.freeze()
    gc.enable()
