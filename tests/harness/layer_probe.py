#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Prove that the build enforces the layers of lib/ (docs/design.md).

For each layer, take the compile command CMake uses for one of its own
sources (compile_commands.json), swap that source for a one-line probe,
and compile: a probe that includes a header the layer may see must build,
one that includes a header of a layer above (or, for plugins, any internal
header) must fail with "No such file". So a plugin that reaches into
internals does not build, whatever the code says. TAP output.
"""
import json
import os
import shlex
import subprocess
import sys
import tempfile

build, source = sys.argv[1], sys.argv[2]

# layer: (a source of it, headers it must see, headers it must not see)
LAYERS = {
    "base": ("lib/base/log.c", ["clock.h", "diag.h", "macro.h"],
             ["cron.h", "config.h", "runner.h", "db.h", "metrics.h", "sqlutil.h"]),
    "time": ("lib/time/cron.c", ["cron.h", "clock.h"],
             ["config.h", "runner.h", "db.h", "metrics.h", "sqlutil.h"]),
    "config": ("lib/config/config.c", ["config.h", "cron.h", "diag.h"],
               ["runner.h", "schedule.h", "db.h", "ledger.h", "metrics.h", "control.h"]),
    "engine": ("lib/engine/schedule.c", ["runner.h", "config.h", "cron.h", "clock.h"],
               ["metrics.h", "control.h", "sqlutil.h", "builtin.h", "db.h", "ledger.h",
                "ledger-service.h", "queries.h"]),
    "ledger": ("lib/ledger/ledger-plan.c", ["ledger.h", "db.h", "config.h", "runner.h"],
               ["metrics.h", "control.h", "builtin.h", "notify.h"]),
    "ops": ("lib/ops/control.c", ["control.h", "metrics.h", "log.h"],
            ["runner.h", "db.h", "ledger.h", "config.h", "builtin.h"]),
    "kit": ("lib/plugins/kit/http.c", ["chime/plugin.h", "sqlutil.h", "http.h", "clock.h"],
            ["runner.h", "run.h", "db.h", "ledger.h", "config.h", "node.h", "cron.h"]),
    "plugins": ("lib/plugins/noop.c", ["chime/plugin.h", "sqlutil.h", "http.h", "builtin.h",
                                      "freemany.h"],
                ["runner.h", "run.h", "db.h", "ledger.h", "config.h", "node.h", "log.h",
                 "diag.h", "clock.h", "macro.h", "mem.h", "plugin_host.h", "cron.h", "tz.h"]),
}

with open(os.path.join(build, "compile_commands.json")) as f:
    commands = {os.path.realpath(e["file"]): e for e in json.load(f)}

failed = 0
n = 0
with tempfile.TemporaryDirectory() as tmp:
    probe = os.path.join(tmp, "probe.c")
    for layer, (src, allowed, denied) in LAYERS.items():
        entry = commands.get(os.path.realpath(os.path.join(source, src)))
        if entry is None:
            n += 1
            failed += 1
            print(f"not ok {n} - {layer}: no compile command for {src}")
            continue
        argv = shlex.split(entry["command"]) if "command" in entry else entry["arguments"]
        # The probe compiles with the layer's own flags, not in its folder:
        # a quoted include must come from the -I list, as for a file of a
        # sub-folder.
        i = argv.index("-c")
        argv = [a for a in argv[:i] if a != "-o" and not a.endswith(".o")]
        argv += ["-fsyntax-only", "-c", probe]
        for header, want in [(h, True) for h in allowed] + [(h, False) for h in denied]:
            with open(probe, "w") as f:
                f.write(f'#include "{header}"\nint chime_probe(void);\n')
            r = subprocess.run(argv, cwd=entry["directory"], capture_output=True, text=True)
            n += 1
            built = r.returncode == 0
            if built == want:
                print(f"ok {n} - {layer} {'sees' if want else 'cannot include'} {header}")
                continue
            if not want and "No such file" not in r.stderr and not built:
                print(f"ok {n} - {layer} cannot include {header} (other error)")
                continue
            failed += 1
            print(f"not ok {n} - {layer} {'should see' if want else 'must not see'} {header}")
            for line in r.stderr.splitlines()[:5]:
                print(f"#   {line}")

print(f"1..{n}")
print(f"{n - failed} passed, {failed} failed")
sys.exit(1 if failed else 0)
