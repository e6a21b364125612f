"""Build step: server/openapi.yaml -> the MCP tools (tools/list) as a C string.

Each tool's input and output schema is built from the REST schemas, so the
OpenAPI file stays the one contract: a field added to RunRequest shows up in
run_python's input schema at the next build. The schemas are made
self-contained (the components they use go under "$defs") since an MCP
client validates them on their own.

usage: gen_mcp_tools.py openapi.yaml out.c
"""
import copy
import json
import sys

import yaml

REF = "#/components/schemas/"


def rewrite(node, used):
    """Copies node with component references pointed at $defs; collects the
    names referred to."""
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            if k == "$ref" and isinstance(v, str) and v.startswith(REF):
                used.add(v[len(REF):].split("/")[0])
                out[k] = "#/$defs/" + v[len(REF):]
            else:
                out[k] = rewrite(v, used)
        return out
    if isinstance(node, list):
        return [rewrite(v, used) for v in node]
    return node


def closed(doc, root):
    """root with $defs holding every component it reaches."""
    schemas = doc["components"]["schemas"]
    used = set()
    out = rewrite(root, used)
    defs, todo = {}, list(used)
    while todo:
        name = todo.pop()
        if name in defs:
            continue
        more = set()
        defs[name] = rewrite(schemas[name], more)
        todo.extend(more - defs.keys())
    if defs:
        out["$defs"] = dict(sorted(defs.items()))
    return out


def properties_of(doc, name, drop=()):
    schema = doc["components"]["schemas"][name]
    props = {k: copy.deepcopy(v) for k, v in schema["properties"].items() if k not in drop}
    required = [k for k in schema.get("required", []) if k not in drop]
    return props, required


def object_schema(doc, props, required):
    root = {"type": "object", "additionalProperties": False, "properties": props}
    if required:
        root["required"] = required
    return closed(doc, root)


def answer_schema(doc, name):
    """The REST answer: the operation's result, or a Failure (an API error:
    bad arguments, timeout, queue full, ...)."""
    return closed(doc, {"type": "object",
                        "anyOf": [{"$ref": REF + name}, {"$ref": REF + "Failure"}]})


def tools(doc):
    session_id = copy.deepcopy(doc["components"]["parameters"]["SessionId"]["schema"])
    session_id["description"] = "The session's id, from session_start."
    run_props, run_req = properties_of(doc, "RunRequest", drop=("session",))
    srun_props, srun_req = properties_of(doc, "SessionRunRequest")
    start_props, start_req = properties_of(doc, "SessionRequest")
    closed_world = {"readOnlyHint": False, "openWorldHint": False}
    # GET /v1/sessions's query parameters, as arguments.
    list_params = {}
    for param in doc["paths"]["/v1/sessions"]["get"]["parameters"]:
        schema = copy.deepcopy(param["schema"])
        if "description" in param:
            schema["description"] = param["description"]
        list_params[param["name"]] = schema
    return [
        {
            "name": "run_python",
            "title": "Run Python",
            "description": (
                "Run a Python snippet in a fresh sandboxed interpreter (CPython in WebAssembly, "
                "no network, no files kept). `scope` gives it module-level variables, `dynamic` "
                "root dynamic-scope bindings (dynscope). mode `exec` (default) returns the value "
                "of a final expression statement, `eval` evaluates one expression. The answer "
                "has the result, stdout/stderr, the final scope and the dynamic scope; a Python "
                "exception comes back with isError and its traceback."),
            "inputSchema": object_schema(doc, run_props, run_req),
            "outputSchema": answer_schema(doc, "RunResult"),
            "annotations": dict(closed_world, title="Run Python", idempotentHint=True),
        },
        {
            "name": "session_start",
            "title": "Start a Python session",
            "description": (
                "Start a session: a namespace that persists across session_run calls, on an "
                "interpreter of its own, until session_end or its idle timeout. Returns its id."),
            "inputSchema": object_schema(doc, start_props, start_req),
            "outputSchema": answer_schema(doc, "Session"),
            "annotations": dict(closed_world, title="Start a Python session"),
        },
        {
            "name": "session_run",
            "title": "Run Python in a session",
            "description": (
                "Run a snippet in a session's namespace: names defined by earlier runs are still "
                "there. Takes what run_python takes, plus the session id."),
            "inputSchema": object_schema(doc, dict({"session": session_id}, **srun_props),
                                         ["session"] + srun_req),
            "outputSchema": answer_schema(doc, "RunResult"),
            "annotations": dict(closed_world, title="Run Python in a session"),
        },
        {
            "name": "session_fork",
            "title": "Fork a Python session",
            "description": (
                "Start a new session with a copy of another's state (variables, imports, "
                "definitions); the original is untouched. Returns the new session's id."),
            "inputSchema": object_schema(doc, {"session": session_id}, ["session"]),
            "outputSchema": answer_schema(doc, "SessionFork"),
            "annotations": dict(closed_world, title="Fork a Python session"),
        },
        {
            "name": "session_list",
            "title": "List Python sessions",
            "description": "The sessions that exist, a page at a time: pass `next` as `after` for the next page.",
            "inputSchema": object_schema(doc, list_params, []),
            "outputSchema": answer_schema(doc, "SessionList"),
            "annotations": dict(closed_world, title="List Python sessions", readOnlyHint=True),
        },
        {
            "name": "session_end",
            "title": "End a Python session",
            "description": "End a session and free its interpreter.",
            "inputSchema": object_schema(doc, {"session": session_id}, ["session"]),
            "outputSchema": answer_schema(doc, "Deleted"),
            "annotations": dict(closed_world, title="End a Python session",
                                destructiveHint=True, idempotentHint=True),
        },
    ]


def main(src, out):
    with open(src, encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    text = json.dumps(tools(doc), separators=(",", ":"), ensure_ascii=True)
    body = ",\n".join(
        ", ".join(str(b) for b in text.encode()[i:i + 24]) for i in range(0, len(text), 24))
    with open(out, "w", encoding="ascii") as f:
        f.write("/* Generated from server/openapi.yaml by server/gen_mcp_tools.py. */\n")
        f.write("#include <stddef.h>\n\n")
        f.write("extern const char mcp_tools_json[];\nextern const size_t mcp_tools_json_len;\n")
        f.write(f"const char mcp_tools_json[] = {{\n{body}, 0\n}};\n")
        f.write(f"const size_t mcp_tools_json_len = {len(text)};\n")


if __name__ == "__main__":
    main(*sys.argv[1:])
