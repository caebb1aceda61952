"""Upstream chart sources: one small interface (`Source`), three kinds behind it.

* `http`  — a classic Helm repository (`index.yaml` + archives) over HTTP(S)
* `oci`   — an OCI registry (`oci://host/path`), tags through the distribution API
* `local` — a folder or `file://` path holding `index.yaml` and archives (an offline bundle)

`open_source(repository, settings)` (factory.py) picks the kind from the URL after applying mirrors.
"""

from chartkeeper.sources.base import ChartRelease, Source
from chartkeeper.sources.factory import open_source

__all__ = ["ChartRelease", "Source", "open_source"]
