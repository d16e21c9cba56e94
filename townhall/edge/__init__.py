"""The nginx edge configuration (`townhall edge-config`)."""

from townhall.edge.config import render_nginx_config

__all__ = ["render_nginx_config"]
