#!/usr/bin/python3
"""Pareto evidence for the slo schedule: mean TTFT against TBT p99.

Usage: /usr/bin/python3 scripts/pareto.py OUT_DIR [--strata BIN] [--cpu-profile JSON --cpu-model DIR]

For each hardware (the simulated 2 x H100 of the paper, and this CPU when a
`strata sim calibrate` profile and its model folder are given), each
workload (arxiv-like, sharegpt-like) and each of 3 rates, runs `strata sim`
with chunked budgets 32-512, layered G 2-16, whole, and slo at the
workload's TBT SLO; then slo once more with its target set so that its TBT p99
is at most layered's ("at equal TBT"). Writes OUT_DIR/pareto.json, OUT_DIR/pareto.md (the
verdicts) and OUT_DIR/pareto-<hardware>-<workload>.png, and prints the
verdicts:
  front     no other point has both a lower mean TTFT and a lower TBT p99;
  gaps      the share of inter-token gaps within slo's target (goal >= 99%);
  vs layered  slo's mean TTFT / layered's, at a TBT p99 no higher than layered's.
"""
import argparse
import json
import math
import os
import subprocess
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)

BASELINES = ["chunked:32", "chunked:64", "chunked:128", "chunked:256", "chunked:512",
             "layered:2", "layered:4", "layered:8", "layered:16", "whole"]


def settings(cpu_model):
    """(hardware label, sim flags, workload, rates, SLO) for every setting."""
    h100 = ["--hardware", "h100-sxm", "--tp", "2", "--model", "qwen3-30b-a3b", "--num-prompts", "300"]
    out = [("h100", h100, "arxiv", [1.3, 1.5, 1.8], (10000, 125)),
           ("h100", h100, "sharegpt", [4.0, 4.5, 5.0], (5000, 125))]
    if cpu_model:
        # The default model has 4 layers: lengths scaled to what this CPU
        # serves, and layered's stage size and cohort budget scaled the same
        # way (64 tokens per stage, 256 per cohort), as in the README's
        # engine comparisons.
        cpu = ["--tp", "1", "--model", cpu_model, "--num-prompts", "60", "--max-model-len", "4096",
               "--tokens-per-stage", "64", "--layered-max-num-batched-tokens", "256"]
        out += [("cpu", cpu + ["--scale-lengths", "0.04"], "arxiv", [0.3, 0.4, 0.5], (10000, 125)),
                ("cpu", cpu + ["--scale-lengths", "0.25"], "sharegpt", [0.1, 0.2, 0.3], (5000, 125))]
    return out


def run_sim(strata, flags, dataset, rates, policies, slo, out_json):
    cmd = [strata, "sim", *flags, "--dataset", dataset, "--request-rates", ",".join(map(str, rates)),
           "--policies", ",".join(policies), "--slo", f"ttft:{slo[0]},tbt:{slo[1]}", "--output-json", out_json]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with open(out_json) as f:
        return json.load(f)["settings"][0]["runs"]


def point(run):
    return {"policy": run["policy"], "rate": run["request_rate"], "ttft": run["ttft"]["mean_ms"],
            "tbt_p99": run["itl"]["p99_ms"], "gaps_met": run["tbt_gaps_met_pct"], "completed": run["completed"]}


def dominated(p, points):
    return any(q is not p and q["ttft"] < p["ttft"] and q["tbt_p99"] < p["tbt_p99"] for q in points)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--strata", default="build/strata")
    ap.add_argument("--cpu-profile")
    ap.add_argument("--cpu-model")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    results, lines = [], ["| hardware | workload | rate | slo target ms | on the front | gaps within target | "
                          "TTFT / layered's, TBT p99 at most layered's |", "|---|---|---:|---:|---|---:|---:|"]
    for hw, flags, dataset, rates, slo in settings(a.cpu_model if a.cpu_profile else None):
        if hw == "cpu":
            flags = flags + ["--hardware", a.cpu_profile]
        tag = f"{hw}-{dataset}"
        runs = run_sim(a.strata, flags, dataset, rates, BASELINES + ["slo"], slo, f"{a.out}/{tag}.json")
        for rate in rates:
            points = [point(r) for r in runs if r["request_rate"] == rate]
            layered = next(p for p in points if p["policy"] == "layered:16")  # the paper's G
            # "Equal TBT": slo aims 10% under its target, so try targets from
            # layered's TBT p99 up to 1/0.9 of it and keep the largest whose
            # realized TBT p99 is still at most layered's.
            equal = None
            for f in (1.0, 1.04, 1.08, 1.11):
                target = math.ceil(layered["tbt_p99"] * f)
                p = point(run_sim(a.strata, flags, dataset, [rate], [f"slo:{target}"], (slo[0], target),
                                  f"{a.out}/{tag}-{rate}-slo{target}.json")[0])
                if equal is None or p["tbt_p99"] <= layered["tbt_p99"]:
                    equal = p
            target = int(equal["policy"].split(":")[1])
            points.append(equal)
            main_slo = next(p for p in points if p["policy"] == f"slo:{slo[1]}")
            verdict = {"hardware": hw, "workload": dataset, "rate": rate, "points": points,
                       "slo_on_front": not dominated(main_slo, points),
                       "equal_tbt_on_front": not dominated(equal, points),
                       "gaps_met": main_slo["gaps_met"], "equal_tbt_gaps_met": equal["gaps_met"],
                       "ttft_vs_layered_at_equal_tbt": equal["ttft"] / layered["ttft"]}
            results.append(verdict)
            lines.append(f"| {hw} | {dataset} | {rate} | {slo[1]} | {'yes' if verdict['slo_on_front'] else 'NO'} | "
                         f"{main_slo['gaps_met']:.1f}% | |")
            lines.append(f"| {hw} | {dataset} | {rate} | {target} | {'yes' if verdict['equal_tbt_on_front'] else 'NO'} | "
                         f"{equal['gaps_met']:.1f}% | {verdict['ttft_vs_layered_at_equal_tbt']:.2f} |")
        plot(results, hw, dataset, rates, f"{a.out}/pareto-{tag}.png")
    with open(f"{a.out}/pareto.json", "w") as f:
        json.dump(results, f, indent=1)
    with open(f"{a.out}/pareto.md", "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


def plot(results, hw, dataset, rates, path):
    fig, axes = plt.subplots(1, len(rates), figsize=(5 * len(rates), 4.2))
    for ax, rate in zip(axes, rates):
        v = next(r for r in results if r["hardware"] == hw and r["workload"] == dataset and r["rate"] == rate)
        for family, marker in (("chunked", "o"), ("layered", "s"), ("whole", "D"), ("slo", "*")):
            ps = [p for p in v["points"] if p["policy"].split(":")[0] == family]
            ps.sort(key=lambda p: p["tbt_p99"])
            ax.plot([p["tbt_p99"] for p in ps], [p["ttft"] for p in ps], marker=marker, linestyle="-" if
                    family in ("chunked", "layered") else "", markersize=11 if family == "slo" else 6, label=family)
            for p in ps:
                ax.annotate(p["policy"].split(":")[-1] if ":" in p["policy"] else "", (p["tbt_p99"], p["ttft"]),
                            fontsize=7, xytext=(3, 3), textcoords="offset points")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("TBT p99 (ms)")
        ax.set_ylabel("mean TTFT (ms)")
        ax.set_title(f"{hw} {dataset} @ {rate} req/s", fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
