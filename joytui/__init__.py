"""joytui: a terminal dashboard for compute across four provider APIs."""

__version__ = "0.1.0"
