"""Python side of bench/compare: input files, the Python reference stack's timings, the check.

    python compare_peers.py gen DATA_DIR
    python compare_peers.py peers DATA_DIR OURS.csv OUT_DIR

`gen` writes the same raw little-endian float64 files that the Rust timer reads. `peers` times
scipy.stats.wasserstein_distance, POT's ot.wasserstein_1d, ot.emd2_1d and ot.emd_1d (plan, then
the logistic cost on its support) on those files, checks every value against this toolkit's to
1e-12 relative (exit status 1 before any time is printed if one disagrees), then writes
results.csv and table.md into OUT_DIR and prints the table.

Times are taken in this process with time.perf_counter around each call only: the arrays are
already in memory, so neither interpreter start-up nor file parsing is counted.
"""

import csv
import gc
import itertools
import math
import os
import platform
import statistics
import sys
import textwrap
import time

import numpy as np
import ot
import scipy
import scipy.stats

SEED = 20241203
SIZES = [10**3, 10**4, 10**5, 10**6]
BETA = 1.0  # slope of the logistic cost h(x) = log(1 + exp(-beta x)), as in the Rust timer
RTOL = 1e-12
# ot.wasserstein_1d merges the running sums of the weights in floating point, so its levels
# drift by about n ulps and its value by up to ~1e-10 relative at n = 1e6 with unequal sizes
# (measured by this script against the exact-level reference below). It is held to 1e-9; every
# other peer, and aot against the exact reference, to 1e-12.
PEER_RTOL = {"pot_wasserstein_1d": 1e-9, "pot_wasserstein_1d_plan": 1e-9}


def runs_for(n):
    """Repetitions per method: more for small n, where one call is short and noisy."""
    return {10**3: 41, 10**4: 21, 10**5: 11}.get(n, 7)


def gen(data_dir):
    os.makedirs(data_dir, exist_ok=True)
    rng = np.random.default_rng(SEED)
    rows = []
    for n in SIZES:
        for case in ["equal", "unequal", "weighted"]:
            m = (3 * n) // 4 + 1 if case == "unequal" else n
            u = rng.normal(0.5, 1.0, n)
            v = rng.normal(0.0, 1.0, m)
            files = {"u": u, "v": v}
            if case == "weighted":
                files["wu"] = rng.uniform(0.1, 2.0, n)
                files["wv"] = rng.uniform(0.1, 2.0, m)
            for side, x in files.items():
                x.astype("<f8").tofile(os.path.join(data_dir, f"{case}_{n}_{side}.f64"))
            rows.append([case, n, m, int(case == "weighted"), runs_for(n)])
    with open(os.path.join(data_dir, "manifest.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["case", "n", "m", "weighted", "runs"])
        w.writerows(rows)


def logistic(x):
    # log(1 + exp(-beta x)), evaluated stably
    return np.logaddexp(0.0, -BETA * x)


def peer_methods(u, v, wu, wv):
    """(quantity, method, function) for every peer applicable to these inputs."""

    def norm(w):
        return None if w is None else w / w.sum()

    def emd_plan_eps():
        g = ot.emd_1d(u, v, norm(wu), norm(wv), metric="minkowski", p=1, dense=False)
        return float(np.sum(g.data * logistic(u[g.row] - v[g.col])))

    def quantile_plan_eps():
        # POT returns plans only for 2-D inputs (one plan per column).
        _, plans = ot.wasserstein_1d(u[:, None], v[:, None], norm(wu), norm(wv), p=1,
                                     return_plans="coo_tuple")
        plan = plans[0]
        return float(np.sum(plan.data * logistic(u[plan.rows] - v[plan.cols])))

    methods = [
        ("w1", "scipy_wasserstein_distance",
         lambda: scipy.stats.wasserstein_distance(u, v, wu, wv)),
        ("w1", "pot_wasserstein_1d",
         lambda: float(ot.wasserstein_1d(u, v, norm(wu), norm(wv), p=1))),
        ("w1", "pot_emd2_1d",
         lambda: float(ot.emd2_1d(u, v, norm(wu), norm(wv), metric="minkowski", p=1))),
        ("w2", "pot_wasserstein_1d",
         lambda: float(np.sqrt(ot.wasserstein_1d(u, v, norm(wu), norm(wv), p=2)))),
        ("w2", "pot_emd2_1d", lambda: float(np.sqrt(ot.emd2_1d(u, v, norm(wu), norm(wv))))),
        ("eps_logistic", "pot_emd_1d_plan", emd_plan_eps),
        ("eps_logistic", "pot_wasserstein_1d_plan", quantile_plan_eps),
    ]
    if wu is None and len(u) == len(v):
        # Equal sizes and weights only: sort both and pair by rank, in numpy.
        methods.append(
            ("eps_logistic", "numpy_sort_pair",
             lambda: float(np.mean(logistic(np.sort(u) - np.sort(v))))))
    return methods


def exact_reference(u, v, wu, wv):
    """W1, W2 and the logistic eps_h by a merge on exact integer levels, independent of aot.

    Weights are scaled to exact integers (every float is an integer times a power of two), so
    the running sums and the breakpoints A_i = U_i * V_total and B_j = V_j * U_total are exact
    Python integers; each segment's mass is one correctly rounded division, and the sums use
    math.fsum. Returns {quantity: value}.
    """
    def integer_weights(w, n):
        if w is None:
            return [1] * n
        exponent = max(-np.frexp(w)[1].min() + 53, 0)
        return [int(x) for x in np.ldexp(w, exponent).astype(object)]

    iu, iv = np.argsort(u, kind="stable"), np.argsort(v, kind="stable")
    su, sv = u[iu], v[iv]
    cu = list(itertools.accumulate(integer_weights(None if wu is None else wu[iu], len(u))))
    cv = list(itertools.accumulate(integer_weights(None if wv is None else wv[iv], len(v))))
    tu, tv = cu[-1], cv[-1]
    denom = tu * tv
    i = j = 0
    prev = 0
    ui, vj, mass = [], [], []
    while i < len(cu) and j < len(cv):
        a, b = cu[i] * tv, cv[j] * tu
        end = min(a, b)
        if end > prev:
            ui.append(i)
            vj.append(j)
            mass.append((end - prev) / denom)
            prev = end
        if a <= b:
            i += 1
        if b <= a:
            j += 1
    gap = su[np.array(ui)] - sv[np.array(vj)]
    mass = np.array(mass)
    return {
        "w1": math.fsum(mass * np.abs(gap)),
        "w2": math.sqrt(math.fsum(mass * gap * gap)),
        "eps_logistic": math.fsum(mass * logistic(gap)),
    }


OURS = {"w1": "aot_w1", "w2": "aot_w2", "eps_logistic": "aot_eps_logistic"}


def measure(runs, f):
    f()  # warm-up
    times = []
    value = None
    gc.disable()
    try:
        for _ in range(runs):
            start = time.perf_counter()
            value = f()
            times.append(time.perf_counter() - start)
    finally:
        gc.enable()
    return statistics.median(times), min(times), value


def load(data_dir, case, n, side):
    return np.fromfile(os.path.join(data_dir, f"{case}_{n}_{side}.f64"), dtype="<f8")


def peers(data_dir, ours_csv, out_dir):
    os.makedirs(out_dir, exist_ok=True)
    with open(ours_csv, newline="") as f:
        ours = {(r["case"], int(r["n"]), r["method"]): r for r in csv.DictReader(f)}
    with open(os.path.join(data_dir, "manifest.csv"), newline="") as f:
        manifest = list(csv.DictReader(f))

    rows = []  # (case, n, m, quantity, method, median, min, runs, value, rel. difference)
    failures = []
    reference_rel = []
    for entry in manifest:
        case, n, m, runs = entry["case"], int(entry["n"]), int(entry["m"]), int(entry["runs"])
        u, v = load(data_dir, case, n, "u"), load(data_dir, case, n, "v")
        wu = wv = None
        if entry["weighted"] == "1":
            wu, wv = load(data_dir, case, n, "wu"), load(data_dir, case, n, "wv")
        for quantity, value in exact_reference(u, v, wu, wv).items():
            ref = float(ours[(case, n, OURS[quantity])]["value"])
            rel = abs(value - ref) / max(abs(ref), 1e-300)
            if not rel <= RTOL:
                failures.append(f"{case} n={n} {quantity}: exact-level reference = {value!r}, "
                                f"aot = {ref!r}, relative difference {rel:.3e}")
            reference_rel.append(rel)
        for quantity, method, f in peer_methods(u, v, wu, wv):
            med, low, value = measure(runs, f)
            ref = float(ours[(case, n, OURS[quantity])]["value"])
            rel = abs(value - ref) / max(abs(ref), 1e-300)
            if not rel <= PEER_RTOL.get(method, RTOL):
                failures.append(f"{case} n={n} {quantity}: {method} = {value!r}, "
                                f"aot = {ref!r}, relative difference {rel:.3e}")
            rows.append((case, n, m, quantity, method, med, low, runs, value, rel))
        print(f"  {case:9s} n = {n:>8d}: peers timed", file=sys.stderr)

    if failures:
        print("VALUES DISAGREE; no timing is reported:", file=sys.stderr)
        for line in failures:
            print("  " + line, file=sys.stderr)
        sys.exit(1)
    strict = [r[9] for r in rows if r[4] not in PEER_RTOL]
    loose = [r[9] for r in rows if r[4] in PEER_RTOL] or [0.0]
    summary = (
        f"Values checked before timing: aot vs the exact-level reference, largest relative "
        f"difference {max(reference_rel):.1e} (tolerance {RTOL:g}); aot vs scipy and POT's "
        f"emd_1d / emd2_1d {max(strict):.1e} (tolerance {RTOL:g}); aot vs POT's "
        f"wasserstein_1d {max(loose):.1e} (tolerance 1e-9, see PEER_RTOL).")
    print(summary, file=sys.stderr)

    # Combined long CSV: ours (including the floor) and the peers.
    ours_quantity = {"aot_w1": "w1", "aot_w2": "w2", "aot_eps_logistic": "eps_logistic",
                     "aot_eps_logistic_grad": "eps_logistic_with_gradient", "floor_sort": "floor",
                     "aot_samples": "samples_only", "floor_sort_pairs": "floor_with_weights"}
    combined = []
    for (case, n, method), r in ours.items():
        combined.append((case, n, int(r["m"]), ours_quantity[method], method,
                         float(r["median_s"]), float(r["min_s"]), int(r["runs"]), r["value"]))
    combined += [r[:8] + (repr(r[8]),) for r in rows]
    with open(os.path.join(out_dir, "results.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["case", "n", "m", "quantity", "method", "median_s", "min_s", "runs", "value"])
        for r in sorted(combined, key=lambda r: (r[0], r[1], r[3], r[4])):
            w.writerow([r[0], r[1], r[2], r[3], r[4], f"{r[5]:.6e}", f"{r[6]:.6e}", r[7], r[8]])

    table = render_table(ours, rows) + "\n" + textwrap.fill(summary, width=98) + "\n"
    with open(os.path.join(out_dir, "table.md"), "w") as f:
        f.write(table)
    print(table)


def fmt_time(s):
    if s < 1e-3:
        return f"{s * 1e6:.0f} µs"
    if s < 1.0:
        return f"{s * 1e3:.2f} ms"
    return f"{s:.2f} s"


def render_table(ours, rows):
    lines = [
        "Median wall time per call, measured inside each process around the computation only",
        "(no process start-up, no file parsing). floor = copy both inputs and sort them with",
        "Rust's slice::sort_unstable_by(f64::total_cmp) in the aot process.",
        f"numpy {np.__version__}, scipy {scipy.__version__}, POT {ot.__version__}, "
        f"Python {platform.python_version()}.",
        "",
        "| case | n | quantity | aot | floor | aot / floor | peer | peer time | peer / aot "
        "| rel. diff |",
        "|---|---:|---|---:|---:|---:|---|---:|---:|---:|",
    ]
    for case, n, m, quantity, method, med, _low, _runs, _value, rel in rows:
        aot_t = float(ours[(case, n, OURS[quantity])]["median_s"])
        floor_t = float(ours[(case, n, "floor_sort")]["median_s"])
        size = f"{n}" if m == n else f"{n} / {m}"
        lines.append(
            f"| {case} | {size} | {quantity} | {fmt_time(aot_t)} | {fmt_time(floor_t)} | "
            f"{aot_t / floor_t:.2f} | {method} | {fmt_time(med)} | {med / aot_t:.1f} | "
            f"{rel:.0e} |")
    grads = [(c, n, float(r["median_s"])) for (c, n, meth), r in ours.items()
             if meth == "aot_eps_logistic_grad"]
    lines += ["", "aot ε_h with its gradient (relaxed_violation; no Python peer computes it):", ""]
    lines += ["| case | n | time | / floor |", "|---|---:|---:|---:|"]
    for c, n, t in sorted(grads):
        floor_t = float(ours[(c, n, "floor_sort")]["median_s"])
        lines.append(f"| {c} | {n} | {fmt_time(t)} | {t / floor_t:.2f} |")
    pair_floors = [(c, n, float(r["median_s"])) for (c, n, meth), r in ours.items()
                   if meth == "floor_sort_pairs"]
    lines += ["", "Weighted inputs next to a second floor that carries the weights along (copy the",
              "(value, weight) pairs and sort them by value with sort_unstable_by):", ""]
    lines += ["| n | floor (values) | floor (pairs) | aot ε_h | aot ε_h / floor (pairs) |",
              "|---:|---:|---:|---:|---:|"]
    for c, n, t in sorted(pair_floors):
        floor_t = float(ours[(c, n, "floor_sort")]["median_s"])
        eps_t = float(ours[(c, n, "aot_eps_logistic")]["median_s"])
        lines.append(f"| {n} | {fmt_time(floor_t)} | {fmt_time(t)} | {fmt_time(eps_t)} | "
                     f"{eps_t / t:.2f} |")
    return "\n".join(lines) + "\n"


def main(argv):
    if len(argv) == 2 and argv[0] == "gen":
        gen(argv[1])
    elif len(argv) == 4 and argv[0] == "peers":
        peers(argv[1], argv[2], argv[3])
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main(sys.argv[1:])
