"""The ORGE blueprints: use as `use_blueprint: {path: orge/<file>.yaml, input: {...}}`."""
