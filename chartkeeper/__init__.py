"""chartkeeper: keep vendored Helm charts of an air-gapped helmfile deployment up to date."""

__version__ = "0.1.0.dev0"
