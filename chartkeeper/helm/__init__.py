"""The Helm engine: one facade over helm-python-sdk (render, lint, package, load) and the helm binary."""
