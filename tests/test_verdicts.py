"""The verdicts on the paper's claims: each rule reaching each verdict on hand-picked numbers, and each
claim's numbers and verdict from hand-made frames."""

import polars as pl
import pytest

from divlib.study.verdicts import (
    COLUMNS,
    NOT_DECIDED,
    NOT_REPRODUCED,
    PARTLY,
    REPRODUCED,
    adaptive_claims,
    beta_sweep_claims,
    curve_claims,
    dominance_claims,
    dominates,
    gain_claims,
    rule_beta_sweep,
    rule_dominance,
    rule_feasible_beta,
    rule_gain_beyond_k,
    rule_text,
    rule_training_curves,
    verdict_frame,
)


def test_rule_beta_sweep():
    gains = {0.0: [0.1, 0.2], 0.5: [0.05, 0.01]}
    assert rule_beta_sweep(gains, {0.5: -0.04}) == REPRODUCED
    assert rule_beta_sweep(gains, {0.5: -0.06}) == PARTLY  # recall lost beyond 5 %
    assert (
        rule_beta_sweep({0.0: [0.1, 0.2], 0.5: [0.05, -0.01]}, {0.5: 0.0}) == PARTLY
    )  # a seed < 0
    assert rule_beta_sweep({0.0: [0.1], 0.5: [-0.1]}, {0.5: 0.0}) == NOT_REPRODUCED  # 1 of 2 βs


CLEAR = [0.019, 0.020, 0.021]  # mean 0.02, s = 0.001: 0.02 ± 4.303 · 0.001/√3 = [0.0175, 0.0225]
NOISY = [0.01, 0.02, 0.03]  # mean 0.02, s = 0.01: 0.02 ± 4.303 · 0.01/√3 = [−0.0048, 0.0448]
TIED = [0.001, -0.001, 0.0]  # mean 0: "≥" holds, the interval straddles 0
WORSE = [-0.001, -0.002, 0.0]  # mean −0.001 < 0


def test_a_setting_dominates_when_no_worse_on_average_and_clearly_better_on_one():
    assert dominates(CLEAR, TIED) and dominates(TIED, CLEAR) and dominates(CLEAR, CLEAR)
    assert not dominates(NOISY, NOISY)  # better on average on both, clear on neither
    assert not dominates(CLEAR, WORSE) and not dominates(WORSE, CLEAR)  # worse on average on one
    assert not dominates([0.5], [0.5])  # one seed: no interval, never clear


def test_rule_dominance():
    held = {"a": (CLEAR, WORSE), "b": (NOISY, NOISY)}  # neither dominates
    beaten = {"a": (CLEAR, WORSE), "c": (TIED, CLEAR)}  # c dominates
    assert rule_dominance({"relevance": held, "ndcg": held}) == REPRODUCED
    assert rule_dominance({"relevance": held, "ndcg": beaten}) == PARTLY
    assert rule_dominance({"relevance": beaten, "ndcg": held}) == PARTLY
    assert rule_dominance({"relevance": beaten, "ndcg": beaten}) == NOT_REPRODUCED


def test_rule_gain_beyond_k():
    assert rule_gain_beyond_k({5: 0.1, 10: 0.2}, {5: 0.01, 10: 0.02}) == REPRODUCED
    assert rule_gain_beyond_k({5: 0.1, 10: 0.2}, {5: 0.01, 10: 0.0}) == PARTLY  # 3 of 4
    assert rule_gain_beyond_k({5: 0.1, 10: 0.2}, {5: -0.01, 10: 0.0}) == NOT_REPRODUCED  # 2 of 4


def test_rule_training_curves():
    assert rule_training_curves(0.05, 0.9, 5, 10) == REPRODUCED  # both bounds hold with equality
    assert rule_training_curves(0.06, 0.95, 2, 10) == PARTLY  # faster, does not track
    assert rule_training_curves(0.01, 0.89, 2, 10) == PARTLY
    assert rule_training_curves(0.01, 0.95, 6, 10) == PARTLY  # tracks, not twice as fast
    assert rule_training_curves(0.2, 0.5, float("inf"), 10) == NOT_REPRODUCED


def test_rule_feasible_beta():
    assert rule_feasible_beta(1.0) == REPRODUCED
    assert rule_feasible_beta(0.9) == PARTLY
    assert rule_feasible_beta(0.89) == NOT_REPRODUCED


def sweep_runs(model: str, dro: dict[float, list[float]], recall: dict[float, float]) -> list:
    """Per-run rows at k = 10: DRO per seed (seeds 1, 2) and one recall_test per β."""
    return [
        {"model": model, "method": "ddt", "param": beta, "seed": seed, "k": 10, "dro": value,
         "recall_test": recall[beta]}
        for beta, values in dro.items()
        for seed, value in zip((1, 2), values, strict=True)
    ]  # fmt: skip


def test_beta_sweep_claims_compare_each_seed_with_its_own_control():
    runs = pl.DataFrame(
        sweep_runs("nmf", {0.0: [0.9, 0.8], 0.5: [0.75, 0.62], 1.0: [0.7, 0.6]},
                   {0.0: 0.1, 0.5: 0.196, 1.0: 0.2})  # gains 0.2, 0.2 | 0.05, 0.02; recall −2 %
        + sweep_runs("ncf", {0.0: [0.9, 0.8], 0.5: [0.65, 0.62], 1.0: [0.7, 0.6]},
                     {0.0: 0.2, 0.5: 0.2, 1.0: 0.2})  # β = 0.5: −0.05, +0.02, mean −0.015
        + [{"model": "nmf", "method": "ddt", "param": 0.5, "seed": 1, "k": 5, "dro": 0.0,
            "recall_test": 0.0}]  # another k: ignored
    )  # fmt: skip
    nmf, ncf = beta_sweep_claims(runs, k=10)
    assert nmf["verdict"] == REPRODUCED  # β = 0 loses half the recall, but β < 0.3 is free
    assert "+0.035 (0.021) at β = 0.5 to +0.200 (0.000) at β = 0" in nmf["ours"]
    assert "> 0 in 4/4 seed × β" in nmf["ours"] and "worst -2.0 % (β = 0.5)" in nmf["ours"]
    assert nmf["claim"].startswith("Q1 NMF DDT") and nmf["experiment"] == "beta_sweep"
    assert ncf["verdict"] == NOT_REPRODUCED and "> 0 in 3/4" in ncf["ours"]
    assert nmf["rule"] == rule_text(rule_beta_sweep) and nmf["rule"].startswith("Reproduced if")


def test_beta_sweep_claims_without_swept_runs_are_not_run():
    runs = pl.DataFrame(sweep_runs("nmf", {1.0: [0.7, 0.6]}, {1.0: 0.2}))
    assert beta_sweep_claims(runs, k=10)[0]["verdict"] == NOT_DECIDED


PUBLISHED = pl.DataFrame({
    "table": ["main"] * 6 + ["gain_beyond_k"] * 2,
    "dataset": ["ml-1m"] * 8,
    "model": ["nmf"] * 6 + ["nmf", "nmf"],
    "method": ["ddt", "ddt", "mmr", "mmr", "dum", "dum", "ddt", "ddt"],
    "param": [0.2, 0.2, None, None, None, None, 0.5, 0.5],
    "k": [10] * 8,
    "metric": ["dro", "relevance"] * 3 + ["gain_pct", "gain_beyond_pct"],
    "mean": ["1.00", "1.00", "0.94", "0.95", "0.93", "0.91", "37.2", "-0.5"],
    "std": ["0.00"] * 6 + ["8.3", "5.1"],
})  # fmt: skip


def per_seed(model: str, method: str, param, dro, relevance, ndcg, k: int = 10) -> list[dict]:
    """Per-run means of one setting, seeds 1, 2, 3 (one value per seed in each list)."""
    return [
        {"model": model, "method": method, "param": param, "seed": seed, "k": k, "dro": d,
         "relevance": r, "ndcg": n}
        for seed, d, r, n in zip((1, 2, 3), dro, relevance, ndcg, strict=True)
    ]  # fmt: skip


DDT = ([0.95, 0.96, 0.94], [0.98, 0.99, 0.98], [0.010, 0.012, 0.008])  # diverse, predicted-relevant


def plus(values: list[float], differences: list[float]) -> list[float]:
    return [v + d for v, d in zip(values, differences, strict=True)]


def q2_runs(model: str, *settings: list[dict]) -> list[dict]:
    """DDT at β = 0.2 (and a run at another k, ignored), the relevance-only model (never compared:
    not a re-ranker), then the re-ranker settings."""
    return [
        *per_seed(model, "ddt", 0.2, *DDT),
        *per_seed(model, "ddt", 0.2, [0.0] * 3, [0.0] * 3, [0.0] * 3, k=5),
        *per_seed(model, "base", None, [0.99] * 3, [0.99] * 3, [0.04] * 3),
        *[row for rows in settings for row in rows],
    ]


def test_dominance_claims_pair_each_reranker_setting_with_ddt_by_seed():
    dro, relevance, ndcg = DDT
    far_below = per_seed("m", "mmr", 0.9, plus(dro, [-0.3] * 3), relevance, plus(ndcg, CLEAR))
    # MMR at λ = 0.3: as diverse as DDT (+0.02 clear), less predicted-relevant, far more by NDCG
    matched_ndcg = per_seed("m", "mmr", 0.3, plus(dro, CLEAR), plus(relevance, [-0.1] * 3),
                            plus(ndcg, CLEAR))  # fmt: skip
    # DPP at θ = 0.9: more diverse (clear) and as predicted-relevant (tied)
    matched_both = per_seed("m", "dpp", 0.9, plus(dro, CLEAR), plus(relevance, TIED),
                            plus(ndcg, WORSE))  # fmt: skip
    noisy = per_seed("m", "dum", None, plus(dro, NOISY), plus(relevance, NOISY), plus(ndcg, NOISY))
    frames = {
        "holds": q2_runs("holds", [r | {"model": "holds"} for r in far_below + noisy]),
        "partly": q2_runs("partly", [r | {"model": "partly"} for r in far_below + matched_ndcg]),
        "fails": q2_runs("fails", [r | {"model": "fails"} for r in matched_ndcg + matched_both]),
    }
    runs = pl.DataFrame([row for rows in frames.values() for row in rows])
    holds, partly, fails = dominance_claims(runs, k=10, betas=[0.2], published=PUBLISHED)
    assert [holds["verdict"], partly["verdict"], fails["verdict"]] == [
        REPRODUCED, PARTLY, NOT_REPRODUCED,
    ]  # fmt: skip
    assert [c["comparisons"] for c in (holds, partly, fails)] == [4, 4, 4]  # 2 settings × 2
    assert holds["ours"] == (
        "DDT DRO@10 0.950 (0.010), predicted relevance 0.983 (0.006), NDCG@10 0.010 (0.002); "
        "dominated under predicted relevance by 0 of 2 settings; dominated under NDCG@10 by 0 of "
        "2 settings; 3 seeds"
    )
    assert partly["ours"].endswith(
        "dominated under predicted relevance by 0 of 2 settings; dominated under NDCG@10 by 1 of 2 "
        "settings: MMR (λ = 0.3) (ΔDRO +0.020 [+0.018, +0.022], ΔNDCG@10 +0.020 [+0.018, +0.022]);"
        " 3 seeds"
    )
    assert "under predicted relevance by 1 of 2 settings: DPP (θ = 0.9)" in fails["ours"]
    assert holds["paper"] == (
        "Table III DRO@10 / relevance: DDT 1.00 / 1.00, MMR 0.94 / 0.95, DUM 0.93 / 0.91 (ml-1m)"
    )
    assert holds["rule"] == rule_text(rule_dominance) and "paired 95 % t interval" in holds["rule"]


def test_dominance_claims_without_a_second_seed_or_a_reranker_are_not_decided():
    runs = pl.DataFrame(q2_runs("m", per_seed("m", "mmr", 0.3, *DDT)))
    one_seed = dominance_claims(runs.filter(pl.col("seed") == 1), k=10, betas=[0.2], published=None)
    assert one_seed[0]["verdict"] == NOT_DECIDED and one_seed[0]["comparisons"] == 0
    assert one_seed[0]["ours"] == "1 seed: no paired interval"
    no_reranker = runs.filter(pl.col("method") != "mmr")
    assert dominance_claims(no_reranker, k=10, betas=[0.2], published=None)[0]["verdict"] == (
        NOT_DECIDED
    )
    assert dominance_claims(runs, k=10, betas=[0.5], published=None)[0]["ours"] == "no runs"


def gain_rows(model: str, method: str, within: list[float], beyond: list[float]) -> list[dict]:
    """Rows of runs trained for k = 5, 10 at their k, plus a run trained for 10 evaluated at 5."""
    rows = [
        {"model": model, "method": method, "param": 0.5, "train_k": k, "k": k, "dro_gain": w,
         "dro_gain_std": 0.01, "dro_beyond_gain": b, "dro_beyond_gain_std": 0.02, "seeds": 2}
        for k, w, b in zip((5, 10), within, beyond, strict=True)
    ]  # fmt: skip
    return [rows[1] | {"k": 5, "dro_gain": -1.0, "dro_beyond_gain": -1.0}, *rows]


def test_gain_claims_read_each_k_from_the_run_trained_for_it():
    summary = pl.DataFrame(
        gain_rows("nmf", "ddt", [0.3, 0.2], [0.1, 0.05])
        + gain_rows("nmf", "mdr", [0.3, 0.2], [0.1, -0.05])
        + gain_rows("ncf", "ddt", [0.3, -0.2], [-0.1, 0.05])
        + [{"model": "nmf", "method": "base", "param": None, "train_k": None, "k": 5,
            "dro_gain": 0.0, "dro_gain_std": 0.0, "dro_beyond_gain": 0.0,
            "dro_beyond_gain_std": 0.0, "seeds": 2}]  # not a claim
    )  # fmt: skip
    nmf_ddt, nmf_mdr, ncf_ddt = gain_claims(summary, ks=[5, 10], beta=0.5, published=PUBLISHED)
    assert [nmf_ddt["verdict"], nmf_mdr["verdict"], ncf_ddt["verdict"]] == [
        REPRODUCED, PARTLY, NOT_REPRODUCED,
    ]  # fmt: skip
    assert nmf_ddt["ours"] == (
        "1..k: +20.0 (1.0) pp (k = 10) to +30.0 (1.0) pp (k = 5); k+1..2k: +5.0 (2.0) pp (k = 10) "
        "to +10.0 (2.0) pp (k = 5); > 0 in 4/4 (k = 5, 10); 2 seeds"
    )
    assert nmf_ddt["paper"] == (
        "Table IV 1..k: +37.2 to +37.2 pp; k+1..2k: -0.5 to -0.5 pp; > 0 in 1/2 (ml-1m)"
    )
    assert nmf_mdr["paper"] == "no published numbers (ml-1m)"


def curves(model: str, method: str, finetune: list[float], scratch: list[float], gap: float):
    return [
        {"model": model, "method": method, "regime": regime, "seed": 1, "epoch": epoch,
         "dro": dro, "ddro": dro + gap}
        for regime, values in (("finetune", finetune), ("scratch", scratch))
        for epoch, dro in enumerate(values, start=1)
    ]  # fmt: skip


def test_curve_claims_measure_tracking_and_epochs_to_the_scratch_diversity():
    scratch = [0.5, 0.7, 0.85, 0.9]  # 95 % of its final 0.9 = 0.855: kept from epoch 4
    frame = pl.DataFrame(
        curves("nmf", "ddt", [0.9, 0.9, 0.9, 0.9], scratch, 0.01)  # epoch 1 vs 4, r = 1
        + curves("nmf", "mdr", [0.9, 0.8, 0.9, 0.9], scratch, 0.01)  # a dip: kept from epoch 3
        + curves("ncf", "ddt", [0.5, 0.6, 0.7, 0.8], scratch, 0.2)  # never; DDRO 0.2 off
        + curves("mf", "ddt", [0.9], [], 0.0)  # no run from scratch
    )  # fmt: skip
    nmf_ddt, nmf_mdr, ncf_ddt, mf_ddt = curve_claims(frame, k=10)
    assert [c["verdict"] for c in (nmf_ddt, nmf_mdr, ncf_ddt, mf_ddt)] == [
        REPRODUCED, PARTLY, NOT_REPRODUCED, NOT_DECIDED,
    ]  # fmt: skip
    assert nmf_ddt["ours"] == (
        "mean |DDRO − DRO@10| 0.010, Pearson r 1.00; epochs to 95% of the from-scratch final "
        "DRO@10: fine-tuned 1.0, from scratch 4.0; 1 seed"
    )
    assert "fine-tuned 3.0, from scratch 4.0" in nmf_mdr["ours"]
    assert "mean |DDRO − DRO@10| 0.200" in ncf_ddt["ours"]
    assert "fine-tuned never, from scratch 4.0" in ncf_ddt["ours"]


def test_adaptive_claims_count_the_steps_inside_the_interval():
    def steps(model, method, inside):
        return [{"model": model, "method": method, "seed": 1, "step": s, "beta_low": 0.2,
                 "beta_high": 0.6, "beta": 0.4 if ok else 0.7} for s, ok in enumerate(inside)]  # fmt: skip

    frame = pl.DataFrame(
        steps("nmf", "ddt-adaptive", [True] * 10)
        + steps("nmf", "ddt-adaptive-normalized", [True, True, True, False])
        + steps("ncf", "ddt-adaptive", [True] * 9 + [False])
        + steps("mf", "ddt-adaptive", [True, False])
        + steps("zz", "ddt-adaptive-normalized", [True])
    )
    nmf, ncf, mf, zz = adaptive_claims(frame)
    assert [c["verdict"] for c in (nmf, ncf, mf, zz)] == [
        REPRODUCED, PARTLY, NOT_REPRODUCED, NOT_DECIDED,
    ]  # fmt: skip
    assert nmf["ours"] == (
        "inside [β_low, β_high] at 100.0 % of 10 steps; 1 seed; normalized variant: 75.0 %"
    )
    assert ncf["ours"].startswith("inside [β_low, β_high] at 90.0 % of 10 steps")


def test_verdict_frame_stacks_the_claims_in_order():
    frame = pl.DataFrame(steps := [{"model": "nmf", "method": "ddt-adaptive", "seed": 1, "step": 1,
                                    "beta": 0.5, "beta_low": 0.5, "beta_high": 0.5}])  # fmt: skip
    table = verdict_frame(adaptive_claims(frame), [])
    assert table.columns == list(COLUMNS) and table.height == len(steps)
    assert table["verdict"].to_list() == [REPRODUCED]  # on the boundary counts as inside


@pytest.mark.parametrize(
    "rule", [rule_beta_sweep, rule_dominance, rule_gain_beyond_k, rule_training_curves,
             rule_feasible_beta],
)  # fmt: skip
def test_every_rule_states_all_three_verdicts(rule):
    text = rule_text(rule)
    assert "\n" not in text and "Reproduced" in text and "partly" in text
    assert "not reproduced otherwise" in text
