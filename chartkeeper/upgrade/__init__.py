"""An upgrade of one pinned chart, resolved once and shared by `diff` and `bump`.

* `target` — which version: exact, constraint, or the newest the lock allows
* `fetch`  — one listing of the chart's versions, and NEW fetched, verified and staged once:
  `diff` analyses that staged copy, `bump` analyses it and vendors it
"""
