"""The methods compared, defined once: key, names, trade-off parameter and plot style.

:data:`METHODS` holds the paper's methods in the paper's row order (Table III): the relevance-only model,
the re-rankers MMR, DUM and DPP, and the fine-tuning methods DDT (static and adaptive β) and MDR. MMR and
DPP come twice: over divlib's trade-off grids on a candidate pool (``mmr``, ``dpp``), and with the one
setting the paper ran, EXPLORE's, over every unseen item (``mmr-paper``, ``dpp-paper``;
:func:`divlib.rerank.paper_rerankings`).
:data:`ANCHORS` are the two rankings that make ground-truth numbers readable (most popular,
random; :func:`divlib.study.evaluation.anchor_lists`), evaluated beside the re-rankers
(:data:`RERANKERS`). :data:`LEARNED` holds DGRec, a recommender of its own trained for diversity
(:mod:`divlib.dgrec`), whose lists are evaluated beside them too.
:data:`VARIANTS` are the other rules of choosing β that the ``adaptive_beta`` experiment runs beside
the paper's (run labels ``ddt-adaptive-RULE``); no table shows them.

Two methods have a legend label in the figures that differs from their label in the tables and text
(``relevance only`` / ``Relevance only``, ``DDT, adaptive β`` / ``DDT-adaptive``): both spellings are
kept so that the published figures and tables keep their bytes.
"""

from dataclasses import dataclass

from divlib.errors import DivlibError
from divlib.train.diversify import FINETUNE_METHODS


@dataclass(frozen=True)
class Method:
    """One method: its key in summaries and run names, its labels, parameter symbol and plot style.

    ``symbol``: the trade-off parameter of its grid (β, λ, θ); None for a method with one setting.
    """

    key: str
    label: str  # tables and text
    legend: str  # figure legends
    symbol: str | None
    color: str
    marker: str

    @property
    def trained(self) -> bool:
        """A method of :func:`divlib.train.finetune` (else a re-ranker or the base model)."""
        return self.key in FINETUNE_METHODS


METHODS: tuple[Method, ...] = (
    Method("base", "Relevance only", "relevance only", None, "black", "o"),
    Method("mmr", "MMR", "MMR", "λ", "tab:green", "^"),
    Method("mmr-paper", "MMR (λ = 0.5, EXPLORE)", "MMR, EXPLORE", None, "tab:olive", "<"),
    Method("dum", "DUM", "DUM", None, "tab:purple", "D"),
    Method("dpp", "DPP", "DPP", "θ", "tab:red", "v"),
    Method("dpp-paper", "DPP (q = r, EXPLORE)", "DPP, EXPLORE", None, "tab:pink", ">"),
    Method("ddt", "DDT", "DDT", "β", "tab:blue", "o"),
    Method("ddt-adaptive", "DDT-adaptive", "DDT, adaptive β", None, "tab:cyan", "*"),
    Method("mdr", "MDR", "MDR", "β", "tab:orange", "s"),
)
ANCHORS: tuple[Method, ...] = (  # rankings without a model, to read ground-truth numbers against
    Method("popular", "Most popular", "Most popular", None, "sienna", "P"),
    Method("random", "Random", "Random", None, "darkgray", "X"),
)
LEARNED: tuple[Method, ...] = (  # baselines trained for diversity on their own (divlib.dgrec)
    Method("dgrec", "DGRec", "DGRec", None, "tab:brown", "h"),
)
# the re-rankers of a pretrained model: each setting run is a point of its relevance–diversity curve
RERANKERS: tuple[str, ...] = ("mmr", "mmr-paper", "dum", "dpp", "dpp-paper")
VARIANTS: tuple[
    Method, ...
] = (  # run labels of other rules for ddt-adaptive (the adaptive_beta experiment)
    Method(
        "ddt-adaptive-normalized",
        "DDT-adaptive, β = b/(a+b)",
        "DDT, adaptive β = b/(a+b)",
        None,
        "tab:gray",
        "x",
    ),
    Method(
        "ddt-adaptive-min-norm-adam",
        "DDT-adaptive, β* in Adam's metric",
        "DDT, adaptive β* (Adam's metric)",
        None,
        "darkgoldenrod",
        "+",
    ),
)
BY_KEY: dict[str, Method] = {
    method.key: method for method in (*METHODS, *ANCHORS, *LEARNED, *VARIANTS)
}
ROWS: tuple[str, ...] = tuple(method.key for method in METHODS)  # the paper's row order


def lookup(key: str) -> Method:
    """The method of ``key``; a DivlibError naming the known keys otherwise."""
    if key not in BY_KEY:
        raise DivlibError(f"unknown method {key!r}; known methods: {', '.join(BY_KEY)}")
    return BY_KEY[key]
