// A first look at a data file: the text its documents begin with (for JSONL, the "text" fields,
// not the JSON around them), read no further than needed.

/** Characters shown at first, and once expanded. */
export const PREVIEW_SHORT = 300;
export const PREVIEW_LONG = 3000;

/** The first `chars` characters of the file's documents, one blank line between documents. */
export function previewText(name: string, text: string, chars = PREVIEW_LONG): string {
  if (!/\.jsonl(\.gz)?$/i.test(name)) return text.slice(0, chars);
  const docs: string[] = [];
  let length = 0;
  let start = 0;
  while (length < chars && start < text.length) {
    const next = text.indexOf('\n', start);
    const end = next < 0 ? text.length : next;
    const line = text.slice(start, end).trim();
    start = end + 1;
    if (!line) continue;
    try {
      const t = (JSON.parse(line) as { text?: unknown }).text;
      if (typeof t === 'string') {
        docs.push(t);
        length += t.length + 2;
      }
    } catch {
      // The dataset's own parser names a bad line; the preview shows what it can.
    }
  }
  return docs.join('\n\n').slice(0, chars);
}
