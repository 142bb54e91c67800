"""The one vocabulary of methods: the paper's rows, what trains, and the spellings outputs depend on."""

from typing import get_args

import pytest

from divlib import DivlibError
from divlib.study.methods import ANCHORS, BY_KEY, METHODS, RERANKERS, ROWS, VARIANTS, lookup
from divlib.study.params import Method
from divlib.train.diversify import FINETUNE_METHODS


def test_the_rows_are_the_papers_order_and_every_key_is_defined_once():
    assert ROWS == (
        "base",
        "mmr",
        "mmr-paper",
        "dum",
        "dpp",
        "dpp-paper",
        "ddt",
        "ddt-adaptive",
        "mdr",
    )
    assert list(BY_KEY) == [*ROWS, "popular", "random", "dgrec", *(v.key for v in VARIANTS)]
    assert RERANKERS == ("mmr", "mmr-paper", "dum", "dpp", "dpp-paper")
    assert [anchor.key for anchor in ANCHORS] == ["popular", "random"]


def test_the_trained_methods_are_those_finetune_and_params_yaml_accept():
    trained = tuple(method.key for method in METHODS if method.trained)
    assert trained == FINETUNE_METHODS == ("ddt", "ddt-adaptive", "mdr") == get_args(Method)


def test_a_grid_method_has_a_parameter_symbol_and_every_method_its_own_colour():
    assert {m.key: m.symbol for m in METHODS if m.symbol} == {
        "mmr": "λ",
        "dpp": "θ",
        "ddt": "β",
        "mdr": "β",
    }
    colors = [m.color for m in BY_KEY.values()]
    assert len(set(colors)) == len(colors)


def test_legends_keep_the_published_figures_spelling():
    """Two legends differ from the tables' labels; changing either changes the published outputs."""
    differ = {m.key: (m.label, m.legend) for m in BY_KEY.values() if m.label != m.legend}
    assert differ == {
        "base": ("Relevance only", "relevance only"),
        "ddt-adaptive": ("DDT-adaptive", "DDT, adaptive β"),
        "mmr-paper": ("MMR (λ = 0.5, EXPLORE)", "MMR, EXPLORE"),
        "dpp-paper": ("DPP (q = r, EXPLORE)", "DPP, EXPLORE"),
        "ddt-adaptive-normalized": ("DDT-adaptive, β = b/(a+b)", "DDT, adaptive β = b/(a+b)"),
        "ddt-adaptive-min-norm-adam": (
            "DDT-adaptive, β* in Adam's metric",
            "DDT, adaptive β* (Adam's metric)",
        ),
    }


def test_an_unknown_key_is_an_error_naming_the_known_ones():
    assert lookup("mdr").label == "MDR"
    with pytest.raises(DivlibError, match="unknown method 'xyz'; known methods: base, mmr"):
        lookup("xyz")
