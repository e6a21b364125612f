"""Build step: server/openapi.yaml -> a C file holding it as compact JSON,
so the binary serves GET /v1/openapi.json with no file to find at run time.

usage: gen_openapi.py openapi.yaml out.c
"""
import json
import sys

import yaml


def main(src, out):
    with open(src, encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    text = json.dumps(doc, separators=(",", ":"), ensure_ascii=True)
    body = ",\n".join(
        ", ".join(str(b) for b in text.encode()[i:i + 24]) for i in range(0, len(text), 24))
    with open(out, "w", encoding="ascii") as f:
        f.write("/* Generated from server/openapi.yaml by server/gen_openapi.py. */\n")
        f.write("#include \"openapi.h\"\n\n")
        f.write(f"const unsigned char openapi_json[] = {{\n{body}, 0\n}};\n")
        f.write(f"const size_t openapi_json_len = {len(text)};\n")


if __name__ == "__main__":
    main(*sys.argv[1:])
