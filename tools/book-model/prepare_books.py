"""Build the book corpus for lemo-books from the rcdm-uga/Gutenberg_Text repository.

Reads every .txt blob of one commit of that repository (a bare git directory, --repo) with
`git cat-file`, strips Project Gutenberg's header and licence blocks, normalises the text,
removes duplicate books, and splits whole books into three disjoint sets:

  pretrain  every book not chosen below (the GPU pretraining corpus, git-ignored)
  finetune  long books for the studio's default fine-tuning run (shipped, gzipped)
  heldout   long books for held-out perplexity (shipped, gzipped)

Normalisation: NFC; CRLF -> LF; Gutenberg's hard-wrapped lines inside a paragraph joined with
one space (paragraphs stay separated by one blank line); runs of spaces collapsed; control
characters other than newline dropped; underscores used as italics markers dropped.

Duplicates: books with the same normalised text, or the same normalised title under one author,
are kept once (the first by path order). Books under 20,000 characters after stripping are
dropped (indexes, fragments).

The split is deterministic: books are ordered by the sha256 of their text; the heldout and
finetune sets are the first long books of that order (at least --min-long characters each),
taken round-robin so no author appears in both. Writes a manifest with the commit, every
book's path, its sha256 (of the blob) and its set.
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import re
import subprocess
import unicodedata
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
CACHE = HERE / ".cache"

START = re.compile(r"^\*\*\*\s*START OF (THE|THIS) PROJECT GUTENBERG E-?BOOK.*?\*\*\*[^\n]*$", re.M | re.I | re.S)
OLD_START = re.compile(r"^\*END\*THE SMALL PRINT![^\n]*$", re.M)
END = re.compile(r"^\*\*\*\s*END OF (THE|THIS) PROJECT GUTENBERG E-?BOOK[^\n]*$", re.M | re.I)
END_ALT = re.compile(r"^(End of (the )?Project Gutenberg'?s? |End of this Project Gutenberg|\*\*\*END OF THE PROJECT GUTENBERG)", re.M | re.I)
PRODUCED = re.compile(r"^\s*(Produced by|E-?text prepared by|Transcribed from|This e-?text was)[^\n]*(\n[^\n]+)*\n", re.I)
CTRL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def strip_gutenberg(raw: str) -> str | None:
    raw = raw.replace("\r\n", "\n").replace("\r", "\n")
    m = START.search(raw) or OLD_START.search(raw)
    if m and m.end() - m.start() > 400:       # a START line must close within a few lines
        m = None
    if not m:
        return None
    body = raw[m.end():]
    e = END.search(body) or END_ALT.search(body)
    if e:
        body = body[:e.start()]
    body = body.lstrip("\n")
    p = PRODUCED.match(body)
    if p and p.end() < 2000:
        body = body[p.end():]
    return body


def normalise(body: str) -> str:
    t = unicodedata.normalize("NFC", body.replace("\r\n", "\n").replace("\r", "\n"))
    t = CTRL.sub("", t.replace("\t", " "))
    paras = re.split(r"\n\s*\n", t)
    out = []
    for p in paras:
        lines = [ln.strip() for ln in p.split("\n")]
        lines = [ln for ln in lines if ln]
        if not lines:
            continue
        s = " ".join(lines)
        s = re.sub(r"(?<=\w)_|_(?=\w)", "", s)
        s = re.sub(r" {2,}", " ", s)
        out.append(s)
    return "\n\n".join(out).strip()


def git(repo: Path, *args: str) -> bytes:
    return subprocess.run(["git", f"--git-dir={repo}", *args], check=True, capture_output=True).stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repo", type=Path, required=True, help="bare git directory of rcdm-uga/Gutenberg_Text")
    ap.add_argument("--commit", default="HEAD")
    ap.add_argument("--out", type=Path, default=CACHE / "corpus")
    ap.add_argument("--data-out", type=Path, default=ROOT / "public" / "data" / "books-long")
    ap.add_argument("--heldout", type=int, default=6)
    ap.add_argument("--finetune", type=int, default=8)
    ap.add_argument("--min-long", type=int, default=150_000, help="characters of a long book")
    ap.add_argument("--max-long", type=int, default=400_000, help="characters of a shipped book at most")
    args = ap.parse_args()

    commit = git(args.repo, "rev-parse", args.commit).decode().strip()
    listing = git(args.repo, "ls-tree", "-r", "-z", commit).split(b"\0")
    entries = []
    for row in listing:
        if not row:
            continue
        meta, path = row.split(b"\t", 1)
        _, kind, sha = meta.split()
        path_s = path.decode("utf-8")
        if kind == b"blob" and path_s.endswith(".txt") and "/" in path_s:
            entries.append((path_s, sha.decode()))
    entries.sort()

    proc = subprocess.Popen(["git", f"--git-dir={args.repo}", "cat-file", "--batch"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    books, seen_text, seen_title = [], set(), set()
    dropped = {"missing": 0, "no_marker": 0, "short": 0, "dup_text": 0, "dup_title": 0, "not_utf8": 0}
    for path, sha in entries:
        proc.stdin.write(sha.encode() + b"\n"); proc.stdin.flush()
        header = proc.stdout.readline().split()
        if len(header) < 3:          # listed but absent from this copy of the repository
            dropped["missing"] += 1
            continue
        size = int(header[2])
        blob = proc.stdout.read(size); proc.stdout.read(1)
        try:
            raw = blob.decode("utf-8")
        except UnicodeDecodeError:
            dropped["not_utf8"] += 1
            continue
        raw = raw.lstrip("\ufeff")
        body = strip_gutenberg(raw)
        if body is None:
            dropped["no_marker"] += 1
            continue
        text = normalise(body)
        if len(text) < 20_000:
            dropped["short"] += 1
            continue
        h = hashlib.sha256(text.encode()).hexdigest()
        author, title = path.split("/", 1)
        key = (author, re.sub(r"[^a-z0-9]", "", title.lower().rsplit(".", 1)[0]))
        if h in seen_text:
            dropped["dup_text"] += 1
            continue
        if key in seen_title:
            dropped["dup_title"] += 1
            continue
        seen_text.add(h); seen_title.add(key)
        books.append({"path": path, "blob": sha, "author": author, "sha256": h, "chars": len(text), "text": text})
    proc.stdin.close(); proc.wait()

    order = sorted(books, key=lambda b: b["sha256"])
    held, fine, held_auth, fine_auth = [], [], set(), set()
    for b in order:
        if not (args.min_long <= b["chars"] <= args.max_long):
            continue
        if len(held) < args.heldout and b["author"] not in fine_auth and b["author"] not in held_auth:
            held.append(b); held_auth.add(b["author"])
        elif len(fine) < args.finetune and b["author"] not in held_auth and b["author"] not in fine_auth:
            fine.append(b); fine_auth.add(b["author"])
        if len(held) == args.heldout and len(fine) == args.finetune:
            break
    chosen = {b["sha256"] for b in held + fine}
    pre = [b for b in books if b["sha256"] not in chosen]
    for b in books:
        b["set"] = "heldout" if b in held else "finetune" if b in fine else "pretrain"

    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / "pretrain.txt", "w", encoding="utf-8", newline="\n") as f:
        for b in pre:
            f.write(b["text"]); f.write("\n<|endoftext|>\n")
    args.data_out.mkdir(parents=True, exist_ok=True)
    for name, rows in (("train", fine), ("heldout", held)):
        data = "".join(json.dumps({"text": b["text"], "source": b["path"]}, ensure_ascii=False) + "\n" for b in rows)
        # mtime 0 and no file name: the same bytes on every run
        with open(args.data_out / f"{name}.jsonl.gz", "wb") as raw_f:
            with gzip.GzipFile(fileobj=raw_f, mode="wb", compresslevel=9, mtime=0, filename="") as g:
                g.write(data.encode("utf-8"))
    manifest = {
        "repository": "rcdm-uga/Gutenberg_Text", "commit": commit,
        "books_read": len(entries), "books_kept": len(books), "dropped": dropped,
        "pretrain_books": len(pre), "pretrain_chars": sum(b["chars"] for b in pre),
        "finetune": [b["path"] for b in fine], "heldout": [b["path"] for b in held],
        "files": "corpus-files.tsv.gz: one row per kept book (set, characters, sha256 of the normalised text, path)",
    }
    (HERE / "corpus-manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")
    rows = "set\tchars\tsha256\tpath\n" + "".join(f"{b['set']}\t{b['chars']}\t{b['sha256']}\t{b['path']}\n" for b in books)
    with open(HERE / "corpus-files.tsv.gz", "wb") as raw_f:
        with gzip.GzipFile(fileobj=raw_f, mode="wb", compresslevel=9, mtime=0, filename="") as g:
            g.write(rows.encode("utf-8"))
    print(json.dumps({k: manifest[k] for k in ("commit", "books_read", "books_kept", "dropped", "pretrain_books", "pretrain_chars")}))
    print("finetune:", [(b["path"], b["chars"]) for b in fine])
    print("heldout:", [(b["path"], b["chars"]) for b in held])


if __name__ == "__main__":
    main()
