"""Reference chat-template renderer for tests/test_chat_template.cpp.

Renders every case with Python's jinja2 configured the way Hugging Face
transformers renders chat templates: an ImmutableSandboxedEnvironment with
trim_blocks and lstrip_blocks, the loopcontrols extension, a no-op
{% generation %} tag, raise_exception and strftime_now globals, and a tojson
filter that keeps non-ASCII characters and accepts indent. Templates listed
under "mutable" get a SandboxedEnvironment instead, whose lists allow append
and pop: llama.cpp's engine does, and its Kimi K2 templates rely on it.

Usage: /usr/bin/python3 render_reference.py CASES.json RESULTS.json
CASES.json:   {"templates": {name: source}, "mutable": [name, ...], "cases": [{"template": name, "vars": {...}}]}
RESULTS.json: [{"ok": true, "output": str} | {"ok": false, "error": str}] in case order
"""
import json
import sys
from datetime import datetime

import jinja2
from jinja2 import nodes
from jinja2.ext import Extension
from jinja2.sandbox import ImmutableSandboxedEnvironment, SandboxedEnvironment


class GenerationTag(Extension):
    """{% generation %}...{% endgeneration %}: renders its body unchanged."""

    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        return nodes.Scope(body).set_lineno(lineno)


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def strftime_now(fmt):
    return datetime.now().strftime(fmt)


def tojson(value, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def make_environment(mutable):
    sandbox = SandboxedEnvironment if mutable else ImmutableSandboxedEnvironment
    env = sandbox(
        trim_blocks=True, lstrip_blocks=True, extensions=[GenerationTag, jinja2.ext.loopcontrols]
    )
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        spec = json.load(f)
    environments = {False: make_environment(False), True: make_environment(True)}
    mutable = set(spec.get("mutable", []))
    compiled = {}
    for name, source in spec["templates"].items():
        try:
            compiled[name] = environments[name in mutable].from_string(source)
        except Exception as e:  # reported per case below
            compiled[name] = e
    results = []
    for case in spec["cases"]:
        template = compiled[case["template"]]
        if isinstance(template, Exception):
            results.append({"ok": False, "error": f"{type(template).__name__}: {template}"})
            continue
        try:
            results.append({"ok": True, "output": template.render(**case["vars"])})
        except Exception as e:
            results.append({"ok": False, "error": f"{type(e).__name__}: {e}"})
    with open(sys.argv[2], "w", encoding="utf-8") as f:
        json.dump(results, f, ensure_ascii=False)


if __name__ == "__main__":
    main()
