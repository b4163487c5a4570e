// Save a chart as PNG (the card rendered by html-to-image) or its plotted data as CSV.
import { useState, type RefObject } from 'react';
import { toPng } from 'html-to-image';
import { saveBlob, saveUrl } from '../lib/download';

interface Props {
  /** The element drawn into the PNG. */
  target: RefObject<HTMLElement | null>;
  /** File name without extension. */
  file: string;
  /** The series as CSV text, built on click; null when there is nothing to save. */
  csv: (() => string) | null;
}

/** Elements marked data-export="skip" (these buttons, tooltips) stay out of the PNG. */
const keep = (node: HTMLElement) => !(node instanceof HTMLElement && node.dataset.export === 'skip');

export function ChartExport({ target, file, csv }: Props) {
  const [busy, setBusy] = useState(false);
  const png = async () => {
    if (!target.current) return;
    setBusy(true);
    try {
      saveUrl(await toPng(target.current, { backgroundColor: '#ffffff', pixelRatio: 2, filter: keep }), `${file}.png`);
    } finally {
      setBusy(false);
    }
  };
  return (
    <span className="export" data-export="skip">
      <button type="button" className="mini" data-testid={`${file}-png`} disabled={busy} onClick={() => void png()} title="Save this chart as a PNG image">PNG</button>
      <button
        type="button"
        className="mini"
        data-testid={`${file}-csv`}
        disabled={!csv}
        onClick={() => csv && saveBlob(new Blob([csv()], { type: 'text/csv' }), `${file}.csv`)}
        title="Save the plotted data as CSV"
      >CSV</button>
    </span>
  );
}
