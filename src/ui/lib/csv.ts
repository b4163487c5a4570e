// CSV text (RFC 4180 quoting) from a header and rows. Text a spreadsheet would take for a formula
// (it starts with =, +, -, @, a tab or a carriage return; the heat map's cells are the user's own
// text) is written quoted after an apostrophe, so it opens as the text it is; numbers stay numbers.
export type Cell = string | number | boolean | null | undefined;

const FORMULA_START = /^[=+\-@\t\r]/;

function cell(v: Cell): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : '';
  const formula = typeof v === 'string' && FORMULA_START.test(v);
  const s = formula ? `'${v}` : String(v);
  return formula || /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function toCsv(header: string[], rows: Cell[][]): string {
  return [header, ...rows].map((r) => r.map(cell).join(',')).join('\n') + '\n';
}
