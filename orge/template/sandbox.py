"""The jinja2 sandbox that applies the render budget (orge.template.budget): bounded
formatters, arithmetic, string methods and calls, and a code generator that routes slices
and attribute calls through them. jinja2 is imported here, so this module is imported
only when the first template compiles (orge.template.compiled._environment).
"""

from __future__ import annotations

from typing import Any

from jinja2.compiler import CodeGenerator
from jinja2.nodes import Call, EnvironmentAttribute, Slice
from jinja2.sandbox import ImmutableSandboxedEnvironment, SandboxedFormatter
from markupsafe import EscapeFormatter, Markup

from orge.template.budget import (
    _SPEC_NUMBER,
    MAX_INT_BITS,
    MAX_SEQUENCE,
    _charge,
    _charge_result,
    _check_bits,
    _check_deadline,
    _check_power,
    _check_printf,
    _check_str_method,
    _estimate,
    _loop_iter,
    _Sliceable,
)


class BoundedFormatter(SandboxedFormatter):  # type: ignore[misc]
    """str.format / format_map: a field's width or precision is sized before use."""

    def format_field(self, value: Any, format_spec: str) -> Any:
        wanted = sum(int(n) for n in _SPEC_NUMBER.findall(format_spec))
        _charge(_estimate(value) + wanted, "formatted field")
        result = super().format_field(value, format_spec)
        _charge_result(result)
        return result


class BoundedEscapeFormatter(BoundedFormatter, EscapeFormatter):  # type: ignore[misc]
    pass


class BoundedCodeGenerator(CodeGenerator):  # type: ignore[misc]
    def visit_Concat(self, node: Any, frame: Any) -> None:
        # `a ~ b` joins through a size check instead of jinja's bare str_join
        self.write("environment.orge_concat((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")

    def visit_Getitem(self, node: Any, frame: Any) -> None:
        # jinja compiles a[i:j] as a bare Python slice; each one copies (4,000 slices of
        # a 1 MB string are 4 GB), so it is sized through _Sliceable first
        if not isinstance(node.arg, Slice):
            super().visit_Getitem(node, frame)
            return
        self.write("environment.orge_sliceable(")
        self.visit(node.node, frame)
        self.write(")[")
        self.visit(node.arg, frame)
        self.write("]")

    def visit_For(self, node: Any, frame: Any) -> None:
        # every loop runs on the render's clock (loops over strings/lists are not range)
        if not isinstance(node.iter, Call) or not isinstance(node.iter.node, EnvironmentAttribute):
            node.iter = Call(
                EnvironmentAttribute("orge_loop", lineno=node.lineno),
                [node.iter],
                [],
                None,
                None,
                lineno=node.lineno,
            )
        super().visit_For(node, frame)


class OrgeSandbox(ImmutableSandboxedEnvironment):  # type: ignore[misc]
    code_generator_class = BoundedCodeGenerator
    intercepted_binops = frozenset(["*", "**", "+", "%", "/", "//"])

    orge_loop = staticmethod(_loop_iter)
    orge_sliceable = _Sliceable

    @staticmethod
    def orge_concat(values: tuple) -> str:
        size = 0
        for value in values:
            size += len(value) if isinstance(value, str) else _estimate(value)
            if size > MAX_SEQUENCE:
                break
        _charge(size, "joined text (~)")
        return "".join(map(str, values))

    def concat(self, chunks: Any) -> str:
        """Joins a render's output (and macro/block bodies): bounded like the rest."""
        parts: list[str] = []
        size = 0
        for chunk in chunks:
            size += len(chunk)
            if size > MAX_SEQUENCE:
                raise OverflowError(f"the template's output exceeds {MAX_SEQUENCE} characters")
            parts.append(chunk)
        _charge(size, "output")
        return "".join(parts)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**":
            _check_power(left, right)
            return left**right
        if operator == "*":
            for seq, count in ((left, right), (right, left)):
                if isinstance(seq, (str, bytes, list, tuple)) and isinstance(count, int):
                    _charge(len(seq) * count)
            if isinstance(left, int) and isinstance(right, int):
                if left.bit_length() + right.bit_length() > MAX_INT_BITS:
                    raise OverflowError(f"a product over {MAX_INT_BITS} bits is too large")
            return left * right
        if operator == "+":
            if isinstance(left, (str, bytes, list, tuple)) and isinstance(
                right, (str, bytes, list, tuple)
            ):
                _charge(len(left) + len(right))
            return left + right
        if operator == "%":
            if isinstance(left, (str, bytes)):
                _check_printf(left, right)
                return left % right
            _check_bits(left, right, "%")
            return left % right
        _check_bits(left, right, operator)
        return left / right if operator == "/" else left // right

    def wrap_str_format(self, value: Any) -> Any:
        if super().wrap_str_format(value) is None:  # not a str's format/format_map
            return None
        owner, is_map = value.__self__, value.__name__ == "format_map"
        formatter: Any
        if isinstance(owner, Markup):  # `|safe` makes a Markup, which escapes fields
            formatter = BoundedEscapeFormatter(self, escape=owner.escape)
        else:
            formatter = BoundedFormatter(self)

        def bounded(*args: Any, **kwargs: Any) -> str:
            if is_map:
                return type(owner)(formatter.vformat(owner, (), args[0] if args else {}))
            return type(owner)(formatter.vformat(owner, args, kwargs))

        return bounded

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        _check_deadline()  # macros, recursion, method calls all pass here
        owner = getattr(__obj, "__self__", None)
        name = getattr(__obj, "__name__", "")
        if isinstance(owner, (str, bytes)):
            if name == "join" and args and not kwargs:
                items = list(args[0])
                _charge(_estimate(items) + len(owner) * len(items), "join() result")
                args = (items,)
            else:
                _check_str_method(owner, name, args, kwargs)
        result = super().call(__context, __obj, *args, **kwargs)
        _charge_result(result)
        return result


def sandbox_class() -> type:
    return OrgeSandbox
