import { describe, expect, it } from 'vitest';
import type { SparsityEvent } from '../../engine/events';
import { toCsv } from './csv';
import { heatmapCsv } from './sparsity-series';

/** Splits CSV text as RFC 4180 reads it: quoted cells may hold commas, quotes ("") and line breaks. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') cur += text[i++];
      else if (c === '"') quoted = false;
      else cur += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') row.push(cur), (cur = '');
    else if (c === '\n') row.push(cur), rows.push(row), (row = []), (cur = '');
    else cur += c;
  }
  return rows;
}

describe('CSV cells', () => {
  it('write text that starts like a formula quoted after an apostrophe, and numbers as numbers', () => {
    const text = ['=1+1', '+SUM(A1:A9)', '-2+3', '@cmd', '\tx', '\rx', '=HYPERLINK("http://example.com","go")'];
    const csv = toCsv(['n', 'text'], text.map((t, i) => [-i, t]));
    expect(csv.split('\n')[1]).toBe('0,"\'=1+1"');
    expect(csv.split('\n')[3]).toBe('-2,"\'-2+3"');
    expect(csv).toContain('-6,"\'=HYPERLINK(""http://example.com"",""go"")"\n');
    // Read back, every cell is the text with its apostrophe, nothing cut at its quotes or breaks.
    expect(parseCsv(csv).slice(1)).toEqual(text.map((t, i) => [String(-i), `'${t}`]));
    // Text that does not start like a formula is left as it is.
    expect(toCsv(['a'], [['a=b'], [' =x'], ['x-y']])).toBe("a\na=b\n =x\nx-y\n");
  });

  it("keep the heat map's block text from becoming a formula", () => {
    const e: SparsityEvent = { type: 'sparsity', step: 1, block: 2, blocks: 2, kept: [[0]], recall: null, blockText: ['=cmd|" /C calc"!A0', '@SUM(1,2)'] };
    const rows = parseCsv(heatmapCsv(e));
    expect(rows).toEqual([
      ['step', 'layer', 'block', 'first_token', 'state', 'text'],
      ['1', '0', '0', '0', 'kept', '\'=cmd|" /C calc"!A0'],
      ['1', '0', '1', '2', 'eliminated', "'@SUM(1,2)"],
    ]);
  });
});
