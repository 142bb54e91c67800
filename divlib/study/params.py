"""The workflow's parameters (``params.yaml``), checked at the boundary: one typed model per section.

Every section rejects unknown keys, reports missing ones, and bounds its values; numbers must be
finite and not ``true``/``false``, lists must not repeat a value. YAML 1.1 reads ``1e-3`` as a
string, which is coerced to the number it spells. Keys that must agree are checked next (the window
exceeds k, the β sweep holds its control β = 1, the gain tables one β), those across sections last
(a dataset has a source, experiments fine-tune pretrained models and seeds, every k is evaluated).
:func:`parse_params` turns the first problems into one :class:`~divlib.errors.DivlibError` line
naming each key path and what is allowed, e.g. ``params.yaml: main_table.betas.0: Input should be
less than or equal to 1 (got 1.5)``.

The training settings are defined once, by the library's option dataclasses
(:class:`~divlib.train.PretrainOptions`, :class:`~divlib.train.DiversityOptions`,
:class:`~divlib.train.FinetuneOptions`): each field's annotation gives its type, its bounds
(:class:`divlib._validate.Range`) and its names (``Literal``). The sections ``pretrain``,
``diversity`` and ``finetune`` are built from those fields (:func:`_from_options`), and every other
key that sets one of them (an experiment's ``betas``, ``methods``, ``epochs``, …) has the field's
type.
"""

import dataclasses
import re
from types import UnionType
from typing import Annotated, Literal, Union, get_args, get_origin, get_type_hints

import torch
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
    model_validator,
)

from divlib import _validate
from divlib.dgrec import DGRecOptions
from divlib.errors import DivlibError
from divlib.models import MODELS
from divlib.study.data.registry import DATASETS
from divlib.study.distances import GENRE_JACCARD, SIMILARITIES
from divlib.train import DiversityOptions, FinetuneOptions, PretrainOptions


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


def _params_type(annotation: object) -> object:
    """The params.yaml type of a library option's annotation: its bounds
    (:class:`divlib._validate.Range`) as pydantic's, ``float`` as an int or a float (a number keeps
    the type it is written with: ``betas: [0, 1]`` names runs ``beta0``, ``beta1``), YAML's
    ``true``/``false`` refused as numbers; names (``Literal``) and None as they are."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        ranges = [vars(bound) for bound in args[1:] if isinstance(bound, _validate.Range)]
        limits = [Field(**{key: v for key, v in r.items() if v is not None}) for r in ranges]
        return Annotated[(_params_type(args[0]), *limits)] if limits else _params_type(args[0])
    if origin in (Union, UnionType):
        return Union[tuple(map(_params_type, args))]  # noqa: UP007 (a union built from a tuple)
    if annotation is float:
        return Annotated[int | float, Number]
    return Annotated[int, Number] if annotation is int else annotation


def _option_types(options: type) -> dict[str, object]:
    """The params.yaml type of each field of the option dataclass ``options``, in field order."""
    hints = get_type_hints(options, include_extras=True)
    return {field.name: _params_type(hints[field.name]) for field in dataclasses.fields(options)}


DIVERSITY, FINETUNE = _option_types(DiversityOptions), _option_types(FinetuneOptions)
Count = _params_type(_validate.Count)
Whole = Annotated[int, Number, Field(ge=0)]  # a seed, or a dataset option (each a count or a seed)
Fraction = _params_type(_validate.Fraction)
ListLength = DIVERSITY["k"]  # k of DRO@k
Eps = DIVERSITY["eps"] | Literal["auto"]
Method, Beta, Epochs, BatchSize, Rule = (
    FINETUNE[key] for key in ("method", "beta", "epochs", "batch_size", "adaptive_rule")
)
ModelName = Literal[tuple(MODELS)]
Seeds = _settings(Whole)


class Section(BaseModel):
    """A params.yaml section: unknown keys are errors, values are checked, the object is read-only."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def _from_options(
    options: type, *, leave_out: tuple = (), rename: dict | None = None, **more: object
) -> type[Section]:
    """A section with one key per field of the option dataclass ``options`` (less ``leave_out``;
    ``rename``: field → key), typed and bounded as the field is, then the keys ``more`` (key: type;
    one that names a field retypes it)."""
    types = {
        (rename or {}).get(name, name): kind
        for name, kind in _option_types(options).items()
        if name not in leave_out
    }
    fields = {key: (kind, ...) for key, kind in (types | more).items()}
    return create_model(f"{options.__name__}Keys", __base__=Section, **fields)


class Data(Section):
    """Per dataset (:data:`divlib.study.data.registry.DATASETS`): its source and its options (all counts or
    seeds); a dataset without options may leave them out."""

    seed: Whole
    test_fraction: Annotated[float, Number, Field(ge=0, lt=1)]
    val_fraction: Annotated[float, Number, Field(ge=0, lt=1)]
    sources: dict[str, str]
    options: dict[str, dict[str, Whole] | None]


PRETRAIN = {"leave_out": ("seed", "select"), "rename": {"epochs": "max_epochs"}, "dim": Count}
SELECT = _option_types(PretrainOptions)["select"]  # the epoch a pretraining keeps


class Pretrain(_from_options(PretrainOptions, **PRETRAIN)):
    """:class:`~divlib.train.PretrainOptions` less the seed (each run's derives from its
    identity) and the selection (the epoch of lowest validation MSE): at most ``max_epochs``
    epochs, early stopping after ``patience`` (null: none); ``dim``: the embedding size."""


class DGRec(_from_options(DGRecOptions, leave_out=("selection", "attention", "balance"))):
    """:class:`~divlib.dgrec.DGRecOptions` less the three modules' switches (the study trains the
    authors' full model), one model per top-level seed."""


class PretrainRecipe(Pretrain):
    """A pretraining recipe of the robustness table: the ``pretrain`` section with some keys
    changed, and the epoch kept (``select``: ``best``, of lowest validation MSE, or ``last``)."""

    select: SELECT


Recipe = create_model(
    "Recipe",
    __base__=Section,
    **{
        PRETRAIN["rename"].get(key, key): (kind | None, None)
        for key, kind in (_option_types(PretrainOptions) | {"dim": Count}).items()
        if key != "seed"
    },
)
Recipe.__doc__ = """The keys of ``pretrain`` (and ``select``) a recipe changes; the others keep the
section's value (only the keys written count: ``patience: null`` turns early stopping off)."""


class Diversity(_from_options(DiversityOptions, eps=Eps)):
    """:class:`~divlib.train.DiversityOptions`; ``eps: auto`` is 1/m, resolved per catalogue
    (:func:`divlib.study.experiment.diversity_options`)."""

    @model_validator(mode="after")
    def _window_exceeds_k(self):
        _validate.check_window(self.top_m, self.k)
        return self


class Finetune(
    _from_options(FinetuneOptions, leave_out=("method", "beta", "epochs", "seed", "adaptive_rule"))
):
    """The settings every fine-tuning experiment shares: :class:`~divlib.train.FinetuneOptions`
    less those of each run (method, β, epochs, seed, rule)."""


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
    epochs: Epochs
    seeds: Seeds | Literal["all"]  # all: the top-level seeds


class Grid(Experiment):
    """The grid method × β × seed."""

    methods: _settings(Method)
    betas: _settings(Beta)


EVALUATED = "evaluate.ks (ranks 1..2k of its largest k)"  # the evaluated lists' length
CONTROL_BETA = 1.0  # β = 1: L_JOINT = L_MSE, the same fine-tuning for relevance only


def _with_control(betas: list) -> list:
    """The β sweep measures every β < 1 against the control β = 1 of the same seed (the verdicts
    of :mod:`divlib.study.verdicts`)."""
    if CONTROL_BETA not in betas:
        raise ValueError(
            f"lacks the control β = {CONTROL_BETA:g} (relevance only) that every β < 1 is measured "
            f"against; add {CONTROL_BETA:g}"
        )
    if min(betas) >= CONTROL_BETA:
        raise ValueError(f"has no β below the control {CONTROL_BETA:g}; add one (e.g. 0.5)")
    return betas


def _one_beta(betas: list) -> list:
    """The gain tables (IV and VI) show one β."""
    if len(betas) > 1:
        raise ValueError(f"lists {len(betas)} βs; the gain tables (IV and VI) show one: keep one")
    return betas


class Sweep(Grid):
    """The grid method × β × seed, with the control β = 1 and at least one β below it."""

    betas: Annotated[_settings(Beta), AfterValidator(_with_control)]


class PerK(Grid):
    """The grid method × one β × seed once per list length k (each run trained for its own k)."""

    betas: Annotated[_settings(Beta), AfterValidator(_one_beta)]
    ks: _settings(ListLength)


class Curves(Grid):
    """The grid method × β × seed fine-tuned and from scratch (a fresh model, this batch size)."""

    scratch_batch_size: BatchSize


class Adaptive(Experiment):
    """ddt-adaptive once per rule of choosing β (:data:`divlib.train.diversify.ADAPTIVE_RULES`)."""

    rules: _settings(Rule)


class Rerank(Section):
    pool: Count
    mmr_lambdas: _settings(Fraction)
    dpp_thetas: _settings(Annotated[float, Number, Field(ge=0, lt=1)] | None)


CASE_RULES = {  # Table V's user (params.yaml case_study.rule): among the users with enough ratings
    "largest-dro-gain": "the largest DRO@k gain (after − before)",
    "most-concentrated": "the pretrained list with the largest share of slots in one genre",
}


class CaseStudy(Section):
    """Table V's user: by ``rule`` (:data:`CASE_RULES`) among the users
    with at least ``min_train_ratings`` training ratings; the caption names both."""

    rule: Literal[tuple(CASE_RULES)]
    min_train_ratings: Count


class Evaluate(Section):
    ks: _settings(ListLength)


DEFAULT_RECIPE = "default"  # the pretrain section itself, whose models the pretrain stage writes
VariantName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*$")]  # a DVC stage and key name


class Variant(Section):
    """One column of the robustness table: the default setting with the keys written changed."""

    recipe: str = DEFAULT_RECIPE  # default, or a key of robustness.recipes
    similarity: Literal[SIMILARITIES] = GENRE_JACCARD  # the item similarity S
    eps: Eps | None = None  # None: diversity.eps


class Robustness(Section):
    """Beyond the paper: Q2 and Q3 re-judged once per variant, each the default setting with one
    change (a pretraining recipe, the item similarity, ε), on ``models`` and ``seeds``; Q3 at
    ``ks``."""

    models: _settings(ModelName)
    seeds: Seeds | Literal["all"]  # all: the top-level seeds
    ks: _settings(ListLength)
    recipes: dict[VariantName, Recipe]
    variants: Annotated[dict[VariantName, Variant], Field(min_length=1)]


class Sensitivity(Section):
    model: ModelName
    method: Method
    beta: Beta
    eps: _settings(Eps)
    ks: _settings(ListLength)
    epochs: Epochs


class Params(Section):
    """The whole of params.yaml."""

    datasets: _settings(str)
    models: _settings(ModelName)
    data: Data
    pretrain: Pretrain
    dgrec: DGRec
    seeds: Seeds
    diversity: Diversity
    finetune: Finetune
    grid: GridBackend
    beta_sweep: Sweep
    main_table: Grid
    gain_beyond_k: PerK
    training_curves: Curves
    adaptive_beta: Adaptive
    rerank: Rerank
    evaluate: Evaluate
    sensitivity: Sensitivity
    case_study: CaseStudy
    robustness: Robustness

    @model_validator(mode="after")
    def _sections_agree(self):
        """Keys that name each other; each problem starts with its own key path."""
        problems = _data_problems(self) + _run_problems(self) + _robustness_problems(self)
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

    @property
    def robustness_seeds(self) -> list[int]:
        """The seeds of the robustness table: its own, or the top-level ``seeds`` (``all``)."""
        seeds = self.robustness.seeds
        return list(self.seeds) if seeds == "all" else list(seeds)

    @property
    def chosen_beta(self) -> float:
        """The chosen β: the first of ``main_table.betas`` (the headline metrics, Table V and the
        case-study figure)."""
        return self.main_table.betas[0]

    @property
    def case_model(self) -> str:
        """The model of Table V and the category histogram: the first of ``main_table.models``."""
        return self.main_table.models[0]


EXPERIMENTS = tuple(
    name
    for name, field in Params.model_fields.items()
    if isinstance(field.annotation, type) and issubclass(field.annotation, Experiment)
)


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
    length = 2 * max(params.evaluate.ks)  # the rerank stage's lists cover ranks 1..2k
    if params.rerank.pool < length:
        problems.append(
            f"rerank.pool: {params.rerank.pool} candidates are fewer than the {length} items a "
            "re-ranked list holds (2 · max(evaluate.ks)); raise it to at least that"
        )
    return problems


def _robustness_problems(params: Params) -> list[str]:
    """The robustness variants start from pretrained models and seeds (a recipe's own models use the
    same seeds), name known recipes, and re-rank lists as long as their ks need."""
    section = params.robustness
    pretrained = {"models": params.models, "seeds": params.seeds}
    problems = [
        f"robustness.{what}: {value!r} is not pretrained (top-level {what}: "
        f"{', '.join(map(str, pretrained[what]))}); add it there or remove it here"
        for what, values in (("models", section.models), ("seeds", params.robustness_seeds))
        for value in values
        if value not in pretrained[what]
    ]
    if DEFAULT_RECIPE in section.recipes:
        problems.append(
            f"robustness.recipes.{DEFAULT_RECIPE}: {DEFAULT_RECIPE} is the pretrain section itself; "
            "give this recipe another name"
        )
    recipes = [DEFAULT_RECIPE, *section.recipes]
    problems += [
        f"robustness.variants.{name}.recipe: {variant.recipe!r} is not a recipe; write one of "
        f"{', '.join(recipes)} (robustness.recipes)"
        for name, variant in section.variants.items()
        if variant.recipe not in recipes
    ]
    length = 2 * max([*section.ks, params.diversity.k])  # ranks 1..2k of every k evaluated
    if params.rerank.pool < length:
        problems.append(
            f"rerank.pool: {params.rerank.pool} candidates are fewer than the {length} items a "
            "re-ranked list of the robustness table holds (2 · max(robustness.ks, diversity.k)); "
            "raise it to at least that"
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
    model, keys = Params, iter(filter(None, path.split(".")))
    for key in keys:
        model = model.model_fields[key].annotation
        if get_origin(model) is dict:  # a mapping of sections (robustness.variants): skip its key
            next(keys, None)
            model = get_args(model)[1]
    return model


def _is_branch(part: object) -> bool:
    """Union branches appear in error locations as type names (``int``, ``literal['auto']``)."""
    types = {"int", "float", "str", "list", "none"}
    return isinstance(part, str) and (
        part in types or "[" in part or part.startswith("constrained")
    )
