#!/usr/bin/env python3
"""Plain-text corpus for the built-in model, from Debian's python3.11-doc package.

The package ships the reStructuredText sources of the Python 3.11 documentation under
/usr/share/doc/python3.11/html/_sources (Python Software Foundation License, see
/usr/share/doc/python3.11-doc/copyright). This script turns them into prose and code with
the markup removed, and splits them by file into a training set and a held-out set (every
20th file in sorted order), so held-out perplexity measures text the model never saw.

    python3 scripts/builtin_model/prepare_corpus.py OUT_DIR

Writes OUT_DIR/train.txt and OUT_DIR/heldout.txt: documents separated by two blank lines,
paragraphs by one.
"""
import pathlib
import re
import sys
import textwrap
import unicodedata

SOURCES = pathlib.Path("/usr/share/doc/python3.11/html/_sources")
HELDOUT_EVERY = 20
# Directives whose whole indented body is markup, not text.
SKIPPED_BLOCKS = {"index", "toctree", "only", "testsetup", "testcleanup", "productionlist",
                  "raw", "include", "literalinclude", "csv-table", "audit-event-table",
                  "limited-api-list", "moduleauthor", "sectionauthor", "image", "figure",
                  "highlight", "tabularcolumns", "rubric", "program", "option", "envvar"}
# Directives whose argument is a signature worth keeping as a line of text.
SIGNATURES = {"function", "method", "class", "attribute", "data", "exception", "decorator",
              "classmethod", "staticmethod", "coroutinefunction", "coroutinemethod",
              "abstractmethod", "module", "c:function", "c:macro", "c:type", "c:member",
              "c:var", "opcode", "cmdoption", "describe", "pdbcommand"}

DIRECTIVE = re.compile(r"^(\s*)\.\. ([\w:-]+)::\s*(.*)$")
TARGET_OR_COMMENT = re.compile(r"^(\s*)\.\.(\s|$)")
OPTION = re.compile(r"^\s+:[\w-]+:( .*)?$")
UNDERLINE = re.compile(r"^\s*([=\-~^\"'*+#`:.])\1{2,}\s*$")
ROLE = re.compile(r":[\w:.-]+:`([^`]*)`")
LINK = re.compile(r"`([^`<]*?)\s*<[^>]*>`_{1,2}")
LITERAL = re.compile(r"``([^`]+)``")
EMPHASIS = re.compile(r"(?<![\w*])\*\*?([^*\s][^*]*?)\*\*?(?![\w*])")


def role_text(match: re.Match) -> str:
    text = match.group(1)
    label = re.match(r"(.*?)\s*<[^>]*>$", text)
    if label:
        text = label.group(1)
    return text.lstrip("~!")


def clean_line(line: str) -> str:
    line = ROLE.sub(role_text, line)
    line = LINK.sub(r"\1", line)
    line = LITERAL.sub(r"\1", line)
    line = EMPHASIS.sub(r"\1", line)
    line = line.replace("`", "")
    if line.rstrip().endswith("::"):
        line = line.rstrip()[:-1]
    return line.rstrip()


def clean_document(text: str) -> str:
    out, skip_indent = [], None
    for line in text.splitlines():
        indent = len(line) - len(line.lstrip())
        if skip_indent is not None:
            if not line.strip() or indent > skip_indent:
                continue
            skip_indent = None
        directive = DIRECTIVE.match(line)
        if directive:
            name, argument = directive.group(2), directive.group(3)
            if name in SKIPPED_BLOCKS:
                skip_indent = indent
            elif name in SIGNATURES and argument:
                out.append(" " * indent + argument)
            continue
        if TARGET_OR_COMMENT.match(line):
            skip_indent = indent
            continue
        if OPTION.match(line) or UNDERLINE.match(line):
            continue
        out.append(clean_line(line))
    paragraphs = re.split(r"\n\s*\n", "\n".join(out))
    kept = [textwrap.dedent(p).strip("\n") for p in paragraphs]
    return "\n\n".join(p for p in kept if p.strip())


def main(out_dir: str) -> None:
    files = sorted(SOURCES.rglob("*.rst.txt"))
    if not files:
        sys.exit(f"no sources under {SOURCES}: install Debian's python3.11-doc")
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    splits = {"train": [], "heldout": []}
    for i, path in enumerate(files):
        text = unicodedata.normalize("NFC", path.read_text(encoding="utf-8"))
        splits["heldout" if i % HELDOUT_EVERY == 0 else "train"].append(clean_document(text))
    for name, docs in splits.items():
        target = out / f"{name}.txt"
        target.write_text("\n\n\n".join(docs) + "\n", encoding="utf-8")
        print(f"{target}: {len(docs)} documents, {target.stat().st_size / 1e6:.2f} MB")


if __name__ == "__main__":
    main(sys.argv[1])
