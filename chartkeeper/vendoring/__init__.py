"""Vendoring: fetch, safely unpack, make offline, checksum, verify and swap in charts.

* `unpack.safe_extract`   — untrusted archive -> chart folder, or a precise refusal
* `treesum`               — deterministic tree checksum and per-file manifest, drift
* `offline`               — every dependency under charts/, `repository: file://charts/<name>`
* `stage.stage_chart`     — all of the above into a staging folder; `swap_in` / `install`
* `verify.verify_tree`    — vendored folders against the lock
"""
