#!/usr/bin/env python3
"""Validates model specs against Grammar/danlu.schema.json with a standard YAML parser and JSON Schema validator.

Usage: python3 Grammar/validate.py [FILE.yaml ...]   (default: every file in Models/)
Needs PyYAML and jsonschema (Debian: python3-yaml python3-jsonschema). Exits 1 when a file is invalid.
"""
import glob
import json
import os
import sys

import jsonschema
import yaml

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
schema = json.load(open(os.path.join(root, "Grammar", "danlu.schema.json")))
jsonschema.Draft202012Validator.check_schema(schema)
validator = jsonschema.Draft202012Validator(schema)
files = sys.argv[1:] or sorted(glob.glob(os.path.join(root, "Models", "*.yaml")))
failed = 0
for path in files:
    with open(path) as f:
        document = yaml.safe_load(f)
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.path))
    for error in errors:
        print(f"{path}: {'/'.join(map(str, error.path)) or '<root>'}: {error.message}")
    failed += bool(errors)
    if not errors:
        print(f"{path}: valid")
sys.exit(1 if failed else 0)
