"""make mutate: mutation testing of the device's failure handling, with cosmic-ray.

    python tools/maintainer/mutate.py [MODULE ...] [--fresh] [--survivors] [--report] [--part K/N]

For each module (default: all of MODULES) cosmic-ray changes one thing at a time in the
source (a comparison, a number, a condition negated, an exception class, and/or, a loop
that never runs, ...), runs that module's test selection, and records whether a test
failed (the mutant is killed) or not (it survived). A surviving mutant is a change of the
code no test notices: a missing test, or a change with no observable effect (an
equivalent mutant), which host_tests/mutation-equivalent.txt lists with its reason.

Runs in a copy of the repository (build/mutate/tree-<module>): cosmic-ray edits the file it
mutates, and the tests read firmware/ from the tree they run in (CPython imports the
source; MicroPython compiles it to .mpy), so every runtime sees the mutant. Sessions are
kept in build/mutate/<module>.sqlite: an interrupted run resumes; a module whose source
changed starts over (--fresh: always); --survivors runs the survivors again (after tests
were added). Prints, per module, killed / survived /
total and every survivor not listed as equivalent; exits 1 when a module has more than
TARGET of its mutants surviving unexplained. Not part of make test: a module takes
minutes to an hour (each mutant runs its tests).
"""
import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WORK = os.path.join(REPO, "build", "mutate")
VENV_BIN = os.path.join(REPO, ".venv", "bin")
EQUIVALENT = os.path.join(REPO, "host_tests", "mutation-equivalent.txt")
TARGET = 0.10  # the most of a module's mutants that may survive unexplained

LIB = "firmware/lib/mpaws/"
TESTS = "host_tests/"
# app.py: its calls and failure paths in-process (test_app_failures.py, ~8 s in all), then
# the REPL's WiFi and NTP and the device loop's use of app on the simulated board, under
# CPython (a driver run each, ~0.3 s): ~5 s a mutant on average (a pass of the driver's
# fault cases, its selection before, took ~13 s).
APP_TESTS = [TESTS + "test_app_failures.py", TESTS + "test_device_app.py", TESTS + "test_outbox_policy.py", "-k",
             "test_app_failures or cpython and (from_the_repl or clock_unset or ntp_fails or without_wifi or "
             "press_sends_one or throttled_then or sns_would_refuse_is_logged or power_cut or not_held_back)"]
# The tests of test_transport_failures.py that go through the client (the others are the
# transport's alone).
CLIENT_TESTS = "client or retry or retries or backoff or delays or clock or only_aws or budget"
# module: (its file, the tests that run for each of its mutants: fast ones that assert
# what a user sees of that module, in-process where they can be).
MODULES = {
    "http": (LIB + "http.py", [TESTS + "test_transport_failures.py", "-k", "not (%s)" % CLIENT_TESTS]),
    "client": (LIB + "client.py", [TESTS + "test_transport_failures.py", "-k", CLIENT_TESTS]),
    "error_kinds": (LIB + "error_kinds.py", [TESTS + "test_outbox_policy.py", TESTS + "test_transport_failures.py"]),
    "credentials_fetch": (LIB + "credentials_fetch.py", [TESTS + "test_credentials.py",
                                                         TESTS + "test_credentials_failures.py"]),
    "credentials_state": (LIB + "credentials_state.py", [TESTS + "test_credentials.py",
                                                         TESTS + "test_credentials_failures.py"]),
    "credentials_reply": (LIB + "credentials_reply.py", [TESTS + "test_credentials.py",
                                                         TESTS + "test_credentials_failures.py"]),
    "lambda_reply": (LIB + "lambda_reply.py", [TESTS + "test_transport_failures.py", TESTS + "test_client_lambda.py",
                                               "-k", "not micropython"]),
    "credentials_failures": (LIB + "credentials_failures.py", [TESTS + "test_credentials_failures.py"]),
    "outbox": (LIB + "outbox.py", [TESTS + "test_outbox_bounds.py", TESTS + "test_outbox_recovery_edges.py",
                                   TESTS + "test_outbox.py",
                                   TESTS + "test_failure_paths.py", "-k",
                                   "not micropython and not every_byte and not every_point and not random"]),
    "outbox_file": (LIB + "outbox_file.py", [TESTS + "test_outbox_bounds.py", TESTS + "test_outbox_recovery_edges.py",
                                             TESTS + "test_outbox.py",
                                             TESTS + "test_failure_paths.py", "-k",
                                             "not micropython and not every_byte and not every_point and not random"]),
    "outbox_recovery": (LIB + "outbox_recovery.py", [TESTS + "test_outbox_recovery_edges.py", TESTS + "test_outbox.py",
                                                     TESTS + "test_outbox_bounds.py",
                                                     "-k", "not micropython and not every_point and not random"]),
    "undelivered": (LIB + "undelivered.py", [TESTS + "test_undelivered.py"]),
    "app": ("firmware/app.py", APP_TESTS),
    # intake.py: a message checked, stored, or sent without a copy; the outbox opened; the
    # device id: app.notify() and queue() in-process (test_app_failures.py, ~9 s).
    "intake": (LIB + "intake.py", [TESTS + "test_app_failures.py"]),
    # api_url.py: an API's URL taken apart, and what config.py's check says of a bad one (~1 s).
    "api_url": (LIB + "api_url.py", [TESTS + "test_apigateway.py", TESTS + "test_apigateway_settings.py", "-k",
                                     "(parse_url or bad_urls or custom_domain or segments or in_process or needs_no "
                                     "or takes_the_region) and not micropython"]),
    # session.py: each mode's client, certificate auth's credentials, reset(): notify() in-process
    # in each mode (test_app_failures.py, ~2 s).
    "session": (LIB + "session.py", [TESTS + "test_app_failures.py", "-k",
                                     "certificate or reset or api_gateway or direct_sns or delivers_once or "
                                     "counts_the_open or reuses or rtc_memory"]),
}
PLUGIN = "mutant_exception"  # tools/maintainer/mutant_exception.py: see its docstring
MUTANT_TIMEOUT_S = 120  # one mutant's test run; longer is a hang (counted as killed: make test fails it too)

# The operators run: a change a regression could make. Left out: every arithmetic operator
# swapped for every other (most of them on % formatting of messages), the random
# variable replacers.
OPERATORS = ("core/AddNot", "core/ReplaceTrueWithFalse", "core/ReplaceFalseWithTrue", "core/ReplaceAndWithOr",
             "core/ReplaceOrWithAnd", "core/ReplaceBreakWithContinue", "core/ReplaceContinueWithBreak",
             "core/ExceptionReplacer", "core/NumberReplacer", "core/ZeroIterationForLoop", "core/RemoveDecorator",
             "core/ReplaceUnaryOperator_Delete_Not", "core/ReplaceUnaryOperator_USub_UAdd",
             "core/ReplaceBinaryOperator_Add_Sub", "core/ReplaceBinaryOperator_Sub_Add",
             "core/ReplaceBinaryOperator_Mul_Div", "core/ReplaceBinaryOperator_Div_Mul",
             "core/ReplaceBinaryOperator_FloorDiv_Mul", "core/ReplaceBinaryOperator_LShift_RShift",
             "core/ReplaceBinaryOperator_RShift_LShift", "core/ReplaceBinaryOperator_BitAnd_BitOr",
             "core/ReplaceBinaryOperator_BitOr_BitAnd",
             "core/ReplaceComparisonOperator_Eq_NotEq", "core/ReplaceComparisonOperator_NotEq_Eq",
             "core/ReplaceComparisonOperator_Lt_LtE", "core/ReplaceComparisonOperator_LtE_Lt",
             "core/ReplaceComparisonOperator_Gt_GtE", "core/ReplaceComparisonOperator_GtE_Gt",
             "core/ReplaceComparisonOperator_Lt_GtE", "core/ReplaceComparisonOperator_Gt_LtE",
             "core/ReplaceComparisonOperator_Is_IsNot", "core/ReplaceComparisonOperator_IsNot_Is",
             "core/ReplaceComparisonOperator_In_NotIn", "core/ReplaceComparisonOperator_NotIn_In")


def tool(name):
    return os.path.join(VENV_BIN, name)


def tree(name):
    """Where a session's mutants are made and tested: a tree of its own, so that two runs
    (two modules, or two parts of one) may go at once."""
    return os.path.join(WORK, "tree-" + name)


def copy_tree(name):
    """build/mutate/tree-<name>: the repository's files as they are now (tracked and new,
    not ignored), with .venv linked, not copied."""
    root = tree(name)
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            capture_output=True, check=True).stdout.decode().split("\0")
    if os.path.isdir(root):
        shutil.rmtree(root, ignore_errors=True)  # a killed run's test may still be writing there
    for relative in filter(None, listed):
        source = os.path.join(REPO, relative)
        if relative == ".venv" or not os.path.isfile(source) or os.path.islink(source):
            continue
        target = os.path.join(root, relative)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copy2(source, target)
    os.symlink(os.path.join(REPO, ".venv"), os.path.join(root, ".venv"))


def fingerprint(module):
    """What decides a module's mutants: its source, the operators, its test selection and the
    plugin its tests run with. A change of the tests keeps the session: --survivors runs its
    survivors again."""
    path, tests = MODULES[module]
    digest = hashlib.sha256(repr((path, tests, OPERATORS)).encode())
    for source in (path, os.path.join("tools", "maintainer", PLUGIN + ".py")):
        with open(os.path.join(REPO, source), "rb") as f:
            digest.update(f.read())
    return digest.hexdigest()


def forget_survivors(session):
    """Marks a session's surviving mutants as not run: the next exec runs them against
    the tests as they are now."""
    import sqlite3

    db = sqlite3.connect(session)
    with db:
        count = db.execute("DELETE FROM work_results WHERE upper(test_outcome) = 'SURVIVED'").rowcount
    db.close()
    return count


def test_command(module):
    # `env`: cosmic-ray runs the command without a shell. The plugin (mutant_exception.py, in
    # the tree's tools/maintainer) defines the class an ExceptionReplacer mutant catches.
    _, tests = MODULES[module]
    return " ".join(["env", "PYTHONPATH=" + os.path.join("tools", "maintainer"), tool("python"), "-m", "pytest",
                     "-p", "no:cacheprovider", "-p", PLUGIN, "-x", "-q", "--timeout=60"]
                    + ["'%s'" % t if " " in t else t for t in tests])


def write_config(module, path):
    excluded = "^(?!(%s)$)" % "|".join(re.escape(name) for name in OPERATORS)
    with open(path, "w") as f:
        f.write('[cosmic-ray]\nmodule-path = "%s"\ntimeout = %.1f\nexcluded-modules = []\ntest-command = %s\n\n'
                '[cosmic-ray.distributor]\nname = "local"\n\n[cosmic-ray.filters.operators-filter]\n'
                'exclude-operators = [%s]\n' % (MODULES[module][0], MUTANT_TIMEOUT_S, json.dumps(test_command(module)),
                                                json.dumps(excluded)))


def run(name, args, **kwargs):
    return subprocess.run(args, cwd=tree(name), **kwargs)


def part_name(module, part):
    return module if part is None else "%s.%dof%d" % (module, part[0], part[1])


def keep_part(session, part):
    """Marks the mutants outside part (k, n): every n-th from the k-th, in source order, as
    skipped: n runs of one module share its mutants."""
    import sqlite3

    db = sqlite3.connect(session)
    with db:
        jobs = [row[0] for row in db.execute(
            "SELECT s.job_id FROM mutation_specs s LEFT JOIN work_results r ON r.job_id = s.job_id "
            "WHERE r.job_id IS NULL ORDER BY s.start_pos_row, s.start_pos_col, s.operator_name, s.occurrence")]
        others = [job for i, job in enumerate(jobs) if i % part[1] != part[0] - 1]
        db.executemany("INSERT INTO work_results (worker_outcome, output, test_outcome, diff, job_id) "
                       "VALUES ('SKIPPED', 'another part', NULL, '', ?)", [(job,) for job in others])
    db.close()


def prepare(module, fresh, part=None):
    """The session of a module (or of a part of its mutants), made anew when its inputs
    changed; returns (config, session)."""
    name = part_name(module, part)
    config = os.path.join(WORK, name + ".toml")
    session = os.path.join(WORK, name + ".sqlite")
    stamp = os.path.join(WORK, name + ".inputs")
    current = fingerprint(module)
    old = open(stamp).read() if os.path.exists(stamp) else None
    if fresh or old != current or not os.path.exists(session):
        for path in (session, stamp):
            if os.path.exists(path):
                os.remove(path)
        write_config(module, config)
        baseline = run(name, test_command(module), shell=True, capture_output=True, text=True)
        if baseline.returncode != 0:
            sys.exit("%s: its tests fail without any mutant; fix them first:\n%s" % (module, baseline.stdout[-3000:]))
        run(name, [tool("cosmic-ray"), "init", config, session], check=True)
        run(name, [tool("cr-filter-operators"), session, config], check=True)
        if part is not None:
            keep_part(session, part)
        with open(stamp, "w") as f:
            f.write(current)
    return config, session


def sessions(module):
    """The module's sessions: its own, or those of its parts."""
    parts = re.compile(re.escape(module) + r"\.\d+of\d+\.sqlite$")
    names = [module + ".sqlite"] + sorted(n for n in os.listdir(WORK) if parts.match(n))
    return [os.path.join(WORK, n) for n in names if os.path.exists(os.path.join(WORK, n))]


def results(session):
    """[(outcome, line, diff)] of a session's mutants: outcome killed | survived | pending."""
    dump = subprocess.run([tool("cosmic-ray"), "dump", session], capture_output=True, text=True, check=True).stdout
    out = []
    for line in dump.splitlines():
        item, result = json.loads(line)
        if result is None:
            out.append(("pending", None, None, None))
            continue
        if result.get("worker_outcome") == "skipped":
            continue  # left out by the operators filter
        mutation = item["mutations"][0]
        outcome = "survived" if result.get("test_outcome") == "survived" else "killed"
        out.append((outcome, mutation["start_pos"][0], mutation["operator_name"], result.get("diff") or ""))
    return out


def changed_lines(diff):
    """(the line as it was, as the mutant has it), stripped: how the equivalents file names a mutant."""
    minus = [same_spaces(line[1:]) for line in diff.splitlines() if line.startswith("-") and not line.startswith("---")]
    plus = [same_spaces(line[1:]) for line in diff.splitlines() if line.startswith("+") and not line.startswith("+++")]
    return (minus[0] if minus else ""), (plus[0] if plus else "")


def same_spaces(text):
    # Runs of spaces as one: a mutant's text may keep a space where a token went ("if  x").
    return " ".join(text.split())


def equivalents():
    """{(module, line as it was, as mutated): reason} from host_tests/mutation-equivalent.txt,
    whose entries read:  module | line as it was ==> line as mutated | why nothing observable changes"""
    known = {}
    if os.path.exists(EQUIVALENT):
        with open(EQUIVALENT, encoding="utf-8") as f:
            for line in f:
                if line.strip() and not line.startswith("#"):
                    module, _, rest = line.partition(" | ")
                    change, _, reason = rest.rpartition(" | ")
                    before, _, after = change.partition(" ==> ")
                    known[(module.strip(), same_spaces(before), same_spaces(after))] = reason.strip()
    return known


def report(module, known):
    rows = [row for session in sessions(module) for row in results(session)]
    total = len([r for r in rows if r[0] != "pending"])
    killed = len([r for r in rows if r[0] == "killed"])
    unexplained, explained, micropython = [], 0, 0
    for outcome, line, operator, diff in rows:
        if outcome != "survived":
            continue
        before, after = changed_lines(diff)
        reason = known.get((module, before, after))
        if reason is None:
            unexplained.append((line, operator, before, after))
        elif reason.startswith("MicroPython only"):
            micropython += 1  # not equivalent: code the CPython selection cannot reach
        else:
            explained += 1
    pending = len(rows) - total
    share = len(unexplained) / total if total else 0.0
    print("%-18s killed %4d  survived %4d (%d equivalent, %d MicroPython-only)  total %4d%s  unexplained "
          "survivors %.1f%%" % (module, killed, total - killed, explained, micropython, total,
                                "  (%d not run)" % pending if pending else "", 100 * share))
    for line, operator, before, after in sorted(unexplained):
        print("    %s:%d %s\n        %s | %s ==> %s" % (MODULES[module][0], line, operator, module, before, after))
    return share <= TARGET and not pending


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("modules", nargs="*", help="of: %s (default: all)" % ", ".join(MODULES))
    parser.add_argument("--fresh", action="store_true", help="start every session over")
    parser.add_argument("--survivors", action="store_true", help="run the survivors of the last runs again (after "
                        "adding tests)")
    parser.add_argument("--report", action="store_true", help="only print the results of the last runs")
    parser.add_argument("--part", help="K/N: this run takes every N-th mutant from the K-th (N runs at once share "
                        "a module; the report adds them up)")
    args = parser.parse_args(argv)
    modules = args.modules or list(MODULES)
    for module in modules:
        if module not in MODULES:
            parser.error("no module %r (one of %s)" % (module, ", ".join(MODULES)))
    part = tuple(int(n) for n in args.part.split("/")) if args.part else None
    os.makedirs(WORK, exist_ok=True)
    known = equivalents()
    ok = True
    for module in modules:
        if not args.report:
            name = part_name(module, part)
            copy_tree(name)
            config, session = prepare(module, args.fresh, part)
            if args.survivors:
                print("%s: %d survivors to run again" % (name, forget_survivors(session)))
            started = time.monotonic()
            run(name, [tool("cosmic-ray"), "exec", config, session], check=True)
            print("%s: %.0f s" % (name, time.monotonic() - started))
        if sessions(module):
            ok = report(module, known) and ok
        else:
            print("%-18s not run yet" % module)
            ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
