#!/usr/bin/python3
"""Writes report.md and PNG plots for a scripts/reproduce results folder.

Usage: /usr/bin/python3 scripts/report.py RESULTS_DIR

Reads what scripts/reproduce left in RESULTS_DIR:
  config.json                         the run's settings
  serve/<workload>/<policy>@<rate>.json   `strata bench serve --output-json`
  serve/<workload>/<policy>@<rate>.metrics-{before,after}.txt   /metrics scrapes
  engine/<workload>-chunked-<B>.json  `strata bench engine --output-json`, its chunked runs at budget B
  sim/cpu-profile.json                `strata sim calibrate`: this CPU's profile, fitted to timed engine steps
  sim/cpu-<workload>.json             `strata sim` on that profile
  sim/paper.json                      `strata sim --paper`
Any part that is missing is left out of the report (and said so).
"""
import glob
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)

def sim_policy_name(label):
    """The simulator's chunked:<budget>, layered:<G>, whole as scripts/reproduce names them."""
    name, _, arg = label.partition(":")
    return f"chunked-{arg}" if name == "chunked" else name


# The paper's Qwen3-30B-A3B arXiv numbers at 1.5 req/s on 2 x H100
# (vLLM's chunked prefill vs layered prefill), from layered-prefill.md.
PAPER_QWEN3_ARXIV_1_5 = {
    "chunked": {"TTFT mean": 1019, "TTFT median": 873, "TPOT mean": 19.7, "ITL p99": 36.8},
    "layered": {"TTFT mean": 713, "TTFT median": 561, "TPOT mean": 15.1, "ITL p99": 27.9},
}


def load_json(path):
    with open(path) as f:
        return json.load(f)


def fmt(x, digits=0):
    return "-" if x is None else f"{x:,.{digits}f}"


def parse_metrics(path):
    """Sums of every sample of each Prometheus metric in a /metrics scrape."""
    sums = {}
    if not os.path.exists(path):
        return sums
    with open(path) as f:
        for line in f:
            if not line.strip() or line.startswith("#"):
                continue
            name_labels, _, value = line.rpartition(" ")
            name = name_labels.split("{", 1)[0]
            try:
                sums[name] = sums.get(name, 0.0) + float(value)
            except ValueError:
                pass
    return sums


def load_serve_runs(results):
    """{workload: {policy: {rate: run}}} where run is the bench serve JSON plus scrape deltas."""
    runs = {}
    for path in sorted(glob.glob(os.path.join(results, "serve", "*", "*@*.json"))):
        workload = os.path.basename(os.path.dirname(path))
        policy, _, rate = os.path.basename(path)[: -len(".json")].partition("@")
        run = load_json(path)
        stem = path[: -len(".json")]
        before = parse_metrics(stem + ".metrics-before.txt")
        after = parse_metrics(stem + ".metrics-after.txt")
        run["preemptions"] = (after.get("vllm:num_preemptions_total", 0) - before.get("vllm:num_preemptions_total", 0)
                              if after else None)
        runs.setdefault(workload, {}).setdefault(policy, {})[float(rate)] = run
    return runs


def load_engine_runs(results):
    """{workload: {policy: run}} from bench engine; chunked runs are named by the file's budget."""
    runs = {}
    for path in sorted(glob.glob(os.path.join(results, "engine", "*.json"))):
        workload = os.path.basename(path).split("-", 1)[0]
        data = load_json(path)
        budget = os.path.basename(path)[: -len(".json")].rsplit("-", 1)[1]
        for run in data["runs"]:
            policy = f"chunked-{budget}" if run["policy"] == "chunked" else run["policy"]
            runs.setdefault(workload, {})[policy] = run
    return runs


def load_sim_cpu(results):
    """{workload: {policy: {rate: run}}} from the calibrated-CPU simulation."""
    runs = {}
    for path in sorted(glob.glob(os.path.join(results, "sim", "cpu-*.json"))):
        if path.endswith("cpu-profile.json"):
            continue
        workload = os.path.basename(path)[len("cpu-"): -len(".json")]
        for setting in load_json(path)["settings"]:
            for run in setting["runs"]:
                runs.setdefault(workload, {}).setdefault(sim_policy_name(run["policy"]), {})[run["request_rate"]] = run
    return runs


def itls(run):
    return [gap for r in run["requests"] if r["success"] for gap in r["itls_ms"]]


def ttfts(run):
    return [r["ttft_ms"] for r in run["requests"] if r["success"]]


def policy_order(policies, config):
    order = list(config.get("policies", {}))
    return [p for p in order if p in policies] + sorted(p for p in policies if p not in order)


def serve_table(workload, by_policy, engine, config):
    lines = [
        "| policy | req/s | TTFT mean | TTFT median | TTFT p99 | ITL mean | ITL p99 | TPOT mean | SLO attained | "
        "goodput req/s | output tok/s | expert MB / prompt token | preemptions |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for policy in policy_order(by_policy, config):
        expert = engine.get(workload, {}).get(policy)
        expert_mb = expert["expert_bytes_per_prompt_token"] / 1e6 if expert else None
        for rate, run in sorted(by_policy[policy].items()):
            failed = f" ({run['failed']} failed)" if run["failed"] else ""
            lines.append(
                f"| {policy} | {rate:g} | {fmt(run['ttft_ms']['mean'])} | {fmt(run['ttft_ms']['median'])} | "
                f"{fmt(run['ttft_ms']['p99'])} | {fmt(run['itl_ms']['mean'])} | {fmt(run['itl_ms']['p99'])} | "
                f"{fmt(run['tpot_ms']['mean'])} | {fmt(run.get('slo_attainment_pct'))}%{failed} | "
                f"{fmt(run.get('goodput'), 3)} | {fmt(run['output_throughput'], 1)} | {fmt(expert_mb, 1)} | "
                f"{fmt(run['preemptions'])} |")
    return lines


def headline(workload, by_policy, tuned):
    """One line per rate: layered against the tuned chunked budget."""
    lines = []
    layered, chunked = by_policy.get("layered"), by_policy.get(tuned)
    if not layered or not chunked:
        return lines
    for rate in sorted(set(layered) & set(chunked)):
        l, c = layered[rate], chunked[rate]
        def ratio(key, stat):
            return l[key][stat] / c[key][stat] if c[key][stat] else float("nan")
        lines.append(
            f"- {workload} @ {rate:g} req/s, layered vs {tuned}: TTFT mean x{ratio('ttft_ms', 'mean'):.2f}, "
            f"median x{ratio('ttft_ms', 'median'):.2f}; ITL p99 x{ratio('itl_ms', 'p99'):.2f}; "
            f"SLO {fmt(l.get('slo_attainment_pct'))}% vs {fmt(c.get('slo_attainment_pct'))}%")
    return lines


def engine_table(engine, config):
    lines = [
        "| workload | policy | expert MB read / prompt token | distinct experts / MoE call | steps | prompt tokens |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for workload, by_policy in sorted(engine.items()):
        for policy in policy_order(by_policy, config):
            run = by_policy[policy]
            lines.append(f"| {workload} | {policy} | {run['expert_bytes_per_prompt_token'] / 1e6:.1f} | "
                         f"{run['experts_per_moe_call']:.1f} | {run['steps']} | {run['prompt_tokens']} |")
    return lines


def agreement(measured, simulated):
    return simulated / measured - 1 if measured else float("nan")


def sim_cpu_table(serve, sim_cpu, config):
    """Measured vs simulated on the same requests; returns (lines, {metric: |relative errors|} of comparable rows)."""
    lines = [
        "| workload | policy | req/s | TTFT mean measured | simulated | diff | ITL mean measured | simulated | diff | "
        "TPOT mean measured | simulated | diff |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    errors = {"TTFT": [], "ITL": [], "TPOT": []}
    for workload, by_policy in sorted(serve.items()):
        for policy in policy_order(by_policy, config):
            for rate, run in sorted(by_policy[policy].items()):
                sim = sim_cpu.get(workload, {}).get(policy, {}).get(rate)
                if not sim:
                    continue
                cells = []
                for metric in errors:
                    m, s = run[metric.lower() + "_ms"]["mean"], sim[metric.lower()]["mean_ms"]
                    e = agreement(m, s)
                    errors[metric].append(abs(e))
                    cells += [fmt(m), fmt(s), f"{e:+.0%}"]
                lines.append(f"| {workload} | {policy} | {rate:g} | " + " | ".join(cells) + " |")
    return lines, errors


def paper_tables(paper):
    lines = []
    for setting in paper["settings"]:
        lines += [
            f"**{setting['model']}, {setting['dataset']}, SLO {setting['slo']}** ({setting['num_prompts']} requests)",
            "",
            "| policy | req/s | TTFT mean | TTFT median | TTFT p99 | ITL mean | ITL p99 | TPOT mean | SLO attained | "
            "expert MB / prompt token |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for run in setting["runs"]:
            lines.append(
                f"| {run['policy']} | {run['request_rate']:g} | {fmt(run['ttft']['mean_ms'])} | "
                f"{fmt(run['ttft']['median_ms'])} | {fmt(run['ttft']['p99_ms'])} | {fmt(run['itl']['mean_ms'], 1)} | "
                f"{fmt(run['itl']['p99_ms'], 1)} | {fmt(run['tpot']['mean_ms'], 1)} | "
                f"{fmt(run['slo_attainment_pct'])}% | {run['expert_bytes_per_prompt_token'] / 1e6:.1f} |")
        lines.append("")
    return lines


def paper_comparison(paper):
    """The simulated Qwen3 arXiv 1.5 req/s point next to the paper's reported numbers."""
    for setting in paper["settings"]:
        if setting["model"] != "qwen3-30b-a3b" or setting["dataset"] != "arxiv":
            continue
        sim = {}
        for run in setting["runs"]:
            if abs(run["request_rate"] - 1.5) < 1e-9:
                sim[run["policy"].split(":")[0]] = {
                    "TTFT mean": run["ttft"]["mean_ms"], "TTFT median": run["ttft"]["median_ms"],
                    "TPOT mean": run["tpot"]["mean_ms"], "ITL p99": run["itl"]["p99_ms"]}
        if "chunked" not in sim or "layered" not in sim:
            return []
        lines = ["| Qwen3-30B-A3B arXiv @ 1.5 req/s (ms) | paper chunked (vLLM) | simulated chunked:512 | "
                 "paper layered | simulated layered |", "|---|---:|---:|---:|---:|"]
        for key in PAPER_QWEN3_ARXIV_1_5["chunked"]:
            lines.append(f"| {key} | {PAPER_QWEN3_ARXIV_1_5['chunked'][key]:g} | {sim['chunked'][key]:.1f} | "
                         f"{PAPER_QWEN3_ARXIV_1_5['layered'][key]:g} | {sim['layered'][key]:.1f} |")
        return lines
    return []


def cdf(ax, values, label):
    values = sorted(values)
    if values:
        ax.step(values, [(i + 1) / len(values) for i in range(len(values))], where="post", label=label)


def plot_cdfs(serve, config, out_dir, pick, xlabel, filename):
    paths = []
    for workload, by_policy in sorted(serve.items()):
        rates = sorted({rate for runs in by_policy.values() for rate in runs})
        fig, axes = plt.subplots(1, len(rates), figsize=(4.2 * len(rates), 3.4), squeeze=False)
        for ax, rate in zip(axes[0], rates):
            for policy in policy_order(by_policy, config):
                if rate in by_policy[policy]:
                    cdf(ax, pick(by_policy[policy][rate]), policy)
            ax.set_title(f"{workload} @ {rate:g} req/s")
            ax.set_xlabel(xlabel)
            ax.set_xscale("log")
            ax.grid(alpha=0.3)
        axes[0][0].set_ylabel("fraction")
        axes[0][-1].legend(fontsize=8)
        fig.tight_layout()
        path = os.path.join(out_dir, filename.format(workload=workload))
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths


def plot_slo(serve, sim_cpu, config, out_dir):
    fig, axes = plt.subplots(1, len(serve), figsize=(5 * len(serve), 3.6), squeeze=False)
    for ax, (workload, by_policy) in zip(axes[0], sorted(serve.items())):
        for i, policy in enumerate(policy_order(by_policy, config)):
            runs = sorted(by_policy[policy].items())
            color = f"C{i}"
            ax.plot([r for r, _ in runs], [run.get("slo_attainment_pct", 0) for _, run in runs], "o-", color=color,
                    label=f"{policy} (measured)")
            sim = sorted(sim_cpu.get(workload, {}).get(policy, {}).items())
            if sim:
                ax.plot([r for r, _ in sim], [run["slo_attainment_pct"] for _, run in sim], "x--", color=color,
                        alpha=0.6, label=f"{policy} (simulated)")
        ax.set_title(f"{workload}: SLO {config['workloads'][workload]['slo']}")
        ax.set_xlabel("request rate (req/s)")
        ax.set_ylabel("SLO attainment (%)")
        ax.set_ylim(-5, 105)
        ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=7)
    fig.tight_layout()
    path = os.path.join(out_dir, "slo_attainment.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_expert_bytes(engine, config, out_dir):
    workloads = sorted(engine)
    policies = policy_order({p for w in workloads for p in engine[w]}, config)
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    width = 0.8 / max(1, len(policies))
    for i, policy in enumerate(policies):
        values = [engine[w].get(policy, {}).get("expert_bytes_per_prompt_token", 0) / 1e6 for w in workloads]
        ax.bar([x + i * width for x in range(len(workloads))], values, width, label=policy)
    ax.set_xticks([x + width * (len(policies) - 1) / 2 for x in range(len(workloads))], workloads)
    ax.set_ylabel("expert MB read per prompt token")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    path = os.path.join(out_dir, "expert_bytes.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_paper(paper, out_dir):
    """Figure-3 style: TTFT mean, ITL p99 and SLO attainment against request rate, one row per setting."""
    settings = paper["settings"]
    fig, axes = plt.subplots(len(settings), 3, figsize=(12, 2.8 * len(settings)), squeeze=False)
    for row, setting in zip(axes, settings):
        policies = sorted({run["policy"] for run in setting["runs"]})
        for policy in policies:
            runs = sorted((run["request_rate"], run) for run in setting["runs"] if run["policy"] == policy)
            rates = [rate for rate, _ in runs]
            row[0].plot(rates, [run["ttft"]["mean_ms"] for _, run in runs], "o-", label=policy)
            row[1].plot(rates, [run["itl"]["p99_ms"] for _, run in runs], "o-", label=policy)
            row[2].plot(rates, [run["slo_attainment_pct"] for _, run in runs], "o-", label=policy)
        title = f"{setting['model']} {setting['dataset']}"
        for ax, what in zip(row, ("TTFT mean (ms)", "ITL p99 (ms)", "SLO attainment (%)")):
            ax.set_title(f"{title}: {what}", fontsize=9)
            ax.set_xlabel("request rate (req/s)")
            ax.grid(alpha=0.3)
        row[2].set_ylim(-5, 105)
        row[0].legend(fontsize=7)
    fig.tight_layout()
    path = os.path.join(out_dir, "gpu_sim.png")
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def main(results):
    config = load_json(os.path.join(results, "config.json"))
    serve = load_serve_runs(results)
    engine = load_engine_runs(results)
    sim_cpu = load_sim_cpu(results)
    paper_path = os.path.join(results, "sim", "paper.json")
    paper = load_json(paper_path) if os.path.exists(paper_path) else None
    tuned = f"chunked-{config['chunk_budget']}"

    md = [f"# Layered prefill reproduction ({config['mode']})", ""]
    md += [
        f"- machine: {config.get('cpu', '?')}; wall time {config.get('duration_s', 0) / 60:.1f} min",
        f"- model: `{config['model']}` ({config['model_bytes'] / 2**30:.2f} GiB): {config['layers']} layers of "
        "Qwen3-30B-A3B's shape (hidden 2048, 128 experts top-8, expert FFN 768), random weights",
        f"- {config['num_prompts']} requests per point, Poisson arrivals, seed {config['seed']}; lengths are "
        "the paper's workloads scaled down (fixed at the scaled means):",
    ]
    for workload, w in config["workloads"].items():
        md.append(f"  - {workload}: prompt {w['input_len']} tokens, output {w['output_len']} tokens, SLO {w['slo']} "
                  "(a request attains it only if its TTFT and every inter-token gap are within)")
    md.append("- policies (`strata serve` flags):")
    for policy, flags in config["policies"].items():
        md.append(f"  - {policy}: `{flags}`")
    md.append("")

    md += ["## Measured (strata serve + strata bench serve)", "",
           "Times in ms. ITL pools every inter-token gap. Expert MB per prompt token comes from `strata bench "
           "engine` (same engine in process, the paper's length distributions scaled the same way; it counts "
           "prefill and decode reads), so it is one figure per policy.", ""]
    if not serve:
        md += ["No serving results were found.", ""]
    for workload, by_policy in sorted(serve.items()):
        md += [f"### {workload}", ""] + serve_table(workload, by_policy, engine, config) + [""]
    heads = [line for workload, by_policy in sorted(serve.items()) for line in headline(workload, by_policy, tuned)]
    if heads:
        md += ["### Layered against chunked at the CPU-tuned budget", ""] + heads + [""]

    plots = []
    if serve:
        plots += plot_cdfs(serve, config, results, ttfts, "TTFT (ms)", "ttft_cdf_{workload}.png")
        plots += plot_cdfs(serve, config, results, itls, "inter-token gap (ms)", "tbt_cdf_{workload}.png")
        plots.append(plot_slo(serve, sim_cpu, config, results))
    if engine:
        md += ["## Expert-weight traffic (strata bench engine)", ""] + engine_table(engine, config) + [""]
        plots.append(plot_expert_bytes(engine, config, results))

    md += ["## Simulated vs measured on this CPU", ""]
    if sim_cpu and serve:
        lines, errors = sim_cpu_table(serve, sim_cpu, config)
        md += ["`strata sim` with this CPU's profile (`strata sim calibrate`) on exactly the requests and arrival "
               "times the server saw. diff = simulated / measured - 1.", ""] + lines + [""]
        summary = []
        for metric, errs in errors.items():
            if errs:
                errs.sort()
                summary.append(f"{metric} {sum(e <= 0.25 for e in errs)} of {len(errs)} within 25% "
                               f"(median |diff| {errs[len(errs) // 2]:.0%}, worst {errs[-1]:.0%})")
        if summary:
            md += ["Agreement of the means (every policy, the simulator configured as the server was): " +
                   "; ".join(summary) + ". The profile is fitted to real engine steps timed by `strata sim calibrate` "
                   "(see logs/calibrate.txt for each step's measured and fitted time); the server adds HTTP, "
                   "tokenization and streaming to every token, which the simulator does not see.", ""]
    else:
        md += ["No CPU simulation results were found.", ""]

    md += ["## GPU scale: the paper's settings on a simulated 2 x H100 SXM (`strata sim --paper`)", ""]
    if paper:
        comparison = paper_comparison(paper)
        if comparison:
            md += comparison + [""]
        md += paper_tables(paper)
        plots.append(plot_paper(paper, results))
    else:
        md += ["No GPU-scale simulation results were found.", ""]

    md += ["## Plots", ""] + [f"![{os.path.basename(p)}]({os.path.basename(p)})" for p in plots] + [""]
    with open(os.path.join(results, "report.md"), "w") as f:
        f.write("\n".join(md))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: report.py RESULTS_DIR")
    main(sys.argv[1])
