"""Write test/fixtures/tokenizer-vectors.json: tricky texts and the ids Python `tokenizers` gives them.

The TypeScript tokenizer (server/engine/tokenizer.ts) must produce the same ids
(test/unit/tokenizer-parity.test.ts), and Python must keep producing them
(server/training/python/tests/test_tokenizer_vectors.py, which also catches a vectors file left
stale after models/default/tokenizer.json changed). Regenerate after any tokenizer change:

    npm run gen:tokenizer-vectors

Ids are made the way the trainer must make them: no special tokens added, and special-token
strings that occur in the text encoded as ordinary text (encode_special_tokens = True).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import sys

from tokenizers import Tokenizer, __version__ as tokenizers_version

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_TOKENIZER = "models/default/tokenizer.json"
DEFAULT_OUT = "test/fixtures/tokenizer-vectors.json"
MAX_FILE_BYTES = 1_000_000
FUZZ_SEED = 20261127
FUZZ_CASES = 200

CODE_SAMPLES = {
    "python": 'def fib(n: int) -> int:\n    """Return the n-th number."""\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a\n\n\nif __name__ == "__main__":\n    print(f"{fib(10)=}")\n',
    "typescript": "export async function load<T>(path: string): Promise<T[]> {\n  const rows = (await fs.readFile(path, 'utf8')).split(/\\r?\\n/);\n  return rows.filter(Boolean).map((r) => JSON.parse(r) as T);\n}\n",
    "rust": "fn main() {\n    let v: Vec<u32> = (0..10).map(|x| x * x).collect();\n    println!(\"{:?} {}\", v, v.iter().sum::<u32>());\n}\n",
    "c": "#include <stdio.h>\nint main(int argc, char **argv) {\n\tfor (int i = 0; i < argc; ++i) printf(\"%s\\n\", argv[i]);\n\treturn 0;\n}\n",
    "go": "package main\n\nimport \"fmt\"\n\nfunc main() {\n\tch := make(chan int, 3)\n\tgo func() { ch <- 42 }()\n\tfmt.Println(<-ch)\n}\n",
    "html": '<!DOCTYPE html>\n<html lang="en">\n  <body>\n    <p class="x">Caf&eacute; &amp; <b>bold</b></p>\n  </body>\n</html>\n',
    "json": '{"name": "diffill", "list": [1, 2.5e-3, true, null], "nested": {"k": "\\u00e9"}}\n',
    "shell": "#!/usr/bin/env bash\nset -euo pipefail\nfor f in \"$@\"; do\n  [[ -f $f ]] && wc -l \"$f\" | awk '{print $1}'\ndone 2>&1 | sort -n\n",
    "sql": "SELECT u.id, COUNT(*) AS n\n  FROM users u JOIN orders o ON o.user_id = u.id\n WHERE o.created_at >= '2024-01-01'\n GROUP BY u.id HAVING n > 3;\n",
    "makefile": "all: build\n\nbuild: main.o util.o\n\t$(CC) -o $@ $^ $(LDFLAGS)\n\n%.o: %.c\n\t$(CC) -c $< -o $@\n",
    "regex": r"""const re = /^(?:[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*)@\w+\.\w{2,}$/iu;""" + "\n",
    "windows_crlf": "using System;\r\nclass P {\r\n    static void Main() {\r\n        Console.WriteLine(\"hi\");\r\n    }\r\n}\r\n",
    "latex": "\\begin{equation}\n  \\int_0^\\infty e^{-x^2}\\,dx = \\frac{\\sqrt{\\pi}}{2}\n\\end{equation}\n",
}

FIXED_CASES = {
    "empty": "",
    "plain": "hello world",
    "sentence": "The quick brown fox jumps over the lazy dog. It's 12,345.67 km away!",
    "contractions": "don't I'll we've THEY'RE she'd you're it's",
    "crlf": "line1\r\nline2\r\n\r\n  indented\r\n",
    "lone_cr": "a\rb\r\rc\r",
    "lf_cr_mix": "a\n\rb\r\n\nc\n\r\n",
    "tabs": "\tfoo\t\tbar\t",
    "mixed_indent": "def f():\n\t    x = 1\n    \treturn x\n  \t  \n",
    "trailing_spaces": "x   \ny \t\nz",
    "space_1": " ",
    "space_2": "  ",
    "space_17": " " * 17,
    "spaces_1000": " " * 1000,
    "newlines_50": "\n" * 50,
    "blank_lines_ws": " \n \n\t\n\n    \n",
    "spaces_then_word": "        word   other\t\tthird",
    "unicode_spaces": "a\u00a0b\u2003c\u3000d\u2009e\u202ff\u205fg\u1680h",
    "nel_ls_ps": "a\u0085b\u2028c\u2029d",
    "zero_width": "a\u200bb\u200cc\u200dd\u2060e",
    "bom_start": "\ufeffhello",
    "bom_middle": "x\ufeffy \ufeff z",
    "nul": "\x00",
    "nul_middle": "a\x00b\x00\x00c",
    "c0_controls": "".join(chr(c) for c in range(0, 32)),
    "del_c1_controls": "\x7f" + "".join(chr(c) for c in range(0x80, 0xA0)),
    "ansi_escape": "\x1b[31mred\x1b[0m \x1b]0;title\x07",
    "vertical_tab_form_feed": "a\x0bb\x0cc\x0b\x0c",
    "emoji": "👍 🎉🎉 😀",
    "emoji_skin_tones": "👍🏻👍🏼👍🏽👍🏾👍🏿 🧑🏽‍💻",
    "emoji_zwj": "👨‍👩‍👧‍👦 👩‍❤️‍💋‍👨 🏳️‍🌈 🏴‍☠️",
    "emoji_flags_keycaps": "🇫🇷🇯🇵🇺🇸 1️⃣#️⃣ 🏴󠁧󠁢󠁳󠁣󠁴󠁿",
    "cjk": "日本語のテキスト、中文字符。한국어 텍스트",
    "cjk_code": "const 名前 = '値'; // コメント\n",
    "rtl_arabic": "مرحبا بالعالم ١٢٣",
    "rtl_hebrew": "שלום עולם",
    "bidi_mixed": "abc אבג 123 \u202edcba\u202c \u200f!",
    "combining": "e\u0301 a\u0308 n\u0303 Z\u0324\u0354\u0367\u0311\u0313a\u0308\u0356\u032d\u0308\u0307",
    "devanagari_thai": "नमस्ते दुनिया สวัสดีชาวโลก",
    "astral": "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𐍈 \U0010ffff \U0001f600",
    "private_use_nonchars": "\ue000\uf8ff\ufffe\uffff\ufdd0",
    "replacement_char": "\ufffd\ufffd",
    "digits": "1234567890 0.5 1e10 ٣٤٥ ½²³ ⅧⅨ",
    "punctuation_runs": "!!!??? ... --> <== ::: ;;; @@@ ``` ~~~",
    "underscores": "__init__ snake_case_name _private __dunder",
    "special_mask": "<|mask|>",
    "special_all": "<|pad|><|bos|><|eos|><|mask|>",
    "special_in_text": "x<|mask|>y <|eos|>\n",
    "special_in_code": "const MASK = \"<|mask|>\"; // tokens: <|pad|>, <|bos|>\n",
    "special_near_miss": "<|mask| <<|mask|>> <|MASK|> < |mask|> <|mask|>|>",
    "quotes_and_backslashes": "'\"\\ \\\\ \\n \\t \\u0000 \"\"\" '''",
    "url_path": "https://example.com/a/b?c=1&d=%20#frag C:\\Users\\x\\file.txt",
    **{f"code_{name}": text for name, text in CODE_SAMPLES.items()},
}


def long_cases() -> dict[str, str]:
    # One 100 KB line of code-like text and some long single pre-tokens (runs of one class),
    # which exercise the BPE merge loop on very long words.
    unit = "let x_{i} = compute(alpha[{i}], 'β', 0x{i:04x}); "
    line = "".join(unit.format(i=i) for i in range(2500))[:100_000]
    return {
        "long_line_100k": line,
        "long_space_run_20k": " " * 20_000,
        "long_word_20k": "ab" * 10_000,
        "long_digits_3k": "9" * 3_000,
        "long_emoji_run_2k": "😀" * 2_000,
    }


# Character classes for seeded random texts: each is a list of code points to draw from.
FUZZ_CLASSES = [
    list(range(0x20, 0x7F)),  # printable ASCII
    [0x09, 0x0A, 0x0D, 0x20, 0x20, 0x20],  # whitespace, spaces most often
    list(range(0x00, 0x20)) + [0x7F],  # C0 controls, DEL
    list(range(0x80, 0xA0)),  # C1 controls
    [0x85, 0xA0, 0x1680, 0x2000, 0x2007, 0x200B, 0x200D, 0x2028, 0x2029, 0x202F, 0x3000, 0xFEFF],
    list(range(0x300, 0x370)),  # combining marks
    list(range(0x4E00, 0x4E80)) + list(range(0x3040, 0x30A0)) + list(range(0xAC00, 0xAC40)),  # CJK, kana, hangul
    list(range(0x5D0, 0x5EB)) + list(range(0x620, 0x64B)) + [0x200E, 0x200F, 0x202E],  # RTL
    list(range(0x1F300, 0x1F350)) + list(range(0x1F3FB, 0x1F400)) + [0x200D, 0xFE0F],  # emoji, skin tones, ZWJ
    [0x10000, 0x1D518, 0x10FFFF, 0xE000, 0xFFFD, 0xFFFE, 0xFFFF],  # astral, private use, specials
    [ord(c) for c in "<|>_'"],  # fragments of special-token strings and contractions
    list(range(0x660, 0x66A)) + list(range(0x30, 0x3A)) + [0xBD, 0xB2, 0x2167],  # digits of several kinds
]
FUZZ_WORDS = ["<|mask|>", "<|pad|>", "<|bos|>", "<|eos|>", "\r\n", "    ", "\t", "'s", "'ll", "def ", "=>", "👨‍👩‍👧"]


def fuzz_cases(seed: int, count: int) -> dict[str, str]:
    rng = random.Random(seed)
    out = {}
    for k in range(count):
        parts = []
        for _ in range(rng.randint(0, 24)):
            if rng.random() < 0.15:
                parts.append(rng.choice(FUZZ_WORDS))
            else:
                cls = rng.choice(FUZZ_CLASSES)
                parts.append("".join(chr(rng.choice(cls)) for _ in range(rng.randint(1, 12))))
        out[f"fuzz_{k:03d}"] = "".join(parts)
    return out


def load(path: str) -> Tokenizer:
    tok = Tokenizer.from_file(path)
    # Special-token strings inside user text are ordinary text (the engine does the same).
    tok.encode_special_tokens = True
    return tok


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokenizer", default=DEFAULT_TOKENIZER, help="relative to the repository root")
    ap.add_argument("--out", default=DEFAULT_OUT, help="relative to the repository root")
    args = ap.parse_args(argv)

    tok_path = os.path.join(ROOT, args.tokenizer)
    with open(tok_path, "rb") as fh:
        digest = hashlib.sha256(fh.read()).hexdigest()
    tok = load(tok_path)
    specials = {t.content: i for i, t in tok.get_added_tokens_decoder().items() if t.special}

    texts = {**FIXED_CASES, **long_cases(), **fuzz_cases(FUZZ_SEED, FUZZ_CASES)}
    cases = []
    for name, text in texts.items():
        ids = tok.encode(text, add_special_tokens=False).ids
        if any(i in specials.values() for i in ids):
            raise SystemExit(f"case {name}: a special id came out of ordinary text; encode_special_tokens is not working")
        back = tok.decode(ids, skip_special_tokens=False)
        if back != text:
            raise SystemExit(f"case {name}: Python round trip failed")
        cases.append({"name": name, "text": text, "ids": ids})

    doc = {
        "about": "Generated by scripts/gen-tokenizer-vectors.py; do not edit. Regenerate with `npm run gen:tokenizer-vectors`.",
        "tokenizer": args.tokenizer,
        "tokenizer_sha256": digest,
        "tokenizers_version": tokenizers_version,
        "vocab_size": tok.get_vocab_size(with_added_tokens=True),
        "special_tokens": specials,
        "cases": cases,
    }
    # Compact ids, one case per line: small enough to commit and still readable in a diff.
    lines = [json.dumps({k: v for k, v in doc.items() if k != "cases"})[:-1] + ', "cases": [']
    lines += [json.dumps(c) + ("," if i + 1 < len(cases) else "") for i, c in enumerate(cases)]
    lines.append("]}")
    data = "\n".join(lines) + "\n"
    if len(data.encode()) >= MAX_FILE_BYTES:
        raise SystemExit(f"vectors file would be {len(data)} bytes; keep it under {MAX_FILE_BYTES}")
    out_path = os.path.join(ROOT, args.out)
    tmp = out_path + ".tmp"
    with open(tmp, "w", encoding="ascii") as fh:
        fh.write(data)
    os.replace(tmp, out_path)
    print(f"wrote {args.out}: {len(cases)} cases, {len(data)} bytes, tokenizer sha256 {digest[:12]}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
