"""The workflow's parameters (``params.yaml``), checked at the boundary: one typed model per section.

Every section rejects unknown keys, reports missing ones, and bounds its values; YAML 1.1 reads ``1e-3``
as a string, which is coerced to the number it spells. :func:`parse_params` turns the first problems into
one :class:`~divlib.errors.DivlibError` line naming each key path and what is allowed, e.g.
``params.yaml: finetune.betas.0: Input should be less than or equal to 1 (got 1.5)``.

The library's own option dataclasses (:class:`divlib.train.FinetuneOptions`, …) do not know these key
names; the sections build them (:meth:`Diversity.options`).
"""

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from divlib.errors import DivlibError
from divlib.methods import TRAINED
from divlib.train.diversify import ADAPTIVE_RULES, SELECTIONS

Count = Annotated[int, Field(ge=1)]
ListSize = Annotated[int, Field(ge=2)]  # a list length with at least one pair (k of DRO@k)
# Numbers keep the type they are written with (``betas: [0, 1]`` names runs ``beta0``, ``beta1``)
Positive = Annotated[int | float, Field(gt=0)]
NonNegative = Annotated[int | float, Field(ge=0)]
Fraction = Annotated[int | float, Field(ge=0, le=1)]
Method = Literal[TRAINED]  # the methods divlib.train.finetune trains
ModelName = Literal["nmf", "mf", "ncf"]
Eps = Positive | Literal["auto"]
Seeds = Annotated[list[Annotated[int, Field(ge=0)]], Field(min_length=1)]
EXPERIMENTS = ("beta_sweep", "main_table", "gain_beyond_k", "training_curves", "adaptive_beta")


class Section(BaseModel):
    """A params.yaml section: unknown keys are errors, values are checked, the object is read-only."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Data(Section):
    seed: Annotated[int, Field(ge=0)]
    test_fraction: Annotated[float, Field(ge=0, lt=1)]
    val_fraction: Annotated[float, Field(ge=0, lt=1)]
    sources: dict[str, str]
    options: dict[str, dict[str, Any] | None]


class Pretrain(Section):
    max_epochs: Count
    patience: Count
    lr: Positive
    batch_size: Count
    weight_decay: NonNegative
    l2: NonNegative
    dim: Count


class Diversity(Section):
    k: ListSize
    eps: Eps
    tau: Positive
    offset: Fraction
    top_m: Count | Literal["auto"] | None

    @model_validator(mode="after")
    def _window_exceeds_k(self):
        if isinstance(self.top_m, int) and self.top_m <= self.k:
            raise ValueError(f"top_m = {self.top_m} must exceed k = {self.k}, or be auto or null")
        return self


class Finetune(Section):
    """The settings every fine-tuning experiment shares (FinetuneOptions without method, β, epochs,
    rule and seed), and where its runs go."""

    lr: Positive
    batch_size: Count
    users_per_step: Count | None
    weight_decay: NonNegative
    select: Literal[SELECTIONS]
    monitor_users: Count
    meta_lr: Positive | None
    devices: Literal["auto"] | Annotated[list[str], Field(min_length=1)]
    cpu_workers: Count

    def settings(self) -> dict:
        """The shared run settings, as keyword arguments of FinetuneOptions."""
        return self.model_dump(exclude={"devices", "cpu_workers"})


class Experiment(Section):
    """One of the paper's experiments: the models it fine-tunes, for how long, over which seeds."""

    models: Annotated[list[ModelName], Field(min_length=1)]
    epochs: Count
    seeds: Seeds | Literal["all"]  # all: the top-level seeds


class Grid(Experiment):
    """The grid method × β × seed."""

    methods: Annotated[list[Method], Field(min_length=1)]
    betas: Annotated[list[Fraction], Field(min_length=1)]


class PerK(Grid):
    """The grid method × β × seed once per list length k (each run trained for its own k)."""

    ks: Annotated[list[ListSize], Field(min_length=1)]


class Curves(Grid):
    """The grid method × β × seed fine-tuned and from scratch (a fresh model, this batch size)."""

    scratch_batch_size: Count


class Adaptive(Experiment):
    """ddt-adaptive once per rule of choosing β (:data:`divlib.train.diversify.ADAPTIVE_RULES`)."""

    rules: Annotated[list[Literal[tuple(ADAPTIVE_RULES)]], Field(min_length=1)]


class Rerank(Section):
    pool: Count
    mmr_lambdas: Annotated[list[Fraction], Field(min_length=1)]
    dpp_thetas: Annotated[list[Annotated[float, Field(ge=0, lt=1)] | None], Field(min_length=1)]


class Evaluate(Section):
    ks: Annotated[list[ListSize], Field(min_length=1)]


class Sensitivity(Section):
    model: ModelName
    method: Method
    beta: Fraction
    eps: Annotated[list[Eps], Field(min_length=1)]
    ks: Annotated[list[ListSize], Field(min_length=1)]
    epochs: Count


class Params(Section):
    """The whole of params.yaml."""

    datasets: Annotated[list[str], Field(min_length=1)]
    models: Annotated[list[ModelName], Field(min_length=1)]
    data: Data
    pretrain: Pretrain
    seeds: Seeds
    diversity: Diversity
    finetune: Finetune
    beta_sweep: Grid
    main_table: Grid
    gain_beyond_k: PerK
    training_curves: Curves
    adaptive_beta: Adaptive
    rerank: Rerank
    evaluate: Evaluate
    sensitivity: Sensitivity

    def experiment(self, name: str) -> Experiment:
        """The section of experiment ``name`` (one of :data:`EXPERIMENTS`)."""
        if name not in EXPERIMENTS:
            raise DivlibError(
                f"unknown experiment {name!r}; the experiments are {', '.join(EXPERIMENTS)}"
            )
        return getattr(self, name)

    def seeds_of(self, name: str) -> list[int]:
        """The seeds of experiment ``name``: its own, or the top-level ``seeds`` (``all``)."""
        seeds = self.experiment(name).seeds
        return list(self.seeds) if seeds == "all" else list(seeds)


def parse_params(data: object, *, source: str = "params.yaml") -> Params:
    """``data`` (params.yaml as loaded by a YAML reader) as :class:`Params`, or a one-line DivlibError."""
    try:
        return Params.model_validate(data)
    except ValidationError as error:
        problems: dict[str, list[str]] = {}
        for problem in error.errors():
            path = ".".join(str(part) for part in problem["loc"] if not _is_branch(part))
            problems.setdefault(path, []).append(_describe(problem, path))
        lines = [f"{path or 'params'}: " + " or ".join(m) for path, m in problems.items()]
        more = f"; and {len(lines) - 3} more" if len(lines) > 3 else ""
        raise DivlibError(f"{source}: " + "; ".join(lines[:3]) + more) from None


def _describe(problem: dict, path: str) -> str:
    if problem["type"] == "extra_forbidden":
        allowed = ", ".join(_section(path.rpartition(".")[0]).model_fields)
        return f"unknown key; the keys here are {allowed}"
    if problem["type"] == "missing":
        return "missing; add it (the repository's params.yaml lists every key)"
    if problem["type"] == "value_error":
        return problem["msg"].removeprefix("Value error, ")
    if problem["type"] == "model_type":
        return f"must be a mapping of keys; got {problem['input']!r}"
    return f"{problem['msg']} (got {problem['input']!r})"


def _section(path: str) -> type[BaseModel]:
    """The section model at a dotted ``path`` of params.yaml ('' is the whole file)."""
    model = Params
    for key in filter(None, path.split(".")):
        model = model.model_fields[key].annotation
    return model


def _is_branch(part: object) -> bool:
    """Union branches appear in error locations as type names (``int``, ``literal['auto']``)."""
    types = {"int", "float", "str", "list", "none"}
    return isinstance(part, str) and (
        part in types or "[" in part or part.startswith("constrained")
    )
