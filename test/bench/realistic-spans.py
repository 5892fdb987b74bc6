"""Python syntax spans for the realistic bench extractor (test/bench/extract-realistic.ts).

Reads JSON lines {"i": n, "text": "..."} on stdin and writes one JSON line per input:
{"i": n, "parses": bool, "idents": [[s, e], ...], "args": [...], "exprs": [...]}, where offsets are
UTF-16 code units into text (JavaScript string indices) and every span lies on one line:
  idents  a name read or written (ast.Name), except self and cls
  args    the text between a call's parentheses, when the call has arguments
  exprs   the right side of an assignment (=, annotated, augmented), a return value, an if/elif/while condition
The spans come from the ast module of this interpreter; a document it cannot parse gets none.
"""
import ast
import json
import sys
import warnings

SKIP_NAMES = {"self", "cls"}


def utf16_len(s: str) -> int:
    return len(s.encode("utf-16-le")) // 2


class Locator:
    """(line, UTF-8 byte column) as ast reports them -> UTF-16 offset into the text."""

    def __init__(self, text: str):
        self.lines = text.split("\n")
        self.starts = []
        at = 0
        for ln in self.lines:
            self.starts.append(at)
            at += utf16_len(ln) + 1

    def __call__(self, lineno: int, col: int) -> int:
        line = self.lines[lineno - 1]
        return self.starts[lineno - 1] + utf16_len(line.encode("utf-8")[:col].decode("utf-8"))


def span(loc: Locator, node: ast.AST):
    if node.lineno != node.end_lineno:
        return None
    return [loc(node.lineno, node.col_offset), loc(node.end_lineno, node.end_col_offset)]


def same_tree(source: str, want) -> bool:
    """The text of a span parses to the node it was taken for (positions inside f-strings are wrong
    before Python 3.12, so every span is checked rather than trusted)."""
    try:
        got = ast.parse(source.strip(), mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return ast.dump(got) == ast.dump(want)


def spans(text: str) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            tree = compile(text, "<doc>", "exec", flags=ast.PyCF_ONLY_AST, dont_inherit=True)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return {"parses": False, "idents": [], "args": [], "exprs": []}
    loc = Locator(text)
    # JavaScript indices: the same text as a list of UTF-16 units is not needed, only a way to find
    # the parentheses, which are ASCII, so a UTF-16 view of the text is searched.
    u16 = text.encode("utf-16-le")

    def char_at(off: int) -> str:
        return u16[2 * off:2 * off + 2].decode("utf-16-le", "replace")

    def segment(s: int, e: int) -> str:
        return u16[2 * s:2 * e].decode("utf-16-le", "replace")

    idents, args, exprs = [], [], []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id not in SKIP_NAMES:
            s = span(loc, node)
            if s and segment(*s) == node.id:
                idents.append(s)
        elif isinstance(node, ast.Call) and (node.args or node.keywords):
            if node.func.end_lineno != node.end_lineno or node.lineno != node.end_lineno:
                continue
            close = loc(node.end_lineno, node.end_col_offset) - 1
            at = loc(node.func.end_lineno, node.func.end_col_offset)
            while at < close and char_at(at) in " \t":
                at += 1
            if char_at(at) == "(" and char_at(close) == ")" and close > at + 1:
                call = ast.Call(func=ast.Name(id="f", ctx=ast.Load()), args=node.args, keywords=node.keywords)
                if same_tree("f(" + segment(at + 1, close) + ")", call):
                    args.append([at + 1, close])
        else:
            value = None
            if isinstance(node, (ast.Assign, ast.AugAssign)) or (isinstance(node, ast.AnnAssign) and node.value is not None):
                value = node.value
            elif isinstance(node, ast.Return) and node.value is not None:
                value = node.value
            elif isinstance(node, (ast.If, ast.While)):
                value = node.test
            if value is not None:
                s = span(loc, value)
                if s and same_tree(segment(*s), value):
                    exprs.append(s)
    for xs in (idents, args, exprs):
        xs.sort()
    return {"parses": True, "idents": idents, "args": args, "exprs": exprs}


def main() -> None:
    sys.setrecursionlimit(10000)
    out = sys.stdout
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        res = spans(req["text"])
        res["i"] = req["i"]
        out.write(json.dumps(res) + "\n")
    out.flush()


if __name__ == "__main__":
    main()
