"""Variants of the intake process for bench.fhir, to measure what the FHIR door's parts
cost: never imported unless a benchmark puts this directory on the intake's PYTHONPATH.

    .venv/bin/python -m bench.fhir --rates 100 --variant no-bundle-validation

no-bundle-validation     vrp.fhir.bundles.parse skips fhir.resources' Bundle.model_validate
                         (an upper bound on what the R4 check costs; not a safe setting)
memoized-import-string   fhir_core's import_string (one class lookup per entry resource,
                         uncached in fhir_core 1.1) memoized
"""

from __future__ import annotations

import functools
import os
from typing import Any

_VARIANT = os.environ.get("VRP_BENCH_FHIR_VARIANT", "")


class _Unchecked:
    """Stands in for fhir.resources' Bundle: accepts any document."""

    @staticmethod
    def model_validate(doc: Any) -> None:
        """No check."""


if _VARIANT == "no-bundle-validation":
    import vrp.fhir.bundles

    setattr(vrp.fhir.bundles, "Bundle", _Unchecked)  # noqa: B010
elif _VARIANT == "memoized-import-string":
    import fhir_core.types

    found = getattr(fhir_core.types, "import_string")  # noqa: B009
    setattr(fhir_core.types, "import_string", functools.cache(found))  # noqa: B010
elif _VARIANT:
    raise SystemExit(f"unknown VRP_BENCH_FHIR_VARIANT {_VARIANT!r}")
