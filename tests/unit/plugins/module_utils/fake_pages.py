# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""botocore's own paginators for fake clients: the module_utils read every page with ``client.get_paginator``."""

from __future__ import annotations

import functools

import botocore.paginate
import botocore.session
from botocore import xform_name


@functools.lru_cache(maxsize=None)
def _model(service, method_name):
    session = botocore.session.get_session()
    service_model = session.get_service_model(service)
    operation = {xform_name(name): name for name in service_model.operation_names}[method_name]
    return session.get_paginator_model(service).get_paginator(operation), service_model.operation_model(operation)


def paginator(service, method_name, page):
    """The paginator botocore builds for ``method_name`` of ``service``, asking ``page(**kwargs)`` for each page."""
    config, operation_model = _model(service, method_name)
    return botocore.paginate.Paginator(page, config, operation_model)
