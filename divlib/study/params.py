"""The workflow's parameters (``params.yaml``), checked at the boundary: one typed model per section.

Every section rejects unknown keys, reports missing ones, and bounds its values; numbers must be finite
and not ``true``/``false``, lists must not repeat a value. YAML 1.1 reads ``1e-3`` as a string, which is
coerced to the number it spells. Keys that must agree across sections are checked last (a dataset has a
source, experiments fine-tune pretrained models and seeds, every k is evaluated). :func:`parse_params`
turns the first problems into one :class:`~divlib.errors.DivlibError` line naming each key path and what
is allowed, e.g. ``params.yaml: finetune.betas.0: Input should be less than or equal to 1 (got 1.5)``.

The library's own option dataclasses (:class:`divlib.train.FinetuneOptions`, …) do not know these key
names; the sections build them (:meth:`Diversity.options`).
"""

import re
from typing import Annotated, Literal

import torch
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from divlib.errors import DivlibError
from divlib.study.data.registry import DATASETS
from divlib.train.diversify import ADAPTIVE_RULES, FINETUNE_METHODS, SELECTIONS


def _not_bool(value: object) -> object:
    """YAML's ``true``/``false`` would pass as 1/0; a number field refuses them."""
    if isinstance(value, bool):
        raise ValueError(f"must be a number, not {str(value).lower()}")
    return value


def _distinct(values: list) -> list:
    """A list of settings must not repeat one (it would run, and be named, twice)."""
    repeated = [value for i, value in enumerate(values) if value in values[:i]]
    if repeated:
        raise ValueError(f"lists {repeated[0]!r} more than once; list each value once")
    return values


def _settings(item: object) -> object:
    """A non-empty list of distinct ``item`` values."""
    return Annotated[list[item], Field(min_length=1), AfterValidator(_distinct)]


def _device(name: str) -> str:
    """A device name torch reads (``cpu``, ``cuda:1``)."""
    try:
        torch.device(name)
    except (RuntimeError, ValueError):
        raise ValueError(f"{name!r} is not a torch device; write e.g. cpu or cuda:0") from None
    return name


HOST_PORT = re.compile(r"(?P<host>[\w.-]+|\[[0-9a-fA-F:.]+\]):(?P<port>\d{1,5})")  # a Ray head


def _ray_address(address: str) -> str:
    """A Ray cluster's address as ``ray start`` prints it (``HOST:PORT``), or ``auto``."""
    match = HOST_PORT.fullmatch(address)
    if address != "auto" and not (match and 0 < int(match["port"]) < 65536):
        raise ValueError(
            f"{address!r} is not a Ray cluster's address; write the head's HOST:PORT (e.g. "
            "10.0.0.1:6379), auto, or leave it empty"
        )
    return address


Number = BeforeValidator(_not_bool)
Count = Annotated[int, Number, Field(ge=1)]
Whole = Annotated[int, Number, Field(ge=0)]  # a seed, or a dataset option (each a count or a seed)
ListSize = Annotated[int, Number, Field(ge=2)]  # a list length with at least one pair (k of DRO@k)
# Numbers keep the type they are written with (``betas: [0, 1]`` names runs ``beta0``, ``beta1``)
Positive = Annotated[int | float, Number, Field(gt=0)]
NonNegative = Annotated[int | float, Number, Field(ge=0)]
Fraction = Annotated[int | float, Number, Field(ge=0, le=1)]
Method = Literal[FINETUNE_METHODS]
ModelName = Literal["nmf", "mf", "ncf"]
Eps = Positive | Literal["auto"]
Seeds = _settings(Whole)
EXPERIMENTS = ("beta_sweep", "main_table", "gain_beyond_k", "training_curves", "adaptive_beta")


class Section(BaseModel):
    """A params.yaml section: unknown keys are errors, values are checked, the object is read-only."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Data(Section):
    """Per dataset (:data:`divlib.study.data.registry.DATASETS`): its source and its options (all counts or
    seeds); a dataset without options may leave them out."""

    seed: Whole
    test_fraction: Annotated[float, Number, Field(ge=0, lt=1)]
    val_fraction: Annotated[float, Number, Field(ge=0, lt=1)]
    sources: dict[str, str]
    options: dict[str, dict[str, Whole] | None]


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
    rule and seed)."""

    lr: Positive
    batch_size: Count
    users_per_step: Count | None
    weight_decay: NonNegative
    select: Literal[SELECTIONS]
    monitor_users: Count
    meta_lr: Positive | None

    def settings(self) -> dict:
        """The shared run settings, as keyword arguments of FinetuneOptions."""
        return self.model_dump()


class GridBackend(Section):
    """Where runs go (never what they compute, so no stage depends on it): pretraining and the
    sensitivity grid over ``devices`` (``auto``: every visible GPU, one worker each, else
    ``cpu_workers`` CPU workers); fine-tuning there too (``backend: local``), or with ``ray``, one
    Ray task per run on the cluster at ``address`` (empty: RAY_ADDRESS, else a local Ray
    instance)."""

    backend: Literal["local", "ray"]
    address: Annotated[str, AfterValidator(_ray_address)] | None
    devices: (
        Literal["auto"]
        | Annotated[  # one worker per entry: ["cpu", "cpu"] is two
            list[Annotated[str, AfterValidator(_device)]], Field(min_length=1)
        ]
    )
    cpu_workers: Count


class Experiment(Section):
    """One of the paper's experiments: the models it fine-tunes, for how long, over which seeds."""

    models: _settings(ModelName)
    epochs: Count
    seeds: Seeds | Literal["all"]  # all: the top-level seeds


class Grid(Experiment):
    """The grid method × β × seed."""

    methods: _settings(Method)
    betas: _settings(Fraction)


class PerK(Grid):
    """The grid method × β × seed once per list length k (each run trained for its own k)."""

    ks: _settings(ListSize)


class Curves(Grid):
    """The grid method × β × seed fine-tuned and from scratch (a fresh model, this batch size)."""

    scratch_batch_size: Count


class Adaptive(Experiment):
    """ddt-adaptive once per rule of choosing β (:data:`divlib.train.diversify.ADAPTIVE_RULES`)."""

    rules: _settings(Literal[tuple(ADAPTIVE_RULES)])


class Rerank(Section):
    pool: Count
    mmr_lambdas: _settings(Fraction)
    dpp_thetas: _settings(Annotated[float, Number, Field(ge=0, lt=1)] | None)


class Evaluate(Section):
    ks: _settings(ListSize)


class Sensitivity(Section):
    model: ModelName
    method: Method
    beta: Fraction
    eps: _settings(Eps)
    ks: _settings(ListSize)
    epochs: Count


class Params(Section):
    """The whole of params.yaml."""

    datasets: _settings(str)
    models: _settings(ModelName)
    data: Data
    pretrain: Pretrain
    seeds: Seeds
    diversity: Diversity
    finetune: Finetune
    grid: GridBackend
    beta_sweep: Grid
    main_table: Grid
    gain_beyond_k: PerK
    training_curves: Curves
    adaptive_beta: Adaptive
    rerank: Rerank
    evaluate: Evaluate
    sensitivity: Sensitivity

    @model_validator(mode="after")
    def _sections_agree(self):
        """Keys that name each other; each problem starts with its own key path."""
        problems = _data_problems(self) + _run_problems(self)
        if problems:
            raise ValueError(_one_line(problems))
        return self

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


def _data_problems(params: Params) -> list[str]:
    """Datasets are those of :data:`DATASETS`, each one in use with a source; sources and options are
    the dataset's own (options may be left out where a dataset takes none)."""
    known = f"the datasets are {', '.join(DATASETS)}"
    sources, options = params.data.sources, params.data.options
    problems = [
        f"datasets: {name!r} is not a dataset divlib knows; {known}"
        if name not in DATASETS
        else f"datasets: {name!r} has no data.sources.{name}; add it or remove {name} here"
        for name in params.datasets
        if name not in sources
    ]
    for key, names in (("sources", sources), ("options", options)):
        problems += [
            f"data.{key}.{name}: not a dataset divlib knows; {known}"
            for name in names
            if name not in DATASETS
        ]
    problems += [
        f"data.sources.{name}: {source!r} is not a source of {name}; write one of "
        f"{', '.join(DATASETS[name].sources)}"
        for name, source in sources.items()
        if name in DATASETS and source not in DATASETS[name].sources
    ]
    used = [name for name in dict.fromkeys([*params.datasets, *options]) if name in DATASETS]
    for name in used:
        given, takes = sorted(options.get(name) or {}), DATASETS[name].options
        if given != sorted(takes):
            problems.append(
                f"data.options.{name}: has {given or 'none'}; {name} takes "
                + (", ".join(takes) if takes else "none ({})")
            )
    return problems


def _run_problems(params: Params) -> list[str]:
    """Experiments fine-tune pretrained models and seeds; every k they report is evaluated."""
    keys: dict[tuple[str, object], list[str]] = {}  # (what, model or seed): the keys listing it
    for name in EXPERIMENTS:
        for model in params.experiment(name).models:
            keys.setdefault(("models", model), []).append(f"{name}.models")
        for seed in params.seeds_of(name):
            keys.setdefault(("seeds", seed), []).append(f"{name}.seeds")
    keys.setdefault(("models", params.sensitivity.model), []).append("sensitivity.model")
    pretrained = {"models": params.models, "seeds": params.seeds}
    problems = [
        f"{', '.join(listing)}: {value!r} is not pretrained (top-level {what}: "
        f"{', '.join(map(str, pretrained[what]))}); add it there or remove it here"
        for (what, value), listing in keys.items()
        if value not in pretrained[what]
    ]
    ks = [("diversity.k", params.diversity.k)] + [
        ("gain_beyond_k.ks", k) for k in params.gain_beyond_k.ks
    ]
    problems += [
        f"{key}: DRO@{k} is never measured, as evaluate.ks {params.evaluate.ks} lacks {k}; add it there"
        for key, k in ks
        if k not in params.evaluate.ks
    ]
    length = 2 * max(params.evaluate.ks)  # stages/rerank.py: re-ranked lists cover ranks 1..2k
    if params.rerank.pool < length:
        problems.append(
            f"rerank.pool: {params.rerank.pool} candidates are fewer than the {length} items a "
            "re-ranked list holds (2 · max(evaluate.ks)); raise it to at least that"
        )
    return problems


def parse_params(data: object, *, source: str = "params.yaml") -> Params:
    """``data`` (params.yaml as loaded by a YAML reader) as :class:`Params`, or a one-line DivlibError."""
    if not isinstance(data, dict):
        found = "empty" if data is None else f"{data!r:.60} ({type(data).__name__})"
        raise DivlibError(
            f"{source}: is {found}, not a mapping of the sections {', '.join(Params.model_fields)}; "
            f"restore it with git checkout -- {source}"
        )
    try:
        return Params.model_validate(data)
    except ValidationError as error:
        problems: dict[str, dict[str, str]] = {}  # path: {message: type}, in order, without repeats
        for problem in error.errors():
            path = ".".join(str(part) for part in problem["loc"] if not _is_branch(part))
            problems.setdefault(path, {})[_describe(problem, path)] = problem["type"]
        # a problem of the whole file (sections that disagree) names its own key paths
        lines = [
            f"{path}: " * bool(path) + " or ".join(_alternatives(m)) for path, m in problems.items()
        ]
        raise DivlibError(f"{source}: " + _one_line(lines)) from None


def _one_line(problems: list[str]) -> str:
    """The first three problems, and how many more."""
    more = f"; and {len(problems) - 3} more" if len(problems) > 3 else ""
    return "; ".join(problems[:3]) + more


def _alternatives(messages: dict[str, str]) -> list[str]:
    """The messages of one key; an int-or-float key that got no number says "number" once, not twice."""
    numbers = {"float_type", "float_parsing"} & set(messages.values())
    integers = {"int_type", "int_parsing"}
    return [message for message, kind in messages.items() if not (numbers and kind in integers)]


def _describe(problem: dict, path: str) -> str:
    if problem["type"] == "extra_forbidden":
        allowed = ", ".join(_section(path.rpartition(".")[0]).model_fields)
        return f"unknown key; the keys here are {allowed}"
    if problem["type"] == "missing":
        return "missing; add it (the repository's params.yaml lists every key)"
    if problem["type"] == "value_error":
        return problem["msg"].removeprefix("Value error, ")
    if problem["type"] == "model_type":
        return f"must be a mapping of keys; got {problem['input']!r:.60}"
    return f"{problem['msg']} (got {problem['input']!r:.60})"


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
