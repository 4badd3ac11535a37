"""The action engine shared by automations and scripts: triggers (`trigger`), conditions
(`condition`), actions (`action_schema`, `runner`), run modes (`script`), traces (`trace`).

Import the submodule you need; this package imports nothing by itself so that
`orge check-config` pays only for what a configuration uses.
"""
