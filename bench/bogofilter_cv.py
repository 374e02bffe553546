#!/usr/bin/env python3
"""bogofilter on exactly the folds of a `tamis train --cv-scores` file.

The issue's reference for a Bayesian filter (bogofilter: AUC 0.99968, FNR
6.1 % at FPR 0.1 %) was measured on a 50/50 split; tamis reports stratified
K-fold numbers. This runs bogofilter (Debian package `bogofilter`, default
parameters, every training message registered, scores to 16 digits) on the same folds tamis used
and scores both with the same metrics as `tamis train`:

  AUC           ties count half;
  FNR at FPR x  the threshold is the (floor(x * ham))-th highest held-out
                ham score; spam at or below it is missed (ties are misses).

Usage (from the repository root):
  build/src/tamis -c config/tamis.yaml train --labels L.tsv --folds 5 --seed 42 --cv-scores /tmp/cv.tsv
  bench/bogofilter_cv.py /tmp/cv.tsv [--jobs 2]

Paths in the cv-scores file are used as written (relative to where tamis
ran, normally the repository root). Prints one line per fold and the means.

On mail neither filter was trained on: bogofilter learns every message of
--train and scores --test; tamis's scores of the same --test come from
`tamis eval --labels TEST.tsv --scores S.tsv` with the model trained on TRAIN:
  bench/bogofilter_cv.py --train TRAIN.tsv --test TEST.tsv --tamis-scores S.tsv
"""
import argparse
import collections
import concurrent.futures
import math
import os
import shutil
import subprocess
import sys
import tempfile


def metrics(scores, labels):
    """(auc, fnr at fpr 0.1 %, fnr at fpr 0.01 %), as tamis train computes them."""
    order = sorted(range(len(scores)), key=lambda i: scores[i])
    rank_sum, i = 0.0, 0
    while i < len(order):
        j = i
        while j < len(order) and scores[order[j]] == scores[order[i]]:
            j += 1
        avg = (i + j + 1) / 2.0
        rank_sum += sum(avg for k in range(i, j) if labels[order[k]])
        i = j
    n_spam = sum(labels)
    n_ham = len(labels) - n_spam
    auc = (rank_sum - n_spam * (n_spam + 1) / 2) / (n_ham * n_spam)
    ham = sorted((s for s, l in zip(scores, labels) if not l), reverse=True)

    def fnr_at(fpr):
        allowed = math.floor(fpr * len(ham))
        thr = ham[allowed] if allowed < len(ham) else -math.inf
        return sum(1 for s, l in zip(scores, labels) if l and s <= thr) / n_spam

    return auc, fnr_at(1e-3), fnr_at(1e-4)


def bogofilter_fold(bogo, train, test):
    """Registers `train` [(path, label)] in a fresh wordlist, returns spamicities of `test` paths."""
    d = tempfile.mkdtemp(prefix="bogo-cv-")
    try:
        for flag, lab in (("-n", 0), ("-s", 1)):
            files = "".join(p + "\n" for p, l in train if l == lab)
            subprocess.run([bogo, "-d", d, flag, "-b"], input=files, text=True, check=True)
        # -TT: the spamicity alone, to 16 significant digits (-T rounds to 6,
        # which makes ties of most spam and the spammiest ham at "1")
        out = subprocess.run([bogo, "-d", d, "-TT", "-b"], input="".join(p + "\n" for p in test),
                             text=True, capture_output=True)
        # exit status 0 spam, 1 ham, 2 unsure: all fine; 3 is an error
        if out.returncode == 3:
            sys.exit(f"bogofilter failed: {out.stderr.strip()}")
        got = {}
        for line in out.stdout.splitlines():
            path, spamicity = line.rsplit(" ", 1)
            got[path] = float(spamicity)
        missing = [p for p in test if p not in got]
        if missing:
            sys.exit(f"bogofilter gave no score for {len(missing)} messages, e.g. {missing[0]}")
        return [got[p] for p in test]
    finally:
        shutil.rmtree(d, ignore_errors=True)


def read_labels(path):
    base = os.path.dirname(os.path.abspath(path))
    out = []
    for n, line in enumerate(open(path), 1):
        parts = line.rstrip("\n").split("\t")
        if len(parts) != 2 or parts[0] not in ("ham", "spam"):
            sys.exit(f"{path}:{n}: expected ham|spam<TAB>path")
        out.append((os.path.join(base, parts[1]), parts[0] == "spam"))
    return out


def transfer(a):
    train, test = read_labels(a.train), read_labels(a.test)
    tamis = {}
    for n, line in enumerate(open(a.tamis_scores), 1):
        parts = line.rstrip("\n").split("\t")
        if len(parts) != 4:
            sys.exit(f"{a.tamis_scores}:{n}: expected path<TAB>label<TAB>score<TAB>action")
        tamis[os.path.abspath(parts[0])] = float(parts[2])
    missing = [p for p, _ in test if p not in tamis]
    if missing:
        sys.exit(f"{len(missing)} --test messages have no tamis score, e.g. {missing[0]}")
    labels = [l for _, l in test]
    b = metrics(bogofilter_fold(a.bogofilter, train, [p for p, _ in test]), labels)
    t = metrics([tamis[p] for p, _ in test], labels)
    print(f"trained on {a.train} ({len(train)}), scored {a.test} ({sum(labels)} spam, {len(labels) - sum(labels)} ham)")
    print(f"{'':>12} {'AUC':>10} {'FNR@0.1%':>9} {'FNR@0.01%':>10}")
    for name, m in (("tamis", t), ("bogofilter", b)):
        print(f"{name:>12} {m[0]:>10.6f} {m[1] * 100:>8.2f}% {m[2] * 100:>9.2f}%")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("cv_scores", nargs="?", help="file written by tamis train --cv-scores")
    ap.add_argument("--train", help="labels file (ham|spam<TAB>path relative to it): bogofilter learns all of it")
    ap.add_argument("--test", help="labels file scored by that bogofilter")
    ap.add_argument("--tamis-scores", help="tamis eval --scores output for the --test messages")
    ap.add_argument("--jobs", type=int, default=2, help="folds run at once")
    ap.add_argument("--bogofilter", default=shutil.which("bogofilter") or "bogofilter")
    a = ap.parse_args()
    if not shutil.which(a.bogofilter):
        sys.exit("bogofilter not found: apt-get install bogofilter")
    if a.train or a.test:
        if not (a.train and a.test and a.tamis_scores) or a.cv_scores:
            sys.exit("give either a cv-scores file, or --train, --test and --tamis-scores")
        transfer(a)
        return
    if not a.cv_scores:
        ap.error("give a cv-scores file, or --train/--test/--tamis-scores")

    rows = []  # (path, label, fold, tamis score)
    for n, line in enumerate(open(a.cv_scores), 1):
        parts = line.rstrip("\n").split("\t")
        if len(parts) != 4 or parts[1] not in ("ham", "spam"):
            sys.exit(f"{a.cv_scores}:{n}: expected path<TAB>ham|spam<TAB>fold<TAB>score")
        rows.append((parts[0], parts[1] == "spam", parts[2], float(parts[3])))
    missing = [r[0] for r in rows if not os.path.exists(r[0])]
    if missing:
        sys.exit(f"{len(missing)} paths do not exist here (run from where tamis ran), e.g. {missing[0]}")

    by_fold = collections.OrderedDict()
    for r in rows:
        by_fold.setdefault(r[2], []).append(r)
    # Within one repetition ("r.f" or "f"), a fold's training set is the other folds.
    def rep_of(fold):
        return fold.split(".")[0] if "." in fold else ""

    jobs = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, a.jobs)) as ex:
        for fold, test in by_fold.items():
            train = [(p, l) for f2, rs in by_fold.items() if f2 != fold and rep_of(f2) == rep_of(fold) for p, l, _, _ in rs]
            jobs[fold] = ex.submit(bogofilter_fold, a.bogofilter, train, [p for p, _, _, _ in test])
        print(f"{'fold':>6}  {'n':>5}  {'tamis AUC':>10} {'FNR@0.1%':>9}   {'bogofilter AUC':>14} {'FNR@0.1%':>9}")
        sums = collections.defaultdict(float)
        for fold, test in by_fold.items():
            labels = [l for _, l, _, _ in test]
            t = metrics([s for _, _, _, s in test], labels)
            b = metrics(jobs[fold].result(), labels)
            print(f"{fold:>6}  {len(test):>5}  {t[0]:>10.6f} {t[1] * 100:>8.2f}%   {b[0]:>14.6f} {b[1] * 100:>8.2f}%")
            for k, v in (("ta", t[0]), ("tf", t[1]), ("ba", b[0]), ("bf", b[1])):
                sums[k] += v
    k = len(by_fold)
    print(f"{'mean':>6}  {len(rows):>5}  {sums['ta'] / k:>10.6f} {sums['tf'] / k * 100:>8.2f}%   "
          f"{sums['ba'] / k:>14.6f} {sums['bf'] / k * 100:>8.2f}%")


if __name__ == "__main__":
    main()
