"""The stage scripts' plumbing, now in :mod:`divlib.study.cli`; kept for the scripts that still import
it from here (tables, figures, report) until they import :mod:`divlib.study.cli` themselves."""

from divlib.study.cli import load_params, main_guard
from divlib.study.layout import HERE as LAYOUT

__all__ = ["LAYOUT", "load_params", "main_guard"]
