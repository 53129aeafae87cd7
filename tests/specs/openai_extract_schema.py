"""Regenerate ``openai_chat_request.schema.json`` from OpenAI's OpenAPI spec.

Usage: ``python tests/specs/openai_extract_schema.py PATH/TO/openapi.yaml``

Copies ``components.schemas.CreateChatCompletionRequest`` and every schema it
references into one self-contained JSON Schema (draft 2020-12): references
point into ``$defs``, so recursive schemas stay finite. OpenAPI's
``nullable: true`` becomes an explicit ``null`` alternative so jsonschema
checks it the way the API does. Descriptions and examples are dropped to keep
the file small; property names are never touched. The tests read only the
generated file, never the spec itself.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = "CreateChatCompletionRequest"
PREFIX = "#/components/schemas/"
DROPPED = {"description", "example", "examples", "discriminator", "deprecated", "title"}
# Keywords whose value maps names to schemas; the names themselves are data.
SCHEMA_MAPS = {"properties", "patternProperties", "$defs"}


def convert(node: Any, refs: set[str]) -> Any:
    """One schema node in draft 2020-12 form, collecting referenced names."""
    if isinstance(node, list):
        return [convert(item, refs) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in DROPPED or key.startswith("x-") or key == "nullable":
            continue
        if key == "$ref":
            name = value.removeprefix(PREFIX)
            refs.add(name)
            out[key] = f"#/$defs/{name}"
        elif key in SCHEMA_MAPS:
            out[key] = {name: convert(sub, refs) for name, sub in value.items()}
        else:
            out[key] = convert(value, refs)
    if node.get("nullable") is True:
        return {"anyOf": [out, {"type": "null"}]}
    return out


def extract(spec: dict[str, Any]) -> dict[str, Any]:
    schemas = spec["components"]["schemas"]
    defs: dict[str, Any] = {}
    pending = [ROOT]
    while pending:
        name = pending.pop()
        if name in defs:
            continue
        refs: set[str] = set()
        defs[name] = convert(schemas[name], refs)
        pending.extend(sorted(refs - defs.keys()))
    version = spec.get("info", {}).get("version", "unknown")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$comment": (
            f"CreateChatCompletionRequest and the schemas it references, copied from the OpenAI "
            f"OpenAPI specification version {version} (MIT licensed, see openai-openapi.LICENSE "
            "next to this file). Regenerate with tests/specs/openai_extract_schema.py."
        ),
        "$ref": f"#/$defs/{ROOT}",
        "$defs": dict(sorted(defs.items())),
    }


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    spec = yaml.safe_load(Path(argv[1]).read_text(encoding="utf-8"))
    out = Path(__file__).with_name("openai_chat_request.schema.json")
    out.write_text(json.dumps(extract(spec), indent=1) + "\n", encoding="utf-8")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
