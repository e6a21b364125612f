"""Checks answers against server/openapi.yaml, the one description of the
HTTP API: which statuses an operation documents, and the JSON Schema of each
answer body."""
import os

import jsonschema
import yaml

SPEC = os.path.join(os.path.dirname(__file__), "..", "..", "server", "openapi.yaml")


class OpenApi:
    def __init__(self, doc):
        self.doc = doc
        self.resolver = jsonschema.RefResolver.from_schema(doc)

    @classmethod
    def load(cls, path=SPEC):
        with open(path, encoding="utf-8") as f:
            return cls(yaml.safe_load(f))

    def operation(self, method, path):
        return self.doc["paths"][path][method.lower()]

    def _deref(self, node):
        while "$ref" in node:
            _, node = self.resolver.resolve(node["$ref"])
        return node

    def response(self, method, path, status):
        responses = self.operation(method, path)["responses"]
        assert str(status) in responses, f"{method} {path}: status {status} is not documented"
        return self._deref(responses[str(status)])

    def validate(self, method, path, status, body, headers=None):
        """Asserts that (status, body, headers) is what the spec documents."""
        resp = self.response(method, path, status)
        schema = resp["content"]["application/json"]["schema"]
        jsonschema.Draft202012Validator(schema, resolver=self.resolver).validate(body)
        # Headers are checked when the caller passes them (None: body only).
        for name in resp.get("headers", {}) if headers is not None else ():
            assert name.lower() in {h.lower() for h in headers}, f"missing header {name}"

    def request_examples(self):
        """(method, path, example name, value) for every request example."""
        for path, item in self.doc["paths"].items():
            for method, op in item.items():
                if method == "parameters":
                    continue
                content = op.get("requestBody", {}).get("content", {}).get("application/json", {})
                for name, ex in content.get("examples", {}).items():
                    yield method.upper(), path, name, ex["value"]

    def validate_request(self, method, path, body):
        """Asserts that a request body is what the spec documents for (method, path)."""
        content = self.operation(method, path).get("requestBody", {}).get("content", {})
        if body is None:
            assert not self.operation(method, path).get("requestBody", {}).get("required"), \
                f"{method} {path}: a body is required"
            return
        schema = content["application/json"]["schema"]
        jsonschema.Draft202012Validator(schema, resolver=self.resolver).validate(body)

    def template(self, path):
        """The documented path template a concrete path matches (or KeyError)."""
        parts = path.split("?")[0].strip("/").split("/")
        for candidate in self.doc["paths"]:
            cparts = candidate.strip("/").split("/")
            if len(cparts) == len(parts) and all(
                    c == p or (c.startswith("{") and c.endswith("}")) for c, p in zip(cparts, parts)):
                return candidate
        raise KeyError(path)
