"""Build step: server/openapi.yaml's x-scopebox-limits -> a C header of
#defines, so that the server's defaults and ranges are written in one place.
For each limit NAME (a flag, upper-cased, '-' as '_'):
LIMIT_NAME_DEFAULT, LIMIT_NAME_DEFAULT_S (the same as a string, for --help),
LIMIT_NAME_MIN and LIMIT_NAME_MAX (when the file gives one).
An output ending in .json gets the same limits as JSON instead, for the
worker runtime (worker.mjs) and the playground's browser engine
(web/build.mjs), so that neither keeps a copy of a number.

usage: gen_limits.py openapi.yaml out.h|out.json
"""
import json
import sys

import yaml


def main(src, out):
    with open(src, encoding="utf-8") as f:
        limits = yaml.safe_load(f)["x-scopebox-limits"]
    if out.endswith(".json"):
        with open(out, "w", encoding="ascii") as f:
            json.dump({flag: {k: spec.get(k) for k in ("default", "minimum", "maximum")}
                       for flag, spec in limits.items()}, f, indent=1, sort_keys=True)
            f.write("\n")
        return
    lines = ["/* Generated from server/openapi.yaml (x-scopebox-limits) by server/gen_limits.py. */",
             "#ifndef SCOPEBOX_GENERATED_LIMITS_H", "#define SCOPEBOX_GENERATED_LIMITS_H", ""]
    for flag, spec in limits.items():
        name = "LIMIT_" + flag.upper().replace("-", "_")
        default = int(spec["default"])
        lines.append(f"#define {name}_DEFAULT {default}u")
        lines.append(f'#define {name}_DEFAULT_S "{default}"')
        lines.append(f"#define {name}_MIN {int(spec['minimum'])}u")
        if spec.get("maximum") is not None:
            lines.append(f"#define {name}_MAX {int(spec['maximum'])}u")
    lines += ["", "#endif", ""]
    with open(out, "w", encoding="ascii") as f:
        f.write("\n".join(lines))


if __name__ == "__main__":
    main(*sys.argv[1:])
