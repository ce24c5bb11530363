#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Compare `chimectl next` with Debian's python3-croniter.

Random crontab expressions (seeded, so a run is reproducible) are evaluated
by both from random start instants, in a zone, with croniter's day_or set
to match chime's days mode. Only instants away from DST transitions are
compared (the tools have different, documented gap/overlap policies), and
a croniter step stops at the first result whose UTC offset differs from its
start's (croniter 1.3 "corrects" such results by the offset change, a
known croniter behaviour unrelated to the schedule). Prints every
disagreement and a summary; exits 1 on any disagreement.
"""
import argparse
import datetime as dt
import random
import subprocess
import sys
from zoneinfo import ZoneInfo

from croniter import croniter

MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]


def gen_simple(rng, lo, hi, names=None, allow_star_step=True):
    """One list element: n, a-b, a-b/s, */s (names sometimes for n)."""
    def val(v):
        if names and rng.random() < 0.3:
            return names[v - lo] if lo == 1 else names[v]
        return str(v)

    k = rng.random()
    if k < 0.45:
        return val(rng.randint(lo, hi))
    a = rng.randint(lo, hi - 1)
    b = rng.randint(a + 1, hi)
    if k < 0.75:
        return "%s-%s" % (val(a), val(b))
    if k < 0.9 or not allow_star_step:
        return "%d-%d/%d" % (a, b, rng.randint(1, max(1, (b - a))))
    return "*/%d" % rng.randint(2, max(2, (hi - lo) // 2))


def gen_field(rng, lo, hi, names=None, star_p=0.3, allow_star_step=True):
    if rng.random() < star_p:
        return "*"
    n = 1 if rng.random() < 0.6 else rng.randint(2, 4)
    return ",".join(gen_simple(rng, lo, hi, names, allow_star_step) for _ in range(n))


def covers_all(field, lo, hi):
    """Whether a plain field (no L/#) matches every value from lo to hi."""
    if field == "*":
        return True
    vals = set()
    for el in field.split(","):
        step = 1
        if "/" in el:
            el, s = el.split("/")
            step = int(s)
        if el == "*":
            a, b = lo, hi
        elif "-" in el:
            a, b = el.split("-")
        else:
            a = b = el
        a, b = to_num(a), to_num(b)
        vals.update(range(a, b + 1, step))
    vals = {0 if v == 7 else v for v in vals} if hi == 7 else vals
    return vals >= set(range(lo, hi + 1)) - ({7} if hi == 7 else set())


def to_num(s):
    if s.isdigit():
        return int(s)
    if s in MONTHS:
        return MONTHS.index(s) + 1
    return DAYS.index(s)


def gen_expr(rng):
    """Returns (chime text, croniter text)."""
    seconds = rng.random() < 0.15
    sec = gen_field(rng, 0, 59, star_p=0.2)
    minute = gen_field(rng, 0, 59, star_p=0.15)
    hour = gen_field(rng, 0, 23, star_p=0.3)
    month = gen_field(rng, 1, 12, MONTHS, star_p=0.6)
    special = rng.random()
    cdow = None
    if special < 0.08:
        dom, dow = "L", "*"
    elif special < 0.16:
        # n#k (k-th weekday n) and nL (last weekday n; croniter spells it
        # Ln). croniter does not mix them with plain values, and ignores
        # day-of-month when OR-ing with them, so day-of-month stays '*'.
        dom = "*"
        els = []
        for _ in range(rng.randint(1, 2)):
            wd = rng.randint(0, 6)
            if rng.random() < 0.7:
                els.append(("%d#%d" % (wd, rng.randint(1, 5)),) * 2)
            else:
                els.append(("%dL" % wd, "L%d" % wd))
        dow = ",".join(e[0] for e in els)
        cdow = ",".join(e[1] for e in els)
    else:
        # Star steps and full ranges in day fields mean different things to
        # Vixie cron and croniter when the other day field is restricted, so
        # they are not generated there.
        dom = gen_field(rng, 1, 28 if rng.random() < 0.8 else 31, star_p=0.5,
                        allow_star_step=False)
        dow = gen_field(rng, 0, 6, DAYS, star_p=0.5, allow_star_step=False)
        if dom != "*" and covers_all(dom, 1, 31):
            dom = "*"
        if dow != "*" and covers_all(dow, 0, 7):
            dow = "*"
    chime = [minute, hour, dom, month, dow]
    cron = [minute, hour, dom, month, cdow or dow]
    if seconds:
        chime = [sec] + chime
        cron = cron + [sec]
    return " ".join(chime), " ".join(cron)


def chime_next(chimectl, expr, zone, start, count, days):
    out = subprocess.run(
        [chimectl, "next", expr, "-n", str(count), "--tz", zone,
         "--from", start.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
         "--days", days],
        capture_output=True, text=True)
    if out.returncode != 0:
        return None, out.stderr.strip()
    return [dt.datetime.fromisoformat(line) for line in out.stdout.split()], ""


def near_transition(t, tz, hours=26):
    a = (t - dt.timedelta(hours=hours)).astimezone(tz).utcoffset()
    b = (t + dt.timedelta(hours=hours)).astimezone(tz).utcoffset()
    return a != b


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--chimectl", required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--zone", default="UTC")
    ap.add_argument("--iterations", type=int, default=5)
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()

    rng = random.Random(args.seed)
    tz = ZoneInfo(args.zone)
    lo = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc).timestamp()
    hi = dt.datetime(2032, 1, 1, tzinfo=dt.timezone.utc).timestamp()
    compared = skipped = disagreements = exprs = rejected = 0
    for _ in range(args.count):
        expr, cexpr = gen_expr(rng)
        days = "any" if rng.random() < 0.6 else "all"
        start = dt.datetime.fromtimestamp(rng.randint(int(lo), int(hi)), tz)
        if near_transition(start, tz):
            start += dt.timedelta(days=3)
        ours, err = chime_next(args.chimectl, expr, args.zone, start, args.iterations, days)
        try:
            theirs_iter = croniter(cexpr, start, day_or=(days == "any"))
            theirs_ok = True
        except Exception as e:  # croniter rejects it
            theirs_ok = False
            theirs_err = str(e)
        if ours is None and theirs_ok and "never" in err:
            try:
                theirs_iter.get_next(dt.datetime)
            except Exception:
                theirs_ok = False
                theirs_err = "no date found"
        if ours is None or not theirs_ok:
            if ours is None and not theirs_ok:
                rejected += 1
                continue
            disagreements += 1
            print("DISAGREE %r (croniter %r) days=%s zone=%s from=%s: chime %s, croniter %s"
                  % (expr, cexpr, days, args.zone, start.isoformat(),
                     err if ours is None else "accepts",
                     "accepts" if theirs_ok else "rejects: " + theirs_err))
            continue
        exprs += 1
        cur = start
        for k in range(args.iterations):
            try:
                it = croniter(cexpr, cur, day_or=(days == "any"))
                theirs = it.get_next(dt.datetime)
            except Exception as e:
                theirs = None
                terr = str(e)
            mine = ours[k] if k < len(ours) else None
            if theirs is None and mine is None:
                break
            probe = [t for t in (mine, theirs) if t is not None]
            if any(near_transition(t, tz) for t in probe) or any(
                    t.utcoffset() != cur.utcoffset() for t in probe):
                skipped += 1
                break
            if theirs is None or mine is None or theirs.timestamp() != mine.timestamp():
                disagreements += 1
                print("DISAGREE %r (croniter %r) days=%s zone=%s after %s: chime %s, croniter %s"
                      % (expr, cexpr, days, args.zone, cur.isoformat(),
                         mine.isoformat() if mine else "none",
                         theirs.isoformat() if theirs else "error: " + terr))
                break
            compared += 1
            if args.verbose:
                print("ok %r %s" % (expr, mine.isoformat()))
            cur = theirs
    print("croniter oracle, zone %s, seed %d: %d expressions (%d rejected by both), "
          "%d instants compared, %d sequences cut near DST changes, %d disagreements"
          % (args.zone, args.seed, exprs, rejected, compared, skipped, disagreements))
    return 1 if disagreements else 0


if __name__ == "__main__":
    sys.exit(main())
